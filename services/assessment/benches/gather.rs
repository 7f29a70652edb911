//! Gathering a large round's inputs from the indicators service, where the time goes: a
//! generated province of ~20,700 units with 10 elements reported by every unit for two years and
//! 30 targets (the indicators evaluation bench's set-up), every unit a member of the round.
//! - verdicts: the 30 targets for every unit, one `EvaluateRegion` stream (FULL view), as a round
//!   gathers them; against the same stream read without freezing (the indicators service's own
//!   share);
//! - figures: the 10 indicators for every unit, one `EvaluateRegionIndicators` stream (it had
//!   been one `EvaluateIndicator` call per unit and figure, 16 in flight: 3.15 ms a call, 651 s
//!   for this round's 206,910 figures).
//!
//! Members are not gathered here (the units service's groups are relative to the owner: the
//! generated province has no group of 20,000 units), nor tasks (no plan): both are one call per
//! peer group or plan.
//!
//! Run: `cargo bench -p fazhi-assessment --bench gather` (needs the test Postgres).

#![allow(clippy::unwrap_used)]

#[path = "../../indicators/benches/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use fazhi_assessment::domain::{Member, Needs, Scheme};
use fazhi_assessment::gather::Sources;
use fazhi_platform::auth::Role;
use fazhi_platform::call::{CallContext, Credentials};
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
/// The catalogue's indicators, each gathered for every unit.
const FIGURES: usize = 10;

fn scheme() -> Scheme {
    Scheme::from_yaml(
        "code: gather\ntitle: 采集基准\nyear: 2024\nowner_unit: p
peer_groups:
  - {code: all, title: 全部, unit_group: government-departments}
criteria:
  - code: '1'
    title: 基准
    points: 10
",
    )
    .unwrap()
}

#[tokio::main]
async fn main() {
    let bench = common::start(PROVINCE).await;
    IndicatorsServiceClient::new(bench.server.channel.clone())
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
    let values = common::approve_values(&bench, &PROVINCE).await;
    let members: Vec<Member> = common::units(&PROVINCE)
        .into_iter()
        .filter(|unit| unit != "p")
        .map(|unit| Member {
            display_name: unit.clone(),
            unit,
            peer_group: "all".to_owned(),
        })
        .collect();
    println!(
        "{} units, {values} approved values, 30 targets; {} members",
        bench.unit_count,
        members.len()
    );

    let address = format!("http://{}", bench.server.address);
    let sources = Sources::new(
        fazhi_units_client::UnitsClient::new(&address).unwrap(),
        fazhi_plans_client::PlansClient::new(&address).unwrap(),
        &address,
    )
    .unwrap();
    let coordinator = bearer("province-office", Some("p"), &[Role::Coordinator]);
    let context = CallContext::system("bench/Gather", Credentials::bearer(coordinator.clone()));
    let scheme = scheme();
    let targets: BTreeSet<String> = ["r", "c"]
        .iter()
        .flat_map(|kind| {
            (0..5).flat_map(move |pair| {
                ["a", "b", "t"]
                    .iter()
                    .map(move |which| format!("targets/{kind}{pair}-{which}"))
            })
        })
        .collect();
    let figures: BTreeSet<String> = (0..FIGURES / 2)
        .flat_map(|pair| [format!("indicators/r{pair}"), format!("indicators/c{pair}")])
        .collect();
    let today = chrono::Utc::now().date_naive();
    for run in 0..2 {
        // The indicators service's share: the same stream, read and dropped.
        let started = Instant::now();
        let mut client = IndicatorsServiceClient::new(bench.server.channel.clone())
            .max_decoding_message_size(64 << 20);
        let mut pages = client
            .evaluate_region(with_token(
                pb::EvaluateRegionRequest {
                    unit: "units/p".to_owned(),
                    period: "2024".to_owned(),
                    targets: targets.iter().cloned().collect(),
                    view: pb::EvaluationView::Full as i32,
                    include_submitted: false,
                },
                &coordinator,
            ))
            .await
            .unwrap()
            .into_inner();
        let mut streamed = 0;
        while let Some(page) = pages.next().await {
            streamed += page.unwrap().evaluations.len();
        }
        let stream_only = started.elapsed();

        let verdict_needs = Needs {
            targets: targets.clone(),
            ..Needs::default()
        };
        let started = Instant::now();
        let gathered = sources
            .inputs(
                &context,
                (&scheme, &verdict_needs),
                &members,
                ("2024", today),
            )
            .await
            .unwrap();
        let verdicts = started.elapsed();
        let frozen: usize = gathered.values().map(|unit| unit.len()).sum();

        let figure_needs = Needs {
            indicators: figures.clone(),
            ..Needs::default()
        };
        let started = Instant::now();
        let gathered = sources
            .inputs(
                &context,
                (&scheme, &figure_needs),
                &members,
                ("2024", today),
            )
            .await
            .unwrap();
        let figures_in = started.elapsed();
        let numbers: usize = gathered.values().map(|unit| unit.len()).sum();
        let asked = members.len() * FIGURES;
        println!(
            "run {run}: verdicts: {frozen} frozen in {:.2} s (the EvaluateRegion stream alone: {streamed} in {:.2} s)",
            verdicts.as_secs_f64(),
            stream_only.as_secs_f64()
        );
        println!(
            "       figures: {asked} asked, {numbers} values frozen, in {:.2} s",
            figures_in.as_secs_f64(),
        );
    }
}
