//! The outbox relay: every event of a service's outbox published to NATS JetStream, for the
//! systems of the wider platform that should not hold a `WatchEvents` stream to each service.
//!
//! It runs inside the service process, as one more background task: it needs only the service's
//! pool and its event encoding, and it deploys, scales and upgrades with the service. Replicas
//! take turns through a Postgres advisory lock, so one relays at a time.
//!
//! At least once, in sequence order, and no duplicates in the stream whatever the broker's
//! dedup window: each message says which stream sequence it must follow
//! (`Nats-Expected-Last-Sequence`), so the stream only ever grows by the next event; after any
//! failure the relay reads the stream's last message to learn how far it got, and goes on from
//! there. `Nats-Msg-Id` (schema, outbox, sequence) lets the broker drop what another writer sends
//! twice. The position is stored in `{schema}.relay_positions`, advanced only after the broker
//! acknowledged; it is where the relay starts when the stream's last message is gone or came
//! from another outbox (a new database behind an old stream numbers its events from 1 again, so
//! each outbox has an id of its own, sent with every message).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures::StreamExt;
use secrecy::ExposeSecret;
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};

use crate::outbox::{OutboxHub, StoredEvent};
use crate::settings::EventsSettings;

/// The event's position in its service's outbox.
pub const SEQUENCE_HEADER: &str = "Fazhi-Sequence";
/// Which outbox (database) the sequence counts in.
pub const OUTBOX_HEADER: &str = "Fazhi-Outbox";
/// `unit.created`, as in the subject's last tokens.
pub const EVENT_TYPE_HEADER: &str = "Fazhi-Event-Type";
/// The resource the event is about (`units/u1`).
pub const RESOURCE_HEADER: &str = "Fazhi-Resource";
/// The protobuf message the body holds (`fazhi.units.v1.UnitEvent`).
pub const MESSAGE_TYPE_HEADER: &str = "Fazhi-Message-Type";
/// Where the position is kept in `{schema}.relay_positions`.
const RELAY_NAME: &str = "nats";
/// Publishes sent ahead of their acknowledgements.
pub const PUBLISH_WINDOW: usize = 256;

/// Turns a stored event into the body of its message: the service's `WatchEvents` message,
/// protobuf-encoded. `None` for an event the service does not publish.
pub type EncodeEvent = fn(StoredEvent) -> Result<Option<Vec<u8>>, String>;

/// What one service relays.
#[derive(Clone, Copy)]
pub struct RelaySpec {
    /// The service's schema, which is also its context's subject token (`units`).
    pub schema: &'static str,
    /// The full name of the protobuf message each body holds.
    pub message_type: &'static str,
    pub encode: EncodeEvent,
}

impl RelaySpec {
    /// `<prefix>.<context>.<event_type>`.
    pub fn subject(&self, prefix: &str, event_type: &str) -> String {
        format!("{prefix}.{}.{event_type}", self.schema)
    }

    /// `FAZHI_UNITS`: stream names may not hold dots.
    pub fn stream_name(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.schema).to_ascii_uppercase()
    }
}

/// The relay as a background task when `events.nats_url` is set; `None` otherwise.
pub fn background(
    settings: &EventsSettings,
    pool: &PgPool,
    spec: RelaySpec,
) -> Option<crate::service::BackgroundTask> {
    settings.nats_url.as_ref()?;
    Some(Box::pin(run(settings.clone(), pool.clone(), spec)))
}

/// Relays for as long as the process lives, starting over after each failure (broker or
/// database away, another replica holding the turn), backing off up to 30 s.
pub async fn run(settings: EventsSettings, pool: PgPool, spec: RelaySpec) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match relay(&settings, &pool, spec).await {
            Ok(Stopped::NotOurTurn) => backoff = Duration::from_secs(5),
            Err(error) => {
                tracing::warn!(error = %error, schema = spec.schema, "event relay interrupted; starting over");
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

enum Stopped {
    /// Another replica relays this schema.
    NotOurTurn,
}

/// Why a relay round ended.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] crate::error::PlatformError),
    #[error("broker: {0}")]
    Broker(String),
    #[error("event {sequence} cannot be encoded: {reason}")]
    Encode { sequence: i64, reason: String },
}

fn broker(error: impl std::fmt::Display) -> RelayError {
    RelayError::Broker(error.to_string())
}

/// One turn: take the lock, connect, find where the stream stands, then publish as events
/// commit until something fails.
async fn relay(
    settings: &EventsSettings,
    pool: &PgPool,
    spec: RelaySpec,
) -> Result<Stopped, RelayError> {
    // A connection of its own, outside the request pool: the lock lives as long as it does.
    let mut turn = pool.connect_options().connect().await?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(format!("{}.relay", spec.schema))
        .fetch_one(&mut turn)
        .await?;
    if !ours {
        return Ok(Stopped::NotOurTurn);
    }
    let url = settings
        .nats_url
        .as_ref()
        .map(|url| url.expose_secret().to_owned())
        .unwrap_or_default();
    let client = async_nats::connect(url.as_str()).await.map_err(broker)?;
    let context = jetstream::new(client);
    let prefix = settings.subject_prefix.as_str();
    let mut stream = context
        .get_or_create_stream(stream::Config {
            name: spec.stream_name(prefix),
            description: Some(format!("Fazhi {} events", spec.schema)),
            subjects: vec![format!("{prefix}.{}.>", spec.schema)],
            max_age: Duration::from_secs(settings.stream_max_age_days * 24 * 3600),
            num_replicas: settings.stream_replicas,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(10 * 60),
            ..Default::default()
        })
        .await
        .map_err(broker)?;
    let outbox = Outbox::load(pool, spec.schema).await?;
    let (stream_sequence, published) = reconcile(&mut stream, pool, spec, &outbox).await?;
    tracing::info!(
        schema = spec.schema,
        stream = spec.stream_name(prefix),
        after = published,
        "relaying events"
    );

    // Publishing runs ahead while acknowledgements come back in order: each message expects
    // the one sent before it, so the broker stores them in order or not at all.
    let (in_flight, acknowledgements) = tokio::sync::mpsc::channel(PUBLISH_WINDOW);
    let publishing = async {
        // Its own hub: wakes on each commit, polls when a notification is lost.
        let hub = OutboxHub::start(pool.clone(), spec.schema, 1);
        let mut events = Box::pin(hub.watch("fazhi-relay", published)?);
        let mut expected = stream_sequence;
        while let Some(event) = events.next().await {
            let event = event?;
            let sequence = event.sequence;
            // An event the service does not publish has nothing to wait for.
            let acknowledgement = match message(spec, &outbox.id, event)? {
                None => None,
                Some(message) => {
                    let subject = spec.subject(prefix, &message.event_type);
                    let publish = message.publish.expected_last_sequence(expected);
                    expected += 1;
                    Some(
                        context
                            .send_publish(subject, publish)
                            .await
                            .map_err(broker)?,
                    )
                }
            };
            if in_flight.send((sequence, acknowledgement)).await.is_err() {
                break;
            }
        }
        Err::<(), _>(RelayError::Broker("the outbox stream ended".to_owned()))
    };
    let confirming = confirm(pool, spec.schema, published, acknowledgements);
    tokio::try_join!(publishing, confirming)?;
    Err(RelayError::Broker("the relay stopped".to_owned()))
}

/// Awaits each acknowledgement in order and stores the position whenever none is waiting (once
/// per event when they come slowly, once per burst when they come fast). Ends at the first
/// failure, having stored what was acknowledged before it.
async fn confirm(
    pool: &PgPool,
    schema: &str,
    mut published: i64,
    mut acknowledgements: tokio::sync::mpsc::Receiver<(i64, Option<PublishAckFuture>)>,
) -> Result<(), RelayError> {
    while let Some(first) = acknowledgements.recv().await {
        let mut next = Some(first);
        while let Some((sequence, acknowledgement)) = next {
            if let Some(acknowledgement) = acknowledgement
                && let Err(error) = acknowledgement.await
            {
                store_position(pool, schema, published).await?;
                return Err(broker(error));
            }
            published = sequence;
            next = acknowledgements.try_recv().ok();
        }
        store_position(pool, schema, published).await?;
    }
    Ok(())
}

/// Where the stream stands (its last stream sequence) and the last event of ours it holds: the
/// sequence in its last message when that came from this outbox, else the stored position.
async fn reconcile(
    stream: &mut jetstream::stream::Stream,
    pool: &PgPool,
    spec: RelaySpec,
    outbox: &Outbox,
) -> Result<(u64, i64), RelayError> {
    let last = stream.info().await.map_err(broker)?.state.last_sequence;
    if last == 0 {
        return Ok((0, outbox.position));
    }
    let in_stream = match stream.get_raw_message(last).await {
        Ok(message) => {
            let header = |name| message.headers.get(name).map(|value| value.as_str());
            match (header(OUTBOX_HEADER), header(SEQUENCE_HEADER)) {
                (Some(id), Some(sequence)) if id == outbox.id => sequence.parse::<i64>().ok(),
                _ => None,
            }
        }
        // Expired or removed: the stored position is all there is.
        Err(error) => {
            tracing::info!(%error, schema = spec.schema, "the stream's last message is gone; starting from the stored position");
            None
        }
    };
    match in_stream {
        Some(sequence) if sequence > outbox.position => {
            // Published and acknowledged before the last relay could store it.
            store_position(pool, spec.schema, sequence).await?;
            Ok((last, sequence))
        }
        _ => Ok((last, outbox.position)),
    }
}

/// This outbox's id and the stored position.
struct Outbox {
    id: String,
    position: i64,
}

impl Outbox {
    async fn load(pool: &PgPool, schema: &str) -> Result<Self, sqlx::Error> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {schema}.relay_positions (relay, sequence) VALUES ($1, 0)
             ON CONFLICT (relay) DO NOTHING"
        )))
        .bind(RELAY_NAME)
        .execute(pool)
        .await?;
        let (id, position): (uuid::Uuid, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT outbox, sequence FROM {schema}.relay_positions WHERE relay = $1"
        )))
        .bind(RELAY_NAME)
        .fetch_one(pool)
        .await?;
        Ok(Self {
            id: id.to_string(),
            position,
        })
    }
}

struct Message {
    event_type: String,
    publish: PublishMessage,
}

fn message(
    spec: RelaySpec,
    outbox: &str,
    event: StoredEvent,
) -> Result<Option<Message>, RelayError> {
    let sequence = event.sequence;
    let event_type = event.event_type.clone();
    let mut headers = HeaderMap::new();
    headers.insert(SEQUENCE_HEADER, sequence.to_string());
    headers.insert(OUTBOX_HEADER, outbox);
    headers.insert(EVENT_TYPE_HEADER, event_type.as_str());
    headers.insert(RESOURCE_HEADER, event.resource.as_str());
    headers.insert(MESSAGE_TYPE_HEADER, spec.message_type);
    headers.insert("Content-Type", "application/protobuf");
    for (field, value) in event.trace_context.iter().flat_map(|trace| trace.0.iter()) {
        headers.insert(field.as_str(), value.as_str());
    }
    let Some(body) =
        (spec.encode)(event).map_err(|reason| RelayError::Encode { sequence, reason })?
    else {
        return Ok(None);
    };
    Ok(Some(Message {
        event_type,
        publish: PublishMessage::build()
            .headers(headers)
            .message_id(format!("{}:{outbox}:{sequence}", spec.schema))
            .payload(body.into()),
    }))
}

/// The last event the broker acknowledged, as stored; 0 before the first.
pub async fn position(pool: &PgPool, schema: &str) -> Result<i64, sqlx::Error> {
    let sequence: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT sequence FROM {schema}.relay_positions WHERE relay = $1"
    )))
    .bind(RELAY_NAME)
    .fetch_optional(pool)
    .await?;
    Ok(sequence.unwrap_or(0))
}

/// Never moves back: a late writer from a lost turn cannot undo a newer position.
async fn store_position(pool: &PgPool, schema: &str, sequence: i64) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.relay_positions (relay, sequence) VALUES ($1, $2)
         ON CONFLICT (relay) DO UPDATE
         SET sequence = GREATEST({schema}.relay_positions.sequence, EXCLUDED.sequence),
             relayed_at = now()"
    )))
    .bind(RELAY_NAME)
    .bind(sequence)
    .execute(pool)
    .await?;
    Ok(())
}

/// A service's `WatchEvents` conversion as an [`EncodeEvent`].
pub fn encoded<M: prost::Message, E: std::fmt::Display>(
    event: Result<Option<M>, E>,
) -> Result<Option<Vec<u8>>, String> {
    event
        .map(|message| message.map(|message| message.encode_to_vec()))
        .map_err(|error| error.to_string())
}
