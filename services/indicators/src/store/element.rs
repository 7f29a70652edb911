//! Data elements.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::{FieldViolation, PlatformError};
use sqlx::PgConnection;

use super::{Store, parsed, unique_or};
use crate::domain::{Aggregation, DataElement, DataElementId, PeriodType, ValueType};
use crate::error::{IndicatorsError, Result};

const ELEMENT_COLUMNS: &str = "id, code, display_name, value_type, aggregation, period_aggregation,
        period_type, category, category_options, unit_of_measure, central, revision, create_time,
        delete_time";

#[derive(sqlx::FromRow)]
struct ElementRow {
    id: String,
    code: String,
    display_name: String,
    value_type: String,
    aggregation: String,
    period_aggregation: String,
    period_type: String,
    category: String,
    category_options: Vec<String>,
    unit_of_measure: String,
    central: bool,
    revision: i64,
    create_time: DateTime<Utc>,
    delete_time: Option<DateTime<Utc>>,
}

impl TryFrom<ElementRow> for DataElement {
    type Error = IndicatorsError;
    fn try_from(row: ElementRow) -> Result<Self> {
        let what = format!("data element {}", row.id);
        Ok(Self {
            value_type: parsed(ValueType::parse, &row.value_type, &what)?,
            aggregation: parsed(Aggregation::parse, &row.aggregation, &what)?,
            period_aggregation: parsed(Aggregation::parse, &row.period_aggregation, &what)?,
            period_type: parsed(PeriodType::parse, &row.period_type, &what)?,
            id: DataElementId::from_trusted(row.id),
            code: row.code,
            display_name: row.display_name,
            category: row.category,
            category_options: row.category_options,
            unit_of_measure: row.unit_of_measure,
            central: row.central,
            revision: row.revision,
            create_time: row.create_time,
            delete_time: row.delete_time,
        })
    }
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_element"))]
    pub async fn get_element(&self, id: &DataElementId) -> Result<DataElement> {
        sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ELEMENT_COLUMNS} FROM indicators.data_elements WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?
        .try_into()
    }

    /// The live elements with these codes (those that exist).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "elements_by_code"))]
    pub async fn elements_by_code(&self, codes: &[String]) -> Result<Vec<DataElement>> {
        sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ELEMENT_COLUMNS} FROM indicators.data_elements WHERE code = ANY($1) AND delete_time IS NULL ORDER BY code"
        )))
        .bind(codes)
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(DataElement::try_from)
        .collect()
    }

    /// Every live element, by code.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_elements"))]
    pub async fn all_elements(&self) -> Result<Vec<DataElement>> {
        sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ELEMENT_COLUMNS} FROM indicators.data_elements WHERE delete_time IS NULL ORDER BY code"
        )))
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(DataElement::try_from)
        .collect()
    }

    /// Live elements by code, after the code `after`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_elements"))]
    pub async fn list_elements(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<DataElement, String>> {
        let rows: Vec<ElementRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ELEMENT_COLUMNS} FROM indicators.data_elements WHERE ($1::text IS NULL OR code > $1) AND delete_time IS NULL
             ORDER BY code LIMIT $2"
        )))
        .bind(after)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(DataElement::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(
            items,
            page_size,
            |last: &DataElement| last.code.clone(),
        ))
    }
}

/// Adds an element; its id and code must be new.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_element"))]
pub async fn insert_element(
    connection: &mut PgConnection,
    element: &DataElement,
) -> Result<DataElement> {
    sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.data_elements (id, code, display_name, value_type, aggregation,
             period_aggregation, period_type, category, category_options, unit_of_measure, central)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING {ELEMENT_COLUMNS}"
    )))
    .bind(element.id.as_str())
    .bind(&element.code)
    .bind(&element.display_name)
    .bind(element.value_type.as_str())
    .bind(element.aggregation.as_str())
    .bind(element.period_aggregation.as_str())
    .bind(element.period_type.as_str())
    .bind(&element.category)
    .bind(&element.category_options)
    .bind(&element.unit_of_measure)
    .bind(element.central)
    .fetch_one(connection)
    .await
    .map_err(|error| {
        unique_or(
            error,
            &[
                (
                    "data_elements_pkey",
                    FieldViolation::new(
                        "data_element_id",
                        "ALREADY_EXISTS",
                        format!("{} exists already", element.id.name()),
                        format!("数据项 {} 已存在", element.id.name()),
                    ),
                ),
                (
                    "data_elements_code_key",
                    FieldViolation::new(
                        "data_element.code",
                        "DUPLICATE_CODE",
                        format!("another data element has the code {}", element.code),
                        format!("编码 {} 已被其他数据项使用", element.code),
                    ),
                ),
            ],
        )
    })?
    .try_into()
}

/// Locks a data element for a change; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_element"))]
pub async fn lock_element(
    connection: &mut PgConnection,
    id: &DataElementId,
) -> Result<Option<DataElement>> {
    sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ELEMENT_COLUMNS} FROM indicators.data_elements WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(DataElement::try_from)
    .transpose()
}

/// Saves a locked element's changed fields as its next revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_element"))]
pub async fn save_element(
    connection: &mut PgConnection,
    element: &DataElement,
) -> Result<DataElement> {
    sqlx::query_as::<_, ElementRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.data_elements
         SET display_name = $2, unit_of_measure = $3, category_options = $4, delete_time = $5,
             revision = revision + 1
         WHERE id = $1
         RETURNING {ELEMENT_COLUMNS}"
    )))
    .bind(element.id.as_str())
    .bind(&element.display_name)
    .bind(&element.unit_of_measure)
    .bind(&element.category_options)
    .bind(element.delete_time)
    .fetch_one(connection)
    .await?
    .try_into()
}
