//! Supervision (督察): what the coordinating office did about a unit, in the escalation order
//! 约谈 / 督察建议书 → 责令整改 → 通报批评, each later step citing the earlier ones.

use chrono::{DateTime, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::rectification::ItemId;

fazhi_platform::resource_id!(
    /// A supervision record, `supervisionRecords/{record}`.
    SupervisionId,
    "supervisionRecords",
    "v"
);

fazhi_platform::string_enum!(
    /// What the office did.
    SupervisionAction {
        /// 约谈.
        Talk = "talk",
        /// 督察建议书.
        Letter = "letter",
        /// 责令整改: cites a 约谈 or 督察建议书 of the unit.
        Order = "order",
        /// 通报批评: cites a 责令整改 of the unit.
        Criticism = "criticism",
    }
);

impl SupervisionAction {
    pub fn word(self) -> &'static str {
        match self {
            Self::Talk => "约谈",
            Self::Letter => "督察建议书",
            Self::Order => "责令整改",
            Self::Criticism => "通报批评",
        }
    }

    /// The steps one of which it must cite, if any.
    fn requires(self) -> &'static [Self] {
        match self {
            Self::Talk | Self::Letter => &[],
            Self::Order => &[Self::Talk, Self::Letter],
            Self::Criticism => &[Self::Order],
        }
    }

    /// Whether it opens a rectification item of its own (责令整改 always does).
    pub fn opens_item(self) -> bool {
        matches!(self, Self::Order)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionRecord {
    pub id: SupervisionId,
    /// The office that took the step.
    pub owner_unit: String,
    pub unit: String,
    pub action: SupervisionAction,
    /// `rounds/{round}` it follows up, if any.
    pub round: Option<String>,
    /// `rectificationItems/{item}` it concerns.
    pub items: Vec<String>,
    /// `supervisionRecords/{record}`: the earlier steps it escalates from.
    pub cites: Vec<String>,
    /// 督察发现: what was found.
    pub finding: String,
    /// 整改要求 or 通报内容: what the unit is told.
    pub demand: String,
    /// The item it opened (责令整改, or any step asked to).
    pub opened_item: Option<ItemId>,
    pub recorded_by: String,
    pub create_time: DateTime<Utc>,
}

/// Every problem with what a step cites: each cited record of the same unit, and one of the
/// steps its action escalates from among them.
pub fn check_escalation(
    unit: &str,
    action: SupervisionAction,
    cited: &[SupervisionRecord],
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    for (index, record) in cited.iter().enumerate() {
        if record.unit != unit {
            violations.push(FieldViolation::new(
                format!("cites[{index}]"),
                "OTHER_UNIT",
                "a step cites earlier steps about the same unit",
                "只能引用针对同一单位的督察记录",
            ));
        }
    }
    let required = action.requires();
    if !required.is_empty()
        && !cited
            .iter()
            .any(|record| record.unit == unit && required.contains(&record.action))
    {
        let words: Vec<&str> = required.iter().map(|step| step.word()).collect();
        violations.push(FieldViolation::new(
            "cites",
            "ESCALATION_ORDER",
            format!(
                "{} follows a {} of the unit: cite it",
                action.as_str(),
                required
                    .iter()
                    .map(|step| step.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            format!(
                "{}须在{}之后,请引用该单位此前的{}记录",
                action.word(),
                words.join("或"),
                words.join("或")
            ),
        ));
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(unit: &str, action: SupervisionAction) -> SupervisionRecord {
        SupervisionRecord {
            id: SupervisionId::from_trusted("v-1".to_owned()),
            owner_unit: "ningguo".to_owned(),
            unit: unit.to_owned(),
            action,
            round: None,
            items: Vec::new(),
            cites: Vec::new(),
            finding: "出庭应诉率连续两年未达标".to_owned(),
            demand: String::new(),
            opened_item: None,
            recorded_by: "ng-office".to_owned(),
            create_time: DateTime::<Utc>::MIN_UTC,
        }
    }

    fn codes(violations: &[FieldViolation]) -> Vec<(String, String)> {
        violations
            .iter()
            .map(|violation| (violation.field.clone(), violation.reason.to_owned()))
            .collect()
    }

    #[test]
    fn each_step_cites_the_one_it_escalates_from_for_the_same_unit() {
        use SupervisionAction::*;
        assert!(check_escalation("ng-gaj", Talk, &[]).is_empty());
        assert_eq!(
            codes(&check_escalation("ng-gaj", Order, &[])),
            [("cites".to_owned(), "ESCALATION_ORDER".to_owned())]
        );
        assert!(check_escalation("ng-gaj", Order, &[record("ng-gaj", Letter)]).is_empty());
        assert_eq!(
            codes(&check_escalation(
                "ng-gaj",
                Criticism,
                &[record("ng-gaj", Talk)]
            )),
            [("cites".to_owned(), "ESCALATION_ORDER".to_owned())]
        );
        assert_eq!(
            codes(&check_escalation(
                "ng-gaj",
                Criticism,
                &[record("ng-sfj", Order)]
            )),
            [
                ("cites[0]".to_owned(), "OTHER_UNIT".to_owned()),
                ("cites".to_owned(), "ESCALATION_ORDER".to_owned())
            ]
        );
        assert!(check_escalation("ng-gaj", Criticism, &[record("ng-gaj", Order)]).is_empty());
    }
}
