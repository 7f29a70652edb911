//! Rounds (考核轮次): running one (or a revision of one) over the inputs gathered and frozen,
//! what a revision changed, publishing it with the items it opens, and reading its results.

use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_units_client::UnitId;

use super::{AssessmentBook, entry_outcome};
use crate::domain::{
    Frozen, Input, Item, ItemSource, Needs, Round, RoundId, RoundKind, Scheme, SchemeId,
    ScoreChange, ScoredUnit, SupervisionRecord, diff_results, problems, score_round, score_unit,
};
use crate::error::{AssessmentError, Result};
use crate::store::{self, ScoreCursor, ScoreRows};

/// What a bulletin is made of.
pub struct BulletinParts {
    pub round: Round,
    pub scheme: Scheme,
    pub results: Vec<ScoredUnit>,
    pub items: Vec<Item>,
    pub supervision: Vec<SupervisionRecord>,
}

/// What a round run scores.
pub enum RoundSpec {
    /// A scheme for a period.
    First {
        scheme: SchemeId,
        kind: RoundKind,
        period: String,
    },
    /// A round again, as its next revision: its scheme, kind and period, which the caller
    /// may repeat but not change.
    Revision {
        of: RoundId,
        scheme: Option<SchemeId>,
        kind: Option<RoundKind>,
        period: Option<String>,
    },
}

/// What a caller may see of a round's scores.
pub enum ScoreView {
    /// Every unit's (the owner's coordinators, viewers).
    All,
    /// Only this unit's own.
    Own(String),
}

impl AssessmentBook {
    /// Runs a round of a scheme for a period, or re-runs one as its next revision with the
    /// scheme's latest version: gathers every input as the caller, freezes them, scores and
    /// ranks every member: coordinators of the owner unit.
    pub async fn run_round(&self, context: &CallContext, spec: RoundSpec) -> Result<Round> {
        let round_id = RoundId::generate();
        let name = round_id.name();
        self.mutate(
            context,
            &name,
            async || {
                let (scheme_id, kind, period, previous) = match &spec {
                    RoundSpec::First {
                        scheme,
                        kind,
                        period,
                    } => (scheme.clone(), *kind, period.clone(), None),
                    RoundSpec::Revision { of, .. } => {
                        let previous = self.store.get_round(of).await?;
                        (
                            previous.scheme.clone(),
                            previous.kind,
                            previous.period.clone(),
                            Some(previous),
                        )
                    }
                };
                let stored = self.store.get_scheme(&scheme_id).await?;
                let scheme = &stored.scheme;
                self.require_coordinator(context, &scheme.owner_unit)
                    .await?;
                if let RoundSpec::Revision {
                    scheme: named,
                    kind: named_kind,
                    period: named_period,
                    ..
                } = &spec
                {
                    AssessmentError::refuse_any(
                        [
                            ("scheme", named.as_ref().is_some_and(|named| *named != scheme_id)),
                            ("kind", named_kind.is_some_and(|named| named != kind)),
                            (
                                "period",
                                named_period.as_ref().is_some_and(|named| *named != period),
                            ),
                        ]
                        .into_iter()
                        .filter(|(_, differs)| *differs)
                        .map(|(field, _)| {
                            FieldViolation::new(
                                field,
                                "REVISION_MISMATCH",
                                "a revision keeps the scheme, kind and period of the round it revises",
                                "重新计算沿用原轮次的方案、类型和期间,不能更改",
                            )
                        })
                        .collect(),
                    )?;
                }
                if !period.starts_with(&scheme.year.to_string()) {
                    return Err(AssessmentError::invalid_field(FieldViolation::new(
                        "period",
                        "PERIOD_OUTSIDE_YEAR",
                        format!("the scheme is for {}: a period of that year", scheme.year),
                        format!("该方案适用于 {} 年度,期间须在该年度内", scheme.year),
                    )));
                }
                let needs = Needs::of(scheme);
                let today = context.clock.today();
                let members = self.sources.members(context, scheme, today).await?;
                let mut inputs = self
                    .sources
                    .inputs(context, (scheme, &needs), &members, (&period, today))
                    .await?;
                let recorded = self.store.manual_inputs(&scheme_id, &period).await?;
                let open = self.store.open_item_inputs(&scheme.owner_unit).await?;
                for (unit, name, frozen) in recorded.into_iter().chain(open) {
                    if let Some(unit_inputs) = inputs.get_mut(&unit) {
                        unit_inputs.insert(name, frozen);
                    }
                }
                // A reviewed self-assessment of a manual criterion stands in for a reviewer's
                // score where none was recorded.
                for claim in self.store.reviewed_self_assessments(&scheme_id, &period).await? {
                    let manual = scheme
                        .criterion_terms(&claim.criterion)
                        .is_some_and(|terms| terms.manual);
                    if let (true, Some(unit_inputs), Some(decided)) =
                        (manual, inputs.get_mut(&claim.unit), claim.decided_score)
                    {
                        unit_inputs
                            .entry(format!("manual/{}", claim.criterion))
                            .or_insert_with(|| Frozen {
                                source: format!(
                                    "{} 自评 {} 分,{} 审核",
                                    claim.name, claim.score, claim.decided_by
                                ),
                                input: Input::Manual {
                                    score: decided,
                                    justification: claim.justification,
                                    scorer: claim.decided_by,
                                },
                            });
                    }
                }
                let input_count = inputs.values().map(|unit| unit.len()).sum::<usize>();
                let owned = scheme.clone();
                let rows = tokio::task::spawn_blocking(move || {
                    ScoreRows::of(&score_round(&owned, &members, inputs))
                })
                .await
                .map_err(|error| PlatformError::Internal(format!("scoring: {error}")))??;
                let round = Round {
                    id: round_id.clone(),
                    scheme: scheme_id.clone(),
                    scheme_version: stored.version,
                    owner_unit: scheme.owner_unit.clone(),
                    kind,
                    period,
                    unit_count: i32::try_from(rows.len()).unwrap_or(i32::MAX),
                    input_count: i32::try_from(input_count).unwrap_or(i32::MAX),
                    run_by: context.caller.subject.clone(),
                    create_time: context.clock.now(),
                    publish_time: None,
                    revision: previous.as_ref().map_or(1, |previous| previous.revision + 1),
                    previous_round: previous.map(|previous| previous.id),
                    revised_by: None,
                    stale: None,
                };
                Ok((round, rows))
            },
            async |connection, (round, rows): (Round, ScoreRows)| {
                if let Some(previous) = &round.previous_round
                    && let Some(later) = store::lock_revised(connection, previous).await?
                {
                    return Err(AssessmentError::RoundRevised(later.name()));
                }
                let saved = store::insert_round(connection, &round, &rows).await?;
                entry_outcome(&name, "round.run", None::<&Round>, saved)
            },
        )
        .await
    }

    /// How a revision's results differ from the revision before it: all of them to the
    /// owner's coordinators and viewers, a unit's own to its staff.
    pub async fn diff_round(
        &self,
        context: &CallContext,
        id: &RoundId,
    ) -> Result<(Round, Vec<ScoreChange>)> {
        let round = self.store.get_round(id).await?;
        let view = self.score_view(context, &round).await?;
        let Some(previous) = &round.previous_round else {
            return Err(AssessmentError::invalid_field(FieldViolation::new(
                "name",
                "NOT_A_REVISION",
                "the round is a first run: only a revision has one before it to compare",
                "该轮考核为首次计算,没有可比较的上一次结果",
            )));
        };
        let (before, after) = (
            self.store.round_results(previous, false).await?,
            self.store.round_results(id, false).await?,
        );
        let mut changes = tokio::task::spawn_blocking(move || diff_results(&before, &after))
            .await
            .map_err(|error| PlatformError::Internal(format!("comparing: {error}")))?;
        if let ScoreView::Own(unit) = view {
            changes.retain(|change| change.unit == unit);
        }
        Ok((round, changes))
    }

    /// Publishes a round: final from now on, and an item opened on the ledger for every
    /// criterion that cost a unit points or vetoed it: coordinators of the owner.
    pub async fn publish_round(
        &self,
        context: &CallContext,
        id: &RoundId,
    ) -> Result<(Round, usize)> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let round = self.store.get_round(id).await?;
                self.require_coordinator(context, &round.owner_unit).await?;
                let scheme = self
                    .store
                    .scheme_version(&round.scheme, round.scheme_version)
                    .await?;
                Ok((round, scheme))
            },
            async |connection, (round, scheme): (Round, Scheme)| {
                let terms = scheme.rectification;
                let published = store::lock_round(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.clone()))?;
                if published.is_some() {
                    return Err(AssessmentError::RoundPublished);
                }
                let now = context.clock.now();
                // The traces are worked out again from what the round froze.
                let units = store::round_inputs(connection, id).await?;
                let found = tokio::task::spawn_blocking(move || {
                    units
                        .into_iter()
                        .flat_map(|(unit, group, inputs)| {
                            problems(&score_unit(&scheme, &unit, &group, &inputs))
                                .into_iter()
                                .map(move |(criterion, problem)| (unit.clone(), criterion, problem))
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .map_err(|error| PlatformError::Internal(format!("publishing: {error}")))?;
                let open = store::items_not_closed(connection, round.scheme.as_str()).await?;
                let items: Vec<Item> = found
                    .into_iter()
                    .filter(|(unit, criterion, _)| {
                        !open.contains(&(unit.clone(), criterion.clone()))
                    })
                    .map(|(unit, criterion, problem)| {
                        Item::open(
                            ItemSource::Round,
                            (round.owner_unit.clone(), unit),
                            (Some(name.clone()), criterion, problem),
                            terms,
                            (context.clock.today(), now),
                        )
                    })
                    .collect();
                let published = store::publish_round(connection, (id, now), &items).await?;
                let mut events = vec![
                    NewEvent {
                        event_type: "round.published",
                        resource: name.clone(),
                        payload: mutation::to_json(&published)?,
                    },
                    NewEvent {
                        event_type: "bulletin.published",
                        resource: format!("{name}/bulletin"),
                        payload: mutation::to_json(&published)?,
                    },
                ];
                for item in &items {
                    events.push(NewEvent {
                        event_type: "rectification.opened",
                        resource: item.id.name(),
                        payload: mutation::to_json(item)?,
                    });
                }
                Ok(Outcome {
                    changes: vec![Change::of(&name, Some(&round), Some(&published))?],
                    events,
                    response: (published, items.len()),
                })
            },
        )
        .await
    }

    /// What a bulletin is made of: the round, its scheme version, every result and item.
    pub async fn bulletin_parts(
        &self,
        context: &CallContext,
        id: &RoundId,
    ) -> Result<BulletinParts> {
        let round = self.store.get_round(id).await?;
        let allowed = match self.score_view(context, &round).await? {
            ScoreView::All => true,
            ScoreView::Own(_) => round.publish_time.is_some(),
        };
        if !allowed {
            return Err(PlatformError::PermissionDenied.into());
        }
        let scheme = self
            .store
            .scheme_version(&round.scheme, round.scheme_version)
            .await?;
        let results = self.store.round_results(id, true).await?;
        let items = self.store.round_items(id).await?;
        let supervision = self.store.round_supervision(id).await?;
        Ok(BulletinParts {
            round,
            scheme,
            results,
            items,
            supervision,
        })
    }

    /// A round, to those who may read its owner's results.
    pub async fn get_round(&self, context: &CallContext, id: &RoundId) -> Result<Round> {
        let round = self.store.get_round(id).await?;
        self.score_view(context, &round).await?;
        Ok(round)
    }

    pub async fn list_rounds(
        &self,
        context: &CallContext,
        scheme: &SchemeId,
        after: Option<(chrono::DateTime<chrono::Utc>, String)>,
        size: i64,
    ) -> Result<Page<Round, (chrono::DateTime<chrono::Utc>, String)>> {
        let stored = self.store.get_scheme(scheme).await?;
        // The owner's coordinators and viewers see every round; anyone else the published
        // ones (a bulletin is public to the units it ranks), to find their own score in.
        let published_only = match self
            .require_reader(context, &stored.scheme.owner_unit)
            .await
        {
            Ok(()) => false,
            Err(AssessmentError::Platform(PlatformError::PermissionDenied)) => true,
            // The units service away is not a refusal: a shorter list would hide it.
            Err(error) => return Err(error),
        };
        self.store
            .list_rounds(scheme, published_only, after, size)
            .await
    }

    /// What of a round's results the caller sees: all of them for the owner's coordinators and
    /// viewers, a unit's own for its staff; nothing for anyone else.
    async fn score_view(&self, context: &CallContext, round: &Round) -> Result<ScoreView> {
        match self.require_reader(context, &round.owner_unit).await {
            Ok(()) => Ok(ScoreView::All),
            Err(refusal) => match &context.caller.unit {
                Some(own) if self.store.get_score(&round.id, own).await?.is_some() => {
                    Ok(ScoreView::Own(own.clone()))
                }
                _ => Err(refusal),
            },
        }
    }

    pub async fn list_scores(
        &self,
        context: &CallContext,
        round: &RoundId,
        peer_group: Option<&str>,
        (after, size): (Option<ScoreCursor>, i64),
    ) -> Result<Page<ScoredUnit, ScoreCursor>> {
        let found = self.store.get_round(round).await?;
        match self.score_view(context, &found).await? {
            ScoreView::All => self.store.list_scores(round, peer_group, after, size).await,
            ScoreView::Own(unit) => Ok(Page {
                items: self
                    .store
                    .get_score(round, &unit)
                    .await?
                    .into_iter()
                    .filter(|scored| {
                        peer_group.is_none_or(|group| scored.score.peer_group == group)
                    })
                    .collect(),
                next: None,
            }),
        }
    }

    /// A unit's score with its trace, to the owner's coordinators, viewers and the unit itself.
    pub async fn explain_score(
        &self,
        context: &CallContext,
        round: &RoundId,
        unit: &UnitId,
    ) -> Result<ScoredUnit> {
        let found = self.store.get_round(round).await?;
        let allowed = match self.score_view(context, &found).await? {
            ScoreView::All => true,
            ScoreView::Own(own) => own == unit.as_str(),
        };
        if !allowed {
            return Err(PlatformError::PermissionDenied.into());
        }
        let mut scored = self
            .store
            .get_score(round, unit.as_str())
            .await?
            .ok_or_else(|| {
                PlatformError::NotFound(format!("{} in {}", unit.name(), round.name()))
            })?;
        // The trace is not stored: the scheme version and the frozen inputs give it again.
        let scheme = self
            .store
            .scheme_version(&found.scheme, found.scheme_version)
            .await?;
        scored.score.lines = score_unit(
            &scheme,
            &scored.unit,
            &scored.score.peer_group,
            &scored.inputs,
        )
        .lines;
        Ok(scored)
    }
}
