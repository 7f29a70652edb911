//! Use cases: authorise through the units service, then run the change through
//! `mutation::run` (idempotency, audit, outbox) with the domain deciding.

use fazhi_platform::aip::Page;
use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_units_client::{UnitId, UnitsClientError};
use sqlx::PgConnection;

mod claims;
mod stale;
mod supervision;

pub use claims::{AppealDraft, SelfAssessmentDraft};
pub use stale::Changed;
pub use supervision::SupervisionDraft;

use crate::domain::{
    Frozen, Input, Item, ItemId, ItemSource, Needs, Round, RoundId, RoundKind, Scheme, SchemeId,
    ScoreChange, ScoredUnit, StoredScheme, SupervisionRecord, check_text, diff_results, problems,
    score_round, score_unit,
};
use crate::error::{AssessmentError, Result};
use crate::gather::Sources;
use crate::store::{self, ItemFilter, ManualScore, ScoreCursor, ScoreRows, Store};

/// The assessment use cases. Cheap to clone.
#[derive(Clone)]
pub struct AssessmentBook {
    store: Store,
    sources: Sources,
}

/// Most evidence links a submission carries, and the longest.
const MAX_EVIDENCE: usize = 20;
const MAX_EVIDENCE_URI_CHARS: usize = 2000;

/// Evidence links (佐证材料): at most a few, each an http(s) address or a plans evidence name.
fn check_evidence(evidence: &[String], violations: &mut Vec<FieldViolation>) {
    violations.extend(FieldViolation::check_texts(
        "evidence_uris",
        evidence,
        (MAX_EVIDENCE, MAX_EVIDENCE_URI_CHARS),
    ));
    for (index, uri) in evidence.iter().enumerate() {
        if !fazhi_platform::text::is_evidence_address(uri) {
            violations.push(FieldViolation::new(
                format!("evidence_uris[{index}]"),
                "INVALID_URI",
                "an evidence link is an http(s) address or plans/…/assignments/…/evidence/{sha256}",
                "佐证材料链接须为 http(s) 网址或 plans/…/assignments/…/evidence/{sha256}",
            ));
        }
    }
}

/// A step of a rectification item.
pub enum ItemStep {
    /// The unit's measures and who answers for them.
    TakeUp {
        measures: String,
        responsible_person: String,
    },
    /// The unit's report that it is done, with evidence links.
    Submit { evidence: Vec<String> },
    /// 销号 by the office, with its reason.
    Close { reason: String },
    /// Sent back by the office, with its reason.
    Reopen { reason: String },
}

impl ItemStep {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TakeUp { .. } => "rectification.taken_up",
            Self::Submit { .. } => "rectification.submitted",
            Self::Close { .. } => "rectification.closed",
            Self::Reopen { .. } => "rectification.reopened",
        }
    }

    /// Every problem of the step's fields.
    fn check(&self) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        match self {
            Self::TakeUp {
                measures,
                responsible_person,
            } => {
                check_text("measures", measures, &mut violations);
                check_text("responsible_person", responsible_person, &mut violations);
            }
            Self::Submit { evidence } => {
                if evidence.is_empty() {
                    violations.push(FieldViolation::required("evidence_uris"));
                }
                check_evidence(evidence, &mut violations);
            }
            Self::Close { reason } | Self::Reopen { reason } => {
                check_text("reason", reason, &mut violations);
            }
        }
        violations
    }
}

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
    pub fn new(store: Store, sources: Sources) -> Self {
        Self { store, sources }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    async fn mutate<T, P>(
        &self,
        context: &CallContext,
        target: &str,
        prepare: impl AsyncFnOnce() -> Result<P>,
        apply: impl AsyncFnOnce(&mut PgConnection, P) -> Result<Outcome<T>>,
    ) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        mutation::run(
            self.store.pool(),
            self.store.journal(),
            context,
            target,
            prepare,
            apply,
        )
        .await
    }

    /// Refuses unless the caller coordinates `unit` (at or above it) or is an admin; a unit
    /// that does not exist is refused alike, except to admins (AIP-211).
    async fn require_coordinator(&self, context: &CallContext, unit: &str) -> Result<()> {
        let access = match self
            .sources
            .units
            .access(context, &UnitId::from_trusted(unit.to_owned()))
            .await
        {
            Ok(access) => access,
            Err(UnitsClientError::NotFound(_)) if context.caller.has(Role::Admin) => {
                return Err(AssessmentError::invalid_field(
                    fazhi_units_client::unit_not_found("owner_unit"),
                ));
            }
            Err(UnitsClientError::NotFound(_)) => {
                return Err(PlatformError::PermissionDenied.into());
            }
            Err(error) => return Err(AssessmentError::upstream("units", error)),
        };
        if access.may_coordinate() {
            Ok(())
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    /// Refuses unless the caller coordinates the scheme's owner, or works for the criterion's
    /// scoring unit (评分责任单位), when it names one.
    async fn require_scorer(
        &self,
        context: &CallContext,
        owner: &str,
        scorer_unit: Option<&str>,
    ) -> Result<()> {
        match self.require_coordinator(context, owner).await {
            Ok(()) => Ok(()),
            Err(refusal) => match scorer_unit {
                Some(unit) if self.require_work_for(context, unit).await.is_ok() => Ok(()),
                _ => Err(refusal),
            },
        }
    }

    /// Reads and checks a scheme's YAML on a blocking thread (up to 1 MiB of it).
    async fn parsed(content: String) -> Result<Scheme> {
        tokio::task::spawn_blocking(move || Scheme::from_yaml(&content))
            .await
            .map_err(|error| PlatformError::Internal(format!("scheme check: {error}")))?
            .map_err(AssessmentError::invalid)
    }

    /// Adds a scheme from its YAML: coordinators of its owner unit.
    pub async fn create_scheme(
        &self,
        context: &CallContext,
        id: &SchemeId,
        content: String,
    ) -> Result<StoredScheme> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let scheme = Self::parsed(content).await?;
                self.require_coordinator(context, &scheme.owner_unit)
                    .await?;
                Ok(scheme)
            },
            async |connection, scheme: Scheme| {
                let stored = store::insert_scheme(connection, id, &scheme).await?;
                entry_outcome(&name, "scheme.created", None, stored)
            },
        )
        .await
    }

    /// Replaces a scheme's content as its next version: coordinators of its owner unit.
    pub async fn update_scheme(
        &self,
        context: &CallContext,
        id: &SchemeId,
        etag: &str,
        content: String,
    ) -> Result<StoredScheme> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let current = self.store.get_scheme(id).await?;
                self.require_coordinator(context, &current.scheme.owner_unit)
                    .await?;
                let scheme = Self::parsed(content).await?;
                if scheme.owner_unit != current.scheme.owner_unit {
                    return Err(AssessmentError::invalid_field(FieldViolation::new(
                        "content",
                        "OWNER_CHANGED",
                        "a scheme keeps its owner unit: create another scheme instead",
                        "考核方案的制定单位不能修改,请另建方案",
                    )));
                }
                Ok(scheme)
            },
            async |connection, scheme: Scheme| {
                let locked = store::lock_scheme(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.clone()))?;
                fazhi_platform::aip::check_etag(etag, locked.version)?;
                let saved = store::save_scheme(connection, id, &scheme).await?;
                entry_outcome(&name, "scheme.updated", Some(&locked), saved)
            },
        )
        .await
    }

    /// Records a reviewer's score of a manual criterion for a unit and period, within the
    /// criterion's full marks and with a justification (C7): coordinators of the owner. A round
    /// run afterwards reads it; one run before keeps what it froze.
    pub async fn record_manual_score(
        &self,
        context: &CallContext,
        score: ManualScore,
    ) -> Result<ManualScore> {
        let name = format!("{}/manualScores/{}", score.scheme.name(), score.unit);
        self.mutate(
            context,
            &name,
            async || {
                let stored = self.store.get_scheme(&score.scheme).await?;
                let terms = stored.scheme.criterion_terms(&score.criterion);
                self.require_scorer(
                    context,
                    &stored.scheme.owner_unit,
                    terms
                        .as_ref()
                        .and_then(|terms| terms.scorer_unit.as_deref()),
                )
                .await?;
                let mut violations = Vec::new();
                match terms {
                    None => violations.push(FieldViolation::new(
                        "criterion",
                        "NOT_FOUND",
                        format!("the scheme has no criterion {}", score.criterion),
                        format!("方案中没有编号为 {} 的考核指标", score.criterion),
                    )),
                    Some(terms) if !terms.manual => violations.push(FieldViolation::new(
                        "criterion",
                        "NOT_MANUAL",
                        "only a criterion with a manual rule takes a reviewer's score",
                        "只有设有人工评分规则的指标才能评分",
                    )),
                    Some(terms) if !(0.0..=terms.max).contains(&score.score) => {
                        let max = terms.max;
                        violations.push(FieldViolation::new(
                            "score",
                            "OUT_OF_RANGE",
                            format!("a score from 0 to the criterion's {max} points"),
                            format!("评分须在 0 至本项满分 {max} 分之间"),
                        ));
                    }
                    Some(_) => {}
                }
                check_text("justification", &score.justification, &mut violations);
                if score.period.trim().is_empty() {
                    violations.push(FieldViolation::required("period"));
                }
                AssessmentError::refuse_any(violations)?;
                Ok(ManualScore {
                    scorer: context.caller.subject.clone(),
                    ..score.clone()
                })
            },
            async |connection, recorded: ManualScore| {
                store::record_manual_score(connection, &recorded).await?;
                entry_outcome(
                    &name,
                    "manual_score.recorded",
                    None::<&ManualScore>,
                    recorded,
                )
            },
        )
        .await
    }

    /// Any signed-in caller reads schemes: they are what every unit is assessed on.
    pub async fn get_scheme(&self, id: &SchemeId) -> Result<StoredScheme> {
        self.store.get_scheme(id).await
    }

    pub async fn list_schemes(
        &self,
        owner: &UnitId,
        after: Option<(i32, String)>,
        size: i64,
    ) -> Result<Page<StoredScheme, (i32, String)>> {
        self.store.list_schemes(owner.as_str(), after, size).await
    }

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

    /// The ledger: an office's items (its coordinators, viewers) or a unit's own (its staff and
    /// those who coordinate it), optionally of one round and state, by deadline.
    pub async fn list_items(
        &self,
        context: &CallContext,
        filter: &ItemFilter,
        (after, size): (Option<(chrono::NaiveDate, String)>, i64),
    ) -> Result<Page<Item, (chrono::NaiveDate, String)>> {
        match (&filter.owner_unit, &filter.unit) {
            (Some(owner), None) => self.require_reader(context, owner).await?,
            (None, Some(unit)) => self.require_work_for(context, unit).await?,
            _ => return Err(one_of_owner_or_unit()),
        }
        self.store.list_items(filter, after, size).await
    }

    /// An item, to its unit and to the office that follows it up.
    pub async fn get_item(&self, context: &CallContext, id: &ItemId) -> Result<Item> {
        let item = self.store.get_item(id).await?;
        if self
            .require_reader(context, &item.owner_unit)
            .await
            .is_err()
        {
            self.require_work_for(context, &item.unit).await?;
        }
        Ok(item)
    }

    /// A step of an item: its unit takes it up and submits it; the office closes or reopens it.
    pub async fn step_item(
        &self,
        context: &CallContext,
        id: &ItemId,
        etag: &str,
        step: ItemStep,
    ) -> Result<Item> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let item = self.store.get_item(id).await?;
                match &step {
                    ItemStep::TakeUp { .. } | ItemStep::Submit { .. } => {
                        self.require_work_for(context, &item.unit).await?;
                    }
                    ItemStep::Close { .. } | ItemStep::Reopen { .. } => {
                        self.require_coordinator(context, &item.owner_unit).await?;
                    }
                }
                AssessmentError::refuse_any(step.check())
            },
            async |connection, ()| {
                let current = store::lock_item(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.clone()))?;
                fazhi_platform::aip::check_etag(etag, current.revision)?;
                let event_type = step.event_type();
                let moved = match &step {
                    ItemStep::TakeUp {
                        measures,
                        responsible_person,
                    } => current
                        .clone()
                        .take_up(measures.clone(), responsible_person.clone())?,
                    ItemStep::Submit { evidence } => current.clone().submit(evidence.clone())?,
                    ItemStep::Close { reason } => current.clone().close(reason.clone())?,
                    ItemStep::Reopen { reason } => current.clone().reopen(reason.clone())?,
                };
                let saved = store::save_item(
                    connection,
                    &Item {
                        update_time: context.clock.now(),
                        ..moved
                    },
                )
                .await?;
                entry_outcome(&name, event_type, Some(&current), saved)
            },
        )
        .await
    }

    /// Publishes `rectification.overdue` once for each item past its deadline and not closed,
    /// answering how many.
    pub async fn sweep_overdue_items(&self, context: &CallContext) -> Result<usize> {
        self.mutate(
            context,
            "rectificationItems:sweepOverdue",
            async || Ok(()),
            async |connection, ()| {
                let overdue = store::mark_overdue(connection, context.clock.today()).await?;
                let events = overdue
                    .iter()
                    .map(|item| {
                        Ok(NewEvent {
                            event_type: "rectification.overdue",
                            resource: item.id.name(),
                            payload: mutation::to_json(item)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Outcome {
                    response: overdue.len(),
                    changes: Vec::new(),
                    events,
                })
            },
        )
        .await
    }

    /// Refuses unless the caller works for `unit` (its staff) or coordinates it.
    async fn require_work_for(&self, context: &CallContext, unit: &str) -> Result<()> {
        match self
            .sources
            .units
            .access(context, &UnitId::from_trusted(unit.to_owned()))
            .await
        {
            Ok(access) if access.may_work_for() => Ok(()),
            Ok(_) | Err(UnitsClientError::NotFound(_)) => {
                Err(PlatformError::PermissionDenied.into())
            }
            Err(error) => Err(AssessmentError::upstream("units", error)),
        }
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
        self.require_reader(context, &stored.scheme.owner_unit)
            .await?;
        self.store.list_rounds(scheme, after, size).await
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

    async fn require_reader(&self, context: &CallContext, owner: &str) -> Result<()> {
        if context.caller.has(Role::Viewer) {
            return Ok(());
        }
        self.require_coordinator(context, owner).await
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

    /// The assessment audit log for the caller: admins all of it, coordinators the records of
    /// callers in their region; anyone else is refused.
    pub async fn list_audit_records(
        &self,
        context: &CallContext,
        page: (Option<fazhi_proto::audit::v1::AuditRecordFilter>, i32, &str),
    ) -> Result<(Vec<fazhi_proto::audit::v1::AuditRecord>, String)> {
        let (pool, journal) = (self.store.pool(), self.store.journal());
        fazhi_platform::audit::list_for_caller(pool, journal, context, page, async |own: &str| {
            self.sources
                .units
                .ids_below(context, own)
                .await
                .map_err(|error| AssessmentError::upstream("units", error))
        })
        .await
    }
}

/// A listing names an office (its coordinators' view) or a unit (its own), not both or neither.
fn one_of_owner_or_unit() -> AssessmentError {
    AssessmentError::invalid_field(FieldViolation::new(
        "owner_unit",
        "ONE_OF_OWNER_OR_UNIT",
        "name either owner_unit (the office's records) or unit (a unit's own)",
        "须指定 owner_unit(台账)或 unit(本单位记录)之一",
    ))
}

/// A created or changed entry as audited and published: the event carries the entry.
fn entry_outcome<T: serde::Serialize>(
    name: &str,
    event_type: &'static str,
    before: Option<&T>,
    after: T,
) -> Result<Outcome<T>> {
    Ok(Outcome {
        changes: vec![Change::of(name, before, Some(&after))?],
        events: vec![NewEvent {
            event_type,
            resource: name.to_owned(),
            payload: mutation::to_json(&after)?,
        }],
        response: after,
    })
}
