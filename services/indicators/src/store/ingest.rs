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

/// Applies `rows` (already checked, no two with the same key or external id) from `source`:
/// the values at their keys and those the source's external ids set are locked first, then each
/// row is a new value, a correction of a draft or returned value, unchanged, or refused.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "ingest", rows = rows.len()))]
pub async fn ingest(
    connection: &mut PgConnection,
    rows: &[IngestRow],
    (source, submit, subject): (&str, bool, &str),
) -> Result<Vec<Applied>> {
    let column = |get: fn(&IngestRow) -> &str| rows.iter().map(get).collect::<Vec<_>>();
    let elements = column(|row| &row.data_element);
    let units = column(|row| &row.unit);
    let periods = column(|row| &row.period_id);
    let options = column(|row| &row.category_option);
    let external_ids = column(|row| &row.external_id);
    // Locked in key order, as every writer of values locks them, so two ingests cannot deadlock.
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT v.id, v.data_element_id, v.unit_id, v.period, v.category_option, v.state, v.external_id,
                v.fingerprint
         FROM indicators.data_values v
         WHERE (v.data_element_id, v.unit_id, v.period, v.category_option) IN
                   (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]))
            OR (v.source = $5 AND v.external_id = ANY($6))
         ORDER BY v.id
         FOR UPDATE",
    )
    .bind(&elements)
    .bind(&units)
    .bind(&periods)
    .bind(&options)
    .bind(source)
    .bind(&external_ids)
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

    let state = if submit {
        ValueState::Submitted
    } else {
        ValueState::Draft
    };
    let mut applied = Vec::with_capacity(rows.len());
    let (mut inserts, mut updates) = (Vec::new(), Vec::new());
    for (position, row) in rows.iter().enumerate() {
        let at_key = by_key.get(&key_of(row)).copied();
        let outcome = match (by_external.get(row.external_id.as_str()).copied(), at_key) {
            (Some(earlier), _) if at_key.is_none_or(|current| current.id != earlier.id) => {
                Applied::ExternalIdReused
            }
            (_, Some(current)) if current.fingerprint.as_deref() == Some(&row.fingerprint[..]) => {
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
            (_, None) => {
                let id = DataValueId::generate();
                inserts.push((position, id.as_str().to_owned()));
                Applied::Accepted(id)
            }
        };
        applied.push(outcome);
    }

    if !inserts.is_empty() {
        let pick = |get: fn(&IngestRow) -> &str| {
            inserts
                .iter()
                .map(|(position, _)| get(&rows[*position]))
                .collect::<Vec<_>>()
        };
        let ids: Vec<&str> = inserts.iter().map(|(_, id)| id.as_str()).collect();
        let starts: Vec<_> = inserts
            .iter()
            .map(|(position, _)| rows[*position].period.start)
            .collect();
        let ends: Vec<_> = inserts
            .iter()
            .map(|(position, _)| rows[*position].period.end)
            .collect();
        let values: Vec<f64> = inserts
            .iter()
            .map(|(position, _)| rows[*position].value)
            .collect();
        let fingerprints: Vec<Vec<u8>> = inserts
            .iter()
            .map(|(position, _)| rows[*position].fingerprint.clone())
            .collect();
        let written: Vec<String> = sqlx::query_scalar(
            "INSERT INTO indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
                 category_option, value, comment, external_id, fingerprint, state, action, update_subject,
                 source)
             SELECT row.*, $12, $13, $14, $15
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[],
                         $7::text[], $8::float8[], $9::text[], $10::text[], $11::bytea[]) AS row
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(&ids)
        .bind(pick(|row| &row.data_element))
        .bind(pick(|row| &row.unit))
        .bind(pick(|row| &row.period_id))
        .bind(&starts)
        .bind(&ends)
        .bind(pick(|row| &row.category_option))
        .bind(&values)
        .bind(pick(|row| &row.comment))
        .bind(pick(|row| &row.external_id))
        .bind(&fingerprints)
        .bind(state.as_str())
        .bind(ValueAction::Ingested.as_str())
        .bind(subject)
        .bind(source)
        .fetch_all(&mut *connection)
        .await?;
        if written.len() != inserts.len() {
            let written: std::collections::HashSet<&str> =
                written.iter().map(String::as_str).collect();
            for (position, id) in &inserts {
                if !written.contains(id.as_str()) {
                    applied[*position] = Applied::Concurrent;
                }
            }
        }
    }

    if !updates.is_empty() {
        let ids: Vec<&str> = updates.iter().map(|(_, id)| id.as_str()).collect();
        // The versions being replaced go into the history first.
        sqlx::query(
            "INSERT INTO indicators.data_value_revisions (data_value_id, revision, action, state, value, reason,
                 subject, time)
             SELECT id, revision, action, state, value, reason, update_subject, update_time
             FROM indicators.data_values WHERE id = ANY($1)",
        )
        .bind(&ids)
        .execute(&mut *connection)
        .await?;
        let values: Vec<f64> = updates
            .iter()
            .map(|(position, _)| rows[*position].value)
            .collect();
        let comments: Vec<&str> = updates
            .iter()
            .map(|(position, _)| rows[*position].comment.as_str())
            .collect();
        let external: Vec<&str> = updates
            .iter()
            .map(|(position, _)| rows[*position].external_id.as_str())
            .collect();
        let fingerprints: Vec<Vec<u8>> = updates
            .iter()
            .map(|(position, _)| rows[*position].fingerprint.clone())
            .collect();
        sqlx::query(
            "UPDATE indicators.data_values v
             SET value = row.value, comment = row.comment, state = $6, reason = '', action = $7,
                 update_subject = $8, source = $9, external_id = row.external_id,
                 fingerprint = row.fingerprint, revision = v.revision + 1, update_time = now()
             FROM UNNEST($1::text[], $2::float8[], $3::text[], $4::text[], $5::bytea[])
                  AS row(id, value, comment, external_id, fingerprint)
             WHERE v.id = row.id",
        )
        .bind(&ids)
        .bind(&values)
        .bind(&comments)
        .bind(&external)
        .bind(&fingerprints)
        .bind(state.as_str())
        .bind(ValueAction::Ingested.as_str())
        .bind(subject)
        .bind(source)
        .execute(&mut *connection)
        .await?;
    }
    Ok(applied)
}
