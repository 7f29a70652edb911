//! All SQL of the plans service (schema `plans`), one file per aggregate. Reads go through
//! [`Store`] on the pool; writes are functions on the connection of the transaction that
//! [`fazhi_platform::mutation::run`] opened, and return the [`Outcome`] to audit and publish.

mod assignment;
mod plan;
mod progress;
mod task;

pub use assignment::{
    assignment_change, list_assignments_sql, lock_assignment, repoint_assignments,
    update_assignment,
};
pub use plan::{delete_draft, insert_draft, lock_plan, publish, save_plan};
pub use progress::insert_report;
pub use task::{insert_task, order_tasks, place_task, remove_task, save_task, task_in, tasks_in};

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::audit::AuditKey;
use fazhi_platform::error::PlatformError;
pub use fazhi_platform::mutation::Outcome;
use fazhi_platform::store::SchemaStore;
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::{
    Assignment, AssignmentState, ImportReport, Plan, PlanId, PlanKind, PlanState, ProgressReport,
    ProgressStatus, Role, Task,
};
use crate::error::{PlansError, Result};

/// The schema this service owns.
pub const SCHEMA: &str = "plans";

/// Migrations of the `plans` schema (table `plans._sqlx_migrations`, see `sqlx.toml`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// A value as audit or event JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value> {
    Ok(fazhi_platform::mutation::to_json(value)?)
}

/// Postgres access for plans: its SQL over a [`SchemaStore`].
#[derive(Clone)]
pub struct Store(SchemaStore);

/// Every store method reaches the pool, the reads and the audit seal through this.
impl std::ops::Deref for Store {
    type Target = SchemaStore;
    fn deref(&self) -> &SchemaStore {
        &self.0
    }
}

impl Store {
    /// A store whose audit rows are sealed with the development key (tests, tools).
    pub fn new(pool: PgPool) -> Self {
        Self(SchemaStore::new(pool, SCHEMA))
    }

    /// The same store sealing its audit rows with `key` (`database.audit_key`).
    pub fn with_audit_key(self, audit_key: AuditKey) -> Self {
        Self(self.0.with_audit_key(audit_key))
    }
}

/// Rows read one past the page, converted, as a page keyed by its last item.
pub(crate) fn page_of<R, T, K>(
    rows: Vec<R>,
    page_size: i64,
    key: impl Fn(&T) -> K,
) -> Result<Page<T, K>>
where
    T: TryFrom<R, Error = PlansError>,
{
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, page_size, key))
}

pub(crate) fn corrupt(what: String) -> PlansError {
    PlansError::Platform(PlatformError::Internal(what))
}

#[derive(sqlx::FromRow)]
pub(crate) struct PlanRow {
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
pub(crate) struct AssignmentRow {
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
    claimed_by: Option<String>,
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
            claimed_by: row.claimed_by,
            revision: row.revision,
        })
    }
}

/// Where a list of assignments stopped: plan, task position, unit, role.
pub type AssignmentKey = (String, i32, String, String);

#[derive(sqlx::FromRow)]
pub(crate) struct TaskRow {
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
pub(crate) struct ProgressRow {
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

pub(crate) const PROGRESS_SELECT: &str = "SELECT r.id, r.assignment_id, r.status, r.percent, r.narrative, r.reporter, r.create_time,
    coalesce((SELECT jsonb_agg(jsonb_build_object('file_name', e.file_name, 'content_type', e.content_type,
                                                  'size_bytes', e.size_bytes, 'sha256', e.sha256) ORDER BY e.position)
              FROM plans.evidence e WHERE e.report_id = r.id), '[]') AS evidence
    FROM plans.progress_reports r";

/// Where a list of progress reports stopped: newest first.
pub type ProgressKey = (DateTime<Utc>, String);

/// Where a list of overdue assignments stopped: due date, id.
pub type OverdueKey = (chrono::NaiveDate, String);

pub(crate) const PLAN_COLUMNS: &str =
    "id, title, document_number, issuer_id, period_start_year, period_end_year, state,
    task_count, import_report, revision, create_time, update_time, publish_date, parent_plan_id, kind, phases";

pub(crate) const ASSIGNMENT_SELECT: &str =
    "SELECT a.id, a.plan_id, a.task_id, t.number AS task_number, t.title AS task_title,
    a.unit_id, a.role, a.mention, a.state, a.create_time, t.position, a.work_plan, a.claim_time, a.claimed_by, a.revision,
    a.due_date, a.progress_status, a.progress_percent, a.progress_time
    FROM plans.assignments a JOIN plans.tasks t ON t.plan_id = a.plan_id AND t.id = a.task_id";
