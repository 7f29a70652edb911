//! Proposed targets.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use sqlx::PgConnection;

use super::{Store, corrupt, parsed};
use crate::domain::{ProposalId, ProposalState, ProposedTarget, TargetId};
use crate::error::Result;

const PROPOSAL_COLUMNS: &str = "id, plan, task, ordinal, position, task_number, task_title,
        owner_unit_id, statement, suggested, unmatched, state, target_ids, reason, revision,
        create_time, update_time";

#[derive(sqlx::FromRow)]
struct ProposalRow {
    id: String,
    plan: String,
    task: String,
    ordinal: i32,
    position: i32,
    task_number: String,
    task_title: String,
    owner_unit_id: String,
    statement: serde_json::Value,
    suggested: serde_json::Value,
    unmatched: Option<String>,
    state: String,
    target_ids: Vec<String>,
    reason: Option<String>,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

/// A proposal and its place in the plan.
pub type Placed = (i32, ProposedTarget);

impl TryFrom<ProposalRow> for Placed {
    type Error = crate::error::IndicatorsError;
    fn try_from(row: ProposalRow) -> Result<Self> {
        let bad = |what: &str, error: serde_json::Error| {
            corrupt(format!("proposal {} has a bad {what}: {error}", row.id))
        };
        Ok((
            row.position,
            ProposedTarget {
                statement: serde_json::from_value(row.statement.clone())
                    .map_err(|error| bad("statement", error))?,
                suggested: serde_json::from_value(row.suggested.clone())
                    .map_err(|error| bad("suggestion", error))?,
                state: parsed(ProposalState::parse, &row.state, "proposal state")?,
                id: ProposalId::from_trusted(row.id),
                plan: row.plan,
                task: row.task,
                task_number: row.task_number,
                task_title: row.task_title,
                ordinal: row.ordinal,
                owner_unit: row.owner_unit_id,
                unmatched: row.unmatched,
                targets: row
                    .target_ids
                    .into_iter()
                    .map(TargetId::from_trusted)
                    .collect(),
                reason: row.reason,
                revision: row.revision,
                create_time: row.create_time,
                update_time: row.update_time,
            },
        ))
    }
}

fn proposals(rows: Vec<ProposalRow>) -> Result<Vec<Placed>> {
    rows.into_iter().map(Placed::try_from).collect()
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_proposal"))]
    pub async fn find_proposal(&self, id: &ProposalId) -> Result<Option<ProposedTarget>> {
        sqlx::query_as::<_, ProposalRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM indicators.proposed_targets WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .map(|row| Placed::try_from(row).map(|(_, proposal)| proposal))
        .transpose()
    }

    /// A plan's proposals in task order (of one state, when given), after `(position, id)`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_proposals"))]
    /// The unit whose coordinators the proposals of a plan belong to (the plan's issuer);
    /// `None` when the plan has none.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "proposal_owner"))]
    pub async fn proposal_owner(&self, plan: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT owner_unit_id FROM indicators.proposed_targets WHERE plan = $1 LIMIT 1",
        )
        .bind(plan)
        .fetch_optional(self.reads())
        .await?)
    }

    pub async fn list_proposals(
        &self,
        plan: &str,
        state: Option<ProposalState>,
        after: Option<(i32, String)>,
        page_size: i64,
    ) -> Result<Page<ProposedTarget, (i32, String)>> {
        let (after_position, after_id) = after.unzip();
        let rows: Vec<ProposalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM indicators.proposed_targets
             WHERE plan = $1 AND ($2::text IS NULL OR state = $2)
               AND ($3::integer IS NULL OR (position, id) > ($3, $4))
             ORDER BY position, id LIMIT $5"
        )))
        .bind(plan)
        .bind(state.map(ProposalState::as_str))
        .bind(after_position)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let placed = proposals(rows)?;
        let page = Page::from_overfetch(placed, page_size, |(position, proposal): &Placed| {
            (*position, proposal.id.as_str().to_owned())
        });
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(_, proposal)| proposal)
                .collect(),
            next: page.next,
        })
    }
}

/// A plan's proposals, locked for a refresh, in task order.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_plan_proposals"))]
pub async fn lock_plan_proposals(connection: &mut PgConnection, plan: &str) -> Result<Vec<Placed>> {
    let rows: Vec<ProposalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PROPOSAL_COLUMNS} FROM indicators.proposed_targets
         WHERE plan = $1 ORDER BY position, id FOR UPDATE"
    )))
    .bind(plan)
    .fetch_all(connection)
    .await?;
    proposals(rows)
}

/// Locks a proposal for a decision; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_proposal"))]
pub async fn lock_proposal(
    connection: &mut PgConnection,
    id: &ProposalId,
) -> Result<Option<ProposedTarget>> {
    sqlx::query_as::<_, ProposalRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PROPOSAL_COLUMNS} FROM indicators.proposed_targets WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(|row| Placed::try_from(row).map(|(_, proposal)| proposal))
    .transpose()
}

/// Writes an undecided proposal at its place in the plan: a new one, or the next revision of
/// one read again.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_proposal"))]
pub async fn save_proposal(
    connection: &mut PgConnection,
    position: i32,
    proposal: &ProposedTarget,
) -> Result<ProposedTarget> {
    let row: ProposalRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO indicators.proposed_targets (id, plan, task, ordinal, position, task_number,
             task_title, owner_unit_id, statement, suggested, unmatched)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position,
             task_number = EXCLUDED.task_number, task_title = EXCLUDED.task_title,
             owner_unit_id = EXCLUDED.owner_unit_id, statement = EXCLUDED.statement,
             suggested = EXCLUDED.suggested, unmatched = EXCLUDED.unmatched,
             revision = proposed_targets.revision + 1, update_time = now()
         RETURNING {PROPOSAL_COLUMNS}"
    )))
    .bind(proposal.id.as_str())
    .bind(&proposal.plan)
    .bind(&proposal.task)
    .bind(proposal.ordinal)
    .bind(position)
    .bind(&proposal.task_number)
    .bind(&proposal.task_title)
    .bind(&proposal.owner_unit)
    .bind(fazhi_platform::mutation::to_json(&proposal.statement)?)
    .bind(fazhi_platform::mutation::to_json(&proposal.suggested)?)
    .bind(&proposal.unmatched)
    .fetch_one(connection)
    .await?;
    Placed::try_from(row).map(|(_, proposal)| proposal)
}

/// Drops an undecided proposal its plan no longer states.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "drop_proposal"))]
pub async fn drop_proposal(connection: &mut PgConnection, id: &ProposalId) -> Result<()> {
    sqlx::query("DELETE FROM indicators.proposed_targets WHERE id = $1 AND state = 'proposed'")
        .bind(id.as_str())
        .execute(connection)
        .await?;
    Ok(())
}

/// Saves a decision on a locked proposal: its state, the targets it became, the reason.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "decide_proposal"))]
pub async fn decide_proposal(
    connection: &mut PgConnection,
    proposal: &ProposedTarget,
) -> Result<ProposedTarget> {
    let row: ProposalRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE indicators.proposed_targets
         SET state = $2, target_ids = $3, reason = $4, revision = revision + 1,
             update_time = now()
         WHERE id = $1
         RETURNING {PROPOSAL_COLUMNS}"
    )))
    .bind(proposal.id.as_str())
    .bind(proposal.state.as_str())
    .bind(
        proposal
            .targets
            .iter()
            .map(|target| target.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind(&proposal.reason)
    .fetch_one(connection)
    .await?;
    Placed::try_from(row).map(|(_, proposal)| proposal)
}
