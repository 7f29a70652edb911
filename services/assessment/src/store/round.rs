//! Rounds and the scores they gave, each with the inputs it was computed from.

use chrono::{DateTime, Utc};
use fazhi_platform::aip::Page;
use fazhi_platform::error::PlatformError;
use sqlx::PgConnection;

use super::{Store, corrupt};
use crate::domain::{Round, RoundId, RoundKind, SchemeId, ScoredUnit, Stale, UnitScore};
use crate::error::{AssessmentError, Result};

const ROUND_COLUMNS: &str =
    "id, scheme_id, scheme_version, owner_unit_id, kind, period, unit_count,
    input_count, run_by, create_time, publish_time, revision, previous_round_id,
    (SELECT later.id FROM assessment.rounds later WHERE later.previous_round_id = rounds.id)
        AS revised_by,
    stale_reason, stale_time";

#[derive(sqlx::FromRow)]
struct RoundRow {
    id: String,
    scheme_id: String,
    scheme_version: i64,
    owner_unit_id: String,
    kind: String,
    period: String,
    unit_count: i32,
    input_count: i32,
    run_by: String,
    create_time: DateTime<Utc>,
    publish_time: Option<DateTime<Utc>>,
    revision: i32,
    previous_round_id: Option<String>,
    revised_by: Option<String>,
    stale_reason: Option<String>,
    stale_time: Option<DateTime<Utc>>,
}

impl TryFrom<RoundRow> for Round {
    type Error = AssessmentError;
    fn try_from(row: RoundRow) -> Result<Self> {
        Ok(Self {
            kind: RoundKind::parse(&row.kind).ok_or_else(|| {
                PlatformError::Internal(format!("round {} has kind {}", row.id, row.kind))
            })?,
            id: RoundId::from_trusted(row.id),
            scheme: SchemeId::from_trusted(row.scheme_id),
            scheme_version: row.scheme_version,
            owner_unit: row.owner_unit_id,
            period: row.period,
            unit_count: row.unit_count,
            input_count: row.input_count,
            run_by: row.run_by,
            create_time: row.create_time,
            publish_time: row.publish_time,
            revision: row.revision,
            previous_round: row.previous_round_id.map(RoundId::from_trusted),
            revised_by: row.revised_by.map(RoundId::from_trusted),
            stale: row
                .stale_reason
                .zip(row.stale_time)
                .map(|(reason, time)| Stale { reason, time }),
        })
    }
}

/// Where a listing of scores goes on: peer group, rank, unit of the last one.
pub type ScoreCursor = (String, i32, String);

#[derive(sqlx::FromRow)]
struct ScoreRow {
    unit_id: String,
    unit_display_name: String,
    rank: i32,
    rank_shared: bool,
    inputs: serde_json::Value,
    score: serde_json::Value,
}

impl TryFrom<ScoreRow> for ScoredUnit {
    type Error = AssessmentError;
    fn try_from(row: ScoreRow) -> Result<Self> {
        let what = format!("score of {}", row.unit_id);
        Ok(Self {
            inputs: serde_json::from_value(row.inputs).map_err(|error| corrupt(&what, error))?,
            score: serde_json::from_value(row.score).map_err(|error| corrupt(&what, error))?,
            unit: row.unit_id,
            display_name: row.unit_display_name,
            rank: usize::try_from(row.rank).unwrap_or_default(),
            rank_shared: row.rank_shared,
        })
    }
}

impl Store {
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_round"))]
    pub async fn get_round(&self, id: &RoundId) -> Result<Round> {
        sqlx::query_as::<_, RoundRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM assessment.rounds WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reads())
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?
        .try_into()
    }

    /// A scheme's rounds, newest first; `after` is the last one's (time, id).
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_rounds"))]
    pub async fn list_rounds(
        &self,
        scheme: &SchemeId,
        published_only: bool,
        after: Option<(DateTime<Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<Round, (DateTime<Utc>, String)>> {
        let (after_time, after_id) = after.unzip();
        let rows: Vec<RoundRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM assessment.rounds
             WHERE scheme_id = $1 AND ($2::timestamptz IS NULL OR (create_time, id) < ($2, $3))
               AND (NOT $5 OR publish_time IS NOT NULL)
             ORDER BY create_time DESC, id DESC LIMIT $4"
        )))
        .bind(scheme.as_str())
        .bind(after_time)
        .bind(after_id)
        .bind(page_size + 1)
        .bind(published_only)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(Round::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page_size, |last: &Round| {
            (last.create_time, last.id.as_str().to_owned())
        }))
    }

    /// A round's scores by peer group and rank, optionally of one group.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "list_scores"))]
    pub async fn list_scores(
        &self,
        round: &RoundId,
        peer_group: Option<&str>,
        after: Option<ScoreCursor>,
        page_size: i64,
    ) -> Result<Page<ScoredUnit, ScoreCursor>> {
        let (after_group, after_rank, after_unit) = match after {
            Some((group, rank, unit)) => (Some(group), Some(rank), Some(unit)),
            None => (None, None, None),
        };
        let rows: Vec<ScoreRow> = sqlx::query_as(
            "SELECT unit_id, unit_display_name, rank, rank_shared, '{}'::jsonb AS inputs, score
             FROM assessment.scores
             WHERE round_id = $1 AND ($2::text IS NULL OR peer_group = $2)
               AND ($3::text IS NULL OR (peer_group, rank, unit_id) > ($3, $4, $5))
             ORDER BY peer_group, rank, unit_id LIMIT $6",
        )
        .bind(round.as_str())
        .bind(peer_group)
        .bind(after_group)
        .bind(after_rank)
        .bind(after_unit)
        .bind(page_size + 1)
        .fetch_all(self.reads())
        .await?;
        let items = rows
            .into_iter()
            .map(ScoredUnit::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(
            items,
            page_size,
            |last: &ScoredUnit| {
                (
                    last.score.peer_group.clone(),
                    i32::try_from(last.rank).unwrap_or(i32::MAX),
                    last.unit.clone(),
                )
            },
        ))
    }

    /// Every unit's result in a round, with its inputs when `with_inputs`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "round_results"))]
    pub async fn round_results(
        &self,
        round: &RoundId,
        with_inputs: bool,
    ) -> Result<Vec<ScoredUnit>> {
        sqlx::query_as::<_, ScoreRow>(
            "SELECT unit_id, unit_display_name, rank, rank_shared,
                 CASE WHEN $2 THEN inputs ELSE '{}'::json END AS inputs, score
             FROM assessment.scores WHERE round_id = $1 ORDER BY peer_group, rank, unit_id",
        )
        .bind(round.as_str())
        .bind(with_inputs)
        .fetch_all(self.reads())
        .await?
        .into_iter()
        .map(ScoredUnit::try_from)
        .collect()
    }

    /// One unit's score in a round, with the inputs it was computed from.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "get_score"))]
    pub async fn get_score(&self, round: &RoundId, unit: &str) -> Result<Option<ScoredUnit>> {
        sqlx::query_as::<_, ScoreRow>(
            "SELECT unit_id, unit_display_name, rank, rank_shared, inputs, score
             FROM assessment.scores WHERE round_id = $1 AND unit_id = $2",
        )
        .bind(round.as_str())
        .bind(unit)
        .fetch_optional(self.reads())
        .await?
        .map(ScoredUnit::try_from)
        .transpose()
    }
}

/// A round, on a transaction's connection.
pub(super) async fn read_round(connection: &mut PgConnection, id: &RoundId) -> Result<Round> {
    sqlx::query_as::<_, RoundRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ROUND_COLUMNS} FROM assessment.rounds WHERE id = $1"
    )))
    .bind(id.as_str())
    .fetch_one(connection)
    .await?
    .try_into()
}

/// Scores written per statement: each one well inside the statement timeout.
const SCORES_PER_STATEMENT: usize = 1_000;

/// Scores as written: their columns, the inputs and the score (without its trace, worked out
/// again from the frozen inputs and the scheme version whenever it is asked for) as JSON text.
/// Made on a blocking thread: a large round is tens of megabytes of JSON.
pub struct ScoreRows {
    units: Vec<String>,
    names: Vec<String>,
    groups: Vec<String>,
    totals: Vec<f64>,
    ranks: Vec<i32>,
    shared: Vec<bool>,
    inputs: Vec<String>,
    scores: Vec<String>,
}

impl ScoreRows {
    pub fn of(scored: &[ScoredUnit]) -> Result<Self> {
        let json =
            |value: serde_json::Result<String>| value.map_err(|error| corrupt("score", error));
        let mut rows = Self {
            units: Vec::with_capacity(scored.len()),
            names: Vec::with_capacity(scored.len()),
            groups: Vec::with_capacity(scored.len()),
            totals: Vec::with_capacity(scored.len()),
            ranks: Vec::with_capacity(scored.len()),
            shared: Vec::with_capacity(scored.len()),
            inputs: Vec::with_capacity(scored.len()),
            scores: Vec::with_capacity(scored.len()),
        };
        for unit in scored {
            rows.units.push(unit.unit.clone());
            rows.names.push(unit.display_name.clone());
            rows.groups.push(unit.score.peer_group.clone());
            rows.totals.push(unit.score.total);
            rows.ranks
                .push(i32::try_from(unit.rank).unwrap_or(i32::MAX));
            rows.shared.push(unit.rank_shared);
            rows.inputs.push(json(serde_json::to_string(&unit.inputs))?);
            rows.scores.push(json(serde_json::to_string(&UnitScore {
                lines: Vec::new(),
                ..unit.score.clone()
            }))?);
        }
        Ok(rows)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }
}

/// Writes the rows `range` of `rows`, set-based.
async fn insert_scores(
    connection: &mut PgConnection,
    round: &RoundId,
    rows: &ScoreRows,
    range: std::ops::Range<usize>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO assessment.scores (round_id, unit_id, unit_display_name, peer_group, total,
             rank, rank_shared, inputs, score)
         SELECT $1, row.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::float8[],
             $6::integer[], $7::boolean[], $8::text[]::json[], $9::text[]::json[]) AS row",
    )
    .bind(round.as_str())
    .bind(&rows.units[range.clone()])
    .bind(&rows.names[range.clone()])
    .bind(&rows.groups[range.clone()])
    .bind(&rows.totals[range.clone()])
    .bind(&rows.ranks[range.clone()])
    .bind(&rows.shared[range.clone()])
    .bind(&rows.inputs[range.clone()])
    .bind(&rows.scores[range])
    .execute(connection)
    .await?;
    Ok(())
}

/// Records a round and every unit's score, set-based.
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "insert_round", units = rows.len()))]
pub async fn insert_round(
    connection: &mut PgConnection,
    round: &Round,
    rows: &ScoreRows,
) -> Result<Round> {
    let saved: Round = sqlx::query_as::<_, RoundRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO assessment.rounds (id, scheme_id, scheme_version, owner_unit_id, kind, period,
             unit_count, input_count, run_by, revision, previous_round_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING {ROUND_COLUMNS}"
    )))
    .bind(round.id.as_str())
    .bind(round.scheme.as_str())
    .bind(round.scheme_version)
    .bind(&round.owner_unit)
    .bind(round.kind.as_str())
    .bind(&round.period)
    .bind(round.unit_count)
    .bind(round.input_count)
    .bind(&round.run_by)
    .bind(round.revision)
    .bind(round.previous_round.as_ref().map(RoundId::as_str))
    .fetch_one(&mut *connection)
    .await?
    .try_into()?;
    for start in (0..rows.len()).step_by(SCORES_PER_STATEMENT) {
        let end = (start + SCORES_PER_STATEMENT).min(rows.len());
        insert_scores(connection, &round.id, rows, start..end).await?;
    }
    Ok(saved)
}

/// Locks a round about to be revised: the revision that already re-ran it, if one did.
pub async fn lock_revised(connection: &mut PgConnection, id: &RoundId) -> Result<Option<RoundId>> {
    sqlx::query_scalar::<_, String>("SELECT id FROM assessment.rounds WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| PlatformError::NotFound(id.name()))?;
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT id FROM assessment.rounds WHERE previous_round_id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(connection)
    .await?
    .map(RoundId::from_trusted))
}

/// A round that could go stale: the latest revision of its chain, not stale yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveRound {
    pub id: String,
    pub scheme_id: String,
    pub scheme_version: i64,
    pub period: String,
    pub create_time: DateTime<Utc>,
}

impl Store {
    /// The latest, not yet stale revisions of rounds that scored `unit`.
    #[tracing::instrument(name = "store", skip_all, fields(db.operation = "live_rounds_of"))]
    pub async fn live_rounds_of(&self, unit: &str) -> Result<Vec<LiveRound>> {
        Ok(sqlx::query_as(
            "SELECT round.id, round.scheme_id, round.scheme_version, round.period,
                 round.create_time
             FROM assessment.rounds round
             WHERE round.stale_time IS NULL
               AND NOT EXISTS (SELECT 1 FROM assessment.rounds later
                               WHERE later.previous_round_id = round.id)
               AND EXISTS (SELECT 1 FROM assessment.scores score
                           WHERE score.round_id = round.id AND score.unit_id = $1)",
        )
        .bind(unit)
        .fetch_all(self.reads())
        .await?)
    }
}

/// Marks rounds stale with the reason, answering those it marked (not those marked already).
#[tracing::instrument(name = "store", skip_all, fields(db.operation = "mark_stale"))]
pub async fn mark_stale(
    connection: &mut PgConnection,
    ids: &[String],
    (reason, time): (&str, DateTime<Utc>),
) -> Result<Vec<Round>> {
    let marked: Vec<String> = sqlx::query_scalar(
        "UPDATE assessment.rounds SET stale_reason = $2, stale_time = $3
         WHERE id = ANY($1) AND stale_time IS NULL RETURNING id",
    )
    .bind(ids)
    .bind(reason)
    .bind(time)
    .fetch_all(&mut *connection)
    .await?;
    let mut rounds = Vec::with_capacity(marked.len());
    for id in marked {
        rounds.push(read_round(&mut *connection, &RoundId::from_trusted(id)).await?);
    }
    Ok(rounds)
}
