//! Reorganisations (机构改革): sources cease or go on under a new version, successors recorded.

use super::unit::{
    check_no_cycle, current_unit_in, insert_unit, lock_unit, start_version, unit_in,
};
use super::*;

impl Store {
    /// Records a reorganisation and the units it creates, all from its effective date.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "reorganize"))]
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
                if reorganization.ends_sources() {
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
                } else {
                    if let Some(parent) = reorganization.moves_under() {
                        check_no_cycle(transaction, source, parent, day).await?;
                    }
                    start_version(transaction, source, day, reorganization).await?;
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
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_reorganizations"))]
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
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(Reorganization::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last| {
            (last.effective_date, last.id.as_str().to_owned())
        }))
    }
}
