//! The rectification ledger (整改台账): an item per problem found, each answered by its unit and
//! closed (销号) by the coordinating office, with a yellow and a red warning as its deadline
//! nears and passes.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::scheme::RectificationTerms;
use super::score::UnitScore;

fazhi_platform::resource_id!(
    /// A rectification item, `rectificationItems/{item}`.
    ItemId,
    "rectificationItems",
    "k"
);

/// The round input counting a unit's items not closed yet: a rule may deduct for them
/// (`count: {input: rectification/open-items, at_most: 0}`).
pub const OPEN_ITEMS: &str = "rectification/open-items";

fazhi_platform::string_enum!(
    /// Where an item is.
    ItemState {
        /// Opened, not yet taken up.
        Open = "open",
        /// The unit has stated its measures and who answers for them.
        InProgress = "in_progress",
        /// The unit says it is done, with evidence.
        Submitted = "submitted",
        /// 销号: the office accepted it.
        Closed = "closed",
        /// The office sent it back after a submission or a closing.
        Reopened = "reopened",
    }
);

fazhi_platform::string_enum!(
    /// Where a problem was found.
    ItemSource {
        /// A rule that cost points in a published round.
        Round = "round",
        /// 督察.
        Supervision = "supervision",
        /// 自查自评.
        SelfInspection = "self_inspection",
    }
);

fazhi_platform::string_enum!(
    /// How close an open item is to its deadline.
    Warning {
        None = "none",
        /// 黄牌: within the warning days of the deadline.
        Yellow = "yellow",
        /// 红牌: past it and not closed.
        Red = "red",
    }
);

/// Longest text of an item's fields.
pub const MAX_ITEM_TEXT_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    /// The office that follows it up (the round's owner).
    pub owner_unit: String,
    pub unit: String,
    pub source: ItemSource,
    /// The round and criterion it came from, for a round's item.
    pub round: Option<String>,
    pub criterion: String,
    /// 存在问题.
    pub problem: String,
    /// 整改措施.
    pub measures: String,
    /// 责任人.
    pub responsible_person: String,
    /// 整改时限.
    pub deadline: NaiveDate,
    /// How many days before the deadline its warning turns yellow.
    pub warning_days: i64,
    pub state: ItemState,
    /// Why it was closed or reopened, as the office said.
    pub reason: String,
    /// Evidence links given on submission or closing.
    pub evidence: Vec<String>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// Why a step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongState(pub ItemState);

impl Item {
    /// A new item, OPEN, due the terms' deadline days after `today`.
    pub fn open(
        source: ItemSource,
        (owner_unit, unit): (String, String),
        (round, criterion, problem): (Option<String>, String, String),
        terms: RectificationTerms,
        (today, now): (NaiveDate, DateTime<Utc>),
    ) -> Self {
        Self {
            id: ItemId::generate(),
            owner_unit,
            unit,
            source,
            round,
            criterion,
            problem,
            measures: String::new(),
            responsible_person: String::new(),
            deadline: today + chrono::Duration::days(terms.deadline_days),
            warning_days: terms.warning_days,
            state: ItemState::Open,
            reason: String::new(),
            evidence: Vec::new(),
            revision: 1,
            create_time: now,
            update_time: now,
        }
    }

    /// Its warning on `today`.
    pub fn warning(&self, today: NaiveDate) -> Warning {
        if self.state == ItemState::Closed {
            Warning::None
        } else if today > self.deadline {
            Warning::Red
        } else if (self.deadline - today).num_days() <= self.warning_days {
            Warning::Yellow
        } else {
            Warning::None
        }
    }

    fn moved(self, from: &[ItemState], to: ItemState) -> Result<Self, WrongState> {
        if from.contains(&self.state) {
            Ok(Self { state: to, ..self })
        } else {
            Err(WrongState(self.state))
        }
    }

    /// The unit states its measures and who answers for them.
    pub fn take_up(self, measures: String, responsible_person: String) -> Result<Self, WrongState> {
        Ok(Self {
            measures,
            responsible_person,
            ..self.moved(
                &[ItemState::Open, ItemState::InProgress, ItemState::Reopened],
                ItemState::InProgress,
            )?
        })
    }

    /// The unit reports it done, with evidence.
    pub fn submit(self, evidence: Vec<String>) -> Result<Self, WrongState> {
        Ok(Self {
            evidence,
            ..self.moved(&[ItemState::InProgress], ItemState::Submitted)?
        })
    }

    /// 销号 by the office.
    pub fn close(self, reason: String) -> Result<Self, WrongState> {
        Ok(Self {
            reason,
            ..self.moved(&[ItemState::Submitted], ItemState::Closed)?
        })
    }

    /// Sent back by the office, from a submission or after a closing.
    pub fn reopen(self, reason: String) -> Result<Self, WrongState> {
        Ok(Self {
            reason,
            ..self.moved(
                &[ItemState::Submitted, ItemState::Closed],
                ItemState::Reopened,
            )?
        })
    }
}

/// A text an item step requires, checked.
pub fn check_text(field: &str, text: &str, violations: &mut Vec<FieldViolation>) {
    if text.trim().is_empty() {
        violations.push(FieldViolation::required(field));
    } else if text.chars().count() > MAX_ITEM_TEXT_CHARS {
        violations.push(FieldViolation::too_long(field, MAX_ITEM_TEXT_CHARS));
    }
}

/// The problems a unit's score shows: every rule that cost points of a criterion left short
/// of its full marks, and a veto, one per criterion (its lines joined), in trace order.
pub fn problems(score: &UnitScore) -> Vec<(String, String)> {
    let short = |code: &str| {
        score
            .criteria
            .iter()
            .any(|criterion| criterion.code == code && criterion.score < criterion.max - 1e-9)
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for line in score.lines.iter().filter(|line| {
        line.rule.is_some()
            && ((line.points < 0.0 && short(&line.criterion)) || line.text.contains("一票否决"))
    }) {
        match found
            .iter_mut()
            .find(|(criterion, _)| *criterion == line.criterion)
        {
            Some((_, problem)) => {
                problem.push(';');
                problem.push_str(&line.text);
            }
            None => found.push((line.criterion.clone(), line.text.clone())),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(state: ItemState, deadline: &str) -> Item {
        Item {
            id: ItemId::from_trusted("k-1".to_owned()),
            owner_unit: "ningguo".to_owned(),
            unit: "ng-gaj".to_owned(),
            source: ItemSource::Round,
            round: Some("rounds/r-1".to_owned()),
            criterion: "1.1".to_owned(),
            problem: "出庭应诉率 45%".to_owned(),
            measures: String::new(),
            responsible_person: String::new(),
            deadline: NaiveDate::parse_from_str(deadline, "%Y-%m-%d").unwrap_or_default(),
            warning_days: 7,
            state,
            reason: String::new(),
            evidence: Vec::new(),
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            update_time: DateTime::<Utc>::MIN_UTC,
        }
    }

    #[test]
    fn an_item_moves_only_along_its_arrows_to_closing() {
        let open = item(ItemState::Open, "2025-03-31");
        assert_eq!(
            open.clone().submit(vec![]),
            Err(WrongState(ItemState::Open))
        );
        let taken = open
            .take_up("组织专题培训".into(), "张三".into())
            .expect("takes up");
        let submitted = taken
            .submit(vec!["https://example.cn/a.pdf".into()])
            .expect("submits");
        let closed = submitted.clone().close("整改到位".into()).expect("closes");
        assert_eq!(closed.state, ItemState::Closed);
        assert_eq!(
            closed.clone().close("再次".into()),
            Err(WrongState(ItemState::Closed))
        );
        let reopened = closed.reopen("复查发现反弹".into()).expect("reopens");
        assert_eq!(reopened.state, ItemState::Reopened);
        assert_eq!(
            reopened
                .take_up("再整改".into(), "李四".into())
                .expect("taken up again")
                .state,
            ItemState::InProgress
        );
    }

    #[test]
    fn warnings_turn_yellow_before_the_deadline_and_red_after() {
        let day = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default();
        let open = item(ItemState::Open, "2025-03-31");
        assert_eq!(open.warning(day("2025-03-01")), Warning::None);
        assert_eq!(open.warning(day("2025-03-24")), Warning::Yellow);
        assert_eq!(open.warning(day("2025-04-01")), Warning::Red);
        assert_eq!(
            item(ItemState::Closed, "2025-03-31").warning(day("2025-04-01")),
            Warning::None
        );
    }
}
