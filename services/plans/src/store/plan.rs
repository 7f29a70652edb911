//! Plans: drafts with their tasks, publishing with the assignments it creates, edits, deletion.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use fazhi_platform::mutation::{Change, NewEvent};
use sqlx::{AssertSqlSafe, PgConnection};

use super::{
    ASSIGNMENT_SELECT, AssignmentRow, Outcome, PLAN_COLUMNS, PlanRow, Store, json, page_of,
};
use crate::domain::{Assignment, Draft, NewAssignment, Plan, PlanId, PlanKind, PlanState};
use crate::error::{PlansError, Result};

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_plan"))]
    pub async fn get_plan(&self, id: &PlanId) -> Result<Plan> {
        sqlx::query_as::<_, PlanRow>(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM plans.plans WHERE id = $1 AND delete_time IS NULL"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlansError::PlanNotFound(id.name()))?
        .try_into()
    }

    /// Plans, newest first, optionally of one issuer.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_plans"))]
    pub async fn list_plans(
        &self,
        issuer: Option<&str>,
        after: Option<(DateTime<Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<Plan, (DateTime<Utc>, String)>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<PlanRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM plans.plans
             WHERE delete_time IS NULL AND ($1::text IS NULL OR issuer_id = $1)
               AND ($2::timestamptz IS NULL OR (create_time, id) < ($2, $3))
             ORDER BY create_time DESC, id DESC LIMIT $4"
        )))
        .bind(issuer)
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        page_of(rows, page_size, |last: &Plan| {
            (last.create_time, last.id.as_str().to_owned())
        })
    }
}

/// A live (not deleted) plan, locked for the rest of the transaction.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_plan"))]
pub async fn lock_plan(connection: &mut PgConnection, id: &PlanId) -> Result<Plan> {
    sqlx::query_as::<_, PlanRow>(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM plans.plans WHERE id = $1 AND delete_time IS NULL FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .ok_or_else(|| PlansError::PlanNotFound(id.name()))?
    .try_into()
}

async fn plan_in(connection: &mut PgConnection, id: &PlanId) -> Result<Plan> {
    sqlx::query_as::<_, PlanRow>(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM plans.plans WHERE id = $1"
    )))
    .bind(id.as_str())
    .fetch_one(connection)
    .await?
    .try_into()
}

/// A plan's change, audited before and after, with its event.
fn plan_change<T>(
    before: Option<&Plan>,
    after: &Plan,
    (event_type, payload): (&'static str, serde_json::Value),
    response: T,
) -> Result<Outcome<T>> {
    Ok(Outcome {
        response,
        changes: vec![Change::of(after.id.name(), before, Some(after))?],
        events: vec![NewEvent {
            event_type,
            resource: after.id.name(),
            payload,
        }],
    })
}

/// Stores an imported draft with its tasks.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_draft"))]
pub async fn insert_draft(connection: &mut PgConnection, draft: &Draft) -> Result<Outcome<Plan>> {
    sqlx::query(
        "INSERT INTO plans.plans (id, title, document_number, issuer_id, period_start_year, period_end_year,
                                  state, task_count, import_report, parent_plan_id, kind, phases)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(draft.id.as_str())
    .bind(&draft.title)
    .bind(&draft.document_number)
    .bind(&draft.issuer)
    .bind(draft.period.map(|(start, _)| start))
    .bind(draft.period.map(|(_, end)| end))
    .bind(PlanState::Draft.as_str())
    .bind(draft.tasks.len() as i32)
    .bind(json(&draft.report)?)
    .bind(draft.parent_plan.as_ref().map(PlanId::as_str))
    .bind(draft.kind.map(PlanKind::as_str))
    .bind(json(&draft.phases)?)
    .execute(&mut *connection)
    .await?;
    let tasks = &draft.tasks;
    let mentions = tasks
        .iter()
        .map(|task| json(&task.mentions))
        .collect::<Result<Vec<_>>>()?;
    let deadlines = tasks
        .iter()
        .map(|task| json(&task.deadlines))
        .collect::<Result<Vec<_>>>()?;
    let targets = tasks
        .iter()
        .map(|task| json(&task.targets))
        .collect::<Result<Vec<_>>>()?;
    sqlx::query(
        "INSERT INTO plans.tasks (plan_id, id, position, number, title, body, part_number, part_title,
                                  section_number, section_title, source_line, mentions, deadlines, targets,
                                  parent_task_id)
         SELECT $1, task.* FROM UNNEST($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
                                       $8::text[], $9::text[], $10::text[], $11::int[], $12::jsonb[],
                                       $13::jsonb[], $14::jsonb[], $15::text[]) AS task",
    )
    .bind(draft.id.as_str())
    .bind(tasks.iter().map(|task| task.id.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.position).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.number.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.title.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.text.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.part_number.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.part_title.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.section_number.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.section_title.as_str()).collect::<Vec<_>>())
    .bind(tasks.iter().map(|task| task.source_line).collect::<Vec<_>>())
    .bind(mentions)
    .bind(deadlines)
    .bind(targets)
    .bind(
        tasks
            .iter()
            .map(|task| task.parent_task.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *connection)
    .await?;
    let plan = plan_in(connection, &draft.id).await?;
    let payload = json(&plan)?;
    plan_change(None, &plan, ("plan.imported", payload), plan.clone())
}

/// Publishes a draft locked at `plan`: state, date and assignments, with an event for the plan
/// and one per assignment.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "publish"))]
pub async fn publish(
    connection: &mut PgConnection,
    plan: &Plan,
    publish_date: chrono::NaiveDate,
    new_assignments: &[NewAssignment],
) -> Result<Outcome<(Plan, i32)>> {
    sqlx::query(
        "UPDATE plans.plans SET state = 'published', publish_date = $2, revision = revision + 1, update_time = now()
         WHERE id = $1",
    )
    .bind(plan.id.as_str())
    .bind(publish_date)
    .execute(&mut *connection)
    .await?;
    let ids: Vec<String> = new_assignments
        .iter()
        .map(|_| format!("a-{}", uuid::Uuid::now_v7().simple()))
        .collect();
    sqlx::query(
        "INSERT INTO plans.assignments (id, plan_id, task_id, unit_id, role, mention, state, due_date,
                                        task_position)
         SELECT new.id, $1, new.task_id, new.unit_id, new.role, new.mention, 'open', new.due_date, t.position
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[])
              AS new (id, task_id, unit_id, role, mention, due_date)
         JOIN plans.tasks t ON t.plan_id = $1 AND t.id = new.task_id",
    )
    .bind(plan.id.as_str())
    .bind(&ids)
    .bind(new_assignments.iter().map(|new| new.task_id.as_str()).collect::<Vec<_>>())
    .bind(new_assignments.iter().map(|new| new.unit.as_str()).collect::<Vec<_>>())
    .bind(new_assignments.iter().map(|new| new.role.as_str()).collect::<Vec<_>>())
    .bind(new_assignments.iter().map(|new| new.mention.as_str()).collect::<Vec<_>>())
    .bind(new_assignments.iter().map(|new| new.due_date).collect::<Vec<_>>())
    .execute(&mut *connection)
    .await?;
    let published = plan_in(connection, &plan.id).await?;
    let created: Vec<Assignment> = sqlx::query_as::<_, AssignmentRow>(AssertSqlSafe(format!(
        "{ASSIGNMENT_SELECT} WHERE a.plan_id = $1 ORDER BY a.task_position, a.unit_id, a.role"
    )))
    .bind(plan.id.as_str())
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(Assignment::try_from)
    .collect::<Result<_>>()?;
    let count = created.len() as i32;
    let payload = serde_json::json!({ "plan": json(&published)?, "assignment_count": count });
    let mut outcome = plan_change(
        Some(plan),
        &published,
        ("plan.published", payload),
        (published.clone(), count),
    )?;
    for assignment in &created {
        outcome.events.push(NewEvent {
            event_type: "assignment.created",
            resource: assignment.name(),
            payload: json(assignment)?,
        });
    }
    Ok(outcome)
}

/// Writes a plan's editable fields and state over the plan locked as `before`, with a
/// `plan.updated` event naming what changed.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_plan"))]
pub async fn save_plan(
    connection: &mut PgConnection,
    before: &Plan,
    after: &Plan,
    changed: Vec<String>,
) -> Result<Outcome<Plan>> {
    sqlx::query(
        "UPDATE plans.plans SET title = $2, document_number = $3, kind = $4, period_start_year = $5,
             period_end_year = $6, phases = $7, state = $8, revision = revision + 1, update_time = now()
         WHERE id = $1",
    )
    .bind(before.id.as_str())
    .bind(&after.title)
    .bind(&after.document_number)
    .bind(after.kind.map(PlanKind::as_str))
    .bind(after.period.map(|(start, _)| start))
    .bind(after.period.map(|(_, end)| end))
    .bind(json(&after.phases)?)
    .bind(after.state.as_str())
    .execute(&mut *connection)
    .await?;
    plan_updated(connection, before, changed).await
}

/// The plan as it now is, audited against `before`, with a `plan.updated` event.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "plan_updated"))]
pub(super) async fn plan_updated(
    connection: &mut PgConnection,
    before: &Plan,
    changed: Vec<String>,
) -> Result<Outcome<Plan>> {
    let after = plan_in(connection, &before.id).await?;
    let payload = serde_json::json!({ "plan": json(&after)?, "changed": changed });
    plan_change(
        Some(before),
        &after,
        ("plan.updated", payload),
        after.clone(),
    )
}

/// Soft-deletes the draft locked as `plan`.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "delete_draft"))]
pub async fn delete_draft(connection: &mut PgConnection, plan: &Plan) -> Result<Outcome<()>> {
    sqlx::query(
        "UPDATE plans.plans SET delete_time = now(), revision = revision + 1, update_time = now()
         WHERE id = $1 AND delete_time IS NULL",
    )
    .bind(plan.id.as_str())
    .execute(&mut *connection)
    .await?;
    Ok(Outcome {
        response: (),
        changes: vec![Change::of::<Plan, Plan>(plan.id.name(), Some(plan), None)?],
        events: vec![NewEvent {
            event_type: "plan.deleted",
            resource: plan.id.name(),
            payload: serde_json::json!({ "plan": plan.id.name() }),
        }],
    })
}

/// A plan's revision moved by an edit of one of its tasks.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "touch_plan"))]
pub(super) async fn touch_plan(connection: &mut PgConnection, plan: &Plan) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE plans.plans SET revision = revision + 1, update_time = now() WHERE id = $1",
    )
    .bind(plan.id.as_str())
    .execute(connection)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(PlatformError::Conflict.into());
    }
    Ok(())
}
