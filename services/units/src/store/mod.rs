//! All SQL of the units service, one file per aggregate (`unit`, `group`, `reorganization`,
//! `import`); rows, the pool and the mutation entry point here. Every query is schema-qualified (`units.`); reads of the
//! hierarchy take a day and see the unit versions valid on it.

mod group;
mod import;
mod reorganization;
mod unit;

pub use group::groups_sql;
pub use unit::{LIFETIME_SQL, ancestry_sql, descendants_sql, unit_on_day_sql};

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::audit::AuditKey;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_platform::store::SchemaStore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};

use crate::domain::{
    AdministrativeLevel, Contact, Descendant, ImportCounts, ImportedUnit, NewGroup, RegionCode,
    Reorganization, ReorganizationId, ReorganizationKind, Unit, UnitField, UnitFilter, UnitGroup,
    UnitGroupId, UnitId, UnitKind, ValidUnitFields, showing_day,
};
use crate::error::{Result, UnitsError};

/// The schema this service owns.
pub const SCHEMA: &str = "units";

/// Migrations of the `units` schema (its table is `units._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The columns of a unit (`u`) and one of its versions (`v`).
macro_rules! unit_columns {
    () => {
        r#"
SELECT u.id, v.display_name, u.short_name, u.aliases, u.kind, u.level, v.parent_id,
       u.region_code, u.credit_code, u.tags, u.contacts, u.valid_from, u.valid_until,
       u.revision, u.create_time, u.update_time, u.delete_time,
       ARRAY(SELECT s.successor_id FROM units.successions s
             WHERE s.predecessor_id = u.id ORDER BY s.successor_id) AS successors
FROM units.units u
"#
    };
}

/// The columns of a unit as seen on day `$1`.
const UNIT_SELECT: &str = concat!(
    unit_columns!(),
    "JOIN units.unit_versions v\n  ON v.unit_id = u.id AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)\n"
);

/// The columns of units as they were on their first day.
const UNIT_AS_CREATED: &str = concat!(
    unit_columns!(),
    "JOIN units.unit_versions v ON v.unit_id = u.id AND v.valid_from = u.valid_from\n"
);

/// The columns of units with their latest version (the one an import corrects).
const UNIT_LATEST: &str = concat!(
    unit_columns!(),
    "JOIN units.unit_versions v ON v.unit_id = u.id
       AND v.valid_from = (SELECT max(latest.valid_from) FROM units.unit_versions latest WHERE latest.unit_id = u.id)\n"
);

/// A page size meaning "everything" for internal reads.
const UNPAGED: i64 = 10_000_000;

/// A unit exists on day `$1`.
const EXISTS_ON_DAY: &str = "u.valid_from <= $1 AND (u.valid_until IS NULL OR $1 < u.valid_until)";

#[derive(sqlx::FromRow)]
struct UnitRow {
    id: String,
    display_name: String,
    short_name: String,
    aliases: Vec<String>,
    kind: String,
    level: String,
    parent_id: Option<String>,
    region_code: Option<String>,
    credit_code: Option<String>,
    tags: Vec<String>,
    contacts: serde_json::Value,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    delete_time: Option<DateTime<Utc>>,
    successors: Vec<String>,
}

impl TryFrom<UnitRow> for Unit {
    type Error = UnitsError;
    fn try_from(row: UnitRow) -> Result<Self> {
        let corrupt = |what: &str| {
            UnitsError::Platform(PlatformError::Internal(format!(
                "unit {} has a bad {what}",
                row.id
            )))
        };
        Ok(Unit {
            kind: UnitKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
            level: AdministrativeLevel::parse(&row.level).ok_or_else(|| corrupt("level"))?,
            contacts: serde_json::from_value::<Vec<Contact>>(row.contacts.clone())
                .map_err(|_| corrupt("contact list"))?,
            region_code: row.region_code.as_deref().and_then(RegionCode::parse),
            credit_code: row
                .credit_code
                .as_deref()
                .and_then(crate::domain::CreditCode::parse),
            id: UnitId::from_trusted(row.id),
            display_name: row.display_name,
            short_name: row.short_name,
            aliases: row.aliases,
            parent: row.parent_id.map(UnitId::from_trusted),
            tags: row.tags,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            successors: row
                .successors
                .into_iter()
                .map(UnitId::from_trusted)
                .collect(),
            create_time: row.create_time,
            update_time: row.update_time,
            delete_time: row.delete_time,
            revision: row.revision,
        })
    }
}

fn units_from(rows: Vec<UnitRow>) -> Result<Vec<Unit>> {
    rows.into_iter().map(Unit::try_from).collect()
}

/// The columns of a [`GroupRow`].
const GROUP_COLUMNS: &str =
    "id, display_name, aliases, definition, owner_id, revision, create_time, update_time";

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    display_name: String,
    aliases: Vec<String>,
    definition: serde_json::Value,
    owner_id: Option<String>,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<GroupRow> for UnitGroup {
    type Error = UnitsError;
    fn try_from(row: GroupRow) -> Result<Self> {
        Ok(UnitGroup {
            definition: serde_json::from_value(row.definition).map_err(|_| {
                UnitsError::Platform(PlatformError::Internal(format!(
                    "group {} has a bad definition",
                    row.id
                )))
            })?,
            id: UnitGroupId::from_trusted(row.id),
            display_name: row.display_name,
            aliases: row.aliases,
            owner: row.owner_id.map(UnitId::from_trusted),
            revision: row.revision,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ReorganizationRow {
    id: String,
    kind: String,
    effective_date: NaiveDate,
    source_units: Vec<String>,
    successor_units: Vec<String>,
    new_display_name: String,
    new_parent: Option<String>,
    note: String,
    create_time: DateTime<Utc>,
}

impl TryFrom<ReorganizationRow> for Reorganization {
    type Error = UnitsError;
    fn try_from(row: ReorganizationRow) -> Result<Self> {
        Ok(Reorganization {
            kind: ReorganizationKind::parse(&row.kind).ok_or_else(|| {
                UnitsError::Platform(PlatformError::Internal(format!(
                    "reorganization {} has a bad kind",
                    row.id
                )))
            })?,
            id: ReorganizationId::from_trusted(row.id),
            effective_date: row.effective_date,
            source_units: row
                .source_units
                .into_iter()
                .map(UnitId::from_trusted)
                .collect(),
            successor_units: row
                .successor_units
                .into_iter()
                .map(UnitId::from_trusted)
                .collect(),
            new_display_name: row.new_display_name,
            new_parent: row.new_parent.map(UnitId::from_trusted),
            note: row.note,
            create_time: row.create_time,
        })
    }
}

/// Postgres access for the unit registry: its SQL over a [`SchemaStore`].
#[derive(Clone)]
pub struct Store(SchemaStore);

/// Every store method reaches the pool, the reads and the audit seal through this.
impl std::ops::Deref for Store {
    type Target = SchemaStore;
    fn deref(&self) -> &SchemaStore {
        &self.0
    }
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    Ok(fazhi_platform::mutation::to_json(value)?)
}

fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    error.as_database_error().is_some_and(|database_error| {
        database_error.is_unique_violation() && database_error.constraint() == Some(constraint)
    })
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

    /// Runs a mutation of the registry (`fazhi_platform::mutation::run`): the request id is
    /// claimed (or its answer replayed) before `apply` looks at anything.
    async fn mutate<T: Serialize + DeserializeOwned>(
        &self,
        context: &CallContext,
        target: &str,
        apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome<T>>,
    ) -> Result<T> {
        self.mutate_authorised(context, target, async || Ok(()), apply)
            .await
    }

    /// A mutation whose authorisation reads what a retry may no longer find (a deleted group's
    /// owner): it runs after the replay check, and its refusal is audited with the call.
    async fn mutate_authorised<T: Serialize + DeserializeOwned>(
        &self,
        context: &CallContext,
        target: &str,
        authorise: impl AsyncFnOnce() -> Result<()>,
        apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome<T>>,
    ) -> Result<T> {
        mutation::run(
            self.pool(),
            self.journal(),
            context,
            target,
            authorise,
            async |transaction, ()| apply(transaction).await,
        )
        .await
    }

    /// Records a refused call.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "audit_refusal"))]
    pub async fn audit_refusal(&self, context: &CallContext, resource: &str, result: &str) {
        mutation::audit_refusal(self.pool(), self.journal(), context, resource, result).await;
    }
}

#[derive(sqlx::FromRow)]
struct DescendantRow {
    #[sqlx(flatten)]
    unit: UnitRow,
    depth: i32,
}

fn map_unit_write(
    result: std::result::Result<sqlx::postgres::PgQueryResult, sqlx::Error>,
) -> Result<u64> {
    match result {
        Ok(done) => Ok(done.rows_affected()),
        Err(error) if is_unique_violation(&error, "units_credit_code") => {
            Err(UnitsError::DuplicateCreditCode)
        }
        Err(error) => Err(error.into()),
    }
}

fn parent_missing(field: &str) -> UnitsError {
    UnitsError::invalid_field(FieldViolation::new(
        field,
        "PARENT_NOT_FOUND",
        format!("{field} names no unit that exists on that day"),
        format!("{field} 指定的上级单位在该日期不存在"),
    ))
}

fn parent_error(error: sqlx::Error, field: &str) -> UnitsError {
    if error
        .as_database_error()
        .is_some_and(|database_error| database_error.is_foreign_key_violation())
    {
        parent_missing(field)
    } else {
        error.into()
    }
}
