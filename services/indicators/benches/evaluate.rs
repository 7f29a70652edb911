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
#[tokio::main]
async fn main() {
    let bench = common::start(PROVINCE).await;
    let mut client = IndicatorsServiceClient::new(bench.server.channel.clone())
        .max_decoding_message_size(64 << 20);
    client
        .import_catalogue(with_token(
            pb::ImportCatalogueRequest {
                content: common::catalogue().into_bytes(),
                validate_only: false,
                request_id: String::new(),
            },
            &bench.admin,
        ))
        .await
        .unwrap();

    let count = common::approve_values(&bench, &PROVINCE).await;
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
