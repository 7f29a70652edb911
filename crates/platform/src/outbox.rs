//! Reading the transactional outbox: a resumable stream of events by sequence.

use std::time::Duration;

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool};

use crate::error::{FieldViolation, PlatformError};

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub sequence: i64,
    pub event_type: String,
    pub resource: String,
    pub payload: serde_json::Value,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
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
        "SELECT sequence, event_type, resource, payload, occurred_at FROM {schema}.events
         WHERE sequence > $1 ORDER BY sequence LIMIT $2"
    )))
    .bind(after_sequence)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Streams every event after `after_sequence`, then waits for new ones; never ends on its own.
pub fn watch(
    pool: PgPool,
    schema: &'static str,
    after_sequence: i64,
) -> impl Stream<Item = Result<StoredEvent, PlatformError>> + Send + 'static {
    async_stream::try_stream! {
        let mut cursor = after_sequence;
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(&channel(schema)).await {
                Ok(()) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "outbox listen failed; polling instead");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "outbox listener unavailable; polling instead");
                None
            }
        };
        loop {
            let batch = read_after(&pool, schema, cursor, BATCH).await?;
            let full = batch.len() as i64 == BATCH;
            for event in batch {
                cursor = event.sequence;
                yield event;
            }
            if full {
                continue;
            }
            match listener.as_mut() {
                Some(listener) => {
                    // Either a notification or the poll interval; both lead to a re-read.
                    let _ = tokio::time::timeout(POLL_INTERVAL, listener.try_recv()).await;
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
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
    pool: PgPool,
    schema: &'static str,
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
    let stream = watch(pool, schema, after_sequence).filter_map(move |event| {
        let convert = Arc::clone(&convert);
        async move {
            match event.map_err(E::from).and_then(|event| convert(event)) {
                Ok(Some(response)) => Some(Ok(response)),
                Ok(None) => None,
                Err(error) => Some(Err(error.into())),
            }
        }
    });
    Ok(Box::pin(stream))
}
