//! A scheme (考核方案): the criteria tree with points or weights (一级/二级/三级指标), the peer
//! groups scored on separate trees, the bonus bucket (加分), normalisation and grade bands.
//! Written by people as YAML (docs/assessment.md), checked whole, every problem a field
//! violation naming its path.

use std::collections::{BTreeMap, BTreeSet};

use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::rule::{Effect, Rule};

fazhi_platform::string_enum!(
    /// 考核等次.
    Grade {
        /// 优秀
        Excellent = "excellent",
        /// 良好
        Good = "good",
        /// 合格 (一般)
        Pass = "pass",
        /// 不合格
        Fail = "fail",
    }
);

impl Grade {
    pub fn word(self) -> &'static str {
        match self {
            Self::Excellent => "优秀",
            Self::Good => "良好",
            Self::Pass => "合格",
            Self::Fail => "不合格",
        }
    }
}

/// Largest scheme accepted, in criteria, and the deepest tree.
pub const MAX_CRITERIA: usize = 2_000;
pub const MAX_DEPTH: usize = 6;
/// Largest YAML text accepted, in bytes.
pub const MAX_SCHEME_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    pub code: String,
    pub title: String,
    pub year: i32,
    /// The unit whose coordinating office (依法治市办) runs it, e.g. `tongliao`.
    pub owner_unit: String,
    /// 考核对象分组: units are scored and ranked within their group (旗县市区 vs 市直单位).
    pub peer_groups: Vec<PeerGroup>,
    pub criteria: Vec<Criterion>,
    /// A4: totals rescaled so that full marks are this (百分制), whatever the applicable
    /// criteria add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalise_to: Option<f64>,
    /// C5: the add-on bucket (附加项): bonus points counted on top of the base, up to this.
    #[serde(default)]
    pub bonus_cap: f64,
    /// D1: from the highest; a total at or above `min` has that grade.
    #[serde(default)]
    pub grades: Vec<GradeBand>,
    /// D4: the items a published round opens from its failed rules.
    #[serde(default)]
    pub rectification: RectificationTerms,
    /// 申诉期: days after publication a unit may appeal a criterion's score.
    #[serde(default = "default_appeal_days")]
    pub appeal_days: i64,
}

/// What a criterion is, for what is recorded against it.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionTerms {
    /// Its full marks.
    pub max: f64,
    /// A reviewer scores it (a `manual` rule).
    pub manual: bool,
    /// A finding of falsification zeroes it (a `falsification` rule).
    pub falsifiable: bool,
    /// It has no children: rules score it, not its children's sum.
    pub leaf: bool,
    /// The unit that scores it (its own `scorer_unit` or its nearest ancestor's).
    pub scorer_unit: Option<String>,
}

fn default_appeal_days() -> i64 {
    7
}

/// How long a unit has to rectify what a round found, and when the warning turns yellow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RectificationTerms {
    /// 整改时限: days after publication.
    pub deadline_days: i64,
    /// 黄牌: days before the deadline.
    pub warning_days: i64,
}

impl Default for RectificationTerms {
    fn default() -> Self {
        Self {
            deadline_days: 30,
            warning_days: 7,
        }
    }
}

/// 考核对象分组.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerGroup {
    pub code: String,
    pub title: String,
    /// The units service's group whose members it holds, e.g. `tl-counties`.
    pub unit_group: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeBand {
    pub grade: Grade,
    pub min: f64,
    /// D1 by quota: at most this percentage of a peer group has the grade (优秀等次不超过20%);
    /// those ranked beyond it have the next grade down. Units tied at the cut all go down, so
    /// the quota is never exceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<f64>,
}

/// What a node is worth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Worth {
    /// A1: at most this many points; the node's score is clamped to [0, points].
    Points(f64),
    /// A2: this percentage of its parent's points (占总分值的15%).
    Weight(f64),
}

/// Where a leaf's score starts before its rules: full marks less deductions (扣分制), or
/// nothing plus awards (得分制).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    #[default]
    Full,
    Zero,
}

/// A criterion (考核指标) of any level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Unique in the scheme, e.g. `1`, `1.2`, `1.2.3`.
    pub code: String,
    pub title: String,
    #[serde(flatten)]
    pub worth: Worth,
    /// A3: the peer groups it applies to; empty: every group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_groups: Vec<String>,
    /// A5: 评分责任单位, who scores it and answers for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scorer: String,
    /// The scoring unit's id (e.g. `tl-sfj`): its staff record the criterion's manual scores,
    /// review its self-assessments and decide its appeals, as the owner's coordinators may.
    /// Children inherit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer_unit: Option<String>,
    /// 评分细则, as the scheme states it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub guidance: String,
    #[serde(default)]
    pub basis: Basis,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// C2's group caps: deductions of the rules naming a group add up to at most its cap
    /// (以上项目累计扣分不超过2分).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_caps: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Criterion>,
}

impl Criterion {
    /// This node and every node below it, depth first.
    pub fn walk(&self) -> Box<dyn Iterator<Item = &Criterion> + '_> {
        Box::new(std::iter::once(self).chain(self.children.iter().flat_map(Criterion::walk)))
    }

    /// Whether it counts for a unit of this peer group.
    pub fn applies_to(&self, peer_group: &str) -> bool {
        self.peer_groups.is_empty() || self.peer_groups.iter().any(|group| group == peer_group)
    }
}

impl Scheme {
    /// Reads a scheme from YAML and checks it.
    pub fn from_yaml(text: &str) -> Result<Self, Vec<FieldViolation>> {
        if text.len() > MAX_SCHEME_BYTES {
            return Err(vec![FieldViolation::new(
                "content",
                "TOO_LARGE",
                format!("a scheme file is at most {MAX_SCHEME_BYTES} bytes"),
                format!("考核方案文件不能超过 {MAX_SCHEME_BYTES} 字节"),
            )]);
        }
        let scheme: Self = serde_yaml::from_str(text).map_err(|error| {
            vec![FieldViolation::new(
                "content",
                "INVALID_SCHEME",
                format!("not a scheme: {error}"),
                format!("不是有效的考核方案:{error}"),
            )]
        })?;
        let violations = scheme.check();
        if violations.is_empty() {
            Ok(scheme)
        } else {
            Err(violations)
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// Every criterion, depth first.
    pub fn all_criteria(&self) -> impl Iterator<Item = &Criterion> {
        self.criteria.iter().flat_map(Criterion::walk)
    }

    /// A criterion's full marks (its points, or its weight's share of its parent's) and what
    /// kind of node it is; `None` when there is no such criterion.
    pub fn criterion_terms(&self, code: &str) -> Option<CriterionTerms> {
        fn find(
            criteria: &[Criterion],
            (parent, scorer_unit): (f64, Option<&String>),
            code: &str,
        ) -> Option<CriterionTerms> {
            criteria.iter().find_map(|criterion| {
                let max = match criterion.worth {
                    Worth::Points(points) => points,
                    Worth::Weight(share) => parent * share / 100.0,
                };
                let scorer_unit = criterion.scorer_unit.as_ref().or(scorer_unit);
                if criterion.code == code {
                    let has = |effect: fn(&Effect) -> bool| {
                        criterion.rules.iter().any(|rule| effect(&rule.then))
                    };
                    Some(CriterionTerms {
                        max,
                        manual: has(|effect| matches!(effect, Effect::Manual)),
                        falsifiable: has(|effect| matches!(effect, Effect::Falsification)),
                        leaf: criterion.children.is_empty(),
                        scorer_unit: scorer_unit.cloned(),
                    })
                } else {
                    find(&criterion.children, (max, scorer_unit), code)
                }
            })
        }
        find(&self.criteria, (0.0, None), code)
    }

    /// Every problem of the scheme as a whole.
    pub fn check(&self) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        for (field, text) in [
            ("code", &self.code),
            ("title", &self.title),
            ("owner_unit", &self.owner_unit),
        ] {
            if text.trim().is_empty() {
                violations.push(FieldViolation::required(field));
            }
        }
        if !(2000..=2100).contains(&self.year) {
            violations.push(invalid(
                "year",
                "INVALID_YEAR",
                "a year such as 2024",
                "年度须为如 2024 的年份",
            ));
        }
        let mut groups = BTreeSet::new();
        for (index, group) in self.peer_groups.iter().enumerate() {
            if group.code.trim().is_empty() || !groups.insert(group.code.as_str()) {
                violations.push(invalid(
                    &format!("peer_groups[{index}].code"),
                    "INVALID_PEER_GROUP",
                    "a peer group has a code of its own",
                    "考核对象分组须有不重复的编码",
                ));
            }
            if group.unit_group.trim().is_empty() {
                violations.push(FieldViolation::required(format!(
                    "peer_groups[{index}].unit_group"
                )));
            }
        }
        if self.peer_groups.is_empty() {
            violations.push(FieldViolation::required("peer_groups"));
        }
        if self.criteria.is_empty() {
            violations.push(FieldViolation::required("criteria"));
        }
        if self.all_criteria().count() > MAX_CRITERIA {
            violations.push(invalid(
                "criteria",
                "TOO_MANY",
                &format!("a scheme has at most {MAX_CRITERIA} criteria"),
                &format!("考核指标最多 {MAX_CRITERIA} 项"),
            ));
            return violations;
        }
        if !self.bonus_cap.is_finite() || self.bonus_cap < 0.0 {
            violations.push(invalid(
                "bonus_cap",
                "INVALID_POINTS",
                "a number of points ≥ 0",
                "分值须为不小于 0 的数",
            ));
        }
        if let Some(target) = self.normalise_to
            && !(target.is_finite() && target > 0.0)
        {
            violations.push(invalid(
                "normalise_to",
                "INVALID_POINTS",
                "a number of points > 0",
                "分值须为大于 0 的数",
            ));
        }
        let terms = self.rectification;
        if !(1..=3650).contains(&terms.deadline_days)
            || !(0..=terms.deadline_days).contains(&terms.warning_days)
        {
            violations.push(invalid(
                "rectification",
                "INVALID_TERMS",
                "deadline_days in 1–3650, warning_days from 0 to deadline_days",
                "整改时限须为 1 至 3650 天,预警天数须在 0 与整改时限之间",
            ));
        }
        if !(0..=365).contains(&self.appeal_days) {
            violations.push(invalid(
                "appeal_days",
                "OUT_OF_RANGE",
                "appeal_days from 0 to 365",
                "申诉期须为 0 至 365 天",
            ));
        }
        let mut previous = f64::INFINITY;
        for (index, band) in self.grades.iter().enumerate() {
            if !band.min.is_finite() || band.min >= previous {
                violations.push(invalid(
                    &format!("grades[{index}].min"),
                    "GRADES_NOT_DESCENDING",
                    "grade bands go from the highest minimum down",
                    "等次须按分数线从高到低排列",
                ));
            }
            previous = band.min;
            if band
                .quota
                .is_some_and(|quota| !(quota > 0.0 && quota <= 100.0))
            {
                violations.push(invalid(
                    &format!("grades[{index}].quota"),
                    "OUT_OF_RANGE",
                    "a quota is a percentage above 0 and at most 100",
                    "等次比例须大于 0 且不超过 100(%)",
                ));
            }
        }
        let mut codes = BTreeSet::new();
        for (index, criterion) in self.criteria.iter().enumerate() {
            check_criterion(
                criterion,
                &format!("criteria[{index}]"),
                (None, 1),
                (&groups, &mut codes),
                self.bonus_cap,
                &mut violations,
            );
        }
        violations
    }
}

fn invalid(field: &str, reason: &'static str, en: &str, zh: &str) -> FieldViolation {
    FieldViolation::new(field, reason, en, zh)
}

/// Checks a node and those below it: its worth against its parent's, its children's points
/// against its own (A1: they may not add up to more), its rules.
fn check_criterion<'a>(
    criterion: &'a Criterion,
    path: &str,
    (parent_points, depth): (Option<f64>, usize),
    (groups, codes): (&BTreeSet<&str>, &mut BTreeSet<&'a str>),
    bonus_cap: f64,
    violations: &mut Vec<FieldViolation>,
) {
    if criterion.code.trim().is_empty() || !codes.insert(criterion.code.as_str()) {
        violations.push(invalid(
            &format!("{path}.code"),
            "DUPLICATE_CODE",
            "every criterion has a code of its own",
            "每项考核指标须有不重复的编号",
        ));
    }
    if criterion.title.trim().is_empty() {
        violations.push(FieldViolation::required(format!("{path}.title")));
    }
    if depth > MAX_DEPTH {
        violations.push(invalid(
            path,
            "TOO_DEEP",
            &format!("criteria nest at most {MAX_DEPTH} levels"),
            &format!("考核指标最多 {MAX_DEPTH} 级"),
        ));
        return;
    }
    let points = match (criterion.worth, parent_points) {
        (Worth::Points(points), _) if points.is_finite() && points > 0.0 => Some(points),
        (Worth::Weight(share), Some(parent))
            if share.is_finite() && share > 0.0 && share <= 100.0 =>
        {
            Some(parent * share / 100.0)
        }
        (Worth::Weight(_), None) => {
            violations.push(invalid(
                &format!("{path}.weight"),
                "WEIGHT_AT_TOP",
                "a top-level criterion has points, not a weight",
                "一级指标须设分值,不能设权重",
            ));
            None
        }
        (Worth::Points(_), _) => {
            violations.push(invalid(
                &format!("{path}.points"),
                "INVALID_POINTS",
                "a number of points > 0",
                "分值须为大于 0 的数",
            ));
            None
        }
        (Worth::Weight(_), Some(_)) => {
            violations.push(invalid(
                &format!("{path}.weight"),
                "INVALID_WEIGHT",
                "a percentage in (0, 100]",
                "权重须为 0 至 100 之间的百分数",
            ));
            None
        }
    };
    for (index, group) in criterion.peer_groups.iter().enumerate() {
        if !groups.contains(group.as_str()) {
            violations.push(invalid(
                &format!("{path}.peer_groups[{index}]"),
                "UNKNOWN_PEER_GROUP",
                &format!("the scheme has no peer group {group}"),
                &format!("方案中没有考核对象分组 {group}"),
            ));
        }
    }
    if let Some(points) = points {
        // Applicability splits a tree by group: the children of one group must fit, not all.
        let widest = criterion_groups(criterion, groups)
            .into_iter()
            .map(|group| {
                criterion
                    .children
                    .iter()
                    .filter(|child| child.applies_to(group))
                    .map(|child| match child.worth {
                        Worth::Points(points) => points,
                        Worth::Weight(share) => points * share / 100.0,
                    })
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        if widest > points + 1e-9 {
            violations.push(invalid(
                &format!("{path}.children"),
                "CHILDREN_EXCEED_PARENT",
                &format!(
                    "the children are worth {widest} points, more than the {points} of their parent"
                ),
                &format!("下级指标合计 {widest} 分,超过本项 {points} 分"),
            ));
        }
    }
    if !criterion.children.is_empty() && !criterion.rules.is_empty() {
        violations.push(invalid(
            &format!("{path}.rules"),
            "RULES_ON_BRANCH",
            "rules score leaves; this criterion has children",
            "评分规则须设在末级指标上",
        ));
    }
    for (index, rule) in criterion.rules.iter().enumerate() {
        rule.check(
            &format!("{path}.rules[{index}]"),
            criterion,
            bonus_cap,
            violations,
        );
    }
    for (index, child) in criterion.children.iter().enumerate() {
        check_criterion(
            child,
            &format!("{path}.children[{index}]"),
            (points, depth + 1),
            (groups, codes),
            bonus_cap,
            violations,
        );
    }
}

/// The groups a criterion is scored for: its own, or every group.
fn criterion_groups<'a>(criterion: &'a Criterion, groups: &BTreeSet<&'a str>) -> Vec<&'a str> {
    if criterion.peer_groups.is_empty() {
        groups.iter().copied().collect()
    } else {
        criterion.peer_groups.iter().map(String::as_str).collect()
    }
}
