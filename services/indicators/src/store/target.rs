//! Targets.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::{FieldViolation, PlatformError};
use sqlx::PgConnection;

use super::{Store, corrupt, unique_or};
use crate::domain::{IndicatorId, Target, TargetId, TargetStatus};
use crate::error::{IndicatorsError, Result};

const TARGET_COLUMNS: &str = "id, display_name, indicator_id, owner_unit_id, applies_to_group,
        first_period, last_period, kind, revision, create_time, delete_time";

#[derive(sqlx::FromRow)]
struct TargetRow {
    id: String,
    display_name: String,
    indicator_id: Option<String>,
    owner_unit_id: String,
    applies_to_group: Option<String>,
    first_period: Option<String>,
    last_period: Option<String>,
    kind: serde_json::Value,
    revision: i64,
    create_time: DateTime<Utc>,
    delete_time: Option<DateTime<Utc>>,
}

impl TryFrom<TargetRow> for Target {
    type Error = IndicatorsError;
    fn try_from(row: TargetRow) -> Result<Self> {
        Ok(Self {
            kind: serde_json::from_value(row.kind)
                .map_err(|error| corrupt(format!("target {} has a bad kind: {error}", row.id)))?,
            id: TargetId::from_trusted(row.id),
            display_name: row.display_name,
            indicator: row.indicator_id.map(IndicatorId::from_trusted),
            owner_unit: row.owner_unit_id,
            applies_to_group: row.applies_to_group,
            first_period: row.first_period,
            last_period: row.last_period,
            revision: row.revision,
            create_time: row.create_time,
            delete_time: row.delete_time,
        })
    }
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_target"))]
    pub async fn get_target(&self, id: &TargetId) -> Result<Target> {
        self.find_target(id)
            .await?
            .ok_or_else(|| PlatformError::NotFound(id.name()).into())
    }

    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "find_target"))]
    pub async fn find_target(&self, id: &TargetId) -> Result<Option<Target>> {
        sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS} FROM indicators.targets WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .map(Target::try_from)
        .transpose()
    }

    /// Every live target, by id.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_targets"))]
    pub async fn all_targets(&self) -> Result<Vec<Target>> {
        sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS} FROM indicators.targets WHERE delete_time IS NULL ORDER BY id"
        )))
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(Target::try_from)
        .collect()
    }

    /// Live targets by id (of one owner unit, when given), after the id `after`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_targets"))]
    pub async fn list_targets(
        &self,
        owner_unit: Option<&str>,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<Target, String>> {
        let rows: Vec<TargetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS} FROM indicators.targets
             WHERE ($1::text IS NULL OR owner_unit_id = $1) AND ($2::text IS NULL OR id > $2)
               AND delete_time IS NULL
             ORDER BY id LIMIT $3"
        )))
        .bind(owner_unit)
        .bind(after)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(Target::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last: &Target| {
            last.id.as_str().to_owned()
        }))
    }
}

/// Adds a target; its id must be new.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_target"))]
pub async fn insert_target(connection: &mut PgConnection, target: &Target) -> Result<Target> {
    let kind = fazhi_platform::mutation::to_json(&target.kind)?;
    sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.targets (id, display_name, indicator_id, owner_unit_id, applies_to_group,
             first_period, last_period, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING {TARGET_COLUMNS}"
    )))
    .bind(target.id.as_str())
    .bind(&target.display_name)
    .bind(target.indicator.as_ref().map(IndicatorId::as_str))
    .bind(&target.owner_unit)
    .bind(&target.applies_to_group)
    .bind(&target.first_period)
    .bind(&target.last_period)
    .bind(kind)
    .fetch_one(connection)
    .await
    .map_err(|error| {
        unique_or(
            error,
            &[("targets_pkey", FieldViolation::new(
                "target_id",
                "ALREADY_EXISTS",
                format!("{} exists already", target.id.name()),
                format!("目标 {} 已存在", target.id.name()),
            ))],
        )
    })?
    .try_into()
}

/// Locks a target for a change; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_target"))]
pub async fn lock_target(connection: &mut PgConnection, id: &TargetId) -> Result<Option<Target>> {
    sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TARGET_COLUMNS} FROM indicators.targets WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(Target::try_from)
    .transpose()
}

/// Saves a locked target's changed fields (or its deletion) as its next revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_target"))]
pub async fn save_target(connection: &mut PgConnection, target: &Target) -> Result<Target> {
    let kind = fazhi_platform::mutation::to_json(&target.kind)?;
    sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.targets
         SET display_name = $2, applies_to_group = $3, first_period = $4, last_period = $5,
             kind = $6, delete_time = $7, revision = revision + 1
         WHERE id = $1
         RETURNING {TARGET_COLUMNS}"
    )))
    .bind(target.id.as_str())
    .bind(&target.display_name)
    .bind(&target.applies_to_group)
    .bind(&target.first_period)
    .bind(&target.last_period)
    .bind(kind)
    .bind(target.delete_time)
    .fetch_one(connection)
    .await?
    .try_into()
}

/// Records a target's verdict for a unit and period; answers the one recorded before, if any.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "record_status"))]
pub async fn record_status(
    connection: &mut PgConnection,
    target: &TargetId,
    unit: &str,
    period: &str,
    status: TargetStatus,
) -> Result<Option<TargetStatus>> {
    let before: Option<String> = sqlx::query_scalar(
        "SELECT status FROM indicators.target_statuses
         WHERE target_id = $1 AND unit_id = $2 AND period = $3 FOR UPDATE",
    )
    .bind(target.as_str())
    .bind(unit)
    .bind(period)
    .fetch_optional(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO indicators.target_statuses (target_id, unit_id, period, status)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (target_id, unit_id, period)
         DO UPDATE SET status = EXCLUDED.status, update_time = now()",
    )
    .bind(target.as_str())
    .bind(unit)
    .bind(period)
    .bind(status.as_str())
    .execute(&mut *connection)
    .await?;
    Ok(before.as_deref().and_then(TargetStatus::parse))
}
