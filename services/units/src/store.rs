//! All SQL of the units service. Every query is schema-qualified (`units.`); reads of the
//! hierarchy take a day and see the unit versions valid on it.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
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

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    display_name: String,
    aliases: Vec<String>,
    definition: serde_json::Value,
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

/// Postgres access for the unit registry.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    Ok(fazhi_platform::mutation::to_json(value)?)
}

/// A live unit locked for a change at the caller's etag.
async fn unit_to_change(
    transaction: &mut PgConnection,
    id: &UnitId,
    etag: &str,
    today: NaiveDate,
) -> Result<Unit> {
    lock_unit(transaction, id).await?;
    let before = current_unit_in(transaction, id, today).await?;
    if before.delete_time.is_some() {
        return Err(UnitsError::UnitNotFound(id.name()));
    }
    fazhi_platform::aip::check_etag(etag, before.revision)?;
    Ok(before)
}

fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    error.as_database_error().is_some_and(|database_error| {
        database_error.is_unique_violation() && database_error.constraint() == Some(constraint)
    })
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs a mutation of the registry (`fazhi_platform::mutation::run`): the request id is
    /// claimed (or its answer replayed) before `apply` looks at anything.
    async fn mutate<T: Serialize + DeserializeOwned>(
        &self,
        context: &CallContext,
        target: &str,
        apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome<T>>,
    ) -> Result<T> {
        mutation::run(
            &self.pool,
            SCHEMA,
            context,
            target,
            async || Ok(()),
            async |transaction, ()| apply(transaction).await,
        )
        .await
    }

    /// Records a refused call.
    pub async fn audit_refusal(&self, context: &CallContext, resource: &str, result: &str) {
        mutation::audit_refusal(&self.pool, SCHEMA, context, resource, result).await;
    }

    /// The first and last day of a unit, to pick the day a plain `GetUnit` shows.
    pub async fn lifetime(&self, id: &UnitId) -> Result<(NaiveDate, Option<NaiveDate>)> {
        sqlx::query_as("SELECT valid_from, valid_until FROM units.units WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| UnitsError::UnitNotFound(id.name()))
    }

    /// A unit as of a day; soft-deleted units are found too (they say so).
    pub async fn get_unit(&self, id: &UnitId, as_of: NaiveDate) -> Result<Option<Unit>> {
        let row: Option<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{UNIT_SELECT} WHERE u.id = $2 AND {EXISTS_ON_DAY}"
        )))
        .bind(as_of)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Unit::try_from).transpose()
    }

    /// Units matching a filter, in pinyin order of their names, after a keyset position.
    pub async fn list_units(
        &self,
        filter: &UnitFilter,
        after: Option<(String, String)>,
        page_size: i64,
    ) -> Result<Page<Unit, (String, String)>> {
        let (after_name, after_id) = after.unzip();
        let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"{UNIT_SELECT}
            WHERE {EXISTS_ON_DAY}
              AND ($2::text IS NULL OR v.parent_id = $2)
              AND ($3::text IS NULL OR u.kind = $3)
              AND ($4::text IS NULL OR $4 = ANY (u.tags))
              AND ($5::text IS NULL OR strpos(v.display_name, $5) > 0 OR strpos(u.short_name, $5) > 0
                   OR EXISTS (SELECT 1 FROM unnest(u.aliases) alias WHERE strpos(alias, $5) > 0))
              AND ($6 OR u.delete_time IS NULL)
              AND ($7::text IS NULL
                   OR v.display_name COLLATE "zh-Hans-x-icu" > $7
                   OR (v.display_name = $7 AND u.id > $8))
            ORDER BY v.display_name COLLATE "zh-Hans-x-icu", u.id
            LIMIT $9"#
        )))
        .bind(filter.as_of)
        .bind(filter.parent.as_ref().map(UnitId::as_str))
        .bind(filter.kind.map(UnitKind::as_str))
        .bind(&filter.tag)
        .bind(&filter.search)
        .bind(filter.show_deleted)
        .bind(after_name)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Page::from_overfetch(units_from(rows)?, page_size, |unit| {
            (unit.display_name.clone(), unit.id.as_str().to_owned())
        }))
    }

    /// The unit and its ancestors on a day, the unit first.
    pub async fn ancestry(&self, id: &UnitId, as_of: NaiveDate) -> Result<Vec<Unit>> {
        let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"WITH RECURSIVE chain (id, depth) AS (
                 SELECT $2::text, 0
                 UNION ALL
                 SELECT v.parent_id, chain.depth + 1
                 FROM chain JOIN units.unit_versions v
                   ON v.unit_id = chain.id AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
                 WHERE v.parent_id IS NOT NULL AND chain.depth < 64
               )
               {UNIT_SELECT} JOIN chain ON chain.id = u.id
               ORDER BY chain.depth"#
        )))
        .bind(as_of)
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        units_from(rows)
    }

    /// Ids of the unit and its ancestors on `today`, for authorisation.
    pub async fn ancestry_ids(&self, id: &UnitId, today: NaiveDate) -> Result<Vec<UnitId>> {
        Ok(self
            .ancestry(id, today)
            .await?
            .into_iter()
            .map(|unit| unit.id)
            .collect())
    }

    /// Units below a unit on a day, breadth first then by name, after a keyset position.
    /// `max_depth` 0 means no limit.
    pub async fn descendants(
        &self,
        id: &UnitId,
        as_of: NaiveDate,
        max_depth: i32,
        after: Option<(i32, String, String)>,
        page_size: i64,
    ) -> Result<Page<Descendant, (i32, String, String)>> {
        let (after_depth, after_name, after_id) = match after {
            Some((depth, name, id)) => (Some(depth), Some(name), Some(id)),
            None => (None, None, None),
        };
        let found: Vec<DescendantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"WITH RECURSIVE tree (id, depth) AS (
                 SELECT v.unit_id, 1 FROM units.unit_versions v
                 WHERE v.parent_id = $2 AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
                 UNION ALL
                 SELECT v.unit_id, tree.depth + 1
                 FROM tree JOIN units.unit_versions v
                   ON v.parent_id = tree.id AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
                 WHERE ($3 = 0 OR tree.depth < $3) AND tree.depth < 64
               ),
               found AS ({UNIT_SELECT} JOIN tree ON tree.id = u.id
                         WHERE {EXISTS_ON_DAY} AND u.delete_time IS NULL)
               SELECT found.*, tree.depth FROM found JOIN tree ON tree.id = found.id
               WHERE $4::int IS NULL
                  OR tree.depth > $4
                  OR (tree.depth = $4 AND found.display_name COLLATE "zh-Hans-x-icu" > $5)
                  OR (tree.depth = $4 AND found.display_name = $5 AND found.id > $6)
               ORDER BY tree.depth, found.display_name COLLATE "zh-Hans-x-icu", found.id
               LIMIT $7"#
        )))
        .bind(as_of)
        .bind(id.as_str())
        .bind(max_depth)
        .bind(after_depth)
        .bind(after_name)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = found
            .into_iter()
            .map(|row| {
                let depth = row.depth;
                Unit::try_from(row.unit).map(|unit| Descendant { unit, depth })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last| {
            (
                last.depth,
                last.unit.display_name.clone(),
                last.unit.id.as_str().to_owned(),
            )
        }))
    }

    /// Every unit below a unit on a day, in one read (for group rules and mention scopes).
    pub async fn all_descendants(&self, id: &UnitId, as_of: NaiveDate) -> Result<Vec<Descendant>> {
        Ok(self.descendants(id, as_of, 0, None, UNPAGED).await?.items)
    }

    /// Every live group, in one read.
    pub async fn all_groups(&self) -> Result<Vec<UnitGroup>> {
        Ok(self.list_groups(None, UNPAGED).await?.items)
    }

    /// Creates a unit existing from `valid_from`.
    pub async fn create_unit(
        &self,
        context: &CallContext,
        fields: &ValidUnitFields,
        valid_from: NaiveDate,
    ) -> Result<Unit> {
        self.mutate(
            context,
            &fields.id.name(),
            async |transaction: &mut PgConnection| {
                insert_unit(transaction, fields, valid_from).await?;
                let unit = unit_in(transaction, &fields.id, valid_from).await?;
                Ok(Outcome {
                    response: unit.clone(),
                    changes: vec![Change {
                        resource: unit.id.name(),
                        before: None,
                        after: Some(json(&unit)?),
                    }],
                    events: vec![NewEvent {
                        event_type: "unit.created",
                        resource: unit.id.name(),
                        payload: json(&unit)?,
                    }],
                })
            },
        )
        .await
    }

    /// Updates the fields `apply` computes from the current unit, checking the etag first.
    pub async fn update_unit(
        &self,
        context: &CallContext,
        id: &UnitId,
        etag: &str,
        fields: &[UnitField],
        apply: impl FnOnce(&Unit) -> Result<ValidUnitFields>,
    ) -> Result<Unit> {
        let today = context.clock.today();
        self.mutate(context, &id.name(), async |transaction: &mut PgConnection| {
        let before = unit_to_change(transaction, id, etag, today).await?;
        let after_fields = apply(&before)?;
        if after_fields.parent != before.parent
            && let Some(parent) = &after_fields.parent
        {
            check_no_cycle(transaction, id, parent, today).await?;
        }
        correct_unit(transaction, &after_fields, "unit.parent").await?;
        let after = current_unit_in(transaction, id, today).await?;
        let changed: Vec<&str> = fields.iter().map(|field| field.path()).collect();
        Ok(Outcome {
            response: after.clone(),
            changes: vec![Change {
                resource: id.name(),
                before: Some(json(&before)?),
                after: Some(json(&after)?),
            }],
            events: vec![NewEvent {
                event_type: "unit.updated",
                resource: id.name(),
                payload: serde_json::json!({ "unit": json(&after)?, "changed_fields": changed }),
            }],
        })
        })
        .await
    }

    /// Soft-deletes a unit that has no live units below it.
    pub async fn delete_unit(
        &self,
        context: &CallContext,
        id: &UnitId,
        etag: &str,
    ) -> Result<Unit> {
        let today = context.clock.today();
        self.mutate(context, &id.name(), async |transaction: &mut PgConnection| {
        let before = unit_to_change(transaction, id, etag, today).await?;
        let has_children: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM units.unit_versions v JOIN units.units u ON u.id = v.unit_id
                            WHERE v.parent_id = $1 AND u.delete_time IS NULL AND u.valid_until IS NULL)",
        )
        .bind(id.as_str())
        .fetch_one(&mut *transaction)
        .await?;
        if has_children {
            return Err(UnitsError::HasChildren(id.name()));
        }
        sqlx::query("UPDATE units.units SET delete_time = now(), revision = revision + 1, update_time = now() WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *transaction)
            .await?;
        let after = current_unit_in(transaction, id, today).await?;
        Ok(Outcome {
            response: after.clone(),
            changes: vec![Change {
                resource: id.name(),
                before: Some(json(&before)?),
                after: Some(json(&after)?),
            }],
            events: vec![NewEvent {
                event_type: "unit.deleted",
                resource: id.name(),
                payload: serde_json::json!({ "unit": id.name() }),
            }],
        })
        })
        .await
    }

    /// Records a reorganisation and the units it creates, all from its effective date.
    pub async fn reorganize(
        &self,
        context: &CallContext,
        reorganization: &Reorganization,
        new_units: &[ValidUnitFields],
    ) -> Result<(Reorganization, Vec<Unit>)> {
        self.mutate(context, &reorganization.id.name(), async |transaction: &mut PgConnection| {
        let day = reorganization.effective_date;
        let mut changes = Vec::new();
        for source in &reorganization.source_units {
            lock_unit(transaction, source).await?;
            let unit = current_unit_in(transaction, source, day).await?;
            if unit.valid_from >= day
                || unit.valid_until.is_some_and(|until| until <= day)
                || unit.delete_time.is_some()
            {
                return Err(UnitsError::UnitNotActive(source.name(), day));
            }
            changes.push(Change {
                resource: source.name(),
                before: Some(json(&unit)?),
                after: None,
            });
        }
        for fields in new_units {
            insert_unit(transaction, fields, day).await?;
        }
        for successor in &reorganization.successor_units {
            let unit = unit_in(transaction, successor, day).await;
            if unit.is_err() {
                return Err(UnitsError::UnitNotActive(successor.name(), day));
            }
        }
        sqlx::query(
            "INSERT INTO units.reorganizations
               (id, kind, effective_date, source_units, successor_units, new_display_name, new_parent, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(reorganization.id.as_str())
        .bind(reorganization.kind.as_str())
        .bind(day)
        .bind(reorganization.source_units.iter().map(UnitId::as_str).collect::<Vec<_>>())
        .bind(reorganization.successor_units.iter().map(UnitId::as_str).collect::<Vec<_>>())
        .bind(&reorganization.new_display_name)
        .bind(reorganization.new_parent.as_ref().map(UnitId::as_str))
        .bind(&reorganization.note)
        .execute(&mut *transaction)
        .await
        .map_err(|error| parent_error(error, "reorganization.new_parent"))?;
        for source in &reorganization.source_units {
            match reorganization.kind {
                ReorganizationKind::Merge
                | ReorganizationKind::Split
                | ReorganizationKind::Abolish => {
                    sqlx::query("UPDATE units.units SET valid_until = $2, revision = revision + 1, update_time = now() WHERE id = $1")
                        .bind(source.as_str())
                        .bind(day)
                        .execute(&mut *transaction)
                        .await?;
                    for successor in &reorganization.successor_units {
                        sqlx::query(
                            "INSERT INTO units.successions (predecessor_id, successor_id, effective_date, reorganization_id)
                             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        )
                        .bind(source.as_str())
                        .bind(successor.as_str())
                        .bind(day)
                        .bind(reorganization.id.as_str())
                        .execute(&mut *transaction)
                        .await?;
                    }
                }
                ReorganizationKind::Rename | ReorganizationKind::Move => {
                    if let (ReorganizationKind::Move, Some(parent)) =
                        (reorganization.kind, &reorganization.new_parent)
                    {
                        check_no_cycle(transaction, source, parent, day).await?;
                    }
                    start_version(transaction, source, day, reorganization).await?;
                }
            }
        }
        let mut created = Vec::new();
        for fields in new_units {
            created.push(unit_in(transaction, &fields.id, day).await?);
        }
        for change in &mut changes {
            let id = UnitId::from_trusted(change.resource.trim_start_matches("units/").to_owned());
            change.after = Some(json(&current_unit_in(transaction, &id, day).await?)?);
        }
        let stored: Reorganization = sqlx::query_as::<_, ReorganizationRow>(
            "SELECT * FROM units.reorganizations WHERE id = $1",
        )
        .bind(reorganization.id.as_str())
        .fetch_one(&mut *transaction)
        .await?
        .try_into()?;
        let outcome = (stored, created);
        Ok(Outcome {
            response: outcome.clone(),
            changes,
            events: vec![NewEvent {
                event_type: "units.reorganized",
                resource: outcome.0.id.name(),
                payload: json(&outcome.0)?,
            }],
        })
        })
        .await
    }

    /// Reorganisations touching a unit (or all), newest effective date first.
    pub async fn list_reorganizations(
        &self,
        unit: Option<&UnitId>,
        after: Option<(NaiveDate, String)>,
        page_size: i64,
    ) -> Result<Page<Reorganization, (NaiveDate, String)>> {
        let (after_date, after_id) = after.unzip();
        let rows: Vec<ReorganizationRow> = sqlx::query_as(
            "SELECT * FROM units.reorganizations
             WHERE ($1::text IS NULL OR $1 = ANY (source_units) OR $1 = ANY (successor_units))
               AND ($2::date IS NULL OR effective_date < $2 OR (effective_date = $2 AND id > $3))
             ORDER BY effective_date DESC, id
             LIMIT $4",
        )
        .bind(unit.map(UnitId::as_str))
        .bind(after_date)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(Reorganization::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last| {
            (last.effective_date, last.id.as_str().to_owned())
        }))
    }

    pub async fn create_group(&self, context: &CallContext, group: &NewGroup) -> Result<UnitGroup> {
        self.mutate(context, &group.id.name(), async |transaction: &mut PgConnection| {
        let inserted = sqlx::query(
            "INSERT INTO units.unit_groups (id, display_name, aliases, definition) VALUES ($1, $2, $3, $4)",
        )
        .bind(group.id.as_str())
        .bind(&group.display_name)
        .bind(&group.aliases)
        .bind(json(&group.definition)?)
        .execute(&mut *transaction)
        .await;
        if let Err(error) = inserted {
            return Err(if is_unique_violation(&error, "unit_groups_pkey") {
                PlatformError::AlreadyExists(group.id.name()).into()
            } else {
                error.into()
            });
        }
        let stored = group_in(transaction, &group.id).await?;
        Ok(Outcome {
            response: stored.clone(),
            changes: vec![Change {
                resource: stored.id.name(),
                before: None,
                after: Some(json(&stored)?),
            }],
            events: vec![group_event(&stored.id, false)],
        })
        })
        .await
    }

    pub async fn get_group(&self, id: &UnitGroupId) -> Result<UnitGroup> {
        let mut connection = self.pool.acquire().await?;
        group_in(&mut connection, id).await
    }

    /// Every live group, by id.
    pub async fn list_groups(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<UnitGroup, String>> {
        let rows: Vec<GroupRow> = sqlx::query_as(
            "SELECT id, display_name, aliases, definition, revision, create_time, update_time
             FROM units.unit_groups WHERE delete_time IS NULL AND ($1::text IS NULL OR id > $1)
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(UnitGroup::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last| {
            last.id.as_str().to_owned()
        }))
    }

    pub async fn delete_group(
        &self,
        context: &CallContext,
        id: &UnitGroupId,
        etag: &str,
    ) -> Result<()> {
        self.mutate(context, &id.name(), async |transaction: &mut PgConnection| {
        let before = group_in(transaction, id).await?;
        fazhi_platform::aip::check_etag(etag, before.revision)?;
        sqlx::query("UPDATE units.unit_groups SET delete_time = now(), revision = revision + 1 WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *transaction)
            .await?;
        Ok(Outcome {
            response: (),
            changes: vec![Change {
                resource: id.name(),
                before: Some(json(&before)?),
                after: None,
            }],
            events: vec![group_event(id, true)],
        })
        })
        .await
    }

    /// Live units with these ids on a day; a unit that ceased is replaced by its successors.
    pub async fn units_or_successors(&self, ids: &[UnitId], as_of: NaiveDate) -> Result<Vec<Unit>> {
        let ids: Vec<&str> = ids.iter().map(UnitId::as_str).collect();
        let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"WITH wanted AS (
                 SELECT id FROM units.units WHERE id = ANY ($2) AND valid_from <= $1 AND (valid_until IS NULL OR $1 < valid_until)
                 UNION
                 SELECT s.successor_id FROM units.successions s WHERE s.predecessor_id = ANY ($2) AND s.effective_date <= $1
               )
               {UNIT_SELECT} WHERE u.id IN (SELECT id FROM wanted) AND {EXISTS_ON_DAY} AND u.delete_time IS NULL
               ORDER BY v.display_name COLLATE "zh-Hans-x-icu", u.id"#
        )))
        .bind(as_of)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        units_from(rows)
    }

    /// Imports units and groups in one transaction: created, or corrected by id. Set-based, so
    /// the statement count does not grow with the file (a province is tens of thousands of units).
    pub async fn import(
        &self,
        context: &CallContext,
        units: &[ImportedUnit],
        groups: &[NewGroup],
    ) -> Result<ImportCounts> {
        self.mutate(context, "units", async |transaction: &mut PgConnection| {
        let ids: Vec<&str> = units.iter().map(|unit| unit.fields.id.as_str()).collect();
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM units.units WHERE id = ANY ($1) ORDER BY id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *transaction)
        .await?;
        let existing: std::collections::HashSet<&str> =
            existing.iter().map(String::as_str).collect();
        let (known, new): (Vec<&ImportedUnit>, Vec<&ImportedUnit>) = units
            .iter()
            .partition(|unit| existing.contains(unit.fields.id.as_str()));
        check_import_parents(transaction, units).await?;
        let known_ids: Vec<&str> = known.iter().map(|unit| unit.fields.id.as_str()).collect();
        let before_images = latest_units(transaction, &known_ids).await?;
        let corrected = correct_units(transaction, &known).await?;
        insert_units(transaction, &new).await?;
        check_parents_alive(transaction, &new).await?;

        let new_ids: Vec<&str> = new.iter().map(|unit| unit.fields.id.as_str()).collect();
        let created: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{UNIT_AS_CREATED} JOIN UNNEST($1::text[]) WITH ORDINALITY AS wanted (id, position) ON wanted.id = u.id
             ORDER BY wanted.position"
        )))
        .bind(&new_ids)
        .fetch_all(&mut *transaction)
        .await?;
        let created = units_from(created)?;
        let mut counts = ImportCounts {
            units_created: created.len() as i32,
            units_updated: corrected.len() as i32,
            ..ImportCounts::default()
        };
        let mut changes = created
            .iter()
            .map(|unit| Change::of::<Unit, Unit>(unit.id.name(), None, Some(unit)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut events = created
            .iter()
            .map(|unit| {
                Ok(NewEvent {
                    event_type: "unit.created",
                    resource: unit.id.name(),
                    payload: json(unit)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let corrected_ids: Vec<&str> = corrected.iter().map(String::as_str).collect();
        let after_images = latest_units(transaction, &corrected_ids).await?;
        for id in &corrected_ids {
            changes.push(Change::of(
                format!("units/{id}"),
                before_images.get(*id),
                after_images.get(*id),
            )?);
        }
        for group in groups {
            let outcome: Option<bool> = sqlx::query_scalar(
                "INSERT INTO units.unit_groups (id, display_name, aliases, definition) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, aliases = EXCLUDED.aliases,
                     definition = EXCLUDED.definition, delete_time = NULL,
                     revision = units.unit_groups.revision + 1, update_time = now()
                 WHERE (units.unit_groups.display_name, units.unit_groups.aliases, units.unit_groups.definition,
                        units.unit_groups.delete_time)
                       IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.aliases, EXCLUDED.definition, NULL)
                 RETURNING (xmax = 0)",
            )
            .bind(group.id.as_str())
            .bind(&group.display_name)
            .bind(&group.aliases)
            .bind(json(&group.definition)?)
            .fetch_optional(&mut *transaction)
            .await?;
            match outcome {
                Some(true) => counts.groups_created += 1,
                Some(false) => counts.groups_updated += 1,
                None => continue,
            }
            changes.push(Change {
                resource: group.id.name(),
                before: None,
                after: Some(json(&group.definition)?),
            });
            events.push(group_event(&group.id, false));
        }
        Ok(Outcome {
            response: counts,
            changes,
            events,
        })
        })
        .await
    }

    /// Every live unit as it stands today, parents before children, and every live group.
    pub async fn export(&self, today: NaiveDate) -> Result<(Vec<Unit>, Vec<UnitGroup>)> {
        let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"WITH RECURSIVE depth (id, depth) AS (
                 SELECT v.unit_id, 0 FROM units.unit_versions v
                 WHERE v.parent_id IS NULL AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
                 UNION ALL
                 SELECT v.unit_id, depth.depth + 1 FROM depth JOIN units.unit_versions v
                   ON v.parent_id = depth.id AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
                 WHERE depth.depth < 64
               )
               {UNIT_SELECT} JOIN depth ON depth.id = u.id
               WHERE {EXISTS_ON_DAY} AND u.delete_time IS NULL
               ORDER BY depth.depth, v.display_name COLLATE "zh-Hans-x-icu", u.id"#
        )))
        .bind(today)
        .fetch_all(&self.pool)
        .await?;
        let units = units_from(rows)?;
        let groups: Vec<GroupRow> = sqlx::query_as(
            "SELECT id, display_name, aliases, definition, revision, create_time, update_time
             FROM units.unit_groups WHERE delete_time IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let groups = groups
            .into_iter()
            .map(UnitGroup::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((units, groups))
    }
}

#[derive(sqlx::FromRow)]
struct DescendantRow {
    #[sqlx(flatten)]
    unit: UnitRow,
    depth: i32,
}

fn group_event(id: &UnitGroupId, deleted: bool) -> NewEvent {
    NewEvent {
        event_type: "unit_group.changed",
        resource: id.name(),
        payload: serde_json::json!({ "unit_group": id.name(), "deleted": deleted }),
    }
}

async fn group_in(executor: &mut sqlx::PgConnection, id: &UnitGroupId) -> Result<UnitGroup> {
    let row: Option<GroupRow> = sqlx::query_as(
        "SELECT id, display_name, aliases, definition, revision, create_time, update_time
         FROM units.unit_groups WHERE id = $1 AND delete_time IS NULL",
    )
    .bind(id.as_str())
    .fetch_optional(executor)
    .await?;
    row.ok_or_else(|| UnitsError::GroupNotFound(id.name()))?
        .try_into()
}

/// Binds `$1`–`$9`: id, short name, aliases, kind, level, region code, credit code, tags, contacts.
fn bind_unit_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    fields: &'q ValidUnitFields,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(fields.id.as_str())
        .bind(&fields.short_name)
        .bind(&fields.aliases)
        .bind(fields.kind.as_str())
        .bind(fields.level.as_str())
        .bind(fields.region_code.as_ref().map(RegionCode::as_str))
        .bind(fields.credit_code.as_ref().map(|code| code.as_str()))
        .bind(&fields.tags)
        .bind(Json(&fields.contacts))
}

/// Corrects a unit in place: its fields, and its latest version's name and parent. Bumps the
/// revision only when something changed; says whether it did.
async fn correct_unit(
    transaction: &mut PgConnection,
    fields: &ValidUnitFields,
    parent_field: &str,
) -> Result<bool> {
    let version_changed = sqlx::query(
        "UPDATE units.unit_versions SET display_name = $2, parent_id = $3
         WHERE unit_id = $1 AND valid_from = (SELECT max(valid_from) FROM units.unit_versions WHERE unit_id = $1)
           AND (display_name, parent_id) IS DISTINCT FROM ($2, $3)",
    )
    .bind(fields.id.as_str())
    .bind(&fields.display_name)
    .bind(fields.parent.as_ref().map(UnitId::as_str))
    .execute(&mut *transaction)
    .await
    .map_err(|error| parent_error(error, parent_field))?
    .rows_affected()
        > 0;
    let updated = bind_unit_fields(
        sqlx::query(
            "UPDATE units.units SET short_name = $2, aliases = $3, kind = $4, level = $5, region_code = $6,
             credit_code = $7, tags = $8, contacts = $9, delete_time = NULL,
             revision = revision + 1, update_time = now()
         WHERE id = $1
           AND ($10 OR delete_time IS NOT NULL
                OR (short_name, aliases, kind, level, region_code, credit_code, tags, contacts)
                       IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8, $9))",
        ),
        fields,
    )
    .bind(version_changed)
    .execute(&mut *transaction)
    .await;
    Ok(map_unit_write(updated)? > 0)
}

/// Columns of units to write, one array per column; list columns travel as JSON.
struct UnitColumns<'a> {
    ids: Vec<&'a str>,
    display_names: Vec<&'a str>,
    parents: Vec<Option<&'a str>>,
    short_names: Vec<&'a str>,
    aliases: Vec<Json<&'a Vec<String>>>,
    kinds: Vec<&'static str>,
    levels: Vec<&'static str>,
    region_codes: Vec<Option<&'a str>>,
    credit_codes: Vec<Option<&'a str>>,
    tags: Vec<Json<&'a Vec<String>>>,
    contacts: Vec<Json<&'a Vec<Contact>>>,
    valid_froms: Vec<NaiveDate>,
}

impl<'a> UnitColumns<'a> {
    fn of(units: &[&'a ImportedUnit]) -> Self {
        let fields = || units.iter().map(|unit| &unit.fields);
        Self {
            ids: fields().map(|unit| unit.id.as_str()).collect(),
            display_names: fields().map(|unit| unit.display_name.as_str()).collect(),
            parents: fields()
                .map(|unit| unit.parent.as_ref().map(UnitId::as_str))
                .collect(),
            short_names: fields().map(|unit| unit.short_name.as_str()).collect(),
            aliases: fields().map(|unit| Json(&unit.aliases)).collect(),
            kinds: fields().map(|unit| unit.kind.as_str()).collect(),
            levels: fields().map(|unit| unit.level.as_str()).collect(),
            region_codes: fields()
                .map(|unit| unit.region_code.as_ref().map(RegionCode::as_str))
                .collect(),
            credit_codes: fields()
                .map(|unit| unit.credit_code.as_ref().map(|code| code.as_str()))
                .collect(),
            tags: fields().map(|unit| Json(&unit.tags)).collect(),
            contacts: fields().map(|unit| Json(&unit.contacts)).collect(),
            valid_froms: units.iter().map(|unit| unit.valid_from).collect(),
        }
    }
}

/// The rows of a [`UnitColumns`] as a relation `d`, for `FROM`.
const IMPORT_ROWS: &str = "UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::date[])
       AS d (id, display_name, parent, short_name, aliases, kind, level, region_code, credit_code, tags,
             contacts, valid_from)";

fn bind_columns<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    columns: &'q UnitColumns<'q>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&columns.ids)
        .bind(&columns.display_names)
        .bind(&columns.parents)
        .bind(&columns.short_names)
        .bind(&columns.aliases)
        .bind(&columns.kinds)
        .bind(&columns.levels)
        .bind(&columns.region_codes)
        .bind(&columns.credit_codes)
        .bind(&columns.tags)
        .bind(&columns.contacts)
        .bind(&columns.valid_froms)
}

/// Refuses parents that are neither in the file nor registered, naming the unit.
async fn check_import_parents(
    transaction: &mut PgConnection,
    units: &[ImportedUnit],
) -> Result<()> {
    let in_file: std::collections::HashSet<&str> =
        units.iter().map(|unit| unit.fields.id.as_str()).collect();
    let outside: Vec<&str> = units
        .iter()
        .filter_map(|unit| unit.fields.parent.as_ref().map(UnitId::as_str))
        .filter(|parent| !in_file.contains(parent))
        .collect();
    let registered: Vec<String> =
        sqlx::query_scalar("SELECT id FROM units.units WHERE id = ANY ($1)")
            .bind(&outside)
            .fetch_all(&mut *transaction)
            .await?;
    let missing = units.iter().find(|unit| {
        unit.fields.parent.as_ref().is_some_and(|parent| {
            !in_file.contains(parent.as_str()) && !registered.iter().any(|id| id == parent.as_str())
        })
    });
    match missing {
        Some(unit) => Err(UnitsError::BadRegistry {
            location: format!("units ({})", unit.fields.id),
            message: "parent is neither in the file nor registered".to_owned(),
        }),
        None => Ok(()),
    }
}

/// Corrects registered units from the file in two statements; answers the ids that changed.
async fn correct_units(
    transaction: &mut PgConnection,
    units: &[&ImportedUnit],
) -> Result<std::collections::HashSet<String>> {
    let columns = UnitColumns::of(units);
    let versions_changed: Vec<String> = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE units.unit_versions v SET display_name = d.display_name, parent_id = d.parent
             FROM {IMPORT_ROWS}
             WHERE v.unit_id = d.id
               AND v.valid_from = (SELECT max(valid_from) FROM units.unit_versions latest WHERE latest.unit_id = d.id)
               AND (v.display_name, v.parent_id) IS DISTINCT FROM (d.display_name, d.parent)
             RETURNING v.unit_id"
        ))),
        &columns,
    )
    .fetch_all(&mut *transaction)
    .await?
    .iter()
    .map(|row| row.get::<String, _>(0))
    .collect();
    let changed = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE units.units u SET short_name = d.short_name,
                 aliases = ARRAY(SELECT jsonb_array_elements_text(d.aliases)), kind = d.kind, level = d.level,
                 region_code = d.region_code, credit_code = d.credit_code,
                 tags = ARRAY(SELECT jsonb_array_elements_text(d.tags)), contacts = d.contacts,
                 delete_time = NULL, revision = u.revision + 1, update_time = now()
             FROM {IMPORT_ROWS}
             WHERE u.id = d.id
               AND (u.id = ANY ($13) OR u.delete_time IS NOT NULL
                    OR (u.short_name, to_jsonb(u.aliases), u.kind, u.level, u.region_code, u.credit_code,
                        to_jsonb(u.tags), u.contacts)
                       IS DISTINCT FROM (d.short_name, d.aliases, d.kind, d.level, d.region_code, d.credit_code,
                                         d.tags, d.contacts))
             RETURNING u.id"
        ))),
        &columns,
    )
    .bind(&versions_changed)
    .fetch_all(&mut *transaction)
    .await;
    match changed {
        Ok(rows) => Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect()),
        Err(error) if is_unique_violation(&error, "units_credit_code") => {
            Err(UnitsError::DuplicateCreditCode)
        }
        Err(error) => Err(error.into()),
    }
}

/// Inserts new units and their first versions, two statements for any number.
async fn insert_units(transaction: &mut PgConnection, units: &[&ImportedUnit]) -> Result<()> {
    let columns = UnitColumns::of(units);
    let inserted = bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO units.units (id, short_name, aliases, kind, level, region_code, credit_code, tags, contacts, valid_from)
             SELECT d.id, d.short_name, ARRAY(SELECT jsonb_array_elements_text(d.aliases)), d.kind, d.level,
                    d.region_code, d.credit_code, ARRAY(SELECT jsonb_array_elements_text(d.tags)), d.contacts, d.valid_from
             FROM {IMPORT_ROWS}"
        ))),
        &columns,
    )
    .execute(&mut *transaction)
    .await;
    map_unit_write(inserted)?;
    // Foreign keys are checked at the end of the statement, so children may precede parents.
    bind_columns(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO units.unit_versions (unit_id, valid_from, display_name, parent_id)
             SELECT d.id, d.valid_from, d.display_name, d.parent FROM {IMPORT_ROWS}"
        ))),
        &columns,
    )
    .execute(&mut *transaction)
    .await
    .map_err(|error| parent_error(error, "units.parent"))?;
    Ok(())
}

/// Refuses new units whose parent does not exist on the unit's first day.
async fn check_parents_alive(
    transaction: &mut PgConnection,
    units: &[&ImportedUnit],
) -> Result<()> {
    let ids: Vec<&str> = units.iter().map(|unit| unit.fields.id.as_str()).collect();
    let orphan: Option<String> = sqlx::query_scalar(
        "SELECT child.id FROM units.units child
         JOIN units.unit_versions v ON v.unit_id = child.id AND v.valid_from = child.valid_from
         JOIN units.units parent ON parent.id = v.parent_id
         WHERE child.id = ANY ($1)
           AND (parent.delete_time IS NOT NULL OR parent.valid_from > child.valid_from
                OR (parent.valid_until IS NOT NULL AND parent.valid_until <= child.valid_from))
         LIMIT 1",
    )
    .bind(&ids)
    .fetch_optional(&mut *transaction)
    .await?;
    match orphan {
        Some(id) => Err(UnitsError::BadRegistry {
            location: format!("units ({id})"),
            message: "its parent does not exist on the unit's valid_from".to_owned(),
        }),
        None => Ok(()),
    }
}

async fn insert_unit(
    transaction: &mut PgConnection,
    fields: &ValidUnitFields,
    valid_from: NaiveDate,
) -> Result<()> {
    let inserted = bind_unit_fields(
        sqlx::query(
            "INSERT INTO units.units (id, short_name, aliases, kind, level, region_code, credit_code, tags, contacts, valid_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        ),
        fields,
    )
    .bind(valid_from)
    .execute(&mut *transaction)
    .await;
    if let Err(error) = &inserted
        && is_unique_violation(error, "units_pkey")
    {
        return Err(PlatformError::AlreadyExists(fields.id.name()).into());
    }
    map_unit_write(inserted)?;
    if let Some(parent) = &fields.parent {
        let parent_exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM units.units WHERE id = $1 AND delete_time IS NULL
                            AND valid_from <= $2 AND (valid_until IS NULL OR $2 < valid_until))",
        )
        .bind(parent.as_str())
        .bind(valid_from)
        .fetch_one(&mut *transaction)
        .await?;
        if !parent_exists {
            return Err(parent_missing("unit.parent"));
        }
    }
    sqlx::query("INSERT INTO units.unit_versions (unit_id, valid_from, display_name, parent_id) VALUES ($1, $2, $3, $4)")
        .bind(fields.id.as_str())
        .bind(valid_from)
        .bind(&fields.display_name)
        .bind(fields.parent.as_ref().map(UnitId::as_str))
        .execute(&mut *transaction)
        .await?;
    Ok(())
}

/// Closes the version valid on `day` and opens one with the rename or move applied.
async fn start_version(
    transaction: &mut PgConnection,
    id: &UnitId,
    day: NaiveDate,
    reorganization: &Reorganization,
) -> Result<()> {
    let current = unit_in(transaction, id, day).await?;
    let display_name = if reorganization.kind == ReorganizationKind::Rename {
        crate::domain::mentions::normalize(&reorganization.new_display_name)
    } else {
        current.display_name.clone()
    };
    let parent = if reorganization.kind == ReorganizationKind::Move {
        reorganization.new_parent.clone()
    } else {
        current.parent.clone()
    };
    let closed = sqlx::query(
        "UPDATE units.unit_versions SET valid_until = $2
         WHERE unit_id = $1 AND valid_from < $2 AND (valid_until IS NULL OR $2 < valid_until)
         RETURNING valid_until",
    )
    .bind(id.as_str())
    .bind(day)
    .fetch_optional(&mut *transaction)
    .await?;
    if closed.is_none() {
        return Err(UnitsError::UnitNotActive(id.name(), day));
    }
    // The new version runs until the next recorded version, if a later change was entered first.
    sqlx::query(
        "INSERT INTO units.unit_versions (unit_id, valid_from, valid_until, display_name, parent_id)
         VALUES ($1, $2, (SELECT min(valid_from) FROM units.unit_versions WHERE unit_id = $1 AND valid_from > $2), $3, $4)",
    )
    .bind(id.as_str())
    .bind(day)
    .bind(&display_name)
    .bind(parent.as_ref().map(UnitId::as_str))
    .execute(&mut *transaction)
    .await
    .map_err(|error| parent_error(error, "reorganization.new_parent"))?;
    sqlx::query(
        "UPDATE units.units SET revision = revision + 1, update_time = now() WHERE id = $1",
    )
    .bind(id.as_str())
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// Units with their latest version, by id: the before- and after-images of an import.
async fn latest_units(
    transaction: &mut PgConnection,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, Unit>> {
    let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UNIT_LATEST} WHERE u.id = ANY ($1)"
    )))
    .bind(ids)
    .fetch_all(&mut *transaction)
    .await?;
    Ok(units_from(rows)?
        .into_iter()
        .map(|unit| (unit.id.as_str().to_owned(), unit))
        .collect())
}

async fn lock_unit(transaction: &mut PgConnection, id: &UnitId) -> Result<()> {
    sqlx::query_scalar::<_, String>("SELECT id FROM units.units WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *transaction)
        .await?
        .map(|_| ())
        .ok_or_else(|| UnitsError::UnitNotFound(id.name()))
}

async fn unit_in(transaction: &mut PgConnection, id: &UnitId, day: NaiveDate) -> Result<Unit> {
    let row: Option<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UNIT_SELECT} WHERE u.id = $2"
    )))
    .bind(day)
    .bind(id.as_str())
    .fetch_optional(&mut *transaction)
    .await?;
    row.ok_or_else(|| UnitsError::UnitNotFound(id.name()))?
        .try_into()
}

/// The unit on `day`, or on its last day if it ceased before, or its first if it starts later.
async fn current_unit_in(
    transaction: &mut PgConnection,
    id: &UnitId,
    day: NaiveDate,
) -> Result<Unit> {
    let (valid_from, valid_until): (NaiveDate, Option<NaiveDate>) =
        sqlx::query_as("SELECT valid_from, valid_until FROM units.units WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *transaction)
            .await?
            .ok_or_else(|| UnitsError::UnitNotFound(id.name()))?;
    unit_in(transaction, id, showing_day(valid_from, valid_until, day)).await
}

async fn check_no_cycle(
    transaction: &mut PgConnection,
    id: &UnitId,
    new_parent: &UnitId,
    day: NaiveDate,
) -> Result<()> {
    let cycle: bool = sqlx::query_scalar(
        "WITH RECURSIVE chain (id, depth) AS (
           SELECT $2::text, 0
           UNION ALL
           SELECT v.parent_id, chain.depth + 1 FROM chain JOIN units.unit_versions v
             ON v.unit_id = chain.id AND v.valid_from <= $3 AND (v.valid_until IS NULL OR $3 < v.valid_until)
           WHERE v.parent_id IS NOT NULL AND chain.depth < 64
         )
         SELECT EXISTS (SELECT 1 FROM chain WHERE id = $1)",
    )
    .bind(id.as_str())
    .bind(new_parent.as_str())
    .bind(day)
    .fetch_one(&mut *transaction)
    .await?;
    if cycle {
        return Err(UnitsError::HierarchyCycle(id.name(), new_parent.name()));
    }
    Ok(())
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
