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
    name: String,
    score: Option<f64>,
    justification: String,
    scorer: String,
    source: Option<String>,
    record_time: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// What the office scored or found for a scheme and period, as round inputs by unit:
    /// reviewers' scores `manual/{criterion}`, appeals' adjustments `adjusted/{criterion}`,
    /// findings of falsification `falsified/{criterion}`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "manual_inputs"))]
    pub async fn manual_inputs(
        &self,
        scheme: &SchemeId,
        period: &str,
    ) -> Result<Vec<(String, String, Frozen)>> {
        let rows: Vec<ManualRow> = sqlx::query_as(
            "SELECT unit_id, 'manual/' || criterion AS name, score, justification, scorer,
                 NULL AS source, record_time
             FROM assessment.manual_scores WHERE scheme_id = $1 AND period = $2
             UNION ALL
             SELECT unit_id, kind || '/' || criterion, score, justification, decided_by, source,
                 record_time
             FROM assessment.score_findings WHERE scheme_id = $1 AND period = $2",
        )
        .bind(scheme.as_str())
        .bind(period)
        .fetch_all(self.reads())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let day = row.record_time.date_naive();
                let source = match row.source {
                    Some(source) => format!("{source}({} 于 {day} 决定)", row.scorer),
                    None => format!("{} 评分于 {day}", row.scorer),
                };
                let input = match row.score {
                    Some(score) => Input::Manual {
                        score,
                        justification: row.justification,
                        scorer: row.scorer,
                    },
                    None => Input::Flag(true),
                };
                (row.unit_id, row.name, Frozen { input, source })
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
