//! Reported values and their revisions; the figures evaluation reads.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use sqlx::PgConnection;

use super::{Store, parsed};
use crate::domain::{
    DataElementId, DataValue, DataValueId, EvidenceLink, Period, ValueAction, ValueFilter,
    ValueState,
};
use crate::error::{IndicatorsError, Result};

pub(super) const VALUE_COLUMNS: &str =
    "id, data_element_id, unit_id, period, period_start, category_option, value, text_value,
        comment, evidence, state, reason, update_subject, revision, update_time";

/// Where a listing of values goes on: element, period start, option, id of the last one.
pub type ValueCursor = (String, NaiveDate, String, String);

#[derive(sqlx::FromRow)]
pub(super) struct ValueRow {
    id: String,
    data_element_id: String,
    unit_id: String,
    period: String,
    period_start: NaiveDate,
    category_option: String,
    value: f64,
    text_value: Option<String>,
    comment: String,
    evidence: sqlx::types::Json<Vec<EvidenceLink>>,
    state: String,
    reason: String,
    update_subject: String,
    revision: i64,
    update_time: DateTime<Utc>,
}

impl TryFrom<ValueRow> for DataValue {
    type Error = IndicatorsError;
    fn try_from(row: ValueRow) -> Result<Self> {
        Ok(Self {
            state: parsed(
                ValueState::parse,
                &row.state,
                &format!("data value {}", row.id),
            )?,
            id: DataValueId::from_trusted(row.id),
            data_element: DataElementId::from_trusted(row.data_element_id),
            unit: (!row.unit_id.is_empty()).then_some(row.unit_id),
            period: row.period,
            category_option: row.category_option,
            value: row.value,
            text: row.text_value,
            comment: row.comment,
            evidence: row.evidence.0,
            reason: row.reason,
            update_subject: row.update_subject,
            revision: row.revision,
            update_time: row.update_time,
        })
    }
}

/// Where a value sits: element, unit (`""` for central), period and category option.
pub struct ValueKey<'a> {
    pub data_element: &'a DataElementId,
    pub unit: &'a str,
    pub period: &'a str,
    pub category_option: &'a str,
}

/// One reported value as evaluation reads it: its element and option as positions (from 1) in
/// the lists asked for, so a row decodes one string, not four.
#[derive(Debug, sqlx::FromRow)]
pub struct FigureRow {
    pub element: i32,
    pub option: i32,
    pub unit_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
    /// Approved; otherwise submitted (the only other state evaluation counts).
    pub approved: bool,
}

/// One change of a value, as listed.
#[derive(Debug, sqlx::FromRow)]
pub struct RevisionRow {
    pub revision: i64,
    pub action: String,
    pub state: String,
    pub old_value: Option<f64>,
    pub value: f64,
    pub old_text: Option<String>,
    pub text: Option<String>,
    pub reason: String,
    pub subject: String,
    pub time: DateTime<Utc>,
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_value"))]
    pub async fn get_value(&self, id: &DataValueId) -> Result<Option<DataValue>> {
        sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {VALUE_COLUMNS} FROM indicators.data_values WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .map(DataValue::try_from)
        .transpose()
    }

    /// The values of these units (`""`: central ones), optionally of one element, inside a
    /// window and in one state, by element, period and option; `after` is the last row's
    /// id-ordered key.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_values"))]
    pub async fn list_values(
        &self,
        units: &[String],
        data_element: Option<&DataElementId>,
        filter: ValueFilter,
        after: Option<ValueCursor>,
        page_size: i64,
    ) -> Result<Page<DataValue, ValueCursor>> {
        let window = filter.window;
        let (after_element, after_start, after_option, after_id) = after
            .map_or((None, None, None, None), |(element, start, option, id)| {
                (Some(element), Some(start), Some(option), Some(id))
            });
        let rows: Vec<ValueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VALUE_COLUMNS} FROM indicators.data_values
             WHERE unit_id = ANY($1) AND ($2::text IS NULL OR data_element_id = $2)
               AND ($3::date IS NULL OR (period_start >= $3 AND period_end <= $4))
               AND ($5::text IS NULL
                    OR (data_element_id, period_start, category_option, id) > ($5, $6, $7, $8))
               AND ($10::text IS NULL OR state = $10)
             ORDER BY data_element_id, period_start, category_option, id LIMIT $9"
        )))
        .bind(units)
        .bind(data_element.map(DataElementId::as_str))
        .bind(window.map(|window| window.start))
        .bind(window.map(|window| window.end))
        .bind(after_element)
        .bind(after_start)
        .bind(after_option)
        .bind(after_id)
        .bind(page_size + 1)
        .bind(filter.state.map(ValueState::as_str))
        .fetch_all(self.reads())
        .await?;
        let cursors: Vec<ValueCursor> = rows
            .iter()
            .map(|row| {
                let key = (row.data_element_id.clone(), row.period_start);
                (key.0, key.1, row.category_option.clone(), row.id.clone())
            })
            .collect();
        let items = rows
            .into_iter()
            .map(DataValue::try_from)
            .collect::<Result<Vec<_>>>()?;
        let page = Page::from_overfetch(
            items.into_iter().zip(cursors).collect(),
            page_size,
            |(_, cursor)| cursor.clone(),
        );
        Ok(Page {
            items: page.items.into_iter().map(|(value, _)| value).collect(),
            next: page.next,
        })
    }

    /// Every change of a value, oldest first.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_revisions"))]
    pub async fn list_revisions(&self, id: &DataValueId) -> Result<Vec<RevisionRow>> {
        // The versions replaced, then the current one; each with the value before it.
        Ok(sqlx::query_as(
            "SELECT revision, action, state, lag(value) OVER (ORDER BY revision) AS old_value, value,
                    lag(text_value) OVER (ORDER BY revision) AS old_text, text_value AS text,
                    reason, subject, time
             FROM (SELECT revision, action, state, value, text_value, reason, subject, time
                   FROM indicators.data_value_revisions WHERE data_value_id = $1
                   UNION ALL
                   SELECT revision, action, state, value, text_value, reason, update_subject,
                          update_time
                   FROM indicators.data_values WHERE id = $1) versions
             ORDER BY revision",
        )
        .bind(id.as_str())
        .fetch_all(self.reads())
        .await?)
    }

    /// The values of these elements and options for these units (`""`: central; `None`: every
    /// unit) inside the days `first`..=`last`, in the states counted, in period order (each
    /// unit's values in the order [`crate::domain::Aggregation::Last`] needs: ordering by unit
    /// too would sort by text); as they arrive, so that decoding them overlaps with the database
    /// producing them.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "figures", units = units.map_or(0, <[&str]>::len)))]
    pub fn figures<'a>(
        &'a self,
        data_elements: &'a [&'a str],
        options: &'a [&'a str],
        units: Option<&'a [&'a str]>,
        (first, last): (NaiveDate, NaiveDate),
        states: &'a [&'a str],
        in_period_order: bool,
    ) -> futures::stream::BoxStream<'a, Result<FigureRow>> {
        use futures::{StreamExt, TryStreamExt};
        // The unit filter, when there is one, as a bound array: with none the statement has no
        // such condition at all, so each keeps a plan of its own. Sorting is asked only when a
        // window holds several periods of an element (a `last` needs them in order).
        let sql = format!(
            "SELECT array_position($1::text[], data_element_id) AS element,
                    array_position($2::text[], category_option) AS option,
                    unit_id, period_start, period_end, value, state = 'approved' AS approved
             FROM indicators.data_values
             WHERE data_element_id = ANY($1) AND category_option = ANY($2) AND period_start >= $3
               AND period_end <= $4 AND state = ANY($5) {} {}",
            if units.is_some() {
                "AND unit_id = ANY($6)"
            } else {
                ""
            },
            if in_period_order {
                "ORDER BY period_start"
            } else {
                ""
            }
        );
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(data_elements)
            .bind(options)
            .bind(first)
            .bind(last)
            .bind(states);
        let query = match units {
            Some(units) => query.bind(units),
            None => query,
        };
        query
            .fetch(self.reads())
            .map_err(IndicatorsError::from)
            .boxed()
    }
}

/// Locks a value by id; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_value"))]
pub async fn lock_value(
    connection: &mut PgConnection,
    id: &DataValueId,
) -> Result<Option<DataValue>> {
    sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {VALUE_COLUMNS} FROM indicators.data_values WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(DataValue::try_from)
    .transpose()
}

/// Locks the value at a key; `None` when there is none yet.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_value_by_key"))]
pub async fn lock_value_by_key(
    connection: &mut PgConnection,
    key: &ValueKey<'_>,
) -> Result<Option<DataValue>> {
    sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {VALUE_COLUMNS} FROM indicators.data_values
         WHERE data_element_id = $1 AND unit_id = $2 AND period = $3 AND category_option = $4 FOR UPDATE"
    )))
    .bind(key.data_element.as_str())
    .bind(key.unit)
    .bind(key.period)
    .bind(key.category_option)
    .fetch_optional(connection)
    .await?
    .map(DataValue::try_from)
    .transpose()
}

/// Adds a new value (its first revision is the row itself). A concurrent first report of the
/// same key waits on the unique key and then fails as a conflict (the caller retries and finds
/// it).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_value"))]
pub async fn insert_value(
    connection: &mut PgConnection,
    value: &DataValue,
    period: &Period,
    action: ValueAction,
) -> Result<DataValue> {
    sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
             category_option, value, comment, state, reason, action, update_subject, text_value,
             evidence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT ON CONSTRAINT data_values_key DO NOTHING
         RETURNING {VALUE_COLUMNS}"
    )))
    .bind(value.id.as_str())
    .bind(value.data_element.as_str())
    .bind(value.unit.as_deref().unwrap_or_default())
    .bind(&value.period)
    .bind(period.start)
    .bind(period.end)
    .bind(&value.category_option)
    .bind(value.value)
    .bind(&value.comment)
    .bind(value.state.as_str())
    .bind(&value.reason)
    .bind(action.as_str())
    .bind(&value.update_subject)
    .bind(&value.text)
    .bind(sqlx::types::Json(&value.evidence))
    .fetch_optional(&mut *connection)
    .await?
    .ok_or(IndicatorsError::Platform(PlatformError::Conflict))?
    .try_into()
}

/// Copies the current versions of locked values into their revisions, before a change.
pub(super) async fn keep_versions(connection: &mut PgConnection, ids: &[&str]) -> Result<()> {
    sqlx::query(
        "INSERT INTO indicators.data_value_revisions (data_value_id, revision, action, state, value, reason,
             subject, time, text_value)
         SELECT id, revision, action, state, value, reason, update_subject, update_time, text_value
         FROM indicators.data_values WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(connection)
    .await?;
    Ok(())
}

/// Saves a locked value's change as its next revision, keeping the version it replaces.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "update_value"))]
pub async fn update_value(
    connection: &mut PgConnection,
    value: &DataValue,
    action: ValueAction,
) -> Result<DataValue> {
    keep_versions(connection, &[value.id.as_str()]).await?;
    sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.data_values
         SET value = $2, comment = $3, state = $4, reason = $5, update_subject = $6, action = $7,
             text_value = $8, evidence = $9, revision = revision + 1, update_time = now()
         WHERE id = $1
         RETURNING {VALUE_COLUMNS}"
    )))
    .bind(value.id.as_str())
    .bind(value.value)
    .bind(&value.comment)
    .bind(value.state.as_str())
    .bind(&value.reason)
    .bind(&value.update_subject)
    .bind(action.as_str())
    .bind(&value.text)
    .bind(sqlx::types::Json(&value.evidence))
    .fetch_one(&mut *connection)
    .await?
    .try_into()
}
