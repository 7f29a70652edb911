//! Layer 0 for workbooks: a task breakdown table (任务分解表) kept as .xlsx — the layout the
//! export writes and many offices hold their plans in. Its columns are found by their headers
//! (序号, 重点工作任务, 牵头单位, 责任单位, 配合单位, 完成时限), so columns in another order or an
//! extra column do not matter.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::normalize::clean_line;
use super::segment::LabelRole;
use super::{DocumentError, MAX_DOCUMENT_BYTES, ParsedPlan, Warning};

/// Whether zip bytes are a workbook rather than a Word document.
pub fn is_workbook(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(Cursor::new(bytes))
        .is_ok_and(|archive| archive.index_for_name("xl/workbook.xml").is_some())
}

/// What a table's column holds, by its header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Number,
    Text,
    Units(LabelRole),
    TimeLimit,
}

/// What a header cell says its column holds.
pub(super) fn column_of(header: &str) -> Option<Column> {
    let header: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    match header.as_str() {
        "序号" | "编号" => Some(Column::Number),
        "完成时限" | "完成时间" | "时间节点" | "时限" => Some(Column::TimeLimit),
        _ if header.contains("牵头") => Some(Column::Units(LabelRole::Lead)),
        _ if header.contains("配合") || header.contains("参与") || header.contains("协办") => {
            Some(Column::Units(LabelRole::Participating))
        }
        _ if header.contains("责任") => Some(Column::Units(LabelRole::Responsible)),
        _ if header.contains("任务") || header.contains("工作内容") || header.contains("措施") => {
            Some(Column::Text)
        }
        _ => None,
    }
}

fn cell_text(cell: &Data) -> String {
    match cell {
        // A row number typed as a number: 1, not 1.0.
        Data::Float(number) if number.fract() == 0.0 => format!("{number:.0}"),
        other => clean_line(&other.to_string()),
    }
}

/// The plan in the workbook's first sheet: the title row above the headers names it, each row
/// under them is a task. Rows without a task text are reported, not kept.
pub fn parse_workbook(bytes: &[u8]) -> Result<ParsedPlan, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(MAX_DOCUMENT_BYTES));
    }
    let not_workbook = |reason: String| DocumentError::NotWorkbook(reason);
    // The sheets are read whole: refuse a workbook that unpacks past the limit (a zip bomb)
    // before reading it.
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| not_workbook(error.to_string()))?;
    let mut unpacked = 0_u64;
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|error| not_workbook(error.to_string()))?;
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > MAX_DOCUMENT_BYTES as u64 {
        return Err(DocumentError::TooLarge(MAX_DOCUMENT_BYTES));
    }
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|error: calamine::XlsxError| not_workbook(error.to_string()))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| not_workbook("the workbook has no sheet".to_owned()))?
        .map_err(|error| not_workbook(error.to_string()))?;
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(cell_text).collect())
        .collect();
    let header_row = rows.iter().position(|row| {
        let columns: Vec<Option<Column>> = row.iter().map(|cell| column_of(cell)).collect();
        columns.contains(&Some(Column::Text))
            && columns
                .iter()
                .any(|column| matches!(column, Some(Column::Units(_))))
    });
    let Some(header_row) = header_row else {
        return Err(not_workbook(
            "no header row with a task column (重点工作任务) and a unit column (牵头单位, 责任单位)"
                .to_owned(),
        ));
    };
    let columns: Vec<Option<Column>> = rows[header_row]
        .iter()
        .map(|cell| column_of(cell))
        .collect();
    let title_row = rows[..header_row]
        .iter()
        .rev()
        .find_map(|row| row.iter().find(|cell| !cell.is_empty()).cloned())
        .unwrap_or_default();
    let title = ["重点工作任务分解表", "任务分解表", "重点任务分解表"]
        .iter()
        .find_map(|suffix| title_row.strip_suffix(suffix))
        .unwrap_or(&title_row)
        .to_owned();
    let mut tasks = Vec::new();
    let mut warnings = Vec::new();
    for (index, row) in rows.iter().enumerate().skip(header_row + 1) {
        let line = index + 1;
        let cell = |wanted: Column| {
            columns
                .iter()
                .zip(row)
                .filter(move |(column, _)| **column == Some(wanted))
                .map(|(_, cell)| cell.as_str())
                .filter(|cell| !cell.is_empty())
        };
        let Some(text) = cell(Column::Text).next() else {
            if row.iter().any(|cell| !cell.is_empty()) {
                warnings.push(Warning {
                    code: "ROW_WITHOUT_TASK",
                    line,
                    message: format!("row {line} has no task text and was left out"),
                });
            }
            continue;
        };
        let number = cell(Column::Number)
            .next()
            .map_or_else(|| (tasks.len() + 1).to_string(), str::to_owned);
        let mut text = text.to_owned();
        // The export writes the deadlines read from the text: only a limit the text does not say
        // already is added to it.
        for limit in cell(Column::TimeLimit) {
            if !limit.split('、').all(|piece| text.contains(piece)) {
                text.push_str(&format!("(完成时限:{limit})"));
            }
        }
        let mut task = super::new_task(0, text, None, None, line);
        task.number = number;
        for role in [
            LabelRole::Lead,
            LabelRole::Responsible,
            LabelRole::Participating,
        ] {
            for units in cell(Column::Units(role)) {
                super::assign(&mut task, role, units);
            }
        }
        tasks.push(task);
    }
    Ok(ParsedPlan {
        title,
        document_number: None,
        period: None,
        parts: Vec::new(),
        tasks,
        phases: Vec::new(),
        warnings,
    })
}
