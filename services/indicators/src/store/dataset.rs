//! Data sets, and the values that make up their returns.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::{FieldViolation, PlatformError};
use sqlx::PgConnection;

use super::value::{VALUE_COLUMNS, ValueRow};
use super::{Store, corrupt, parsed, unique_or};
use crate::domain::{
    DataSet, DataSetId, DataValue, PeriodType, ReturnValue, ValidationRule, ValueState,
};
use crate::error::{IndicatorsError, Result};

const SET_COLUMNS: &str = "id, code, display_name, period_type, data_element_codes, owner_unit_id,
        reporting_group, due_days, validation_rules, revision, create_time, delete_time";

#[derive(sqlx::FromRow)]
struct SetRow {
    id: String,
    code: String,
    display_name: String,
    period_type: String,
    data_element_codes: Vec<String>,
    owner_unit_id: String,
    reporting_group: Option<String>,
    due_days: i32,
    validation_rules: serde_json::Value,
    revision: i64,
    create_time: DateTime<Utc>,
    delete_time: Option<DateTime<Utc>>,
}

impl TryFrom<SetRow> for DataSet {
    type Error = IndicatorsError;
    fn try_from(row: SetRow) -> Result<Self> {
        let what = format!("data set {}", row.id);
        Ok(Self {
            period_type: parsed(PeriodType::parse, &row.period_type, &what)?,
            validation_rules: serde_json::from_value::<Vec<ValidationRule>>(row.validation_rules)
                .map_err(|error| corrupt(format!("{what} has bad rules: {error}")))?,
            id: DataSetId::from_trusted(row.id),
            code: row.code,
            display_name: row.display_name,
            data_element_codes: row.data_element_codes,
            owner_unit: row.owner_unit_id,
            reporting_group: row.reporting_group,
            due_days: row.due_days,
            revision: row.revision,
            create_time: row.create_time,
            delete_time: row.delete_time,
        })
    }
}

/// One value of a return, with the code of its element.
#[derive(sqlx::FromRow)]
struct ReturnRow {
    code: String,
    unit_id: String,
    state: String,
    submit_time: Option<DateTime<Utc>>,
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_data_set"))]
    pub async fn get_data_set(&self, id: &DataSetId) -> Result<DataSet> {
        sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM indicators.data_sets WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?
        .try_into()
    }

    /// Every live data set, by id.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_data_sets"))]
    pub async fn all_data_sets(&self) -> Result<Vec<DataSet>> {
        sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM indicators.data_sets WHERE delete_time IS NULL ORDER BY id"
        )))
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(DataSet::try_from)
        .collect()
    }

    /// The live data sets that hold an element.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "data_sets_holding"))]
    pub async fn data_sets_holding(&self, code: &str) -> Result<Vec<DataSet>> {
        sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM indicators.data_sets
             WHERE data_element_codes @> ARRAY[$1] AND delete_time IS NULL ORDER BY id"
        )))
        .bind(code)
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(DataSet::try_from)
        .collect()
    }

    /// Live data sets by id, after the id `after`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_data_sets"))]
    pub async fn list_data_sets(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<DataSet, String>> {
        let items = sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SET_COLUMNS} FROM indicators.data_sets
             WHERE ($1::text IS NULL OR id > $1) AND delete_time IS NULL ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(DataSet::try_from)
        .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last: &DataSet| {
            last.id.as_str().to_owned()
        }))
    }

    /// Whether a data set's returns for a period were swept for overdue ones.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "swept"))]
    pub async fn swept(&self, id: &DataSetId, period: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM indicators.return_sweeps
                            WHERE data_set_id = $1 AND period = $2)",
        )
        .bind(id.as_str())
        .bind(period)
        .fetch_one(self.reads())
        .await?)
    }

    /// Per unit, the values its returns of these elements for `period` hold.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "return_values", units = units.len()))]
    pub async fn return_values(
        &self,
        codes: &[String],
        units: &[&str],
        period: &str,
    ) -> Result<std::collections::HashMap<String, Vec<ReturnValue>>> {
        let rows: Vec<ReturnRow> = sqlx::query_as(
            "SELECT e.code, v.unit_id, v.state, v.submit_time
             FROM indicators.data_values v
             JOIN indicators.data_elements e ON e.id = v.data_element_id
             WHERE e.code = ANY($1) AND v.unit_id = ANY($2) AND v.period = $3",
        )
        .bind(codes)
        .bind(units)
        .bind(period)
        .fetch_all(self.reads())
        .await?;
        let mut by_unit: std::collections::HashMap<String, Vec<ReturnValue>> =
            std::collections::HashMap::new();
        for row in rows {
            let state = parsed(ValueState::parse, &row.state, "data value")?;
            by_unit.entry(row.unit_id).or_default().push(ReturnValue {
                code: row.code,
                state,
                submit_time: row.submit_time,
            });
        }
        Ok(by_unit)
    }
}

/// A unit's values of these elements for a period, each with its element's code; locked when
/// `lock` (a return being submitted).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "unit_period_values"))]
pub async fn unit_period_values<'c>(
    connection: impl sqlx::PgExecutor<'c>,
    codes: &[String],
    unit: &str,
    period: &str,
    lock: bool,
) -> Result<Vec<(String, DataValue)>> {
    let found: Vec<CodedValueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT code FROM indicators.data_elements e WHERE e.id = v.data_element_id) AS code,
                {VALUE_COLUMNS}
         FROM indicators.data_values v
         WHERE data_element_id IN (SELECT id FROM indicators.data_elements WHERE code = ANY($1))
           AND unit_id = $2 AND period = $3
         ORDER BY id {}",
        if lock { "FOR UPDATE" } else { "" }
    )))
    .bind(codes)
    .bind(unit)
    .bind(period)
    .fetch_all(connection)
    .await?;
    found
        .into_iter()
        .map(|row| Ok((row.code, DataValue::try_from(row.value)?)))
        .collect()
}

#[derive(sqlx::FromRow)]
struct CodedValueRow {
    code: String,
    #[sqlx(flatten)]
    value: ValueRow,
}

/// Adds a data set; its id and code must be new.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_data_set"))]
pub async fn insert_data_set(connection: &mut PgConnection, set: &DataSet) -> Result<DataSet> {
    let rules = fazhi_platform::mutation::to_json(&set.validation_rules)?;
    sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.data_sets (id, code, display_name, period_type, data_element_codes,
             owner_unit_id, reporting_group, due_days, validation_rules)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {SET_COLUMNS}"
    )))
    .bind(set.id.as_str())
    .bind(&set.code)
    .bind(&set.display_name)
    .bind(set.period_type.as_str())
    .bind(&set.data_element_codes)
    .bind(&set.owner_unit)
    .bind(&set.reporting_group)
    .bind(set.due_days)
    .bind(rules)
    .fetch_one(connection)
    .await
    .map_err(|error| {
        unique_or(
            error,
            &[
                (
                    "data_sets_pkey",
                    FieldViolation::new(
                        "data_set_id",
                        "ALREADY_EXISTS",
                        format!("{} exists already", set.id.name()),
                        format!("报表 {} 已存在", set.id.name()),
                    ),
                ),
                (
                    "data_sets_code_key",
                    FieldViolation::new(
                        "data_set.code",
                        "ALREADY_EXISTS",
                        format!("another data set has the code {}", set.code),
                        format!("已有编码为 {} 的报表", set.code),
                    ),
                ),
            ],
        )
    })?
    .try_into()
}

/// Locks a data set for a change; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_data_set"))]
pub async fn lock_data_set(
    connection: &mut PgConnection,
    id: &DataSetId,
) -> Result<Option<DataSet>> {
    sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SET_COLUMNS} FROM indicators.data_sets WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(DataSet::try_from)
    .transpose()
}

/// Saves a locked data set's changed fields (or its deletion) as its next revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_data_set"))]
pub async fn save_data_set(connection: &mut PgConnection, set: &DataSet) -> Result<DataSet> {
    let rules = fazhi_platform::mutation::to_json(&set.validation_rules)?;
    sqlx::query_as::<_, SetRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.data_sets
         SET display_name = $2, data_element_codes = $3, reporting_group = $4, due_days = $5,
             validation_rules = $6, delete_time = $7, revision = revision + 1
         WHERE id = $1
         RETURNING {SET_COLUMNS}"
    )))
    .bind(set.id.as_str())
    .bind(&set.display_name)
    .bind(&set.data_element_codes)
    .bind(&set.reporting_group)
    .bind(set.due_days)
    .bind(rules)
    .bind(set.delete_time)
    .fetch_one(connection)
    .await?
    .try_into()
}

/// Records the sweep of a data set's returns for a period; `false` when another sweep did
/// (another replica, at the same time).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "record_sweep"))]
pub async fn record_sweep(
    connection: &mut PgConnection,
    id: &DataSetId,
    period: &str,
    overdue: usize,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO indicators.return_sweeps (data_set_id, period, overdue) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(period)
    .bind(i32::try_from(overdue).unwrap_or(i32::MAX))
    .execute(connection)
    .await?
    .rows_affected()
        == 1)
}
