//! Proposed targets (拟设目标): the quantitative targets a plan's tasks state, as the plans
//! importer read them, each with the typed targets it would become in this catalogue — the
//! indicator its words match, the kind its comparison says — for a coordinator to accept or
//! reject.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, Direction, Indicator, IndicatorId};
use super::target::{Comparator, TargetId, TargetKind};

fazhi_platform::resource_id!(
    /// A proposed target, `proposedTargets/{proposed_target}`.
    ProposalId,
    "proposedTargets",
    "p"
);

fazhi_platform::string_enum!(
    /// Where a proposal stands.
    ProposalState {
        Proposed = "proposed",
        Accepted = "accepted",
        Rejected = "rejected",
    }
);

/// Fewest characters a metric must share with an indicator's names to be read as it.
const MIN_SHARED_CHARS: usize = 3;
/// Nouns whose phrase must be named by the indicator too: 行政规范性文件合法性审查率 is not
/// 重大行政决策合法性审查率, though most of the words agree.
const SUBJECT_NOUNS: [&str; 4] = ["文件", "决策", "案件", "事项"];

/// A target as the plans importer read it from one task (`fazhi.plans.v1.TaskTarget`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractedTarget {
    pub text: String,
    pub metric: String,
    pub comparator: String,
    pub value: Option<f64>,
    pub unit: String,
    pub period: String,
    pub category: Option<String>,
    pub reference: Option<String>,
    pub year: Option<i32>,
    pub context: String,
}

/// One target as a task states it; a series of quotas (领导干部40学时、工作人员50学时) is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub text: String,
    pub metric: String,
    /// The importer's word: at_least, at_most, below_average, double_decline, increase, decrease.
    pub comparator: String,
    pub value: Option<f64>,
    /// Category option → value, for a series of quotas.
    pub quotas: BTreeMap<String, f64>,
    pub unit: String,
    pub period: String,
    pub reference: Option<String>,
    pub year: Option<i32>,
    pub context: String,
}

/// A typed target a statement becomes; 双下降 becomes one per quantity, joined all-of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestedTarget {
    pub display_name: String,
    pub indicator: IndicatorId,
    pub kind: TargetKind,
    pub first_period: Option<String>,
    /// The one unit group the task makes responsible (各乡镇、街道), when it names only that.
    #[serde(default)]
    pub applies_to_group: Option<String>,
}

/// A plan's target waiting for a coordinator, or decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedTarget {
    pub id: ProposalId,
    /// `plans/{plan}` and `plans/{plan}/tasks/{task}`.
    pub plan: String,
    pub task: String,
    pub task_number: String,
    pub task_title: String,
    /// Its place among the task's statements: with the task, what a second reading matches.
    pub ordinal: i32,
    /// The plan's issuer (a unit id): the region whose target it becomes.
    pub owner_unit: String,
    pub statement: Statement,
    /// Empty when nothing in the catalogue matches; `unmatched` says why.
    pub suggested: Vec<SuggestedTarget>,
    pub unmatched: Option<String>,
    pub state: ProposalState,
    /// The targets it became (created or reused; a composite last).
    pub targets: Vec<TargetId>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A task's extracted targets as statements: a run of quotas with categories, one comparison and
/// one unit is one statement with a value per category.
pub fn statements(extracted: &[ExtractedTarget]) -> Vec<Statement> {
    let mut found: Vec<Statement> = Vec::new();
    for target in extracted {
        if let (Some(category), Some(value), Some(last)) =
            (&target.category, target.value, found.last_mut())
            && !last.quotas.is_empty()
            && last.metric == target.metric
            && last.unit == target.unit
            && last.comparator == target.comparator
        {
            last.quotas.insert(category.clone(), value);
            last.text = format!("{}、{}{}", last.text, category, target.text);
            continue;
        }
        let quotas = match (&target.category, target.value) {
            (Some(category), Some(value)) => BTreeMap::from([(category.clone(), value)]),
            _ => BTreeMap::new(),
        };
        found.push(Statement {
            text: match &target.category {
                Some(category) => format!("{category}{}", target.text),
                None => target.text.clone(),
            },
            metric: target.metric.clone(),
            comparator: target.comparator.clone(),
            value: target.value,
            quotas,
            unit: target.unit.clone(),
            period: target.period.clone(),
            reference: target.reference.clone(),
            year: target.year,
            context: target.context.clone(),
        });
    }
    found
}

/// The typed targets a statement becomes in `catalogue`, or why none (in Chinese, for the
/// coordinator who will pick an indicator by hand).
pub fn suggest(
    statement: &Statement,
    catalogue: &Catalogue,
) -> Result<Vec<SuggestedTarget>, String> {
    let first_period = statement.year.map(|year| year.to_string());
    let display_name = if statement.text.contains(&statement.metric) {
        statement.text.clone()
    } else {
        format!("{}{}", statement.metric, statement.text)
    };
    let single = |indicator: &Indicator, kind: TargetKind| {
        Ok(vec![SuggestedTarget {
            display_name: display_name.clone(),
            indicator: indicator.id.clone(),
            kind,
            first_period: first_period.clone(),
            applies_to_group: None,
        }])
    };
    let metric = &statement.metric;
    let matched = || {
        best_indicator(metric, statement, catalogue)
            .ok_or_else(|| format!("目录中没有与“{metric}”相符的指标"))
    };
    match statement.comparator.as_str() {
        "at_least" | "at_most" => {
            let comparator = if statement.comparator == "at_least" {
                Comparator::GreaterOrEqual
            } else {
                Comparator::LessOrEqual
            };
            let indicator = matched()?;
            if !statement.quotas.is_empty() {
                let options = category_options(indicator, catalogue);
                if let Some(missing) = statement
                    .quotas
                    .keys()
                    .find(|category| !options.contains(category))
                {
                    return Err(format!(
                        "指标“{}”的数据项没有“{missing}”这一分类",
                        indicator.display_name
                    ));
                }
                return single(
                    indicator,
                    TargetKind::Quota {
                        comparator,
                        thresholds: statement.quotas.clone(),
                    },
                );
            }
            let value = statement
                .value
                .ok_or_else(|| format!("“{}”没有数值", statement.text))?;
            single(indicator, TargetKind::Absolute { comparator, value })
        }
        "below_average" => {
            let indicator = matched()?;
            let reference = statement.reference.as_deref().unwrap_or("平均");
            let series = catalogue
                .elements
                .iter()
                .filter(|element| {
                    element.central
                        && (element.code.contains(reference)
                            || element.display_name.contains(reference))
                })
                .max_by_key(|element| {
                    shared_chars(metric, &element.code)
                        .max(shared_chars(metric, &element.display_name))
                })
                .ok_or_else(|| format!("目录中没有“{reference}”的参照数据"))?;
            single(
                indicator,
                TargetKind::Reference {
                    comparator: Comparator::Less,
                    reference_code: series.code.clone(),
                },
            )
        }
        "increase" | "decrease" => {
            let indicator = matched()?;
            check_direction(indicator, &statement.comparator)?;
            single(indicator, TargetKind::Trend)
        }
        "double_decline" => metric
            .split(['、', '和', '与', '及'])
            .filter(|part| !part.is_empty())
            .map(|part| {
                let indicator = best_indicator(part, statement, catalogue)
                    .ok_or_else(|| format!("目录中没有与“{part}”相符的指标"))?;
                check_direction(indicator, "decrease")?;
                Ok(SuggestedTarget {
                    display_name: format!("{part}下降"),
                    indicator: indicator.id.clone(),
                    kind: TargetKind::Trend,
                    first_period: first_period.clone(),
                    applies_to_group: None,
                })
            })
            .collect(),
        other => Err(format!("无法识别的比较方式“{other}”")),
    }
}

fn check_direction(indicator: &Indicator, change: &str) -> Result<(), String> {
    let wanted = if change == "increase" {
        Direction::HigherIsBetter
    } else {
        Direction::LowerIsBetter
    };
    if indicator.direction == wanted {
        Ok(())
    } else {
        Err(format!(
            "指标“{}”的方向与“{}”相反",
            indicator.display_name,
            if change == "increase" {
                "提升"
            } else {
                "下降"
            }
        ))
    }
}

/// The category options of the elements an indicator reads.
fn category_options<'a>(indicator: &Indicator, catalogue: &'a Catalogue) -> Vec<&'a String> {
    indicator
        .data_element_codes
        .iter()
        .filter_map(|code| catalogue.element(code))
        .flat_map(|element| &element.category_options)
        .collect()
}

/// The indicator `metric` reads as: the most characters in common with its names or its
/// elements', the same kind of unit (a rate is not a count), the subset its formula filters to
/// named in the statement's words, and the subject noun (…文件, …决策) named by the indicator.
fn best_indicator<'a>(
    metric: &str,
    statement: &Statement,
    catalogue: &'a Catalogue,
) -> Option<&'a Indicator> {
    catalogue
        .indicators
        .iter()
        .filter_map(|indicator| {
            let mut names = vec![indicator.code.as_str(), indicator.display_name.as_str()];
            for code in &indicator.data_element_codes {
                if let Some(element) = catalogue.element(code) {
                    names.push(&element.code);
                    names.push(&element.display_name);
                }
            }
            let shared = names
                .iter()
                .map(|name| shared_chars(metric, name))
                .max()
                .unwrap_or(0);
            if shared < MIN_SHARED_CHARS
                || !units_agree(&statement.unit, &indicator.unit_of_measure)
            {
                return None;
            }
            if let Some(subject) = subject_of(metric)
                && !names.iter().any(|name| name.contains(subject))
            {
                return None;
            }
            let mut score = shared * 2;
            for filter in formula_filters(&indicator.formula) {
                if !statement.context.contains(filter) {
                    return None;
                }
                score += 20;
            }
            Some((score, indicator))
        })
        .max_by_key(|(score, indicator)| {
            (*score, std::cmp::Reverse(indicator.code.chars().count()))
        })
        .map(|(_, indicator)| indicator)
}

/// The last four characters up to a subject noun: 规范性文件 → 范性文件, 两级重大决策 → 重大决策.
fn subject_of(metric: &str) -> Option<&str> {
    let end = SUBJECT_NOUNS
        .iter()
        .filter_map(|noun| metric.rfind(noun).map(|index| index + noun.len()))
        .max()?;
    let start = metric[..end]
        .char_indices()
        .rev()
        .nth(3)
        .map_or(0, |(index, _)| index);
    Some(&metric[start..end])
}

/// The category options a formula filters by: `出庭数[涉及重大公共利益]` → 涉及重大公共利益.
fn formula_filters(formula: &str) -> Vec<&str> {
    formula
        .split('[')
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .collect()
}

/// A rate only matches a rate, a count a count of the same unit (次 and 期 are both times).
fn units_agree(stated: &str, indicator: &str) -> bool {
    let times = |unit: &str| matches!(unit, "次" | "期");
    match (stated == "%", indicator == "%") {
        (true, true) => true,
        (false, false) => {
            stated.is_empty()
                || indicator.is_empty()
                || stated == indicator
                || (times(stated) && times(indicator))
        }
        _ => stated.is_empty(),
    }
}

/// The longest run of characters two texts share.
fn shared_chars(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut row = vec![0usize; right.len() + 1];
    let mut best = 0;
    for left_char in left.chars() {
        let mut diagonal = 0;
        for (index, right_char) in right.iter().enumerate() {
            let above = row[index + 1];
            row[index + 1] = if left_char == *right_char {
                diagonal + 1
            } else {
                0
            };
            best = best.max(row[index + 1]);
            diagonal = above;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_runs_of_characters_and_finds_subjects() {
        assert_eq!(shared_chars("行政机关负责人出庭应诉率", "出庭应诉率"), 5);
        assert_eq!(shared_chars("", "出庭"), 0);
        assert_eq!(subject_of("行政规范性文件合法性审查率"), Some("范性文件"));
        assert_eq!(
            subject_of("市、乡两级重大决策合法性审查率"),
            Some("重大决策")
        );
        assert_eq!(subject_of("出庭应诉率"), None);
        assert_eq!(formula_filters("a[x] / b[y]"), ["x", "y"]);
        assert!(units_agree("期", "次") && !units_agree("%", "次") && units_agree("", "%"));
    }

    #[test]
    fn a_series_of_quotas_is_one_statement() {
        let quota = |category: &str, value: f64| ExtractedTarget {
            text: format!("不少于{value}学时"),
            metric: "培训".to_owned(),
            comparator: "at_least".to_owned(),
            value: Some(value),
            unit: "学时".to_owned(),
            category: Some(category.to_owned()),
            ..Default::default()
        };
        let found = statements(&[quota("领导干部", 40.0), quota("工作人员", 50.0)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].quotas.len(), 2);
        assert_eq!(found[0].text, "领导干部不少于40学时、工作人员不少于50学时");
    }
}
