//! Layer 5b: quantitative targets quoted in a task (审查率100%, 不少于4次, 5个工作日内,
//! 低于全省平均水平, 双下降, 稳步提升), kept for the indicators service, which proposes typed
//! targets from them. A list of rates under one verb (合法性审查率、报备率和报备及时率、规范率均达
//! 100%) is one target per rate; a series of quotas (领导干部不少于40学时、工作人员不少于50学时)
//! keeps each one's category.

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
    /// 稳步提升, 逐步扩大: higher than the period before.
    Increase,
    /// 逐年下降: lower than the period before.
    Decrease,
}

/// A target as the text states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantitativeTarget {
    pub text: String,
    /// Character offsets of `text` in the task text.
    pub start: usize,
    pub end: usize,
    /// What is measured, as worded: 重大决策合法性审查率, 业务知识和法律法规培训.
    pub metric: String,
    pub comparator: Comparator,
    pub value: Option<f64>,
    /// %, 次, 学时, 个工作日, 小时 …
    pub unit: String,
    pub period: Option<Recurrence>,
    /// Who a quota of a series is for: 领导干部 in 领导干部不少于40学时、工作人员不少于50学时.
    #[serde(default)]
    pub category: Option<String>,
    /// What a relative target compares with: 全省平均 in 低于全省平均水平.
    #[serde(default)]
    pub reference: Option<String>,
    /// The year the sentence sets it for: 2025 in 到2025年达到95%, 2024 in 2024年实现….
    #[serde(default)]
    pub year: Option<i32>,
    /// The words that lead to it: from its sentence's start, or the target before it in the
    /// sentence, to its end — what the metric alone does not say (…,涉及重大公共利益和社会高度关注
    /// 等案件,被诉行政机关负责人出庭率应达到100%).
    #[serde(default)]
    pub context: String,
}

static RATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"([\p{Han}、“”]{1,40}?率)(?:要|均|都|应)?(?:达到|达|保持|实现|不低于)?(\d+(?:\.\d+)?)%",
    )
    .expect("a valid pattern")
});
static AT_LEAST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:不少于|不低于|至少(?:举办|开展|组织|进行|讲|旁听|接受|配备)?|达到)(\d+(?:\.\d+)?)\s*(个工作日|学时|课时|次|期|个|名|件|项|人|家|天|小时|%)|(?:举办|开展|组织)(\d+)(次|期|个)以上")
        .expect("a valid pattern")
});
static AT_MOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:不超过|不多于|不高于|控制在)(\d+(?:\.\d+)?)\s*(个工作日|工作日|天|日|小时|个|%)|(\d+(?:\.\d+)?)\s*(个工作日|小时|日|天)(?:以)?内")
        .expect("a valid pattern")
});
static BELOW_AVERAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"低于(全(?:国|省|区|市)平均)水平").expect("a valid pattern"));
static DOUBLE_DECLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"“?双下降”?").expect("a valid pattern"));
static INCREASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"稳步提升|逐步提高|持续提升|不断提高|不断提升|逐年提高|逐年上升|逐步扩大|持续扩大")
        .expect("a valid pattern")
});
static DECREASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"逐年下降|持续下降|不断下降|稳步下降|逐年减少|不断压缩|持续压缩")
        .expect("a valid pattern")
});
/// 到2025年, 2022年年底前, 2024年实现: the year a sentence's target is for.
static YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:到|至|在)?(20\d\d)年(?:年底前|底前|前|实现|达到|,|,)").expect("a valid pattern")
});
/// Scope words before the person a quota is for: 每年全市政府系统领导干部接受 → 领导干部.
static QUOTA_SCOPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:每年|每人|各级|全市|全县|全区|全省|全旗|政府系统|的)+|(?:接受|参加|参训|每年)+$",
    )
    .expect("a valid pattern")
});
/// The noun a list of rates shares: 规范性文件 in 规范性文件合法性审查率、报备率.
const RATE_SUBJECTS: [&str; 7] = ["文件", "决策", "案件", "事项", "机关", "单位", "部门"];

/// What follows the last verb of a rate phrase: 2024年实现市、乡两级…审查率 → 市、乡两级…审查率.
fn after_verb(phrase: &str) -> String {
    let start = ["实现", "保持", "确保", "达到", "推动"]
        .iter()
        .filter_map(|verb| phrase.rfind(verb).map(|index| index + verb.len()))
        .max()
        .unwrap_or(0);
    phrase[start..].trim_start_matches('年').to_owned()
}

/// The last 24 characters before a match back to the last clause break, without a trailing
/// verb: what the target is about, when the text puts it first.
fn clause_before(text: &str, byte_start: usize) -> String {
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
    clause
        .trim_end_matches(['实', '现', '保', '持', '要', '“'])
        .trim()
        .to_owned()
}

/// What the target is about: the clause before it, else the one after.
fn metric_before(text: &str, byte_start: usize) -> String {
    let metric = clause_before(text, byte_start);
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
        .trim_start_matches(['次', '期', '个', '项', '名'])
        .trim_start_matches("以上")
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

/// The clause after a match: 逐步扩大24小时自助政务服务区覆盖规模 → 24小时自助政务服务区覆盖规模.
fn object_after(text: &str, byte_end: usize) -> String {
    let rest = &text[byte_end..];
    rest[..rest
        .find(['。', ';', ',', ',', ';', '、'])
        .unwrap_or(rest.len())]
        .to_owned()
}

/// Where the sentence holding `byte_start` starts.
fn sentence_start(text: &str, byte_start: usize) -> usize {
    text[..byte_start]
        .rfind(['。', ';', ';'])
        .map_or(0, |index| {
            index + text[index..].chars().next().map_or(1, char::len_utf8)
        })
}

/// Cuts each target's context after the target before it in the same sentence.
fn narrow_contexts(found: &mut [QuantitativeTarget]) {
    for index in 1..found.len() {
        let previous = found[index - 1].text.clone();
        let context = &found[index].context;
        if let Some(position) = context.find(&previous) {
            let after = position + previous.len();
            if after < context.len() {
                found[index].context = context[after..].to_owned();
            }
        }
    }
}

/// 规范性文件合法性审查率、报备率和报备及时率、规范率 → each rate, the shared noun carried over:
/// 规范性文件合法性审查率, 规范性文件报备率, 规范性文件报备及时率, 规范性文件规范率. A list breaks
/// only after a 率 (报备及时率 stays whole).
fn split_rates(list: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part_start = 0;
    let mut previous = None;
    for (index, character) in list.char_indices() {
        if matches!(character, '、' | '和' | '及' | '与') && previous == Some('率') {
            parts.push(&list[part_start..index]);
            part_start = index + character.len_utf8();
        }
        previous = Some(character);
    }
    parts.push(&list[part_start..]);
    let first = parts[0];
    let subject = RATE_SUBJECTS
        .iter()
        .filter_map(|noun| first.rfind(noun).map(|index| index + noun.len()))
        .filter(|end| *end < first.len())
        .max()
        .map_or("", |end| &first[..end]);
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|part| {
            if part.starts_with(subject) {
                part.to_owned()
            } else {
                format!("{subject}{part}")
            }
        })
        .collect()
}

/// Quotas of one sentence in a list (领导干部接受不少于40学时、工作人员不少于50学时、行政执法人员
/// 不少于60学时的业务知识和法律法规培训): each is for the person its clause names, and all
/// measure what follows the list.
fn name_quota_categories(text: &str, found: &mut [QuantitativeTarget]) {
    let mut index = 0;
    while index < found.len() {
        let mut last = index;
        while last + 1 < found.len()
            && found[last + 1].comparator == found[index].comparator
            && found[last + 1].unit == found[index].unit
            && {
                let gap: String = text
                    .chars()
                    .skip(found[last].end)
                    .take(found[last + 1].start.saturating_sub(found[last].end))
                    .collect();
                gap.contains('、') && !gap.contains(['。', ';', ';'])
            }
        {
            last += 1;
        }
        if last > index {
            let after: String = text.chars().skip(found[last].end).collect();
            let object = after.trim_start_matches('的');
            let object = &object[..object
                .find(['。', ';', ',', ',', ';'])
                .unwrap_or(object.len())];
            for target in &mut found[index..=last] {
                let person = QUOTA_SCOPE.replace_all(&target.metric, "").into_owned();
                if !person.is_empty() {
                    target.category = Some(person);
                }
                if !object.is_empty() {
                    target.metric = object.to_owned();
                }
            }
        }
        index = last + 1;
    }
}

/// Finds the targets in a task's text, in order.
pub fn find(text: &str) -> Vec<QuantitativeTarget> {
    let mut found: Vec<QuantitativeTarget> = Vec::new();
    let mut add = |matched: regex::Match<'_>,
                   metrics: Vec<String>,
                   comparator: Comparator,
                   value: Option<f64>,
                   unit: &str,
                   reference: Option<String>| {
        let start = text[..matched.start()].chars().count();
        let end = start + matched.as_str().chars().count();
        if found
            .iter()
            .any(|other| start < other.end && end > other.start)
        {
            return;
        }
        let context = &text[sentence_start(text, matched.start())..matched.end()];
        let year = YEAR
            .captures_iter(context)
            .last()
            .and_then(|captures| captures[1].parse().ok());
        for metric in metrics {
            found.push(QuantitativeTarget {
                text: matched.as_str().to_owned(),
                start,
                end,
                metric,
                comparator,
                value,
                unit: unit.to_owned(),
                period: period_of(text, matched.start()),
                category: None,
                reference: reference.clone(),
                year,
                context: context.to_owned(),
            });
        }
    };
    for captures in RATE.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        add(
            matched,
            split_rates(&after_verb(&captures[1])),
            Comparator::AtLeast,
            captures[2].parse().ok(),
            "%",
            None,
        );
    }
    for captures in AT_LEAST.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        let (value, unit) = match (captures.get(1), captures.get(2)) {
            (Some(value), Some(unit)) => (value.as_str(), unit.as_str()),
            _ => (
                captures.get(3).map_or("", |value| value.as_str()),
                captures.get(4).map_or("", |unit| unit.as_str()),
            ),
        };
        // 至少讲1次法治课, 举办2期以上法治专题讲座: what is counted follows the verb.
        let counted_after = !matched.as_str().starts_with(['不', '达']);
        add(
            matched,
            vec![if counted_after {
                metric_after(text, matched.start())
            } else {
                metric_before(text, matched.start())
            }],
            Comparator::AtLeast,
            value.parse().ok(),
            unit,
            None,
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
            vec![metric_before(text, matched.start())],
            Comparator::AtMost,
            value,
            unit,
            None,
        );
    }
    for captures in BELOW_AVERAGE.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        add(
            matched,
            vec![after_verb(&metric_before(text, matched.start()))],
            Comparator::BelowAverage,
            None,
            "",
            Some(captures[1].to_owned()),
        );
    }
    for matched in DOUBLE_DECLINE.find_iter(text) {
        add(
            matched,
            vec![metric_before(text, matched.start())],
            Comparator::DoubleDecline,
            None,
            "",
            None,
        );
    }
    for (pattern, comparator) in [
        (&*INCREASE, Comparator::Increase),
        (&*DECREASE, Comparator::Decrease),
    ] {
        for matched in pattern.find_iter(text) {
            // 不断压缩办理时限: the object changes; 出庭应诉率稳步提升: the subject.
            let object = object_after(text, matched.end());
            let metric = if object.is_empty() {
                after_verb(&clause_before(text, matched.start()))
            } else {
                object
            };
            add(matched, vec![metric], comparator, None, "", None);
        }
    }
    found.sort_by_key(|target| target.start);
    narrow_contexts(&mut found);
    name_quota_categories(text, &mut found);
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

    #[test]
    fn splits_a_list_of_rates_and_keeps_the_categories_of_quotas() {
        let rates: Vec<String> =
            find("行政规范性文件合法性审查率、报备率和报备及时率、规范率均达100%")
                .into_iter()
                .map(|target| target.metric)
                .collect();
        assert_eq!(
            rates,
            [
                "行政规范性文件合法性审查率",
                "行政规范性文件报备率",
                "行政规范性文件报备及时率",
                "行政规范性文件规范率"
            ]
        );
        let quotas = find(
            "每年全市政府系统领导干部接受不少于40学时、工作人员不少于50学时、行政执法人员不少于60学时的业务知识和法律法规培训。",
        );
        let summary: Vec<(Option<&str>, &str, Option<f64>)> = quotas
            .iter()
            .map(|target| {
                (
                    target.category.as_deref(),
                    target.metric.as_str(),
                    target.value,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some("领导干部"), "业务知识和法律法规培训", Some(40.0)),
                (Some("工作人员"), "业务知识和法律法规培训", Some(50.0)),
                (Some("行政执法人员"), "业务知识和法律法规培训", Some(60.0)),
            ]
        );
        assert_eq!(find("确保每人每年接受不少于60学时的培训")[0].category, None);
    }

    #[test]
    fn recognises_relative_trend_and_deadline_targets() {
        let relative = &find("败诉率保持低于全省平均水平")[0];
        assert_eq!(
            (relative.metric.as_str(), relative.reference.as_deref()),
            ("败诉率", Some("全省平均"))
        );
        let trend = &find("推动主要负责人出庭应诉率稳步提升。")[0];
        assert_eq!(
            (trend.metric.as_str(), trend.comparator),
            ("主要负责人出庭应诉率", Comparator::Increase)
        );
        let widening = &find("逐步扩大24小时自助政务服务区覆盖规模")[0];
        assert_eq!(widening.metric, "24小时自助政务服务区覆盖规模");
        assert_eq!(find("到2025年,督察覆盖率达到95%")[0].year, Some(2025));
        assert_eq!(
            find("2024年实现市、乡两级重大决策合法性审查率100%")[0].year,
            Some(2024)
        );
        assert_eq!(
            find("政府领导班子每年举办2期以上法治专题讲座")[0].value,
            Some(2.0)
        );
        let both = find(
            "行政机关负责人出庭应诉率要不低于50%,涉及重大公共利益的案件,被诉行政机关负责人出庭率应达到100%。",
        );
        assert_eq!(both[0].context, "行政机关负责人出庭应诉率要不低于50%");
        assert_eq!(
            both[1].context,
            ",涉及重大公共利益的案件,被诉行政机关负责人出庭率应达到100%"
        );
    }
}
