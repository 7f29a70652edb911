//! Domain ⇄ proto conversions.

use fazhi_platform::aip;
use fazhi_platform::error::FieldViolation;
use fazhi_proto::assessment::v1 as pb;

use crate::domain::{
    Claim, ClaimState, Criterion, Decision, Grade, Item, ItemSource, ItemState, Round, RoundKind,
    Scheme, ScoreChange, ScoredUnit, Standing, StoredScheme, SupervisionAction, SupervisionRecord,
    TraceLine, Warning, Worth,
};
use crate::error::AssessmentError;
use fazhi_platform::error::PlatformError;
use fazhi_platform::outbox::StoredEvent;

pub(super) fn invalid(violation: FieldViolation) -> tonic::Status {
    AssessmentError::invalid_field(violation).into()
}

pub(super) fn round_kind(kind: i32) -> Result<RoundKind, tonic::Status> {
    match pb::RoundKind::try_from(kind) {
        Ok(pb::RoundKind::Monthly) => Ok(RoundKind::Monthly),
        Ok(pb::RoundKind::Quarterly) => Ok(RoundKind::Quarterly),
        Ok(pb::RoundKind::Annual) => Ok(RoundKind::Annual),
        _ => Err(invalid(FieldViolation::new(
            "kind",
            "REQUIRED",
            "kind must be MONTHLY, QUARTERLY or ANNUAL",
            "kind 须为月评价、季通报或年度考核",
        ))),
    }
}

fn round_kind_to_proto(kind: RoundKind) -> i32 {
    let kind = match kind {
        RoundKind::Monthly => pb::RoundKind::Monthly,
        RoundKind::Quarterly => pb::RoundKind::Quarterly,
        RoundKind::Annual => pb::RoundKind::Annual,
    };
    kind as i32
}

fn grade_to_proto(grade: Option<Grade>) -> i32 {
    let grade = match grade {
        None => pb::Grade::Unspecified,
        Some(Grade::Excellent) => pb::Grade::Excellent,
        Some(Grade::Good) => pb::Grade::Good,
        Some(Grade::Pass) => pb::Grade::Pass,
        Some(Grade::Fail) => pb::Grade::Fail,
    };
    grade as i32
}

/// The tree flattened depth first, each node with its parent, level and full marks.
fn flatten(
    criteria: &[Criterion],
    (parent, parent_points, level, scorer_unit): (&str, f64, i32, Option<&str>),
    found: &mut Vec<pb::CriterionSummary>,
) {
    for criterion in criteria {
        let scorer_unit = criterion.scorer_unit.as_deref().or(scorer_unit);
        let max_points = match criterion.worth {
            Worth::Points(points) => points,
            Worth::Weight(share) => parent_points * share / 100.0,
        };
        found.push(pb::CriterionSummary {
            code: criterion.code.clone(),
            title: criterion.title.clone(),
            parent: parent.to_owned(),
            level,
            max_points,
            peer_groups: criterion.peer_groups.clone(),
            scorer: criterion.scorer.clone(),
            guidance: criterion.guidance.clone(),
            rule_count: i32::try_from(criterion.rules.len()).unwrap_or(i32::MAX),
            scorer_unit: scorer_unit
                .map(|unit| format!("units/{unit}"))
                .unwrap_or_default(),
        });
        flatten(
            &criterion.children,
            (&criterion.code, max_points, level + 1, scorer_unit),
            found,
        );
    }
}

pub(super) fn scheme_to_proto(stored: StoredScheme) -> pb::Scheme {
    let scheme: &Scheme = &stored.scheme;
    let mut criteria = Vec::new();
    flatten(&scheme.criteria, ("", 0.0, 1, None), &mut criteria);
    pb::Scheme {
        name: stored.id.name(),
        code: scheme.code.clone(),
        title: scheme.title.clone(),
        year: scheme.year,
        owner_unit: format!("units/{}", scheme.owner_unit),
        peer_groups: scheme
            .peer_groups
            .iter()
            .map(|group| pb::PeerGroup {
                code: group.code.clone(),
                title: group.title.clone(),
                unit_group: group.unit_group.clone(),
            })
            .collect(),
        criteria,
        content: scheme.to_yaml(),
        version: stored.version,
        etag: aip::etag(stored.version),
        create_time: Some(aip::timestamp(stored.create_time)),
        update_time: Some(aip::timestamp(stored.update_time)),
    }
}

pub(super) fn round_to_proto(round: Round) -> pb::Round {
    pb::Round {
        name: round.id.name(),
        scheme: round.scheme.name(),
        scheme_version: round.scheme_version,
        kind: round_kind_to_proto(round.kind),
        period: round.period,
        unit_count: round.unit_count,
        input_count: round.input_count,
        create_time: Some(aip::timestamp(round.create_time)),
        run_by: round.run_by,
        publish_time: round.publish_time.map(aip::timestamp),
        revision: round.revision,
        previous_round: round
            .previous_round
            .map(|previous| previous.name())
            .unwrap_or_default(),
        revised_by: round
            .revised_by
            .map(|later| later.name())
            .unwrap_or_default(),
        stale_reason: round
            .stale
            .as_ref()
            .map(|stale| stale.reason.clone())
            .unwrap_or_default(),
        stale_time: round.stale.map(|stale| aip::timestamp(stale.time)),
    }
}

fn standing_to_proto(standing: Standing) -> pb::Standing {
    pb::Standing {
        total: standing.total,
        grade: grade_to_proto(standing.grade),
        rank: i32::try_from(standing.rank).unwrap_or(i32::MAX),
    }
}

pub(super) fn change_to_proto(change: ScoreChange) -> pb::ScoreChange {
    pb::ScoreChange {
        unit: format!("units/{}", change.unit),
        unit_display_name: change.display_name,
        peer_group: change.peer_group,
        before: change.before.map(standing_to_proto),
        after: change.after.map(standing_to_proto),
        criteria: change
            .criteria
            .into_iter()
            .map(|criterion| pb::CriterionChange {
                code: criterion.code,
                before: criterion.before,
                after: criterion.after,
            })
            .collect(),
    }
}

pub(super) fn bulletin_to_proto(
    round: Round,
    scheme: &Scheme,
    bulletin: &crate::domain::Bulletin<'_>,
) -> pb::Bulletin {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let state_count = |state: ItemState| {
        count(
            bulletin
                .ledger
                .by_state
                .get(state.as_str())
                .copied()
                .unwrap_or_default(),
        )
    };
    pb::Bulletin {
        round: Some(round_to_proto(round)),
        scheme_title: scheme.title.clone(),
        groups: bulletin
            .groups
            .iter()
            .map(|group| pb::GroupRanking {
                code: group.code.clone(),
                title: group.title.clone(),
                scores: group
                    .units
                    .iter()
                    .map(|unit| pb::UnitScore {
                        criteria: Vec::new(),
                        ..score_to_proto(unit)
                    })
                    .collect(),
                grades: group
                    .grades
                    .iter()
                    .map(|(grade, n)| pb::GradeCount {
                        grade: grade_to_proto(Grade::parse(grade)),
                        count: count(*n),
                    })
                    .collect(),
            })
            .collect(),
        failed_targets: bulletin
            .failed_targets
            .iter()
            .map(|failed| pb::FailedTarget {
                target: failed.target.clone(),
                units: failed
                    .units
                    .iter()
                    .map(|unit| format!("units/{unit}"))
                    .collect(),
            })
            .collect(),
        vetoed: bulletin
            .vetoed
            .iter()
            .map(|(unit, criterion)| pb::VetoedUnit {
                unit: format!("units/{unit}"),
                criterion: criterion.clone(),
            })
            .collect(),
        ledger: Some(pb::LedgerSummary {
            open: state_count(ItemState::Open),
            in_progress: state_count(ItemState::InProgress),
            submitted: state_count(ItemState::Submitted),
            closed: state_count(ItemState::Closed),
            reopened: state_count(ItemState::Reopened),
            yellow: count(bulletin.ledger.yellow),
            red: count(bulletin.ledger.red),
        }),
        overdue_tasks: bulletin
            .overdue_tasks
            .iter()
            .map(|tasks| pb::OverdueTasks {
                unit: format!("units/{}", tasks.unit),
                plan: tasks.plan.clone(),
                overdue: i32::try_from(tasks.overdue).unwrap_or(i32::MAX),
            })
            .collect(),
        supervision: bulletin
            .supervision
            .iter()
            .cloned()
            .map(supervision_to_proto)
            .collect(),
    }
}

pub(super) fn item_state(state: i32) -> Result<Option<ItemState>, tonic::Status> {
    match pb::RectificationState::try_from(state) {
        Ok(pb::RectificationState::Unspecified) => Ok(None),
        Ok(pb::RectificationState::Open) => Ok(Some(ItemState::Open)),
        Ok(pb::RectificationState::InProgress) => Ok(Some(ItemState::InProgress)),
        Ok(pb::RectificationState::Submitted) => Ok(Some(ItemState::Submitted)),
        Ok(pb::RectificationState::Closed) => Ok(Some(ItemState::Closed)),
        Ok(pb::RectificationState::Reopened) => Ok(Some(ItemState::Reopened)),
        Err(_) => Err(invalid(FieldViolation::new(
            "state",
            "INVALID_STATE",
            "state must be a RectificationState",
            "state 须为整改事项状态之一",
        ))),
    }
}

/// An item as answered on `today` (its warning depends on the day).
pub(super) fn item_to_proto(item: Item, today: chrono::NaiveDate) -> pb::RectificationItem {
    let state = match item.state {
        ItemState::Open => pb::RectificationState::Open,
        ItemState::InProgress => pb::RectificationState::InProgress,
        ItemState::Submitted => pb::RectificationState::Submitted,
        ItemState::Closed => pb::RectificationState::Closed,
        ItemState::Reopened => pb::RectificationState::Reopened,
    };
    let source = match item.source {
        ItemSource::Round => pb::RectificationSource::Round,
        ItemSource::Supervision => pb::RectificationSource::Supervision,
        ItemSource::SelfInspection => pb::RectificationSource::SelfInspection,
    };
    let warning = match item.warning(today) {
        Warning::None => pb::RectificationWarning::None,
        Warning::Yellow => pb::RectificationWarning::Yellow,
        Warning::Red => pb::RectificationWarning::Red,
    };
    pb::RectificationItem {
        name: item.id.name(),
        owner_unit: format!("units/{}", item.owner_unit),
        unit: format!("units/{}", item.unit),
        source: source as i32,
        round: item.round.unwrap_or_default(),
        criterion: item.criterion,
        problem: item.problem,
        measures: item.measures,
        responsible_person: item.responsible_person,
        deadline: item.deadline.to_string(),
        state: state as i32,
        warning: warning as i32,
        reason: item.reason,
        evidence_uris: item.evidence,
        etag: aip::etag(item.revision),
        create_time: Some(aip::timestamp(item.create_time)),
        update_time: Some(aip::timestamp(item.update_time)),
    }
}

pub(super) fn score_to_proto(scored: &ScoredUnit) -> pb::UnitScore {
    let score = &scored.score;
    pb::UnitScore {
        unit: format!("units/{}", scored.unit),
        unit_display_name: scored.display_name.clone(),
        peer_group: score.peer_group.clone(),
        base: score.base,
        full: score.full,
        bonus: score.bonus,
        total: score.total,
        grade: grade_to_proto(score.grade),
        rank: i32::try_from(scored.rank).unwrap_or(i32::MAX),
        rank_shared: scored.rank_shared,
        vetoed_by: score
            .veto
            .as_ref()
            .map(|veto| veto.criterion.clone())
            .unwrap_or_default(),
        criteria: score
            .criteria
            .iter()
            .map(|criterion| pb::CriterionScore {
                code: criterion.code.clone(),
                max_points: criterion.max,
                score: criterion.score,
            })
            .collect(),
    }
}

pub(super) fn line_to_proto(line: &TraceLine) -> pb::TraceLine {
    pb::TraceLine {
        criterion: line.criterion.clone(),
        rule: line
            .rule
            .map_or(-1, |rule| i32::try_from(rule).unwrap_or(i32::MAX)),
        inputs: line
            .inputs
            .iter()
            .map(|(name, source)| pb::TraceInput {
                name: name.clone(),
                source: source.clone(),
            })
            .collect(),
        points: line.points,
        text: line.text.clone(),
    }
}

fn claim_state_to_proto(state: ClaimState) -> i32 {
    let state = match state {
        ClaimState::Pending => pb::ClaimState::Pending,
        ClaimState::Upheld => pb::ClaimState::Upheld,
        ClaimState::Adjusted => pb::ClaimState::Adjusted,
    };
    state as i32
}

/// The office's answer: DECISION_ADJUST takes `score`.
pub(super) fn decision(decision: i32, score: f64) -> Result<Decision, tonic::Status> {
    match pb::Decision::try_from(decision) {
        Ok(pb::Decision::Uphold) => Ok(Decision::Uphold),
        Ok(pb::Decision::Adjust) => Ok(Decision::Adjust(score)),
        _ => Err(invalid(FieldViolation::new(
            "decision",
            "REQUIRED",
            "decision must be DECISION_UPHOLD or DECISION_ADJUST",
            "decision 须为维持(DECISION_UPHOLD)或调整(DECISION_ADJUST)",
        ))),
    }
}

pub(super) fn appeal_to_proto(claim: Claim) -> pb::Appeal {
    pb::Appeal {
        name: claim.name,
        round: claim.round.map(|round| round.name()).unwrap_or_default(),
        unit: format!("units/{}", claim.unit),
        criterion: claim.criterion,
        score: claim.score,
        max_points: claim.max,
        reasons: claim.reasons,
        evidence_uris: claim.evidence,
        state: claim_state_to_proto(claim.state),
        decided_score: claim.decided_score,
        justification: claim.justification,
        decided_by: claim.decided_by,
        create_time: Some(aip::timestamp(claim.create_time)),
        decide_time: claim.decide_time.map(aip::timestamp),
        etag: aip::etag(claim.revision),
    }
}

pub(super) fn self_assessment_to_proto(claim: Claim) -> pb::SelfAssessment {
    pb::SelfAssessment {
        name: claim.name,
        scheme: claim.scheme.name(),
        period: claim.period,
        unit: format!("units/{}", claim.unit),
        criterion: claim.criterion,
        self_score: claim.score,
        max_points: claim.max,
        reasons: claim.reasons,
        evidence_uris: claim.evidence,
        problems_found: claim.problems_found,
        state: claim_state_to_proto(claim.state),
        decided_score: claim.decided_score,
        justification: claim.justification,
        decided_by: claim.decided_by,
        rectification_item: claim.item.map(|item| item.name()).unwrap_or_default(),
        create_time: Some(aip::timestamp(claim.create_time)),
        decide_time: claim.decide_time.map(aip::timestamp),
        etag: aip::etag(claim.revision),
    }
}

pub(super) fn supervision_action(action: i32) -> Result<SupervisionAction, tonic::Status> {
    match pb::SupervisionAction::try_from(action) {
        Ok(pb::SupervisionAction::Talk) => Ok(SupervisionAction::Talk),
        Ok(pb::SupervisionAction::Letter) => Ok(SupervisionAction::Letter),
        Ok(pb::SupervisionAction::Order) => Ok(SupervisionAction::Order),
        Ok(pb::SupervisionAction::Criticism) => Ok(SupervisionAction::Criticism),
        _ => Err(invalid(FieldViolation::new(
            "action",
            "REQUIRED",
            "action must be TALK, LETTER, ORDER or CRITICISM",
            "action 须为约谈、督察建议书、责令整改或通报批评",
        ))),
    }
}

pub(super) fn supervision_to_proto(record: SupervisionRecord) -> pb::SupervisionRecord {
    let action = match record.action {
        SupervisionAction::Talk => pb::SupervisionAction::Talk,
        SupervisionAction::Letter => pb::SupervisionAction::Letter,
        SupervisionAction::Order => pb::SupervisionAction::Order,
        SupervisionAction::Criticism => pb::SupervisionAction::Criticism,
    };
    pb::SupervisionRecord {
        name: record.id.name(),
        owner_unit: format!("units/{}", record.owner_unit),
        unit: format!("units/{}", record.unit),
        action: action as i32,
        round: record.round.unwrap_or_default(),
        items: record.items,
        cites: record.cites,
        finding: record.finding,
        demand: record.demand,
        opened_item: record
            .opened_item
            .map(|item| item.name())
            .unwrap_or_default(),
        recorded_by: record.recorded_by,
        create_time: Some(aip::timestamp(record.create_time)),
    }
}

/// An outbox event as the API shows it: the resource after the change, by its type.
pub(crate) fn event_to_proto(
    event: StoredEvent,
) -> Result<Option<pb::AssessmentEvent>, AssessmentError> {
    fn read<T: serde::de::DeserializeOwned>(
        sequence: i64,
        value: serde_json::Value,
    ) -> Result<T, AssessmentError> {
        serde_json::from_value(value).map_err(|error| {
            PlatformError::Internal(format!("event {sequence} unreadable: {error}")).into()
        })
    }
    let sequence = event.sequence;
    let mut message = pb::AssessmentEvent {
        sequence,
        occur_time: Some(aip::timestamp(event.occurred_at)),
        r#type: event.event_type.clone(),
        resource: event.resource,
        ..Default::default()
    };
    let (kind, _) = event
        .event_type
        .split_once('.')
        .unwrap_or((event.event_type.as_str(), ""));
    match kind {
        "scheme" => message.scheme = Some(scheme_to_proto(read(sequence, event.payload)?)),
        "round" | "bulletin" => {
            message.round = Some(round_to_proto(read(sequence, event.payload)?));
        }
        "rectification" => {
            let item: Item = read(sequence, event.payload)?;
            let today = event.occurred_at.date_naive();
            message.item = Some(item_to_proto(item, today));
        }
        "appeal" => message.appeal = Some(appeal_to_proto(read(sequence, event.payload)?)),
        "self_assessment" => {
            message.self_assessment =
                Some(self_assessment_to_proto(read(sequence, event.payload)?));
        }
        "supervision" => {
            message.supervision_record = Some(supervision_to_proto(read(sequence, event.payload)?));
        }
        _ => {}
    }
    Ok(Some(message))
}
