//! The plans context's rules; no tonic, no sqlx.

pub mod import;
mod plan;

pub use plan::{
    Draft, ImportReport, MentionResolution, MentionTarget, Plan, PlanId, PlanState, ReportWarning,
    Role, Task, TaskMention, distinct_mentions, draft,
};
