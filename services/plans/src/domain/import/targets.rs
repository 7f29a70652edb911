//! Layer 5b: quantitative targets quoted in a task (审查率100%, 不少于4次, 5个工作日内,
//! 低于全省平均水平, 双下降), kept for the indicators service.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::deadlines::Recurrence;

/// How a value is compared with the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    AtLeast,
    AtMost,
    /// Below the (provincial, municipal) average.
    BelowAverage,
    /// 双下降: both the count and the rate fall year over year.
    DoubleDecline,
}

/// A target as the text states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantitativeTarget {
    pub text: String,
    /// Character offsets of `text` in the task text.
    pub start: usize,
    pub end: usize,
    /// What is measured, as worded: 重大决策合法性审查率, 领导干部接受(学法).
    pub metric: String,
    pub comparator: Comparator,
    pub value: Option<f64>,
    /// %, 次, 学时, 个工作日, 小时 …
    pub unit: String,
    pub period: Option<Recurrence>,
}

static RATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"([\p{Han}、“”]{1,24}?率)(?:要|均|都)?(?:达到|达|保持|实现|不低于)?(\d+(?:\.\d+)?)%",
    )
    .expect("a valid pattern")
});
static AT_LEAST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:不少于|不低于|至少(?:举办|开展|组织|进行)?|达到)(\d+(?:\.\d+)?)\s*(个工作日|学时|课时|次|期|个|件|项|人|家|天|小时|%)")
        .expect("a valid pattern")
});
static AT_MOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:不超过|不多于|不高于|控制在)(\d+(?:\.\d+)?)\s*(个工作日|工作日|天|日|小时|个|%)|(\d+(?:\.\d+)?)\s*(个工作日|小时|日|天)(?:以)?内")
        .expect("a valid pattern")
});
static BELOW_AVERAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"低于全(?:国|省|区|市)平均水平").expect("a valid pattern"));
static DOUBLE_DECLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"“?双下降”?").expect("a valid pattern"));

/// What follows the last verb of a rate phrase: 2024年实现市、乡两级…审查率 → 市、乡两级…审查率.
fn after_verb(phrase: &str) -> String {
    let start = ["实现", "保持", "确保", "达到", "推动"]
        .iter()
        .filter_map(|verb| phrase.rfind(verb).map(|index| index + verb.len()))
        .max()
        .unwrap_or(0);
    phrase[start..].trim_start_matches('年').to_owned()
}

/// The words before a match back to the last clause break: what the target is about.
fn metric_before(text: &str, byte_start: usize) -> String {
    let before = &text[..byte_start];
    let clause_start = before
        .rfind(['。', ';', ',', ':', ',', ';', '、'])
        .map_or(0, |index| {
            index + before[index..].chars().next().map_or(1, char::len_utf8)
        });
    let clause: String = before[clause_start..]
        .chars()
        .rev()
        .take(24)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let metric = clause
        .trim_end_matches(['实', '现', '保', '持', '要', '“'])
        .trim()
        .to_owned();
    if metric.is_empty() {
        metric_after(text, byte_start)
    } else {
        metric
    }
}

/// The words after a match up to the next clause break: 至少举办2期法治专题讲座 → 法治专题讲座.
fn metric_after(text: &str, byte_start: usize) -> String {
    let rest = &text[byte_start..];
    let clause = &rest[..rest.find(['。', ';', ',', ',', ';']).unwrap_or(rest.len())];
    clause
        .trim_start_matches(|character: char| !character.is_ascii_digit())
        .trim_start_matches(|character: char| character.is_ascii_digit() || character == '.')
        .trim_start_matches(['次', '期', '个', '项'])
        .to_owned()
}

fn period_of(text: &str, byte_start: usize) -> Option<Recurrence> {
    let before = &text[..byte_start];
    let clause_start = before.rfind(['。', ';', ';']).unwrap_or(0);
    let clause = &before[clause_start..];
    if clause.contains("每年") || clause.contains("年度") {
        Some(Recurrence::Yearly)
    } else if clause.contains("每季度") {
        Some(Recurrence::Quarterly)
    } else if clause.contains("每月") {
        Some(Recurrence::Monthly)
    } else {
        None
    }
}

/// Finds the targets in a task's text, in order.
pub fn find(text: &str) -> Vec<QuantitativeTarget> {
    let mut found: Vec<QuantitativeTarget> = Vec::new();
    let mut add = |matched: regex::Match<'_>,
                   metric: String,
                   comparator: Comparator,
                   value: Option<f64>,
                   unit: &str| {
        let start = text[..matched.start()].chars().count();
        let end = start + matched.as_str().chars().count();
        if found
            .iter()
            .any(|other| start < other.end && end > other.start)
        {
            return;
        }
        found.push(QuantitativeTarget {
            text: matched.as_str().to_owned(),
            start,
            end,
            metric,
            comparator,
            value,
            unit: unit.to_owned(),
            period: period_of(text, matched.start()),
        });
    };
    for captures in RATE.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        let metric = after_verb(&captures[1]);
        add(
            matched,
            metric,
            Comparator::AtLeast,
            captures[2].parse().ok(),
            "%",
        );
    }
    for captures in AT_LEAST.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        add(
            matched,
            metric_before(text, matched.start()),
            Comparator::AtLeast,
            captures[1].parse().ok(),
            &captures[2],
        );
    }
    for captures in AT_MOST.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        let (value, unit) = match (
            captures.get(1),
            captures.get(2),
            captures.get(3),
            captures.get(4),
        ) {
            (Some(value), Some(unit), _, _) | (_, _, Some(value), Some(unit)) => {
                (value.as_str().parse().ok(), unit.as_str())
            }
            _ => (None, ""),
        };
        add(
            matched,
            metric_before(text, matched.start()),
            Comparator::AtMost,
            value,
            unit,
        );
    }
    for matched in BELOW_AVERAGE.find_iter(text) {
        add(
            matched,
            metric_before(text, matched.start()),
            Comparator::BelowAverage,
            None,
            "",
        );
    }
    for matched in DOUBLE_DECLINE.find_iter(text) {
        add(
            matched,
            metric_before(text, matched.start()),
            Comparator::DoubleDecline,
            None,
            "",
        );
    }
    found.sort_by_key(|target| target.start);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(String, Comparator, Option<f64>, String)> {
        find(text)
            .into_iter()
            .map(|target| (target.metric, target.comparator, target.value, target.unit))
            .collect()
    }

    #[test]
    fn reads_the_targets_plans_state() {
        assert_eq!(
            summary("2024年实现市、乡两级重大决策合法性审查率100%"),
            vec![(
                "市、乡两级重大决策合法性审查率".to_owned(),
                Comparator::AtLeast,
                Some(100.0),
                "%".to_owned()
            )]
        );
        let training =
            find("每年全市政府系统领导干部接受不少于40学时、工作人员不少于50学时的学法培训");
        assert_eq!(training.len(), 2);
        assert_eq!(
            (training[0].value, training[0].unit.as_str()),
            (Some(40.0), "学时")
        );
        assert_eq!(training[0].period, Some(Recurrence::Yearly));
        assert_eq!(summary("办理时限不超过5个工作日")[0].1, Comparator::AtMost);
        assert_eq!(summary("5小时内作出答复")[0].2, Some(5.0));
        assert_eq!(
            summary("败诉率保持低于全省平均水平")[0].1,
            Comparator::BelowAverage
        );
        assert_eq!(
            summary("行政诉讼案件数量、败诉率实现“双下降”")[0].1,
            Comparator::DoubleDecline
        );
        assert!(find("加强组织领导").is_empty());
    }
}
