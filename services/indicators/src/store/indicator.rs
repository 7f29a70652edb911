//! Indicators.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::{FieldViolation, PlatformError};
use sqlx::PgConnection;

use super::{Store, parsed, unique_or};
use crate::domain::{Direction, Indicator, IndicatorId};
use crate::error::{IndicatorsError, Result};

const INDICATOR_COLUMNS: &str =
    "id, code, display_name, formula, factor, unit_of_measure, direction,
        data_element_codes, revision, create_time, delete_time";

#[derive(sqlx::FromRow)]
struct IndicatorRow {
    id: String,
    code: String,
    display_name: String,
    formula: String,
    factor: f64,
    unit_of_measure: String,
    direction: String,
    data_element_codes: Vec<String>,
    revision: i64,
    create_time: DateTime<Utc>,
    delete_time: Option<DateTime<Utc>>,
}

impl TryFrom<IndicatorRow> for Indicator {
    type Error = IndicatorsError;
    fn try_from(row: IndicatorRow) -> Result<Self> {
        Ok(Self {
            direction: parsed(
                Direction::parse,
                &row.direction,
                &format!("indicator {}", row.id),
            )?,
            id: IndicatorId::from_trusted(row.id),
            code: row.code,
            display_name: row.display_name,
            formula: row.formula,
            factor: row.factor,
            unit_of_measure: row.unit_of_measure,
            data_element_codes: row.data_element_codes,
            revision: row.revision,
            create_time: row.create_time,
            delete_time: row.delete_time,
        })
    }
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_indicator"))]
    pub async fn get_indicator(&self, id: &IndicatorId) -> Result<Indicator> {
        sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {INDICATOR_COLUMNS} FROM indicators.indicators WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?
        .try_into()
    }

    /// Every live indicator, by code.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_indicators"))]
    pub async fn all_indicators(&self) -> Result<Vec<Indicator>> {
        sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {INDICATOR_COLUMNS} FROM indicators.indicators WHERE delete_time IS NULL ORDER BY code"
        )))
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(Indicator::try_from)
        .collect()
    }

    /// Live indicators by code, after the code `after`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_indicators"))]
    pub async fn list_indicators(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<Indicator, String>> {
        let rows: Vec<IndicatorRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INDICATOR_COLUMNS} FROM indicators.indicators
             WHERE ($1::text IS NULL OR code > $1) AND delete_time IS NULL
             ORDER BY code LIMIT $2"
        )))
        .bind(after)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(Indicator::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(
            items,
            page_size,
            |last: &Indicator| last.code.clone(),
        ))
    }
}

/// Adds an indicator; its id and code must be new.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_indicator"))]
pub async fn insert_indicator(
    connection: &mut PgConnection,
    indicator: &Indicator,
) -> Result<Indicator> {
    sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.indicators (id, code, display_name, formula, factor, unit_of_measure,
             direction, data_element_codes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING {INDICATOR_COLUMNS}"
    )))
    .bind(indicator.id.as_str())
    .bind(&indicator.code)
    .bind(&indicator.display_name)
    .bind(&indicator.formula)
    .bind(indicator.factor)
    .bind(&indicator.unit_of_measure)
    .bind(indicator.direction.as_str())
    .bind(&indicator.data_element_codes)
    .fetch_one(connection)
    .await
    .map_err(|error| {
        unique_or(
            error,
            &[
                ("indicators_pkey", FieldViolation::new(
                    "indicator_id",
                    "ALREADY_EXISTS",
                    format!("{} exists already", indicator.id.name()),
                    format!("指标 {} 已存在", indicator.id.name()),
                )),
                ("indicators_code_key", FieldViolation::new(
                    "indicator.code",
                    "DUPLICATE_CODE",
                    format!("another indicator has the code {}", indicator.code),
                    format!("编码 {} 已被其他指标使用", indicator.code),
                )),
            ],
        )
    })?
    .try_into()
}

/// Locks an indicator for a change; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_indicator"))]
pub async fn lock_indicator(
    connection: &mut PgConnection,
    id: &IndicatorId,
) -> Result<Option<Indicator>> {
    sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INDICATOR_COLUMNS} FROM indicators.indicators WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(Indicator::try_from)
    .transpose()
}

/// Saves a locked indicator's changed fields as its next revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_indicator"))]
pub async fn save_indicator(
    connection: &mut PgConnection,
    indicator: &Indicator,
) -> Result<Indicator> {
    sqlx::query_as::<_, IndicatorRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.indicators
         SET display_name = $2, formula = $3, factor = $4, unit_of_measure = $5, direction = $6,
             data_element_codes = $7, delete_time = $8, revision = revision + 1
         WHERE id = $1
         RETURNING {INDICATOR_COLUMNS}"
    )))
    .bind(indicator.id.as_str())
    .bind(&indicator.display_name)
    .bind(&indicator.formula)
    .bind(indicator.factor)
    .bind(&indicator.unit_of_measure)
    .bind(indicator.direction.as_str())
    .bind(&indicator.data_element_codes)
    .bind(indicator.delete_time)
    .fetch_one(connection)
    .await?
    .try_into()
}
