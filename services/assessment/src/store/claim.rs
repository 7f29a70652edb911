//! Self-assessments and appeals (claims), and the scores the office decided outside the rules.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use sqlx::PgConnection;

use super::{Store, corrupt};
use crate::domain::{Claim, RoundId, SchemeId};
use crate::error::Result;

/// Which claims: appeals or self-assessments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ClaimKind {
    Appeal,
    SelfAssessment,
}

impl ClaimKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Appeal => "appeal",
            Self::SelfAssessment => "self_assessment",
        }
    }

    /// The kind a claim's name says.
    pub fn of(name: &str) -> Self {
        if name.starts_with("appeals/") {
            Self::Appeal
        } else {
            Self::SelfAssessment
        }
    }
}

/// Which claims a listing holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClaimFilter {
    pub kind: ClaimKind,
    pub scheme: Option<SchemeId>,
    pub period: Option<String>,
    pub round: Option<RoundId>,
    /// One unit's own.
    pub unit: Option<String>,
}

/// A score decided outside the rules, frozen by the next run as `{kind}/{criterion}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub scheme: SchemeId,
    pub period: String,
    pub unit: String,
    pub criterion: String,
    /// `adjusted` (an appeal's score) or `falsified` (报送不实).
    pub kind: String,
    pub score: Option<f64>,
    pub justification: String,
    pub decided_by: String,
    /// What decided it, e.g. `appeals/{id}`.
    pub source: String,
}

fn claim_of(value: serde_json::Value) -> Result<Claim> {
    serde_json::from_value(value).map_err(|error| corrupt("claim", error))
}

fn id_of(name: &str) -> &str {
    name.split_once('/').map_or(name, |(_, id)| id)
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_claim"))]
    pub async fn get_claim(&self, name: &str) -> Result<Claim> {
        let found: serde_json::Value =
            sqlx::query_scalar("SELECT claim FROM assessment.claims WHERE id = $1 AND kind = $2")
                .bind(id_of(name))
                .bind(ClaimKind::of(name).as_str())
                .fetch_optional(self.reads())
                .await?
                .ok_or_else(|| PlatformError::NotFound(name.to_owned()))?;
        claim_of(found)
    }

    /// Claims oldest first; `after` is the last one's (time, id).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_claims"))]
    pub async fn list_claims(
        &self,
        filter: &ClaimFilter,
        after: Option<(DateTime<Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<Claim, (DateTime<Utc>, String)>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT claim FROM assessment.claims
             WHERE kind = $1 AND ($2::text IS NULL OR scheme_id = $2)
               AND ($3::text IS NULL OR period = $3) AND ($4::text IS NULL OR round_id = $4)
               AND ($5::text IS NULL OR unit_id = $5)
               AND ($6::timestamptz IS NULL OR (create_time, id) > ($6, $7))
             ORDER BY create_time, id LIMIT $8",
        )
        .bind(filter.kind.as_str())
        .bind(filter.scheme.as_ref().map(SchemeId::as_str))
        .bind(filter.period.as_deref())
        .bind(filter.round.as_ref().map(RoundId::as_str))
        .bind(filter.unit.as_deref())
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let claims = rows.into_iter().map(claim_of).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(claims, page_size, |last: &Claim| {
            (last.create_time, id_of(&last.name).to_owned())
        }))
    }

    /// Reviewed self-assessments of a scheme and period (their decided scores).
    pub async fn reviewed_self_assessments(
        &self,
        scheme: &SchemeId,
        period: &str,
    ) -> Result<Vec<Claim>> {
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT claim FROM assessment.claims
             WHERE kind = 'self_assessment' AND scheme_id = $1 AND period = $2
               AND state <> 'pending'",
        )
        .bind(scheme.as_str())
        .bind(period)
        .fetch_all(self.reads())
        .await?;
        rows.into_iter().map(claim_of).collect()
    }
}

/// Locks the claim of this kind already made about the same thing (for an appeal the round,
/// for a self-assessment the scheme and period; the unit and criterion), if there is one.
pub async fn lock_same_claim(
    connection: &mut PgConnection,
    claim: &Claim,
) -> Result<Option<Claim>> {
    let kind = ClaimKind::of(&claim.name);
    sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT claim FROM assessment.claims
         WHERE kind = $1 AND unit_id = $2 AND criterion = $3
           AND CASE WHEN $1 = 'appeal' THEN round_id = $4 ELSE scheme_id = $5 AND period = $6 END
         FOR UPDATE",
    )
    .bind(kind.as_str())
    .bind(&claim.unit)
    .bind(&claim.criterion)
    .bind(claim.round.as_ref().map(RoundId::as_str))
    .bind(claim.scheme.as_str())
    .bind(&claim.period)
    .fetch_optional(connection)
    .await?
    .map(claim_of)
    .transpose()
}

/// Locks a claim for its decision; `None` when there is none.
pub async fn lock_claim(connection: &mut PgConnection, name: &str) -> Result<Option<Claim>> {
    sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT claim FROM assessment.claims WHERE id = $1 AND kind = $2 FOR UPDATE",
    )
    .bind(id_of(name))
    .bind(ClaimKind::of(name).as_str())
    .fetch_optional(connection)
    .await?
    .map(claim_of)
    .transpose()
}

#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_claim"))]
pub async fn insert_claim(connection: &mut PgConnection, claim: &Claim) -> Result<Claim> {
    let body = serde_json::to_value(claim).map_err(|error| corrupt("claim", error))?;
    sqlx::query(
        "INSERT INTO assessment.claims (id, kind, scheme_id, period, round_id, owner_unit_id,
             unit_id, criterion, state, revision, create_time, claim)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id_of(&claim.name))
    .bind(ClaimKind::of(&claim.name).as_str())
    .bind(claim.scheme.as_str())
    .bind(&claim.period)
    .bind(claim.round.as_ref().map(RoundId::as_str))
    .bind(&claim.owner_unit)
    .bind(&claim.unit)
    .bind(&claim.criterion)
    .bind(claim.state.as_str())
    .bind(claim.revision)
    .bind(claim.create_time)
    .bind(body)
    .execute(connection)
    .await?;
    Ok(claim.clone())
}

/// Saves a locked claim as its next revision.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "save_claim"))]
pub async fn save_claim(connection: &mut PgConnection, claim: &Claim) -> Result<Claim> {
    let next = Claim {
        revision: claim.revision + 1,
        ..claim.clone()
    };
    let body = serde_json::to_value(&next).map_err(|error| corrupt("claim", error))?;
    sqlx::query(
        "UPDATE assessment.claims SET state = $3, revision = $4, claim = $5
         WHERE id = $1 AND kind = $2",
    )
    .bind(id_of(&next.name))
    .bind(ClaimKind::of(&next.name).as_str())
    .bind(next.state.as_str())
    .bind(next.revision)
    .bind(body)
    .execute(connection)
    .await?;
    Ok(next)
}

/// Records a finding, replacing one of the same kind for the same unit, period and criterion.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "record_finding"))]
pub async fn record_finding(connection: &mut PgConnection, finding: &Finding) -> Result<()> {
    sqlx::query(
        "INSERT INTO assessment.score_findings (scheme_id, period, unit_id, criterion, kind, score,
             justification, decided_by, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (scheme_id, period, unit_id, criterion, kind) DO UPDATE
         SET score = EXCLUDED.score, justification = EXCLUDED.justification,
             decided_by = EXCLUDED.decided_by, source = EXCLUDED.source, record_time = now()",
    )
    .bind(finding.scheme.as_str())
    .bind(&finding.period)
    .bind(&finding.unit)
    .bind(&finding.criterion)
    .bind(&finding.kind)
    .bind(finding.score)
    .bind(&finding.justification)
    .bind(&finding.decided_by)
    .bind(&finding.source)
    .execute(connection)
    .await?;
    Ok(())
}
