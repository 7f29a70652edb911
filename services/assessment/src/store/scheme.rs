//! Schemes, every version kept.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::{FieldViolation, PlatformError};
use sqlx::PgConnection;

use super::{Store, corrupt};
use crate::domain::{Scheme, SchemeId, StoredScheme};
use crate::error::{AssessmentError, Result};

const SCHEME_COLUMNS: &str = "id, version, content, create_time, update_time";

#[derive(sqlx::FromRow)]
struct SchemeRow {
    id: String,
    version: i64,
    content: serde_json::Value,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<SchemeRow> for StoredScheme {
    type Error = AssessmentError;
    fn try_from(row: SchemeRow) -> Result<Self> {
        Ok(Self {
            scheme: serde_json::from_value(row.content)
                .map_err(|error| corrupt(&format!("scheme {}", row.id), error))?,
            id: SchemeId::from_trusted(row.id),
            version: row.version,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

fn content(scheme: &Scheme) -> Result<serde_json::Value> {
    serde_json::to_value(scheme).map_err(|error| corrupt("scheme", error))
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_scheme"))]
    pub async fn get_scheme(&self, id: &SchemeId) -> Result<StoredScheme> {
        sqlx::query_as::<_, SchemeRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEME_COLUMNS} FROM assessment.schemes WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?
        .try_into()
    }

    /// A scheme as it was at a version.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "scheme_version"))]
    pub async fn scheme_version(&self, id: &SchemeId, version: i64) -> Result<Scheme> {
        let content: serde_json::Value = sqlx::query_scalar(
            "SELECT content FROM assessment.scheme_versions WHERE scheme_id = $1 AND version = $2",
        )
        .bind(id.as_str())
        .bind(version)
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("{} version {version}", id.name())))?;
        serde_json::from_value(content).map_err(|error| corrupt("scheme version", error))
    }

    /// An owner's schemes, latest year first; `after` is the last one's (year, id).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_schemes"))]
    pub async fn list_schemes(
        &self,
        owner: &str,
        after: Option<(i32, String)>,
        page_size: i64,
    ) -> Result<Page<StoredScheme, (i32, String)>> {
        let (after_year, after_id) = after.unzip();
        let rows: Vec<SchemeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEME_COLUMNS} FROM assessment.schemes
             WHERE owner_unit_id = $1 AND ($2::integer IS NULL OR (year, id) < ($2, $3))
             ORDER BY year DESC, id DESC LIMIT $4"
        )))
        .bind(owner)
        .bind(after_year)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(StoredScheme::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(
            items,
            page_size,
            |last: &StoredScheme| (last.scheme.year, last.id.as_str().to_owned()),
        ))
    }
}

/// Adds a scheme at version 1.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_scheme"))]
pub async fn insert_scheme(
    connection: &mut PgConnection,
    id: &SchemeId,
    scheme: &Scheme,
) -> Result<StoredScheme> {
    let content = content(scheme)?;
    let stored: StoredScheme = sqlx::query_as::<_, SchemeRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO assessment.schemes (id, code, owner_unit_id, year, content)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING {SCHEME_COLUMNS}"
    )))
    .bind(id.as_str())
    .bind(&scheme.code)
    .bind(&scheme.owner_unit)
    .bind(scheme.year)
    .bind(&content)
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| duplicate(error, id, scheme))?
    .try_into()?;
    keep_version(connection, id, 1, &content).await?;
    Ok(stored)
}

fn duplicate(error: sqlx::Error, id: &SchemeId, scheme: &Scheme) -> AssessmentError {
    let constraint = error
        .as_database_error()
        .and_then(|database| database.constraint())
        .map(str::to_owned);
    match constraint.as_deref() {
        Some("schemes_pkey") => AssessmentError::invalid_field(FieldViolation::new(
            "scheme_id",
            "ALREADY_EXISTS",
            format!("{} exists already", id.name()),
            format!("考核方案 {} 已存在", id.name()),
        )),
        Some("schemes_owner_code") => AssessmentError::invalid_field(FieldViolation::new(
            "content",
            "DUPLICATE_CODE",
            format!("the owner has a scheme coded {} already", scheme.code),
            format!("该单位已有编码为 {} 的考核方案", scheme.code),
        )),
        _ => error.into(),
    }
}

async fn keep_version(
    connection: &mut PgConnection,
    id: &SchemeId,
    version: i64,
    content: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO assessment.scheme_versions (scheme_id, version, content) VALUES ($1, $2, $3)",
    )
    .bind(id.as_str())
    .bind(version)
    .bind(content)
    .execute(connection)
    .await?;
    Ok(())
}

/// Locks a scheme for a change; `None` when there is none.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "lock_scheme"))]
pub async fn lock_scheme(
    connection: &mut PgConnection,
    id: &SchemeId,
) -> Result<Option<StoredScheme>> {
    sqlx::query_as::<_, SchemeRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEME_COLUMNS} FROM assessment.schemes WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(StoredScheme::try_from)
    .transpose()
}

/// Saves a locked scheme's new content as its next version.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_scheme"))]
pub async fn save_scheme(
    connection: &mut PgConnection,
    id: &SchemeId,
    scheme: &Scheme,
) -> Result<StoredScheme> {
    let content = content(scheme)?;
    let stored: StoredScheme = sqlx::query_as::<_, SchemeRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE assessment.schemes
         SET code = $2, year = $3, content = $4, version = version + 1, update_time = now()
         WHERE id = $1
         RETURNING {SCHEME_COLUMNS}"
    )))
    .bind(id.as_str())
    .bind(&scheme.code)
    .bind(scheme.year)
    .bind(&content)
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| duplicate(error, id, scheme))?
    .try_into()?;
    keep_version(connection, id, stored.version, &content).await?;
    Ok(stored)
}
