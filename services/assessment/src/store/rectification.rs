//! Publishing a round, and the rectification ledger.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use sqlx::PgConnection;

use super::{Store, corrupt};
use crate::domain::{
    Frozen, Input, Item, ItemId, ItemState, OPEN_ITEMS, Round, RoundId, UnitInputs,
};
use crate::error::Result;

fn item_of(value: serde_json::Value) -> Result<Item> {
    serde_json::from_value(value).map_err(|error| corrupt("rectification item", error))
}

/// Which items a listing holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ItemFilter {
    /// The office following them up (its coordinators' view).
    pub owner_unit: Option<String>,
    /// One unit's own.
    pub unit: Option<String>,
    /// A round's id.
    pub round: Option<String>,
    pub state: Option<ItemState>,
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_item"))]
    pub async fn get_item(&self, id: &ItemId) -> Result<Item> {
        let found: serde_json::Value =
            sqlx::query_scalar("SELECT item FROM assessment.rectification_items WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.reads())
                .await?
                .ok_or_else(|| PlatformError::NotFound(id.name()))?;
        item_of(found)
    }

    /// Every item a round opened.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "round_items"))]
    pub async fn round_items(&self, round: &RoundId) -> Result<Vec<Item>> {
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT item FROM assessment.rectification_items WHERE round_id = $1 ORDER BY id",
        )
        .bind(round.as_str())
        .fetch_all(self.reads())
        .await?;
        rows.into_iter().map(item_of).collect()
    }

    /// How many items of an office each unit has not had closed (销号) yet, as round inputs
    /// `rectification/open-items`: what is still open carries into the next round.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "open_item_inputs"))]
    pub async fn open_item_inputs(
        &self,
        owner_unit: &str,
    ) -> Result<Vec<(String, String, Frozen)>> {
        let rows: Vec<(String, i64, Vec<String>)> = sqlx::query_as(
            "SELECT unit_id, count(*), array_agg(id ORDER BY deadline, id)
             FROM assessment.rectification_items
             WHERE owner_unit_id = $1 AND state <> 'closed' GROUP BY unit_id",
        )
        .bind(owner_unit)
        .fetch_all(self.reads())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(unit, count, ids)| {
                let shown: Vec<String> = ids
                    .iter()
                    .take(5)
                    .map(|id| format!("rectificationItems/{id}"))
                    .collect();
                let more = if ids.len() > shown.len() { "…" } else { "" };
                (
                    unit,
                    OPEN_ITEMS.to_owned(),
                    Frozen {
                        input: Input::Number(count as f64),
                        source: format!("未销号整改事项 {}{more}", shown.join("、")),
                    },
                )
            })
            .collect())
    }

    /// Items by deadline; `after` is the last one's (deadline, id).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_items"))]
    pub async fn list_items(
        &self,
        filter: &ItemFilter,
        after: Option<(NaiveDate, String)>,
        page_size: i64,
    ) -> Result<Page<Item, (NaiveDate, String)>> {
        let (after_deadline, after_id) = after.unzip();
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT item FROM assessment.rectification_items
             WHERE ($1::text IS NULL OR owner_unit_id = $1) AND ($2::text IS NULL OR unit_id = $2)
               AND ($3::text IS NULL OR round_id = $3) AND ($4::text IS NULL OR state = $4)
               AND ($5::date IS NULL OR (deadline, id) > ($5, $6))
             ORDER BY deadline, id LIMIT $7",
        )
        .bind(filter.owner_unit.as_deref())
        .bind(filter.unit.as_deref())
        .bind(filter.round.as_deref())
        .bind(filter.state.map(ItemState::as_str))
        .bind(after_deadline)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows.into_iter().map(item_of).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last: &Item| {
            (last.deadline, last.id.as_str().to_owned())
        }))
    }
}

/// Locks a round for publishing: when it was published, if it was; `None` when there is no
/// such round.
pub async fn lock_round(
    connection: &mut PgConnection,
    id: &RoundId,
) -> Result<Option<Option<DateTime<Utc>>>> {
    Ok(sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "SELECT publish_time FROM assessment.rounds WHERE id = $1 FOR UPDATE",
    )
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?)
}

/// Every unit's frozen inputs and peer group in a round, on the transaction's connection.
pub async fn round_inputs(
    connection: &mut PgConnection,
    id: &RoundId,
) -> Result<Vec<(String, String, UnitInputs)>> {
    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT unit_id, peer_group, inputs FROM assessment.scores WHERE round_id = $1
         ORDER BY unit_id",
    )
    .bind(id.as_str())
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(unit, group, inputs)| {
            let inputs =
                serde_json::from_value(inputs).map_err(|error| corrupt("inputs", error))?;
            Ok((unit, group, inputs))
        })
        .collect()
}

/// The (unit, criterion) of every item a round of `scheme` opened that is not closed yet: a
/// revision published after them does not open them twice.
pub async fn items_not_closed(
    connection: &mut PgConnection,
    scheme: &str,
) -> Result<std::collections::HashSet<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT item.unit_id, item.item->>'criterion'
         FROM assessment.rectification_items item
         JOIN assessment.rounds round ON round.id = item.round_id
         WHERE round.scheme_id = $1 AND item.state <> 'closed'",
    )
    .bind(scheme)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Marks a round published and opens its items, set-based.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "publish_round", items = items.len()))]
pub async fn publish_round(
    connection: &mut PgConnection,
    (id, time): (&RoundId, DateTime<Utc>),
    items: &[Item],
) -> Result<Round> {
    sqlx::query("UPDATE assessment.rounds SET publish_time = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(time)
        .execute(&mut *connection)
        .await?;
    insert_items(&mut *connection, items).await?;
    super::round::read_round(connection, id).await
}

/// Opens items, set-based.
pub async fn insert_items(connection: &mut PgConnection, items: &[Item]) -> Result<()> {
    let bodies = items
        .iter()
        .map(|item| serde_json::to_value(item).map_err(|error| corrupt("item", error)))
        .collect::<Result<Vec<_>>>()?;
    sqlx::query(
        "INSERT INTO assessment.rectification_items (id, owner_unit_id, unit_id, round_id, state,
             deadline, item)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::date[], $7::jsonb[])",
    )
    .bind(
        items
            .iter()
            .map(|item| item.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        items
            .iter()
            .map(|item| item.owner_unit.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        items
            .iter()
            .map(|item| item.unit.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        items
            .iter()
            .map(|item| {
                item.round
                    .as_deref()
                    .map(|round| round.trim_start_matches("rounds/"))
            })
            .collect::<Vec<_>>(),
    )
    .bind(
        items
            .iter()
            .map(|item| item.state.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(items.iter().map(|item| item.deadline).collect::<Vec<_>>())
    .bind(bodies)
    .execute(connection)
    .await?;
    Ok(())
}

/// Marks the items past their deadline on `today` and not closed that were not marked
/// before, answering them: each is announced once. Concurrent sweeps wait on the rows and
/// find them marked.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "mark_overdue"))]
pub async fn mark_overdue(connection: &mut PgConnection, today: NaiveDate) -> Result<Vec<Item>> {
    let rows: Vec<serde_json::Value> = sqlx::query_scalar(
        "UPDATE assessment.rectification_items SET overdue_notified = true
         WHERE NOT overdue_notified AND state <> 'closed' AND deadline < $1
         RETURNING item",
    )
    .bind(today)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(item_of).collect()
}

/// Locks an item for a step; `None` when there is none.
pub async fn lock_item(connection: &mut PgConnection, id: &ItemId) -> Result<Option<Item>> {
    sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT item FROM assessment.rectification_items WHERE id = $1 FOR UPDATE",
    )
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(item_of)
    .transpose()
}

/// Saves a locked item's step as its next revision.
pub async fn save_item(connection: &mut PgConnection, item: &Item) -> Result<Item> {
    let next = Item {
        revision: item.revision + 1,
        ..item.clone()
    };
    let body = serde_json::to_value(&next).map_err(|error| corrupt("item", error))?;
    sqlx::query(
        "UPDATE assessment.rectification_items SET state = $2, revision = $3, item = $4
         WHERE id = $1",
    )
    .bind(item.id.as_str())
    .bind(next.state.as_str())
    .bind(next.revision)
    .bind(body)
    .execute(connection)
    .await?;
    Ok(next)
}
