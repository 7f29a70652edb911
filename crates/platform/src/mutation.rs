//! Every mutation in one transaction: claim the `request_id`, change the data, write the audit
//! record and the outbox events, store the response for replays, commit. [`run`] is the only
//! way in, so the claim always comes before the checks.
//!
//! The tables (`audit_log`, `idempotency`, `events`, `consumer_cursors`) live in each service's
//! own schema, created by the platform's migrations (`crate::db::migrate`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};

use crate::audit::{self, AuditKey, AuditRow};
use crate::call::CallContext;
use crate::error::{DescribeError, PlatformError};

/// A domain event to publish with the change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// e.g. `unit.created`
    pub event_type: &'static str,
    /// Resource name the event is about.
    pub resource: String,
    pub payload: serde_json::Value,
}

/// What the audit record says changed.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// A resource's change from `before` to `after` (`None`: did not exist / no longer does).
    pub fn of<B: Serialize, A: Serialize>(
        resource: impl Into<String>,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<Self, PlatformError> {
        Ok(Self {
            resource: resource.into(),
            before: before.map(to_json).transpose()?,
            after: after.map(to_json).transpose()?,
        })
    }

    /// The call's target when nothing changed (or a refusal): audited all the same.
    fn none(resource: &str) -> Self {
        Self {
            resource: resource.to_owned(),
            before: None,
            after: None,
        }
    }
}

/// A value as audit or event JSON; a value that cannot be written is an error, never `null`.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, PlatformError> {
    serde_json::to_value(value)
        .map_err(|error| PlatformError::Internal(format!("not serialisable as JSON: {error}")))
}

/// What a mutation's change amounts to: the answer, and what the audit and the outbox record.
#[derive(Debug)]
pub struct Outcome<T> {
    pub response: T,
    /// One audit row each; none still leaves one row for the call's target.
    pub changes: Vec<Change>,
    pub events: Vec<NewEvent>,
}

impl<T> Outcome<T> {
    /// Takes in the audit rows and events of a part of this mutation, answering the part's
    /// response (a bulk change made of single ones).
    pub fn absorb<U>(&mut self, part: Outcome<U>) -> U {
        self.changes.extend(part.changes);
        self.events.extend(part.events);
        part.response
    }
}

/// Runs a mutation the one way it may run (AIP-155):
///
/// 1. a retry (same caller, same `request_id`) gets the stored response at once, before anything
///    else is looked at: not the resource's current state, not the caller's rights today;
/// 2. `prepare` runs outside any transaction: authorisation, calls to other services;
/// 3. a transaction opens and claims the request id (a concurrent duplicate waits on the key,
///    then replays the first answer); only then `apply` reads `FOR UPDATE`, checks etag and
///    state, and writes;
/// 4. audit rows, outbox events and the stored response are written and the transaction commits.
///
/// A refusal from `prepare` or `apply` rolls the change back and is audited against `target`
/// with its `ErrorInfo` reason, in a transaction of its own (server faults are not refusals).
pub async fn run<T, E, P>(
    pool: &PgPool,
    (schema, key): (&'static str, &AuditKey),
    context: &CallContext,
    target: &str,
    prepare: impl AsyncFnOnce() -> Result<P, E>,
    apply: impl AsyncFnOnce(&mut PgConnection, P) -> Result<Outcome<T>, E>,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    E: From<PlatformError> + DescribeError,
{
    let attempt = async {
        if let Some(stored) = stored_response(pool, schema, context).await? {
            return Ok(stored);
        }
        let prepared = prepare().await?;
        let mut transaction = crate::db::begin(pool).await.map_err(PlatformError::from)?;
        bound_by_deadline(&mut transaction, context).await?;
        if !claim(&mut transaction, schema, context).await? {
            // A duplicate committed while this call prepared (or this claim waited for it to
            // commit); its answer is the answer. Read on the same connection: the duplicates
            // waiting here must not need a second one each.
            return match stored_response(&mut *transaction, schema, context).await? {
                Some(stored) => Ok(stored),
                None => Err(PlatformError::Conflict.into()),
            };
        }
        let outcome = apply(&mut transaction, prepared).await?;
        Ok::<T, E>(finish(transaction, (schema, key), context, target, outcome).await?)
    };
    match attempt.await {
        Ok(response) => Ok(response),
        Err(error) => {
            // A refusal is audited; a fault of ours (the database away, a timeout) is logged
            // where it is turned into a status, and auditing it would only wait for it again.
            let description = error.describe();
            if !crate::telemetry::is_server_fault(description.code) {
                audit_refusal(pool, (schema, key), context, target, description.reason).await;
            }
            Err(error)
        }
    }
}

/// Has Postgres itself cancel the transaction's statements at the call's deadline: a call that
/// timed out (its caller answered `DEADLINE_EXCEEDED`, its future dropped) must not go on
/// waiting for a lock or running in its session until `lock_timeout` or `statement_timeout`.
async fn bound_by_deadline(
    connection: &mut PgConnection,
    context: &CallContext,
) -> Result<(), PlatformError> {
    let Some(remaining) = context.remaining() else {
        return Ok(());
    };
    let milliseconds = i64::try_from(remaining.as_millis().max(1)).unwrap_or(i64::MAX);
    // Lowered, never raised: the session's own limit (0: none) stays when it is the shorter.
    // A statement waiting for a lock counts towards it too.
    sqlx::query(
        "SELECT set_config('statement_timeout', least($1, nullif(
             extract(epoch FROM current_setting('statement_timeout')::interval) * 1000, 0))::bigint::text, true)",
    )
    .bind(milliseconds)
    .execute(connection)
    .await?;
    Ok(())
}

/// The stored answer of an earlier call with this caller and request id, if one committed; a
/// reuse of the id for another request is refused.
async fn stored_response<T: DeserializeOwned>(
    executor: impl sqlx::PgExecutor<'_>,
    schema: &str,
    context: &CallContext,
) -> Result<Option<T>, PlatformError> {
    let Some(request_id) = &context.request_id else {
        return Ok(None);
    };
    let stored: Option<(Vec<u8>, Option<serde_json::Value>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT fingerprint, response FROM {schema}.idempotency WHERE subject = $1 AND request_id = $2"
    )))
    .bind(&context.caller.subject)
    .bind(request_id)
    .fetch_optional(executor)
    .await?;
    let Some((fingerprint, response)) = stored else {
        return Ok(None);
    };
    if fingerprint != context.fingerprint {
        return Err(PlatformError::RequestIdReused);
    }
    response
        .map(|response| {
            serde_json::from_value(response).map_err(|error| {
                PlatformError::Internal(format!("stored response unreadable: {error}"))
            })
        })
        .transpose()
}

/// Claims the request id in the transaction: false when another call holds it.
async fn claim(
    transaction: &mut Transaction<'static, Postgres>,
    schema: &str,
    context: &CallContext,
) -> Result<bool, PlatformError> {
    let Some(request_id) = &context.request_id else {
        return Ok(true);
    };
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.idempotency (subject, request_id, method, fingerprint)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
    )))
    .bind(&context.caller.subject)
    .bind(request_id)
    .bind(&*context.method)
    .bind(&context.fingerprint)
    .execute(&mut **transaction)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Writes audit, events and the stored response, then commits.
async fn finish<T: Serialize>(
    mut transaction: Transaction<'static, Postgres>,
    (schema, key): (&str, &AuditKey),
    context: &CallContext,
    target: &str,
    outcome: Outcome<T>,
) -> Result<T, PlatformError> {
    let untouched = [Change::none(target)];
    let changes = if outcome.changes.is_empty() {
        &untouched[..]
    } else {
        &outcome.changes[..]
    };
    write_audit(&mut transaction, (schema, key), context, changes, "OK").await?;
    append_events(&mut transaction, schema, outcome.events).await?;
    if let Some(request_id) = &context.request_id {
        let stored = serde_json::to_value(&outcome.response)
            .map_err(|error| PlatformError::Internal(format!("response not storable: {error}")))?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {schema}.idempotency SET response = $3 WHERE subject = $1 AND request_id = $2"
        )))
        .bind(&context.caller.subject)
        .bind(request_id)
        .bind(stored)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(outcome.response)
}

/// Applies a change that arrives from another service's event stream, once: the consumer's
/// cursor for `stream` is locked and, when `sequence` is past it, `apply` runs and the cursor
/// advances in the same transaction, with the audit and events of the outcome. Returns `None`
/// for an event applied before. The cursor lives in `{schema}.consumer_cursors`.
pub async fn apply_once<T, E>(
    pool: &PgPool,
    (schema, key): (&'static str, &AuditKey),
    context: &CallContext,
    (stream, sequence): (&str, i64),
    apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome<T>, E>,
) -> Result<Option<T>, E>
where
    T: Serialize,
    E: From<PlatformError>,
{
    let mut transaction = crate::db::begin(pool).await.map_err(PlatformError::from)?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.consumer_cursors (stream, sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING"
    )))
    .bind(stream)
    .execute(&mut *transaction)
    .await
    .map_err(PlatformError::from)?;
    let applied: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT sequence FROM {schema}.consumer_cursors WHERE stream = $1 FOR UPDATE"
    )))
    .bind(stream)
    .fetch_one(&mut *transaction)
    .await
    .map_err(PlatformError::from)?;
    if applied >= sequence {
        return Ok(None);
    }
    let outcome = apply(&mut transaction).await?;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {schema}.consumer_cursors SET sequence = $2 WHERE stream = $1"
    )))
    .bind(stream)
    .bind(sequence)
    .execute(&mut *transaction)
    .await
    .map_err(PlatformError::from)?;
    if outcome.changes.is_empty() {
        transaction.commit().await.map_err(PlatformError::from)?;
        return Ok(Some(outcome.response));
    }
    let target = format!("{schema}.consumer_cursors/{stream}");
    Ok(Some(
        finish(transaction, (schema, key), context, &target, outcome).await?,
    ))
}

/// Forgets request ids older than `retention` (`crate::service::housekeeping`): how many.
pub async fn forget_request_ids_older_than(
    pool: &PgPool,
    schema: &str,
    retention: std::time::Duration,
) -> Result<u64, PlatformError> {
    let retention = sqlx::postgres::types::PgInterval::try_from(retention)
        .map_err(|error| PlatformError::Internal(format!("retention out of range: {error}")))?;
    Ok(sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {schema}.idempotency WHERE created_at < now() - $1::interval"
    )))
    .bind(retention)
    .execute(pool)
    .await?
    .rows_affected())
}

/// How far a consumer has applied another service's stream; 0 before the first event.
pub async fn cursor(pool: &PgPool, schema: &str, stream: &str) -> Result<i64, PlatformError> {
    let sequence: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT sequence FROM {schema}.consumer_cursors WHERE stream = $1"
    )))
    .bind(stream)
    .fetch_optional(pool)
    .await?;
    Ok(sequence.unwrap_or(0))
}

/// Audits a refused call (denied, or failed on a rule) in a transaction of its own, since the
/// refused change itself was rolled back. A failure to audit is logged, and the caller still
/// gets the refusal it earned.
/// A read's authorisation `decision`, passed on; when it is a refusal (not a fault of ours), it
/// is audited against `resource` first. Mutations' refusals are audited by [`run`].
pub async fn audit_read_refusal<T, E: DescribeError>(
    pool: &PgPool,
    journal: (&str, &AuditKey),
    context: &CallContext,
    resource: &str,
    decision: Result<T, E>,
) -> Result<T, E> {
    if let Err(error) = &decision {
        let description = error.describe();
        if !crate::telemetry::is_server_fault(description.code) {
            audit_refusal(pool, journal, context, resource, description.reason).await;
        }
    }
    decision
}

pub async fn audit_refusal(
    pool: &PgPool,
    (schema, key): (&str, &AuditKey),
    context: &CallContext,
    resource: &str,
    result: &str,
) {
    let audited = async {
        let mut transaction = crate::db::begin(pool).await?;
        write_audit(
            &mut transaction,
            (schema, key),
            context,
            &[Change::none(resource)],
            result,
        )
        .await?;
        transaction.commit().await?;
        Ok::<(), PlatformError>(())
    };
    if let Err(error) = audited.await {
        tracing::warn!(%error, resource, result, "refusal not audited");
    }
}

/// One audit row per change, in one statement (an import may change thousands of units), each
/// sealed after the one before it (see [`crate::audit`]).
async fn write_audit(
    transaction: &mut Transaction<'static, Postgres>,
    (schema, key): (&str, &AuditKey),
    context: &CallContext,
    changes: &[Change],
    result: &str,
) -> Result<(), PlatformError> {
    let mut roles: Vec<String> = context
        .caller
        .roles
        .iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    roles.sort();
    let mut previous = audit::last_seal(transaction, schema).await?;
    // Stamped under the chain's lock, so ids and times rise together (a month's partition
    // holds a run of ids, which pruning relies on).
    let at = audit::now();
    let mut seals = Vec::with_capacity(changes.len());
    for change in changes {
        let row = AuditRow {
            at,
            subject: context.caller.subject.clone(),
            caller_unit: context.caller.unit.clone(),
            roles: roles.clone(),
            method: context.method.to_string(),
            resource: change.resource.clone(),
            before: change.before.clone(),
            after: change.after.clone(),
            result: result.to_owned(),
            request_id: context.request_id.clone(),
        };
        previous = audit::seal(key, &previous, &row)?;
        seals.push(previous.clone());
    }
    let resources: Vec<&str> = changes
        .iter()
        .map(|change| change.resource.as_str())
        .collect();
    let befores: Vec<Option<&serde_json::Value>> = changes
        .iter()
        .map(|change| change.before.as_ref())
        .collect();
    let afters: Vec<Option<&serde_json::Value>> =
        changes.iter().map(|change| change.after.as_ref()).collect();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.audit_log
           (at, subject, caller_unit, roles, method, resource, before, after, result, request_id,
            chain)
         SELECT $10, $1, $2, $3, $4, change.resource, change.before, change.after, $8, $9,
                change.chain
         FROM UNNEST($5::text[], $6::jsonb[], $7::jsonb[], $11::bytea[]) WITH ORDINALITY
              AS change (resource, before, after, chain, position)
         ORDER BY change.position"
    )))
    .bind(&context.caller.subject)
    .bind(&context.caller.unit)
    .bind(&roles)
    .bind(&*context.method)
    .bind(&resources)
    .bind(&befores)
    .bind(&afters)
    .bind(result)
    .bind(&context.request_id)
    .bind(at)
    .bind(&seals)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

async fn append_events(
    transaction: &mut Transaction<'static, Postgres>,
    schema: &str,
    events: Vec<NewEvent>,
) -> Result<(), PlatformError> {
    if events.is_empty() {
        return Ok(());
    }
    // Writers take turns on the outbox so that sequence order is commit order: a consumer that
    // resumes after sequence N can never miss an event that commits later with a smaller number.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{schema}.events"))
        .execute(&mut **transaction)
        .await?;
    let types: Vec<&str> = events.iter().map(|event| event.event_type).collect();
    let resources: Vec<&str> = events.iter().map(|event| event.resource.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|event| &event.payload).collect();
    let trace = crate::telemetry::current_trace_context();
    let trace_context = (!trace.is_empty()).then_some(sqlx::types::Json(trace));
    // Sequence numbers follow the order the events were given in.
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.events (event_type, resource, payload, trace_context)
         SELECT event.event_type, event.resource, event.payload, $4
         FROM UNNEST($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY
              AS event (event_type, resource, payload, position)
         ORDER BY event.position"
    )))
    .bind(&types)
    .bind(&resources)
    .bind(&payloads)
    .bind(trace_context)
    .execute(&mut **transaction)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(crate::outbox::channel(schema))
        .execute(&mut **transaction)
        .await?;
    Ok(())
}
