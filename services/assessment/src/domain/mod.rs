//! The assessment context's rules; no tonic, no sqlx.

mod bulletin;
mod claim;
mod rectification;
mod round;
mod rule;
mod scheme;
mod score;
mod supervision;

pub use bulletin::{Bulletin, FailedTarget, GroupRanking, LedgerCounts, OverdueTasks, bulletin};
pub use claim::{AppealId, Claim, ClaimState, Decision, DecisionRefused, SelfAssessmentId};
pub use rectification::{
    Item, ItemId, ItemSource, ItemState, MAX_ITEM_TEXT_CHARS, OPEN_ITEMS, Warning, WrongState,
    check_text, problems,
};
pub use round::{
    CriterionChange, InputChange, Member, Needs, Round, RoundId, RoundKind, SchemeId, ScoreChange,
    ScoredUnit, Stale, Standing, StoredScheme, diff_results, score_round,
};
pub use rule::{Band, Comparator, Condition, Effect, RankBand, Rule, Steps};
pub use scheme::{
    Basis, Criterion, CriterionTerms, Grade, GradeBand, MAX_SCHEME_BYTES, PeerGroup,
    RectificationTerms, Scheme, Worth,
};
pub use score::{
    CriterionScore, Frozen, Input, TraceLine, UnitInputs, UnitScore, Verdict, Vetoed, rank,
    score_unit,
};
pub use supervision::{SupervisionAction, SupervisionId, SupervisionRecord, check_escalation};
