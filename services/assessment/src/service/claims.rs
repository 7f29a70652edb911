//! Self-assessments (自查自评), appeals (申诉) and findings of falsification: what a unit puts
//! to the office about a criterion's score, and what the office decides.

use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{Change, NewEvent};
use fazhi_units_client::UnitId;

use super::{AssessmentBook, check_evidence, entry_outcome};
use crate::domain::{
    AppealId, Claim, ClaimState, CriterionTerms, Decision, DecisionRefused, Item, ItemSource,
    RoundId, Scheme, SchemeId, SelfAssessmentId, check_text,
};
use crate::error::{AssessmentError, Result};
use crate::store::{self, ClaimFilter, ClaimKind, Finding};

/// Longest of a unit's own problems found.
const MAX_PROBLEMS_CHARS: usize = 2000;

/// A unit's appeal of a criterion's score in a published round.
#[derive(Debug, Clone)]
pub struct AppealDraft {
    pub round: RoundId,
    pub unit: UnitId,
    pub criterion: String,
    pub reasons: String,
    pub evidence: Vec<String>,
}

/// A unit's own score of a criterion for a scheme and period, with its evidence.
#[derive(Debug, Clone)]
pub struct SelfAssessmentDraft {
    pub scheme: SchemeId,
    pub period: String,
    pub unit: UnitId,
    pub criterion: String,
    pub score: f64,
    pub reasons: String,
    pub evidence: Vec<String>,
    pub problems_found: String,
}

fn not_found(criterion: &str) -> FieldViolation {
    FieldViolation::new(
        "criterion",
        "NOT_FOUND",
        format!("the scheme has no criterion {criterion}"),
        format!("方案中没有编号为 {criterion} 的考核指标"),
    )
}

/// A criterion a claim may be about: one the scheme has that rules score directly.
fn leaf_terms(scheme: &Scheme, criterion: &str) -> Result<CriterionTerms> {
    match scheme.criterion_terms(criterion) {
        None => Err(AssessmentError::invalid_field(not_found(criterion))),
        Some(terms) if !terms.leaf => Err(AssessmentError::invalid_field(FieldViolation::new(
            "criterion",
            "NOT_A_LEAF",
            "name a criterion without children: a parent's score is its children's",
            "请指定末级指标:上级指标的得分由下级指标汇总",
        ))),
        Some(terms) => Ok(terms),
    }
}

fn check_claim_texts(reasons: &str, evidence: &[String]) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    check_text("reasons", reasons, &mut violations);
    check_evidence(evidence, &mut violations);
    violations
}

impl AssessmentBook {
    /// A unit appeals a criterion's score within the round's appeal window: its staff.
    pub async fn file_appeal(&self, context: &CallContext, draft: AppealDraft) -> Result<Claim> {
        let name = AppealId::generate().name();
        self.mutate(
            context,
            &name,
            async || {
                let round = self.store.get_round(&draft.round).await?;
                self.require_work_for(context, draft.unit.as_str()).await?;
                let Some(published) = round.publish_time else {
                    return Err(AssessmentError::RoundNotPublished);
                };
                let scheme = self
                    .store
                    .scheme_version(&round.scheme, round.scheme_version)
                    .await?;
                if !Claim::within_window(
                    published.date_naive(),
                    scheme.appeal_days,
                    context.clock.today(),
                ) {
                    return Err(AssessmentError::AppealWindowClosed(scheme.appeal_days));
                }
                let scored = self
                    .store
                    .get_score(&round.id, draft.unit.as_str())
                    .await?
                    .ok_or_else(|| {
                        AssessmentError::invalid_field(FieldViolation::new(
                            "unit",
                            "NOT_SCORED",
                            "the unit was not scored in this round",
                            "该单位不在本轮考核范围内",
                        ))
                    })?;
                let terms = leaf_terms(&scheme, &draft.criterion)?;
                let criterion = scored
                    .score
                    .criteria
                    .iter()
                    .find(|criterion| criterion.code == draft.criterion)
                    .ok_or_else(|| {
                        AssessmentError::invalid_field(FieldViolation::new(
                            "criterion",
                            "NOT_APPLICABLE",
                            "the criterion does not apply to the unit's peer group",
                            "该指标不适用于本单位所在考核组",
                        ))
                    })?;
                AssessmentError::refuse_any(check_claim_texts(&draft.reasons, &draft.evidence))?;
                Ok(Claim {
                    name: name.clone(),
                    scheme: round.scheme.clone(),
                    period: round.period.clone(),
                    round: Some(round.id.clone()),
                    owner_unit: round.owner_unit.clone(),
                    unit: draft.unit.as_str().to_owned(),
                    criterion: draft.criterion.clone(),
                    score: criterion.score,
                    max: terms.max.min(criterion.max),
                    reasons: draft.reasons.clone(),
                    evidence: draft.evidence.clone(),
                    problems_found: String::new(),
                    state: ClaimState::Pending,
                    decided_score: None,
                    justification: String::new(),
                    decided_by: String::new(),
                    item: None,
                    revision: 1,
                    create_time: context.clock.now(),
                    decide_time: None,
                })
            },
            async |connection, claim: Claim| {
                if store::lock_same_claim(connection, &claim).await?.is_some() {
                    return Err(PlatformError::AlreadyExists(format!(
                        "an appeal of criterion {} for units/{} in this round",
                        claim.criterion, claim.unit
                    ))
                    .into());
                }
                let saved = store::insert_claim(connection, &claim).await?;
                entry_outcome(&name, "appeal.filed", None::<&Claim>, saved)
            },
        )
        .await
    }

    /// A unit scores itself on a criterion (自评), with evidence and the problems it found;
    /// submitting again replaces it until it is reviewed: its staff.
    pub async fn submit_self_assessment(
        &self,
        context: &CallContext,
        draft: SelfAssessmentDraft,
    ) -> Result<Claim> {
        let generated = SelfAssessmentId::generate().name();
        let target = format!(
            "{}/selfAssessments/{}/{}/{}",
            draft.scheme.name(),
            draft.period,
            draft.unit.as_str(),
            draft.criterion
        );
        self.mutate(
            context,
            &target,
            async || {
                let stored = self.store.get_scheme(&draft.scheme).await?;
                self.require_work_for(context, draft.unit.as_str()).await?;
                let scheme = &stored.scheme;
                let terms = leaf_terms(scheme, &draft.criterion)?;
                let mut violations = check_claim_texts(&draft.reasons, &draft.evidence);
                if !(0.0..=terms.max).contains(&draft.score) {
                    violations.push(FieldViolation::new(
                        "score",
                        "OUT_OF_RANGE",
                        format!("a score from 0 to the criterion's {} points", terms.max),
                        format!("自评分须在 0 至本项满分 {} 分之间", terms.max),
                    ));
                }
                if !draft.period.starts_with(&scheme.year.to_string()) {
                    violations.push(FieldViolation::new(
                        "period",
                        "PERIOD_OUTSIDE_YEAR",
                        format!("the scheme is for {}: a period of that year", scheme.year),
                        format!("该方案适用于 {} 年度,期间须在该年度内", scheme.year),
                    ));
                }
                if draft.problems_found.chars().count() > MAX_PROBLEMS_CHARS {
                    violations.push(FieldViolation::too_long(
                        "problems_found",
                        MAX_PROBLEMS_CHARS,
                    ));
                }
                AssessmentError::refuse_any(violations)?;
                Ok(Claim {
                    name: generated.clone(),
                    scheme: draft.scheme.clone(),
                    period: draft.period.clone(),
                    round: None,
                    owner_unit: scheme.owner_unit.clone(),
                    unit: draft.unit.as_str().to_owned(),
                    criterion: draft.criterion.clone(),
                    score: draft.score,
                    max: terms.max,
                    reasons: draft.reasons.clone(),
                    evidence: draft.evidence.clone(),
                    problems_found: draft.problems_found.trim().to_owned(),
                    state: ClaimState::Pending,
                    decided_score: None,
                    justification: String::new(),
                    decided_by: String::new(),
                    item: None,
                    revision: 1,
                    create_time: context.clock.now(),
                    decide_time: None,
                })
            },
            async |connection, claim: Claim| match store::lock_same_claim(connection, &claim)
                .await?
            {
                Some(earlier) if earlier.state != ClaimState::Pending => {
                    Err(AssessmentError::ClaimDecided(earlier.state))
                }
                Some(earlier) => {
                    let replaced = Claim {
                        name: earlier.name.clone(),
                        revision: earlier.revision,
                        create_time: earlier.create_time,
                        ..claim
                    };
                    let saved = store::save_claim(connection, &replaced).await?;
                    entry_outcome(
                        &saved.name.clone(),
                        "self_assessment.submitted",
                        Some(&earlier),
                        saved,
                    )
                }
                None => {
                    let saved = store::insert_claim(connection, &claim).await?;
                    entry_outcome(
                        &saved.name.clone(),
                        "self_assessment.submitted",
                        None,
                        saved,
                    )
                }
            },
        )
        .await
    }

    /// The office decides an appeal or reviews a self-assessment, once: coordinators of the
    /// owner, or the staff of the criterion's scoring unit. An appeal's adjusted score is frozen by the round's next revision; a reviewed
    /// self-assessment with problems found opens a rectification item.
    pub async fn decide_claim(
        &self,
        context: &CallContext,
        (name, etag): (&str, &str),
        decision: Decision,
        justification: String,
    ) -> Result<Claim> {
        let kind = ClaimKind::of(name);
        self.mutate(
            context,
            name,
            async || {
                let claim = self.store.get_claim(name).await?;
                let scheme = self.store.get_scheme(&claim.scheme).await?.scheme;
                let scorer_unit = scheme
                    .criterion_terms(&claim.criterion)
                    .and_then(|terms| terms.scorer_unit);
                self.require_scorer(context, &claim.owner_unit, scorer_unit.as_deref())
                    .await?;
                let mut violations = Vec::new();
                check_text("justification", &justification, &mut violations);
                AssessmentError::refuse_any(violations)?;
                Ok(scheme)
            },
            async |connection, scheme: Scheme| {
                let current = store::lock_claim(connection, name)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.to_owned()))?;
                fazhi_platform::aip::check_etag(etag, current.revision)?;
                let now = context.clock.now();
                let mut decided = current
                    .clone()
                    .decide(
                        decision.clone(),
                        (justification.clone(), context.caller.subject.clone()),
                        now,
                    )
                    .map_err(|refused| match refused {
                        DecisionRefused::Decided(state) => AssessmentError::ClaimDecided(state),
                        DecisionRefused::OutOfRange(max) => {
                            AssessmentError::invalid_field(FieldViolation::new(
                                "score",
                                "OUT_OF_RANGE",
                                format!("a score from 0 to the criterion's {max} points"),
                                format!("评分须在 0 至本项满分 {max} 分之间"),
                            ))
                        }
                    })?;
                let mut events = Vec::new();
                let mut changes = Vec::new();
                match kind {
                    ClaimKind::Appeal if decided.state == ClaimState::Adjusted => {
                        store::record_finding(
                            connection,
                            &Finding {
                                scheme: decided.scheme.clone(),
                                period: decided.period.clone(),
                                unit: decided.unit.clone(),
                                criterion: decided.criterion.clone(),
                                kind: "adjusted".to_owned(),
                                score: decided.decided_score,
                                justification: justification.clone(),
                                decided_by: context.caller.subject.clone(),
                                source: name.to_owned(),
                            },
                        )
                        .await?;
                    }
                    ClaimKind::SelfAssessment if !decided.problems_found.is_empty() => {
                        let item = Item::open(
                            ItemSource::SelfInspection,
                            (decided.owner_unit.clone(), decided.unit.clone()),
                            (
                                None,
                                decided.criterion.clone(),
                                decided.problems_found.clone(),
                            ),
                            scheme.rectification,
                            (context.clock.today(), now),
                        );
                        store::insert_items(connection, std::slice::from_ref(&item)).await?;
                        changes.push(Change::of(item.id.name(), None::<&Item>, Some(&item))?);
                        events.push(NewEvent {
                            event_type: "rectification.opened",
                            resource: item.id.name(),
                            payload: fazhi_platform::mutation::to_json(&item)?,
                        });
                        decided.item = Some(item.id);
                    }
                    _ => {}
                }
                let saved = store::save_claim(connection, &decided).await?;
                let mut outcome = entry_outcome(
                    name,
                    match kind {
                        ClaimKind::Appeal => "appeal.decided",
                        ClaimKind::SelfAssessment => "self_assessment.reviewed",
                    },
                    Some(&current),
                    saved,
                )?;
                outcome.changes.extend(changes);
                outcome.events.extend(events);
                Ok(outcome)
            },
        )
        .await
    }

    /// An appeal or a self-assessment, to its unit and to the office.
    pub async fn get_claim(&self, context: &CallContext, name: &str) -> Result<Claim> {
        let claim = self.store.get_claim(name).await?;
        if self
            .require_reader(context, &claim.owner_unit)
            .await
            .is_err()
        {
            self.require_work_for(context, &claim.unit).await?;
        }
        Ok(claim)
    }

    /// Claims of a round (appeals) or a scheme (self-assessments): all of them to the
    /// office's coordinators and viewers, a unit's own (`filter.unit`) to its staff.
    pub async fn list_claims(
        &self,
        context: &CallContext,
        filter: &ClaimFilter,
        (after, size): (Option<(chrono::DateTime<chrono::Utc>, String)>, i64),
    ) -> Result<Page<Claim, (chrono::DateTime<chrono::Utc>, String)>> {
        let owner = match (&filter.round, &filter.scheme) {
            (Some(round), _) => self.store.get_round(round).await?.owner_unit,
            (None, Some(scheme)) => self.store.get_scheme(scheme).await?.scheme.owner_unit,
            (None, None) => return Err(PlatformError::PermissionDenied.into()),
        };
        if self.require_reader(context, &owner).await.is_err() {
            match &filter.unit {
                Some(unit) => self.require_work_for(context, unit).await?,
                None => return Err(PlatformError::PermissionDenied.into()),
            }
        }
        self.store.list_claims(filter, after, size).await
    }

    /// Records that a unit's report for a criterion was found untrue (C8, 报送不实): the next
    /// run zeroes the criterion. Coordinators of the owner; the criterion must have a
    /// `falsification` rule.
    pub async fn record_falsification(
        &self,
        context: &CallContext,
        finding: Finding,
    ) -> Result<Finding> {
        let name = format!(
            "{}/falsifications/{}/{}",
            finding.scheme.name(),
            finding.unit,
            finding.criterion
        );
        self.mutate(
            context,
            &name,
            async || {
                let stored = self.store.get_scheme(&finding.scheme).await?;
                self.require_coordinator(context, &stored.scheme.owner_unit)
                    .await?;
                let mut violations = Vec::new();
                match stored.scheme.criterion_terms(&finding.criterion) {
                    None => violations.push(not_found(&finding.criterion)),
                    Some(terms) if !terms.falsifiable => violations.push(FieldViolation::new(
                        "criterion",
                        "NOT_FALSIFIABLE",
                        "the criterion has no falsification rule",
                        "该指标未设报送不实扣分规则",
                    )),
                    Some(_) => {}
                }
                check_text("justification", &finding.justification, &mut violations);
                if finding.period.trim().is_empty() {
                    violations.push(FieldViolation::required("period"));
                }
                AssessmentError::refuse_any(violations)?;
                Ok(Finding {
                    kind: "falsified".to_owned(),
                    score: None,
                    decided_by: context.caller.subject.clone(),
                    source: name.clone(),
                    ..finding.clone()
                })
            },
            async |connection, recorded: Finding| {
                store::record_finding(connection, &recorded).await?;
                entry_outcome(&name, "falsification.recorded", None::<&Finding>, recorded)
            },
        )
        .await
    }
}
