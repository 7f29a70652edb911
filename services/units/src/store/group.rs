//! Unit groups (单位组): static lists and rules, as plans name them.

use super::*;

/// Live groups in id order after `$1` (when not null), at most `$2`.
pub fn groups_sql() -> String {
    format!(
        "SELECT {GROUP_COLUMNS} FROM units.unit_groups
         WHERE delete_time IS NULL AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2"
    )
}

impl Store {
    /// Every live group, in one read.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_groups"))]
    pub async fn all_groups(&self) -> Result<Vec<UnitGroup>> {
        Ok(self.list_groups(None, UNPAGED).await?.items)
    }

    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "create_group"))]
    pub async fn create_group(
        &self,
        context: &CallContext,
        group: &NewGroup,
        authorise: impl AsyncFnOnce() -> Result<()>,
    ) -> Result<UnitGroup> {
        self.mutate_authorised(
            context,
            &group.id.name(),
            authorise,
            async |transaction: &mut PgConnection| {
                let inserted = sqlx::query(
                "INSERT INTO units.unit_groups (id, display_name, aliases, definition, owner_id)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(group.id.as_str())
            .bind(&group.display_name)
            .bind(&group.aliases)
            .bind(json(&group.definition)?)
            .bind(group.owner.as_ref().map(UnitId::as_str))
            .execute(&mut *transaction)
            .await;
                if let Err(error) = inserted {
                    return Err(if is_unique_violation(&error, "unit_groups_pkey") {
                        PlatformError::AlreadyExists(group.id.name()).into()
                    } else {
                        error.into()
                    });
                }
                let stored = group_in(&mut *transaction, &group.id).await?;
                Ok(Outcome {
                    response: stored.clone(),
                    changes: vec![Change {
                        resource: stored.id.name(),
                        before: None,
                        after: Some(json(&stored)?),
                    }],
                    events: vec![group_event(&stored.id, false)],
                })
            },
        )
        .await
    }

    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_group"))]
    pub async fn get_group(&self, id: &UnitGroupId) -> Result<UnitGroup> {
        group_in(self.reads(), id).await
    }

    /// Every live group, by id.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_groups"))]
    pub async fn list_groups(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<UnitGroup, String>> {
        let rows: Vec<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(groups_sql()))
            .bind(after)
            .bind(page_size + 1)
            .fetch_all(self.reads())
            .await?;
        let items = rows
            .into_iter()
            .map(UnitGroup::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last| {
            last.id.as_str().to_owned()
        }))
    }

    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "delete_group"))]
    pub async fn delete_group(
        &self,
        context: &CallContext,
        id: &UnitGroupId,
        etag: &str,
        authorise: impl AsyncFnOnce() -> Result<()>,
    ) -> Result<()> {
        self.mutate_authorised(context, &id.name(), authorise, async |transaction: &mut PgConnection| {
            let before = group_in(&mut *transaction, id).await?;
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
}

pub(super) fn group_event(id: &UnitGroupId, deleted: bool) -> NewEvent {
    NewEvent {
        event_type: "unit_group.changed",
        resource: id.name(),
        payload: serde_json::json!({ "unit_group": id.name(), "deleted": deleted }),
    }
}

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "group_in"))]
pub(super) async fn group_in<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    id: &UnitGroupId,
) -> Result<UnitGroup> {
    let row: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GROUP_COLUMNS} FROM units.unit_groups WHERE id = $1 AND delete_time IS NULL"
    )))
    .bind(id.as_str())
    .fetch_optional(executor)
    .await?;
    row.ok_or_else(|| UnitsError::GroupNotFound(id.name()))?
        .try_into()
}
