//! All SQL of the indicators service (schema `indicators`), one file per aggregate. Reads go
//! through [`Store`] on the pool; writes are functions on the connection of the transaction that
//! [`fazhi_platform::mutation::run`] opened.

mod dataset;
mod element;
mod indicator;
mod ingest;
mod proposal;
mod target;
mod value;

pub use dataset::{
    insert_data_set, lock_data_set, record_sweep, save_data_set, unit_period_values,
};
pub use element::{insert_element, lock_element, save_element};
pub use indicator::{insert_indicator, lock_indicator, save_indicator};
pub use ingest::{Applied, IngestRow, ingest};
pub use proposal::{
    Placed, decide_proposal, drop_proposal, lock_plan_proposals, lock_proposal, save_proposal,
};
pub use target::{insert_target, lock_target, record_status, save_target};
pub use value::{
    FigureRow, RevisionRow, ValueCursor, ValueKey, insert_value, lock_value, lock_value_by_key,
    update_value,
};

use fazhi_platform::audit::AuditKey;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::store::SchemaStore;
use sqlx::PgPool;

use crate::error::{IndicatorsError, Result};

/// The schema this service owns.
pub const SCHEMA: &str = "indicators";

/// Migrations of the `indicators` schema (table `indicators._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Postgres access for indicators: its SQL over a [`SchemaStore`].
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

pub(crate) fn corrupt(what: String) -> IndicatorsError {
    IndicatorsError::Platform(PlatformError::Internal(what))
}

/// Maps a unique violation on `constraint` to `duplicate`, any other error as the platform does.
pub(crate) fn unique_or(
    error: sqlx::Error,
    constraints: &[(&str, FieldViolation)],
) -> IndicatorsError {
    let violated = error
        .as_database_error()
        .filter(|database_error| database_error.code().as_deref() == Some("23505"))
        .and_then(|database_error| database_error.constraint().map(str::to_owned));
    if let Some(violated) = violated
        && let Some((_, violation)) = constraints.iter().find(|(name, _)| *name == violated)
    {
        return IndicatorsError::invalid_field(violation.clone());
    }
    error.into()
}

/// A row's stored enum text as the domain's enum.
pub(crate) fn parsed<T>(parse: impl Fn(&str) -> Option<T>, text: &str, what: &str) -> Result<T> {
    parse(text).ok_or_else(|| corrupt(format!("{what} has an unknown value {text:?}")))
}
