//! Data sets (报表): which elements a group of units reports for which periods, by when, and the
//! rules their values must satisfy together (校验规则). A return (一份报表) is one unit's data set
//! for one period; its state and timeliness follow from the values in it.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, check_code, check_display_name};
use super::formula::{Formula, Reference};
use super::period::{Period, PeriodType};
use super::target::{Comparator, format_number};
use super::value::ValueState;

fazhi_platform::resource_id!(
    /// A data set, `dataSets/{data_set}`.
    DataSetId,
    "dataSets",
    "s"
);

fazhi_platform::string_enum!(
    /// Where one unit's return of a data set for one period is.
    ReturnState {
        /// Nothing entered.
        Missing = "missing",
        /// Some elements have no value.
        Incomplete = "incomplete",
        /// Every element has a value; some are drafts or were returned.
        NotSubmitted = "not_submitted",
        /// Every value submitted (some may be approved already).
        Submitted = "submitted",
        /// Every value approved.
        Approved = "approved",
    }
);

/// Most elements and rules a data set holds, and the furthest a due date lies from the period.
pub const MAX_SET_ELEMENTS: usize = 200;
pub const MAX_RULES: usize = 50;
pub const MAX_DUE_DAYS: i32 = 366;
/// Longest side of a rule.
pub const MAX_RULE_CHARS: usize = 500;

/// What a group of units reports, per period of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSet {
    pub id: DataSetId,
    pub code: String,
    pub display_name: String,
    pub period_type: PeriodType,
    /// The elements reported, each of the data set's period type.
    pub data_element_codes: Vec<String>,
    /// The unit that collects the returns (组织填报单位); its coordinators manage the data set.
    pub owner_unit: String,
    /// The units that report it (`unitGroups/…`, expanded relative to the owner as of the
    /// period's end); `None`: every unit below the owner.
    pub reporting_group: Option<String>,
    /// Days after the period's last day by which a return is due; negative: before it ends
    /// (每年12月20日前报送 for a year: -11).
    pub due_days: i32,
    pub validation_rules: Vec<ValidationRule>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    /// Soft-deleted (AIP-164): out of lists and checks, still readable.
    pub delete_time: Option<DateTime<Utc>>,
}

/// A relation a unit's values of one period must satisfy (e.g. 败诉案件数 ≤ 行政诉讼案件数).
/// Each side is a formula over the data set's elements; a rule with a side not yet reported is
/// not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRule {
    pub display_name: String,
    pub left: String,
    pub comparator: Comparator,
    pub right: String,
}

/// Returns are due at the end of their due day in China Standard Time (北京时间, UTC+8, no DST).
pub fn china_date(time: DateTime<Utc>) -> NaiveDate {
    (time + TimeDelta::hours(8)).date_naive()
}

/// What an update changes in a data set; `None`: kept. Its code, period type and owner unit are
/// fixed: returns already made are of them.
#[derive(Debug, Clone, Default)]
pub struct DataSetChanges {
    pub display_name: Option<String>,
    pub data_element_codes: Option<Vec<String>>,
    pub reporting_group: Option<Option<String>>,
    pub due_days: Option<i32>,
    pub validation_rules: Option<Vec<ValidationRule>>,
}

impl DataSet {
    /// This data set with `changes` made.
    pub fn changed(&self, changes: DataSetChanges) -> Self {
        let current = self.clone();
        Self {
            display_name: changes.display_name.unwrap_or(current.display_name),
            data_element_codes: changes
                .data_element_codes
                .unwrap_or(current.data_element_codes),
            reporting_group: changes.reporting_group.unwrap_or(current.reporting_group),
            due_days: changes.due_days.unwrap_or(current.due_days),
            validation_rules: changes.validation_rules.unwrap_or(current.validation_rules),
            ..current
        }
    }

    /// The last day a return for `period` is on time.
    pub fn due_date(&self, period: &Period) -> NaiveDate {
        let days = Days::new(u64::from(self.due_days.unsigned_abs()));
        if self.due_days >= 0 {
            period.end.checked_add_days(days)
        } else {
            period.end.checked_sub_days(days)
        }
        .unwrap_or(period.end)
    }

    /// The latest period whose return fell due before `today` (北京时间), if it fell due after
    /// the data set was made: the period to chase once.
    pub fn last_period_due(&self, today: NaiveDate) -> Option<Period> {
        let mut period = Period::containing(self.period_type, today)?;
        while self.due_date(&period) >= today {
            period = period.previous()?;
        }
        (self.due_date(&period) >= china_date(self.create_time)).then_some(period)
    }

    /// The rules that read `code` (every rule when `None`), with their index.
    pub fn rules_reading<'a>(
        &'a self,
        code: Option<&'a str>,
    ) -> impl Iterator<Item = (usize, &'a ValidationRule)> + 'a {
        self.validation_rules
            .iter()
            .enumerate()
            .filter(move |(_, rule)| code.is_none_or(|code| rule.codes().contains(code)))
    }
}

impl ValidationRule {
    /// The element codes both sides read.
    pub fn codes(&self) -> BTreeSet<String> {
        [&self.left, &self.right]
            .into_iter()
            .filter_map(|side| Formula::parse(side).ok())
            .flat_map(|formula| formula.element_codes())
            .collect()
    }

    /// Why the rule fails on the unit's values (`figure` answers a reference, `None`: not
    /// reported), as a violation of `field`; `None` when it holds or cannot be checked yet.
    pub fn breach(
        &self,
        field: &str,
        figure: &impl Fn(&Reference) -> Option<f64>,
    ) -> Option<FieldViolation> {
        let side = |text: &str| match Formula::parse(text).ok()?.evaluate(figure) {
            super::formula::Outcome::Value(value) => Some(value),
            _ => None,
        };
        let (left, right) = (side(&self.left)?, side(&self.right)?);
        if self.comparator.holds(left, right) {
            return None;
        }
        let relation = format!(
            "{} = {} {} {} = {}",
            self.left,
            format_number(left),
            self.comparator.symbol(),
            self.right,
            format_number(right)
        );
        Some(FieldViolation::new(
            field,
            "VALIDATION_RULE_FAILED",
            format!(
                "validation rule \"{}\" fails: {relation} does not hold",
                self.display_name
            ),
            format!("校验规则「{}」不成立:{relation} 不满足", self.display_name),
        ))
    }
}

/// Every rule of `sets` that reads `code` (every rule when `None`) and fails on a unit's values
/// of one period (`values`: code, category option (`""`: total), value), each a violation of
/// `dataSets/{id}.validation_rules[i]`.
pub fn rule_breaches(
    sets: &[DataSet],
    code: Option<&str>,
    values: &[(&str, &str, f64)],
) -> Vec<FieldViolation> {
    let figure = |reference: &Reference| {
        let option = reference.option.as_deref().unwrap_or_default();
        values
            .iter()
            .find(|(code, value_option, _)| *code == reference.code && *value_option == option)
            .map(|(_, _, value)| *value)
    };
    sets.iter()
        .flat_map(|set| {
            set.rules_reading(code).filter_map(move |(index, rule)| {
                rule.breach(
                    &format!("{}.validation_rules[{index}]", set.id.name()),
                    &figure,
                )
            })
        })
        .collect()
}

/// Checks a new data set against the catalogue; fields named under `prefix`.
pub fn check_data_set(set: &DataSet, catalogue: &Catalogue, prefix: &str) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    violations.extend(check_code(&format!("{prefix}.code"), &set.code));
    check_display_name(
        &format!("{prefix}.display_name"),
        &set.display_name,
        &mut violations,
    );
    if set.period_type == PeriodType::Custom {
        // A schedule is a calendar's: each unit's term has its own dates.
        violations.push(FieldViolation::new(
            format!("{prefix}.period_type"),
            "CUSTOM_PERIOD_SCHEDULE",
            "a data set is reported on a calendar: a year, half-year, quarter, month, week or two years",
            "报表须按日历周期(年、半年、季、月、周、两年)填报,不能按自定义期间",
        ));
    }
    let elements_field = format!("{prefix}.data_element_codes");
    if set.data_element_codes.is_empty() {
        violations.push(FieldViolation::required(&elements_field));
    } else if set.data_element_codes.len() > MAX_SET_ELEMENTS {
        violations.push(FieldViolation::too_many(&elements_field, MAX_SET_ELEMENTS));
    }
    let mut seen = BTreeSet::new();
    for (index, code) in set.data_element_codes.iter().enumerate() {
        let field = format!("{elements_field}[{index}]");
        match catalogue.element(code) {
            None => violations.push(FieldViolation::new(
                field,
                "UNKNOWN_DATA_ELEMENT",
                format!("no data element has the code {code}"),
                format!("没有编码为 {code} 的数据项"),
            )),
            Some(element) if element.central => violations.push(FieldViolation::new(
                field,
                "CENTRAL_ELEMENT",
                format!("{code} is entered centrally, not reported by units"),
                format!("数据项 {code} 为集中填报的参照数据,不由单位填报"),
            )),
            Some(element) if element.period_type != set.period_type => {
                violations.push(FieldViolation::new(
                    field,
                    "WRONG_PERIOD_TYPE",
                    format!(
                        "{code} is reported per {} period, the data set per {}",
                        element.period_type.as_str(),
                        set.period_type.as_str()
                    ),
                    format!(
                        "数据项 {code} 按{}填报,报表按{}填报",
                        element.period_type.word(),
                        set.period_type.word()
                    ),
                ));
            }
            Some(_) if !seen.insert(code) => violations.push(FieldViolation::new(
                field,
                "DUPLICATE",
                format!("{code} is listed twice"),
                format!("数据项 {code} 重复列出"),
            )),
            Some(_) => {}
        }
    }
    if set.due_days.abs() > MAX_DUE_DAYS {
        violations.push(FieldViolation::new(
            format!("{prefix}.due_days"),
            "OUT_OF_RANGE",
            format!("due_days lies within ±{MAX_DUE_DAYS} days of the period's end"),
            format!("报送期限须在统计周期结束前后 {MAX_DUE_DAYS} 天以内"),
        ));
    }
    let rules_field = format!("{prefix}.validation_rules");
    if set.validation_rules.len() > MAX_RULES {
        violations.push(FieldViolation::too_many(&rules_field, MAX_RULES));
        return violations;
    }
    for (index, rule) in set.validation_rules.iter().enumerate() {
        check_rule(
            rule,
            set,
            catalogue,
            &format!("{rules_field}[{index}]"),
            &mut violations,
        );
    }
    violations
}

fn check_rule(
    rule: &ValidationRule,
    set: &DataSet,
    catalogue: &Catalogue,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) {
    check_display_name(
        &format!("{prefix}.display_name"),
        &rule.display_name,
        violations,
    );
    let element_of = |code: &str| {
        set.data_element_codes
            .iter()
            .any(|listed| listed == code)
            .then(|| catalogue.element(code))
            .flatten()
    };
    for (side, text) in [("left", &rule.left), ("right", &rule.right)] {
        let field = format!("{prefix}.{side}");
        if text.chars().count() > MAX_RULE_CHARS {
            violations.push(FieldViolation::too_long(&field, MAX_RULE_CHARS));
            continue;
        }
        let violation = |error: super::formula::FormulaError| {
            FieldViolation::new(
                &field,
                error.reason,
                format!("{} (character {})", error.message_en, error.position + 1),
                format!("{}(第 {} 个字符)", error.message_zh, error.position + 1),
            )
        };
        match Formula::parse(text) {
            Err(error) => violations.push(violation(error)),
            Ok(formula) => {
                violations.extend(formula.check(text, element_of).into_iter().map(violation));
                if formula
                    .references()
                    .iter()
                    .any(|reference| reference.periods_back > 0)
                {
                    violations.push(FieldViolation::new(
                        &field,
                        "PREVIOUS_PERIOD",
                        "a validation rule compares figures of one period: no previous(...)",
                        "校验规则只比较同一统计周期的数据,不能使用 previous(...)",
                    ));
                }
            }
        }
    }
}

/// The payload of a `return.overdue` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueReturn {
    pub data_set: DataSetId,
    pub unit: String,
    pub period: String,
    pub due_date: NaiveDate,
    pub state: ReturnState,
    pub missing_data_element_codes: Vec<String>,
}

/// One value of a return, as its state needs it.
#[derive(Debug, Clone)]
pub struct ReturnValue {
    pub code: String,
    pub state: ValueState,
    /// When it was last submitted.
    pub submit_time: Option<DateTime<Utc>>,
}

/// One unit's return of a data set for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnStatus {
    pub unit: String,
    pub state: ReturnState,
    pub due_date: NaiveDate,
    /// Elements of the data set with at least one value.
    pub elements_reported: usize,
    pub missing_codes: Vec<String>,
    /// When the last of its values was submitted, once all are.
    pub submit_time: Option<DateTime<Utc>>,
    /// Submitted after the due day (迟报).
    pub late: bool,
    /// Not submitted and past the due day (逾期未报).
    pub overdue: bool,
}

impl ReturnStatus {
    /// Still to be chased (催报): not every value submitted.
    pub fn outstanding(&self) -> bool {
        !matches!(self.state, ReturnState::Submitted | ReturnState::Approved)
    }
}

/// The return of `unit` for `period` made of `values`, as of `now`.
pub fn return_status(
    set: &DataSet,
    unit: &str,
    period: &Period,
    values: &[ReturnValue],
    now: DateTime<Utc>,
) -> ReturnStatus {
    let reported: BTreeSet<&str> = values.iter().map(|value| value.code.as_str()).collect();
    let missing_codes: Vec<String> = set
        .data_element_codes
        .iter()
        .filter(|code| !reported.contains(code.as_str()))
        .cloned()
        .collect();
    let submitted = values
        .iter()
        .all(|value| matches!(value.state, ValueState::Submitted | ValueState::Approved));
    let state = if values.is_empty() {
        ReturnState::Missing
    } else if !missing_codes.is_empty() {
        ReturnState::Incomplete
    } else if !submitted {
        ReturnState::NotSubmitted
    } else if values
        .iter()
        .all(|value| value.state == ValueState::Approved)
    {
        ReturnState::Approved
    } else {
        ReturnState::Submitted
    };
    let due_date = set.due_date(period);
    let submit_time = matches!(state, ReturnState::Submitted | ReturnState::Approved)
        .then(|| values.iter().filter_map(|value| value.submit_time).max())
        .flatten();
    let status = ReturnStatus {
        unit: unit.to_owned(),
        state,
        due_date,
        elements_reported: set.data_element_codes.len() - missing_codes.len(),
        missing_codes,
        submit_time,
        late: submit_time.is_some_and(|time| china_date(time) > due_date),
        overdue: false,
    };
    ReturnStatus {
        overdue: status.outstanding() && china_date(now) > due_date,
        ..status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::{DataElement, ValueType};

    fn element(code: &str) -> DataElement {
        DataElement::for_test(code, ValueType::Count)
    }

    fn litigation() -> (DataSet, Catalogue) {
        let catalogue = Catalogue {
            elements: vec![element("案件数"), element("败诉数")],
            ..Catalogue::default()
        };
        let set = DataSet {
            id: DataSetId::from_trusted("litigation".to_owned()),
            code: "行政诉讼".to_owned(),
            display_name: "行政诉讼情况".to_owned(),
            period_type: PeriodType::Year,
            data_element_codes: vec!["案件数".to_owned(), "败诉数".to_owned()],
            owner_unit: "ningguo".to_owned(),
            reporting_group: None,
            due_days: 15,
            validation_rules: vec![ValidationRule {
                display_name: "败诉数不超过案件数".to_owned(),
                left: "败诉数".to_owned(),
                comparator: Comparator::LessOrEqual,
                right: "案件数".to_owned(),
            }],
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            delete_time: None,
        };
        (set, catalogue)
    }

    #[test]
    fn a_rule_fails_naming_both_sides_and_is_skipped_while_a_side_is_missing() {
        let (set, _) = litigation();
        let rule = &set.validation_rules[0];
        let figures = |cases: Option<f64>, lost: Option<f64>| {
            move |reference: &Reference| match reference.code.as_str() {
                "案件数" => cases,
                _ => lost,
            }
        };
        let breach = rule
            .breach("validation_rules[0]", &figures(Some(3.0), Some(5.0)))
            .expect("5 > 3");
        assert_eq!(breach.reason, "VALIDATION_RULE_FAILED");
        assert!(
            breach.message.zh.contains("败诉数 = 5 ≤ 案件数 = 3"),
            "{}",
            breach.message.zh
        );
        assert!(rule.breach("x", &figures(Some(5.0), Some(5.0))).is_none());
        assert!(rule.breach("x", &figures(None, Some(5.0))).is_none());
    }

    #[test]
    fn a_data_set_names_what_is_wrong_with_its_elements_and_rules() {
        let (mut set, catalogue) = litigation();
        assert!(check_data_set(&set, &catalogue, "data_set").is_empty());
        set.data_element_codes.push("未知".to_owned());
        set.data_element_codes.push("案件数".to_owned());
        set.validation_rules.push(ValidationRule {
            display_name: "同比".to_owned(),
            left: "previous(案件数)".to_owned(),
            comparator: Comparator::GreaterOrEqual,
            right: "未列出 +".to_owned(),
        });
        set.due_days = 400;
        let found: Vec<(String, &str)> = check_data_set(&set, &catalogue, "data_set")
            .into_iter()
            .map(|violation| (violation.field, violation.reason))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "data_set.data_element_codes[2]".to_owned(),
                    "UNKNOWN_DATA_ELEMENT"
                ),
                ("data_set.data_element_codes[3]".to_owned(), "DUPLICATE"),
                ("data_set.due_days".to_owned(), "OUT_OF_RANGE"),
                (
                    "data_set.validation_rules[1].left".to_owned(),
                    "PREVIOUS_PERIOD"
                ),
                (
                    "data_set.validation_rules[1].right".to_owned(),
                    "FORMULA_SYNTAX"
                ),
            ]
        );
    }

    #[test]
    fn a_return_is_late_by_the_day_in_beijing_and_overdue_until_submitted() {
        let (set, _) = litigation();
        let year = Period::parse("2024").expect("a year");
        assert_eq!(
            set.due_date(&year),
            NaiveDate::from_ymd_opt(2025, 1, 15).expect("a day")
        );
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("a time");
        let value = |code: &str, state, time: Option<&str>| ReturnValue {
            code: code.to_owned(),
            state,
            submit_time: time.map(at),
        };
        let now = at("2025-02-01T00:00:00Z");
        let missing = return_status(&set, "u", &year, &[], now);
        assert_eq!(
            (missing.state, missing.overdue, missing.missing_codes.len()),
            (ReturnState::Missing, true, 2)
        );
        // 23:30 on the due day in Beijing is 15:30 UTC: on time; 00:30 the next day is late.
        let on_time = return_status(
            &set,
            "u",
            &year,
            &[
                value("案件数", ValueState::Approved, Some("2025-01-10T00:00:00Z")),
                value(
                    "败诉数",
                    ValueState::Submitted,
                    Some("2025-01-15T15:30:00Z"),
                ),
            ],
            now,
        );
        assert_eq!(
            (on_time.state, on_time.late, on_time.overdue),
            (ReturnState::Submitted, false, false)
        );
        let late = return_status(
            &set,
            "u",
            &year,
            &[
                value("案件数", ValueState::Approved, Some("2025-01-15T16:30:00Z")),
                value("败诉数", ValueState::Approved, Some("2025-01-10T00:00:00Z")),
            ],
            now,
        );
        assert_eq!((late.state, late.late), (ReturnState::Approved, true));
        let returned = return_status(
            &set,
            "u",
            &year,
            &[
                value("案件数", ValueState::Returned, Some("2025-01-10T00:00:00Z")),
                value(
                    "败诉数",
                    ValueState::Submitted,
                    Some("2025-01-10T00:00:00Z"),
                ),
            ],
            now,
        );
        assert_eq!(
            (returned.state, returned.overdue, returned.submit_time),
            (ReturnState::NotSubmitted, true, None)
        );
        let early = return_status(&set, "u", &year, &[], at("2025-01-15T12:00:00Z"));
        assert!(!early.overdue);
    }
}
