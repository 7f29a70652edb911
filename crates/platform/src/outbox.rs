//! Reading the transactional outbox: a resumable stream of events by sequence, woken by one
//! shared LISTEN connection per schema ([`OutboxHub`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool};

use crate::call::CallContext;
use crate::error::{FieldViolation, PlatformError};

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub sequence: i64,
    pub event_type: String,
    pub resource: String,
    pub payload: serde_json::Value,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The W3C trace context of the call that wrote it (`traceparent`, `tracestate`), when one
    /// was traced.
    pub trace_context: Option<sqlx::types::Json<HashMap<String, String>>>,
}

/// The NOTIFY channel of a schema's outbox.
pub fn channel(schema: &str) -> String {
    format!("{schema}_events")
}

const BATCH: i64 = 500;
/// Polls this often when no notification arrives (a lost listener connection, a missed NOTIFY).
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Events after `after_sequence`, oldest first.
pub async fn read_after(
    pool: &PgPool,
    schema: &str,
    after_sequence: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, PlatformError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT sequence, event_type, resource, payload, occurred_at, trace_context
         FROM {schema}.events
         WHERE sequence > $1 ORDER BY sequence LIMIT $2"
    )))
    .bind(after_sequence)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One LISTEN connection per process and schema, on a connection of its own outside the request
/// pool, fanned out to every open stream; a stream borrows a pooled connection only while it
/// reads a batch. Open streams are capped per caller, so no caller can hold the service.
pub struct OutboxHub {
    pool: PgPool,
    schema: &'static str,
    notified: tokio::sync::watch::Receiver<u64>,
    open_streams: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    max_streams_per_caller: usize,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for OutboxHub {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl OutboxHub {
    /// Starts listening for `schema`'s outbox (in the background, reconnecting when the
    /// connection is lost). Needs a Tokio runtime.
    pub fn start(pool: PgPool, schema: &'static str, max_streams_per_caller: usize) -> Arc<Self> {
        let (sender, notified) = tokio::sync::watch::channel(0);
        let options = (*pool.connect_options()).clone();
        let listener = tokio::spawn(listen(options, channel(schema), sender));
        Arc::new(Self {
            pool,
            schema,
            notified,
            open_streams: Arc::default(),
            max_streams_per_caller,
            listener,
        })
    }

    /// Every event after `after_sequence`, then new ones as they commit; never ends on its own.
    /// Refused with `RESOURCE_EXHAUSTED` when `subject` has its streams' worth open already.
    pub fn watch(
        &self,
        subject: &str,
        after_sequence: i64,
    ) -> Result<
        impl Stream<Item = Result<StoredEvent, PlatformError>> + Send + 'static,
        PlatformError,
    > {
        let slot = StreamSlot::take(&self.open_streams, subject, self.max_streams_per_caller)?;
        let pool = self.pool.clone();
        let schema = self.schema;
        let mut notified = self.notified.clone();
        Ok(async_stream::try_stream! {
            let _slot = slot;
            let mut cursor = after_sequence;
            loop {
                notified.mark_unchanged();
                let batch = read_after(&pool, schema, cursor, BATCH).await?;
                let full = batch.len() as i64 == BATCH;
                for event in batch {
                    cursor = event.sequence;
                    yield event;
                }
                if full {
                    continue;
                }
                // A notification or the poll interval (a lost listener, a missed NOTIFY); both
                // lead to a re-read.
                let _ = tokio::time::timeout(POLL_INTERVAL, notified.changed()).await;
            }
        })
    }
}

/// Keeps one LISTEN connection up and counts notifications into `sender`.
async fn listen(
    options: sqlx::postgres::PgConnectOptions,
    channel: String,
    sender: tokio::sync::watch::Sender<u64>,
) {
    // A pool of one of its own: the listener never takes a request connection.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(200);
                // Streams re-read after a (re)connect, in case a notification fell in the gap.
                sender.send_modify(|count| *count += 1);
                // A notification, or `None` when the listener lost its connection and made a
                // new one: either way the streams re-read.
                loop {
                    match listener.try_recv().await {
                        Ok(_) => sender.send_modify(|count| *count += 1),
                        Err(error) => {
                            tracing::warn!(%error, channel, "outbox listener failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, channel, "outbox listener unavailable; streams poll meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One open stream of a caller; dropping it (the stream ends or the client goes) frees it.
struct StreamSlot {
    open_streams: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl StreamSlot {
    fn take(
        open_streams: &Arc<std::sync::Mutex<HashMap<String, usize>>>,
        subject: &str,
        limit: usize,
    ) -> Result<Self, PlatformError> {
        let mut open = open_streams
            .lock()
            .map_err(|_| PlatformError::Internal("stream count poisoned".to_owned()))?;
        let count = open.entry(subject.to_owned()).or_insert(0);
        if *count >= limit {
            return Err(PlatformError::TooManyStreams(limit));
        }
        *count += 1;
        Ok(Self {
            open_streams: Arc::clone(open_streams),
            subject: subject.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open_streams.lock()
            && let Some(count) = open.get_mut(&self.subject)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

/// What a `WatchEvents` RPC answers with.
pub type ResponseStream<R> = Pin<Box<dyn Stream<Item = Result<R, tonic::Status>> + Send>>;

/// The stream of a service's `WatchEvents` RPC: the outbox after `after_sequence`, each event
/// turned into the service's response by `convert` (`None` skips types it does not publish),
/// errors as statuses. A negative cursor is refused.
pub fn watch_responses<R, E>(
    hub: &OutboxHub,
    context: &CallContext,
    after_sequence: i64,
    convert: impl Fn(StoredEvent) -> Result<Option<R>, E> + Send + Sync + 'static,
) -> Result<ResponseStream<R>, PlatformError>
where
    R: Send + 'static,
    E: From<PlatformError> + Into<tonic::Status>,
{
    if after_sequence < 0 {
        return Err(PlatformError::InvalidArgument(vec![FieldViolation::new(
            "after_sequence",
            "NEGATIVE_SEQUENCE",
            "after_sequence must not be negative",
            "after_sequence 不能为负数",
        )]));
    }
    let convert = Arc::new(convert);
    let events = hub
        .watch(&context.caller.subject, after_sequence)?
        .filter_map(move |event| {
            let convert = Arc::clone(&convert);
            async move {
                match event.map_err(E::from).and_then(|event| convert(event)) {
                    Ok(Some(response)) => Some(Ok(response)),
                    Ok(None) => None,
                    Err(error) => Some(Err(error.into())),
                }
            }
        });
    let stopping = context.stopping.clone();
    // Ends when the server stops, retryably: the client resumes from its cursor elsewhere.
    let stream = async_stream::stream! {
        let mut events = std::pin::pin!(events);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) => yield event,
                    None => break,
                },
                () = stopping.wait() => {
                    yield Err(E::from(PlatformError::ShuttingDown).into());
                    break;
                }
            }
        }
    };
    Ok(Box::pin(stream))
}
