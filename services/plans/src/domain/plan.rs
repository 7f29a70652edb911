//! Plans and their tasks as the service keeps them.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::import::{Deadline, ParsedPlan, QuantitativeTarget};
use super::progress::ProgressStatus;
use fazhi_platform::string_enum;

fazhi_platform::resource_id!(
    /// The `{plan}` of `plans/{plan}`.
    PlanId,
    "plans",
    "p"
);

string_enum! {
    /// Where a plan is in its life.
    PlanState {
        Draft = "draft",
        Published = "published",
        Closed = "closed",
    }
}

string_enum! {
    /// The role a unit has in a task.
    Role {
        /// 牵头单位
        Lead = "lead",
        /// 责任单位
        Responsible = "responsible",
        /// 参加/配合单位
        Participating = "participating",
    }
}

string_enum! {
    /// What a plan is for.
    PlanKind {
        /// 五年/多年实施方案
        MultiYear = "multi_year",
        /// 年度
        Annual = "annual",
        /// 专项行动
        SpecialAction = "special_action",
    }
}

/// The kind a plan's title and period say: 年度 → annual, 行动/专项 → special action, several
/// years → multi-year.
pub fn infer_kind(title: &str, period: Option<(i32, i32)>) -> Option<PlanKind> {
    if title.contains("年度") || title.contains("工作要点") {
        Some(PlanKind::Annual)
    } else if title.contains("行动") || title.contains("专项") {
        Some(PlanKind::SpecialAction)
    } else {
        match period {
            Some((start, end)) if end > start => Some(PlanKind::MultiYear),
            Some(_) => Some(PlanKind::Annual),
            None => None,
        }
    }
}

/// A stage of a plan with its dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub title: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// What the units service resolved a mention to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionTarget {
    /// `units/{unit}`
    Unit(String),
    /// `unitGroups/{unit_group}`
    Group(String),
}

/// A resolution, as the units service answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MentionResolution {
    pub target: Option<MentionTarget>,
    pub confidence: f64,
    pub method: String,
    /// Candidate unit names when unresolved.
    pub candidates: Vec<String>,
}

impl MentionResolution {
    pub fn unresolved() -> Self {
        Self {
            target: None,
            confidence: 0.0,
            method: "unresolved".to_owned(),
            candidates: Vec::new(),
        }
    }
}

/// Gives every mention of the tasks its resolution, counting them in the report and warning of
/// each left unresolved with its candidates.
pub fn apply_resolutions(
    tasks: &mut [Task],
    resolutions: &HashMap<String, MentionResolution>,
    report: &mut ImportReport,
) {
    for task in tasks {
        for mention in &mut task.mentions {
            mention.resolution = resolutions
                .get(&mention.mention)
                .cloned()
                .unwrap_or_else(MentionResolution::unresolved);
            report.mention_count += 1;
            if mention.resolution.target.is_some() {
                report.resolved_mention_count += 1;
            } else {
                report.warnings.push(ReportWarning {
                    code: "UNRESOLVED_MENTION".to_owned(),
                    line: task.source_line,
                    message: format!(
                        "task {}: {} not resolved; candidates: {}",
                        task.number,
                        mention.mention,
                        mention.resolution.candidates.join(", ")
                    ),
                });
            }
        }
    }
}

/// Every distinct mention text of some tasks, in first-seen order.
pub fn task_mentions(tasks: &[Task]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tasks
        .iter()
        .flat_map(|task| &task.mentions)
        .filter(|mention| seen.insert(mention.mention.as_str()))
        .map(|mention| mention.mention.clone())
        .collect()
}

/// A mention of a task with its role and resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMention {
    pub role: Role,
    pub mention: String,
    pub resolution: MentionResolution,
}

/// A task of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// `t1`, `t2` … by position: stable within the plan, unique even where numbers repeat.
    pub id: String,
    pub position: i32,
    pub number: String,
    pub title: String,
    pub text: String,
    pub part_number: String,
    pub part_title: String,
    pub section_number: String,
    pub section_title: String,
    pub source_line: i32,
    pub mentions: Vec<TaskMention>,
    pub deadlines: Vec<Deadline>,
    pub targets: Vec<QuantitativeTarget>,
    /// The parent plan's task this one implements (对标), `plans/{plan}/tasks/{task}`.
    #[serde(default)]
    pub parent_task: Option<String>,
}

/// A warning of an import, stored with the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportWarning {
    pub code: String,
    pub line: i32,
    pub message: String,
}

/// What an import found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub task_count: i32,
    pub mention_count: i32,
    pub resolved_mention_count: i32,
    pub warnings: Vec<ReportWarning>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub title: String,
    pub document_number: String,
    /// The issuing unit's id (without `units/`).
    pub issuer: String,
    pub period: Option<(i32, i32)>,
    pub state: PlanState,
    pub task_count: i32,
    pub report: ImportReport,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub revision: i64,
    /// The day it was published; groups were expanded as of it.
    pub publish_date: Option<NaiveDate>,
    /// The upper-level plan it implements.
    #[serde(default)]
    pub parent_plan: Option<PlanId>,
    #[serde(default)]
    pub kind: Option<PlanKind>,
    /// 阶段, in order.
    #[serde(default)]
    pub phases: Vec<Phase>,
}

string_enum! {
    /// Where an assignment is.
    AssignmentState {
        Open = "open",
        Claimed = "claimed",
        Completed = "completed",
    }
}

/// A unit's part in a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub plan: PlanId,
    pub task_id: String,
    pub task_number: String,
    pub task_title: String,
    /// The unit's id (without `units/`).
    pub unit: String,
    pub role: Role,
    pub mention: String,
    pub state: AssignmentState,
    pub create_time: DateTime<Utc>,
    pub work_plan: Option<WorkPlan>,
    pub claim_time: Option<DateTime<Utc>>,
    /// The subject who claimed it.
    #[serde(default)]
    pub claimed_by: Option<String>,
    pub revision: i64,
    /// 完成时限: the work plan's once claimed, else the task's deadline.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// The latest progress report's status, percent and time.
    #[serde(default)]
    pub progress: Option<(ProgressStatus, i32, DateTime<Utc>)>,
}

impl Assignment {
    /// `plans/{plan}/tasks/{task}/assignments/{assignment}`
    pub fn name(&self) -> String {
        format!(
            "{}/tasks/{}/assignments/{}",
            self.plan.name(),
            self.task_id,
            self.id
        )
    }

    /// Days past its due date as of a day, when not completed by then.
    pub fn days_overdue(&self, as_of: NaiveDate) -> Option<i64> {
        let due = self.due_date?;
        (self.state != AssignmentState::Completed && due < as_of).then(|| (as_of - due).num_days())
    }
}

/// How a unit will carry out its part (认领).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkPlan {
    /// 分管领导
    pub leader_in_charge: String,
    /// 具体负责人
    pub person_responsible: String,
    /// 措施
    pub measures: String,
    /// 完成时限
    pub due_date: NaiveDate,
}

/// A work plan as a caller wrote it.
#[derive(Debug, Clone, Default)]
pub struct WorkPlanInput {
    pub leader_in_charge: String,
    pub person_responsible: String,
    pub measures: String,
    pub due_date: Option<NaiveDate>,
}

impl WorkPlanInput {
    /// Every field is needed, and the due date may not pass the task's deadline.
    pub fn validate(
        self,
        task_deadline: Option<NaiveDate>,
    ) -> Result<WorkPlan, Vec<fazhi_platform::error::FieldViolation>> {
        use fazhi_platform::error::FieldViolation;
        let mut violations = Vec::new();
        for (field, value) in [
            ("work_plan.leader_in_charge", &self.leader_in_charge),
            ("work_plan.person_responsible", &self.person_responsible),
            ("work_plan.measures", &self.measures),
        ] {
            if value.trim().is_empty() {
                violations.push(FieldViolation::required(field));
            }
        }
        match (self.due_date, task_deadline) {
            (None, _) => violations.push(FieldViolation::required("work_plan.due_date")),
            (Some(due), Some(deadline)) if due > deadline => violations.push(FieldViolation::new(
                "work_plan.due_date",
                "AFTER_TASK_DEADLINE",
                format!("due_date may not be later than the task's deadline {deadline}"),
                format!("完成时限不得晚于任务期限 {deadline}"),
            )),
            _ => {}
        }
        match (self.due_date, violations.is_empty()) {
            (Some(due_date), true) => Ok(WorkPlan {
                leader_in_charge: self.leader_in_charge.trim().to_owned(),
                person_responsible: self.person_responsible.trim().to_owned(),
                measures: self.measures.trim().to_owned(),
                due_date,
            }),
            _ => Err(violations),
        }
    }
}

/// A task's deadline: the earliest date its text fixes.
pub fn task_deadline(task: &Task) -> Option<NaiveDate> {
    task.deadlines
        .iter()
        .filter_map(|deadline| deadline.date)
        .min()
}

/// An assignment to create on publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub task_id: String,
    pub unit: String,
    pub role: Role,
    pub mention: String,
    /// The task's deadline.
    pub due_date: Option<NaiveDate>,
}

/// Why a plan cannot be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishRefusal {
    NotDraft(PlanState),
    /// `task number: mention` of each unresolved mention.
    UnresolvedMentions(Vec<String>),
}

/// Checks that a plan may be published: a draft whose every mention is resolved.
pub fn check_publishable(plan: &Plan, tasks: &[Task]) -> Result<(), PublishRefusal> {
    if plan.state != PlanState::Draft {
        return Err(PublishRefusal::NotDraft(plan.state));
    }
    let unresolved: Vec<String> = tasks
        .iter()
        .flat_map(|task| {
            task.mentions
                .iter()
                .filter(|mention| mention.resolution.target.is_none())
                .map(move |mention| format!("{}: {}", task.number, mention.mention))
        })
        .collect();
    if unresolved.is_empty() {
        Ok(())
    } else {
        Err(PublishRefusal::UnresolvedMentions(unresolved))
    }
}

/// The groups whose members publishing needs, by name.
pub fn groups_to_expand(tasks: &[Task]) -> Vec<String> {
    let mut groups: Vec<String> = tasks
        .iter()
        .flat_map(|task| &task.mentions)
        .filter_map(|mention| match &mention.resolution.target {
            Some(MentionTarget::Group(group)) => Some(group.clone()),
            _ => None,
        })
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// One assignment per task, unit and role: a unit named twice (各乡镇 and 街道 are the same group)
/// gets one, from the first mention.
pub fn assignments(tasks: &[Task], members: &HashMap<String, Vec<String>>) -> Vec<NewAssignment> {
    let mut seen = std::collections::HashSet::new();
    let mut assignments = Vec::new();
    for task in tasks {
        for mention in &task.mentions {
            let units: Vec<String> = match &mention.resolution.target {
                Some(MentionTarget::Unit(unit)) => {
                    vec![unit.trim_start_matches("units/").to_owned()]
                }
                Some(MentionTarget::Group(group)) => {
                    members.get(group).cloned().unwrap_or_default()
                }
                None => Vec::new(),
            };
            for unit in units {
                if seen.insert((task.id.clone(), unit.clone(), mention.role)) {
                    assignments.push(NewAssignment {
                        task_id: task.id.clone(),
                        unit,
                        role: mention.role,
                        mention: mention.mention.clone(),
                        due_date: task_deadline(task),
                    });
                }
            }
        }
    }
    assignments
}

/// A plan to store: its fields and tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub id: PlanId,
    pub title: String,
    pub document_number: String,
    pub issuer: String,
    pub period: Option<(i32, i32)>,
    pub tasks: Vec<Task>,
    pub report: ImportReport,
    pub parent_plan: Option<PlanId>,
    pub kind: Option<PlanKind>,
    pub phases: Vec<Phase>,
}

/// Every distinct mention of a parse, in first-seen order: what to ask the units service.
pub fn distinct_mentions(parsed: &ParsedPlan) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    parsed
        .tasks
        .iter()
        .flat_map(|task| {
            task.lead
                .iter()
                .chain(&task.responsible)
                .chain(&task.participating)
        })
        .filter(|mention| seen.insert(mention.mention.clone()))
        .map(|mention| mention.mention.clone())
        .collect()
}

/// Builds the draft from a parse and the resolutions of its mentions; unresolved mentions
/// become warnings with their candidates.
pub fn draft(
    id: PlanId,
    issuer: String,
    parsed: ParsedPlan,
    resolutions: &HashMap<String, MentionResolution>,
) -> Draft {
    let part_titles: HashMap<&str, &str> = parsed
        .parts
        .iter()
        .map(|part| (part.number.as_str(), part.title.as_str()))
        .collect();
    let section_titles: HashMap<(&str, &str), &str> = parsed
        .parts
        .iter()
        .flat_map(|part| {
            part.sections.iter().map(move |section| {
                (
                    (part.number.as_str(), section.number.as_str()),
                    section.title.as_str(),
                )
            })
        })
        .collect();
    let mut report = ImportReport {
        task_count: parsed.tasks.len() as i32,
        ..ImportReport::default()
    };
    report.warnings = parsed
        .warnings
        .iter()
        .map(|warning| ReportWarning {
            code: warning.code.to_owned(),
            line: warning.line as i32,
            message: warning.message.clone(),
        })
        .collect();
    let mut tasks = Vec::with_capacity(parsed.tasks.len());
    for (position, parsed_task) in parsed.tasks.into_iter().enumerate() {
        let part = parsed_task.part.clone().unwrap_or_default();
        let section = parsed_task.section.clone().unwrap_or_default();
        let roles = [
            (Role::Lead, &parsed_task.lead),
            (Role::Responsible, &parsed_task.responsible),
            (Role::Participating, &parsed_task.participating),
        ];
        let mentions = roles
            .into_iter()
            .flat_map(|(role, list)| {
                list.iter().map(move |mention| TaskMention {
                    role,
                    mention: mention.mention.clone(),
                    resolution: MentionResolution::unresolved(),
                })
            })
            .collect();
        tasks.push(Task {
            id: format!("t{}", position + 1),
            position: position as i32 + 1,
            part_title: part_titles
                .get(part.as_str())
                .map(|title| (*title).to_owned())
                .unwrap_or_default(),
            section_title: section_titles
                .get(&(part.as_str(), section.as_str()))
                .map(|title| (*title).to_owned())
                .unwrap_or_default(),
            number: parsed_task.number,
            title: parsed_task.title,
            text: parsed_task.text,
            part_number: part,
            section_number: section,
            source_line: parsed_task.line as i32,
            mentions,
            deadlines: parsed_task.deadlines,
            targets: parsed_task.targets,
            parent_task: None,
        });
    }
    apply_resolutions(&mut tasks, resolutions, &mut report);
    Draft {
        id,
        kind: infer_kind(&parsed.title, parsed.period),
        phases: parsed
            .phases
            .into_iter()
            .map(|phase| Phase {
                title: phase.title,
                start_date: phase.start_date,
                end_date: phase.end_date,
            })
            .collect(),
        title: parsed.title,
        document_number: parsed.document_number.unwrap_or_default(),
        issuer,
        period: parsed.period,
        tasks,
        report,
        parent_plan: None,
    }
}
