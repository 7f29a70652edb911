//! `fazhi`: run the whole system locally, and administer it.

mod assessment;
mod dev;
mod indicators;
mod local_postgres;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use fazhi_plans::PlansSettings;
use fazhi_platform::auth::{Role, issue_dev_token};
use fazhi_platform::settings::Settings;
use fazhi_proto::units::v1 as pb;

/// Fazhi (法治): the backend for rule-of-law government construction work.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A TOML settings file (otherwise `FAZHI_CONFIG`); `FAZHI__SECTION__KEY` variables override it.
    #[arg(long, global = true, env = "FAZHI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every service in one process on one gRPC port, on a throwaway Postgres when no
    /// database is configured, loaded with the demo registries.
    Dev(dev::DevArgs),
    /// Applies every service's pending migrations to the configured database.
    Migrate,
    /// Prints a development token (HS256 with the configured or the dev secret).
    Token {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The caller's unit id, e.g. `ningguo` or `ng-sfj`.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value = "dev-user")]
        subject: String,
        #[arg(long, default_value_t = 12)]
        hours: u64,
    },
    /// The unit registry.
    Units {
        #[command(subcommand)]
        command: UnitsCommand,
    },
    /// Plans.
    Plans {
        #[command(subcommand)]
        command: PlansCommand,
    },
    /// The indicators catalogue.
    Indicators {
        #[command(subcommand)]
        command: indicators::Command,
    },
    /// The audit logs.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks the audit chain of every service's audit log (or one schema's) against
    /// `database.audit_key`: names the first row altered, forged or following removed rows.
    Verify {
        /// Only this schema: `units`, `plans` or `indicators`.
        #[arg(long)]
        schema: Option<String>,
    },
    /// Drops the audit months that ended before `--before` (kept at least 180 days), as the
    /// schemas' owner (`database.migration_url`); `verify` then starts where they ended.
    Prune {
        /// The first day kept, e.g. `2026-01-01`: earlier whole months go.
        #[arg(long)]
        before: chrono::NaiveDate,
        /// Only this schema: `units`, `plans` or `indicators`.
        #[arg(long)]
        schema: Option<String>,
    },
}

#[derive(Subcommand)]
enum PlansCommand {
    /// Imports a plan document (text or .docx) as a draft through a running server and prints
    /// the import report.
    Import {
        file: PathBuf,
        /// The issuing unit's id, e.g. `ningguo`.
        #[arg(long)]
        issuer: String,
        /// Parse and resolve, report, store nothing.
        #[arg(long)]
        validate_only: bool,
        /// The upper-level plan it implements, e.g. `plans/p-…`: tasks are linked to its tasks.
        #[arg(long)]
        parent: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Exports a plan's task breakdown table (任务分解表) or progress table as XLSX.
    Export {
        /// `plans/{plan}`
        plan: String,
        #[arg(long, value_enum, default_value = "breakdown")]
        table: TableArg,
        /// Where to write it; the server's file name in the current directory when absent.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Parses a plan document (UTF-8 text or .docx) and prints its structure; needs no server or
    /// database.
    Parse {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "json")]
        format: ParseFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TableArg {
    Breakdown,
    Progress,
}

#[derive(Clone, Copy, ValueEnum)]
enum ParseFormat {
    Json,
}

#[derive(Subcommand)]
enum UnitsCommand {
    /// Imports a registry file (YAML or CSV, by extension) through a running server.
    Import {
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
        /// Check the file and report without writing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Exports the registry to standard output.
    Export {
        #[arg(long, value_enum, default_value = "yaml")]
        format: FormatArg,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(clap::Args)]
pub(crate) struct ServerArgs {
    #[arg(long, env = "FAZHI_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    pub(crate) endpoint: String,
    /// A bearer token (see `fazhi token`).
    #[arg(long, env = "FAZHI_TOKEN")]
    pub(crate) token: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Coordinator,
    /// Also as the API names it (`unit_staff`), as the README and tokens spell it.
    #[value(name = "unit_staff", alias = "unit-staff")]
    UnitStaff,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Coordinator => Role::Coordinator,
            RoleArg::UnitStaff => Role::UnitStaff,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Yaml,
    Csv,
}

impl From<FormatArg> for pb::RegistryFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Yaml => pb::RegistryFormat::Yaml,
            FormatArg::Csv => pb::RegistryFormat::Csv,
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line with its causes, as an operator reads it; no backtrace.
            eprintln!("fazhi: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Only the commands that use settings read them: a bad settings file does not break a
    // subcommand that talks to a server. `fazhi dev` runs every service: the platform's
    // sections and plans' own.
    let settings = || Settings::load_unvalidated_with::<PlansSettings>(cli.config.as_deref());
    match cli.command {
        Command::Dev(args) => dev::run(settings()?, args).await,
        Command::Migrate => {
            let (settings, _) = settings()?;
            settings.validate()?;
            let pool = fazhi_platform::db::connect(&settings.database, "fazhi-migrate").await?;
            dev::migrate_all(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { schema },
        } => {
            let (settings, _) = settings()?;
            let pool = fazhi_platform::db::connect(&settings.database, "fazhi-audit").await?;
            let key = fazhi_platform::audit::AuditKey::from_settings(
                settings.database.audit_key.as_ref(),
            );
            if settings.database.audit_key.is_none() {
                println!("database.audit_key is not set: checking against the development key");
            }
            let mut broken = false;
            for (known, _) in dev::SCHEMAS {
                if schema.as_deref().is_some_and(|wanted| wanted != known) {
                    continue;
                }
                let found = fazhi_platform::audit::verify(&pool, known, &key).await?;
                match found.first_broken {
                    None => println!(
                        "{known}.audit_log: {} rows sealed and intact ({} from before sealing){}",
                        found.verified,
                        found.unsealed,
                        found
                            .pruned_through
                            .map(|row| format!(", going on from row {row} (pruned)"))
                            .unwrap_or_default()
                    ),
                    Some(row) => {
                        broken = true;
                        println!(
                            "{known}.audit_log: the chain breaks at row {row}, after {} intact rows: row {row} was altered or forged, or rows before it were removed",
                            found.verified
                        );
                    }
                }
            }
            if broken {
                anyhow::bail!("the audit log was tampered with");
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Prune { before, schema },
        } => {
            let (settings, _) = settings()?;
            let pool = fazhi_platform::db::connect(&settings.database, "fazhi-audit").await?;
            let owner =
                fazhi_platform::db::migration_pool(&settings.database, &pool, "fazhi-audit")
                    .await?;
            let before = before.and_time(chrono::NaiveTime::MIN).and_utc();
            for (known, _) in dev::SCHEMAS {
                if schema.as_deref().is_some_and(|wanted| wanted != known) {
                    continue;
                }
                let removed = fazhi_platform::audit::prune(&owner, known, before).await?;
                println!("{known}.audit_log: {removed} rows of months before {before} dropped");
            }
            Ok(())
        }
        Command::Token {
            role,
            unit,
            subject,
            hours,
        } => {
            let settings = dev::with_dev_secret(settings()?.0);
            let token = issue_dev_token(
                &settings.auth,
                &subject,
                unit.as_deref(),
                &[role.into()],
                Duration::from_secs(hours * 3600),
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Units { command } => units_command(command).await,
        Command::Indicators { command } => indicators::run(command).await,
        Command::Plans {
            command:
                PlansCommand::Import {
                    file,
                    issuer,
                    validate_only,
                    parent,
                    server,
                },
        } => import_plan(file, issuer, validate_only, parent, server).await,
        Command::Plans {
            command:
                PlansCommand::Export {
                    plan,
                    table,
                    output,
                    server,
                },
        } => export_plan(plan, table, output, server).await,
        Command::Plans {
            command:
                PlansCommand::Parse {
                    file,
                    format: ParseFormat::Json,
                },
        } => {
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let plan = fazhi_plans::domain::import::parse_document(&content)
                .with_context(|| format!("cannot read {}", file.display()))?;
            println!("{}", serde_json::to_string_pretty(&plan)?);
            Ok(())
        }
    }
}

/// A channel to the running server a subcommand talks to.
pub(crate) async fn connect(server: &ServerArgs) -> anyhow::Result<tonic::transport::Channel> {
    tonic::transport::Endpoint::from_shared(server.endpoint.clone())?
        .connect()
        .await
        .with_context(|| format!("cannot reach {}", server.endpoint))
}

async fn units_client(
    server: &ServerArgs,
) -> anyhow::Result<pb::units_service_client::UnitsServiceClient<tonic::transport::Channel>> {
    let channel = connect(server).await?;
    Ok(pb::units_service_client::UnitsServiceClient::new(channel)
        .max_decoding_message_size(64 << 20))
}

pub(crate) fn authorized<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

async fn import_plan(
    file: PathBuf,
    issuer: String,
    validate_only: bool,
    parent_plan: Option<String>,
    server: ServerArgs,
) -> anyhow::Result<()> {
    use fazhi_proto::plans::v1 as plans;
    let content =
        std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let channel = connect(&server).await?;
    let response = plans::plans_service_client::PlansServiceClient::new(channel)
        .import_plan(authorized(
            plans::ImportPlanRequest {
                issuer: format!("units/{issuer}"),
                content,
                request_id: String::new(),
                validate_only,
                parent_plan: parent_plan.unwrap_or_default(),
            },
            &server.token,
        )?)
        .await?
        .into_inner();
    let report = response.report.unwrap_or_default();
    if let Some(plan) = response.plan {
        println!("{} — {} (draft)", plan.name, plan.title);
    }
    println!(
        "{} tasks; {}/{} unit mentions resolved",
        report.task_count, report.resolved_mention_count, report.mention_count
    );
    for warning in report.warnings {
        println!(
            "  {:<20} line {:>4}  {}",
            warning.code, warning.line, warning.message
        );
    }
    Ok(())
}

async fn export_plan(
    plan: String,
    table: TableArg,
    output: Option<PathBuf>,
    server: ServerArgs,
) -> anyhow::Result<()> {
    use fazhi_proto::plans::v1 as plans;
    let channel = connect(&server).await?;
    let table = match table {
        TableArg::Breakdown => plans::ExportTable::TaskBreakdown,
        TableArg::Progress => plans::ExportTable::Progress,
    };
    let exported = plans::plans_service_client::PlansServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .export_plan(authorized(
            plans::ExportPlanRequest {
                name: plan,
                table: table as i32,
            },
            &server.token,
        )?)
        .await?
        .into_inner();
    let path = output.unwrap_or_else(|| PathBuf::from(&exported.file_name));
    std::fs::write(&path, &exported.content)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{} ({} bytes)", path.display(), exported.content.len());
    Ok(())
}

async fn units_command(command: UnitsCommand) -> anyhow::Result<()> {
    match command {
        UnitsCommand::Import {
            file,
            server,
            validate_only,
        } => {
            let format = match file.extension().and_then(|extension| extension.to_str()) {
                Some("csv") => pb::RegistryFormat::Csv,
                _ => pb::RegistryFormat::Yaml,
            };
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let counts = units_client(&server)
                .await?
                .import_units(authorized(
                    pb::ImportUnitsRequest {
                        format: format as i32,
                        content,
                        request_id: String::new(),
                        validate_only,
                    },
                    &server.token,
                )?)
                .await?
                .into_inner();
            println!(
                "units: {} created, {} updated; groups: {} created, {} updated",
                counts.units_created,
                counts.units_updated,
                counts.groups_created,
                counts.groups_updated
            );
            Ok(())
        }
        UnitsCommand::Export { format, server } => {
            let content = units_client(&server)
                .await?
                .export_units(authorized(
                    pb::ExportUnitsRequest {
                        format: pb::RegistryFormat::from(format) as i32,
                    },
                    &server.token,
                )?)
                .await?
                .into_inner()
                .content;
            use std::io::Write;
            std::io::stdout().write_all(&content)?;
            Ok(())
        }
    }
}
