//! Reviewers' scores of manual criteria (C7).

use sqlx::PgConnection;

use super::Store;
use crate::domain::{Frozen, Input, SchemeId};
use crate::error::Result;

/// A reviewer's score of one criterion for one unit and period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManualScore {
    pub scheme: SchemeId,
    pub period: String,
    pub unit: String,
    pub criterion: String,
    pub score: f64,
    pub justification: String,
    pub scorer: String,
}

#[derive(sqlx::FromRow)]
struct ManualRow {
    unit_id: String,
    criterion: String,
    score: f64,
    justification: String,
    scorer: String,
    record_time: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// The scores recorded for a scheme and period, as round inputs: by unit, `manual/{criterion}`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "manual_inputs"))]
    pub async fn manual_inputs(
        &self,
        scheme: &SchemeId,
        period: &str,
    ) -> Result<Vec<(String, String, Frozen)>> {
        let rows: Vec<ManualRow> = sqlx::query_as(
            "SELECT unit_id, criterion, score, justification, scorer, record_time
             FROM assessment.manual_scores WHERE scheme_id = $1 AND period = $2",
        )
        .bind(scheme.as_str())
        .bind(period)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let source = format!("{} 评分于 {}", row.scorer, row.record_time.date_naive());
                (
                    row.unit_id,
                    format!("manual/{}", row.criterion),
                    Frozen {
                        input: Input::Manual {
                            score: row.score,
                            justification: row.justification,
                            scorer: row.scorer,
                        },
                        source,
                    },
                )
            })
            .collect())
    }
}

/// Records a score, replacing one recorded before for the same unit, period and criterion.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "record_manual_score"))]
pub async fn record_manual_score(connection: &mut PgConnection, score: &ManualScore) -> Result<()> {
    sqlx::query(
        "INSERT INTO assessment.manual_scores (scheme_id, period, unit_id, criterion, score,
             justification, scorer)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (scheme_id, period, unit_id, criterion) DO UPDATE
         SET score = EXCLUDED.score, justification = EXCLUDED.justification,
             scorer = EXCLUDED.scorer, record_time = now()",
    )
    .bind(score.scheme.as_str())
    .bind(&score.period)
    .bind(&score.unit)
    .bind(&score.criterion)
    .bind(score.score)
    .bind(&score.justification)
    .bind(&score.scorer)
    .execute(connection)
    .await?;
    Ok(())
}
