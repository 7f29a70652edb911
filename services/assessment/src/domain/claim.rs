//! What a unit puts to the office about a criterion's score and the office's answer: a
//! self-assessment (自查自评) before a round, an appeal (申诉) against a published one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::rectification::ItemId;
use super::round::{RoundId, SchemeId};

fazhi_platform::resource_id!(
    /// An appeal, `appeals/{appeal}`.
    AppealId,
    "appeals",
    "a"
);

fazhi_platform::resource_id!(
    /// A self-assessment, `selfAssessments/{self_assessment}`.
    SelfAssessmentId,
    "selfAssessments",
    "e"
);

fazhi_platform::string_enum!(
    /// Where a claim stands.
    ClaimState {
        /// Put to the office, not decided yet.
        Pending = "pending",
        /// 维持: the score it is about stands (the round's score for an appeal, the unit's own
        /// for a self-assessment).
        Upheld = "upheld",
        /// 调整: the office decided another score, with its justification.
        Adjusted = "adjusted",
    }
);

/// What a unit claims, and what the office decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// `appeals/{id}` or `selfAssessments/{id}`.
    pub name: String,
    pub scheme: SchemeId,
    pub period: String,
    /// The round appealed against; `None` for a self-assessment.
    pub round: Option<RoundId>,
    /// The office that decides (the scheme's owner).
    pub owner_unit: String,
    pub unit: String,
    pub criterion: String,
    /// The score claimed about: the round's for an appeal, the unit's own (自评分) for a
    /// self-assessment.
    pub score: f64,
    /// The criterion's full marks for the unit.
    pub max: f64,
    /// The unit's reasons (申诉理由 / 自评说明).
    pub reasons: String,
    pub evidence: Vec<String>,
    /// Problems the unit found itself (自查发现的问题): a reviewed self-assessment with some
    /// opens a rectification item.
    pub problems_found: String,
    pub state: ClaimState,
    pub decided_score: Option<f64>,
    pub justification: String,
    pub decided_by: String,
    pub item: Option<ItemId>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub decide_time: Option<DateTime<Utc>>,
}

/// The office's answer to a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    Uphold,
    /// Another score, within the criterion's full marks.
    Adjust(f64),
}

/// Why a decision was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DecisionRefused {
    /// It was decided already.
    Decided(ClaimState),
    /// The score is outside [0, full marks].
    OutOfRange(f64),
}

impl Claim {
    /// The office decides, once.
    pub fn decide(
        self,
        decision: Decision,
        (justification, decided_by): (String, String),
        now: DateTime<Utc>,
    ) -> Result<Self, DecisionRefused> {
        if self.state != ClaimState::Pending {
            return Err(DecisionRefused::Decided(self.state));
        }
        let (state, decided_score) = match decision {
            Decision::Uphold => (ClaimState::Upheld, self.score),
            Decision::Adjust(score) if (0.0..=self.max).contains(&score) => {
                (ClaimState::Adjusted, score)
            }
            Decision::Adjust(_) => return Err(DecisionRefused::OutOfRange(self.max)),
        };
        Ok(Self {
            state,
            decided_score: Some(decided_score),
            justification,
            decided_by,
            decide_time: Some(now),
            ..self
        })
    }

    /// Whether an appeal filed on `today` is within the window after publication.
    pub fn within_window(published: NaiveDate, appeal_days: i64, today: NaiveDate) -> bool {
        (today - published).num_days() <= appeal_days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim {
            name: "appeals/a-1".to_owned(),
            scheme: SchemeId::from_trusted("ng".to_owned()),
            period: "2024".to_owned(),
            round: None,
            owner_unit: "ningguo".to_owned(),
            unit: "ng-gaj".to_owned(),
            criterion: "1".to_owned(),
            score: 6.0,
            max: 10.0,
            reasons: "数据统计口径有误".to_owned(),
            evidence: Vec::new(),
            problems_found: String::new(),
            state: ClaimState::Pending,
            decided_score: None,
            justification: String::new(),
            decided_by: String::new(),
            item: None,
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            decide_time: None,
        }
    }

    #[test]
    fn a_claim_is_decided_once_within_the_criterions_marks() {
        let by = || ("核实无误".to_owned(), "ng-office".to_owned());
        let now = DateTime::<Utc>::MIN_UTC;
        assert_eq!(
            claim().decide(Decision::Adjust(11.0), by(), now),
            Err(DecisionRefused::OutOfRange(10.0))
        );
        let upheld = claim().decide(Decision::Uphold, by(), now).expect("upheld");
        assert_eq!(
            (upheld.state, upheld.decided_score),
            (ClaimState::Upheld, Some(6.0))
        );
        assert_eq!(
            upheld.decide(Decision::Adjust(8.0), by(), now),
            Err(DecisionRefused::Decided(ClaimState::Upheld))
        );
        let adjusted = claim()
            .decide(Decision::Adjust(8.0), by(), now)
            .expect("adjusted");
        assert_eq!(adjusted.decided_score, Some(8.0));
    }

    #[test]
    fn the_appeal_window_counts_days_after_publication() {
        let day = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default();
        assert!(Claim::within_window(
            day("2025-01-10"),
            7,
            day("2025-01-17")
        ));
        assert!(!Claim::within_window(
            day("2025-01-10"),
            7,
            day("2025-01-18")
        ));
    }
}
