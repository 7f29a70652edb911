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
use fazhi_platform::store::SchemaStore;
use sqlx::PgPool;

use crate::error::AssessmentError;

/// The schema this service owns.
pub const SCHEMA: &str = "assessment";

/// Migrations of the `assessment` schema (table `assessment._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Postgres access for assessment: its SQL over a [`SchemaStore`].
#[derive(Clone)]
pub struct Store(SchemaStore);

/// Every store method reaches the pool, the reads and the audit seal through this.
impl std::ops::Deref for Store {
    type Target = SchemaStore;
    fn deref(&self) -> &SchemaStore {
        &self.0
    }
}

impl Store {
    /// A store whose audit rows are sealed with the development key (tests, tools).
    pub fn new(pool: PgPool) -> Self {
        Self(SchemaStore::new(pool, SCHEMA))
    }

    /// The same store sealing its audit rows with `key` (`database.audit_key`).
    pub fn with_audit_key(self, audit_key: AuditKey) -> Self {
        Self(self.0.with_audit_key(audit_key))
    }
}

/// A JSON column that does not read back as what was written.
fn corrupt(what: &str, error: serde_json::Error) -> AssessmentError {
    AssessmentError::Platform(PlatformError::Internal(format!("{what}: {error}")))
}
