//! The audit log as evidence: append-only in the database (a trigger refuses UPDATE, DELETE and
//! TRUNCATE, whoever asks), and each row sealed by an HMAC-SM3 chain — the MAC of the row's
//! content and the previous row's seal, under a key the database never sees — so that
//! [`verify`] names the first row altered, forged or following removed rows, even for someone
//! who could switch the trigger off.

use std::sync::Arc;

use chrono::{DateTime, Utc};
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
    let mut verification = Verification {
        verified: 0,
        unsealed: 0,
        first_broken: None,
    };
    let mut previous: Option<Vec<u8>> = None;
    let mut after = 0_i64;
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
