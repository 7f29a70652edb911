//! Proto ⇄ domain conversions for the indicators API, and the checks of request fields.

use fazhi_platform::aip;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::outbox::StoredEvent;
use fazhi_proto::indicators::v1 as pb;
use fazhi_units_client::UnitId;

use crate::domain::Evaluation as TargetEvaluation;
use crate::domain::{
    Aggregation, Comparator, DataElement, DataElementChanges, DataSet, DataSetChanges, DataSetId,
    DataValue, Direction, Figure, Indicator, IndicatorChanges, IndicatorValue, OverdueReturn,
    PeriodType, ProposalState, ProposedTarget, RelativeBasis, ReturnState, ReturnStatus,
    StatusChange, Target, TargetChanges, TargetId, TargetKind, TargetStatus, ValidationRule,
    ValueState, ValueType,
};
use crate::error::IndicatorsError;
use crate::ingest::{RowInput, RowOutcome, RowResult};
use crate::region::UnitEvaluation;
use crate::store::RevisionRow;

pub(super) fn invalid(violation: FieldViolation) -> tonic::Status {
    IndicatorsError::invalid_field(violation).into()
}

fn unspecified(field: &str) -> FieldViolation {
    FieldViolation::new(
        field,
        "REQUIRED",
        format!("{field} must be set to one of its values"),
        format!("{field} 须选择一个取值"),
    )
}

/// Maps a proto enum to the domain's, `UNSPECIFIED` (and unknown numbers) refused.
macro_rules! enum_pair {
    ($to_domain:ident, $to_proto:ident, $proto:ty, $domain:ty, [$(($p:ident, $d:ident)),+ $(,)?]) => {
        pub(super) fn $to_domain(field: &str, value: i32) -> Result<$domain, FieldViolation> {
            match <$proto>::try_from(value) {
                $(Ok(<$proto>::$p) => Ok(<$domain>::$d),)+
                _ => Err(unspecified(field)),
            }
        }

        pub(super) fn $to_proto(value: $domain) -> i32 {
            match value {
                $(<$domain>::$d => <$proto>::$p as i32,)+
            }
        }
    };
}

enum_pair!(
    value_type,
    value_type_to_proto,
    pb::ValueType,
    ValueType,
    [
        (Count, Count),
        (Decimal, Decimal),
        (Percentage, Percentage),
        (Hours, Hours),
        (WorkingDays, WorkingDays),
        (Boolean, Boolean),
        (Date, Date),
        (Text, Text),
    ]
);
enum_pair!(
    aggregation,
    aggregation_to_proto,
    pb::Aggregation,
    Aggregation,
    [
        (Sum, Sum),
        (Average, Average),
        (Max, Max),
        (Min, Min),
        (Last, Last),
        (Count, Count),
    ]
);
enum_pair!(
    period_type,
    period_type_to_proto,
    pb::PeriodType,
    PeriodType,
    [
        (Year, Year),
        (HalfYear, HalfYear),
        (Quarter, Quarter),
        (Month, Month),
        (Week, Week),
        (TwoYear, TwoYear),
        (Custom, Custom),
    ]
);
enum_pair!(
    direction,
    direction_to_proto,
    pb::Direction,
    Direction,
    [
        (HigherIsBetter, HigherIsBetter),
        (LowerIsBetter, LowerIsBetter),
    ]
);
enum_pair!(
    comparator,
    comparator_to_proto,
    pb::Comparator,
    Comparator,
    [
        (GreaterOrEqual, GreaterOrEqual),
        (Greater, Greater),
        (LessOrEqual, LessOrEqual),
        (Less, Less),
        (Equal, Equal),
    ]
);

enum_pair!(
    value_state,
    state_to_proto,
    pb::DataValueState,
    ValueState,
    [
        (Draft, Draft),
        (Submitted, Submitted),
        (Approved, Approved),
        (Returned, Returned),
    ]
);

fn status_to_proto(status: TargetStatus) -> i32 {
    (match status {
        TargetStatus::Met => pb::TargetStatus::Met,
        TargetStatus::NotMet => pb::TargetStatus::NotMet,
        TargetStatus::NoData => pb::TargetStatus::NoData,
        TargetStatus::NotApplicable => pb::TargetStatus::NotApplicable,
    }) as i32
}

/// Refuses the request when any of the conversions failed, naming every bad field.
fn all_valid(results: &[Option<&FieldViolation>]) -> Result<(), tonic::Status> {
    let violations: Vec<FieldViolation> = results
        .iter()
        .flatten()
        .map(|&violation| violation.clone())
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(IndicatorsError::invalid(violations).into())
    }
}

pub(super) fn element_from_proto(
    id: crate::domain::DataElementId,
    element: pb::DataElement,
) -> Result<DataElement, tonic::Status> {
    let over_units = aggregation("data_element.aggregation", element.aggregation);
    let over_periods = aggregation(
        "data_element.period_aggregation",
        element.period_aggregation,
    );
    let values = value_type("data_element.value_type", element.value_type);
    let periods = period_type("data_element.period_type", element.period_type);
    all_valid(&[
        values.as_ref().err(),
        over_units.as_ref().err(),
        over_periods.as_ref().err(),
        periods.as_ref().err(),
    ])?;
    Ok(DataElement {
        id,
        value_type: values.map_err(invalid)?,
        aggregation: over_units.map_err(invalid)?,
        period_aggregation: over_periods.map_err(invalid)?,
        period_type: periods.map_err(invalid)?,
        code: element.code,
        display_name: element.display_name,
        category: element.category,
        category_options: element.category_options,
        unit_of_measure: element.unit_of_measure,
        central: element.central,
        revision: 1,
        create_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        delete_time: None,
    })
}

pub(super) fn element_to_proto(element: DataElement) -> pb::DataElement {
    pb::DataElement {
        name: element.id.name(),
        code: element.code,
        display_name: element.display_name,
        value_type: value_type_to_proto(element.value_type),
        aggregation: aggregation_to_proto(element.aggregation),
        period_aggregation: aggregation_to_proto(element.period_aggregation),
        period_type: period_type_to_proto(element.period_type),
        category: element.category,
        category_options: element.category_options,
        unit_of_measure: element.unit_of_measure,
        central: element.central,
        etag: aip::etag(element.revision),
        create_time: Some(aip::timestamp(element.create_time)),
        delete_time: element.delete_time.map(aip::timestamp),
    }
}

pub(super) fn indicator_from_proto(
    id: crate::domain::IndicatorId,
    indicator: pb::Indicator,
) -> Result<Indicator, tonic::Status> {
    Ok(Indicator {
        id,
        direction: direction("indicator.direction", indicator.direction).map_err(invalid)?,
        code: indicator.code,
        display_name: indicator.display_name,
        formula: indicator.formula,
        factor: if indicator.factor == 0.0 {
            1.0
        } else {
            indicator.factor
        },
        unit_of_measure: indicator.unit_of_measure,
        data_element_codes: Vec::new(),
        revision: 1,
        create_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        delete_time: None,
    })
}

pub(super) fn indicator_to_proto(indicator: Indicator) -> pb::Indicator {
    pb::Indicator {
        name: indicator.id.name(),
        code: indicator.code,
        display_name: indicator.display_name,
        formula: indicator.formula,
        factor: indicator.factor,
        unit_of_measure: indicator.unit_of_measure,
        direction: direction_to_proto(indicator.direction),
        data_element_codes: indicator.data_element_codes,
        etag: aip::etag(indicator.revision),
        create_time: Some(aip::timestamp(indicator.create_time)),
        delete_time: indicator.delete_time.map(aip::timestamp),
    }
}

fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn target_kind(
    prefix: &str,
    kind: Option<pb::target::Kind>,
) -> Result<TargetKind, Vec<FieldViolation>> {
    let parts = |field: &str, names: Vec<String>| -> Result<Vec<TargetId>, Vec<FieldViolation>> {
        let (ids, violations): (Vec<_>, Vec<_>) = names
            .iter()
            .enumerate()
            .map(|(index, name)| TargetId::from_name(&format!("{field}[{index}]"), name))
            .partition(Result::is_ok);
        if violations.is_empty() {
            Ok(ids.into_iter().flatten().collect())
        } else {
            Err(violations.into_iter().filter_map(Result::err).collect())
        }
    };
    Ok(match kind {
        Some(pb::target::Kind::Absolute(absolute)) => TargetKind::Absolute {
            comparator: comparator(
                &format!("{prefix}.absolute.comparator"),
                absolute.comparator,
            )
            .map_err(|violation| vec![violation])?,
            value: absolute.value,
        },
        Some(pb::target::Kind::Reference(reference)) => TargetKind::Reference {
            comparator: comparator(
                &format!("{prefix}.reference.comparator"),
                reference.comparator,
            )
            .map_err(|violation| vec![violation])?,
            reference_code: reference.reference_code,
        },
        Some(pb::target::Kind::Trend(_)) => TargetKind::Trend,
        Some(pb::target::Kind::Relative(relative)) => {
            let comparator = comparator(
                &format!("{prefix}.relative.comparator"),
                relative.comparator,
            );
            let basis = relative_basis(&format!("{prefix}.relative.basis"), relative.basis);
            match (comparator, basis) {
                (Ok(comparator), Ok(basis)) => TargetKind::Relative { comparator, basis },
                (comparator, basis) => {
                    return Err([comparator.err(), basis.err()]
                        .into_iter()
                        .flatten()
                        .collect());
                }
            }
        }
        Some(pb::target::Kind::Quota(quota)) => TargetKind::Quota {
            comparator: comparator(&format!("{prefix}.quota.comparator"), quota.comparator)
                .map_err(|violation| vec![violation])?,
            thresholds: quota.thresholds.into_iter().collect(),
        },
        Some(pb::target::Kind::AllOf(all)) => {
            TargetKind::AllOf(parts(&format!("{prefix}.all_of.targets"), all.targets)?)
        }
        Some(pb::target::Kind::AnyOf(any)) => {
            TargetKind::AnyOf(parts(&format!("{prefix}.any_of.targets"), any.targets)?)
        }
        None => return Err(vec![FieldViolation::required(format!("{prefix}.kind"))]),
    })
}

pub(super) fn target_from_proto(id: TargetId, target: pb::Target) -> Result<Target, tonic::Status> {
    target_from_proto_at("target", id, target)
}

/// The targets an accepted proposal becomes instead of the suggested ones: their owner is the
/// proposal's, whatever they say.
pub(super) fn targets_instead(targets: Vec<pb::Target>) -> Result<Vec<Target>, tonic::Status> {
    targets
        .into_iter()
        .enumerate()
        .map(|(index, target)| {
            target_from_proto_at(
                &format!("targets[{index}]"),
                TargetId::generate(),
                pb::Target {
                    owner_unit: "units/proposal-owner".to_owned(),
                    ..target
                },
            )
        })
        .collect()
}

/// A target as the request's field `prefix` gives it.
pub(super) fn target_from_proto_at(
    prefix: &str,
    id: TargetId,
    target: pb::Target,
) -> Result<Target, tonic::Status> {
    let mut violations = Vec::new();
    let owner = UnitId::from_required_name(&format!("{prefix}.owner_unit"), &target.owner_unit)
        .map_err(|violation| violations.push(violation))
        .ok();
    let indicator = match target.indicator.as_str() {
        "" => None,
        name => crate::domain::IndicatorId::from_name(&format!("{prefix}.indicator"), name)
            .map_err(|violation| violations.push(violation))
            .ok(),
    };
    let group = group_of(
        &format!("{prefix}.applies_to_group"),
        target.applies_to_group,
    )
    .map_err(|violation| violations.push(violation))
    .ok()
    .flatten();
    let kind = target_kind(prefix, target.kind)
        .map_err(|found| violations.extend(found))
        .ok();
    let (Some(owner), Some(kind), true) = (owner, kind, violations.is_empty()) else {
        return Err(IndicatorsError::invalid(violations).into());
    };
    Ok(Target {
        id,
        display_name: target.display_name,
        indicator,
        owner_unit: owner.as_str().to_owned(),
        applies_to_group: group,
        first_period: optional(target.first_period),
        last_period: optional(target.last_period),
        kind,
        revision: 1,
        create_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        delete_time: None,
    })
}

pub(super) fn target_to_proto(target: Target) -> pb::Target {
    let composite = |parts: Vec<TargetId>| pb::CompositeTarget {
        targets: parts.iter().map(TargetId::name).collect(),
    };
    pb::Target {
        name: target.id.name(),
        display_name: target.display_name,
        indicator: target
            .indicator
            .map(|indicator| indicator.name())
            .unwrap_or_default(),
        owner_unit: format!("units/{}", target.owner_unit),
        applies_to_group: target.applies_to_group.unwrap_or_default(),
        first_period: target.first_period.unwrap_or_default(),
        last_period: target.last_period.unwrap_or_default(),
        kind: Some(match target.kind {
            TargetKind::Absolute { comparator, value } => {
                pb::target::Kind::Absolute(pb::AbsoluteTarget {
                    comparator: comparator_to_proto(comparator),
                    value,
                })
            }
            TargetKind::Reference {
                comparator,
                reference_code,
            } => pb::target::Kind::Reference(pb::ReferenceTarget {
                comparator: comparator_to_proto(comparator),
                reference_code,
            }),
            TargetKind::Trend => pb::target::Kind::Trend(pb::TrendTarget {}),
            TargetKind::Relative { comparator, basis } => {
                pb::target::Kind::Relative(pb::RelativeTarget {
                    comparator: comparator_to_proto(comparator),
                    basis: relative_basis_to_proto(basis),
                })
            }
            TargetKind::Quota {
                comparator,
                thresholds,
            } => pb::target::Kind::Quota(pb::QuotaTarget {
                comparator: comparator_to_proto(comparator),
                thresholds: thresholds.into_iter().collect(),
            }),
            TargetKind::AllOf(parts) => pb::target::Kind::AllOf(composite(parts)),
            TargetKind::AnyOf(parts) => pb::target::Kind::AnyOf(composite(parts)),
        }),
        etag: aip::etag(target.revision),
        create_time: Some(aip::timestamp(target.create_time)),
        delete_time: target.delete_time.map(aip::timestamp),
    }
}

pub(super) fn value_to_proto(value: DataValue) -> pb::DataValue {
    pb::DataValue {
        name: value.id.name(),
        data_element: value.data_element.name(),
        unit: value
            .unit
            .map(|unit| format!("units/{unit}"))
            .unwrap_or_default(),
        period: value.period,
        category_option: value.category_option,
        value: value.value,
        text: value.text.unwrap_or_default(),
        comment: value.comment,
        evidence: value
            .evidence
            .into_iter()
            .map(|link| pb::EvidenceLink {
                uri: link.uri,
                title: link.title,
            })
            .collect(),
        state: state_to_proto(value.state),
        reason: value.reason,
        update_subject: value.update_subject,
        etag: aip::etag(value.revision),
        update_time: Some(aip::timestamp(value.update_time)),
    }
}

pub(super) fn revision_to_proto(row: RevisionRow) -> pb::DataValueRevision {
    pb::DataValueRevision {
        revision: row.revision,
        state: ValueState::parse(&row.state).map_or(0, state_to_proto),
        action: row.action,
        old_value: row.old_value,
        value: row.value,
        old_text: row.old_text,
        text: row.text.unwrap_or_default(),
        reason: row.reason,
        subject: row.subject,
        time: Some(aip::timestamp(row.time)),
    }
}

fn figure_to_proto(figure: Figure) -> pb::EvaluationInput {
    pb::EvaluationInput {
        data_element_code: figure.reference.code.clone(),
        category_option: figure.reference.option.clone().unwrap_or_default(),
        period: figure.period.id(),
        value_count: i32::try_from(figure.value_count).unwrap_or(i32::MAX),
        unit_count: i32::try_from(figure.unit_count).unwrap_or(i32::MAX),
        value: figure.value,
        states: figure
            .states
            .iter()
            .map(|state| state.as_str().to_owned())
            .collect(),
    }
}

pub(super) fn indicator_value_to_proto(
    indicator: &str,
    value: IndicatorValue,
) -> pb::IndicatorValue {
    pb::IndicatorValue {
        indicator: indicator.to_owned(),
        period: value.period.id(),
        value: value.value,
        inputs: value.figures.into_iter().map(figure_to_proto).collect(),
        explanation: value.explanation.zh,
        explanation_en: value.explanation.en,
    }
}

pub(super) fn evaluation_to_proto(
    evaluation: TargetEvaluation,
    unit: &str,
    period: &str,
    indicator: &str,
) -> pb::TargetEvaluation {
    pb::TargetEvaluation {
        target: evaluation.target.name(),
        category_option: evaluation.category_option.unwrap_or_default(),
        unit: unit.to_owned(),
        period: period.to_owned(),
        status: status_to_proto(evaluation.verdict.status),
        value: evaluation.verdict.value,
        explanation: evaluation.verdict.explanation.zh,
        explanation_en: evaluation.verdict.explanation.en,
        values: evaluation
            .values
            .into_iter()
            .map(|value| indicator_value_to_proto(indicator, value))
            .collect(),
        parts: evaluation
            .parts
            .into_iter()
            .map(|part| {
                // A quota's parts read the target's own indicator; a composite's parts their own.
                let part_indicator = if part.category_option.is_some() {
                    indicator
                } else {
                    ""
                };
                evaluation_to_proto(part, unit, period, part_indicator)
            })
            .collect(),
    }
}

pub(crate) fn event_to_proto(
    event: StoredEvent,
) -> Result<Option<pb::IndicatorsEvent>, IndicatorsError> {
    fn read<T: serde::de::DeserializeOwned>(
        sequence: i64,
        value: serde_json::Value,
    ) -> Result<T, IndicatorsError> {
        serde_json::from_value(value).map_err(|error| {
            PlatformError::Internal(format!("event {sequence} unreadable: {error}")).into()
        })
    }
    let sequence = event.sequence;
    let mut message = pb::IndicatorsEvent {
        sequence,
        occur_time: Some(aip::timestamp(event.occurred_at)),
        r#type: event.event_type.clone(),
        resource: event.resource,
        ..Default::default()
    };
    match event.event_type.as_str() {
        kind if kind.starts_with("data_value.") => {
            message.data_value = Some(value_to_proto(read(sequence, event.payload)?));
        }
        "return.overdue" => {
            let late: OverdueReturn = read(sequence, event.payload)?;
            message.overdue_return = Some(pb::OverdueReturn {
                data_set: late.data_set.name(),
                unit: format!("units/{}", late.unit),
                period: late.period,
                due_date: late.due_date.to_string(),
                state: return_state_to_proto(late.state),
                missing_data_element_codes: late.missing_data_element_codes,
            });
        }
        "target.status_changed" => {
            let change: StatusChange = read(sequence, event.payload)?;
            message.status_change = Some(pb::TargetStatusChange {
                target: change.target.name(),
                unit: format!("units/{}", change.unit),
                period: change.period,
                status: status_to_proto(change.status),
                previous_status: change.previous_status.map_or(0, status_to_proto),
            });
        }
        _ => {}
    }
    Ok(Some(message))
}

pub(super) fn ingest_row_from_proto(row: pb::IngestRow) -> RowInput {
    RowInput {
        external_id: row.external_id,
        data_element: row.data_element,
        unit: row.unit,
        period: row.period,
        category_option: row.category_option,
        value: row.value,
        text: row.text,
        comment: row.comment,
    }
}

pub(super) fn ingest_result_to_proto(result: RowResult) -> pb::IngestResult {
    let (outcome, data_value, violations) = match result.outcome {
        RowOutcome::Accepted(id) => (pb::IngestOutcome::Accepted, id.name(), Vec::new()),
        RowOutcome::Unchanged(id) => (pb::IngestOutcome::Unchanged, id.name(), Vec::new()),
        RowOutcome::Rejected(found) => (pb::IngestOutcome::Rejected, String::new(), found),
    };
    pb::IngestResult {
        index: result.index,
        external_id: result.external_id,
        outcome: outcome as i32,
        data_value,
        violations: violations
            .into_iter()
            .map(|violation| pb::RowViolation {
                field: violation.field,
                reason: violation.reason.to_owned(),
                description: violation.message.en,
                localized_description: violation.message.zh,
            })
            .collect(),
    }
}

pub(super) fn unit_evaluation_to_proto(
    found: &UnitEvaluation<'_>,
    full: bool,
) -> pb::UnitEvaluation {
    let verdict = &found.evaluation.verdict;
    pb::UnitEvaluation {
        unit: ["units/", found.unit].concat(),
        target: found.evaluation.target.name(),
        status: status_to_proto(verdict.status),
        value: verdict.value,
        explanation: if full {
            verdict.explanation.zh.clone()
        } else {
            String::new()
        },
        explanation_en: if full {
            verdict.explanation.en.clone()
        } else {
            String::new()
        },
    }
}

pub(super) fn data_set_from_proto(
    id: DataSetId,
    set: pb::DataSet,
) -> Result<DataSet, tonic::Status> {
    let mut violations = Vec::new();
    let owner = UnitId::from_required_name("data_set.owner_unit", &set.owner_unit)
        .map_err(|violation| violations.push(violation))
        .ok();
    let periods = period_type("data_set.period_type", set.period_type)
        .map_err(|violation| violations.push(violation))
        .ok();
    let group = group_of("data_set.reporting_group", set.reporting_group)
        .map_err(|violation| violations.push(violation))
        .ok()
        .flatten();
    let rules = rules_from_proto(set.validation_rules)
        .map_err(|found| violations.extend(found))
        .unwrap_or_default();
    let (Some(owner), Some(period_type), true) = (owner, periods, violations.is_empty()) else {
        return Err(IndicatorsError::invalid(violations).into());
    };
    Ok(DataSet {
        id,
        code: set.code,
        display_name: set.display_name,
        period_type,
        data_element_codes: set.data_element_codes,
        owner_unit: owner.as_str().to_owned(),
        reporting_group: group,
        due_days: set.due_days,
        validation_rules: rules,
        revision: 1,
        create_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        delete_time: None,
    })
}

pub(super) fn data_set_to_proto(set: DataSet) -> pb::DataSet {
    pb::DataSet {
        name: set.id.name(),
        code: set.code,
        display_name: set.display_name,
        period_type: period_type_to_proto(set.period_type),
        data_element_codes: set.data_element_codes,
        owner_unit: format!("units/{}", set.owner_unit),
        reporting_group: set.reporting_group.unwrap_or_default(),
        due_days: set.due_days,
        validation_rules: set
            .validation_rules
            .into_iter()
            .map(|rule| pb::ValidationRule {
                display_name: rule.display_name,
                left: rule.left,
                comparator: comparator_to_proto(rule.comparator),
                right: rule.right,
            })
            .collect(),
        etag: aip::etag(set.revision),
        create_time: Some(aip::timestamp(set.create_time)),
        delete_time: set.delete_time.map(aip::timestamp),
    }
}

fn return_state_to_proto(state: ReturnState) -> i32 {
    (match state {
        ReturnState::Missing => pb::ReturnState::Missing,
        ReturnState::Incomplete => pb::ReturnState::Incomplete,
        ReturnState::NotSubmitted => pb::ReturnState::NotSubmitted,
        ReturnState::Submitted => pb::ReturnState::Submitted,
        ReturnState::Approved => pb::ReturnState::Approved,
    }) as i32
}

pub(super) fn return_to_proto(found: ReturnStatus) -> pb::DataSetReturn {
    pb::DataSetReturn {
        unit: format!("units/{}", found.unit),
        state: return_state_to_proto(found.state),
        elements_reported: i32::try_from(found.elements_reported).unwrap_or(i32::MAX),
        missing_data_element_codes: found.missing_codes,
        submit_time: found.submit_time.map(aip::timestamp),
        late: found.late,
        overdue: found.overdue,
    }
}

/// A unit group's name (`unitGroups/{group}`), or `None` when empty.
fn group_of(field: &str, name: String) -> Result<Option<String>, FieldViolation> {
    if name.is_empty() {
        return Ok(None);
    }
    if !name.starts_with("unitGroups/") {
        return Err(FieldViolation::new(
            field,
            "INVALID_NAME",
            format!("{field} must look like unitGroups/{{group}}"),
            format!("{field} 须为 unitGroups/{{group}} 格式"),
        ));
    }
    Ok(Some(name))
}

fn rules_from_proto(
    rules: Vec<pb::ValidationRule>,
) -> Result<Vec<ValidationRule>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let rules = rules
        .into_iter()
        .enumerate()
        .filter_map(|(index, rule)| {
            comparator(
                &format!("data_set.validation_rules[{index}].comparator"),
                rule.comparator,
            )
            .map_err(|violation| violations.push(violation))
            .ok()
            .map(|comparator| ValidationRule {
                display_name: rule.display_name,
                left: rule.left,
                comparator,
                right: rule.right,
            })
        })
        .collect();
    if violations.is_empty() {
        Ok(rules)
    } else {
        Err(violations)
    }
}

const TARGET_KINDS: [&str; 6] = [
    "absolute",
    "reference",
    "trend",
    "quota",
    "all_of",
    "any_of",
];

/// What an UpdateTarget asks to change: the fields its mask names, taken from `target`.
pub(super) fn target_changes(
    target: pb::Target,
    mask: Option<&prost_types::FieldMask>,
) -> Result<TargetChanges, tonic::Status> {
    let allowed: Vec<&'static str> = [
        "display_name",
        "applies_to_group",
        "first_period",
        "last_period",
    ]
    .into_iter()
    .chain(TARGET_KINDS)
    .collect();
    let paths = aip::update_mask(mask, &allowed).map_err(invalid)?;
    let mut changes = TargetChanges::default();
    let mut violations = Vec::new();
    for path in paths {
        match path {
            "display_name" => changes.display_name = Some(target.display_name.clone()),
            "applies_to_group" => {
                match group_of("target.applies_to_group", target.applies_to_group.clone()) {
                    Ok(group) => changes.applies_to_group = Some(group),
                    Err(violation) => violations.push(violation),
                }
            }
            "first_period" => changes.first_period = Some(optional(target.first_period.clone())),
            "last_period" => changes.last_period = Some(optional(target.last_period.clone())),
            _ => match target_kind("target", target.kind.clone()) {
                Ok(kind) => changes.kind = Some(kind),
                Err(found) => violations.extend(found),
            },
        }
    }
    IndicatorsError::refuse_any(violations)?;
    Ok(changes)
}

/// What an UpdateDataElement asks to change: the fields its mask names, taken from `element`.
pub(super) fn element_changes(
    element: &pb::DataElement,
    mask: Option<&prost_types::FieldMask>,
) -> Result<DataElementChanges, tonic::Status> {
    let allowed = ["display_name", "unit_of_measure", "category_options"];
    let mut changes = DataElementChanges::default();
    for path in aip::update_mask(mask, &allowed).map_err(invalid)? {
        match path {
            "display_name" => changes.display_name = Some(element.display_name.clone()),
            "unit_of_measure" => changes.unit_of_measure = Some(element.unit_of_measure.clone()),
            _ => changes.category_options = Some(element.category_options.clone()),
        }
    }
    Ok(changes)
}

/// What an UpdateIndicator asks to change: the fields its mask names, taken from `indicator`.
pub(super) fn indicator_changes(
    indicator: &pb::Indicator,
    mask: Option<&prost_types::FieldMask>,
) -> Result<IndicatorChanges, tonic::Status> {
    let allowed = [
        "display_name",
        "formula",
        "factor",
        "unit_of_measure",
        "direction",
    ];
    let mut changes = IndicatorChanges::default();
    for path in aip::update_mask(mask, &allowed).map_err(invalid)? {
        match path {
            "display_name" => changes.display_name = Some(indicator.display_name.clone()),
            "formula" => changes.formula = Some(indicator.formula.clone()),
            "factor" => {
                changes.factor = Some(if indicator.factor == 0.0 {
                    1.0
                } else {
                    indicator.factor
                });
            }
            "unit_of_measure" => changes.unit_of_measure = Some(indicator.unit_of_measure.clone()),
            _ => {
                changes.direction =
                    Some(direction("indicator.direction", indicator.direction).map_err(invalid)?);
            }
        }
    }
    Ok(changes)
}

/// What an UpdateDataSet asks to change: the fields its mask names, taken from `set`.
pub(super) fn data_set_changes(
    set: pb::DataSet,
    mask: Option<&prost_types::FieldMask>,
) -> Result<DataSetChanges, tonic::Status> {
    let paths = aip::update_mask(
        mask,
        &[
            "display_name",
            "data_element_codes",
            "reporting_group",
            "due_days",
            "validation_rules",
        ],
    )
    .map_err(invalid)?;
    let mut changes = DataSetChanges::default();
    let mut violations = Vec::new();
    for path in paths {
        match path {
            "display_name" => changes.display_name = Some(set.display_name.clone()),
            "data_element_codes" => {
                changes.data_element_codes = Some(set.data_element_codes.clone())
            }
            "reporting_group" => {
                match group_of("data_set.reporting_group", set.reporting_group.clone()) {
                    Ok(group) => changes.reporting_group = Some(group),
                    Err(violation) => violations.push(violation),
                }
            }
            "due_days" => changes.due_days = Some(set.due_days),
            _ => match rules_from_proto(set.validation_rules.clone()) {
                Ok(rules) => changes.validation_rules = Some(rules),
                Err(found) => violations.extend(found),
            },
        }
    }
    IndicatorsError::refuse_any(violations)?;
    Ok(changes)
}

enum_pair!(
    relative_basis,
    relative_basis_to_proto,
    pb::RelativeBasis,
    RelativeBasis,
    [(Region, Region), (PeerAverage, PeerAverage)]
);

enum_pair!(
    proposal_state,
    proposal_state_to_proto,
    pb::ProposalState,
    ProposalState,
    [
        (Proposed, Proposed),
        (Accepted, Accepted),
        (Rejected, Rejected)
    ]
);

pub(super) fn proposal_to_proto(proposal: ProposedTarget) -> pb::ProposedTarget {
    let statement = proposal.statement;
    let owner_unit = proposal.owner_unit;
    pb::ProposedTarget {
        name: proposal.id.name(),
        plan: proposal.plan,
        task: proposal.task,
        task_number: proposal.task_number,
        task_title: proposal.task_title,
        text: statement.text,
        metric: statement.metric,
        comparator: statement.comparator,
        value: statement.value,
        quotas: statement.quotas.into_iter().collect(),
        unit_of_measure: statement.unit,
        context: statement.context,
        suggested_targets: proposal
            .suggested
            .into_iter()
            .map(|suggested| {
                target_to_proto(Target {
                    id: TargetId::from_trusted(String::new()),
                    display_name: suggested.display_name,
                    indicator: Some(suggested.indicator),
                    owner_unit: owner_unit.clone(),
                    applies_to_group: suggested.applies_to_group,
                    first_period: suggested.first_period,
                    last_period: None,
                    kind: suggested.kind,
                    revision: 0,
                    create_time: proposal.create_time,
                    delete_time: None,
                })
            })
            .map(|target| pb::Target {
                name: String::new(),
                etag: String::new(),
                create_time: None,
                ..target
            })
            .collect(),
        owner_unit: UnitId::from_trusted(owner_unit).name(),
        unmatched_reason: proposal.unmatched.unwrap_or_default(),
        state: proposal_state_to_proto(proposal.state),
        targets: proposal.targets.iter().map(TargetId::name).collect(),
        reject_reason: proposal.reason.unwrap_or_default(),
        etag: aip::etag(proposal.revision),
        create_time: Some(aip::timestamp(proposal.create_time)),
        update_time: Some(aip::timestamp(proposal.update_time)),
    }
}
