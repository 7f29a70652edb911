//! The outbox relay against the real NATS server (JetStream; `FAZHI_TEST_NATS_URL`, by default
//! 127.0.0.1:4222): every committed event arrives once and in order however often the relay is
//! killed, and a durable consumer resumes where it stopped. Each test has its own subject prefix,
//! so its stream is its own.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream::Stream};
use fazhi_platform::relay;
use fazhi_platform::settings::EventsSettings;
use fazhi_proto::units::v1 as pb;
use fazhi_testkit::with_token;
use futures::StreamExt;
use prost::Message;

use crate::helpers::{App, department};

struct Broker {
    context: jetstream::Context,
    settings: EventsSettings,
}

impl Broker {
    async fn new() -> Self {
        let url = std::env::var("FAZHI_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
        let client = async_nats::connect(url.as_str())
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach the test NATS server at {url}: {error}; run scripts/test")
            });
        let prefix = format!("t{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        Self {
            context: jetstream::new(client),
            settings: EventsSettings {
                nats_url: Some(url.into()),
                subject_prefix: prefix,
                ..Default::default()
            },
        }
    }

    fn stream_name(&self) -> String {
        fazhi_units::RELAY.stream_name(&self.settings.subject_prefix)
    }

    async fn stream(&self) -> Option<Stream> {
        self.context.get_stream(self.stream_name()).await.ok()
    }

    async fn last_sequence(&self) -> u64 {
        match self.stream().await {
            Some(mut stream) => stream.info().await.unwrap().state.last_sequence,
            None => 0,
        }
    }

    /// Every message the stream holds, in stream order.
    async fn messages(&self) -> Vec<jetstream::message::StreamMessage> {
        let Some(stream) = self.stream().await else {
            return Vec::new();
        };
        let last = self.last_sequence().await;
        let mut messages = Vec::new();
        for sequence in 1..=last {
            messages.push(stream.get_raw_message(sequence).await.unwrap());
        }
        messages
    }

    fn relay(&self, app: &App) -> tokio::task::JoinHandle<()> {
        tokio::spawn(relay::run(
            self.settings.clone(),
            app.database.pool.clone(),
            fazhi_units::RELAY,
        ))
    }

    /// Waits until the stream holds the outbox's last event.
    async fn caught_up(&self, app: &App) {
        let last = outbox(app).await.last().map_or(0, |event| event.0);
        let mut waited = Duration::ZERO;
        loop {
            let relayed = relay::position(&app.database.pool, "units").await.unwrap();
            if relayed >= last {
                return;
            }
            assert!(
                waited < Duration::from_secs(60),
                "the relay reached {relayed} of {last} in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
    }

    async fn delete(self) {
        let _ = self.context.delete_stream(self.stream_name()).await;
    }
}

/// The outbox: (sequence, event type, resource).
async fn outbox(app: &App) -> Vec<(i64, String, String)> {
    sqlx::query_as("SELECT sequence, event_type, resource FROM units.events ORDER BY sequence")
        .fetch_all(&app.database.pool)
        .await
        .unwrap()
}

async fn outbox_id(app: &App) -> String {
    let id: uuid::Uuid = sqlx::query_scalar("SELECT outbox FROM units.relay_positions")
        .fetch_one(&app.database.pool)
        .await
        .unwrap();
    id.to_string()
}

fn header<'a>(message: &'a jetstream::message::StreamMessage, name: &str) -> &'a str {
    message.headers.get(name).map_or("", |value| value.as_str())
}

/// Creates `count` units under 宁国市, `writers` at a time.
async fn create_units(app: &App, prefix: &str, writers: usize, count: usize) {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let mut client = app.client.clone();
        let admin = app.admin.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for index in (writer..count).step_by(writers) {
                let id = format!("{prefix}-{index}");
                client
                    .create_unit(with_token(
                        department(&id, &format!("宁国市测试局{prefix}{index}"), "ningguo"),
                        &admin,
                    ))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn every_committed_event_arrives_once_and_in_order_though_the_relay_is_killed() {
    let app = App::with_demo_registry().await;
    let broker = Broker::new().await;
    // Made here with a dedup window of one second; the relay leaves an existing stream as it is.
    broker
        .context
        .create_stream(jetstream::stream::Config {
            name: broker.stream_name(),
            subjects: vec![format!("{}.units.>", broker.settings.subject_prefix)],
            duplicate_window: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .unwrap();

    // Writes go on while the relay is killed three times mid-flight; once, the position is
    // also set back, as when the broker acknowledged but the relay died before storing it.
    let writes = create_units(&app, "load", 4, 400);
    let kills = async {
        for round in 0..3 {
            // A backlog first, so that the kill lands inside a batch in flight.
            let relayed = broker.last_sequence().await as usize;
            while outbox(&app).await.len() < relayed + 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let before = broker.last_sequence().await;
            let relay = broker.relay(&app);
            while broker.last_sequence().await == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            relay.abort();
            let _ = relay.await;
            if round == 1 {
                sqlx::query(
                    "UPDATE units.relay_positions SET sequence = greatest(sequence - 50, 0)",
                )
                .execute(&app.database.pool)
                .await
                .unwrap();
                // Past the broker's dedup window: only the relay's own reckoning stops a resend.
                tokio::time::sleep(Duration::from_millis(1_100)).await;
            }
        }
    };
    tokio::join!(writes, kills);

    // An event written under a traced call keeps its trace context.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sqlx::query(
        "INSERT INTO units.events (event_type, resource, payload, trace_context)
         VALUES ('unit_group.changed', 'unitGroups/traced', '{\"deleted\": false}', $1)",
    )
    .bind(serde_json::json!({ "traceparent": traceparent }))
    .execute(&app.database.pool)
    .await
    .unwrap();

    // Two replicas relay at once: they take turns.
    let replicas = [broker.relay(&app), broker.relay(&app)];
    broker.caught_up(&app).await;
    for replica in replicas {
        replica.abort();
    }

    let outbox = outbox(&app).await;
    let messages = broker.messages().await;
    let relayed: Vec<i64> = messages
        .iter()
        .map(|message| header(message, relay::SEQUENCE_HEADER).parse().unwrap())
        .collect();
    let expected: Vec<i64> = outbox.iter().map(|event| event.0).collect();
    assert!(expected.len() > 400, "the demo registry and the load");
    assert_eq!(relayed, expected, "every event once, in sequence order");

    let prefix = &broker.settings.subject_prefix;
    for (message, (sequence, event_type, resource)) in messages.iter().zip(&outbox) {
        assert_eq!(
            message.subject.as_str(),
            format!("{prefix}.units.{event_type}")
        );
        let outbox = header(message, relay::OUTBOX_HEADER);
        assert_eq!(outbox, outbox_id(&app).await);
        assert_eq!(
            header(message, "Nats-Msg-Id"),
            format!("units:{outbox}:{sequence}")
        );
        assert_eq!(header(message, relay::RESOURCE_HEADER), resource);
        assert_eq!(header(message, relay::EVENT_TYPE_HEADER), event_type);
        assert_eq!(
            header(message, relay::MESSAGE_TYPE_HEADER),
            "fazhi.units.v1.UnitEvent"
        );
        let event = pb::UnitEvent::decode(message.payload.clone()).unwrap();
        assert_eq!(
            event.sequence, *sequence,
            "the body is the WatchEvents message"
        );
    }
    let traced = messages.last().unwrap();
    assert_eq!(header(traced, relay::RESOURCE_HEADER), "unitGroups/traced");
    assert_eq!(header(traced, "traceparent"), traceparent);
    assert_eq!(
        relay::position(&app.database.pool, "units").await.unwrap(),
        *expected.last().unwrap(),
        "the stored position is the last event"
    );
    broker.delete().await;
}

#[tokio::test]
async fn a_durable_consumer_resumes_where_it_stopped() {
    let app = App::with_demo_registry().await;
    let broker = Broker::new().await;
    let relay_task = broker.relay(&app);
    broker.caught_up(&app).await;
    let stream = broker.stream().await.unwrap();
    let durable = pull::Config {
        durable_name: Some("provincial-platform".to_owned()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    };

    // A consumer in another system reads five events, acknowledges them, and goes away.
    let consumer = stream
        .get_or_create_consumer("provincial-platform", durable.clone())
        .await
        .unwrap();
    let mut batch = consumer.fetch().max_messages(5).messages().await.unwrap();
    let mut seen = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        seen.push(header_of(&message));
        message.ack().await.unwrap();
    }
    let sequences: Vec<i64> = outbox(&app).await.iter().map(|event| event.0).collect();
    assert_eq!(seen, sequences[..5]);
    drop(consumer);

    // Meanwhile the registry changes; the consumer comes back and goes on from the sixth.
    create_units(&app, "later", 1, 3).await;
    broker.caught_up(&app).await;
    let consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer("provincial-platform").await.unwrap();
    let sequences: Vec<i64> = outbox(&app).await.iter().map(|event| event.0).collect();
    let mut rest = consumer
        .fetch()
        .max_messages(sequences.len())
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut resumed = Vec::new();
    while let Some(message) = rest.next().await {
        let message = message.unwrap();
        resumed.push(header_of(&message));
        message.ack().await.unwrap();
    }
    assert_eq!(
        resumed,
        sequences[5..],
        "from where it stopped to the newest, in order"
    );
    relay_task.abort();
    broker.delete().await;
}

fn header_of(message: &jetstream::Message) -> i64 {
    message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(relay::SEQUENCE_HEADER))
        .map_or(0, |value| value.as_str().parse().unwrap())
}

#[tokio::test]
async fn a_new_database_behind_an_old_stream_has_all_its_events_relayed() {
    // As when `fazhi dev` starts again on a fresh database: the stream still holds the last
    // run's events, numbered from 1 like the new ones.
    let broker = Broker::new().await;
    let before = App::with_demo_registry().await;
    let relay_task = broker.relay(&before);
    broker.caught_up(&before).await;
    relay_task.abort();
    let earlier = broker.messages().await.len();

    let app = App::with_demo_registry().await;
    create_units(&app, "new", 1, 5).await;
    let relay_task = broker.relay(&app);
    broker.caught_up(&app).await;
    relay_task.abort();

    let outbox = outbox(&app).await;
    let messages = broker.messages().await;
    let relayed: Vec<i64> = messages[earlier..]
        .iter()
        .map(|message| header(message, relay::SEQUENCE_HEADER).parse().unwrap())
        .collect();
    let expected: Vec<i64> = outbox.iter().map(|event| event.0).collect();
    assert_eq!(
        relayed, expected,
        "every event of the new outbox, after the old ones"
    );
    assert_ne!(
        header(&messages[0], relay::OUTBOX_HEADER),
        header(&messages[earlier], relay::OUTBOX_HEADER)
    );
    broker.delete().await;
}
