//! Registry files in bulk: set-based import (created, or corrected by id) and export.

use super::group::group_event;
use super::*;

impl Store {
    /// Imports units and groups in one transaction: created, or corrected by id. Set-based, so
    /// the statement count does not grow with the file (a province is tens of thousands of units).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "import"))]
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
                    "INSERT INTO units.unit_groups (id, display_name, aliases, definition, owner_id) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, aliases = EXCLUDED.aliases,
                         definition = EXCLUDED.definition, owner_id = EXCLUDED.owner_id, delete_time = NULL,
                         revision = units.unit_groups.revision + 1, update_time = now()
                     WHERE (units.unit_groups.display_name, units.unit_groups.aliases, units.unit_groups.definition,
                            units.unit_groups.owner_id, units.unit_groups.delete_time)
                           IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.aliases, EXCLUDED.definition,
                                             EXCLUDED.owner_id, NULL)
                     RETURNING (xmax = 0)",
                )
                .bind(group.id.as_str())
                .bind(&group.display_name)
                .bind(&group.aliases)
                .bind(json(&group.definition)?)
                .bind(group.owner.as_ref().map(UnitId::as_str))
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
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "export"))]
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
        .fetch_all(self.reads())
        .await?;
        let units = units_from(rows)?;
        let groups: Vec<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM units.unit_groups WHERE delete_time IS NULL ORDER BY id"
        )))
        .fetch_all(self.reads())
        .await?;
        let groups = groups
            .into_iter()
            .map(UnitGroup::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((units, groups))
    }
}

/// Columns of units to write, one array per column; list columns travel as JSON.
pub(super) struct UnitColumns<'a> {
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
pub(super) const IMPORT_ROWS: &str = "UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::date[])
       AS d (id, display_name, parent, short_name, aliases, kind, level, region_code, credit_code, tags,
             contacts, valid_from)";

pub(super) fn bind_columns<'q>(
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "check_import_parents"))]
pub(super) async fn check_import_parents(
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "correct_units"))]
pub(super) async fn correct_units(
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_units"))]
pub(super) async fn insert_units(
    transaction: &mut PgConnection,
    units: &[&ImportedUnit],
) -> Result<()> {
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
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "check_parents_alive"))]
pub(super) async fn check_parents_alive(
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

/// Units with their latest version, by id: the before- and after-images of an import.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "latest_units"))]
pub(super) async fn latest_units(
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
