//! Reported values (填报数据) and their review: DRAFT → SUBMITTED → APPROVED | RETURNED, an
//! approved value locked until a coordinator reopens it. Each transition is a method that
//! answers the new value or a refusal.

use chrono::{DateTime, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::catalogue::{DataElement, DataElementId, ValueType};
use super::period::Period;

fazhi_platform::resource_id!(
    /// A reported value, `dataValues/{data_value}`.
    DataValueId,
    "dataValues",
    "v"
);

fazhi_platform::string_enum!(
    /// Where a value is in its review.
    ValueState {
        Draft = "draft",
        Submitted = "submitted",
        Approved = "approved",
        Returned = "returned",
    }
);

/// Which values a listing keeps besides its unit and element.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueFilter {
    /// Only values of periods inside this one.
    pub window: Option<Period>,
    pub state: Option<ValueState>,
    /// The unit's and every unit's below it (as of today).
    pub include_descendants: bool,
}

fazhi_platform::string_enum!(
    /// What a change of a value was, as its revision records it.
    ValueAction {
        Reported = "reported",
        Submitted = "submitted",
        Approved = "approved",
        Returned = "returned",
        Reopened = "reopened",
        Ingested = "ingested",
    }
);

/// Which review states the values behind a figure were in: a set of [`ValueState`], copied
/// without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSet(u8);

impl StateSet {
    pub fn of(states: &[ValueState]) -> Self {
        let mut set = Self::default();
        for state in states {
            set.insert(*state);
        }
        set
    }

    pub fn insert(&mut self, state: ValueState) {
        self.0 |= 1 << state as u8;
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Approved first, as people read them.
    pub fn iter(self) -> impl Iterator<Item = ValueState> {
        [
            ValueState::Approved,
            ValueState::Submitted,
            ValueState::Returned,
            ValueState::Draft,
        ]
        .into_iter()
        .filter(move |state| self.0 & (1 << *state as u8) != 0)
    }
}

/// Longest comment and reason accepted.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// One figure for an element, unit, period and category option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataValue {
    pub id: DataValueId,
    pub data_element: DataElementId,
    /// The unit's id; `None` for a central element.
    pub unit: Option<String>,
    pub period: String,
    /// `""`: the element's total.
    pub category_option: String,
    /// A number; a date element's day number since 1970-01-01; 0 for a text element.
    pub value: f64,
    /// A text element's value, or a date element's day as YYYY-MM-DD.
    pub text: Option<String>,
    pub comment: String,
    /// 佐证材料 it links to.
    pub evidence: Vec<EvidenceLink>,
    pub state: ValueState,
    pub reason: String,
    pub update_subject: String,
    pub revision: i64,
    pub update_time: DateTime<Utc>,
}

/// Most evidence links a value keeps, and the longest address and title.
pub const MAX_EVIDENCE_LINKS: usize = 20;
pub const MAX_EVIDENCE_URI_CHARS: usize = 2000;
pub const MAX_EVIDENCE_TITLE_CHARS: usize = 100;

/// A link to evidence kept elsewhere: a web address or a plans evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceLink {
    pub uri: String,
    pub title: String,
}

/// Checks evidence links: http(s) addresses with a host, or
/// `plans/{plan}/tasks/{task}/assignments/{assignment}/evidence/{sha256}`.
fn check_evidence(links: &[EvidenceLink]) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    if links.len() > MAX_EVIDENCE_LINKS {
        violations.push(FieldViolation::new(
            "evidence",
            "TOO_MANY",
            format!("at most {MAX_EVIDENCE_LINKS} evidence links"),
            format!("佐证材料链接最多 {MAX_EVIDENCE_LINKS} 个"),
        ));
        return violations;
    }
    for (index, link) in links.iter().enumerate() {
        let field = |name: &str| format!("evidence[{index}].{name}");
        if link.uri.chars().count() > MAX_EVIDENCE_URI_CHARS {
            violations.push(FieldViolation::too_long(
                field("uri"),
                MAX_EVIDENCE_URI_CHARS,
            ));
        } else if link.uri.is_empty() {
            violations.push(FieldViolation::required(field("uri")));
        } else if !fazhi_platform::text::is_evidence_address(&link.uri) {
            violations.push(FieldViolation::new(
                field("uri"),
                "INVALID_URI",
                "an evidence link is an http(s) address or plans/…/assignments/…/evidence/{sha256}",
                "佐证材料链接须为 http(s) 网址或 plans/…/assignments/…/evidence/{sha256}",
            ));
        }
        if link.title.chars().count() > MAX_EVIDENCE_TITLE_CHARS {
            violations.push(FieldViolation::too_long(
                field("title"),
                MAX_EVIDENCE_TITLE_CHARS,
            ));
        }
    }
    violations
}

/// What a value holds once checked against its element: a text or date element's text, the
/// number (a date's day number) for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub text: Option<String>,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRefusal {
    /// Submitted or approved values are not edited (return or reopen first).
    Locked(ValueState),
    /// The transition does not start from this state.
    WrongState(ValueState),
}

/// A value as it will be after a report: new, or the draft/returned one corrected.
pub fn report(existing: Option<DataValue>, new: DataValue) -> Result<DataValue, ValueRefusal> {
    match existing {
        None => Ok(new),
        Some(current) => match current.state {
            ValueState::Draft | ValueState::Returned => Ok(DataValue {
                id: current.id,
                state: ValueState::Draft,
                reason: current.reason,
                revision: current.revision,
                ..new
            }),
            locked => Err(ValueRefusal::Locked(locked)),
        },
    }
}

impl DataValue {
    fn moved(
        self,
        from: &[ValueState],
        to: ValueState,
        reason: &str,
        subject: &str,
    ) -> Result<Self, ValueRefusal> {
        if !from.contains(&self.state) {
            return Err(ValueRefusal::WrongState(self.state));
        }
        Ok(Self {
            state: to,
            reason: reason.to_owned(),
            update_subject: subject.to_owned(),
            ..self
        })
    }

    /// 报送: a draft or a returned value goes for review.
    pub fn submit(self, subject: &str) -> Result<Self, ValueRefusal> {
        let reason = self.reason.clone();
        self.moved(
            &[ValueState::Draft, ValueState::Returned],
            ValueState::Submitted,
            &reason,
            subject,
        )
    }

    /// 审核通过: locks it.
    pub fn approve(self, subject: &str) -> Result<Self, ValueRefusal> {
        self.moved(&[ValueState::Submitted], ValueState::Approved, "", subject)
    }

    /// 退回 with what to correct.
    pub fn send_back(self, reason: &str, subject: &str) -> Result<Self, ValueRefusal> {
        self.moved(
            &[ValueState::Submitted],
            ValueState::Returned,
            reason,
            subject,
        )
    }

    /// Unlocks an approved value for correction.
    pub fn reopen(self, reason: &str, subject: &str) -> Result<Self, ValueRefusal> {
        self.moved(&[ValueState::Approved], ValueState::Draft, reason, subject)
    }
}

/// A value as a caller sends it, before it is checked against its element.
pub struct ValueInput<'a> {
    /// Whether the request named a unit (central elements take none).
    pub has_unit: bool,
    pub period: &'a str,
    pub category_option: &'a str,
    pub value: f64,
    pub text: &'a str,
    pub comment: &'a str,
    pub evidence: &'a [EvidenceLink],
}

/// Checks a value sent for `element`: a unit exactly when the element is not central, a period
/// of the element's type, one of its options, a comment of bounded length, a value of its type
/// (a number, or for text and date elements a text), evidence links that are addresses. Answers the period and what the value
/// holds.
pub fn check_input(
    element: &DataElement,
    input: &ValueInput<'_>,
) -> Result<(Period, Reading), Vec<FieldViolation>> {
    let mut violations = Vec::new();
    match (input.has_unit, element.central) {
        (true, true) => violations.push(FieldViolation::new(
            "unit",
            "CENTRAL_ELEMENT",
            "a central element's values belong to no unit: leave unit empty",
            "集中填报的参照数据不属于任何单位,unit 须为空",
        )),
        (false, false) => violations.push(FieldViolation::required("unit")),
        _ => {}
    }
    let period = match Period::parse_field("period", input.period) {
        Ok(period) if period.period_type != element.period_type => {
            violations.push(FieldViolation::new(
                "period",
                "WRONG_PERIOD_TYPE",
                format!(
                    "{} is reported per {} period",
                    element.code,
                    element.period_type.as_str()
                ),
                format!(
                    "数据项 {} 按{}填报",
                    element.code,
                    element.period_type.word()
                ),
            ));
            None
        }
        Ok(period) => Some(period),
        Err(violation) => {
            violations.push(violation);
            None
        }
    };
    if !input.category_option.is_empty()
        && !element
            .category_options
            .iter()
            .any(|option| option == input.category_option)
    {
        violations.push(FieldViolation::new(
            "category_option",
            "UNKNOWN_CATEGORY_OPTION",
            format!(
                "{} has no category option {}",
                element.code, input.category_option
            ),
            format!(
                "数据项 {} 没有分类选项 {}",
                element.code, input.category_option
            ),
        ));
    }
    if input.comment.chars().count() > MAX_COMMENT_CHARS {
        violations.push(FieldViolation::too_long("comment", MAX_COMMENT_CHARS));
    }
    violations.extend(check_evidence(input.evidence));
    let reading = read(element, input, &mut violations);
    match (period, reading) {
        (Some(period), Some(reading)) if violations.is_empty() => Ok((period, reading)),
        _ => Err(violations),
    }
}

/// The number or the text a value sends for its element's type.
fn read(
    element: &DataElement,
    input: &ValueInput<'_>,
    violations: &mut Vec<FieldViolation>,
) -> Option<Reading> {
    let text = input.text.trim();
    if element.value_type.is_numeric() {
        if !input.text.is_empty() {
            violations.push(FieldViolation::new(
                "text",
                "TEXT_NOT_ALLOWED",
                format!("{} takes a number in value, not a text", element.code),
                format!("数据项 {} 填报数值(value),不填文本", element.code),
            ));
        }
        violations.extend(check_value(element, input.value, "value"));
        return Some(Reading {
            value: input.value,
            text: None,
        });
    }
    if input.value != 0.0 {
        violations.push(FieldViolation::new(
            "value",
            "VALUE_NOT_ALLOWED",
            format!("{} takes its value in text: leave value 0", element.code),
            format!("数据项 {} 的值填在 text 中,value 须为 0", element.code),
        ));
    }
    if text.is_empty() {
        violations.push(FieldViolation::required("text"));
        return None;
    }
    if text.chars().count() > MAX_COMMENT_CHARS {
        violations.push(FieldViolation::too_long("text", MAX_COMMENT_CHARS));
        return None;
    }
    if element.value_type != ValueType::Date {
        return Some(Reading {
            value: 0.0,
            text: Some(text.to_owned()),
        });
    }
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => Some(Reading {
            value: f64::from(
                i32::try_from((day - DateTime::<Utc>::UNIX_EPOCH.date_naive()).num_days())
                    .unwrap_or(i32::MAX),
            ),
            text: Some(day.format("%Y-%m-%d").to_string()),
        }),
        Err(_) => {
            violations.push(FieldViolation::new(
                "text",
                "INVALID_DATE",
                format!(
                    "{} takes a day as YYYY-MM-DD, e.g. 2022-12-31",
                    element.code
                ),
                format!("数据项 {} 须填写日期,格式如 2022-12-31", element.code),
            ));
            None
        }
    }
}

/// The checks a number must pass to be submitted, each a field violation of `field` (a text or
/// date element's value was checked when it was read).
pub fn check_value(element: &DataElement, value: f64, field: &str) -> Vec<FieldViolation> {
    let violation = |reason, en: &str, zh: &str| FieldViolation::new(field, reason, en, zh);
    let mut violations = Vec::new();
    if !element.value_type.is_numeric() {
        return violations;
    }
    if !value.is_finite() {
        violations.push(violation(
            "NOT_A_NUMBER",
            "the value must be a finite number",
            "数值须为有限数",
        ));
        return violations;
    }
    if value < 0.0 {
        violations.push(violation(
            "NEGATIVE",
            "the value must not be negative",
            "数值不能为负数",
        ));
    }
    match element.value_type {
        ValueType::Count if value.fract() != 0.0 => violations.push(violation(
            "NOT_WHOLE",
            "a count must be a whole number",
            "计数须为整数",
        )),
        ValueType::Percentage if value > 100.0 => violations.push(violation(
            "OVER_100",
            "a percentage is at most 100",
            "百分比不能超过 100",
        )),
        ValueType::Boolean if value != 0.0 && value != 1.0 => violations.push(violation(
            "NOT_BOOLEAN",
            "a yes/no value is 1 or 0",
            "是否类数值须为 1 或 0",
        )),
        _ => {}
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(state: ValueState) -> DataValue {
        DataValue {
            id: DataValueId::from_trusted("v-1".into()),
            data_element: DataElementId::from_trusted("e".into()),
            unit: Some("ng-sfj".into()),
            period: "2024".into(),
            category_option: String::new(),
            value: 3.0,
            text: None,
            comment: String::new(),
            evidence: Vec::new(),
            state,
            reason: "旧原因".into(),
            update_subject: "staff".into(),
            revision: 4,
            update_time: DateTime::<Utc>::MIN_UTC,
        }
    }

    #[test]
    fn the_review_moves_only_along_its_arrows() {
        let submitted = value(ValueState::Draft)
            .submit("staff")
            .expect("draft submits");
        assert_eq!(submitted.state, ValueState::Submitted);
        let returned = submitted
            .clone()
            .send_back("分母有误", "coordinator")
            .expect("returns");
        assert_eq!(
            (returned.state, returned.reason.as_str()),
            (ValueState::Returned, "分母有误")
        );
        assert_eq!(
            returned.clone().submit("staff").expect("resubmits").state,
            ValueState::Submitted
        );
        let approved = submitted.approve("coordinator").expect("approves");
        assert_eq!(approved.state, ValueState::Approved);
        assert_eq!(
            approved.clone().submit("staff"),
            Err(ValueRefusal::WrongState(ValueState::Approved))
        );
        assert_eq!(
            approved.clone().send_back("x", "c"),
            Err(ValueRefusal::WrongState(ValueState::Approved))
        );
        assert_eq!(
            approved
                .reopen("更正", "coordinator")
                .expect("reopens")
                .state,
            ValueState::Draft
        );
        assert_eq!(
            value(ValueState::Draft).approve("c"),
            Err(ValueRefusal::WrongState(ValueState::Draft))
        );
        assert_eq!(
            value(ValueState::Returned).reopen("x", "c"),
            Err(ValueRefusal::WrongState(ValueState::Returned))
        );
    }

    #[test]
    fn a_report_corrects_drafts_and_returned_values_but_not_locked_ones() {
        let new = DataValue {
            value: 9.0,
            ..value(ValueState::Draft)
        };
        for state in [ValueState::Draft, ValueState::Returned] {
            let corrected = report(Some(value(state)), new.clone()).expect("corrects");
            assert_eq!(
                (corrected.state, corrected.value, corrected.revision),
                (ValueState::Draft, 9.0, 4)
            );
        }
        for state in [ValueState::Submitted, ValueState::Approved] {
            assert_eq!(
                report(Some(value(state)), new.clone()),
                Err(ValueRefusal::Locked(state))
            );
        }
    }

    #[test]
    fn values_are_checked_by_their_type() {
        let element = |value_type| DataElement::for_test("e", value_type);
        let reasons = |value_type, number| -> Vec<&'static str> {
            check_value(&element(value_type), number, "value")
                .iter()
                .map(|v| v.reason)
                .collect()
        };
        assert_eq!(reasons(ValueType::Count, 2.5), ["NOT_WHOLE"]);
        assert_eq!(reasons(ValueType::Count, -1.0), ["NEGATIVE"]);
        assert_eq!(reasons(ValueType::Percentage, 100.5), ["OVER_100"]);
        assert_eq!(reasons(ValueType::Boolean, 2.0), ["NOT_BOOLEAN"]);
        assert_eq!(reasons(ValueType::Hours, f64::NAN), ["NOT_A_NUMBER"]);
        assert!(reasons(ValueType::Decimal, 2.5).is_empty());
    }
}
