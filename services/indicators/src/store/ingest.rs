//! Bulk ingest: the rows of one request message applied set-based, each row whole or not at all.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::domain::{DataValueId, Period, ValueAction, ValueState};
use crate::error::Result;

/// A row that passed its checks, ready to apply.
#[derive(Debug, Clone)]
pub struct IngestRow {
    pub external_id: String,
    pub data_element: String,
    /// `""` for a central element.
    pub unit: String,
    pub period: Period,
    pub period_id: String,
    pub category_option: String,
    pub value: f64,
    /// A text or date element's value.
    pub text: Option<String>,
    pub comment: String,
    /// Of everything the row says, to recognise it sent again.
    pub fingerprint: Vec<u8>,
}

/// What became of a checked row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Applied {
    Accepted(DataValueId),
    Unchanged(DataValueId),
    /// The value at its key is submitted or approved.
    Locked(ValueState),
    /// The external id set another value (another key) before.
    ExternalIdReused,
    /// Another call wrote the same value at the same time; sending the row again succeeds.
    Concurrent,
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: String,
    data_element_id: String,
    unit_id: String,
    period: String,
    category_option: String,
    state: String,
    external_id: Option<String>,
    fingerprint: Option<Vec<u8>>,
}

type Key = (String, String, String, String);

fn key_of(row: &IngestRow) -> Key {
    (
        row.data_element.clone(),
        row.unit.clone(),
        row.period_id.clone(),
        row.category_option.clone(),
    )
}

/// Applies `rows` (already checked, no two with the same key or external id) from `source`.
/// New values are inserted first, set-based; only the rows that collided with a value at their
/// key or with an earlier row's external id are then looked up, locked, and each found
/// unchanged, corrected (a draft or returned value), or refused.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "ingest", rows = rows.len()))]
pub async fn ingest(
    connection: &mut PgConnection,
    rows: &[IngestRow],
    (source, submit, subject): (&str, bool, &str),
) -> Result<Vec<Applied>> {
    let state = if submit {
        ValueState::Submitted
    } else {
        ValueState::Draft
    };
    let ids: Vec<DataValueId> = rows.iter().map(|_| DataValueId::generate()).collect();
    let inserted = insert_new(connection, rows, &ids, (source, state, subject)).await?;
    let mut applied: Vec<Option<Applied>> = ids
        .iter()
        .map(|id| {
            inserted
                .contains(id.as_str())
                .then(|| Applied::Accepted(id.clone()))
        })
        .collect();
    let collided: Vec<usize> = (0..rows.len())
        .filter(|&position| applied[position].is_none())
        .collect();
    if collided.is_empty() {
        return Ok(applied.into_iter().flatten().collect());
    }

    let pick = |get: fn(&IngestRow) -> &str| {
        collided
            .iter()
            .map(|&position| get(&rows[position]))
            .collect::<Vec<_>>()
    };
    // Found by key and by external id, each through its unique index (an OR of the two would
    // scan the table), then locked in id order so two ingests cannot deadlock.
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT v.id, v.data_element_id, v.unit_id, v.period, v.category_option, v.state, v.external_id,
                v.fingerprint
         FROM indicators.data_values v
         WHERE v.id IN (SELECT found.id FROM indicators.data_values found
                        JOIN UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                             AS wanted(data_element_id, unit_id, period, category_option)
                        USING (data_element_id, unit_id, period, category_option)
                        UNION
                        SELECT found.id FROM indicators.data_values found
                        WHERE found.source = $5 AND found.external_id = ANY($6))
         ORDER BY v.id
         FOR UPDATE",
    )
    .bind(pick(|row| &row.data_element))
    .bind(pick(|row| &row.unit))
    .bind(pick(|row| &row.period_id))
    .bind(pick(|row| &row.category_option))
    .bind(source)
    .bind(pick(|row| &row.external_id))
    .fetch_all(&mut *connection)
    .await?;
    let by_key: HashMap<Key, &Existing> = existing
        .iter()
        .map(|found| {
            (
                (
                    found.data_element_id.clone(),
                    found.unit_id.clone(),
                    found.period.clone(),
                    found.category_option.clone(),
                ),
                found,
            )
        })
        .collect();
    let by_external: HashMap<&str, &Existing> = existing
        .iter()
        .filter_map(|found| found.external_id.as_deref().map(|id| (id, found)))
        .collect();
    let mut updates = Vec::new();
    for &position in &collided {
        let row = &rows[position];
        let at_key = by_key.get(&key_of(row)).copied();
        applied[position] = Some(
            match (by_external.get(row.external_id.as_str()).copied(), at_key) {
                (Some(earlier), _) if at_key.is_none_or(|current| current.id != earlier.id) => {
                    Applied::ExternalIdReused
                }
                (_, Some(current))
                    if current.fingerprint.as_deref() == Some(&row.fingerprint[..]) =>
                {
                    Applied::Unchanged(DataValueId::from_trusted(current.id.clone()))
                }
                (_, Some(current)) => match ValueState::parse(&current.state) {
                    Some(ValueState::Draft | ValueState::Returned) => {
                        updates.push((position, current.id.clone()));
                        Applied::Accepted(DataValueId::from_trusted(current.id.clone()))
                    }
                    Some(locked) => Applied::Locked(locked),
                    None => Applied::Concurrent,
                },
                // It collided with a value that is gone again: another call's doing.
                (_, None) => Applied::Concurrent,
            },
        );
    }
    if !updates.is_empty() {
        update_existing(connection, rows, &updates, (source, state, subject)).await?;
    }
    Ok(applied
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Applied::Concurrent))
        .collect())
}

/// Inserts every row as a new value under its pre-made id; answers the ids inserted (a row whose
/// key or external id exists already is not).
async fn insert_new(
    connection: &mut PgConnection,
    rows: &[IngestRow],
    ids: &[DataValueId],
    (source, state, subject): (&str, ValueState, &str),
) -> Result<std::collections::HashSet<String>> {
    let column = |get: fn(&IngestRow) -> &str| rows.iter().map(get).collect::<Vec<_>>();
    let written: Vec<String> = sqlx::query_scalar(
        "INSERT INTO indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
             category_option, value, comment, external_id, fingerprint, text_value, state, action,
             update_subject, source)
         SELECT row.*, $13, $14, $15, $16
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[],
                     $7::text[], $8::float8[], $9::text[], $10::text[], $11::bytea[], $12::text[])
              AS row
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(ids.iter().map(DataValueId::as_str).collect::<Vec<_>>())
    .bind(column(|row| &row.data_element))
    .bind(column(|row| &row.unit))
    .bind(column(|row| &row.period_id))
    .bind(rows.iter().map(|row| row.period.start).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.period.end).collect::<Vec<_>>())
    .bind(column(|row| &row.category_option))
    .bind(rows.iter().map(|row| row.value).collect::<Vec<_>>())
    .bind(column(|row| &row.comment))
    .bind(column(|row| &row.external_id))
    .bind(rows.iter().map(|row| row.fingerprint.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.text.as_deref()).collect::<Vec<_>>())
    .bind(state.as_str())
    .bind(ValueAction::Ingested.as_str())
    .bind(subject)
    .bind(source)
    .fetch_all(&mut *connection)
    .await?;
    Ok(written.into_iter().collect())
}

/// Corrects locked draft or returned values, keeping the versions they replace.
async fn update_existing(
    connection: &mut PgConnection,
    rows: &[IngestRow],
    updates: &[(usize, String)],
    (source, state, subject): (&str, ValueState, &str),
) -> Result<()> {
    let ids: Vec<&str> = updates.iter().map(|(_, id)| id.as_str()).collect();
    super::value::keep_versions(connection, &ids).await?;
    let row = |position: &usize| &rows[*position];
    sqlx::query(
        "UPDATE indicators.data_values v
         SET value = row.value, comment = row.comment, state = $6, reason = '', action = $7,
             update_subject = $8, source = $9, external_id = row.external_id,
             fingerprint = row.fingerprint, text_value = row.text_value,
             revision = v.revision + 1, update_time = now()
         FROM UNNEST($1::text[], $2::float8[], $3::text[], $4::text[], $5::bytea[], $10::text[])
              AS row(id, value, comment, external_id, fingerprint, text_value)
         WHERE v.id = row.id",
    )
    .bind(&ids)
    .bind(
        updates
            .iter()
            .map(|(position, _)| row(position).value)
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|(position, _)| row(position).comment.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|(position, _)| row(position).external_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|(position, _)| row(position).fingerprint.clone())
            .collect::<Vec<_>>(),
    )
    .bind(state.as_str())
    .bind(ValueAction::Ingested.as_str())
    .bind(subject)
    .bind(source)
    .bind(
        updates
            .iter()
            .map(|(position, _)| row(position).text.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}
