//! GetUnit through the gateway (Connect JSON over HTTP/1.1) against the same call over gRPC
//! directly, in the same run, at the same concurrency: closed-loop throughput, then each at half
//! of its own maximum for latency (docs/benchmarks.md). The units service, the gateway and the
//! clients share the process, as they share the machine.
//! Run: `cargo bench -p fazhi-gateway --bench gateway`; `FAZHI_LOAD_SECONDS` (10) and
//! `FAZHI_LOAD_CLIENTS` (16).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use fazhi_platform::auth::Role;
use fazhi_proto::units::v1 as pb;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::load::{LoadSettings, channels, drive, drive_at_half};
use fazhi_testkit::{bearer, with_token};

#[path = "../tests/common/mod.rs"]
mod common;

const UNIT: &str = "units/ng-sfj";

#[tokio::main]
async fn main() {
    let load = LoadSettings::from_env();
    // The gateway with limits no caller here reaches: the benchmark measures the forwarding.
    let running = common::start_with(fazhi_gateway::EdgePolicy {
        requests_per_second: 1_000_000,
        burst: 1_000_000,
        ..fazhi_gateway::EdgePolicy::default()
    })
    .await;
    let url = format!("{}/fazhi.units.v1.UnitsService/GetUnit", running.base);
    let token: Arc<str> = Arc::from(bearer("viewer", None, &[Role::Viewer]));

    println!(
        "\nGetUnit, {} clients (a connection each), {} s per phase",
        load.clients,
        load.length.as_secs()
    );
    let grpc_clients: Vec<_> = channels(running.grpc_address, load.clients)
        .await
        .into_iter()
        .map(UnitsServiceClient::new)
        .collect();
    let direct = {
        let token = Arc::clone(&token);
        move |mut client: UnitsServiceClient<tonic::transport::Channel>| {
            let token = Arc::clone(&token);
            async move {
                let request = pb::GetUnitRequest {
                    name: UNIT.to_owned(),
                    ..Default::default()
                };
                client.get_unit(with_token(request, &token)).await.unwrap();
            }
        }
    };
    let http_clients: Vec<_> = (0..load.clients)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect();
    let through_gateway = {
        let (token, url) = (Arc::clone(&token), Arc::<str>::from(url));
        move |client: reqwest::Client| {
            let (token, url) = (Arc::clone(&token), Arc::clone(&url));
            async move {
                let answer = client
                    .post(&*url)
                    .header("authorization", &*token)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"name":"{UNIT}"}}"#))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                let body = answer.bytes().await.unwrap();
                assert!(body.starts_with(br#"{"unit":"#));
            }
        }
    };

    // Warm the pool, the connections and the prepared statements.
    drive(
        &grpc_clients,
        std::time::Duration::from_secs(1),
        None,
        direct.clone(),
    )
    .await;
    drive(
        &http_clients,
        std::time::Duration::from_secs(1),
        None,
        through_gateway.clone(),
    )
    .await;
    let grpc_max = drive(&grpc_clients, load.length, None, direct.clone()).await;
    grpc_max.print("baseline: gRPC directly, tonic, closed loop");
    let gateway_max = drive(&http_clients, load.length, None, through_gateway.clone()).await;
    gateway_max.print("through the gateway, Connect JSON, closed loop");
    let grpc_half = drive_at_half(&grpc_clients, load.length, &grpc_max, direct).await;
    grpc_half.print("baseline at half its maximum");
    let gateway_half =
        drive_at_half(&http_clients, load.length, &gateway_max, through_gateway).await;
    gateway_half.print("gateway at half its maximum");
    println!(
        "gateway / direct gRPC: {:.2}x throughput; p99 at half load {:.2} ms (direct {:.2} ms)",
        gateway_max.rate() / grpc_max.rate(),
        gateway_half.ms(0.99),
        grpc_half.ms(0.99)
    );
}
