//! The audit log as evidence: append-only in the database (a trigger refuses UPDATE, DELETE and
//! TRUNCATE, whoever asks), and each row sealed by an HMAC-SM3 chain — the MAC of the row's
//! content and the previous row's seal, under a key the database never sees — so that
//! [`verify`] names the first row altered, forged or following removed rows, even for someone
//! who could switch the trigger off.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fazhi_proto::audit::v1::AuditRecordFilter;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sm3::Sm3;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::error::PlatformError;

type HmacSm3 = Hmac<Sm3>;

/// The key that seals a service's audit chain (`database.audit_key`).
#[derive(Clone)]
pub struct AuditKey(Arc<Vec<u8>>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    pub fn new(secret: &SecretString) -> Self {
        Self(Arc::new(secret.expose_secret().as_bytes().to_vec()))
    }

    /// The key of development and tests, where no secret is configured: it seals, but anyone
    /// can reproduce it, so settings refuse it outside development.
    pub fn development() -> Self {
        Self(Arc::new(b"fazhi development audit key".to_vec()))
    }

    /// The configured key, or the development one.
    pub fn from_settings(secret: Option<&SecretString>) -> Self {
        secret.map_or_else(Self::development, Self::new)
    }

    fn mac(&self) -> HmacSm3 {
        // HMAC takes a key of any length.
        <HmacSm3 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
}

/// What an audit row says, in the order it is sealed.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub subject: String,
    pub caller_unit: Option<String>,
    pub roles: Vec<String>,
    pub method: String,
    pub resource: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub result: String,
    pub request_id: Option<String>,
}

/// The seal of `row` following a row sealed `previous` (empty for the first).
pub fn seal(key: &AuditKey, previous: &[u8], row: &AuditRow) -> Result<Vec<u8>, PlatformError> {
    let content = serde_json::to_vec(row)
        .map_err(|error| PlatformError::Internal(format!("audit row not serialisable: {error}")))?;
    let mut mac = key.mac();
    mac.update(&(previous.len() as u64).to_be_bytes());
    mac.update(previous);
    mac.update(&content);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Database time as it comes back from `timestamptz`: microseconds.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The seal of the last row, read under the lock that orders the chain: the lock is held until
/// the writing transaction ends, so rows are sealed in the order they commit.
pub async fn last_seal(
    connection: &mut PgConnection,
    schema: &str,
) -> Result<Vec<u8>, PlatformError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{schema}.audit_log"))
        .execute(&mut *connection)
        .await?;
    let last: Option<Option<Vec<u8>>> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT chain FROM {schema}.audit_log ORDER BY id DESC LIMIT 1"
    )))
    .fetch_optional(&mut *connection)
    .await?;
    Ok(last.flatten().unwrap_or_default())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Rows whose seal holds.
    pub verified: u64,
    /// Rows written before sealing began (no seal), at the start of the log.
    pub unsealed: u64,
    /// The first row whose seal does not hold: it was altered or forged, or rows before it
    /// were removed.
    pub first_broken: Option<i64>,
    /// Where the log begins after a retention pruned it ([`prune`]): rows up to this id were
    /// dropped, and the chain goes on from the last one's seal.
    pub pruned_through: Option<i64>,
}

/// Audit rows are kept at least this long (等保 level 3 asks for six months): [`prune`]
/// refuses a later cutoff, and nothing else removes a row.
pub const MINIMUM_RETENTION_DAYS: i64 = 180;

/// Makes sure the log has its monthly partitions from now to three months ahead. Returns how
/// many rows wait in the default partition (a month whose partition was missing when they
/// were written, which then is never created: its rows stay where they are).
pub async fn extend_partitions(pool: &PgPool, schema: &str) -> Result<i64, PlatformError> {
    Ok(sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {schema}.audit_log_extend(now())"
    )))
    .fetch_one(pool)
    .await?)
}

/// Drops the log's months that ended before `before` (its month start), recording where the
/// chain goes on; refuses a cutoff within [`MINIMUM_RETENTION_DAYS`]. Needs the schema's owner
/// (`database.migration_url`): the service's own role cannot. Returns the rows removed.
pub async fn prune(
    owner: &PgPool,
    schema: &str,
    before: DateTime<Utc>,
) -> Result<i64, PlatformError> {
    if before > Utc::now() - chrono::Duration::days(MINIMUM_RETENTION_DAYS) {
        return Err(PlatformError::InvalidArgument(vec![
            crate::error::FieldViolation::new(
                "before",
                "RETENTION_TOO_SHORT",
                format!("audit rows are kept at least {MINIMUM_RETENTION_DAYS} days"),
                format!("审计记录至少保留{MINIMUM_RETENTION_DAYS}天"),
            ),
        ]));
    }
    Ok(sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {schema}.audit_log_prune($1)"
    )))
    .bind(before)
    .fetch_one(owner)
    .await?)
}

/// Walks `{schema}.audit_log` in order and checks every seal.
pub async fn verify(
    pool: &PgPool,
    schema: &str,
    key: &AuditKey,
) -> Result<Verification, PlatformError> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        chain: Option<Vec<u8>>,
        #[sqlx(flatten)]
        row: AuditRow,
    }
    let anchor: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT through_id, chain FROM {schema}.audit_log_pruned ORDER BY through_id DESC LIMIT 1"
    )))
    .fetch_optional(pool)
    .await?;
    let mut verification = Verification {
        verified: 0,
        unsealed: 0,
        first_broken: None,
        pruned_through: anchor.as_ref().map(|(through, _)| *through),
    };
    let (mut after, mut previous) = anchor.unwrap_or_default();
    loop {
        let page: Vec<Stored> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, chain, at, subject, caller_unit, roles, method, resource, before, after,
                    result, request_id
             FROM {schema}.audit_log WHERE id > $1 ORDER BY id LIMIT 1000"
        )))
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else {
            return Ok(verification);
        };
        after = last.id;
        for stored in page {
            match (&stored.chain, &previous) {
                // Rows from before sealing began lead the log; a row without a seal after
                // sealed ones was forged.
                (None, None) => verification.unsealed += 1,
                (Some(chain), _)
                    if seal(key, previous.as_deref().unwrap_or_default(), &stored.row)?
                        == *chain =>
                {
                    verification.verified += 1;
                    previous = Some(chain.clone());
                }
                _ => {
                    verification.first_broken = Some(stored.id);
                    return Ok(verification);
                }
            }
        }
    }
}

/// Which rows [`list`] returns; every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AuditQuery {
    pub resource: Option<String>,
    pub subject: Option<String>,
    /// A unit id (without `units/`).
    pub caller_unit: Option<String>,
    /// The full method or its last part.
    pub method: Option<String>,
    pub result: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Only rows of callers in these units (a coordinator's region); `None`: every row.
    pub region: Option<Vec<String>>,
}

/// A row as listed: its place in the log and what it says.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    #[sqlx(flatten)]
    pub row: AuditRow,
}

/// Rows matching `query`, newest first, before the row `before_id` when paging on.
pub async fn list(
    reads: &crate::reads::Reads,
    schema: &str,
    query: &AuditQuery,
    before_id: Option<i64>,
    page_size: i64,
) -> Result<crate::aip::Page<AuditRecord, i64>, PlatformError> {
    let rows: Vec<AuditRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, at, subject, caller_unit, roles, method, resource, before, after, result,
                request_id
         FROM {schema}.audit_log
         WHERE ($1::text IS NULL OR resource = $1) AND ($2::text IS NULL OR subject = $2)
           AND ($3::text IS NULL OR caller_unit = $3)
           AND ($4::text IS NULL OR method = $4 OR right(method, length($4) + 1) = '/' || $4)
           AND ($5::text IS NULL OR result = $5)
           AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
           AND ($8::text[] IS NULL OR caller_unit = ANY($8))
           AND ($9::bigint IS NULL OR id < $9)
         ORDER BY id DESC LIMIT $10"
    )))
    .bind(&query.resource)
    .bind(&query.subject)
    .bind(&query.caller_unit)
    .bind(&query.method)
    .bind(&query.result)
    .bind(query.start_time)
    .bind(query.end_time)
    .bind(&query.region)
    .bind(before_id)
    .bind(page_size + 1)
    .fetch_all(reads)
    .await?;
    Ok(crate::aip::Page::from_overfetch(rows, page_size, |last| {
        last.id
    }))
}

/// `ListAuditRecords` as every service answers it, from the request's parts: the filter
/// checked, the page read for the caller's `region` (see [`AuditQuery::region`]), the records
/// and the next page token.
pub async fn list_records(
    pool: &PgPool,
    schema: &str,
    (filter, page_size, page_token): (Option<AuditRecordFilter>, i32, &str),
    region: Option<Vec<String>>,
) -> Result<(Vec<fazhi_proto::audit::v1::AuditRecord>, String), PlatformError> {
    let mut query = query_from_proto(filter.unwrap_or_default())?;
    query.region = region;
    let page_size = crate::aip::page_size(page_size, 100, 1000)?;
    let before = crate::aip::decode_page_token(page_token, &query)?;
    let reads = crate::reads::Reads::new(pool.clone());
    let page = list(&reads, schema, &query, before, page_size).await?;
    let next = page
        .next
        .map(|id| crate::aip::encode_page_token(&id, &query))
        .unwrap_or_default();
    Ok((page.items.into_iter().map(record_to_proto).collect(), next))
}

fn query_from_proto(filter: AuditRecordFilter) -> Result<AuditQuery, PlatformError> {
    let given = |text: String| (!text.is_empty()).then_some(text);
    let time = |field: &str, timestamp: Option<prost_types::Timestamp>| {
        timestamp
            .map(|timestamp| {
                u32::try_from(timestamp.nanos)
                    .ok()
                    .and_then(|nanos| DateTime::from_timestamp(timestamp.seconds, nanos))
                    .ok_or_else(|| {
                        crate::error::FieldViolation::new(
                            format!("filter.{field}"),
                            "INVALID_TIMESTAMP",
                            "not a valid time",
                            "时间无效",
                        )
                    })
            })
            .transpose()
    };
    let mut violations = Vec::new();
    let start_time = time("start_time", filter.start_time).unwrap_or_else(|violation| {
        violations.push(violation);
        None
    });
    let end_time = time("end_time", filter.end_time).unwrap_or_else(|violation| {
        violations.push(violation);
        None
    });
    let caller_unit = given(filter.caller_unit).map(|unit| {
        unit.strip_prefix("units/")
            .map(str::to_owned)
            .unwrap_or(unit)
    });
    if !violations.is_empty() {
        return Err(PlatformError::InvalidArgument(violations));
    }
    Ok(AuditQuery {
        resource: given(filter.resource),
        subject: given(filter.subject),
        caller_unit,
        method: given(filter.method),
        result: given(filter.result),
        start_time,
        end_time,
        region: None,
    })
}

fn record_to_proto(record: AuditRecord) -> fazhi_proto::audit::v1::AuditRecord {
    let json =
        |value: Option<serde_json::Value>| value.map(|value| value.to_string()).unwrap_or_default();
    let row = record.row;
    fazhi_proto::audit::v1::AuditRecord {
        id: record.id,
        time: Some(crate::aip::timestamp(row.at)),
        subject: row.subject,
        caller_unit: row
            .caller_unit
            .map(|unit| format!("units/{unit}"))
            .unwrap_or_default(),
        roles: row.roles,
        method: row.method,
        resource: row.resource,
        before_json: json(row.before),
        after_json: json(row.after),
        result: row.result,
        request_id: row.request_id.unwrap_or_default(),
    }
}

/// `ListAuditRecords` for the caller, as every service answers it: admins every record,
/// coordinators the records of callers in their region — their unit and the units
/// `units_below` finds under it — anyone else refused, the refusal audited in `journal`.
pub async fn list_for_caller<E: From<PlatformError>>(
    pool: &PgPool,
    journal: (&'static str, &AuditKey),
    context: &crate::call::CallContext,
    page: (Option<AuditRecordFilter>, i32, &str),
    units_below: impl AsyncFnOnce(&str) -> Result<Vec<String>, E>,
) -> Result<(Vec<fazhi_proto::audit::v1::AuditRecord>, String), E> {
    use crate::auth::Role;
    let caller = &context.caller;
    let region = if caller.has(Role::Admin) {
        None
    } else if let (Some(own), true) = (caller.unit.as_deref(), caller.has(Role::Coordinator)) {
        let mut region = units_below(own).await?;
        region.push(own.to_owned());
        Some(region)
    } else {
        crate::mutation::audit_refusal(pool, journal, context, "auditRecords", "PERMISSION_DENIED")
            .await;
        return Err(PlatformError::PermissionDenied.into());
    };
    Ok(list_records(pool, journal.0, page, region).await?)
}
