//! Scoring rules (评分细则 made executable): a condition on the unit's frozen inputs (§5.2
//! B1–B8 of docs/assessment.md) and an effect on the criterion's score (C1–C8).

use chrono::NaiveDate;
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::scheme::{Criterion, Grade};

/// How a measured value compares with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = ">")]
    Above,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "=")]
    Equal,
}

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::AtLeast => value >= threshold,
            Self::Above => value > threshold,
            Self::AtMost => value <= threshold,
            Self::Below => value < threshold,
            Self::Equal => (value - threshold).abs() < 1e-9,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::AtLeast => "≥",
            Self::Above => ">",
            Self::AtMost => "≤",
            Self::Below => "<",
            Self::Equal => "=",
        }
    }
}

/// What a rule tests. Inputs are named as the round froze them: `targets/{id}` (a verdict of
/// the indicators service), `indicators/{id}` (a figure), `plans/{id}` (the unit's assignments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// B1 B3 B5 B6: a target of the indicators service is met (a ratio against a threshold,
    /// a per-category quota, against the provincial average, a trend or 双下降).
    Target(String),
    /// B1: a figure compared directly with a threshold (不低于95%).
    Figure {
        input: String,
        comparator: Comparator,
        value: f64,
    },
    /// B2 B8: how often something happened: each time short of `at_least` (每少一次) or beyond
    /// `at_most` (发生一起) is an occurrence.
    Count {
        input: String,
        #[serde(default)]
        at_least: Option<f64>,
        #[serde(default)]
        at_most: Option<f64>,
    },
    /// B4: a day reported on or before `by` (未按时报告).
    Deadline { input: String, by: NaiveDate },
    /// B7: a yes (a body set up, a document present).
    Present(String),
    /// The share of the unit's assignments of a plan completed on time, in percent, is at
    /// least this.
    TasksOnTime { plan: String, at_least: f64 },
    /// None of the unit's assignments of a plan is overdue; each overdue one is an occurrence.
    TasksOverdue(String),
}

impl Condition {
    /// The input it reads.
    pub fn input(&self) -> &str {
        match self {
            Self::Target(input) | Self::Present(input) | Self::TasksOverdue(input) => input,
            Self::Figure { input, .. }
            | Self::Count { input, .. }
            | Self::Deadline { input, .. } => input,
            Self::TasksOnTime { plan, .. } => plan,
        }
    }

    /// Whether a miss has a size to deduct in proportion to (C3).
    fn measures_shortfall(&self) -> bool {
        matches!(
            self,
            Self::Target(_)
                | Self::Figure { .. }
                | Self::TasksOnTime { .. }
                | Self::Deadline { .. }
        )
    }
}

/// How many steps a shortfall makes (C3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Steps {
    /// In proportion: 1.5 points short at 1 per point is 1.5.
    #[default]
    Exact,
    /// Every step begun counts (每低10个百分点 begun).
    Started,
    /// Only whole steps count.
    Whole,
}

/// One band of a tiered rule (C4): a value at least `at_least` scores `points`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub at_least: f64,
    pub points: f64,
}

/// One band of a rank-based rule (C9): a unit ranked `top` or better in its peer group on the
/// input scores `points`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankBand {
    pub top: usize,
    pub points: f64,
}

/// What a rule does to its criterion's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// C1: these points off when the condition fails (未及时报备的扣1分).
    Deduct(f64),
    /// C1: these points when the condition holds (定期清理的,得4分).
    Award(f64),
    /// C2: so many points off per occurrence, up to `cap` for the rule and its `group`'s cap
    /// across rules (每少一次扣0.3分,累计扣分不超过1.2分).
    PerOccurrence {
        deduct_each: f64,
        #[serde(default)]
        cap: Option<f64>,
        #[serde(default)]
        group: Option<String>,
    },
    /// C3: points off per step of the shortfall (每低一个百分点扣1分,分值扣完为止).
    Shortfall {
        deduct_per_step: f64,
        step: f64,
        #[serde(default)]
        steps: Steps,
    },
    /// C4: the first band the input's value reaches scores its points (有专门机构的得3分…).
    Tiers { input: String, bands: Vec<Band> },
    /// C9: points by the unit's rank in its peer group on the input's value, the first band
    /// its rank is within (排名第1名得5分,第2至3名得4分…); highest first unless
    /// `lower_is_better`. A unit without the value is not ranked and scores nothing.
    RankPoints {
        input: String,
        bands: Vec<RankBand>,
        #[serde(default)]
        lower_is_better: bool,
    },
    /// C5: points into the scheme's bonus bucket when the condition holds (加分).
    Bonus(f64),
    /// C6: when the condition fails the unit's result is this grade whatever its points, and
    /// with `zero` its total is 0 (一票否决).
    Veto {
        #[serde(default = "failed")]
        grade: Grade,
        #[serde(default)]
        zero: bool,
    },
    /// C7: a reviewer's score within [0, max], with a justification (`manual/{criterion}`).
    Manual,
    /// C8: a report found false takes the whole criterion (`falsified/{criterion}`; 从重扣分).
    Falsification,
}

fn failed() -> Grade {
    Grade::Fail
}

/// A rule of a criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    // Written `when: {count: {...}}`, `then: {deduct: 1}` (serde_yaml would want `!count` tags).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_yaml::with::singleton_map"
    )]
    pub when: Option<Condition>,
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub then: Effect,
}

impl Rule {
    /// Its problems as field violations under `path`.
    pub(super) fn check(
        &self,
        path: &str,
        criterion: &Criterion,
        bonus_cap: f64,
        violations: &mut Vec<FieldViolation>,
    ) {
        let mut bad = |field: &str, reason: &'static str, en: &str, zh: &str| {
            violations.push(FieldViolation::new(
                format!("{path}.{field}"),
                reason,
                en,
                zh,
            ));
        };
        let standalone = matches!(
            self.then,
            Effect::Tiers { .. }
                | Effect::RankPoints { .. }
                | Effect::Manual
                | Effect::Falsification
        );
        match (&self.when, standalone) {
            (Some(_), true) => bad(
                "when",
                "CONDITION_NOT_ALLOWED",
                "tiers, rank points, manual and falsification rules read their own input: no condition",
                "分档、排名计分、人工评分和弄虚作假规则不设条件",
            ),
            (None, false) => bad(
                "when",
                "REQUIRED",
                "this effect needs a condition",
                "该评分规则须设条件",
            ),
            _ => {}
        }
        if let Some(condition) = &self.when {
            if condition.input().trim().is_empty() {
                bad(
                    "when",
                    "REQUIRED",
                    "a condition names its input",
                    "条件须指明数据来源",
                );
            }
            let numbers = match condition {
                Condition::Figure { value, .. } => vec![*value],
                Condition::Count {
                    at_least, at_most, ..
                } => {
                    if at_least.is_none() && at_most.is_none() {
                        bad(
                            "when.count",
                            "REQUIRED",
                            "a count needs at_least or at_most",
                            "计次条件须设 at_least 或 at_most",
                        );
                    }
                    at_least.iter().chain(at_most).copied().collect()
                }
                Condition::TasksOnTime { at_least, .. } => vec![*at_least],
                _ => Vec::new(),
            };
            if numbers.iter().any(|number| !number.is_finite()) {
                bad(
                    "when",
                    "INVALID_NUMBER",
                    "thresholds are finite numbers",
                    "阈值须为有限数",
                );
            }
        }
        let amounts: Vec<f64> = match &self.then {
            Effect::Deduct(points) | Effect::Award(points) => vec![*points],
            Effect::Bonus(points) => {
                if bonus_cap <= 0.0 {
                    bad(
                        "then.bonus",
                        "NO_BONUS_BUCKET",
                        "the scheme has no bonus bucket (bonus_cap)",
                        "方案未设加分项上限(bonus_cap)",
                    );
                }
                vec![*points]
            }
            Effect::PerOccurrence {
                deduct_each,
                cap,
                group,
            } => {
                if let Some(group) = group
                    && !criterion.group_caps.contains_key(group)
                {
                    bad(
                        "then.per_occurrence.group",
                        "UNKNOWN_GROUP",
                        &format!("the criterion has no group cap {group}"),
                        &format!("本项指标未设累计扣分上限组 {group}"),
                    );
                }
                std::iter::once(*deduct_each).chain(*cap).collect()
            }
            Effect::Shortfall {
                deduct_per_step,
                step,
                ..
            } => {
                if !self
                    .when
                    .as_ref()
                    .is_some_and(Condition::measures_shortfall)
                {
                    bad(
                        "then.shortfall",
                        "NO_SHORTFALL",
                        "a shortfall rule needs a target, figure, deadline or on-time condition",
                        "按差距扣分须基于目标、数值、时限或按时完成率条件",
                    );
                }
                if *step <= 0.0 {
                    bad(
                        "then.shortfall.step",
                        "INVALID_NUMBER",
                        "a step > 0",
                        "步长须大于 0",
                    );
                }
                vec![*deduct_per_step, *step]
            }
            Effect::Tiers { input, bands } => {
                if input.trim().is_empty() {
                    bad(
                        "then.tiers.input",
                        "REQUIRED",
                        "tiers name their input",
                        "分档规则须指明数据来源",
                    );
                }
                if bands.is_empty()
                    || bands
                        .windows(2)
                        .any(|pair| pair[0].at_least <= pair[1].at_least)
                {
                    bad(
                        "then.tiers.bands",
                        "BANDS_NOT_DESCENDING",
                        "bands go from the highest at_least down",
                        "分档须按下限从高到低排列",
                    );
                }
                bands.iter().map(|band| band.points).collect()
            }
            Effect::RankPoints { input, bands, .. } => {
                if input.trim().is_empty() {
                    bad(
                        "then.rank_points.input",
                        "REQUIRED",
                        "rank points name their input",
                        "排名计分规则须指明数据来源",
                    );
                }
                if bands.is_empty()
                    || bands.first().is_some_and(|band| band.top == 0)
                    || bands.windows(2).any(|pair| pair[0].top >= pair[1].top)
                {
                    bad(
                        "then.rank_points.bands",
                        "BANDS_NOT_ASCENDING",
                        "bands go from the smallest top (at least 1) up",
                        "排名档次须按名次从前到后排列(名次从 1 起)",
                    );
                }
                bands.iter().map(|band| band.points).collect()
            }
            Effect::Veto { .. } | Effect::Manual | Effect::Falsification => Vec::new(),
        };
        if amounts
            .iter()
            .any(|amount| !amount.is_finite() || *amount < 0.0)
        {
            bad(
                "then",
                "INVALID_POINTS",
                "points are numbers ≥ 0 (a deduction says deduct)",
                "分值须为不小于 0 的数(扣分用 deduct 表示)",
            );
        }
    }
}
