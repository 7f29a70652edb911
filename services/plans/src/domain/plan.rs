//! Plans and their tasks as the service keeps them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::import::{Deadline, ParsedPlan, QuantitativeTarget};

fazhi_platform::resource_id!(
    /// The `{plan}` of `plans/{plan}`.
    PlanId,
    "plans",
    "p"
);

/// Where a plan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    Draft,
    Published,
    Closed,
}

impl PlanState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Closed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// The role a unit has in a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 牵头单位
    Lead,
    /// 责任单位
    Responsible,
    /// 参加/配合单位
    Participating,
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
    let unresolved = || MentionResolution {
        target: None,
        confidence: 0.0,
        method: "unresolved".to_owned(),
        candidates: Vec::new(),
    };
    let mut tasks = Vec::with_capacity(parsed.tasks.len());
    for (position, parsed_task) in parsed.tasks.into_iter().enumerate() {
        let part = parsed_task.part.clone().unwrap_or_default();
        let section = parsed_task.section.clone().unwrap_or_default();
        let roles = [
            (Role::Lead, &parsed_task.lead),
            (Role::Responsible, &parsed_task.responsible),
            (Role::Participating, &parsed_task.participating),
        ];
        let mut mentions = Vec::new();
        for (role, list) in roles {
            for mention in list {
                let resolution = resolutions
                    .get(&mention.mention)
                    .cloned()
                    .unwrap_or_else(unresolved);
                report.mention_count += 1;
                if resolution.target.is_some() {
                    report.resolved_mention_count += 1;
                } else {
                    report.warnings.push(ReportWarning {
                        code: "UNRESOLVED_MENTION".to_owned(),
                        line: parsed_task.line as i32,
                        message: format!(
                            "task {}: {} not resolved; candidates: {}",
                            parsed_task.number,
                            mention.mention,
                            resolution.candidates.join(", ")
                        ),
                    });
                }
                mentions.push(TaskMention {
                    role,
                    mention: mention.mention.clone(),
                    resolution,
                });
            }
        }
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
        });
    }
    Draft {
        id,
        title: parsed.title,
        document_number: parsed.document_number.unwrap_or_default(),
        issuer,
        period: parsed.period,
        tasks,
        report,
    }
}
