//! XLSX tables in the shape plans annex them: a title row over the table, a header row, one row
//! per task (任务分解表) or per assignment (progress table).

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::domain::{Assignment, AssignmentState, Role, Task};

/// A cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

/// A table to write: its title, headers with column widths, and rows.
pub struct Table {
    pub title: String,
    pub headers: Vec<(&'static str, f64)>,
    pub rows: Vec<Vec<Cell>>,
}

/// The task breakdown table (任务分解表), as in the annex of 通辽市2020年度…实施方案: 序号,
/// 重点工作任务, 牵头单位, 责任单位, then 配合单位 where any task names participating units, and
/// 完成时限. The importer reads it back (`import::parse_document`).
pub fn task_breakdown(plan_title: &str, tasks: &[Task]) -> Table {
    let mentions = |task: &Task, role: Role| {
        task.mentions
            .iter()
            .filter(|mention| mention.role == role)
            .map(|mention| mention.mention.as_str())
            .collect::<Vec<_>>()
            .join("、")
    };
    let participating = tasks.iter().any(|task| {
        task.mentions
            .iter()
            .any(|mention| mention.role == Role::Participating)
    });
    let rows = tasks
        .iter()
        .map(|task| {
            let deadlines: Vec<&str> = task
                .deadlines
                .iter()
                .map(|deadline| deadline.text.as_str())
                .collect();
            let mut row = vec![
                Cell::Text(task.number.clone()),
                Cell::Text(task.text.clone()),
                Cell::Text(mentions(task, Role::Lead)),
                Cell::Text(mentions(task, Role::Responsible)),
            ];
            if participating {
                row.push(Cell::Text(mentions(task, Role::Participating)));
            }
            row.push(Cell::Text(deadlines.join("、")));
            row
        })
        .collect();
    let mut headers = vec![
        ("序号", 6.0),
        ("重点工作任务", 60.0),
        ("牵头单位", 20.0),
        ("责任单位", 30.0),
    ];
    if participating {
        headers.push(("配合单位", 24.0));
    }
    headers.push(("完成时限", 14.0));
    Table {
        title: format!("{plan_title}重点工作任务分解表"),
        headers,
        rows,
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Lead => "牵头",
        Role::Responsible => "责任",
        Role::Participating => "配合",
    }
}

fn state_label(assignment: &Assignment) -> &'static str {
    match (assignment.state, assignment.progress) {
        (AssignmentState::Open, _) => "未认领",
        (AssignmentState::Completed, _) => "已完成",
        (AssignmentState::Claimed, Some((status, _, _))) => status.label(),
        (AssignmentState::Claimed, None) => "已认领",
    }
}

/// One row per assignment: the task, the unit (by display name where known), its role, where
/// it stands, its due date, percent, last report and days overdue as of a day.
pub fn progress(
    plan_title: &str,
    assignments: &[Assignment],
    unit_names: &HashMap<String, String>,
    as_of: NaiveDate,
) -> Table {
    let rows = assignments
        .iter()
        .map(|assignment| {
            let (percent, reported) = assignment
                .progress
                .map(|(_, percent, time)| {
                    (
                        Cell::Number(f64::from(percent)),
                        Cell::Text(time.date_naive().to_string()),
                    )
                })
                .unwrap_or((Cell::Text(String::new()), Cell::Text(String::new())));
            vec![
                Cell::Text(assignment.task_number.clone()),
                Cell::Text(assignment.task_title.clone()),
                Cell::Text(
                    unit_names
                        .get(&assignment.unit)
                        .cloned()
                        .unwrap_or_else(|| assignment.unit.clone()),
                ),
                Cell::Text(role_label(assignment.role).to_owned()),
                Cell::Text(state_label(assignment).to_owned()),
                Cell::Text(
                    assignment
                        .due_date
                        .map(|date| date.to_string())
                        .unwrap_or_default(),
                ),
                percent,
                reported,
                match assignment.days_overdue(as_of) {
                    Some(days) => Cell::Number(days as f64),
                    None => Cell::Text(String::new()),
                },
            ]
        })
        .collect();
    Table {
        title: format!("{plan_title}任务进展情况表({as_of})"),
        headers: vec![
            ("序号", 6.0),
            ("重点工作任务", 40.0),
            ("单位", 24.0),
            ("角色", 6.0),
            ("状态", 8.0),
            ("完成时限", 12.0),
            ("完成进度(%)", 10.0),
            ("最近报送", 12.0),
            ("逾期天数", 8.0),
        ],
        rows,
    }
}

/// The workbook: one sheet, the title merged over the table, headers frozen.
pub fn to_xlsx(table: &Table) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let header = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border(FormatBorder::Thin);
    let body = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter)
        .set_border(FormatBorder::Thin);
    let last_column = table.headers.len().saturating_sub(1) as u16;
    sheet.merge_range(0, 0, 0, last_column, &table.title, &title)?;
    for (column, (name, width)) in table.headers.iter().enumerate() {
        sheet.set_column_width(column as u16, *width)?;
        sheet.write_with_format(1, column as u16, *name, &header)?;
    }
    for (index, row) in table.rows.iter().enumerate() {
        let row_number = index as u32 + 2;
        for (column, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(text) => {
                    sheet.write_with_format(row_number, column as u16, text, &body)?
                }
                Cell::Number(number) => {
                    sheet.write_with_format(row_number, column as u16, *number, &body)?
                }
            };
        }
    }
    sheet.set_freeze_panes(2, 0)?;
    workbook.save_to_buffer()
}
