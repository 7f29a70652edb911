//! Editing a plan's fields and a draft's tasks: what an edit may change, checked.

use fazhi_platform::error::FieldViolation;

use super::import::{deadlines, targets};
use super::plan::{Phase, Plan, PlanKind, PlanState, Task};

/// A new value for one field of a plan.
#[derive(Debug, Clone)]
pub enum PlanField {
    Title(String),
    DocumentNumber(String),
    Kind(Option<PlanKind>),
    PeriodStartYear(i32),
    PeriodEndYear(i32),
    Phases(Vec<Phase>),
}

impl PlanField {
    pub fn path(&self) -> &'static str {
        match self {
            Self::Title(_) => "title",
            Self::DocumentNumber(_) => "document_number",
            Self::Kind(_) => "kind",
            Self::PeriodStartYear(_) => "period_start_year",
            Self::PeriodEndYear(_) => "period_end_year",
            Self::Phases(_) => "phases",
        }
    }
}

fn violation(field: &str, reason: &'static str, english: &str, chinese: &str) -> FieldViolation {
    FieldViolation::new(format!("plan.{field}"), reason, english, chinese)
}

/// The plan with the fields set, or every violation: a title, a period of sane years in order,
/// phases titled with their dates in order.
pub fn edit_plan(plan: &Plan, fields: Vec<PlanField>) -> Result<Plan, Vec<FieldViolation>> {
    let mut edited = plan.clone();
    let mut violations = Vec::new();
    let (mut start, mut end) = plan.period.unzip();
    for field in fields {
        match field {
            PlanField::Title(title) if title.trim().is_empty() => {
                violations.push(FieldViolation::required("plan.title"))
            }
            PlanField::Title(title) => edited.title = title.trim().to_owned(),
            PlanField::DocumentNumber(number) => edited.document_number = number.trim().to_owned(),
            PlanField::Kind(kind) => edited.kind = kind,
            PlanField::PeriodStartYear(year) => start = (year != 0).then_some(year),
            PlanField::PeriodEndYear(year) => end = (year != 0).then_some(year),
            PlanField::Phases(phases) => {
                for (index, phase) in phases.iter().enumerate() {
                    if phase.title.trim().is_empty() {
                        violations.push(FieldViolation::required(format!(
                            "plan.phases[{index}].title"
                        )));
                    }
                    if phase.start_date > phase.end_date {
                        violations.push(violation(
                            &format!("phases[{index}].end_date"),
                            "END_BEFORE_START",
                            "a phase may not end before it starts",
                            "阶段结束日期不得早于开始日期",
                        ));
                    }
                }
                if phases
                    .windows(2)
                    .any(|pair| pair[1].start_date < pair[0].start_date)
                {
                    violations.push(violation(
                        "phases",
                        "OUT_OF_ORDER",
                        "phases must be in the order they start",
                        "各阶段须按开始日期先后排列",
                    ));
                }
                edited.phases = phases
                    .into_iter()
                    .map(|phase| Phase {
                        title: phase.title.trim().to_owned(),
                        ..phase
                    })
                    .collect();
            }
        }
    }
    edited.period = match (start, end) {
        (None, None) => None,
        (Some(start), Some(end))
            if (1949..=2100).contains(&start) && start <= end && end <= 2100 =>
        {
            Some((start, end))
        }
        _ => {
            violations.push(violation(
                "period_end_year",
                "INVALID_PERIOD",
                "the period needs a first and a last year, in order, between 1949 and 2100",
                "实施期限须同时给出起止年份,且起始年份不晚于截止年份",
            ));
            plan.period
        }
    };
    if violations.is_empty() {
        Ok(edited)
    } else {
        Err(violations)
    }
}

/// Why a plan may not be edited as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditRefusal {
    Closed,
    NotDraft,
    NotPublished,
}

/// Plans are edited until closed.
pub fn check_editable(plan: &Plan) -> Result<(), EditRefusal> {
    match plan.state {
        PlanState::Closed => Err(EditRefusal::Closed),
        _ => Ok(()),
    }
}

/// Tasks are edited while the plan is a draft: published tasks have assignments made from them.
pub fn check_tasks_editable(plan: &Plan) -> Result<(), EditRefusal> {
    match plan.state {
        PlanState::Draft => Ok(()),
        _ => Err(EditRefusal::NotDraft),
    }
}

/// Only a draft is deleted: a published plan has assignments units work on.
pub fn check_deletable(plan: &Plan) -> Result<(), EditRefusal> {
    check_tasks_editable(plan)
}

/// Only a published plan is closed.
pub fn close(plan: &Plan) -> Result<Plan, EditRefusal> {
    match plan.state {
        PlanState::Published => Ok(Plan {
            state: PlanState::Closed,
            ..plan.clone()
        }),
        _ => Err(EditRefusal::NotPublished),
    }
}

/// A task with a new title and/or text; deadlines and targets are read again from new text.
pub fn edit_task(
    task: &Task,
    title: Option<String>,
    text: Option<String>,
    plan_year: Option<i32>,
) -> Result<Task, Vec<FieldViolation>> {
    let mut edited = task.clone();
    let mut violations = Vec::new();
    if let Some(title) = title {
        match title.trim() {
            "" => violations.push(FieldViolation::required("task.title")),
            title => edited.title = title.to_owned(),
        }
    }
    if let Some(text) = text {
        match text.trim() {
            "" => violations.push(FieldViolation::required("task.text")),
            text => {
                edited.deadlines = deadlines::find(text, plan_year);
                edited.targets = targets::find(text);
                edited.text = text.to_owned();
            }
        }
    }
    if violations.is_empty() {
        Ok(edited)
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::infer_kind;
    use super::*;

    #[test]
    fn kinds_are_read_from_titles() {
        assert_eq!(
            infer_kind("通辽市2020年度法治政府建设工作实施方案", Some((2020, 2020))),
            Some(PlanKind::Annual)
        );
        assert_eq!(
            infer_kind("宁国市政府系统依法行政能力提升行动方案", None),
            Some(PlanKind::SpecialAction)
        );
        assert_eq!(
            infer_kind("许昌市法治政府建设实施方案", Some((2022, 2025))),
            Some(PlanKind::MultiYear)
        );
        assert_eq!(infer_kind("某方案", None), None);
    }
}
