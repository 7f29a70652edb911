//! `fazhi indicators …`: the indicators catalogue through a running server, and the demo
//! catalogue and values `fazhi dev` loads.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use fazhi_platform::auth::{Role, issue_dev_token};
use fazhi_platform::settings::AuthSettings;
use fazhi_proto::indicators::v1 as pb;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use tonic::transport::Channel;

use crate::{ServerArgs, authorized, connect};

/// The demo catalogue: data elements, indicators and targets from the real plans.
const DEMO_CATALOGUE: &str = include_str!("../../../services/indicators/catalogue/demo.yaml");
/// Demo values for 宁国市's units.
const DEMO_VALUES: &str = include_str!("../demo/indicator-values.yaml");

#[derive(clap::Subcommand)]
pub enum Command {
    /// Loads a catalogue file (YAML: data elements, indicators, targets) in one transaction.
    Import {
        file: PathBuf,
        /// Check the file and report without writing.
        #[arg(long)]
        validate_only: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Streams values through IngestDataValues from a CSV file (header: external_id,
    /// data_element, unit, period, category_option, value, comment) or a filled-in data-entry
    /// form (`.xlsx`, from `fazhi indicators form`); prints the rejected rows with their place and
    /// reasons, and fails when any was rejected.
    Ingest {
        file: PathBuf,
        /// The sending system, e.g. `court-case-system`: with each row's external_id, what makes
        /// a re-run recognise the rows it sent before. Required for CSV; a form's rows come from
        /// `data-entry-form`.
        #[arg(long)]
        source: Option<String>,
        /// Submit the values for review; otherwise they are drafts.
        #[arg(long)]
        submit: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Writes the data-entry form (XLSX) of a data set for a unit and period, with the unit's
    /// current values, to be filled in and read back with `fazhi indicators ingest`.
    Form {
        /// The data set's id, e.g. `litigation`.
        data_set: String,
        /// The unit's id, e.g. `ng-sfj`.
        unit: String,
        period: String,
        /// Where to write it; by default the file name the server gives, in this folder.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Writes the whole catalogue as YAML to standard output.
    Export {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Import {
            file,
            validate_only,
            server,
        } => {
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let summary = client(&server)
                .await?
                .import_catalogue(authorized(
                    pb::ImportCatalogueRequest {
                        content,
                        validate_only,
                        request_id: String::new(),
                    },
                    &server.token,
                )?)
                .await?
                .into_inner();
            println!(
                "{}{} data elements, {} indicators, {} targets new; {} unchanged",
                if validate_only { "valid: " } else { "" },
                summary.data_elements_created,
                summary.indicators_created,
                summary.targets_created,
                summary.unchanged
            );
            Ok(())
        }
        Command::Ingest {
            file,
            source,
            submit,
            server,
        } => ingest(&file, source, submit, &server).await,
        Command::Form {
            data_set,
            unit,
            period,
            output,
            server,
        } => {
            let form = client(&server)
                .await?
                .export_data_entry_form(authorized(
                    pb::ExportDataEntryFormRequest {
                        data_set: named("dataSets", &data_set),
                        unit: named("units", &unit),
                        period,
                    },
                    &server.token,
                )?)
                .await?
                .into_inner();
            let path = output.unwrap_or_else(|| PathBuf::from(&form.file_name));
            std::fs::write(&path, &form.content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Export { server } => {
            let content = client(&server)
                .await?
                .export_catalogue(authorized(pb::ExportCatalogueRequest {}, &server.token)?)
                .await?
                .into_inner()
                .content;
            print!("{}", String::from_utf8(content)?);
            Ok(())
        }
    }
}

/// One CSV row; element and unit may be ids (`hearings`, `ng-sfj`) or names.
#[derive(serde::Deserialize)]
struct CsvRow {
    external_id: String,
    data_element: String,
    #[serde(default)]
    unit: String,
    period: String,
    #[serde(default)]
    category_option: String,
    /// Empty for a text or date element, whose value is `text`.
    #[serde(default)]
    value: f64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    comment: String,
}

fn named(collection: &str, text: &str) -> String {
    if text.is_empty() || text.starts_with(&format!("{collection}/")) {
        text.to_owned()
    } else {
        format!("{collection}/{text}")
    }
}

/// Rows per request message.
const ROWS_PER_MESSAGE: usize = 5_000;

/// The rows of a CSV file, and the line of the file the first row is on.
fn csv_rows(file: &std::path::Path) -> anyhow::Result<Vec<pb::IngestRow>> {
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut rows = Vec::new();
    for (line, record) in reader.deserialize::<CsvRow>().enumerate() {
        // Line 1 is the header.
        let record = record.with_context(|| format!("{} line {}", file.display(), line + 2))?;
        rows.push(pb::IngestRow {
            external_id: record.external_id,
            data_element: named("dataElements", &record.data_element),
            unit: named("units", &record.unit),
            period: record.period,
            category_option: record.category_option,
            value: record.value,
            text: record.text,
            comment: record.comment,
        });
    }
    Ok(rows)
}

/// The filled-in rows of a data-entry form.
fn form_rows(file: &std::path::Path) -> anyhow::Result<Vec<pb::IngestRow>> {
    let content = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let form = fazhi_indicators::form::read(&content).map_err(|violations| {
        anyhow::anyhow!(
            "{}: {}",
            file.display(),
            violations
                .iter()
                .map(|violation| violation.message.zh.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    Ok(form
        .rows
        .into_iter()
        .map(|row| pb::IngestRow {
            external_id: row.external_id,
            data_element: row.data_element,
            unit: row.unit,
            period: row.period,
            category_option: row.category_option,
            value: row.value,
            text: row.text,
            comment: row.comment,
        })
        .collect())
}

async fn ingest(
    file: &std::path::Path,
    source: Option<String>,
    submit: bool,
    server: &ServerArgs,
) -> anyhow::Result<()> {
    let is_form = file
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("xlsx"));
    let (rows, source) = if is_form {
        let source = source.unwrap_or_else(|| fazhi_indicators::form::SOURCE.to_owned());
        (form_rows(file)?, source)
    } else {
        let source = source.context("--source is required for a CSV file")?;
        (csv_rows(file)?, source)
    };
    let messages: Vec<pb::IngestDataValuesRequest> = rows
        .chunks(ROWS_PER_MESSAGE)
        .enumerate()
        .map(|(index, chunk)| pb::IngestDataValuesRequest {
            source: if index == 0 {
                source.clone()
            } else {
                String::new()
            },
            submit,
            rows: chunk.to_vec(),
        })
        .collect();
    let mut answers = client(server)
        .await?
        .ingest_data_values(authorized(futures::stream::iter(messages), &server.token)?)
        .await?
        .into_inner();
    let (mut accepted, mut unchanged, mut rejected) = (0, 0, 0);
    while let Some(answer) = answers.message().await? {
        for result in answer.results {
            match pb::IngestOutcome::try_from(result.outcome) {
                Ok(pb::IngestOutcome::Accepted) => accepted += 1,
                Ok(pb::IngestOutcome::Unchanged) => unchanged += 1,
                _ => {
                    rejected += 1;
                    let reasons: Vec<String> = result
                        .violations
                        .iter()
                        .map(|violation| {
                            format!(
                                "{} {}: {}",
                                violation.field, violation.reason, violation.localized_description
                            )
                        })
                        .collect();
                    // A CSV row by its line (after the header), a form's by what it names.
                    let place = if is_form {
                        String::new()
                    } else {
                        format!("line {} ", result.index + 2)
                    };
                    eprintln!("{place}({}): {}", result.external_id, reasons.join("; "));
                }
            }
        }
    }
    println!("{accepted} accepted, {unchanged} unchanged, {rejected} rejected");
    if rejected > 0 {
        anyhow::bail!("{rejected} rows were rejected");
    }
    Ok(())
}

async fn client(server: &ServerArgs) -> anyhow::Result<IndicatorsServiceClient<Channel>> {
    Ok(IndicatorsServiceClient::new(connect(server).await?).max_decoding_message_size(64 << 20))
}

#[derive(serde::Deserialize)]
struct DemoValues {
    /// element id, unit id, period, category option, value, state left in
    values: Vec<(String, String, String, String, f64, String)>,
}

/// Loads the demo catalogue and values through the running server, each value reported by its
/// unit's staff and reviewed by 宁国市's (or 通辽市's) coordinator; request ids make a restart on the same
/// database replay. Prints what evaluating 宁国市 for 2024 says.
pub async fn load_demo(channel: Channel, auth: &AuthSettings, admin: &str) -> anyhow::Result<()> {
    let mut client = IndicatorsServiceClient::new(channel);
    let token = |subject: &str, unit: Option<&str>, role: Role| {
        issue_dev_token(auth, subject, unit, &[role], Duration::from_secs(3600))
    };
    let coordinator = token("ningguo-coordinator", Some("ningguo"), Role::Coordinator)?;
    let tongliao_coordinator = token("tongliao-coordinator", Some("tongliao"), Role::Coordinator)?;
    // 宁国市人民政府's own figures are reviewed a level up, by 宣城市.
    let city_coordinator = token(
        "xuancheng-coordinator",
        Some("xuancheng"),
        Role::Coordinator,
    )?;
    let catalogue = client
        .import_catalogue(authorized(
            pb::ImportCatalogueRequest {
                content: DEMO_CATALOGUE.as_bytes().to_vec(),
                validate_only: false,
                request_id: "fazhi-dev-demo-catalogue".to_owned(),
            },
            admin,
        )?)
        .await?
        .into_inner();
    let demo: DemoValues = serde_yaml::from_str(DEMO_VALUES)?;
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for (index, (element, unit, period, option, value, state)) in demo.values.iter().enumerate() {
        let reporter = if unit.is_empty() {
            admin.to_owned()
        } else {
            token(&format!("{unit}-clerk"), Some(unit), Role::UnitStaff)?
        };
        let request_id = |step: &str| format!("fazhi-dev-demo-value-{index}-{step}");
        let mut current = client
            .report_data_value(authorized(
                pb::ReportDataValueRequest {
                    data_element: format!("dataElements/{element}"),
                    unit: if unit.is_empty() {
                        String::new()
                    } else {
                        format!("units/{unit}")
                    },
                    period: period.clone(),
                    category_option: option.clone(),
                    value: *value,
                    request_id: request_id("report"),
                    ..Default::default()
                },
                &reporter,
            )?)
            .await?
            .into_inner()
            .data_value
            .unwrap_or_default();
        if state != "draft" {
            current = client
                .submit_data_value(authorized(
                    pb::SubmitDataValueRequest {
                        name: current.name.clone(),
                        etag: String::new(),
                        request_id: request_id("submit"),
                    },
                    &reporter,
                )?)
                .await?
                .into_inner()
                .data_value
                .unwrap_or_default();
        }
        let reviewer = match unit.as_str() {
            "" => admin,
            "ningguo" => city_coordinator.as_str(),
            unit if unit.starts_with("tl-") => tongliao_coordinator.as_str(),
            _ => coordinator.as_str(),
        };
        match state.as_str() {
            "approved" => {
                client
                    .approve_data_value(authorized(
                        pb::ApproveDataValueRequest {
                            name: current.name.clone(),
                            etag: String::new(),
                            request_id: request_id("approve"),
                        },
                        reviewer,
                    )?)
                    .await?;
            }
            "returned" => {
                client
                    .return_data_value(authorized(
                        pb::ReturnDataValueRequest {
                            name: current.name.clone(),
                            etag: String::new(),
                            reason: "与台账不一致,请核实后重报".to_owned(),
                            request_id: request_id("return"),
                        },
                        reviewer,
                    )?)
                    .await?;
            }
            _ => {}
        }
        *states.entry(state.clone()).or_default() += 1;
    }
    println!(
        "  demo indicators {} data elements, {} indicators, {} targets, {} data sets for 宁国市 ({} unchanged); {} values: {}",
        catalogue.data_elements_created,
        catalogue.indicators_created,
        catalogue.targets_created,
        catalogue.data_sets_created,
        catalogue.unchanged,
        demo.values.len(),
        states
            .iter()
            .map(|(state, count)| format!("{count} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let targets = client
        .list_targets(authorized(
            pb::ListTargetsRequest {
                owner_unit: "units/ningguo".to_owned(),
                page_size: 100,
                page_token: String::new(),
            },
            &coordinator,
        )?)
        .await?
        .into_inner()
        .targets;
    for target in targets {
        let evaluation = client
            .evaluate_target(authorized(
                pb::EvaluateTargetRequest {
                    target: target.name.clone(),
                    unit: "units/ningguo".to_owned(),
                    period: "2024".to_owned(),
                    include_descendants: true,
                    include_submitted: false,
                },
                &coordinator,
            )?)
            .await?
            .into_inner()
            .evaluation
            .unwrap_or_default();
        let status = pb::TargetStatus::try_from(evaluation.status)
            .map(|status| {
                status
                    .as_str_name()
                    .trim_start_matches("TARGET_STATUS_")
                    .to_owned()
            })
            .unwrap_or_default();
        println!(
            "    宁国市 2024  {status:<14} {}: {}",
            target.display_name, evaluation.explanation
        );
    }
    // The 催报 view: the demo values were entered after the 2024 returns fell due.
    let data_sets = client
        .list_data_sets(authorized(
            pb::ListDataSetsRequest {
                page_size: 100,
                page_token: String::new(),
            },
            &coordinator,
        )?)
        .await?
        .into_inner()
        .data_sets;
    for data_set in data_sets {
        let returns = client
            .list_returns(authorized(
                pb::ListReturnsRequest {
                    data_set: data_set.name.clone(),
                    unit: "units/ningguo".to_owned(),
                    period: "2024".to_owned(),
                    page_size: 500,
                    ..Default::default()
                },
                &coordinator,
            )?)
            .await?
            .into_inner();
        let outstanding = returns.expected_count - returns.on_time_count - returns.late_count;
        println!(
            "    宁国市 2024  报表 {} (due {}): {} units report it, {} on time, {} late, {} outstanding",
            data_set.display_name,
            returns.due_date,
            returns.expected_count,
            returns.on_time_count,
            returns.late_count,
            outstanding
        );
    }
    Ok(())
}
