//! The plans context's rules; no tonic, no sqlx.

mod assignment;
mod cascade;
mod edit;
pub mod import;
mod plan;
mod progress;
mod reorganization;

pub use assignment::{AssignmentFilter, AssignmentRefusal};
pub use cascade::{Coverage, copy_task, coverage, level_word, link_to_parent, place_name, relevel};
pub use edit::{
    EditRefusal, NewTask, PlanField, TaskPlace, check_deletable, check_editable,
    check_tasks_editable, close, edit_plan, edit_task, moves_place, new_task, reorder,
};
pub use plan::{
    Assignment, AssignmentState, Draft, ImportReport, MentionResolution, MentionTarget,
    NewAssignment, Phase, Plan, PlanId, PlanKind, PlanState, PublishRefusal, ReportWarning, Role,
    Task, TaskMention, WorkPlan, WorkPlanInput, apply_resolutions, assignments, check_publishable,
    distinct_mentions, draft, groups_to_expand, infer_kind, task_deadline, task_mentions,
};
pub use progress::{
    CheckedProgress, Evidence, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES, ProgressInput,
    ProgressReport, ProgressStatus, Upload, evidence_type,
};
pub use reorganization::{Reorganization, successor_moves};
