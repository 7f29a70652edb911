//! The data-entry form (填报表) of a data set for one unit and period, as the XLSX workbook offices
//! circulate today: a row per element and category option, the unit's current values filled in,
//! only the value and note cells open for editing. [`write`] makes it; [`read`] takes a filled-in
//! form back as ingest rows (`fazhi indicators ingest FORM.xlsx`).

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use fazhi_platform::error::FieldViolation;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::domain::{DataElement, DataSet, DataValue, ValueState};
use crate::ingest::RowInput;

/// The sheet units fill in, and the hidden one that says what the form is for.
pub const SHEET: &str = "填报表";
const KEY_SHEET: &str = "fazhi";
const FORM_KIND: &str = "fazhi-data-entry-form/1";
/// The source a form's rows are ingested under: re-reading the same form changes nothing.
pub const SOURCE: &str = "data-entry-form";
/// Largest form read (a data set has at most 200 elements).
pub const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;

const HEADERS: [(&str, f64); 7] = [
    ("序号", 6.0),
    ("数据项", 34.0),
    ("分类", 16.0),
    ("计量单位", 10.0),
    ("数值", 12.0),
    ("说明", 30.0),
    ("状态", 14.0),
];
const VALUE_COLUMN: u16 = 4;
const COMMENT_COLUMN: u16 = 5;
/// Hidden: the element's id, the option (`""`: the total), 1 when the value is locked.
const ELEMENT_COLUMN: u16 = 7;
const OPTION_COLUMN: u16 = 8;
const LOCKED_COLUMN: u16 = 9;
const FIRST_ROW: u32 = 3;

/// Who fills the form in, for which period.
pub struct FormFor<'a> {
    pub data_set: &'a DataSet,
    pub unit: &'a str,
    pub unit_name: &'a str,
    pub period: &'a str,
    pub due_date: NaiveDate,
}

fn state_label(state: ValueState) -> &'static str {
    match state {
        ValueState::Draft => "草稿",
        ValueState::Submitted => "已报送(锁定)",
        ValueState::Approved => "已审核(锁定)",
        ValueState::Returned => "已退回",
    }
}

/// The form, with `values` (each with its element's code) filled in.
pub fn write(
    form: &FormFor<'_>,
    elements: &[DataElement],
    values: &[(String, DataValue)],
) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(SHEET)?;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let header = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border(FormatBorder::Thin);
    let fixed = Format::new().set_border(FormatBorder::Thin);
    let open = Format::new().set_border(FormatBorder::Thin).set_unlocked();
    let last = (HEADERS.len() - 1) as u16;
    sheet.merge_range(
        0,
        0,
        0,
        last,
        &format!("{}({})", form.data_set.display_name, form.period),
        &title,
    )?;
    sheet.merge_range(
        1,
        0,
        1,
        last,
        &format!(
            "填报单位:{}    报送期限:{}前",
            form.unit_name,
            form.due_date.format("%Y年%m月%d日")
        ),
        &Format::new(),
    )?;
    for (column, (name, width)) in HEADERS.iter().enumerate() {
        sheet.set_column_width(column as u16, *width)?;
        sheet.write_with_format(2, column as u16, *name, &header)?;
    }
    let mut row = FIRST_ROW;
    for code in &form.data_set.data_element_codes {
        let Some(element) = elements.iter().find(|element| &element.code == code) else {
            continue;
        };
        let options =
            std::iter::once("").chain(element.category_options.iter().map(String::as_str));
        for option in options {
            let current = values
                .iter()
                .find(|(value_code, value)| value_code == code && value.category_option == option);
            let locked = current.is_some_and(|(_, value)| {
                matches!(value.state, ValueState::Submitted | ValueState::Approved)
            });
            let editable = if locked { &fixed } else { &open };
            sheet.write_with_format(row, 0, row - FIRST_ROW + 1, &fixed)?;
            sheet.write_with_format(row, 1, &element.display_name, &fixed)?;
            sheet.write_with_format(
                row,
                2,
                if option.is_empty() { "合计" } else { option },
                &fixed,
            )?;
            sheet.write_with_format(row, 3, &element.unit_of_measure, &fixed)?;
            match current {
                Some((_, value)) => {
                    match &value.text {
                        Some(text) => sheet.write_with_format(row, VALUE_COLUMN, text, editable)?,
                        None => {
                            sheet.write_with_format(row, VALUE_COLUMN, value.value, editable)?
                        }
                    };
                    sheet.write_with_format(row, COMMENT_COLUMN, &value.comment, editable)?;
                    sheet.write_with_format(row, 6, state_label(value.state), &fixed)?;
                }
                None => {
                    sheet.write_blank(row, VALUE_COLUMN, editable)?;
                    sheet.write_blank(row, COMMENT_COLUMN, editable)?;
                    sheet.write_with_format(row, 6, "未填报", &fixed)?;
                }
            }
            sheet.write(row, ELEMENT_COLUMN, element.id.as_str())?;
            sheet.write(row, OPTION_COLUMN, option)?;
            sheet.write(row, LOCKED_COLUMN, u8::from(locked))?;
            row += 1;
        }
    }
    for column in [ELEMENT_COLUMN, OPTION_COLUMN, LOCKED_COLUMN] {
        sheet.set_column_hidden(column)?;
    }
    sheet.set_freeze_panes(FIRST_ROW, 0)?;
    // Only the value and note cells of open values can be edited (no password: a guard
    // against slips, not a control).
    sheet.protect();
    let keys = workbook.add_worksheet();
    keys.set_name(KEY_SHEET)?;
    for (row, text) in [FORM_KIND, form.data_set.id.as_str(), form.unit, form.period]
        .into_iter()
        .enumerate()
    {
        keys.write(row as u32, 0, text)?;
    }
    keys.set_hidden(true);
    workbook.save_to_buffer()
}

/// A filled-in form read back.
#[derive(Debug, Default)]
pub struct FilledForm {
    pub data_set: String,
    pub unit: String,
    pub period: String,
    /// One per row with a value that is not locked, its external id naming the data set, unit,
    /// period, element and option.
    pub rows: Vec<RowInput>,
}

fn text(cell: Option<&Data>) -> String {
    match cell {
        Some(Data::String(text)) => text.trim().to_owned(),
        Some(Data::Float(number)) => number.to_string(),
        Some(Data::Int(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn not_a_form(reason: String) -> Vec<FieldViolation> {
    vec![FieldViolation::new(
        "content",
        "NOT_A_FORM",
        format!("not a Fazhi data-entry form: {reason}"),
        format!("不是法治系统导出的填报表:{reason}"),
    )]
}

/// Reads a form [`write`] made, as filled in.
pub fn read(bytes: &[u8]) -> Result<FilledForm, Vec<FieldViolation>> {
    if bytes.len() > MAX_FORM_BYTES {
        return Err(vec![FieldViolation::too_long("content", MAX_FORM_BYTES)]);
    }
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|error: calamine::XlsxError| not_a_form(error.to_string()))?;
    let keys = workbook
        .worksheet_range(KEY_SHEET)
        .map_err(|error| not_a_form(error.to_string()))?;
    let key = |row: u32| text(keys.get_value((row, 0)));
    if key(0) != FORM_KIND {
        return Err(not_a_form(format!(
            "its {KEY_SHEET} sheet does not say {FORM_KIND}"
        )));
    }
    let mut form = FilledForm {
        data_set: key(1),
        unit: key(2),
        period: key(3),
        ..FilledForm::default()
    };
    let sheet = workbook
        .worksheet_range(SHEET)
        .map_err(|error| not_a_form(error.to_string()))?;
    for row in FIRST_ROW.. {
        let cell = |column: u16| sheet.get_value((row, u32::from(column)));
        let element = text(cell(ELEMENT_COLUMN));
        if element.is_empty() {
            break;
        }
        if text(cell(LOCKED_COLUMN)) == "1" {
            continue;
        }
        // A number, or the text of a text or date element (the service knows which it takes).
        let (value, written) = match cell(VALUE_COLUMN) {
            None | Some(Data::Empty) => continue,
            Some(Data::Float(number)) => (*number, String::new()),
            Some(Data::Int(number)) => (*number as f64, String::new()),
            Some(Data::String(written)) if written.trim().is_empty() => continue,
            Some(Data::DateTime(day)) => match day.as_datetime() {
                Some(day) => (0.0, day.format("%Y-%m-%d").to_string()),
                None => continue,
            },
            Some(other) => {
                let written = text(Some(other));
                match written.parse::<f64>() {
                    Ok(number) => (number, String::new()),
                    Err(_) => (0.0, written),
                }
            }
        };
        let option = text(cell(OPTION_COLUMN));
        form.rows.push(RowInput {
            external_id: format!(
                "{}/{}/{}/{element}/{option}",
                form.data_set, form.unit, form.period
            ),
            data_element: format!("dataElements/{element}"),
            unit: format!("units/{}", form.unit),
            period: form.period.clone(),
            category_option: option,
            value,
            text: written,
            comment: text(cell(COMMENT_COLUMN)),
        });
    }
    Ok(form)
}
