//! The outbox relay's throughput against raw JetStream publishing of the same messages (async
//! publishes, acknowledgements awaited in windows, as `nats bench js pub --async` does), in one
//! run on the same NATS server; the outbox's own insert rate is printed beside them. Run:
//! `cargo bench -p fazhi-units --bench relay` (needs the test Postgres and NATS, docs/testing.md).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use fazhi_platform::auth::Role;
use fazhi_platform::outbox::StoredEvent;
use fazhi_platform::relay;
use fazhi_platform::server::GrpcServer;
use fazhi_platform::settings::EventsSettings;
use fazhi_testkit::{TestDatabase, TestServer, bearer};

const EVENTS: i64 = 20_000;
/// Publishes in flight before their acknowledgements are awaited, as many as the relay sends ahead.
const WINDOW: usize = relay::PUBLISH_WINDOW;

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
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;

    // A real `unit.created` event, written EVENTS times more in one statement.
    let template: StoredEvent = sqlx::query_as(
        "SELECT sequence, event_type, resource, payload, occurred_at, trace_context
         FROM units.events WHERE event_type = 'unit.created' LIMIT 1",
    )
    .fetch_one(&database.pool)
    .await
    .unwrap();
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO units.events (event_type, resource, payload)
         SELECT event_type, resource, payload FROM units.events, generate_series(1, $2)
         WHERE sequence = $1",
    )
    .bind(template.sequence)
    .bind(EVENTS)
    .execute(&database.pool)
    .await
    .unwrap();
    let inserted = started.elapsed();
    let total: i64 = sqlx::query_scalar("SELECT max(sequence) FROM units.events")
        .fetch_one(&database.pool)
        .await
        .unwrap();

    let url =
        std::env::var("FAZHI_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let context = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
    let prefix = format!("bench{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let body = (fazhi_units::RELAY.encode)(template.clone())
        .unwrap()
        .unwrap();

    // What the relay spends turning stored events into message bodies, alone.
    let started = Instant::now();
    for _ in 0..total {
        std::hint::black_box((fazhi_units::RELAY.encode)(template.clone()).unwrap());
    }
    let encoding = started.elapsed();

    let raw_before = raw_publish(&context, &prefix, "RAW1", &body, total).await;
    let started = Instant::now();
    let relay_task = tokio::spawn(relay::run(
        EventsSettings {
            nats_url: Some(url.clone().into()),
            subject_prefix: prefix.clone(),
            ..Default::default()
        },
        database.pool.clone(),
        fazhi_units::RELAY,
    ));
    while relay::position(&database.pool, "units").await.unwrap() < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let relayed = started.elapsed();
    relay_task.abort();
    let raw_after = raw_publish(&context, &prefix, "RAW2", &body, total).await;

    let rate = |count: i64, elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    let raw = rate(total, raw_before).max(rate(total, raw_after));
    println!(
        "relay: {total} events from the outbox to JetStream in {:.2} s = {:.0} events/s",
        relayed.as_secs_f64(),
        rate(total, relayed)
    );
    println!(
        "raw JetStream publishing of the same {total} messages ({} bytes each, windows of {WINDOW}): {:.0} and {:.0} /s",
        body.len(),
        rate(total, raw_before),
        rate(total, raw_after)
    );
    println!(
        "relay / raw (the better raw run): {:.2}x",
        rate(total, relayed) / raw
    );
    println!(
        "of which encoding the bodies alone (JSON payload → WatchEvents protobuf): {:.2} s = {:.0} /s",
        encoding.as_secs_f64(),
        rate(total, encoding)
    );
    println!(
        "outbox inserts (one INSERT … SELECT of {EVENTS}): {:.0} /s",
        rate(EVENTS, inserted)
    );
    for name in [
        fazhi_units::RELAY.stream_name(&prefix),
        format!("{prefix}_RAW1"),
        format!("{prefix}_RAW2"),
    ] {
        let _ = context.delete_stream(name.to_ascii_uppercase()).await;
    }
}

/// Publishes `count` messages with the relay's headers into a stream of their own.
async fn raw_publish(
    context: &jetstream::Context,
    prefix: &str,
    name: &str,
    body: &[u8],
    count: i64,
) -> Duration {
    let stream = format!("{prefix}_{name}").to_ascii_uppercase();
    let subject = format!("{prefix}.{}", name.to_ascii_lowercase());
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: stream,
            subjects: vec![format!("{subject}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let started = Instant::now();
    let mut pending = Vec::with_capacity(WINDOW);
    for sequence in 1..=count {
        let message = PublishMessage::build()
            .message_id(format!("units:bench:{sequence}"))
            .header(relay::SEQUENCE_HEADER, sequence.to_string())
            .header(relay::EVENT_TYPE_HEADER, "unit.created")
            .header(relay::RESOURCE_HEADER, "units/ng-sfj")
            .header(relay::MESSAGE_TYPE_HEADER, "fazhi.units.v1.UnitEvent")
            .payload(body.to_vec().into());
        pending.push(
            context
                .send_publish(format!("{subject}.unit.created"), message)
                .await
                .unwrap(),
        );
        if pending.len() == WINDOW {
            for ack in pending.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in pending {
        ack.await.unwrap();
    }
    started.elapsed()
}
