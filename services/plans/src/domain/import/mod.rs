//! The plan importer: the text of a published plan → a structured draft.
//!
//! Layered so that a new layout needs a new rule in one layer, not a new parser:
//! 0. [`docx`] turns .docx bytes into text (plain text passes through); [`workbook`] reads an
//!    .xlsx task breakdown table straight into tasks;
//! 1. [`normalize`] cleans characters and keeps line numbers; [`reline`] cuts the text into the
//!    lines the document means (noise numbers dropped, the item style chosen by evidence);
//! 2. [`segment`] says what each line is;
//! 3. this module builds the structure — title, parts (一、), sections ((一)), tasks (1.) or the
//!    rows of an annexed task breakdown table (任务分解表) — and reports what it could not place;
//! 4. [`assignments`] splits unit cells into mentions;
//! 5. [`deadlines`] and [`targets`] read dates, recurrences and quantitative targets from the
//!    text, [`phases`] the stages (实施步骤) with their dates.
//!
//! Resolving mentions to units is the units service's work, not the parser's.

mod assignments;
pub(crate) mod deadlines;
mod docx;
mod normalize;
mod phases;
mod reline;
mod segment;
pub(crate) mod targets;
mod workbook;

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

pub use deadlines::{Deadline, Recurrence};
pub use docx::{DocumentError, MAX_DOCUMENT_BYTES, document_text};
pub use phases::ParsedPhase;
pub use targets::{Comparator, QuantitativeTarget};

use normalize::Line;
use segment::{LabelRole, LineKind, classify, first_sentence};

/// A parsed plan, in document order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedPlan {
    pub title: String,
    /// 文号, e.g. 宁政〔2024〕9号.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    /// The years the plan covers, e.g. (2022, 2025) or (2020, 2020).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<(i32, i32)>,
    pub parts: Vec<Part>,
    pub tasks: Vec<Task>,
    /// Stages (实施步骤) with their dates, in document order.
    pub phases: Vec<ParsedPhase>,
    pub warnings: Vec<Warning>,
}

/// 一、… with its sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub number: String,
    pub title: String,
    pub sections: Vec<Section>,
}

/// (一)…
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub number: String,
    pub title: String,
}

/// A task (重点工作任务) as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub number: String,
    pub title: String,
    pub text: String,
    pub part: Option<String>,
    pub section: Option<String>,
    /// 牵头单位
    pub lead: Vec<Mention>,
    /// 责任单位
    pub responsible: Vec<Mention>,
    /// 配合/参加单位
    pub participating: Vec<Mention>,
    pub deadlines: Vec<Deadline>,
    pub targets: Vec<QuantitativeTarget>,
    /// Source line of the task's number.
    pub line: usize,
}

/// A unit or group as the plan names it; resolved later by the units service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mention {
    pub mention: String,
}

/// Something the importer could not place, or placed with doubt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable: `NUMBER_GAP`, `DUPLICATE_NUMBER`, `NUMBER_OUT_OF_ORDER`, `NOISE_DROPPED`,
    /// `NO_ASSIGNMENTS`, `TASK_WITHOUT_UNITS`, `LABEL_OUTSIDE_TASK`, `NO_TASKS`,
    /// `PHASE_DATES_RECOVERED`, `PHASE_DATES_UNREADABLE`, `TASKS_FROM_HEADINGS`, `ROW_WITHOUT_TASK`,
    /// `UNITS_FROM_ROW_ABOVE`, `ITEM_NOT_A_TASK`.
    pub code: &'static str,
    pub line: usize,
    pub message: String,
}

/// A notice line issuing the plan; it ends the line (a notice cited inside a sentence does not).
static NOTICE_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"关于印发《?(.+?)》?的通知$").expect("a valid pattern"));
static DOCUMENT_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{Han}]{1,6}〔\d{4}〕\d{1,4}号").expect("a valid pattern"));
static YEAR_RANGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(20\d{2})\s*[—\-–~至]+\s*(20\d{2})年").expect("a valid pattern"));
/// A line that only states the period, as printed under a title: (2022—2025年).
static PERIOD_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(?(20\d{2})\s*[—\-–~至]+\s*(20\d{2})年?\)?$").expect("a valid pattern")
});
static NUMBER_YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"〔(20\d{2})〕").expect("a valid pattern"));
static YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(20\d{2})年").expect("a valid pattern"));
static TASK_PART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"任务|重点工作|主要工作|工作内容|主要措施|具体措施|举措").expect("a valid pattern")
});
static TABLE_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"任务分解表|任务清单|责任分工表|分工方案表|任务台账|工作台账")
        .expect("a valid pattern")
});

/// Parses plan text. Never fails: what it cannot place becomes a warning.
pub fn parse(text: &str) -> ParsedPlan {
    let (lines, style) = reline::reline(normalize::normalize(text));
    let kinds: Vec<LineKind> = lines.iter().map(|line| classify(line, style)).collect();
    let mut warnings = Vec::new();
    let noise: Vec<usize> = lines
        .iter()
        .zip(&kinds)
        .filter(|(_, kind)| **kind == LineKind::Noise)
        .map(|(line, _)| line.number)
        .collect();
    if !noise.is_empty() {
        warnings.push(Warning {
            code: "NOISE_DROPPED",
            line: noise[0],
            message: format!(
                "dropped {} lines of page navigation or metadata (lines {:?})",
                noise.len(),
                noise
            ),
        });
    }
    let (title, body_start) = find_title(&lines, &kinds);
    // The plan's own number is printed before its body; numbers in the body are cited documents.
    let document_number = lines[..body_start.min(lines.len())]
        .iter()
        .find_map(|line| {
            DOCUMENT_NUMBER
                .find(&line.text)
                .map(|found| found.as_str().to_owned())
        });
    let period = find_period(&title, &lines[body_start.min(lines.len())..]).or_else(|| {
        let year: i32 = NUMBER_YEAR.captures(document_number.as_deref()?)?[1]
            .parse()
            .ok()?;
        Some((year, year))
    });
    let plan_year = period.map(|(first, _)| first);

    let body = &lines[body_start.min(lines.len())..];
    let body_kinds = &kinds[body_start.min(kinds.len())..];
    let parts = collect_parts(body, body_kinds);
    // A table whose title is the document's own (…任务台账) starts in the body.
    let table = find_table(body, body_kinds).or_else(|| {
        (TABLE_TITLE.is_match(&title) && body_kinds.contains(&LineKind::RowNumber(1))).then_some(0)
    });
    let mut found_warnings = Vec::new();
    let mut tasks = match table {
        Some(start) => table_tasks(&body[start..], &body_kinds[start..], &mut found_warnings),
        None => item_tasks(body, body_kinds, &mut found_warnings),
    };
    // What the items said is moot when the headings are the tasks.
    if !tasks.is_empty() {
        warnings.append(&mut found_warnings);
    }
    if tasks.is_empty() {
        tasks = heading_tasks(body, body_kinds);
        if let Some(first) = tasks.first() {
            warnings.push(Warning {
                code: "TASKS_FROM_HEADINGS",
                line: first.line,
                message: format!(
                    "no numbered items: took {} headings as tasks, units from their text",
                    tasks.len()
                ),
            });
        }
    }
    qualify_numbers(&mut tasks);
    read_tasks(&mut tasks, plan_year, &mut warnings);
    let (phases, phase_warnings) = phases::find(body, plan_year);
    warnings.extend(phase_warnings);
    ParsedPlan {
        title,
        document_number,
        period,
        parts,
        tasks,
        phases,
        warnings,
    }
}

/// Parses a plan given as text, .docx or a task breakdown workbook (.xlsx).
pub fn parse_document(bytes: &[u8]) -> Result<ParsedPlan, DocumentError> {
    if bytes.starts_with(docx::ZIP_MAGIC) && workbook::is_workbook(bytes) {
        let mut plan = workbook::parse_workbook(bytes)?;
        plan.period = find_period(&plan.title, &[]);
        let plan_year = plan.period.map(|(first, _)| first);
        read_tasks(&mut plan.tasks, plan_year, &mut plan.warnings);
        return Ok(plan);
    }
    Ok(parse(&document_text(bytes)?))
}

/// Deadlines and targets read from each task's text, and what the numbering and the units say.
fn read_tasks(tasks: &mut [Task], plan_year: Option<i32>, warnings: &mut Vec<Warning>) {
    for task in tasks.iter_mut() {
        task.deadlines = deadlines::find(&task.text, plan_year);
        task.targets = targets::find(&task.text);
    }
    check_numbering(tasks, warnings);
    check_assignments(tasks, warnings);
}

/// The plan's title and the index of the first body line after it. A notice (关于印发《X》的通知)
/// names the plan; the body starts where that name is printed again. Without a notice, the first
/// line that reads like a plan title; a title broken over two lines is joined.
fn find_title(lines: &[Line], kinds: &[LineKind]) -> (String, usize) {
    let looks_like_title = |text: &str| {
        text.chars().count() <= 60
            && ["方案", "要点", "计划", "规划", "意见", "安排"]
                .iter()
                .any(|ending| text.trim_end_matches(['(', ')']).ends_with(ending))
    };
    let notice = lines.iter().find_map(|line| {
        NOTICE_TITLE
            .captures(&line.text)
            .map(|captures| captures[1].to_owned())
    });
    let candidates = lines
        .iter()
        .zip(kinds)
        .enumerate()
        .filter(|(_, (_, kind))| **kind == LineKind::Text);
    for (index, (line, _)) in candidates {
        let joined = index
            .checked_sub(1)
            .map(|previous| format!("{}{}", lines[previous].text, line.text))
            .unwrap_or_default();
        let text = line.text.as_str();
        if text.contains("关于印发") || !looks_like_title(text) {
            continue;
        }
        // 工作实施方案 alone: the title was broken after its first line.
        let title = if text.chars().count() <= 8 && index > 0 && kinds[index - 1] == LineKind::Text
        {
            joined
        } else {
            text.to_owned()
        };
        let matches_notice = notice.as_ref().is_none_or(|name| similar(name, &title));
        if matches_notice {
            return (notice.clone().unwrap_or(title), index + 1);
        }
    }
    match notice {
        Some(name) => (name, 0),
        None => (
            lines
                .first()
                .map(|line| line.text.clone())
                .unwrap_or_default(),
            1.min(lines.len()),
        ),
    }
}

/// Whether two titles are the same up to a lost character or two.
fn similar(left: &str, right: &str) -> bool {
    let left: Vec<char> = left.chars().collect();
    let right: Vec<char> = right.chars().collect();
    let shared = left
        .iter()
        .filter(|character| right.contains(character))
        .count();
    shared * 10 >= left.len().max(right.len()) * 8
}

/// The period: a range in the title, a period line right under it, or a year in the title.
/// Ranges further down are usually cited documents (纲要(2015—2020年)).
fn find_period(title: &str, body: &[Line]) -> Option<(i32, i32)> {
    let range = YEAR_RANGE.captures(title).or_else(|| {
        body.first()
            .and_then(|line| PERIOD_LINE.captures(&line.text))
    });
    if let Some(captures) = range {
        return Some((captures[1].parse().ok()?, captures[2].parse().ok()?));
    }
    let year: i32 = YEAR.captures(title)?[1].parse().ok()?;
    Some((year, year))
}

fn collect_parts(body: &[Line], kinds: &[LineKind]) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for (line, kind) in body.iter().zip(kinds) {
        if !matches!(kind, LineKind::Part { .. } | LineKind::Section { .. }) {
            continue;
        }
        // A heading's title without the units it names.
        let (without_units, units) = assignments::split_inline(&line.text);
        let stripped;
        let kind = if units.is_empty() {
            kind
        } else {
            stripped = classify(
                &Line {
                    number: line.number,
                    text: without_units,
                },
                None,
            );
            &stripped
        };
        match kind {
            LineKind::Part { number, title } if !TABLE_TITLE.is_match(&line.text) => {
                parts.push(Part {
                    number: number.clone(),
                    title: title.clone(),
                    sections: Vec::new(),
                })
            }
            LineKind::Section { number, title } => {
                if let Some(part) = parts.last_mut() {
                    part.sections.push(Section {
                        number: number.clone(),
                        title: title.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    parts
}

/// Where an annexed task table begins: after its title line, when a row number 1 follows.
fn find_table(body: &[Line], kinds: &[LineKind]) -> Option<usize> {
    let title = body
        .iter()
        .rposition(|line| TABLE_TITLE.is_match(&line.text))?;
    kinds[title..]
        .contains(&LineKind::RowNumber(1))
        .then_some(title + 1)
}

fn new_task(
    number: u32,
    text: String,
    part: Option<String>,
    section: Option<String>,
    line: usize,
) -> Task {
    Task {
        number: number.to_string(),
        title: short_title(&text),
        text,
        part,
        section,
        lead: Vec::new(),
        responsible: Vec::new(),
        participating: Vec::new(),
        deadlines: Vec::new(),
        targets: Vec::new(),
        line,
    }
}

/// A short title: the first sentence, or its first clause when the sentence is long.
fn short_title(text: &str) -> String {
    let sentence = first_sentence(text);
    if sentence.chars().count() <= 30 {
        return sentence;
    }
    match sentence.find(',') {
        Some(end) if sentence[..end].chars().count() >= 6 => sentence[..end].to_owned(),
        _ => sentence,
    }
}

/// Tasks from numbered items (1. …) in the task parts, with the unit labels that follow them.
fn item_tasks(body: &[Line], kinds: &[LineKind], warnings: &mut Vec<Warning>) -> Vec<Task> {
    let any_task_part = kinds
        .iter()
        .any(|kind| matches!(kind, LineKind::Part { title, .. } if TASK_PART.is_match(title)));
    let carrying = parts_naming_units(body, kinds);
    let any_carrying = carrying.iter().any(|carries| *carries);
    // Items are tasks in the parts named like tasks (else in every part that does not frame the
    // plan), and in any part whose items name units — a 保障措施 part with units is work too.
    let is_task_part = |title: &str, carries: bool| {
        carries
            || if any_task_part {
                TASK_PART.is_match(title)
            } else {
                !any_carrying || !FRAME_PART.is_match(title)
            }
    };
    let mut parts_seen = 0;
    let mut in_task_part = !any_task_part;
    // Units a heading names hold for its items that name none: (一)…(牵头单位:县司法局).
    let (mut part_units, mut section_units) = (Vec::new(), Vec::new());
    let mut inherited: Vec<Vec<(LabelRole, String)>> = Vec::new();
    let mut part = None;
    let mut section = None;
    let mut tasks: Vec<Task> = Vec::new();
    let mut collecting = false;
    for (line, kind) in body.iter().zip(kinds) {
        match kind {
            LineKind::Part { number, title } => {
                in_task_part = is_task_part(title, carrying[parts_seen]);
                parts_seen += 1;
                part = Some(number.clone());
                section = None;
                part_units = assignments::split_inline(&line.text).1;
                section_units.clear();
                collecting = false;
            }
            LineKind::Section { number, .. } => {
                section = Some(number.clone());
                section_units = assignments::split_inline(&line.text).1;
                collecting = false;
            }
            LineKind::Item { number, text } if in_task_part => {
                tasks.push(new_task(
                    *number,
                    text.clone(),
                    part.clone(),
                    section.clone(),
                    line.number,
                ));
                inherited.push(if section_units.is_empty() {
                    part_units.clone()
                } else {
                    section_units.clone()
                });
                collecting = true;
            }
            LineKind::Item { number, .. } => {
                warnings.push(Warning {
                    code: "ITEM_NOT_A_TASK",
                    line: line.number,
                    message: format!(
                        "item {number} of part {} was not taken as a task: its part frames the plan and names no units",
                        part.as_deref().unwrap_or("-")
                    ),
                });
                collecting = false;
            }
            LineKind::Label { role, text } => match tasks.last_mut() {
                Some(task) if collecting => {
                    for (role, units) in segment::split_labels(*role, text) {
                        assign(task, role, &units);
                    }
                }
                _ => warnings.push(Warning {
                    code: "LABEL_OUTSIDE_TASK",
                    line: line.number,
                    message: format!("unit label before any task: {}", line.text),
                }),
            },
            LineKind::Text if collecting => {
                if let Some(task) = tasks.last_mut() {
                    task.text.push_str(&line.text);
                }
            }
            // Page chrome between a task and its labels belongs to neither.
            LineKind::Noise => {}
            _ => collecting = false,
        }
    }
    // Units written into the text — a bracket closing it (perhaps on a line of its own), or
    // labels run into it — once the whole text is collected.
    for (task, inherited) in tasks.iter_mut().zip(inherited) {
        let (text, inline) = assignments::split_inline(&task.text);
        if text != task.text {
            // A title that ran into the units: without them.
            task.title = short_title(&text);
        }
        task.text = text;
        for (role, cell) in inline {
            assign(task, role, &cell);
        }
        let unnamed = |task: &Task| {
            task.lead.is_empty() && task.responsible.is_empty() && task.participating.is_empty()
        };
        if unnamed(task) {
            for (role, cell) in inherited {
                assign(task, role, &cell);
            }
        }
        // No label anywhere near it: a sentence that assigns the work (由县司法局牵头).
        if unnamed(task) {
            for (role, cell) in assignments::from_prose(&task.text, assignments::Duty::Assigning) {
                assign(task, role, &cell);
            }
        }
    }
    tasks
}

/// A cell of a 完成时限 column: 2024年3月底前, 6月30日前, 年底前, 长期坚持, 每季度.
static TIME_LIMIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:20\d{2}年)?(?:\d{1,2}月)?(?:\d{1,2}日)?(?:底|末|中旬|上旬|下旬|上半年|下半年|年底|年末|年内)?(?:前|以前|之前|完成)?|长期坚持|持续推进|长期|常态化|每年|每半年|每季度|每月)$")
        .expect("a valid pattern")
});

/// Parts that frame a plan rather than assign work.
static FRAME_PART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"总体要求|指导思想|工作目标|基本原则|主要目标|保障措施|组织领导|工作要求|组织实施|实施步骤|方法步骤|工作步骤")
        .expect("a valid pattern")
});

/// Tasks of a prose plan with no numbered items: its sections ((一)) outside the framing parts,
/// else its parts (一、) that are not framing; the heading's number as printed, units read from
/// labels, a trailing bracket, or the running text.
fn heading_tasks(body: &[Line], kinds: &[LineKind]) -> Vec<Task> {
    let carrying = parts_naming_units(body, kinds);
    let mut parts_seen = 0;
    let mut framing = false;
    let mut headings: Vec<(usize, bool)> = Vec::new();
    for (index, kind) in kinds.iter().enumerate() {
        match kind {
            LineKind::Part { title, .. } => {
                // A framing part (保障措施) whose headings name units assigns work after all.
                framing = FRAME_PART.is_match(title) && !carrying[parts_seen];
                parts_seen += 1;
                if !framing {
                    headings.push((index, false));
                }
            }
            LineKind::Section { .. } if !framing => headings.push((index, true)),
            _ => {}
        }
    }
    let use_sections = headings.iter().any(|(_, section)| *section);
    let starts: Vec<usize> = headings
        .into_iter()
        .filter(|(_, section)| *section == use_sections)
        .map(|(index, _)| index)
        .collect();
    let mut tasks = Vec::new();
    let part_of = |index: usize| {
        kinds[..=index].iter().rev().find_map(|kind| match kind {
            LineKind::Part { number, .. } => Some(number.clone()),
            _ => None,
        })
    };
    for (position, start) in starts.iter().enumerate() {
        let end = starts.get(position + 1).copied().unwrap_or(kinds.len());
        let (number, section) = match &kinds[*start] {
            LineKind::Section { number, .. } => (number.clone(), Some(number.clone())),
            LineKind::Part { number, .. } => (number.clone(), None),
            _ => continue,
        };
        let part = part_of(*start);
        let heading = &body[*start].text;
        let opening = heading
            .char_indices()
            .find(|(_, character)| matches!(character, '、' | ')'))
            .map_or(heading.as_str(), |(at, character)| {
                &heading[at + character.len_utf8()..]
            });
        let mut text = opening.trim().to_owned();
        let mut labels = Vec::new();
        for (line, kind) in body[*start + 1..end].iter().zip(&kinds[*start + 1..end]) {
            match kind {
                LineKind::Label { role, text } => labels.extend(segment::split_labels(*role, text)),
                LineKind::Text | LineKind::Item { .. } => text.push_str(&line.text),
                // A later part ends the task (its sections are not ours).
                LineKind::Part { .. } => break,
                _ => {}
            }
        }
        let (text, inline) = assignments::split_inline(&text);
        let mut task = new_task(0, text, part, section, body[*start].number);
        task.number = number;
        let named = if labels.is_empty() && inline.is_empty() {
            assignments::from_prose(&task.text, assignments::Duty::Any)
        } else {
            labels.into_iter().chain(inline).collect()
        };
        for (role, cell) in named {
            assign(&mut task, role, &cell);
        }
        tasks.push(task);
    }
    tasks
}

/// 一 → 1 … 九十九 → 99.
fn chinese_numeral(text: &str) -> Option<u32> {
    let digit = |character: char| {
        "一二三四五六七八九"
            .find(character)
            .map(|at| at as u32 / 3 + 1)
    };
    let characters: Vec<char> = text.chars().collect();
    match characters.as_slice() {
        [single] if *single == '十' => Some(10),
        [single] => digit(*single),
        ['十', ones] => Some(10 + digit(*ones)?),
        [tens, '十'] => Some(digit(*tens)? * 10),
        [tens, '十', ones] => Some(digit(*tens)? * 10 + digit(*ones)?),
        _ => None,
    }
}

/// Tasks from a table flattened to one cell per line: row number, task text, lead cell, then
/// responsible cells (a cell ending in 、 continues on the next line), or cells labelled with
/// their role (牵头单位:…;责任部门:…). Headings between rows (一、 and 1. of a ledger's 一级/二级
/// 指标) are the rows' part and section, not cells. A row with no unit cell under the same
/// heading as the row above takes that row's units — a merged cell flattened — and says so.
fn table_tasks(rows: &[Line], kinds: &[LineKind], warnings: &mut Vec<Warning>) -> Vec<Task> {
    // The unit columns the header row names, in order (a table with only a 责任单位 column has
    // no lead); without headers, the first unit cell leads and the rest are responsible.
    let header_end = kinds
        .iter()
        .position(|kind| *kind == LineKind::RowNumber(1))
        .unwrap_or(0);
    let unit_columns: Vec<LabelRole> = rows[..header_end]
        .iter()
        .filter_map(|line| match workbook::column_of(&line.text) {
            Some(workbook::Column::Units(role)) => Some(role),
            _ => None,
        })
        .collect();
    let mut tasks: Vec<Task> = Vec::new();
    let mut index = 0;
    let mut expected = 1;
    let (mut part, mut section) = (None, None);
    while index < rows.len() {
        if kinds[index] != LineKind::RowNumber(expected) {
            take_heading(&kinds[index], (&mut part, &mut section));
            index += 1;
            continue;
        }
        let line = rows[index].number;
        index += 1;
        let mut cells: Vec<String> = Vec::new();
        let mut labels: Vec<(LabelRole, String)> = Vec::new();
        let (row_part, row_section) = (part.clone(), section.clone());
        while index < rows.len() && kinds[index] != LineKind::RowNumber(expected + 1) {
            // An item right after the row number is the row's text, not a heading.
            let row_text = matches!(kinds[index], LineKind::Item { .. }) && cells.is_empty();
            if !row_text && take_heading(&kinds[index], (&mut part, &mut section)) {
                index += 1;
                continue;
            }
            match &kinds[index] {
                LineKind::Noise => {}
                LineKind::Label { role, text } => labels.extend(segment::split_labels(*role, text)),
                _ => {
                    // Only unit cells continue (the first cell is the task's text).
                    let unit_cells = cells.len() > 1;
                    match cells.last_mut() {
                        Some(cell) if unit_cells && cell.ends_with('、') => {
                            cell.push_str(&rows[index].text)
                        }
                        _ => cells.push(rows[index].text.clone()),
                    }
                }
            }
            index += 1;
        }
        expected += 1;
        // A task text broken over lines: what follows it still reads as prose, not as a unit cell.
        while cells.len() > 1 && assignments::reads_as_prose(&cells[1]) {
            let continued = cells.remove(1);
            cells[0].push_str(&continued);
        }
        let mut cells = cells.into_iter();
        let Some(mut text) = cells.next() else {
            continue;
        };
        // A 完成时限 column: its cell belongs with the text, where deadlines are read.
        let (limits, units): (Vec<String>, Vec<String>) =
            cells.partition(|cell| TIME_LIMIT.is_match(cell));
        for limit in limits {
            text.push_str(&format!("(完成时限:{limit})"));
        }
        let mut task = new_task(expected - 1, text, row_part, row_section, line);
        let columns: &[LabelRole] = if unit_columns.is_empty() {
            &[LabelRole::Lead, LabelRole::Responsible]
        } else {
            &unit_columns
        };
        for (index, cell) in units.iter().enumerate() {
            // Cells past the last column continue it (a cell broken over lines).
            let role = columns[index.min(columns.len() - 1)];
            if !is_empty_cell(cell) {
                assign(&mut task, role, cell);
            }
        }
        for (role, cell) in labels {
            assign(&mut task, role, &cell);
        }
        let unnamed = task.lead.is_empty() && task.responsible.is_empty();
        if let Some(above) = tasks
            .last()
            .filter(|above| unnamed && above.part == task.part && above.section == task.section)
        {
            task.lead = above.lead.clone();
            task.responsible = above.responsible.clone();
            task.participating = above.participating.clone();
            warnings.push(Warning {
                code: "UNITS_FROM_ROW_ABOVE",
                line,
                message: format!(
                    "table row {} has no unit cell: took row {}'s (a merged cell?)",
                    task.number, above.number
                ),
            });
        }
        tasks.push(task);
    }
    tasks
}

/// A heading between a table's rows (一、, (一), 1. of a ledger's 一级/二级指标) sets the part or
/// section of the rows after it; whether `kind` was one.
fn take_heading(
    kind: &LineKind,
    (part, section): (&mut Option<String>, &mut Option<String>),
) -> bool {
    match kind {
        LineKind::Part { number, .. } => {
            *part = Some(number.clone());
            *section = None;
        }
        LineKind::Section { number, .. } => *section = Some(number.clone()),
        LineKind::Item { number, .. } => *section = Some(number.to_string()),
        _ => return false,
    }
    true
}

/// A cell left empty, or filled with a dash: 无, /, —.
fn is_empty_cell(cell: &str) -> bool {
    matches!(cell, normalize::EMPTY_CELL | "-" | "—" | "无" | "——")
}

/// Adds a cell's mentions to a role; a unit named again for the same role (sub-items of one task
/// each naming it) is kept once.
/// A mention that carries its own role in brackets — 县司法局(牵头) in a 责任单位 list — has that
/// role.
fn assign(task: &mut Task, role: LabelRole, cell: &str) {
    for mention in assignments::split_mentions(cell) {
        let (role, mention) = assignments::own_role(&mention).unwrap_or((role, mention));
        let list = match role {
            LabelRole::Lead => &mut task.lead,
            LabelRole::Responsible => &mut task.responsible,
            LabelRole::Participating => &mut task.participating,
        };
        if !list.iter().any(|known| known.mention == mention) {
            list.push(Mention { mention });
        }
    }
}

/// For each part (一、) in order, whether a line in it names units: a label, or labels or a
/// bracket of units in the text.
fn parts_naming_units(body: &[Line], kinds: &[LineKind]) -> Vec<bool> {
    let mut carrying = Vec::new();
    for (line, kind) in body.iter().zip(kinds) {
        match kind {
            LineKind::Part { .. } => carrying.push(false),
            LineKind::Label { .. } => {
                if let Some(last) = carrying.last_mut() {
                    *last = true;
                }
            }
            LineKind::Text | LineKind::Item { .. } | LineKind::Section { .. } => {
                if let Some(last) = carrying.last_mut()
                    && !*last
                {
                    *last = !assignments::split_inline(&line.text).1.is_empty();
                }
            }
            _ => {}
        }
    }
    carrying
}

/// Numbers as printed where they are unique in the plan; where numbering restarts in each part
/// (or section), qualified by it: `八.(一)`, `二.3`, `二.(一).3`.
fn qualify_numbers(tasks: &mut [Task]) {
    let unique = |numbers: &[String]| {
        let mut seen = std::collections::HashSet::new();
        numbers.iter().all(|number| seen.insert(number.as_str()))
    };
    let printed: Vec<String> = tasks.iter().map(|task| task.number.clone()).collect();
    let by_part: Vec<String> = tasks
        .iter()
        .map(|task| match &task.part {
            Some(part) => format!("{part}.{}", task.number),
            None => task.number.clone(),
        })
        .collect();
    let by_section: Vec<String> = tasks
        .iter()
        .zip(&by_part)
        .map(|(task, by_part)| match (&task.part, &task.section) {
            (Some(part), Some(section)) if *section != task.number => {
                format!("{part}.{section}.{}", task.number)
            }
            _ => by_part.clone(),
        })
        .collect();
    let chosen = if unique(&printed) {
        // A section taken as a task goes by its numeral alone where that is unique: 一, 二.
        printed
            .into_iter()
            .map(|number| number.trim_matches(['(', ')']).to_owned())
            .collect()
    } else if unique(&by_part) {
        by_part
    } else if unique(&by_section) {
        by_section
    } else {
        // Repeated even within a section: a numbering mistake, warned as printed.
        printed
    };
    for (task, number) in tasks.iter_mut().zip(chosen) {
        task.number = number;
    }
}

/// Gaps, repeats and reversals in the numbering, counted within each part or section where the
/// numbers are qualified by it.
fn check_numbering(tasks: &[Task], warnings: &mut Vec<Warning>) {
    if tasks.is_empty() {
        warnings.push(Warning {
            code: "NO_TASKS",
            line: 0,
            message: "no numbered tasks or task table found".to_owned(),
        });
        return;
    }
    let mut seen = std::collections::HashSet::new();
    let mut previous: Option<(&str, u32)> = None;
    for task in tasks {
        let (scope, last) = task
            .number
            .rsplit_once('.')
            .unwrap_or(("", task.number.as_str()));
        let last = last.trim_matches(['(', ')']);
        let number: u32 = last
            .parse()
            .ok()
            .or_else(|| chinese_numeral(last))
            .unwrap_or(0);
        if !seen.insert(task.number.as_str()) {
            warnings.push(Warning {
                code: "DUPLICATE_NUMBER",
                line: task.line,
                message: format!("task number {} appears again", task.number),
            });
        } else if let Some((previous_scope, previous)) = previous
            && previous_scope == scope
        {
            if number < previous {
                warnings.push(Warning {
                    code: "NUMBER_OUT_OF_ORDER",
                    line: task.line,
                    message: format!("task {} follows task {previous}", task.number),
                });
            } else if number > previous + 1 {
                warnings.push(Warning {
                    code: "NUMBER_GAP",
                    line: task.line,
                    message: format!("tasks {} to {} are missing", previous + 1, number - 1),
                });
            }
        }
        previous = Some((scope, number));
    }
}

fn check_assignments(tasks: &[Task], warnings: &mut Vec<Warning>) {
    let assigned = tasks
        .iter()
        .filter(|task| !task.lead.is_empty() || !task.responsible.is_empty())
        .count();
    if assigned == 0 && !tasks.is_empty() {
        warnings.push(Warning {
            code: "NO_ASSIGNMENTS",
            line: tasks[0].line,
            message: "the plan names no units per task; assign them before publishing".to_owned(),
        });
        return;
    }
    for task in tasks
        .iter()
        .filter(|task| task.lead.is_empty() && task.responsible.is_empty())
    {
        warnings.push(Warning {
            code: "TASK_WITHOUT_UNITS",
            line: task.line,
            message: format!("task {} names no lead or responsible unit", task.number),
        });
    }
}
