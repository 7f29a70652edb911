//! Tasks of a plan, in document order.

use fazhi_platform::aip::Page;
use sqlx::PgConnection;

use super::plan::{plan_updated, touch_plan};
use super::{Outcome, Store, TaskRow, json, page_of};
use crate::domain::{Plan, PlanId, Task};
use crate::error::{PlansError, Result};

const TASK_COLUMNS: &str =
    "id, position, number, title, body, part_number, part_title, section_number,
    section_title, source_line, mentions, deadlines, targets, parent_task_id";

fn task_not_found(plan: &PlanId, task: &str) -> PlansError {
    PlansError::TaskNotFound(format!("{}/tasks/{task}", plan.name()))
}

impl Store {
    /// One task.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_task"))]
    pub async fn get_task(&self, plan: &PlanId, task: &str) -> Result<Task> {
        let mut connection = self.pool().acquire().await?;
        task_in(&mut connection, plan, task).await
    }

    /// Every task of a plan, in document order.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "all_tasks"))]
    pub async fn all_tasks(&self, plan: &PlanId) -> Result<Vec<Task>> {
        Ok(self
            .list_tasks(plan, None, i64::from(i32::MAX) - 1)
            .await?
            .items)
    }

    /// A plan's tasks in document order after a position.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_tasks"))]
    pub async fn list_tasks(
        &self,
        plan: &PlanId,
        after: Option<i32>,
        page_size: i64,
    ) -> Result<Page<Task, i32>> {
        self.get_plan(plan).await?;
        let rows: Vec<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM plans.tasks WHERE plan_id = $1 AND position > $2
             ORDER BY position LIMIT $3"
        )))
        .bind(plan.as_str())
        .bind(after.unwrap_or(0))
        .bind(page_size + 1)
        .fetch_all(self.pool())
        .await?;
        page_of(rows, page_size, |last: &Task| last.position)
    }
}

/// One task, read on a connection (inside a mutation, after its plan was locked).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "task_in"))]
pub async fn task_in(connection: &mut PgConnection, plan: &PlanId, task: &str) -> Result<Task> {
    sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM plans.tasks WHERE plan_id = $1 AND id = $2"
    )))
    .bind(plan.as_str())
    .bind(task)
    .fetch_optional(connection)
    .await?
    .ok_or_else(|| task_not_found(plan, task))?
    .try_into()
}

/// Writes a draft's task; the plan (locked as `plan`) moves to a new revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_task"))]
pub async fn save_task(
    connection: &mut PgConnection,
    plan: &Plan,
    task: &Task,
    changed: Vec<String>,
) -> Result<Outcome<Plan>> {
    touch_plan(connection, plan).await?;
    sqlx::query(
        "UPDATE plans.tasks SET title = $3, body = $4, mentions = $5, deadlines = $6, targets = $7
         WHERE plan_id = $1 AND id = $2",
    )
    .bind(plan.id.as_str())
    .bind(&task.id)
    .bind(&task.title)
    .bind(&task.text)
    .bind(json(&task.mentions)?)
    .bind(json(&task.deadlines)?)
    .bind(json(&task.targets)?)
    .execute(&mut *connection)
    .await?;
    plan_updated(connection, plan, changed).await
}
