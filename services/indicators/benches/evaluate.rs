//! Evaluation at scale against its baseline, in the same run on the same database: a generated
//! province of ~20,700 units, 10 yearly elements reported by every unit for two years, 30
//! targets (absolute, trend, ratio and count) set by the province.
//! - EvaluateRegion: every target for every unit for 2024, streamed over gRPC, against one
//!   hand-written SQL aggregation of the same figures (per unit, element and year);
//! - EvaluateTarget for one county region (~185 units): p50 and p99 over sequential calls.
//!
//! Run: `cargo bench -p fazhi-indicators --bench evaluate` (needs the test Postgres).

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write;
use std::time::{Duration, Instant};

use fazhi_platform::auth::Role;
use fazhi_proto::indicators::v1 as pb;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use fazhi_testkit::demo::Province;
use fazhi_testkit::{bearer, with_token};
use futures::StreamExt;

const PROVINCE: Province = Province {
    cities: 11,
    counties: 10,
    departments: 30,
    townships: 14,
    villages: 10,
};
const ELEMENTS: usize = 10;
const YEARS: [i32; 2] = [2023, 2024];

/// 10 elements; 5 ratios (e1/e0 … e9/e8) and 5 counts (e0, e2 … e8); for each indicator an
/// absolute target, a trend, and a second threshold: 30 targets.
fn catalogue() -> String {
    let mut yaml = String::from("data_elements:\n");
    for element in 0..ELEMENTS {
        writeln!(yaml, "  - {{id: e{element}, code: e{element}, display_name: 数据项{element}, value_type: count, period_type: year}}").unwrap();
    }
    yaml.push_str("indicators:\n");
    for pair in 0..ELEMENTS / 2 {
        let (denominator, numerator) = (2 * pair, 2 * pair + 1);
        writeln!(yaml, "  - {{id: r{pair}, code: r{pair}, display_name: 比率{pair}, formula: e{numerator} / e{denominator}, factor: 100, unit_of_measure: \"%\", direction: higher_is_better}}").unwrap();
        writeln!(yaml, "  - {{id: c{pair}, code: c{pair}, display_name: 次数{pair}, formula: e{denominator}, direction: lower_is_better}}").unwrap();
    }
    yaml.push_str("targets:\n");
    for pair in 0..ELEMENTS / 2 {
        for (indicator, first, second) in
            [(format!("r{pair}"), 50, 100), (format!("c{pair}"), 40, 10)]
        {
            writeln!(yaml, "  - {{id: {indicator}-a, display_name: {indicator} ≥ {first}, indicator: {indicator}, owner_unit: p, kind: {{absolute: {{comparator: greater_or_equal, value: {first}}}}}}}").unwrap();
            writeln!(yaml, "  - {{id: {indicator}-b, display_name: {indicator} = {second}, indicator: {indicator}, owner_unit: p, kind: {{absolute: {{comparator: less_or_equal, value: {second}}}}}}}").unwrap();
            writeln!(yaml, "  - {{id: {indicator}-t, display_name: {indicator} 趋势, indicator: {indicator}, owner_unit: p, kind: trend}}").unwrap();
        }
    }
    yaml
}

fn units(province: &Province) -> Vec<String> {
    let (registry, _) = province.registry_yaml();
    registry
        .lines()
        .filter_map(|line| line.strip_prefix("  - {id: "))
        .filter_map(|rest| rest.split(',').next())
        .filter(|id| !["townships", "government-departments"].contains(id))
        .map(str::to_owned)
        .collect()
}

#[tokio::main]
async fn main() {
    let bench = common::start(PROVINCE).await;
    let mut client = IndicatorsServiceClient::new(bench.server.channel.clone())
        .max_decoding_message_size(64 << 20);
    client
        .import_catalogue(with_token(
            pb::ImportCatalogueRequest {
                content: catalogue().into_bytes(),
                validate_only: false,
                request_id: String::new(),
            },
            &bench.admin,
        ))
        .await
        .unwrap();

    // Every unit reports every element for both years, approved: COPY, for the set-up only.
    let all_units = units(&PROVINCE);
    let mut text = String::new();
    let mut count = 0;
    for (index, unit) in all_units.iter().enumerate() {
        for year in YEARS {
            for element in 0..ELEMENTS {
                let value = (index * 7 + element * 13 + year as usize) % 60;
                writeln!(text, "v-{unit}-{year}-{element}\te{element}\t{unit}\t{year}\t{year}-01-01\t{year}-12-31\t\t{value}\t\tapproved\tapproved\tbench").unwrap();
                count += 1;
            }
        }
    }
    let mut connection = bench.database.admin_pool.acquire().await.unwrap();
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *connection)
        .await
        .unwrap();
    let mut copy = connection
        .copy_in_raw(
            "COPY indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
                 category_option, value, comment, state, action, update_subject) FROM STDIN",
        )
        .await
        .unwrap();
    copy.send(text.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    sqlx::query("VACUUM ANALYZE indicators.data_values")
        .execute(&mut *connection)
        .await
        .unwrap();
    drop(connection);
    println!(
        "{} units, {count} approved values, 30 targets",
        bench.unit_count
    );

    let coordinator = bearer("province-office", Some("p"), &[Role::Coordinator]);
    let pool = bench.database.pool.clone();
    let region = |view: pb::EvaluationView| pb::EvaluateRegionRequest {
        unit: "units/p".to_owned(),
        period: "2024".to_owned(),
        view: view as i32,
        ..Default::default()
    };
    for round in 0..3 {
        // Baseline: the figures every target reads, per unit, element and year, in one statement.
        let started = Instant::now();
        let figures: Vec<(String, String, String, f64)> = sqlx::query_as(
            "SELECT unit_id, data_element_id, period, sum(value) FROM indicators.data_values
             WHERE period_start >= '2023-01-01' AND period_end <= '2024-12-31' AND state = 'approved'
               AND category_option = ''
             GROUP BY unit_id, data_element_id, period",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let sql = started.elapsed();

        let mut timings = Vec::new();
        for view in [pb::EvaluationView::Basic, pb::EvaluationView::Full] {
            let started = Instant::now();
            let mut pages = client
                .evaluate_region(with_token(region(view), &coordinator))
                .await
                .unwrap()
                .into_inner();
            let mut verdicts = 0;
            while let Some(page) = pages.next().await {
                verdicts += page.unwrap().evaluations.len();
            }
            timings.push((view, verdicts, started.elapsed()));
        }
        println!(
            "round {round}: baseline SQL aggregation: {:>7} figures in {:>7.0} ms",
            figures.len(),
            sql.as_secs_f64() * 1e3
        );
        for (view, verdicts, elapsed) in timings {
            println!(
                "         EvaluateRegion {:<5}: {verdicts:>7} verdicts in {:>7.0} ms  ratio {:.2}×",
                view.as_str_name().trim_start_matches("EVALUATION_VIEW_"),
                elapsed.as_secs_f64() * 1e3,
                sql.as_secs_f64() / elapsed.as_secs_f64()
            );
        }
    }

    // One target for one county region, as a dashboard asks it.
    let mut samples: Vec<Duration> = Vec::new();
    for call in 0..220 {
        let started = Instant::now();
        client
            .evaluate_target(with_token(
                pb::EvaluateTargetRequest {
                    target: "targets/r0-a".to_owned(),
                    unit: format!(
                        "units/c{}-k{}",
                        call % PROVINCE.cities,
                        call % PROVINCE.counties
                    ),
                    period: "2024".to_owned(),
                    include_descendants: true,
                    include_submitted: false,
                },
                &coordinator,
            ))
            .await
            .unwrap();
        if call >= 20 {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    let quantile = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "EvaluateTarget, one county region (~185 units): p50 {:.1} ms, p99 {:.1} ms ({} calls)",
        quantile(0.5),
        quantile(0.99),
        samples.len()
    );
}
