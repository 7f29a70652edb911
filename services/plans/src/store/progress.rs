//! Progress reports (never overwritten) and their evidence files' records.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{PROGRESS_SELECT, ProgressKey, ProgressRow, Store, page_of};
use crate::domain::{Assignment, CheckedProgress, Evidence, ProgressReport};
use crate::error::Result;

impl Store {
    /// An assignment's progress reports, newest first.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_progress_reports"))]
    pub async fn list_progress_reports(
        &self,
        assignment: &str,
        after: Option<ProgressKey>,
        page_size: i64,
    ) -> Result<Page<ProgressReport, ProgressKey>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<ProgressRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{PROGRESS_SELECT} WHERE r.assignment_id = $1
               AND ($2::timestamptz IS NULL OR (r.create_time, r.id) < ($2, $3))
             ORDER BY r.create_time DESC, r.id DESC LIMIT $4"
        )))
        .bind(assignment)
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        page_of(rows, page_size, |last: &ProgressReport| {
            (last.create_time, last.id.clone())
        })
    }

    /// An evidence file reported for an assignment, by digest.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "find_evidence"))]
    pub async fn find_evidence(&self, assignment: &str, sha256: &str) -> Result<Option<Evidence>> {
        let found: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT e.file_name, e.content_type, e.size_bytes
             FROM plans.evidence e JOIN plans.progress_reports r ON r.id = e.report_id
             WHERE r.assignment_id = $1 AND e.sha256 = $2
             ORDER BY r.create_time LIMIT 1",
        )
        .bind(assignment)
        .bind(sha256)
        .fetch_optional(self.reads())
        .await?;
        Ok(found.map(|(file_name, content_type, size_bytes)| Evidence {
            file_name,
            content_type,
            size_bytes,
            sha256: sha256.to_owned(),
        }))
    }
}

/// Appends a progress report of `assignment` with its evidence (already in the blob store).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_report"))]
pub async fn insert_report(
    connection: &mut PgConnection,
    assignment: &Assignment,
    progress: &CheckedProgress,
    evidence: &[Evidence],
    (reporter, time): (&str, DateTime<Utc>),
) -> Result<ProgressReport> {
    let id = format!("r-{}", uuid::Uuid::now_v7().simple());
    sqlx::query(
        "INSERT INTO plans.progress_reports (id, assignment_id, unit_id, status, percent, narrative, reporter,
                                             create_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&assignment.id)
    .bind(&assignment.unit)
    .bind(progress.status.as_str())
    .bind(progress.percent)
    .bind(&progress.narrative)
    .bind(reporter)
    .bind(time)
    .execute(&mut *connection)
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
    .execute(&mut *connection)
    .await?;
    sqlx::query_as::<_, ProgressRow>(AssertSqlSafe(format!("{PROGRESS_SELECT} WHERE r.id = $1")))
        .bind(&id)
        .fetch_one(connection)
        .await?
        .try_into()
}
