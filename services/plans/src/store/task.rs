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
        task_in(self.reads(), plan, task).await
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
        .fetch_all(self.reads())
        .await?;
        page_of(rows, page_size, |last: &Task| last.position)
    }
}

/// One task, read on a connection (inside a mutation, after its plan was locked) or the reads.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "task_in"))]
pub async fn task_in<'c>(
    connection: impl sqlx::PgExecutor<'c>,
    plan: &PlanId,
    task: &str,
) -> Result<Task> {
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

/// Adds a task to a draft, after its last one; [`order_tasks`] puts it in its place.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_task"))]
pub async fn insert_task(connection: &mut PgConnection, plan: &PlanId, task: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO plans.tasks (plan_id, id, position, number, title, body, part_number, part_title,
                                  section_number, section_title, source_line, mentions, deadlines, targets)
         SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12
         FROM plans.tasks WHERE plan_id = $1",
    )
    .bind(plan.as_str())
    .bind(&task.id)
    .bind(&task.number)
    .bind(&task.title)
    .bind(&task.text)
    .bind(&task.part_number)
    .bind(&task.part_title)
    .bind(&task.section_number)
    .bind(&task.section_title)
    .bind(json(&task.mentions)?)
    .bind(json(&task.deadlines)?)
    .bind(json(&task.targets)?)
    .execute(connection)
    .await?;
    Ok(())
}

/// Removes a draft's task.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "remove_task"))]
pub async fn remove_task(connection: &mut PgConnection, plan: &PlanId, task: &str) -> Result<()> {
    let removed = sqlx::query("DELETE FROM plans.tasks WHERE plan_id = $1 AND id = $2")
        .bind(plan.as_str())
        .bind(task)
        .execute(connection)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(task_not_found(plan, task));
    }
    Ok(())
}

/// Moves a draft's task into another part and section.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "place_task"))]
pub async fn place_task(connection: &mut PgConnection, plan: &PlanId, task: &Task) -> Result<()> {
    sqlx::query(
        "UPDATE plans.tasks SET part_number = $3, part_title = $4, section_number = $5, section_title = $6
         WHERE plan_id = $1 AND id = $2",
    )
    .bind(plan.as_str())
    .bind(&task.id)
    .bind(&task.part_number)
    .bind(&task.part_title)
    .bind(&task.section_number)
    .bind(&task.section_title)
    .execute(connection)
    .await?;
    Ok(())
}

/// Numbers a draft's tasks 1… in `order` (every task id, once), counts them, and moves the plan
/// (locked as `plan`) to a new revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "order_tasks"))]
pub async fn order_tasks(
    connection: &mut PgConnection,
    plan: &Plan,
    order: &[String],
    changed: Vec<String>,
) -> Result<Outcome<Plan>> {
    touch_plan(connection, plan).await?;
    // Positions are unique at every row: out of the way first, then into place.
    sqlx::query("UPDATE plans.tasks SET position = -position WHERE plan_id = $1")
        .bind(plan.id.as_str())
        .execute(&mut *connection)
        .await?;
    let positions: Vec<i32> = (1..=order.len() as i32).collect();
    sqlx::query(
        "UPDATE plans.tasks t SET position = new.position
         FROM UNNEST($2::text[], $3::int[]) AS new (id, position)
         WHERE t.plan_id = $1 AND t.id = new.id",
    )
    .bind(plan.id.as_str())
    .bind(order)
    .bind(&positions)
    .execute(&mut *connection)
    .await?;
    sqlx::query("UPDATE plans.plans SET task_count = $2 WHERE id = $1")
        .bind(plan.id.as_str())
        .bind(order.len() as i32)
        .execute(&mut *connection)
        .await?;
    plan_updated(connection, plan, changed).await
}

/// A plan's tasks in document order, read inside a mutation.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "tasks_in"))]
pub async fn tasks_in(connection: &mut PgConnection, plan: &PlanId) -> Result<Vec<Task>> {
    let rows: Vec<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM plans.tasks WHERE plan_id = $1 ORDER BY position"
    )))
    .bind(plan.as_str())
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}
