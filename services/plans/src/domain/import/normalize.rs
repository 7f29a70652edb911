//! Layer 1: clean the text line by line, keeping each line's number in the source.

use unicode_normalization::UnicodeNormalization;

/// What an empty cell of a table row reads as.
pub const EMPTY_CELL: &str = "/";

/// A non-empty source line after cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the source text.
    pub number: usize,
    pub text: String,
}

/// Full-width letters, digits and brackets folded (NFKC keeps 、。 and 〔〕), all white space
/// folded to nothing between Chinese characters and to one space elsewhere, page markers such
/// as `-10 -` removed, empty lines dropped; a line with two or more tabs (or `|`) between its
/// words (not only before them) is a table row, one line per cell.
pub fn normalize(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .flat_map(|(index, raw)| {
            // A table row copied with tabs (or a web page's `|`) between its cells: one line
            // per cell, as tables flattened by extraction come. Tabs that only indent the line
            // do not make it a row.
            let inner = raw.trim();
            let (cells, row): (Vec<&str>, bool) = if inner.matches('\t').count() >= 2 {
                (inner.split('\t').collect(), true)
            } else if inner.trim_matches('|').matches('|').count() >= 2 {
                (inner.trim_matches('|').split('|').collect(), true)
            } else {
                (vec![raw], false)
            };
            cells.into_iter().filter_map(move |cell| {
                let cleaned = clean_line(cell);
                // An empty cell of a row keeps its place, so the cells after it keep their
                // columns (an empty 牵头单位 does not make the 责任单位 the lead).
                let cleaned = if row && cleaned.is_empty() {
                    EMPTY_CELL.to_owned()
                } else {
                    cleaned
                };
                (!cleaned.is_empty()).then_some(Line {
                    number: index + 1,
                    text: cleaned,
                })
            })
        })
        .collect()
}

pub fn clean_line(raw: &str) -> String {
    let folded: String = raw.nfkc().collect();
    let without_markers = fazhi_platform::text::remove_page_markers(&folded);
    let mut out = String::with_capacity(without_markers.len());
    let mut pending_space = false;
    for character in without_markers.chars() {
        if character.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            let previous = out.chars().last().unwrap_or(' ');
            // Spaces between two Chinese characters (or next to Chinese punctuation) are layout.
            if !(is_cjk(previous) || is_cjk(character)) {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(character);
    }
    out
}

/// Chinese characters and the punctuation that goes with them.
pub fn is_cjk(character: char) -> bool {
    matches!(character as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF)
        || matches!(character, '“' | '”' | '‘' | '’' | '—' | '…' | '·')
}

/// Lines numbered from 1, for tests of the later layers.
#[cfg(test)]
pub fn numbered(texts: &[&str]) -> Vec<Line> {
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| Line {
            number: index + 1,
            text: (*text).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_space_and_page_markers() {
        let lines = normalize(
            "\u{3000}\u{3000}1. 把习近平法治思想 -10 - 作为重要内容\n\n  牵头单位:市司法局 ",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "1.把习近平法治思想作为重要内容");
        assert_eq!(
            lines[1],
            Line {
                number: 3,
                text: "牵头单位:市司法局".to_owned()
            }
        );
    }

    #[test]
    fn keeps_ranges_and_numbers() {
        assert_eq!(normalize("2022—2025年")[0].text, "2022—2025年");
        assert_eq!(normalize("(2022-2025年)")[0].text, "(2022-2025年)");
    }
}
