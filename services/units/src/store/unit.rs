//! Units: reads of the hierarchy on a day, and the changes of one unit (create, update, delete).

use super::*;

/// `GetUnit`'s statements, in order: the unit's lifetime (to choose the day shown when none is
/// asked), then the unit on that day (`$1` the day, `$2` the id). Public for the load benchmark,
/// whose baseline runs the very same SQL through pgbench.
pub const LIFETIME_SQL: &str = "SELECT valid_from, valid_until FROM units.units WHERE id = $1";

/// See [`LIFETIME_SQL`].
pub fn unit_on_day_sql() -> String {
    format!("{UNIT_SELECT} WHERE u.id = $2 AND {EXISTS_ON_DAY}")
}

/// A unit and its ancestors on a day (`$1` the day, `$2` the id), the unit first.
pub fn ancestry_sql() -> String {
    format!(
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
    )
}

/// Units below a unit on a day (`$1` the day, `$2` the unit, `$3` the depth limit or 0, after
/// the keyset position `$4`–`$6` when `$4` is not null, at most `$7`). The lateral subqueries
/// (kept apart by `OFFSET 0`) make each step an index lookup per unit found: joined plainly, a
/// tree with one parent of 15,000 children had the planner expect 100,000 descendants and
/// hash-join every unit, 98 ms where the lookups take 4 ms.
pub fn descendants_sql() -> String {
    format!(
        r#"WITH RECURSIVE tree (id, depth) AS (
             SELECT v.unit_id, 1 FROM units.unit_versions v
             WHERE v.parent_id = $2 AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
             UNION ALL
             SELECT child.unit_id, tree.depth + 1
             FROM tree CROSS JOIN LATERAL (
               SELECT v.unit_id FROM units.unit_versions v
               WHERE v.parent_id = tree.id AND v.valid_from <= $1 AND (v.valid_until IS NULL OR $1 < v.valid_until)
               OFFSET 0
             ) child
             WHERE ($3 = 0 OR tree.depth < $3) AND tree.depth < 64
           ),
           found AS (
             SELECT unit.*, tree.depth FROM tree CROSS JOIN LATERAL (
               {UNIT_SELECT} WHERE u.id = tree.id AND {EXISTS_ON_DAY} AND u.delete_time IS NULL
               OFFSET 0
             ) unit
           )
           SELECT found.* FROM found
           WHERE $4::int IS NULL
              OR found.depth > $4
              OR (found.depth = $4 AND found.display_name COLLATE "zh-Hans-x-icu" > $5)
              OR (found.depth = $4 AND found.display_name = $5 AND found.id > $6)
           ORDER BY found.depth, found.display_name COLLATE "zh-Hans-x-icu", found.id
           LIMIT $7"#
    )
}

impl Store {
    /// A unit as of a day, or without one on the day it is shown (today, or its last day if it
    /// ceased); soft-deleted units are found too (they say so). Both statements go over one
    /// pooled connection: each connection handed back costs sqlx a spawned task and a wake-up.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_unit"))]
    pub async fn get_unit(
        &self,
        id: &UnitId,
        as_of: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Option<Unit>> {
        let mut connection = self.reads().acquire().await?;
        let day = match as_of {
            Some(day) => day,
            None => {
                let lifetime: Option<(NaiveDate, Option<NaiveDate>)> = sqlx::query_as(LIFETIME_SQL)
                    .bind(id.as_str())
                    .fetch_optional(&mut connection)
                    .await?;
                match lifetime {
                    Some((valid_from, valid_until)) => showing_day(valid_from, valid_until, today),
                    None => return Ok(None),
                }
            }
        };
        let row: Option<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(unit_on_day_sql()))
            .bind(day)
            .bind(id.as_str())
            .fetch_optional(&mut connection)
            .await?;
        row.map(Unit::try_from).transpose()
    }

    /// Units matching a filter, in pinyin order of their names, after a keyset position.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_units"))]
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
        .fetch_all(self.reads())
        .await?;
        Ok(Page::from_overfetch(units_from(rows)?, page_size, |unit| {
            (unit.display_name.clone(), unit.id.as_str().to_owned())
        }))
    }

    /// The unit and its ancestors on a day, the unit first.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "ancestry"))]
    pub async fn ancestry(&self, id: &UnitId, as_of: NaiveDate) -> Result<Vec<Unit>> {
        let rows: Vec<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(ancestry_sql()))
            .bind(as_of)
            .bind(id.as_str())
            .fetch_all(self.reads())
            .await?;
        units_from(rows)
    }

    /// Ids of the unit and its ancestors on `today`, for authorisation.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "ancestry_ids"))]
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
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "descendants"))]
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
        let found: Vec<DescendantRow> = sqlx::query_as(sqlx::AssertSqlSafe(descendants_sql()))
            .bind(as_of)
            .bind(id.as_str())
            .bind(max_depth)
            .bind(after_depth)
            .bind(after_name)
            .bind(after_id)
            .bind(page_size + 1)
            .fetch_all(self.reads())
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
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_descendants"))]
    pub async fn all_descendants(&self, id: &UnitId, as_of: NaiveDate) -> Result<Vec<Descendant>> {
        Ok(self.descendants(id, as_of, 0, None, UNPAGED).await?.items)
    }

    /// Creates a unit existing from `valid_from`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "create_unit"))]
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
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "update_unit"))]
    pub async fn update_unit(
        &self,
        context: &CallContext,
        id: &UnitId,
        etag: &str,
        fields: &[UnitField],
        apply: impl FnOnce(&Unit) -> Result<ValidUnitFields>,
    ) -> Result<Unit> {
        let today = context.clock.today();
        self.mutate(
            context,
            &id.name(),
            async |transaction: &mut PgConnection| {
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
                let payload =
                    serde_json::json!({ "unit": json(&after)?, "changed_fields": changed });
                unit_change(&before, after, ("unit.updated", payload))
            },
        )
        .await
    }

    /// Soft-deletes a unit that has no live units below it.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "delete_unit"))]
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
            let payload = serde_json::json!({ "unit": id.name() });
            unit_change(&before, after, ("unit.deleted", payload))
        })
        .await
    }

    /// Live units with these ids on a day; a unit that ceased is replaced by its successors.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "units_or_successors"))]
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
        .fetch_all(self.reads())
        .await?;
        units_from(rows)
    }
}

/// Binds `$1`–`$9`: id, short name, aliases, kind, level, region code, credit code, tags, contacts.
pub(super) fn bind_unit_fields<'q>(
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "correct_unit"))]
pub(super) async fn correct_unit(
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

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_unit"))]
pub(super) async fn insert_unit(
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "start_version"))]
pub(super) async fn start_version(
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

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_unit"))]
pub(super) async fn lock_unit(transaction: &mut PgConnection, id: &UnitId) -> Result<()> {
    sqlx::query_scalar::<_, String>("SELECT id FROM units.units WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *transaction)
        .await?
        .map(|_| ())
        .ok_or_else(|| UnitsError::UnitNotFound(id.name()))
}

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "unit_in"))]
pub(super) async fn unit_in(
    transaction: &mut PgConnection,
    id: &UnitId,
    day: NaiveDate,
) -> Result<Unit> {
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "current_unit_in"))]
pub(super) async fn current_unit_in(
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

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "check_no_cycle"))]
pub(super) async fn check_no_cycle(
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

/// A live unit locked for a change at the caller's etag.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "unit_to_change"))]
pub(super) async fn unit_to_change(
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

/// A change of one unit, audited before and after, with its event; answers the unit as it is now.
fn unit_change(
    before: &Unit,
    after: Unit,
    (event_type, payload): (&'static str, serde_json::Value),
) -> Result<Outcome<Unit>> {
    Ok(Outcome {
        changes: vec![Change::of(after.id.name(), Some(before), Some(&after))?],
        events: vec![NewEvent {
            event_type,
            resource: after.id.name(),
            payload,
        }],
        response: after,
    })
}
