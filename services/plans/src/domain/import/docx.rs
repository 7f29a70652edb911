//! Word documents (.docx): the text of `word/document.xml`, one line per paragraph. A table row
//! becomes one line with a tab between its cells (a row copied from a web page or a
//! spreadsheet), so the layers after read every table the same way.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::Event;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a .docx file: {0}")]
    NotDocx(String),
    #[error("not a task breakdown workbook: {0}")]
    NotWorkbook(String),
    #[error("the text is not UTF-8")]
    NotUtf8,
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
}

/// Largest document accepted, compressed or not.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// Zip files (and so .docx) start with this.
pub(super) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The plain text of a plan given as UTF-8 text or as .docx bytes.
pub fn document_text(bytes: &[u8]) -> Result<String, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(MAX_DOCUMENT_BYTES));
    }
    if bytes.starts_with(ZIP_MAGIC) {
        return docx_text(bytes);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| DocumentError::NotUtf8)
}

fn docx_text(bytes: &[u8]) -> Result<String, DocumentError> {
    let not_docx = |reason: String| DocumentError::NotDocx(reason);
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|error| not_docx(error.to_string()))?;
    let entry = archive
        .by_name("word/document.xml")
        .map_err(|_| not_docx("no word/document.xml".to_owned()))?;
    let mut xml = String::new();
    // Bounded, so a zip bomb stops at the limit instead of filling memory.
    entry
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_string(&mut xml)
        .map_err(|error| not_docx(error.to_string()))?;
    if xml.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(MAX_DOCUMENT_BYTES));
    }
    let mut reader = Reader::from_str(&xml);
    let mut text = String::new();
    let mut in_text_run = false;
    // Inside a table cell, paragraphs gather in the cell; a row becomes one line with a tab
    // between its cells, so an empty cell keeps its column.
    let mut cell_depth = 0_usize;
    let mut cell: Vec<String> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    loop {
        let target = if cell_depth > 0 {
            cell.last_mut()
        } else {
            None
        };
        let out = match target {
            Some(paragraph) => paragraph,
            None => &mut text,
        };
        match reader
            .read_event()
            .map_err(|error| not_docx(error.to_string()))?
        {
            Event::Start(element) => match element.local_name().as_ref() {
                "t" => in_text_run = true,
                "tc" => {
                    cell_depth += 1;
                    cell.push(String::new());
                }
                _ => {}
            },
            Event::End(element) => match element.local_name().as_ref() {
                "t" => in_text_run = false,
                "p" if cell_depth > 0 => cell.push(String::new()),
                "p" => text.push('\n'),
                "tc" => {
                    cell_depth = cell_depth.saturating_sub(1);
                    row.push(join_cell(&cell));
                    cell.clear();
                }
                "tr" => {
                    text.push_str(&row.join("\t"));
                    text.push('\n');
                    row.clear();
                }
                _ => {}
            },
            Event::Empty(element) => match element.local_name().as_ref() {
                // A tab inside a cell is layout; outside, it may separate columns.
                "tab" => out.push(if cell_depth > 0 { ' ' } else { '\t' }),
                "br" | "cr" => out.push('\n'),
                _ => {}
            },
            // Entity references arrive as events of their own, so text events are literal.
            Event::Text(content) if in_text_run => out.push_str(content.as_ref()),
            Event::GeneralRef(reference) if in_text_run => {
                match reference
                    .resolve_char_ref()
                    .map_err(|error| not_docx(error.to_string()))?
                {
                    Some(character) => out.push(character),
                    None => {
                        let entity = format!("&{};", reference.as_ref() as &str);
                        out.push_str(
                            &quick_xml::escape::unescape(&entity)
                                .map_err(|error| not_docx(error.to_string()))?,
                        );
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(text)
}

/// A cell's paragraphs as one cell: units listed one per paragraph are a list (市司法局、
/// 市财政局); paragraphs of prose run on.
fn join_cell(paragraphs: &[String]) -> String {
    let paragraphs: Vec<&str> = paragraphs
        .iter()
        .map(|paragraph| paragraph.trim())
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    let mut joined = String::new();
    for paragraph in paragraphs {
        let list_item =
            |text: &str| text.chars().count() <= 20 && !text.contains(['。', ',', ',', ';', ';']);
        let last = joined.rsplit('、').next().unwrap_or_default();
        if !last.is_empty() && list_item(last) && list_item(paragraph) {
            joined.push('、');
        }
        joined.push_str(paragraph);
    }
    joined
}
