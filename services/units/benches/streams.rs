//! A unary call while `WatchEvents` streams are open, against the same call with none open, in
//! one run: open streams must not take the pool (they share one LISTEN connection and borrow a
//! pooled one only per batch). Also a write's latency with the streams woken by it. Run:
//! `cargo bench -p fazhi-units --bench streams` (needs the test Postgres, see docs/testing.md).

#![allow(clippy::unwrap_used)]

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::units::v1 as pb;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::bench::time;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};

/// Open streams, from this many callers (each under the per-caller cap).
const STREAMS: usize = 60;
const CALLERS: usize = 6;

#[tokio::main]
async fn main() {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let settings = fazhi_testkit::server_settings();
    let server = GrpcServer::new()
        .add_service(fazhi_units::grpc_service(
            fazhi_units::Store::new(database.pool.clone()),
            fazhi_testkit::authenticator(),
            &settings,
        ))
        .await;
    let server = TestServer::start(server, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    let client = UnitsServiceClient::new(server.channel.clone());
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
    let get_unit = || {
        let mut client = client.clone();
        let admin = admin.clone();
        async move {
            client
                .get_unit(with_token(
                    pb::GetUnitRequest {
                        name: "units/ng-sfj".to_owned(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .unwrap();
            1
        }
    };
    let mut counter = 0;
    let mut rename = || {
        counter += 1;
        let mut client = client.clone();
        let admin = admin.clone();
        let short_name = format!("司法局{counter}");
        async move {
            client
                .update_unit(with_token(
                    pb::UpdateUnitRequest {
                        unit: Some(pb::Unit {
                            name: "units/ng-sfj".to_owned(),
                            short_name,
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["short_name".to_owned()],
                        }),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .unwrap();
            1
        }
    };
    let baseline = time("baseline: GetUnit, no stream open", 200, get_unit).await;
    let write_baseline = time("baseline: UpdateUnit, no stream open", 100, &mut rename).await;

    let last: i64 = sqlx::query_scalar("SELECT max(sequence) FROM units.events")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    let mut streams = Vec::with_capacity(STREAMS);
    for index in 0..STREAMS {
        let viewer = bearer(
            &format!("viewer-{}", index % CALLERS),
            None,
            &[Role::Viewer],
        );
        streams.push(
            client
                .clone()
                .watch_events(with_token(
                    pb::WatchEventsRequest {
                        after_sequence: last,
                    },
                    &viewer,
                ))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    // Drain every stream in the background, as subscribers would.
    let drained: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move { while let Ok(Some(_)) = stream.message().await {} })
        })
        .collect();
    let with_streams = time("GetUnit with 60 streams open", 200, get_unit).await;
    let write_with_streams = time(
        "UpdateUnit with 60 streams woken each time",
        100,
        &mut rename,
    )
    .await;
    println!(
        "pool: {} connections; {STREAMS} streams from {CALLERS} callers",
        database.settings().max_connections
    );
    for timing in [baseline, with_streams, write_baseline, write_with_streams] {
        timing.print();
    }
    for task in drained {
        task.abort();
    }
}
