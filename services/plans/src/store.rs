//! All SQL of the plans service (schema `plans`).

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use fazhi_platform::mutation::{self, Begun, Change, MutationContext, NewEvent};
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::{
    Assignment, AssignmentState, CheckedProgress, Draft, Evidence, ImportReport, NewAssignment,
    Plan, PlanId, PlanKind, PlanState, ProgressReport, ProgressStatus, Role, Task,
};
use crate::error::{PlansError, Result};

/// The schema this service owns.
pub const SCHEMA: &str = "plans";

/// Migrations of the `plans` schema (table `plans._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Commits a change of one assignment: audited before and after, with its event.
async fn finish_assignment_change<T: Serialize>(
    transaction: sqlx::Transaction<'static, sqlx::Postgres>,
    context: &MutationContext,
    (before, after): (&Assignment, &Assignment),
    (event_type, payload): (&'static str, serde_json::Value),
    response: &T,
) -> Result<()> {
    let resource = after.name();
    mutation::finish(
        transaction,
        SCHEMA,
        context,
        &[Change {
            resource: resource.clone(),
            before: Some(json(before)),
            after: Some(json(after)),
        }],
        vec![NewEvent {
            event_type,
            resource,
            payload,
        }],
        response,
    )
    .await?;
    Ok(())
}

/// Rows read one past the page, converted, as a page keyed by its last item.
fn page_of<R, T, K>(rows: Vec<R>, page_size: i64, key: impl Fn(&T) -> K) -> Result<Page<T, K>>
where
    T: TryFrom<R, Error = PlansError>,
{
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, page_size, key))
}

fn corrupt(what: String) -> PlansError {
    PlansError::Platform(PlatformError::Internal(what))
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: String,
    title: String,
    document_number: String,
    issuer_id: String,
    period_start_year: Option<i32>,
    period_end_year: Option<i32>,
    state: String,
    task_count: i32,
    import_report: serde_json::Value,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    publish_date: Option<chrono::NaiveDate>,
    parent_plan_id: Option<String>,
    kind: Option<String>,
    phases: serde_json::Value,
}

impl TryFrom<PlanRow> for Plan {
    type Error = PlansError;
    fn try_from(row: PlanRow) -> Result<Self> {
        let phases = serde_json::from_value(row.phases)
            .map_err(|_| corrupt(format!("plan {} has bad phases", row.id)))?;
        Ok(Plan {
            state: PlanState::parse(&row.state)
                .ok_or_else(|| corrupt(format!("plan {} has a bad state", row.id)))?,
            report: serde_json::from_value::<ImportReport>(row.import_report)
                .map_err(|_| corrupt(format!("plan {} has a bad import report", row.id)))?,
            id: PlanId::from_trusted(row.id),
            title: row.title,
            document_number: row.document_number,
            issuer: row.issuer_id,
            period: row.period_start_year.zip(row.period_end_year),
            task_count: row.task_count,
            revision: row.revision,
            create_time: row.create_time,
            update_time: row.update_time,
            publish_date: row.publish_date,
            parent_plan: row.parent_plan_id.map(PlanId::from_trusted),
            kind: row.kind.as_deref().and_then(PlanKind::parse),
            phases,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    id: String,
    plan_id: String,
    task_id: String,
    task_number: String,
    task_title: String,
    unit_id: String,
    role: String,
    mention: String,
    state: String,
    create_time: DateTime<Utc>,
    position: i32,
    work_plan: Option<serde_json::Value>,
    claim_time: Option<DateTime<Utc>>,
    revision: i64,
    due_date: Option<chrono::NaiveDate>,
    progress_status: Option<String>,
    progress_percent: Option<i32>,
    progress_time: Option<DateTime<Utc>>,
}

impl TryFrom<AssignmentRow> for Assignment {
    type Error = PlansError;
    fn try_from(row: AssignmentRow) -> Result<Self> {
        let bad = |what: &str| corrupt(format!("assignment {} has a bad {what}", row.id));
        let work_plan = row
            .work_plan
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|_| bad("work plan"))?;
        let role = Role::parse(&row.role).ok_or_else(|| bad("role"))?;
        let state = AssignmentState::parse(&row.state).ok_or_else(|| bad("state"))?;
        let progress = match (row.progress_status, row.progress_percent, row.progress_time) {
            (Some(status), Some(percent), Some(time)) => Some((
                ProgressStatus::parse(&status).ok_or_else(|| bad("progress status"))?,
                percent,
                time,
            )),
            _ => None,
        };
        Ok(Assignment {
            progress,
            due_date: row.due_date,
            role,
            state,
            id: row.id,
            plan: PlanId::from_trusted(row.plan_id),
            task_id: row.task_id,
            task_number: row.task_number,
            task_title: row.task_title,
            unit: row.unit_id,
            work_plan,
            mention: row.mention,
            create_time: row.create_time,
            claim_time: row.claim_time,
            revision: row.revision,
        })
    }
}

/// Where a list of assignments stopped: plan, task position, unit, role.
pub type AssignmentKey = (String, i32, String, String);

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: String,
    position: i32,
    number: String,
    title: String,
    body: String,
    part_number: String,
    part_title: String,
    section_number: String,
    section_title: String,
    source_line: i32,
    mentions: serde_json::Value,
    deadlines: serde_json::Value,
    targets: serde_json::Value,
    parent_task_id: Option<String>,
}

impl TryFrom<TaskRow> for Task {
    type Error = PlansError;
    fn try_from(row: TaskRow) -> Result<Self> {
        let bad = |what: &str| corrupt(format!("task {} has bad {what}", row.id));
        Ok(Task {
            mentions: serde_json::from_value(row.mentions.clone()).map_err(|_| bad("mentions"))?,
            deadlines: serde_json::from_value(row.deadlines.clone())
                .map_err(|_| bad("deadlines"))?,
            targets: serde_json::from_value(row.targets.clone()).map_err(|_| bad("targets"))?,
            id: row.id,
            position: row.position,
            number: row.number,
            title: row.title,
            text: row.body,
            part_number: row.part_number,
            part_title: row.part_title,
            section_number: row.section_number,
            section_title: row.section_title,
            source_line: row.source_line,
            parent_task: row.parent_task_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    id: String,
    assignment_id: String,
    status: String,
    percent: i32,
    narrative: String,
    reporter: String,
    create_time: DateTime<Utc>,
    evidence: serde_json::Value,
}

impl TryFrom<ProgressRow> for ProgressReport {
    type Error = PlansError;
    fn try_from(row: ProgressRow) -> Result<Self> {
        let bad = |what: &str| corrupt(format!("progress report {} has a bad {what}", row.id));
        Ok(ProgressReport {
            status: ProgressStatus::parse(&row.status).ok_or_else(|| bad("status"))?,
            evidence: serde_json::from_value(row.evidence.clone()).map_err(|_| bad("evidence"))?,
            id: row.id,
            assignment_id: row.assignment_id,
            percent: row.percent,
            narrative: row.narrative,
            reporter: row.reporter,
            create_time: row.create_time,
        })
    }
}

const PROGRESS_SELECT: &str = "SELECT r.id, r.assignment_id, r.status, r.percent, r.narrative, r.reporter, r.create_time,
    coalesce((SELECT jsonb_agg(jsonb_build_object('file_name', e.file_name, 'content_type', e.content_type,
                                                  'size_bytes', e.size_bytes, 'sha256', e.sha256) ORDER BY e.position)
              FROM plans.evidence e WHERE e.report_id = r.id), '[]') AS evidence
    FROM plans.progress_reports r";

/// Where a list of progress reports stopped: newest first.
pub type ProgressKey = (DateTime<Utc>, String);

/// Where a list of overdue assignments stopped: due date, id.
pub type OverdueKey = (chrono::NaiveDate, String);

/// Which assignments to list.
#[derive(Debug, Default, Clone, Copy)]
pub struct AssignmentFilter<'a> {
    pub plan: Option<&'a PlanId>,
    pub unit: Option<&'a str>,
    /// Every assignment of the tasks this unit leads.
    pub led_by: Option<&'a str>,
}

const PLAN_COLUMNS: &str =
    "id, title, document_number, issuer_id, period_start_year, period_end_year, state,
    task_count, import_report, revision, create_time, update_time, publish_date, parent_plan_id, kind, phases";

const ASSIGNMENT_SELECT: &str =
    "SELECT a.id, a.plan_id, a.task_id, t.number AS task_number, t.title AS task_title,
    a.unit_id, a.role, a.mention, a.state, a.create_time, t.position, a.work_plan, a.claim_time, a.revision,
    a.due_date, a.progress_status, a.progress_percent, a.progress_time
    FROM plans.assignments a JOIN plans.tasks t ON t.plan_id = a.plan_id AND t.id = a.task_id";

/// Postgres access for plans.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn audit_refusal(
        &self,
        context: &MutationContext,
        resource: &str,
        result: &str,
    ) -> Result<()> {
        Ok(mutation::audit_refusal(&self.pool, SCHEMA, context, resource, result).await?)
    }

    /// Stores an imported draft with its tasks, in one transaction.
    pub async fn create_draft(&self, context: &MutationContext, draft: &Draft) -> Result<Plan> {
        let mut transaction = match mutation::begin::<Plan>(&self.pool, SCHEMA, context).await? {
            Begun::Replay(plan) => return Ok(plan),
            Begun::Fresh(transaction) => transaction,
        };
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
        .bind(json(&draft.report))
        .bind(draft.parent_plan.as_ref().map(PlanId::as_str))
        .bind(draft.kind.map(PlanKind::as_str))
        .bind(json(&draft.phases))
        .execute(&mut *transaction)
        .await?;
        let tasks = &draft.tasks;
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
        .bind(tasks.iter().map(|task| json(&task.mentions)).collect::<Vec<_>>())
        .bind(tasks.iter().map(|task| json(&task.deadlines)).collect::<Vec<_>>())
        .bind(tasks.iter().map(|task| json(&task.targets)).collect::<Vec<_>>())
        .bind(
            tasks
                .iter()
                .map(|task| task.parent_task.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *transaction)
        .await?;
        let plan: Plan = self.plan_in(&mut transaction, draft.id.as_str()).await?;
        mutation::finish(
            transaction,
            SCHEMA,
            context,
            &[Change {
                resource: plan.id.name(),
                before: None,
                after: Some(json(&plan)),
            }],
            vec![NewEvent {
                event_type: "plan.imported",
                resource: plan.id.name(),
                payload: json(&plan),
            }],
            &plan,
        )
        .await?;
        Ok(plan)
    }

    pub async fn get_plan(&self, id: &PlanId) -> Result<Plan> {
        sqlx::query_as::<_, PlanRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM plans.plans WHERE id = $1 AND delete_time IS NULL"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlansError::PlanNotFound(id.name()))?
        .try_into()
    }

    /// Plans, newest first, optionally of one issuer.
    pub async fn list_plans(
        &self,
        issuer: Option<&str>,
        after: Option<(DateTime<Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<Plan, (DateTime<Utc>, String)>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM plans.plans
             WHERE delete_time IS NULL AND ($1::text IS NULL OR issuer_id = $1)
               AND ($2::timestamptz IS NULL OR (create_time, id) < ($2, $3))
             ORDER BY create_time DESC, id DESC LIMIT $4"
        )))
        .bind(issuer)
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        page_of(rows, page_size, |last: &Plan| {
            (last.create_time, last.id.as_str().to_owned())
        })
    }

    /// Publishes a draft read at `revision`: state, date and assignments in one transaction,
    /// with an event for the plan and one per assignment.
    pub async fn publish(
        &self,
        context: &MutationContext,
        plan: &Plan,
        publish_date: chrono::NaiveDate,
        new_assignments: &[NewAssignment],
    ) -> Result<(Plan, i32)> {
        let mut transaction =
            match mutation::begin::<(Plan, i32)>(&self.pool, SCHEMA, context).await? {
                Begun::Replay(done) => return Ok(done),
                Begun::Fresh(transaction) => transaction,
            };
        let updated = sqlx::query(
            "UPDATE plans.plans SET state = 'published', publish_date = $3, revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2 AND state = 'draft'",
        )
        .bind(plan.id.as_str())
        .bind(plan.revision)
        .bind(publish_date)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(PlatformError::EtagMismatch.into());
        }
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
        .bind(
            new_assignments
                .iter()
                .map(|new| new.task_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            new_assignments
                .iter()
                .map(|new| new.unit.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            new_assignments
                .iter()
                .map(|new| new.role.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            new_assignments
                .iter()
                .map(|new| new.mention.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            new_assignments
                .iter()
                .map(|new| new.due_date)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *transaction)
        .await?;
        let published: Plan = self.plan_in(&mut transaction, plan.id.as_str()).await?;
        let created: Vec<Assignment> =
            sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
                "{ASSIGNMENT_SELECT} WHERE a.plan_id = $1 ORDER BY a.task_position, a.unit_id, a.role"
            )))
            .bind(plan.id.as_str())
            .fetch_all(&mut *transaction)
            .await?
            .into_iter()
            .map(Assignment::try_from)
            .collect::<Result<_>>()?;
        let count = created.len() as i32;
        let mut events = vec![NewEvent {
            event_type: "plan.published",
            resource: published.id.name(),
            payload: serde_json::json!({ "plan": json(&published), "assignment_count": count }),
        }];
        events.extend(created.iter().map(|assignment| NewEvent {
            event_type: "assignment.created",
            resource: format!(
                "{}/tasks/{}/assignments/{}",
                assignment.plan.name(),
                assignment.task_id,
                assignment.id
            ),
            payload: json(assignment),
        }));
        let outcome = (published, count);
        mutation::finish(
            transaction,
            SCHEMA,
            context,
            &[Change {
                resource: plan.id.name(),
                before: Some(json(plan)),
                after: Some(json(&outcome.0)),
            }],
            events,
            &outcome,
        )
        .await?;
        Ok(outcome)
    }

    /// Assignments of a plan and/or a unit, in task order, after a keyset position.
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
        let rows: Vec<AssignmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ASSIGNMENT_SELECT}
             WHERE ($1::text IS NULL OR a.plan_id = $1) AND ($2::text IS NULL OR a.unit_id = $2)
               AND ($3::text IS NULL OR (a.plan_id, a.task_position, a.unit_id, a.role) > ($3, $4, $5, $6))
               AND ($8::text IS NULL OR (a.plan_id, a.task_id) IN (
                     SELECT lead.plan_id, lead.task_id FROM plans.assignments lead
                     WHERE lead.unit_id = $8 AND lead.role = 'lead'))
             ORDER BY a.plan_id, a.task_position, a.unit_id, a.role
             LIMIT $7"
        )))
        .bind(filter.plan.map(PlanId::as_str))
        .bind(filter.unit)
        .bind(after_plan)
        .bind(after_position)
        .bind(after_unit)
        .bind(after_role)
        .bind(page_size + 1)
        .bind(filter.led_by)
        .fetch_all(&self.pool)
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
    pub async fn get_assignment(&self, plan: &PlanId, task: &str, id: &str) -> Result<Assignment> {
        sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
            "{ASSIGNMENT_SELECT} WHERE a.plan_id = $1 AND a.task_id = $2 AND a.id = $3"
        )))
        .bind(plan.as_str())
        .bind(task)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            PlansError::AssignmentNotFound(format!("{}/tasks/{task}/assignments/{id}", plan.name()))
        })?
        .try_into()
    }

    /// One task.
    pub async fn get_task(&self, plan: &PlanId, task: &str) -> Result<Task> {
        sqlx::query_as::<_, TaskRow>(
            "SELECT id, position, number, title, body, part_number, part_title, section_number, section_title,
                    source_line, mentions, deadlines, targets, parent_task_id
             FROM plans.tasks WHERE plan_id = $1 AND id = $2",
        )
        .bind(plan.as_str())
        .bind(task)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlansError::AssignmentNotFound(format!("{}/tasks/{task}", plan.name())))?
        .try_into()
    }

    /// Claims an open assignment read at its revision.
    pub async fn claim(
        &self,
        context: &MutationContext,
        assignment: &Assignment,
        work_plan: &crate::domain::WorkPlan,
    ) -> Result<Assignment> {
        let mut transaction =
            match mutation::begin::<Assignment>(&self.pool, SCHEMA, context).await? {
                Begun::Replay(claimed) => return Ok(claimed),
                Begun::Fresh(transaction) => transaction,
            };
        let updated = sqlx::query(
            "UPDATE plans.assignments SET state = 'claimed', work_plan = $3, claim_time = now(), claimed_by = $4,
                 due_date = $5, revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2 AND state = 'open'",
        )
        .bind(&assignment.id)
        .bind(assignment.revision)
        .bind(json(work_plan))
        .bind(&context.caller.subject)
        .bind(work_plan.due_date)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(PlatformError::Conflict.into());
        }
        let claimed = self.assignment_in(&mut transaction, &assignment.id).await?;
        let payload = json(&claimed);
        finish_assignment_change(
            transaction,
            context,
            (assignment, &claimed),
            ("assignment.claimed", payload),
            &claimed,
        )
        .await?;
        Ok(claimed)
    }

    /// Every task of a plan, in document order.
    pub async fn all_tasks(&self, plan: &PlanId) -> Result<Vec<Task>> {
        Ok(self
            .list_tasks(plan, None, i64::from(i32::MAX) - 1)
            .await?
            .items)
    }

    /// A plan's tasks in document order after a position.
    pub async fn list_tasks(
        &self,
        plan: &PlanId,
        after: Option<i32>,
        page_size: i64,
    ) -> Result<Page<Task, i32>> {
        self.get_plan(plan).await?;
        let rows: Vec<TaskRow> = sqlx::query_as(
            "SELECT id, position, number, title, body, part_number, part_title, section_number, section_title,
                    source_line, mentions, deadlines, targets, parent_task_id
             FROM plans.tasks WHERE plan_id = $1 AND position > $2 ORDER BY position LIMIT $3",
        )
        .bind(plan.as_str())
        .bind(after.unwrap_or(0))
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        page_of(rows, page_size, |last: &Task| last.position)
    }

    /// Appends a progress report with its evidence (already in the blob store) and brings the
    /// assignment up to it; a COMPLETED report completes the assignment, a later other one
    /// reopens it. Refused while the assignment is not claimed.
    pub async fn report_progress(
        &self,
        context: &MutationContext,
        assignment: &Assignment,
        progress: &CheckedProgress,
        evidence: &[Evidence],
    ) -> Result<(ProgressReport, Assignment)> {
        let mut transaction =
            match mutation::begin::<(ProgressReport, Assignment)>(&self.pool, SCHEMA, context)
                .await?
            {
                Begun::Replay(done) => return Ok(done),
                Begun::Fresh(transaction) => transaction,
            };
        let state = match progress.status {
            ProgressStatus::Completed => AssignmentState::Completed,
            _ => AssignmentState::Claimed,
        };
        let id = format!("r-{}", uuid::Uuid::now_v7().simple());
        let updated = sqlx::query(
            "UPDATE plans.assignments SET state = $2, progress_status = $3, progress_percent = $4,
                 progress_time = now(), revision = revision + 1, update_time = now()
             WHERE id = $1 AND state <> 'open'",
        )
        .bind(&assignment.id)
        .bind(state.as_str())
        .bind(progress.status.as_str())
        .bind(progress.percent)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(PlansError::NotClaimed);
        }
        sqlx::query(
            "INSERT INTO plans.progress_reports (id, assignment_id, unit_id, status, percent, narrative, reporter)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&assignment.id)
        .bind(&assignment.unit)
        .bind(progress.status.as_str())
        .bind(progress.percent)
        .bind(&progress.narrative)
        .bind(&context.caller.subject)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "INSERT INTO plans.evidence (report_id, position, sha256, file_name, content_type, size_bytes)
             SELECT $1, file.* FROM UNNEST($2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS file",
        )
        .bind(&id)
        .bind((0..evidence.len() as i32).collect::<Vec<_>>())
        .bind(evidence.iter().map(|file| file.sha256.as_str()).collect::<Vec<_>>())
        .bind(evidence.iter().map(|file| file.file_name.as_str()).collect::<Vec<_>>())
        .bind(evidence.iter().map(|file| file.content_type.as_str()).collect::<Vec<_>>())
        .bind(evidence.iter().map(|file| file.size_bytes).collect::<Vec<_>>())
        .execute(&mut *transaction)
        .await?;
        let report: ProgressReport = sqlx::query_as::<_, ProgressRow>(sqlx::AssertSqlSafe(
            format!("{PROGRESS_SELECT} WHERE r.id = $1"),
        ))
        .bind(&id)
        .fetch_one(&mut *transaction)
        .await?
        .try_into()?;
        let updated = self.assignment_in(&mut transaction, &assignment.id).await?;
        let outcome = (report, updated);
        finish_assignment_change(
            transaction,
            context,
            (assignment, &outcome.1),
            ("progress.reported", json(&outcome)),
            &outcome,
        )
        .await?;
        Ok(outcome)
    }

    async fn plan_in(&self, transaction: &mut sqlx::PgConnection, id: &str) -> Result<Plan> {
        sqlx::query_as::<_, PlanRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM plans.plans WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(transaction)
        .await?
        .try_into()
    }

    async fn assignment_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        id: &str,
    ) -> Result<Assignment> {
        sqlx::query_as::<_, AssignmentRow>(sqlx::AssertSqlSafe(format!(
            "{ASSIGNMENT_SELECT} WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_one(transaction)
        .await?
        .try_into()
    }

    /// An assignment's progress reports, newest first.
    pub async fn list_progress_reports(
        &self,
        assignment: &str,
        after: Option<ProgressKey>,
        page_size: i64,
    ) -> Result<Page<ProgressReport, ProgressKey>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<ProgressRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PROGRESS_SELECT} WHERE r.assignment_id = $1
               AND ($2::timestamptz IS NULL OR (r.create_time, r.id) < ($2, $3))
             ORDER BY r.create_time DESC, r.id DESC LIMIT $4"
        )))
        .bind(assignment)
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        page_of(rows, page_size, |last: &ProgressReport| {
            (last.create_time, last.id.clone())
        })
    }

    /// An evidence file reported for an assignment, by digest.
    pub async fn find_evidence(&self, assignment: &str, sha256: &str) -> Result<Option<Evidence>> {
        let found: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT e.file_name, e.content_type, e.size_bytes
             FROM plans.evidence e JOIN plans.progress_reports r ON r.id = e.report_id
             WHERE r.assignment_id = $1 AND e.sha256 = $2
             ORDER BY r.create_time LIMIT 1",
        )
        .bind(assignment)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(file_name, content_type, size_bytes)| Evidence {
            file_name,
            content_type,
            size_bytes,
            sha256: sha256.to_owned(),
        }))
    }

    /// Assignments due before a day and not completed, most overdue first; optionally only of
    /// some units and of one plan.
    pub async fn list_overdue(
        &self,
        as_of: chrono::NaiveDate,
        units: Option<&[String]>,
        plan: Option<&PlanId>,
        after: Option<OverdueKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, OverdueKey>> {
        let (after_due, after_id) = after.unzip();
        let rows: Vec<AssignmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
        .fetch_all(&self.pool)
        .await?;
        page_of(rows, page_size, |last: &Assignment| {
            (last.due_date.unwrap_or(as_of), last.id.clone())
        })
    }

    /// Gives an assignment read at its revision to another unit, back to OPEN; its claim and
    /// reports stay in the audit log and the progress history.
    pub async fn reassign(
        &self,
        context: &MutationContext,
        assignment: &Assignment,
        unit: &str,
        reason: &str,
        task_deadline: Option<chrono::NaiveDate>,
    ) -> Result<Assignment> {
        let mut transaction =
            match mutation::begin::<Assignment>(&self.pool, SCHEMA, context).await? {
                Begun::Replay(done) => return Ok(done),
                Begun::Fresh(transaction) => transaction,
            };
        let updated = sqlx::query(
            "UPDATE plans.assignments SET unit_id = $3, state = 'open', work_plan = NULL, claim_time = NULL,
                 claimed_by = NULL, due_date = $4, progress_status = NULL, progress_percent = NULL,
                 progress_time = NULL, revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2",
        )
        .bind(&assignment.id)
        .bind(assignment.revision)
        .bind(unit)
        .bind(task_deadline)
        .execute(&mut *transaction)
        .await;
        let updated = match updated {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(PlansError::AlreadyAssigned(unit.to_owned()));
            }
            other => other?.rows_affected(),
        };
        if updated == 0 {
            return Err(PlatformError::EtagMismatch.into());
        }
        let moved = self.assignment_in(&mut transaction, &assignment.id).await?;
        let payload = serde_json::json!({
            "assignment": json(&moved),
            "previous_unit": assignment.unit,
            "reason": reason,
        });
        finish_assignment_change(
            transaction,
            context,
            (assignment, &moved),
            ("assignment.reassigned", payload),
            &moved,
        )
        .await?;
        Ok(moved)
    }

    /// How far a stream of another service has been applied; 0 before the first event.
    pub async fn cursor(&self, stream: &str) -> Result<i64> {
        let sequence: Option<i64> =
            sqlx::query_scalar("SELECT sequence FROM plans.consumer_cursors WHERE stream = $1")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?;
        Ok(sequence.unwrap_or(0))
    }

    /// Applies one event of another service's stream once: re-points the open (not completed)
    /// assignments of published plans from each unit to its successor, audited with an event
    /// each, and advances the cursor in the same transaction. An assignment whose successor has
    /// the same part of the task already stays, for the coordinator. Returns how many moved.
    pub async fn apply_unit_moves(
        &self,
        context: &MutationContext,
        (stream, sequence): (&str, i64),
        moves: &[(String, String)],
        reason: &str,
    ) -> Result<usize> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO plans.consumer_cursors (stream, sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(stream)
        .execute(&mut *transaction)
        .await?;
        let applied: i64 = sqlx::query_scalar(
            "SELECT sequence FROM plans.consumer_cursors WHERE stream = $1 FOR UPDATE",
        )
        .bind(stream)
        .fetch_one(&mut *transaction)
        .await?;
        if applied >= sequence {
            return Ok(0);
        }
        let mut changes = Vec::new();
        let mut events = Vec::new();
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
            .fetch_all(&mut *transaction)
            .await?;
            for id in ids {
                let moved = self.assignment_in(&mut transaction, &id).await?;
                let before = Assignment {
                    unit: from.clone(),
                    revision: moved.revision - 1,
                    ..moved.clone()
                };
                changes.push(Change {
                    resource: moved.name(),
                    before: Some(json(&before)),
                    after: Some(json(&moved)),
                });
                events.push(NewEvent {
                    event_type: "assignment.reassigned",
                    resource: moved.name(),
                    payload: serde_json::json!({
                        "assignment": json(&moved),
                        "previous_unit": from,
                        "reason": reason,
                    }),
                });
            }
        }
        sqlx::query("UPDATE plans.consumer_cursors SET sequence = $2 WHERE stream = $1")
            .bind(stream)
            .bind(sequence)
            .execute(&mut *transaction)
            .await?;
        let moved = changes.len();
        if moved == 0 {
            transaction.commit().await?;
        } else {
            mutation::finish(transaction, SCHEMA, context, &changes, events, &moved).await?;
        }
        Ok(moved)
    }

    /// Writes a plan's editable fields and state as read at `before`'s revision, with a
    /// `plan.updated` event naming what changed.
    pub async fn save_plan(
        &self,
        context: &MutationContext,
        before: &Plan,
        after: &Plan,
        changed: Vec<String>,
    ) -> Result<Plan> {
        let mut transaction = match mutation::begin::<Plan>(&self.pool, SCHEMA, context).await? {
            Begun::Replay(plan) => return Ok(plan),
            Begun::Fresh(transaction) => transaction,
        };
        let updated = sqlx::query(
            "UPDATE plans.plans SET title = $3, document_number = $4, kind = $5, period_start_year = $6,
                 period_end_year = $7, phases = $8, state = $9, revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2",
        )
        .bind(before.id.as_str())
        .bind(before.revision)
        .bind(&after.title)
        .bind(&after.document_number)
        .bind(after.kind.map(PlanKind::as_str))
        .bind(after.period.map(|(start, _)| start))
        .bind(after.period.map(|(_, end)| end))
        .bind(json(&after.phases))
        .bind(after.state.as_str())
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(PlatformError::EtagMismatch.into());
        }
        self.finish_plan_change(transaction, context, before, changed)
            .await
    }

    /// Writes a draft's task read with the plan at `plan`'s revision; the plan's revision moves.
    pub async fn save_task(
        &self,
        context: &MutationContext,
        plan: &Plan,
        task: &Task,
        changed: Vec<String>,
    ) -> Result<Plan> {
        let mut transaction = match mutation::begin::<Plan>(&self.pool, SCHEMA, context).await? {
            Begun::Replay(plan) => return Ok(plan),
            Begun::Fresh(transaction) => transaction,
        };
        let updated = sqlx::query(
            "UPDATE plans.plans SET revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2 AND state = 'draft'",
        )
        .bind(plan.id.as_str())
        .bind(plan.revision)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(PlatformError::EtagMismatch.into());
        }
        sqlx::query(
            "UPDATE plans.tasks SET title = $3, body = $4, mentions = $5, deadlines = $6, targets = $7
             WHERE plan_id = $1 AND id = $2",
        )
        .bind(plan.id.as_str())
        .bind(&task.id)
        .bind(&task.title)
        .bind(&task.text)
        .bind(json(&task.mentions))
        .bind(json(&task.deadlines))
        .bind(json(&task.targets))
        .execute(&mut *transaction)
        .await?;
        self.finish_plan_change(transaction, context, plan, changed)
            .await
    }

    async fn finish_plan_change(
        &self,
        mut transaction: sqlx::Transaction<'static, sqlx::Postgres>,
        context: &MutationContext,
        before: &Plan,
        changed: Vec<String>,
    ) -> Result<Plan> {
        let after: Plan = self.plan_in(&mut transaction, before.id.as_str()).await?;
        mutation::finish(
            transaction,
            SCHEMA,
            context,
            &[Change {
                resource: before.id.name(),
                before: Some(json(before)),
                after: Some(json(&after)),
            }],
            vec![NewEvent {
                event_type: "plan.updated",
                resource: after.id.name(),
                payload: serde_json::json!({ "plan": json(&after), "changed": changed }),
            }],
            &after,
        )
        .await?;
        Ok(after)
    }

    /// Soft-deletes a draft read at its revision.
    pub async fn delete_draft(&self, context: &MutationContext, plan: &Plan) -> Result<()> {
        let mut transaction = match mutation::begin::<()>(&self.pool, SCHEMA, context).await? {
            Begun::Replay(()) => return Ok(()),
            Begun::Fresh(transaction) => transaction,
        };
        let deleted = sqlx::query(
            "UPDATE plans.plans SET delete_time = now(), revision = revision + 1, update_time = now()
             WHERE id = $1 AND revision = $2 AND state = 'draft' AND delete_time IS NULL",
        )
        .bind(plan.id.as_str())
        .bind(plan.revision)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(PlatformError::EtagMismatch.into());
        }
        mutation::finish(
            transaction,
            SCHEMA,
            context,
            &[Change {
                resource: plan.id.name(),
                before: Some(json(plan)),
                after: None,
            }],
            vec![NewEvent {
                event_type: "plan.deleted",
                resource: plan.id.name(),
                payload: serde_json::json!({ "plan": plan.id.name() }),
            }],
            &(),
        )
        .await?;
        Ok(())
    }
}
