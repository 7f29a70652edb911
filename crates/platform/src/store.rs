//! What every service's store holds: the pool, the reads over it, and how its audit rows are
//! sealed. A service's `Store` wraps a [`SchemaStore`] and adds its own SQL.

use sqlx::PgPool;

use crate::audit::AuditKey;
use crate::reads::Reads;

/// One service's schema as its store reaches it: the pool its mutations take transactions from,
/// the [`Reads`] over the same pool, and the schema and key its audit rows are sealed with.
#[derive(Clone, Debug)]
pub struct SchemaStore {
    pool: PgPool,
    reads: Reads,
    schema: &'static str,
    audit_key: AuditKey,
}

impl SchemaStore {
    /// Audit rows sealed with the development key (tests, tools).
    pub fn new(pool: PgPool, schema: &'static str) -> Self {
        Self {
            reads: Reads::new(pool.clone()),
            pool,
            schema,
            audit_key: AuditKey::development(),
        }
    }

    /// The same, sealing audit rows with `audit_key` (`database.audit_key`).
    pub fn with_audit_key(self, audit_key: AuditKey) -> Self {
        Self { audit_key, ..self }
    }

    /// The pool, for mutations (`crate::mutation::run`) and what needs a session of its own.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool for reads: a read dropped mid-statement stops in Postgres too.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// The schema and the key its audit rows are sealed with, as `mutation` takes them.
    pub fn journal(&self) -> (&'static str, &AuditKey) {
        (self.schema, &self.audit_key)
    }
}
