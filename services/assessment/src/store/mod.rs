//! All SQL of the assessment service (schema `assessment`). Reads go through [`Store`] on the
//! pool; writes are functions on the connection of the transaction that
//! [`fazhi_platform::mutation::run`] opened.

mod claim;
mod manual;
mod rectification;
mod round;
mod scheme;
mod supervision;

pub use claim::{
    ClaimFilter, ClaimKind, Finding, insert_claim, lock_claim, lock_same_claim, record_finding,
    save_claim,
};
pub use manual::{ManualScore, record_manual_score};
pub use rectification::{
    ItemFilter, insert_items, items_not_closed, lock_item, lock_round, mark_overdue, publish_round,
    round_inputs, save_item,
};
pub use round::{LiveRound, ScoreCursor, ScoreRows, insert_round, lock_revised, mark_stale};
pub use scheme::{insert_scheme, lock_scheme, save_scheme};
pub use supervision::insert_supervision;

use fazhi_platform::audit::AuditKey;
use fazhi_platform::error::PlatformError;
use fazhi_platform::reads::Reads;
use sqlx::PgPool;

use crate::error::AssessmentError;

/// The schema this service owns.
pub const SCHEMA: &str = "assessment";

/// Migrations of the `assessment` schema (table `assessment._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Postgres access for assessment: the reads, on the pool.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    reads: Reads,
    audit_key: AuditKey,
}

impl Store {
    /// A store whose audit rows are sealed with the development key (tests, tools).
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: Reads::new(pool.clone()),
            pool,
            audit_key: AuditKey::development(),
        }
    }

    /// The same store sealing its audit rows with `key` (`database.audit_key`).
    pub fn with_audit_key(self, audit_key: AuditKey) -> Self {
        Self { audit_key, ..self }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool for reads: a read dropped mid-statement stops in Postgres too.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// The schema and the key its audit rows are sealed with, as `mutation` takes them.
    pub fn journal(&self) -> (&'static str, &AuditKey) {
        (SCHEMA, &self.audit_key)
    }
}

/// A JSON column that does not read back as what was written.
fn corrupt(what: &str, error: serde_json::Error) -> AssessmentError {
    AssessmentError::Platform(PlatformError::Internal(format!("{what}: {error}")))
}
