//! Targets (目标值) and what their evaluation says: the indicator's value for a unit or a region
//! and a period, compared as the target's kind says, with every figure named.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalogue::{Direction, Indicator, IndicatorId};
use super::formula::{Formula, Outcome, Reference};
use super::period::Period;

fazhi_platform::resource_id!(
    /// A target, `targets/{target}`.
    TargetId,
    "targets",
    "t"
);

fazhi_platform::string_enum!(
    /// How a value compares with a threshold.
    Comparator {
        GreaterOrEqual = "greater_or_equal",
        Greater = "greater",
        LessOrEqual = "less_or_equal",
        Less = "less",
        Equal = "equal",
    }
);

fazhi_platform::string_enum!(
    /// What a relative target compares each unit with, over the units the target applies to.
    RelativeBasis {
        /// Their aggregate, as the region's own figure (本地区汇总: a ratio of sums).
        Region = "region",
        /// The mean of their own values (同类单位平均), each unit with a value counted once.
        PeerAverage = "peer_average",
    }
);

fazhi_platform::string_enum!(
    /// Whether a target holds.
    TargetStatus {
        Met = "met",
        NotMet = "not_met",
        NoData = "no_data",
        NotApplicable = "not_applicable",
    }
);

/// The payload of a `target.status_changed` event: a unit's verdict for a period that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub target: TargetId,
    pub unit: String,
    pub period: String,
    pub status: TargetStatus,
    /// `None` for a first verdict.
    pub previous_status: Option<TargetStatus>,
}

/// Most parts of a composite target.
pub const MAX_PARTS: usize = 20;

/// What a target compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Against a fixed value.
    Absolute { comparator: Comparator, value: f64 },
    /// Against another element's value for the same period: a central reference series
    /// (全省平均败诉率), or the value each unit declares for itself (unit-declared: 计划数).
    Reference {
        comparator: Comparator,
        reference_code: String,
    },
    /// Better than the previous period by the indicator's direction.
    Trend,
    /// Against the units it applies to: their aggregate (低于全市平均) or their average.
    Relative {
        comparator: Comparator,
        basis: RelativeBasis,
    },
    /// A threshold per category option, each against the indicator read for that option.
    Quota {
        comparator: Comparator,
        thresholds: std::collections::BTreeMap<String, f64>,
    },
    /// Every part holds (双下降).
    AllOf(Vec<TargetId>),
    /// At least one part holds.
    AnyOf(Vec<TargetId>),
}

/// What must be achieved, by whom and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: TargetId,
    pub display_name: String,
    /// `None` for a composite target.
    pub indicator: Option<IndicatorId>,
    pub owner_unit: String,
    /// A unit group (`unitGroups/…`) expanded relative to the owner unit; `None`: every unit
    /// at or below the owner unit.
    pub applies_to_group: Option<String>,
    pub first_period: Option<String>,
    pub last_period: Option<String>,
    pub kind: TargetKind,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    /// Soft-deleted (AIP-164): out of lists and evaluation, still readable.
    pub delete_time: Option<DateTime<Utc>>,
}

/// What an update changes in a target; `None`: kept. Its indicator and owner unit are fixed: a
/// different one is a different target.
#[derive(Debug, Clone, Default)]
pub struct TargetChanges {
    pub display_name: Option<String>,
    pub applies_to_group: Option<Option<String>>,
    pub first_period: Option<Option<String>>,
    pub last_period: Option<Option<String>>,
    pub kind: Option<TargetKind>,
}

impl Target {
    /// This target with `changes` made.
    pub fn changed(&self, changes: TargetChanges) -> Self {
        let current = self.clone();
        Self {
            display_name: changes.display_name.unwrap_or(current.display_name),
            applies_to_group: changes.applies_to_group.unwrap_or(current.applies_to_group),
            first_period: changes.first_period.unwrap_or(current.first_period),
            last_period: changes.last_period.unwrap_or(current.last_period),
            kind: changes.kind.unwrap_or(current.kind),
            ..current
        }
    }

    /// Whether `period` falls inside the target's first and last periods.
    pub fn in_force(&self, period: &Period) -> bool {
        let starts = |id: &Option<String>| id.as_deref().and_then(|id| Period::parse(id).ok());
        starts(&self.first_period).is_none_or(|first| first.start <= period.start)
            && starts(&self.last_period).is_none_or(|last| period.end <= last.end)
    }
}

/// A message in Chinese and English.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    pub zh: String,
    pub en: String,
}

impl Explanation {
    fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// One figure read: an element over the units and periods counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Shared with the parsed formula it came from: a figure costs no copy of its names.
    pub reference: std::sync::Arc<Reference>,
    pub period: Period,
    pub value: Option<f64>,
    pub value_count: usize,
    pub unit_count: usize,
    pub states: super::value::StateSet,
}

/// An indicator's value for a period, with the figures it was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorValue {
    pub period: Period,
    pub value: Option<f64>,
    pub figures: Vec<Figure>,
    /// No value because a denominator was zero (the figures were there).
    pub undefined: bool,
    /// Why there is no value, when there is none.
    pub explanation: Explanation,
}

/// A number as people write it: at most two decimals, no trailing zeros.
pub fn format_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Computes an indicator from the figures read for it (`figures`: one per reference of the
/// formula, the previous period's included).
pub fn indicator_value(
    indicator: &Indicator,
    formula: &Formula,
    period: &Period,
    figures: Vec<Figure>,
) -> IndicatorValue {
    let outcome = formula.evaluate(&|reference| {
        figures
            .iter()
            .find(|figure| figure.reference.as_ref() == reference)
            .and_then(|figure| figure.value)
    });
    valued(indicator, period, &outcome, figures)
}

/// An indicator's value alone, each figure's value answered by `figure` (a batch that sends no
/// explanation keeps no record of the figures).
pub fn indicator_value_of(
    indicator: &Indicator,
    formula: &Formula,
    period: &Period,
    figure: &impl Fn(&Reference) -> Option<f64>,
) -> IndicatorValue {
    valued(indicator, period, &formula.evaluate(figure), Vec::new())
}

fn valued(
    indicator: &Indicator,
    period: &Period,
    outcome: &Outcome,
    figures: Vec<Figure>,
) -> IndicatorValue {
    let (value, explanation) = match outcome {
        Outcome::Value(value) => (Some(value * indicator.factor), Explanation::default()),
        Outcome::Undefined => (
            None,
            Explanation::new(
                format!("{} 的分母为 0,无法计算", indicator.display_name),
                format!("{} has a zero denominator", indicator.code),
            ),
        ),
        Outcome::Missing(missing) => {
            let names: Vec<String> = missing
                .iter()
                .map(|reference| {
                    let option = reference
                        .option
                        .as_ref()
                        .map(|option| format!("[{option}]"))
                        .unwrap_or_default();
                    let when = if reference.periods_back > 0 {
                        "(上期)"
                    } else {
                        ""
                    };
                    format!("{}{option}{when}", reference.code)
                })
                .collect();
            (
                None,
                Explanation::new(
                    format!("缺少数据:{}", names.join("、")),
                    format!("no data for {}", names.join(", ")),
                ),
            )
        }
    };
    IndicatorValue {
        period: *period,
        undefined: matches!(outcome, Outcome::Undefined),
        value,
        figures,
        explanation,
    }
}

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        let tolerance = 1e-9 * threshold.abs().max(1.0);
        match self {
            Self::GreaterOrEqual => value >= threshold - tolerance,
            Self::Greater => value > threshold + tolerance,
            Self::LessOrEqual => value <= threshold + tolerance,
            Self::Less => value < threshold - tolerance,
            Self::Equal => (value - threshold).abs() <= tolerance,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::GreaterOrEqual => "≥",
            Self::Greater => ">",
            Self::LessOrEqual => "≤",
            Self::Less => "<",
            Self::Equal => "=",
        }
    }
}

/// What a relative target compares with: the basis's value over the units the target applies
/// to, and how many of them had one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    pub value: Option<f64>,
    pub unit_count: usize,
}

/// A target's status and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: TargetStatus,
    pub value: Option<f64>,
    pub explanation: Explanation,
}

fn verdict_word(met: bool) -> (TargetStatus, &'static str, &'static str) {
    if met {
        (TargetStatus::Met, "达标", "met")
    } else {
        (TargetStatus::NotMet, "未达标", "not met")
    }
}

/// A target that does not apply, and why.
pub fn not_applicable(zh: impl Into<String>, en: impl Into<String>) -> Verdict {
    Verdict {
        status: TargetStatus::NotApplicable,
        value: None,
        explanation: Explanation::new(zh, en),
    }
}

/// Judges a single-indicator target: `current` is this period's value, `previous` the period
/// before's (trend targets), `reference` the reference series' figure (reference targets).
pub fn judge(
    target: &Target,
    indicator: &Indicator,
    current: &IndicatorValue,
    previous: Option<&IndicatorValue>,
    reference: Option<&Figure>,
    basis: Option<&Basis>,
    detailed: bool,
) -> Verdict {
    let unit = &indicator.unit_of_measure;
    if let Some(verdict) = without_value(current) {
        return verdict;
    }
    let value = current.value.unwrap_or_default();
    let name = &indicator.display_name;
    let shown = || format!("{}{unit}", format_number(value));
    let explained = |zh: String, en: String| {
        if detailed {
            Explanation::new(zh, en)
        } else {
            Explanation::default()
        }
    };
    // Nothing to compare with: the unit's value stands, the verdict waits.
    let no_data = |zh: String, en: String| Verdict {
        status: TargetStatus::NoData,
        value: Some(value),
        explanation: explained(zh, en),
    };
    // The value against a threshold the target names (`wanted`, in Chinese and English).
    let against = |met: bool, wanted_zh: String, wanted_en: String| {
        let (status, zh, en) = verdict_word(met);
        Verdict {
            status,
            value: Some(value),
            explanation: explained(
                format!("{name} {},目标 {wanted_zh},{zh}", shown()),
                format!(
                    "{} is {}, target {wanted_en}: {en}",
                    indicator.code,
                    shown()
                ),
            ),
        }
    };
    match &target.kind {
        TargetKind::Absolute {
            comparator,
            value: threshold,
        } => compare(indicator, value, (*comparator, *threshold), detailed),
        TargetKind::Reference {
            comparator,
            reference_code,
        } => {
            let Some(threshold) = reference.and_then(|figure| figure.value) else {
                return no_data(
                    format!("缺少参照值 {reference_code}({})", current.period),
                    format!("no reference value {reference_code} for {}", current.period),
                );
            };
            let wanted = format!(
                "{} {reference_code} {}{unit}",
                comparator.symbol(),
                format_number(threshold)
            );
            against(comparator.holds(value, threshold), wanted.clone(), wanted)
        }
        TargetKind::Trend => {
            let Some(before) =
                previous.and_then(|previous| previous.value.map(|value| (previous, value)))
            else {
                let period =
                    previous.map_or_else(|| "?".to_owned(), |previous| previous.period.id());
                return no_data(
                    format!("缺少上期({period})数据,无法比较"),
                    format!("no value for the previous period {period} to compare with"),
                );
            };
            let (previous, before_value) = before;
            let (better, word_zh, word_en) = match indicator.direction {
                Direction::HigherIsBetter => (value > before_value, "上升", "rise"),
                Direction::LowerIsBetter => (value < before_value, "下降", "fall"),
            };
            let (status, zh, en) = verdict_word(better);
            Verdict {
                status,
                value: Some(value),
                explanation: explained(
                    format!(
                        "{name} {},上期({}){}{unit},目标{word_zh},{zh}",
                        shown(),
                        previous.period,
                        format_number(before_value)
                    ),
                    format!(
                        "{} is {} against {}{unit} in {}, target: {word_en}: {en}",
                        indicator.code,
                        shown(),
                        format_number(before_value),
                        previous.period
                    ),
                ),
            }
        }
        TargetKind::Relative {
            comparator,
            basis: kind,
        } => {
            let (zh_basis, en_basis) = match kind {
                RelativeBasis::Region => {
                    ("适用单位汇总", "the aggregate of the units it applies to")
                }
                RelativeBasis::PeerAverage => ("同类单位平均", "the average of its peers"),
            };
            let Some((threshold, peers)) =
                basis.and_then(|basis| basis.value.map(|value| (value, basis.unit_count)))
            else {
                return no_data(
                    format!("缺少{zh_basis}({}),无法比较", current.period),
                    format!("no value of {en_basis} for {}", current.period),
                );
            };
            let wanted = format!("{} {}{unit}", comparator.symbol(), format_number(threshold));
            against(
                comparator.holds(value, threshold),
                format!("{wanted}({zh_basis},{peers} 个单位)"),
                format!("{wanted} ({en_basis}, {peers} units)"),
            )
        }
        TargetKind::AllOf(_) | TargetKind::AnyOf(_) | TargetKind::Quota { .. } => not_applicable(
            "组合或分类目标须逐项评价",
            "a composite or quota target is judged part by part",
        ),
    }
}

/// Judges a value against a fixed threshold (an absolute target, or one option of a quota).
pub fn compare(
    indicator: &Indicator,
    value: f64,
    (comparator, threshold): (Comparator, f64),
    detailed: bool,
) -> Verdict {
    let (status, zh, en) = verdict_word(comparator.holds(value, threshold));
    let unit = &indicator.unit_of_measure;
    let shown = || format!("{}{unit}", format_number(value));
    let wanted = || format!("{} {}{unit}", comparator.symbol(), format_number(threshold));
    Verdict {
        status,
        value: Some(value),
        explanation: if detailed {
            Explanation::new(
                format!(
                    "{} {},目标 {},{zh}",
                    indicator.display_name,
                    shown(),
                    wanted()
                ),
                format!(
                    "{} is {}, target {}: {en}",
                    indicator.code,
                    shown(),
                    wanted()
                ),
            )
        } else {
            Explanation::default()
        },
    }
}

/// The verdict on an indicator value that has none: no data, or undefined (a zero denominator).
pub fn without_value(current: &IndicatorValue) -> Option<Verdict> {
    current.value.is_none().then(|| Verdict {
        status: if current.undefined {
            TargetStatus::NotApplicable
        } else {
            TargetStatus::NoData
        },
        value: None,
        explanation: current.explanation.clone(),
    })
}

/// Combines a composite target's parts: all of them must hold, or any one.
pub fn combine(all: bool, parts: &[TargetStatus], detailed: bool) -> Verdict {
    let has = |status| parts.contains(&status);
    let status = if all {
        if has(TargetStatus::NotMet) {
            TargetStatus::NotMet
        } else if has(TargetStatus::NoData) {
            TargetStatus::NoData
        } else if has(TargetStatus::Met) {
            TargetStatus::Met
        } else {
            TargetStatus::NotApplicable
        }
    } else if has(TargetStatus::Met) {
        TargetStatus::Met
    } else if has(TargetStatus::NoData) {
        TargetStatus::NoData
    } else if has(TargetStatus::NotMet) {
        TargetStatus::NotMet
    } else {
        TargetStatus::NotApplicable
    };
    let count = |wanted| parts.iter().filter(|&&status| status == wanted).count();
    let (met, total) = (count(TargetStatus::Met), parts.len());
    let (rule_zh, rule_en) = if all {
        ("须全部达标", "all must hold")
    } else {
        ("任一达标即可", "any one suffices")
    };
    Verdict {
        status,
        value: None,
        explanation: if detailed {
            Explanation::new(
                format!("{total} 项中 {met} 项达标({rule_zh})"),
                format!("{met} of {total} parts met ({rule_en})"),
            )
        } else {
            Explanation::default()
        },
    }
}

/// What a target names must exist and fit: its periods, its indicator, its reference series (a
/// central element), a quota's options (every element its indicator reads unfiltered has them),
/// a composite's parts. Fields are named under `prefix` (`target`, `targets[3]`).
pub fn check_target(
    target: &Target,
    catalogue: &super::catalogue::Catalogue,
    prefix: &str,
) -> Vec<fazhi_platform::error::FieldViolation> {
    use fazhi_platform::error::FieldViolation;
    let not_found = |field: String, name: String| {
        FieldViolation::new(
            field,
            "NOT_FOUND",
            format!("{name} does not exist"),
            format!("{name} 不存在"),
        )
    };
    let mut violations = Vec::new();
    if target.display_name.trim().is_empty() {
        violations.push(FieldViolation::required(format!("{prefix}.display_name")));
    }
    let mut read_period = |field: &str, text: &Option<String>| {
        let text = text.as_deref()?;
        Period::parse(text)
            .map_err(|_| {
                violations.push(FieldViolation::new(
                    format!("{prefix}.{field}"),
                    "INVALID_PERIOD",
                    format!("{field} must be a period id such as 2024, 2024H1, 2024Q3, 2024-03 or 2021-03-15~2026-03-14"),
                    format!("{field} 须为 2024、2024H1、2024Q3、2024-03 或 2021-03-15~2026-03-14 形式的统计周期"),
                ))
            })
            .ok()
    };
    let first = read_period("first_period", &target.first_period);
    let last = read_period("last_period", &target.last_period);
    if let (Some(first), Some(last)) = (first, last)
        && first.start > last.end
    {
        violations.push(FieldViolation::new(
            format!("{prefix}.last_period"),
            "BEFORE_FIRST_PERIOD",
            "last_period ends before first_period starts",
            "截止周期早于起始周期",
        ));
    }
    let indicator = match (&target.kind, &target.indicator) {
        (TargetKind::AllOf(parts) | TargetKind::AnyOf(parts), _) => {
            let field = format!(
                "{prefix}.{}.targets",
                if matches!(target.kind, TargetKind::AllOf(_)) {
                    "all_of"
                } else {
                    "any_of"
                }
            );
            if parts.is_empty() {
                violations.push(FieldViolation::required(field));
            } else if parts.len() > MAX_PARTS {
                violations.push(FieldViolation::too_many(field, MAX_PARTS));
            } else {
                for (index, part) in parts.iter().enumerate() {
                    if !catalogue.has_target(part) {
                        violations.push(not_found(format!("{field}[{index}]"), part.name()));
                    }
                }
            }
            return violations;
        }
        (_, None) => {
            violations.push(FieldViolation::required(format!("{prefix}.indicator")));
            return violations;
        }
        (_, Some(id)) => match catalogue.indicator(id) {
            Some(indicator) => indicator,
            None => {
                violations.push(not_found(format!("{prefix}.indicator"), id.name()));
                return violations;
            }
        },
    };
    let not_a_number = |field: String| {
        FieldViolation::new(
            field,
            "NOT_A_NUMBER",
            "the threshold must be a finite number",
            "目标值须为有限数",
        )
    };
    match &target.kind {
        TargetKind::Absolute { value, .. } if !value.is_finite() => {
            violations.push(not_a_number(format!("{prefix}.absolute.value")));
        }
        // A central element is a reference series (全省平均); any other, a value each unit
        // declares for itself (计划数), its actual compared with it.
        TargetKind::Reference { reference_code, .. }
            if catalogue.element(reference_code).is_none() =>
        {
            violations.push(FieldViolation::new(
                format!("{prefix}.reference.reference_code"),
                "UNKNOWN_DATA_ELEMENT",
                format!("no data element has the code {reference_code}"),
                format!("没有编码为 {reference_code} 的数据项"),
            ));
        }
        TargetKind::Quota { thresholds, .. } => {
            let field = format!("{prefix}.quota.thresholds");
            if thresholds.is_empty() {
                violations.push(FieldViolation::required(field));
            } else if thresholds.len() > MAX_PARTS {
                violations.push(FieldViolation::too_many(field, MAX_PARTS));
            } else {
                let unfiltered: Vec<String> = Formula::parse(&indicator.formula)
                    .map(|formula| {
                        formula
                            .references()
                            .into_iter()
                            .filter(|reference| reference.option.is_none())
                            .map(|reference| reference.code)
                            .collect()
                    })
                    .unwrap_or_default();
                for (option, threshold) in thresholds {
                    let lacking = unfiltered
                        .iter()
                        .filter_map(|code| catalogue.element(code))
                        .find(|element| !element.category_options.contains(option));
                    if let Some(element) = lacking {
                        violations.push(FieldViolation::new(
                            format!("{field}[{option}]"),
                            "UNKNOWN_CATEGORY_OPTION",
                            format!("{} has no category option {option}", element.code),
                            format!("数据项 {} 没有分类选项 {option}", element.code),
                        ));
                    }
                    if !threshold.is_finite() {
                        violations.push(not_a_number(format!("{field}[{option}]")));
                    }
                }
            }
        }
        _ => {}
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::IndicatorId;

    fn indicator(direction: Direction) -> Indicator {
        Indicator {
            id: IndicatorId::from_trusted("rate".into()),
            code: "出庭应诉率".into(),
            display_name: "行政机关负责人出庭应诉率".into(),
            formula: "出庭数 / 应出庭数".into(),
            factor: 100.0,
            unit_of_measure: "%".into(),
            direction,
            data_element_codes: vec!["出庭数".into(), "应出庭数".into()],
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            delete_time: None,
        }
    }

    fn target(kind: TargetKind) -> Target {
        Target {
            id: TargetId::from_trusted("t".into()),
            display_name: "出庭应诉率不低于50%".into(),
            indicator: Some(IndicatorId::from_trusted("rate".into())),
            owner_unit: "ningguo".into(),
            applies_to_group: None,
            first_period: Some("2024".into()),
            last_period: None,
            kind,
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            delete_time: None,
        }
    }

    fn figure(code: &str, periods_back: u32, value: Option<f64>) -> Figure {
        Figure {
            reference: std::sync::Arc::new(Reference {
                code: code.into(),
                option: None,
                periods_back,
            }),
            period: Period::parse("2024").expect("period"),
            value,
            value_count: usize::from(value.is_some()),
            unit_count: usize::from(value.is_some()),
            states: crate::domain::StateSet::of(&[crate::domain::ValueState::Approved]),
        }
    }

    fn rate(numerator: Option<f64>, denominator: f64) -> IndicatorValue {
        let indicator = indicator(Direction::HigherIsBetter);
        let formula = Formula::parse(&indicator.formula).expect("parses");
        indicator_value(
            &indicator,
            &formula,
            &Period::parse("2024").expect("period"),
            vec![
                figure("出庭数", 0, numerator),
                figure("应出庭数", 0, Some(denominator)),
            ],
        )
    }

    #[test]
    fn an_absolute_target_names_the_value_and_the_threshold() {
        let absolute = target(TargetKind::Absolute {
            comparator: Comparator::GreaterOrEqual,
            value: 50.0,
        });
        let indicator = indicator(Direction::HigherIsBetter);
        let met = judge(
            &absolute,
            &indicator,
            &rate(Some(6.0), 10.0),
            None,
            None,
            None,
            true,
        );
        assert_eq!(met.status, TargetStatus::Met);
        assert_eq!(
            met.explanation.zh,
            "行政机关负责人出庭应诉率 60%,目标 ≥ 50%,达标"
        );
        let missed = judge(
            &absolute,
            &indicator,
            &rate(Some(1.0), 3.0),
            None,
            None,
            None,
            true,
        );
        assert_eq!(missed.status, TargetStatus::NotMet);
        assert!(
            missed.explanation.zh.contains("33.33%"),
            "{}",
            missed.explanation.zh
        );
        let no_data = judge(
            &absolute,
            &indicator,
            &rate(None, 3.0),
            None,
            None,
            None,
            true,
        );
        assert_eq!(
            (no_data.status, no_data.explanation.zh.as_str()),
            (TargetStatus::NoData, "缺少数据:出庭数")
        );
        let undefined = judge(
            &absolute,
            &indicator,
            &rate(Some(0.0), 0.0),
            None,
            None,
            None,
            true,
        );
        assert_eq!(undefined.status, TargetStatus::NotApplicable);
    }

    #[test]
    fn trends_follow_the_direction_and_references_need_their_figure() {
        let lower = indicator(Direction::LowerIsBetter);
        let trend = target(TargetKind::Trend);
        let previous = IndicatorValue {
            period: Period::parse("2023").expect("period"),
            ..rate(Some(7.0), 10.0)
        };
        assert_eq!(
            judge(
                &trend,
                &lower,
                &rate(Some(6.0), 10.0),
                Some(&previous),
                None,
                None,
                true
            )
            .status,
            TargetStatus::Met
        );
        assert_eq!(
            judge(
                &trend,
                &lower,
                &rate(Some(7.0), 10.0),
                Some(&previous),
                None,
                None,
                true
            )
            .status,
            TargetStatus::NotMet
        );
        let none_before = IndicatorValue {
            period: Period::parse("2023").expect("period"),
            ..rate(None, 10.0)
        };
        assert_eq!(
            judge(
                &trend,
                &lower,
                &rate(Some(6.0), 10.0),
                Some(&none_before),
                None,
                None,
                true
            )
            .status,
            TargetStatus::NoData
        );
        let reference = target(TargetKind::Reference {
            comparator: Comparator::Less,
            reference_code: "全省平均".into(),
        });
        let average = figure("全省平均", 0, Some(65.0));
        assert_eq!(
            judge(
                &reference,
                &lower,
                &rate(Some(6.0), 10.0),
                None,
                Some(&average),
                None,
                true
            )
            .status,
            TargetStatus::Met
        );
        assert_eq!(
            judge(
                &reference,
                &lower,
                &rate(Some(6.0), 10.0),
                None,
                None,
                None,
                true
            )
            .status,
            TargetStatus::NoData
        );
    }

    #[test]
    fn composites_combine_their_parts() {
        use TargetStatus::*;
        assert_eq!(combine(true, &[Met, Met], true).status, Met);
        assert_eq!(combine(true, &[Met, NotMet], true).status, NotMet);
        assert_eq!(combine(true, &[Met, NoData], true).status, NoData);
        assert_eq!(combine(false, &[NotMet, Met], true).status, Met);
        assert_eq!(combine(false, &[NotMet, NoData], true).status, NoData);
        assert_eq!(combine(true, &[NotApplicable], true).status, NotApplicable);
        assert_eq!(
            combine(true, &[Met, NotMet], true).explanation.zh,
            "2 项中 1 项达标(须全部达标)"
        );
    }

    #[test]
    fn a_target_is_in_force_between_its_first_and_last_periods() {
        let absolute = target(TargetKind::Trend);
        assert!(absolute.in_force(&Period::parse("2024").expect("year")));
        assert!(absolute.in_force(&Period::parse("2025Q1").expect("quarter")));
        assert!(!absolute.in_force(&Period::parse("2023").expect("year")));
    }
}
