//! Bulk ingest against its baseline, in the same run on the same database: ROWS values of a
//! generated province (`Province::STANDARD`, ~32,000 units) streamed over gRPC by a coordinator
//! of the province, against `COPY` of the same rows into the same table. Run:
//! `cargo bench -p fazhi-indicators --bench ingest` (needs the test Postgres, docs/testing.md);
//! `FAZHI_BENCH_ROWS` sets the row count (default 1,000,000).

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write;
use std::time::Instant;

use fazhi_platform::auth::Role;
use fazhi_proto::indicators::v1 as pb;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use fazhi_testkit::demo::Province;
use fazhi_testkit::{bearer, with_token};
use futures::StreamExt;

const ELEMENTS: usize = 10;
const PER_MESSAGE: usize = 10_000;

/// The values: every county-level unit (departments, townships) × ELEMENTS elements × years,
/// as many as `rows` asks.
fn rows(province: &Province, rows: usize) -> Vec<pb::IngestRow> {
    let mut units = Vec::new();
    for city in 0..province.cities {
        for county in 0..province.counties {
            for department in 0..province.departments {
                units.push(format!("c{city}-k{county}-d{department}"));
            }
            for township in 0..province.townships {
                units.push(format!("c{city}-k{county}-t{township}"));
            }
        }
    }
    let mut found = Vec::with_capacity(rows);
    'years: for year in 2000.. {
        for unit in &units {
            for element in 0..ELEMENTS {
                if found.len() == rows {
                    break 'years;
                }
                found.push(pb::IngestRow {
                    external_id: format!("{unit}/{element}/{year}"),
                    data_element: format!("dataElements/e{element}"),
                    unit: format!("units/{unit}"),
                    period: year.to_string(),
                    category_option: String::new(),
                    value: ((found.len() * 7) % 100) as f64,
                    ..Default::default()
                });
            }
        }
    }
    found
}

fn catalogue() -> String {
    let mut yaml = String::from("data_elements:\n");
    for element in 0..ELEMENTS {
        writeln!(yaml, "  - {{id: e{element}, code: e{element}, display_name: 数据项{element}, value_type: count, period_type: year}}").unwrap();
    }
    yaml
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("FAZHI_BENCH_ROWS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let province = Province::STANDARD;
    // Every part bound: `..` would drop the units database at once, and the units service with it.
    let common::Bench {
        _units_database,
        database,
        server,
        admin,
        unit_count,
    } = common::start(province).await;
    let mut client = IndicatorsServiceClient::new(server.channel.clone());
    client
        .import_catalogue(with_token(
            pb::ImportCatalogueRequest {
                content: catalogue().into_bytes(),
                validate_only: false,
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap();
    let rows = rows(&province, count);
    println!(
        "{unit_count} units, {ELEMENTS} yearly elements, {} values, {PER_MESSAGE} per message",
        rows.len()
    );

    // Baseline: COPY of the same rows, as ingest writes them, into the same table.
    let mut text = String::with_capacity(rows.len() * 160);
    for (index, row) in rows.iter().enumerate() {
        let unit = row.unit.trim_start_matches("units/");
        let element = row.data_element.trim_start_matches("dataElements/");
        writeln!(
            text,
            "v-copy-{index}\t{element}\t{unit}\t{period}\t{period}-01-01\t{period}-12-31\t\t{value}\t\tdraft\tingested\tbench\tbench\t{external}\t\\\\x00",
            period = row.period,
            value = row.value,
            external = row.external_id
        )
        .unwrap();
    }
    let mut connection = database.admin_pool.acquire().await.unwrap();
    // One statement for all rows: past the sessions' statement_timeout.
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *connection)
        .await
        .unwrap();
    let started = Instant::now();
    let mut copy = connection
        .copy_in_raw(
            "COPY indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
                 category_option, value, comment, state, action, update_subject, source, external_id, fingerprint)
             FROM STDIN",
        )
        .await
        .unwrap();
    copy.send(text.as_bytes()).await.unwrap();
    let copied = copy.finish().await.unwrap();
    let copy_seconds = started.elapsed().as_secs_f64();
    println!(
        "baseline: COPY of {copied} rows            {copy_seconds:>7.2} s  {:>9.0} rows/s",
        copied as f64 / copy_seconds
    );
    sqlx::query("TRUNCATE indicators.data_values CASCADE")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE indicators.data_values")
        .execute(&mut *connection)
        .await
        .unwrap();

    let coordinator = bearer("province-office", Some("p"), &[Role::Coordinator]);
    let messages: Vec<pb::IngestDataValuesRequest> = rows
        .chunks(PER_MESSAGE)
        .enumerate()
        .map(|(index, chunk)| pb::IngestDataValuesRequest {
            source: if index == 0 {
                "bench".to_owned()
            } else {
                String::new()
            },
            submit: false,
            rows: chunk.to_vec(),
        })
        .collect();
    let started = Instant::now();
    let mut answers = client
        .ingest_data_values(with_token(futures::stream::iter(messages), &coordinator))
        .await
        .unwrap()
        .into_inner();
    let mut accepted = 0;
    while let Some(answer) = answers.next().await {
        accepted += answer
            .unwrap()
            .results
            .iter()
            .filter(|result| result.outcome == pb::IngestOutcome::Accepted as i32)
            .count();
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    println!(
        "IngestDataValues over gRPC: {accepted} accepted   {ingest_seconds:>7.2} s  {:>9.0} rows/s",
        accepted as f64 / ingest_seconds
    );
    println!(
        "ratio (COPY time / ingest time): {:.2}×",
        copy_seconds / ingest_seconds
    );
}
