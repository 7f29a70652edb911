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

/// A task's number, title and text typed in by hand; imported ones are bounded by the
/// document's size. Past these a change is refused, naming the field.
const MAX_NUMBER_CHARS: usize = 40;
const MAX_TITLE_CHARS: usize = 500;
const MAX_TEXT_CHARS: usize = 20_000;

/// Refuses a field over `max` characters.
fn check_length(field: &str, value: &str, max: usize, violations: &mut Vec<FieldViolation>) {
    if value.chars().count() > max {
        violations.push(FieldViolation::too_long(field, max));
    }
}

/// A task with a new number, title and/or text; deadlines and targets are read again from new
/// text.
pub fn edit_task(
    task: &Task,
    (number, title, text): (Option<String>, Option<String>, Option<String>),
    plan_year: Option<i32>,
) -> Result<Task, Vec<FieldViolation>> {
    let mut edited = task.clone();
    let mut violations = Vec::new();
    for (field, value, max) in [
        ("task.number", &number, MAX_NUMBER_CHARS),
        ("task.title", &title, MAX_TITLE_CHARS),
        ("task.text", &text, MAX_TEXT_CHARS),
    ] {
        check_length(
            field,
            value.as_deref().unwrap_or_default(),
            max,
            &mut violations,
        );
    }
    if let Some(number) = number {
        match number.trim() {
            "" => violations.push(FieldViolation::required("task.number")),
            number => edited.number = number.to_owned(),
        }
    }
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

/// Where a task stands in its plan: its part (一、) and section ((一)), each empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPlace {
    pub part_number: String,
    pub part_title: String,
    pub section_number: String,
    pub section_title: String,
}

impl TaskPlace {
    fn of(task: &Task) -> Self {
        Self {
            part_number: task.part_number.clone(),
            part_title: task.part_title.clone(),
            section_number: task.section_number.clone(),
            section_title: task.section_title.clone(),
        }
    }

    /// The task in this place.
    pub fn put(self, task: &Task) -> Task {
        Task {
            part_number: self.part_number.trim().to_owned(),
            part_title: self.part_title.trim().to_owned(),
            section_number: self.section_number.trim().to_owned(),
            section_title: self.section_title.trim().to_owned(),
            ..task.clone()
        }
    }
}

/// A task typed in by hand.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub number: String,
    pub title: String,
    pub text: String,
    pub place: TaskPlace,
}

/// The task to add to a draft holding `tasks`: a number no other task has and a text, the title
/// the text's first sentence when none is given, and an id no task of the plan has had since
/// (one past the highest).
pub fn new_task(
    tasks: &[Task],
    new: NewTask,
    plan_year: Option<i32>,
) -> Result<Task, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let number = new.number.trim();
    if number.is_empty() {
        violations.push(FieldViolation::required("task.number"));
    } else if tasks.iter().any(|task| task.number == number) {
        violations.push(FieldViolation::new(
            "task.number",
            "DUPLICATE_NUMBER",
            format!("the plan has a task numbered {number} already"),
            format!("方案中已有编号为 {number} 的任务"),
        ));
    }
    let text = new.text.trim();
    if text.is_empty() {
        violations.push(FieldViolation::required("task.text"));
    }
    check_length("task.number", number, MAX_NUMBER_CHARS, &mut violations);
    check_length("task.title", &new.title, MAX_TITLE_CHARS, &mut violations);
    check_length("task.text", text, MAX_TEXT_CHARS, &mut violations);
    if !violations.is_empty() {
        return Err(violations);
    }
    let title = match new.title.trim() {
        "" => text
            .split(['。', ';', '!', '?'])
            .next()
            .unwrap_or(text)
            .to_owned(),
        title => title.to_owned(),
    };
    let next = tasks
        .iter()
        .filter_map(|task| task.id.strip_prefix('t')?.parse::<i64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let task = Task {
        id: format!("t{next}"),
        position: 0,
        number: number.to_owned(),
        title,
        text: text.to_owned(),
        part_number: String::new(),
        part_title: String::new(),
        section_number: String::new(),
        section_title: String::new(),
        source_line: 0,
        mentions: Vec::new(),
        deadlines: deadlines::find(text, plan_year),
        targets: targets::find(text),
        parent_task: None,
    };
    Ok(new.place.put(&task))
}

/// The ids of `tasks` (in document order) with `moving` put before `before` (`None`: at the
/// end); `moving` need not be among them yet. `before` must name another task of the plan.
pub fn reorder(
    tasks: &[Task],
    moving: &str,
    before: Option<&str>,
) -> Result<Vec<String>, FieldViolation> {
    let mut order: Vec<String> = tasks
        .iter()
        .map(|task| task.id.clone())
        .filter(|id| id != moving)
        .collect();
    let at = match before {
        None => order.len(),
        Some(before) => order.iter().position(|id| id == before).ok_or_else(|| {
            FieldViolation::new(
                "before_task",
                "TASK_NOT_FOUND",
                format!("the plan has no other task {before}"),
                format!("方案中没有任务 {before}"),
            )
        })?,
    };
    order.insert(at, moving.to_owned());
    Ok(order)
}

/// Whether a move changes the task's part or section.
pub fn moves_place(task: &Task, place: &TaskPlace) -> bool {
    TaskPlace::of(task) != *place
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::plan::infer_kind;
    use super::*;

    fn task(id: &str, number: &str) -> Task {
        new_task(
            &[],
            NewTask {
                number: number.to_owned(),
                text: "开展执法检查。每年不少于2次".to_owned(),
                ..NewTask::default()
            },
            Some(2024),
        )
        .map(|task| Task {
            id: id.to_owned(),
            ..task
        })
        .unwrap()
    }

    #[test]
    fn hand_typed_fields_are_bounded() {
        let long = |count: usize| "长".repeat(count);
        let refused = new_task(
            &[],
            NewTask {
                number: long(41),
                title: long(501),
                text: long(20_001),
                ..NewTask::default()
            },
            Some(2024),
        )
        .unwrap_err();
        let fields: Vec<&str> = refused
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["task.number", "task.title", "task.text"]);
        let edited = edit_task(&task("t1", "1"), (None, Some(long(501)), None), Some(2024));
        assert_eq!(edited.unwrap_err()[0].field, "task.title");
        assert!(edit_task(&task("t1", "1"), (None, Some(long(500)), None), Some(2024)).is_ok());
    }

    #[test]
    fn a_new_task_is_checked_and_takes_an_unused_id() {
        let tasks = [task("t1", "1"), task("t7", "2")];
        let added = new_task(
            &tasks,
            NewTask {
                number: "3".to_owned(),
                text: " 推进政务公开。2024年6月底前完成 ".to_owned(),
                place: TaskPlace {
                    part_number: "二".to_owned(),
                    part_title: "主要任务".to_owned(),
                    ..TaskPlace::default()
                },
                ..NewTask::default()
            },
            Some(2024),
        )
        .unwrap();
        assert_eq!(
            (
                added.id.as_str(),
                added.title.as_str(),
                added.part_number.as_str()
            ),
            ("t8", "推进政务公开", "二")
        );
        assert_eq!(added.deadlines.len(), 1);
        let refused = new_task(
            &tasks,
            NewTask {
                number: "2".to_owned(),
                ..NewTask::default()
            },
            None,
        )
        .unwrap_err();
        let fields: Vec<&str> = refused
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["task.number", "task.text"]);
    }

    #[test]
    fn tasks_are_reordered_around_the_moving_one() {
        let tasks = [task("t1", "1"), task("t2", "2"), task("t3", "3")];
        assert_eq!(
            reorder(&tasks, "t3", Some("t1")).unwrap(),
            ["t3", "t1", "t2"]
        );
        assert_eq!(reorder(&tasks, "t1", None).unwrap(), ["t2", "t3", "t1"]);
        assert_eq!(
            reorder(&tasks, "t9", Some("t2")).unwrap(),
            ["t1", "t9", "t2", "t3"]
        );
        assert!(reorder(&tasks, "t1", Some("t1")).is_err());
        assert!(reorder(&tasks, "t1", Some("t8")).is_err());
    }

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
