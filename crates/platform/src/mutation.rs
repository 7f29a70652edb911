//! Every mutation in one transaction: claim the `request_id`, change the data, write the audit
//! record and the outbox events, store the response for replays, commit.
//!
//! The tables (`audit_log`, `idempotency`, `events`) live in each service's own schema. Their
//! DDL opens `services/units/migrations/0001_units.sql`; a new service's first migration starts
//! with the same three tables in its own schema (migrations are static SQL, so they are copied).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

use crate::auth::Caller;
use crate::error::PlatformError;

/// Who does what, with which idempotency key.
#[derive(Debug, Clone)]
pub struct MutationContext {
    pub caller: Caller,
    /// Full gRPC method, e.g. `/fazhi.units.v1.UnitsService/CreateUnit`.
    pub method: &'static str,
    pub request_id: Option<String>,
    /// See [`crate::aip::request_fingerprint`].
    pub fingerprint: Vec<u8>,
}

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

/// A mutation in progress: either a fresh transaction, or the stored response of a retry.
pub enum Begun<T> {
    Fresh(Transaction<'static, Postgres>),
    Replay(T),
}

/// Opens the transaction and claims the request id. A concurrent duplicate waits on the
/// idempotency row's unique key until the first commits, then replays its response.
pub async fn begin<T: DeserializeOwned>(
    pool: &PgPool,
    schema: &str,
    context: &MutationContext,
) -> Result<Begun<T>, PlatformError> {
    let mut transaction = pool.begin().await?;
    let Some(request_id) = &context.request_id else {
        return Ok(Begun::Fresh(transaction));
    };
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.idempotency (subject, request_id, method, fingerprint)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
    )))
    .bind(&context.caller.subject)
    .bind(request_id)
    .bind(context.method)
    .bind(&context.fingerprint)
    .execute(&mut *transaction)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(Begun::Fresh(transaction));
    }
    let (fingerprint, response): (Vec<u8>, Option<serde_json::Value>) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT fingerprint, response FROM {schema}.idempotency WHERE subject = $1 AND request_id = $2"
    )))
    .bind(&context.caller.subject)
    .bind(request_id)
    .fetch_one(&mut *transaction)
    .await?;
    if fingerprint != context.fingerprint {
        return Err(PlatformError::RequestIdReused);
    }
    let response = response
        .ok_or_else(|| PlatformError::Internal("idempotency row without response".to_owned()))?;
    serde_json::from_value(response)
        .map(Begun::Replay)
        .map_err(|error| PlatformError::Internal(format!("stored response unreadable: {error}")))
}

/// Writes audit, events and the stored response, then commits.
pub async fn finish<T: Serialize>(
    mut transaction: Transaction<'static, Postgres>,
    schema: &str,
    context: &MutationContext,
    changes: &[Change],
    events: Vec<NewEvent>,
    response: &T,
) -> Result<(), PlatformError> {
    write_audit(&mut transaction, schema, context, changes, "OK").await?;
    append_events(&mut transaction, schema, events).await?;
    if let Some(request_id) = &context.request_id {
        let stored = serde_json::to_value(response)
            .map_err(|error| PlatformError::Internal(error.to_string()))?;
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
    Ok(())
}

/// Audits a refused call (denied, or failed on a rule) in a transaction of its own, since the
/// refused change itself was rolled back.
pub async fn audit_refusal(
    pool: &PgPool,
    schema: &str,
    context: &MutationContext,
    resource: &str,
    result: &str,
) -> Result<(), PlatformError> {
    let mut transaction = pool.begin().await?;
    let change = Change {
        resource: resource.to_owned(),
        before: None,
        after: None,
    };
    write_audit(&mut transaction, schema, context, &[change], result).await?;
    transaction.commit().await?;
    Ok(())
}

/// One audit row per change, in one statement (an import may change thousands of units).
async fn write_audit(
    transaction: &mut Transaction<'static, Postgres>,
    schema: &str,
    context: &MutationContext,
    changes: &[Change],
    result: &str,
) -> Result<(), PlatformError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut roles: Vec<String> = context
        .caller
        .roles
        .iter()
        .map(|role| format!("{role:?}").to_lowercase())
        .collect();
    roles.sort();
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
           (subject, caller_unit, roles, method, resource, before, after, result, request_id)
         SELECT $1, $2, $3, $4, change.resource, change.before, change.after, $8, $9
         FROM UNNEST($5::text[], $6::jsonb[], $7::jsonb[]) WITH ORDINALITY
              AS change (resource, before, after, position)
         ORDER BY change.position"
    )))
    .bind(&context.caller.subject)
    .bind(&context.caller.unit)
    .bind(&roles)
    .bind(context.method)
    .bind(&resources)
    .bind(&befores)
    .bind(&afters)
    .bind(result)
    .bind(&context.request_id)
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
    // Sequence numbers follow the order the events were given in.
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.events (event_type, resource, payload)
         SELECT event.event_type, event.resource, event.payload
         FROM UNNEST($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY
              AS event (event_type, resource, payload, position)
         ORDER BY event.position"
    )))
    .bind(&types)
    .bind(&resources)
    .bind(&payloads)
    .execute(&mut **transaction)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(crate::outbox::channel(schema))
        .execute(&mut **transaction)
        .await?;
    Ok(())
}
