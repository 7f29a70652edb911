//! A throwaway Postgres cluster for `fazhi dev`: `initdb` into a fresh directory, `pg_ctl start`
//! on a free loopback port, stopped again on drop. Postgres refuses to run as root, so as root
//! the cluster runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A running cluster; stopped when dropped.
pub struct LocalPostgres {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    as_postgres_user: bool,
    pub url: String,
}

/// Where the Postgres server programs are: `PATH` first, then Debian's versioned directories.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|dir| dir.join("initdb").is_file())
        .context("no Postgres found: install it (e.g. apt-get install postgresql) or set FAZHI__DATABASE__URL")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl LocalPostgres {
    /// Creates and starts a cluster in `data_dir` (emptied first).
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        let as_postgres_user = running_as_root();
        stop_stale(&bin_dir, data_dir, as_postgres_user);
        if data_dir.exists() {
            std::fs::remove_dir_all(data_dir)
                .with_context(|| format!("cannot clear {}", data_dir.display()))?;
        }
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        if as_postgres_user {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data_dir))?;
        }
        let port = free_port()?;
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            data_dir,
            bin_dir,
            as_postgres_user,
        };
        cluster.run_tool(
            "initdb",
            &[
                "-D",
                &cluster.data_dir.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            cluster.data_dir.display()
        );
        cluster.run_tool(
            "pg_ctl",
            &[
                "-D",
                &cluster.data_dir.to_string_lossy(),
                "-l",
                &cluster.data_dir.join("server.log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        Ok(cluster)
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        run(&mut tool_command(
            &self.bin_dir,
            tool,
            args,
            self.as_postgres_user,
        ))
    }
}

fn tool_command(bin_dir: &Path, tool: &str, args: &[&str], as_postgres_user: bool) -> Command {
    let program = bin_dir.join(tool);
    let mut command = if as_postgres_user {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&program);
        command
    } else {
        Command::new(&program)
    };
    command.args(args).current_dir("/");
    command
}

/// A killed `fazhi dev` leaves its cluster running on the directory about to be emptied (and
/// its port taken): stop it first. Nothing to do when no server holds the directory.
fn stop_stale(bin_dir: &Path, data_dir: &Path, as_postgres_user: bool) {
    let pid_file = data_dir.join("postmaster.pid");
    let Ok(pid) = std::fs::read_to_string(&pid_file) else {
        return;
    };
    let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
    let data = data_dir.to_string_lossy();
    let stopped = run(&mut tool_command(
        bin_dir,
        "pg_ctl",
        &["-D", &data, "-m", "immediate", "-w", "stop"],
        as_postgres_user,
    ));
    // When it fails, no server held the directory (a stale pid file): it is emptied all the same.
    if stopped.is_ok() {
        println!("stopped the throwaway Postgres an earlier run left running (pid {pid})");
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let data_dir = self.data_dir.to_string_lossy().into_owned();
        if let Err(error) = self.run_tool("pg_ctl", &["-D", &data_dir, "-m", "fast", "-w", "stop"])
        {
            eprintln!("could not stop the throwaway Postgres: {error}");
        }
    }
}
