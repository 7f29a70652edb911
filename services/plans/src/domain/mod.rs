//! The plans context's rules; no tonic, no sqlx.

pub mod import;
mod plan;

pub use plan::{
    Assignment, AssignmentState, Draft, ImportReport, MentionResolution, MentionTarget,
    NewAssignment, Plan, PlanId, PlanState, PublishRefusal, ReportWarning, Role, Task, TaskMention,
    WorkPlan, WorkPlanInput, assignments, check_publishable, distinct_mentions, draft,
    groups_to_expand, task_deadline,
};
