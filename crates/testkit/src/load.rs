//! Load benchmarks: an RPC driven by closed- or open-loop clients (latency histogram), by
//! `h2load`, and its SQL driven by `pgbench` on the same Postgres in the same run.

use std::future::Future;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Phase lengths and client counts, from `FAZHI_LOAD_SECONDS` (10) and `FAZHI_LOAD_CLIENTS` (16).
#[derive(Clone, Copy)]
pub struct LoadSettings {
    pub length: Duration,
    pub clients: usize,
}

impl LoadSettings {
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(default)
        };
        Self {
            length: Duration::from_secs(number("FAZHI_LOAD_SECONDS", 10)),
            clients: number("FAZHI_LOAD_CLIENTS", 16) as usize,
        }
    }
}

/// What one phase measured.
pub struct Phase {
    pub calls: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at `quantile`, in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn print(&self, name: &str) {
        println!(
            "{name:<50} {:>9.0} calls/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.rate(),
            self.ms(0.5),
            self.ms(0.99),
            self.latency.max() as f64 / 1000.0
        );
    }
}

/// Each client calls `call` for `length`: as fast as answers come, or with `interval` at most
/// once per interval (open loop, for latency below saturation). A failed call panics: a load
/// figure over errors would mean nothing.
pub async fn drive<C, F, Fut>(
    clients: &[C],
    length: Duration,
    interval: Option<Duration>,
    call: F,
) -> Phase
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let deadline = started + length;
    let count = clients.len() as u32;
    let tasks = clients.iter().cloned().zip(0..).map(|(client, index)| {
        let call = call.clone();
        tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3).unwrap();
            // Clients start spread over one interval: started together they would call in
            // bursts of all at once and measure their own queueing.
            let mut ticks = interval.map(|interval| {
                let offset = interval * index / count;
                tokio::time::interval_at(tokio::time::Instant::now() + offset, interval)
            });
            while Instant::now() < deadline {
                if let Some(ticks) = &mut ticks {
                    ticks.tick().await;
                }
                let begun = Instant::now();
                call(client.clone()).await;
                latency.record(begun.elapsed().as_micros() as u64).unwrap();
            }
            latency
        })
    });
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for task in futures::future::join_all(tasks).await {
        latency.add(task.unwrap()).unwrap();
    }
    Phase {
        calls: latency.len(),
        elapsed: started.elapsed(),
        latency,
    }
}

/// `drive` at half of `max`'s rate, spread over the clients.
pub async fn drive_at_half<C, F, Fut>(
    clients: &[C],
    length: Duration,
    max: &Phase,
    call: F,
) -> Phase
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let interval = Duration::from_secs_f64(clients.len() as f64 / (max.rate() / 2.0));
    drive(clients, length, Some(interval), call).await
}

/// pgbench running `script` (statements separated by `;\n`, variables as `:name`, set by
/// `defines`) prepared, with `clients` sessions for `length`: its transactions/s.
pub fn pgbench(
    url: &str,
    script: &str,
    defines: &[(&str, &str)],
    length: Duration,
    clients: usize,
) -> f64 {
    let path = std::env::temp_dir().join(format!(
        "fazhi-load-{}-{}.sql",
        std::process::id(),
        script.len()
    ));
    std::fs::write(&path, script).unwrap();
    let mut command = Command::new("pgbench");
    command
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
        ])
        .args(["-T", &length.as_secs().to_string()]);
    for (name, value) in defines {
        command.args(["-D", &format!("{name}={value}")]);
    }
    let output = command
        .arg("-f")
        .arg(&path)
        .arg(url)
        .output()
        .expect("pgbench (Debian: postgresql-contrib) on PATH");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|tps| tps.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

/// One statement of a pgbench script, on one line: `$n` becomes the n-th of `arguments`
/// (a pgbench variable such as `:id`, or a literal such as `NULL`).
pub fn pgbench_statement(sql: &str, arguments: &[&str]) -> String {
    let mut statement = sql.replace('\n', " ");
    // From the highest number down, so `$1` does not eat the start of `$10`.
    for (index, argument) in arguments.iter().enumerate().rev() {
        statement = statement.replace(&format!("${}", index + 1), argument);
    }
    format!("{statement};\n")
}

/// The same call from h2load (a C client, as light on a shared CPU as pgbench is) when it is on
/// PATH (Debian: nghttp2-client): its requests/s, after checking that every request got an HTTP
/// answer (a gRPC error is HTTP 200 too: the closed-loop phases are the ones that check answers).
pub fn h2load(
    address: SocketAddr,
    method: &str,
    token: &str,
    message: &impl prost::Message,
    length: Duration,
    clients: usize,
) -> Option<f64> {
    let message = message.encode_to_vec();
    // One gRPC frame: uncompressed, its length, the message.
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let path = std::env::temp_dir().join(format!(
        "fazhi-load-{}-{}.grpc",
        std::process::id(),
        method.len()
    ));
    std::fs::write(&path, frame).unwrap();
    let output = Command::new("h2load")
        .args(["-c", &clients.to_string(), "-m", "1", "-D"])
        .arg(length.as_secs().to_string())
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-H",
        ])
        .arg(format!("authorization: {token}"))
        .arg("-d")
        .arg(&path)
        .arg(format!("http://{address}{method}"))
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    // "requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout"
    let failed = text
        .lines()
        .any(|line| line.starts_with("requests:") && !line.contains(" 0 failed, 0 errored"));
    assert!(!failed, "h2load saw failures: {text}");
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once("finished in ")?;
        let (_, rate) = rest.split_once(", ")?;
        rate.split_whitespace().next()?.parse().ok()
    })
}

/// An RPC as h2load sends it: its path, a bearer header and the request message.
pub struct Rpc<'a, M> {
    pub method: &'a str,
    pub token: &'a str,
    pub message: &'a M,
}

/// Rounds of the SQL baseline and h2load, each pair back to back: the machine's speed drifts
/// by a quarter between runs minutes apart (pgbench 10,900–15,400 /s on 2026-12-07), and a
/// ratio of two phases far apart in time measures the drift as much as the server.
const ROUNDS: usize = 5;

/// Compares an RPC with its SQL: the tonic `clients` in a closed loop (its latency), then
/// [`ROUNDS`] rounds of `sql` (pgbench, its calls/s) each followed by h2load, then the clients
/// at half the rate reached, for latency. The ratio is the median of the rounds'.
pub async fn compare<C, F, Fut, M>(
    name: &str,
    load: LoadSettings,
    sql: impl Fn() -> f64,
    address: SocketAddr,
    clients: &[C],
    rpc: Rpc<'_, M>,
    call: F,
) where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
    M: prost::Message,
{
    println!(
        "\n{name}, {} clients, {} s per phase",
        load.clients,
        load.length.as_secs()
    );
    // Warm the pool, the prepared statements and the connections.
    drive(clients, Duration::from_secs(1), None, call.clone()).await;
    let max = drive(clients, load.length, None, call.clone()).await;
    max.print("over gRPC, tonic clients, closed loop");
    let mut sql_rates = Vec::with_capacity(ROUNDS);
    let mut h2_ratios = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS {
        let sql_rate = sql();
        let h2 = h2load(
            address,
            rpc.method,
            rpc.token,
            rpc.message,
            load.length,
            load.clients,
        );
        let h2_text = h2.map_or("-".to_owned(), |rate| {
            h2_ratios.push(rate / sql_rate);
            format!("h2load {rate:>6.0} calls/s, {:.2}x", rate / sql_rate)
        });
        println!(
            "{:<50} {sql_rate:>9.0} calls/s; {h2_text}",
            format!("round {round}: pgbench, the same statements")
        );
        sql_rates.push(sql_rate);
    }
    let half = drive_at_half(clients, load.length, &max, call).await;
    half.print("tonic clients at half that rate");
    let sql_median = median(&mut sql_rates);
    let h2_text = if h2_ratios.is_empty() {
        "- (h2load not on PATH)".to_owned()
    } else {
        format!("{:.2}x", median(&mut h2_ratios))
    };
    println!(
        "ratio to the SQL: {:.2}x (tonic, to the median pgbench), {h2_text} (h2load, median \
         of the rounds); p99 at half load {:.2} ms",
        max.rate() / sql_median,
        half.ms(0.99)
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `count` clients, each on a connection of its own to `address`.
pub async fn channels(address: SocketAddr, count: usize) -> Vec<tonic::transport::Channel> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(
            tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    channels
}
