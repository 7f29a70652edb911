//! Supervision records (督察).

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use sqlx::PgConnection;

use super::{Store, corrupt};
use crate::domain::{RoundId, SupervisionId, SupervisionRecord};
use crate::error::Result;

fn record_of(value: serde_json::Value) -> Result<SupervisionRecord> {
    serde_json::from_value(value).map_err(|error| corrupt("supervision record", error))
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_supervision"))]
    pub async fn get_supervision(&self, id: &SupervisionId) -> Result<SupervisionRecord> {
        let found: serde_json::Value =
            sqlx::query_scalar("SELECT record FROM assessment.supervision_records WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.reads())
                .await?
                .ok_or_else(|| PlatformError::NotFound(id.name()))?;
        record_of(found)
    }

    /// The records among `ids` that exist.
    pub async fn supervision_records(&self, ids: &[String]) -> Result<Vec<SupervisionRecord>> {
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT record FROM assessment.supervision_records WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(self.reads())
        .await?;
        rows.into_iter().map(record_of).collect()
    }

    /// An office's records (`owner_unit`) or a unit's (`unit`), oldest first; `after` is the
    /// last one's (time, id).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_supervision"))]
    pub async fn list_supervision(
        &self,
        (owner_unit, unit): (Option<&str>, Option<&str>),
        after: Option<(DateTime<Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<SupervisionRecord, (DateTime<Utc>, String)>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT record FROM assessment.supervision_records
             WHERE ($1::text IS NULL OR owner_unit_id = $1) AND ($2::text IS NULL OR unit_id = $2)
               AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4))
             ORDER BY create_time, id LIMIT $5",
        )
        .bind(owner_unit)
        .bind(unit)
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let records = rows
            .into_iter()
            .map(record_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(
            records,
            page_size,
            |last: &SupervisionRecord| (last.create_time, last.id.as_str().to_owned()),
        ))
    }

    /// The records that follow up a round, oldest first.
    pub async fn round_supervision(&self, round: &RoundId) -> Result<Vec<SupervisionRecord>> {
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT record FROM assessment.supervision_records WHERE round_id = $1
             ORDER BY create_time, id",
        )
        .bind(round.as_str())
        .fetch_all(self.reads())
        .await?;
        rows.into_iter().map(record_of).collect()
    }
}

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_supervision"))]
pub async fn insert_supervision(
    connection: &mut PgConnection,
    record: &SupervisionRecord,
) -> Result<SupervisionRecord> {
    let body =
        serde_json::to_value(record).map_err(|error| corrupt("supervision record", error))?;
    sqlx::query(
        "INSERT INTO assessment.supervision_records (id, owner_unit_id, unit_id, round_id, action,
             create_time, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(record.id.as_str())
    .bind(&record.owner_unit)
    .bind(&record.unit)
    .bind(
        record
            .round
            .as_deref()
            .map(|round| round.trim_start_matches("rounds/")),
    )
    .bind(record.action.as_str())
    .bind(record.create_time)
    .bind(body)
    .execute(connection)
    .await?;
    Ok(record.clone())
}
