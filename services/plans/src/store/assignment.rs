//! Assignments: lists for units, plans and lead units, overdue work, and persisting the state
//! changes [`crate::domain::Assignment`] decides.

use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use fazhi_platform::mutation::{Change, NewEvent};
use sqlx::{AssertSqlSafe, PgConnection};

use super::{
    ASSIGNMENT_SELECT, AssignmentKey, AssignmentRow, Outcome, OverdueKey, Store, json, page_of,
};
use crate::domain::{Assignment, AssignmentFilter, PlanId};
use crate::error::{PlansError, Result};

fn assignment_not_found(plan: &PlanId, task: &str, id: &str) -> PlansError {
    PlansError::AssignmentNotFound(format!("{}/tasks/{task}/assignments/{id}", plan.name()))
}

/// Assignments of a plan (`$1`) and/or a unit (`$2`), or of the tasks a unit leads (`$8`), in
/// list order after the keyset position `$3`–`$6` (when `$3` is not null), at most `$7`. Public
/// for the load benchmark, whose baseline runs it through pgbench.
pub fn list_assignments_sql() -> String {
    format!(
        "{ASSIGNMENT_SELECT}
         WHERE ($1::text IS NULL OR a.plan_id = $1) AND ($2::text IS NULL OR a.unit_id = $2)
           AND ($3::text IS NULL OR (a.plan_id, a.task_position, a.unit_id, a.role) > ($3, $4, $5, $6))
           AND ($8::text IS NULL OR (a.plan_id, a.task_id) IN (
                 SELECT lead.plan_id, lead.task_id FROM plans.assignments lead
                 WHERE lead.unit_id = $8 AND lead.role = 'lead'))
         ORDER BY a.plan_id, a.task_position, a.unit_id, a.role
         LIMIT $7"
    )
}

impl Store {
    /// Assignments of a plan and/or a unit, in task order, after a keyset position.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_assignments"))]
    pub async fn list_assignments(
        &self,
        filter: AssignmentFilter<'_>,
        after: Option<AssignmentKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, AssignmentKey>> {
        let (after_plan, after_position, after_unit, after_role) = match after {
            Some((plan, position, unit, role)) => {
                (Some(plan), Some(position), Some(unit), Some(role))
            }
            None => (None, None, None, None),
        };
        let rows: Vec<AssignmentRow> = sqlx::query_as(AssertSqlSafe(list_assignments_sql()))
            .bind(filter.plan.map(PlanId::as_str))
            .bind(filter.unit)
            .bind(after_plan)
            .bind(after_position)
            .bind(after_unit)
            .bind(after_role)
            .bind(page_size + 1)
            .bind(filter.led_by)
            .fetch_all(self.reads())
            .await?;
        let positions: Vec<i32> = rows.iter().map(|row| row.position).collect();
        let items = rows
            .into_iter()
            .map(Assignment::try_from)
            .collect::<Result<Vec<_>>>()?;
        let keyed: Vec<(Assignment, i32)> = items.into_iter().zip(positions).collect();
        let page = Page::from_overfetch(keyed, page_size, |(assignment, position)| {
            (
                assignment.plan.as_str().to_owned(),
                *position,
                assignment.unit.clone(),
                assignment.role.as_str().to_owned(),
            )
        });
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(assignment, _)| assignment)
                .collect(),
            next: page.next,
        })
    }

    /// One assignment.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_assignment"))]
    pub async fn get_assignment(&self, plan: &PlanId, task: &str, id: &str) -> Result<Assignment> {
        sqlx::query_as::<_, AssignmentRow>(AssertSqlSafe(format!(
            "{ASSIGNMENT_SELECT} WHERE a.plan_id = $1 AND a.task_id = $2 AND a.id = $3"
        )))
        .bind(plan.as_str())
        .bind(task)
        .bind(id)
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| assignment_not_found(plan, task, id))?
        .try_into()
    }

    /// Assignments due before a day and not completed, most overdue first; optionally only of
    /// some units and of one plan.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_overdue"))]
    pub async fn list_overdue(
        &self,
        as_of: chrono::NaiveDate,
        units: Option<&[String]>,
        plan: Option<&PlanId>,
        after: Option<OverdueKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, OverdueKey>> {
        let (after_due, after_id) = after.unzip();
        let rows: Vec<AssignmentRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{ASSIGNMENT_SELECT}
             JOIN plans.plans p ON p.id = a.plan_id AND p.state = 'published'
             WHERE a.state <> 'completed' AND a.due_date < $1
               AND ($2::text[] IS NULL OR a.unit_id = ANY($2))
               AND ($3::text IS NULL OR a.plan_id = $3)
               AND ($4::date IS NULL OR (a.due_date, a.id) > ($4, $5))
             ORDER BY a.due_date, a.id LIMIT $6"
        )))
        .bind(as_of)
        .bind(units)
        .bind(plan.map(PlanId::as_str))
        .bind(after_due)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        page_of(rows, page_size, |last: &Assignment| {
            (last.due_date.unwrap_or(as_of), last.id.clone())
        })
    }
}

async fn assignment_in(connection: &mut PgConnection, id: &str) -> Result<Assignment> {
    sqlx::query_as::<_, AssignmentRow>(AssertSqlSafe(format!(
        "{ASSIGNMENT_SELECT} WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_one(connection)
    .await?
    .try_into()
}

/// An assignment, locked for the rest of the transaction.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_assignment"))]
pub async fn lock_assignment(
    connection: &mut PgConnection,
    (plan, task, id): (&PlanId, &str, &str),
) -> Result<Assignment> {
    sqlx::query_as::<_, AssignmentRow>(AssertSqlSafe(format!(
        "{ASSIGNMENT_SELECT} WHERE a.plan_id = $1 AND a.task_id = $2 AND a.id = $3 FOR UPDATE OF a"
    )))
    .bind(plan.as_str())
    .bind(task)
    .bind(id)
    .fetch_optional(connection)
    .await?
    .ok_or_else(|| assignment_not_found(plan, task, id))?
    .try_into()
}

/// Persists `after`, the state the domain decided for the assignment locked as `before`, and
/// reads it back at its new revision. Moving it onto a unit that has this part already is
/// refused.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "update_assignment"))]
pub async fn update_assignment(
    connection: &mut PgConnection,
    before: &Assignment,
    after: &Assignment,
) -> Result<Assignment> {
    let (progress_status, progress_percent, progress_time) = after
        .progress
        .map(|(status, percent, time)| (Some(status.as_str()), Some(percent), Some(time)))
        .unwrap_or_default();
    let updated = sqlx::query(
        "UPDATE plans.assignments SET unit_id = $3, state = $4, work_plan = $5, claim_time = $6,
             claimed_by = $7, due_date = $8, progress_status = $9, progress_percent = $10,
             progress_time = $11, revision = revision + 1, update_time = now()
         WHERE id = $1 AND revision = $2",
    )
    .bind(&before.id)
    .bind(before.revision)
    .bind(&after.unit)
    .bind(after.state.as_str())
    .bind(after.work_plan.as_ref().map(json).transpose()?)
    .bind(after.claim_time)
    .bind(&after.claimed_by)
    .bind(after.due_date)
    .bind(progress_status)
    .bind(progress_percent)
    .bind(progress_time)
    .execute(&mut *connection)
    .await;
    let updated = match updated {
        // assignments_unique: one assignment per plan, task, role and unit.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(PlansError::AlreadyAssigned(after.unit.clone()));
        }
        other => other?.rows_affected(),
    };
    if updated == 0 {
        return Err(PlatformError::Conflict.into());
    }
    assignment_in(connection, &before.id).await
}

/// One assignment's change, audited before and after, with its event (`payload` defaults to
/// the assignment as it now is).
pub fn assignment_change<T>(
    before: &Assignment,
    after: &Assignment,
    (event_type, payload): (&'static str, Option<serde_json::Value>),
    response: T,
) -> Result<Outcome<T>> {
    let payload = match payload {
        Some(payload) => payload,
        None => json(after)?,
    };
    Ok(Outcome {
        response,
        changes: vec![Change::of(after.name(), Some(before), Some(after))?],
        events: vec![NewEvent {
            event_type,
            resource: after.name(),
            payload,
        }],
    })
}

/// 机构改革: re-points the open (not completed) assignments of published plans from each unit to
/// its successor (`crate::domain::successor_moves`), audited with an event each. An assignment
/// whose successor has the same part of the task already stays, for the coordinator. Set-based,
/// since one merge can move hundreds of assignments.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "repoint_assignments"))]
pub async fn repoint_assignments(
    connection: &mut PgConnection,
    moves: &[(String, String)],
    reason: &str,
) -> Result<Outcome<usize>> {
    let mut outcome = Outcome {
        response: 0,
        changes: Vec::new(),
        events: Vec::new(),
    };
    for (from, to) in moves {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE plans.assignments a SET unit_id = $2, revision = a.revision + 1, update_time = now()
             FROM plans.plans p
             WHERE p.id = a.plan_id AND p.state = 'published' AND a.unit_id = $1 AND a.state <> 'completed'
               AND NOT EXISTS (SELECT 1 FROM plans.assignments b WHERE b.plan_id = a.plan_id
                               AND b.task_id = a.task_id AND b.role = a.role AND b.unit_id = $2)
             RETURNING a.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *connection)
        .await?;
        for id in ids {
            let moved = assignment_in(connection, &id).await?;
            let before = Assignment {
                unit: from.clone(),
                revision: moved.revision - 1,
                ..moved.clone()
            };
            outcome
                .changes
                .push(Change::of(moved.name(), Some(&before), Some(&moved))?);
            outcome.events.push(NewEvent {
                event_type: "assignment.reassigned",
                resource: moved.name(),
                payload: serde_json::json!({
                    "assignment": json(&moved)?,
                    "previous_unit": from,
                    "reason": reason,
                }),
            });
        }
    }
    outcome.response = outcome.changes.len();
    Ok(outcome)
}
