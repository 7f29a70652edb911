//! Layer 1b: cut the text into the lines the document means, whatever lines extraction left.
//!
//! Extraction moves line breaks: a sharing site's preview starts every page chunk with its own
//! `N、`, in the middle of a sentence, and runs the document's real items, headings and labels
//! together inside one line. This layer decides by evidence, not by position:
//! - a number at a line start that breaks a sentence in two (the line before runs on without a
//!   full stop, or the number is followed by punctuation) is extraction noise: it is dropped and
//!   the sentence joined again;
//! - of the competing item styles (`1.` and `1、`), the one whose numbers run in sequence and
//!   carry unit labels is the document's numbering; numbers of the other style stay in the text;
//! - a heading (`二、`, `(一)`) or an item of the chosen style inside a line starts a line of its
//!   own when it follows the end of a sentence, a unit label's list or a heading;
//! - a unit label alone on its line (`牵头单位:`) takes the units on the next.

use std::sync::LazyLock;

use regex::Regex;

use super::assignments::TIME_LIMIT_KEY;
use super::normalize::Line;
use super::segment::{LABEL_ANYWHERE, starts_with_label};

/// How a document numbers its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStyle {
    /// `1.` (and `1．`, folded)
    Dot,
    /// `1、`
    Comma,
    /// `(1)` or `1)`, only where a document numbers its items in no other way: elsewhere they
    /// are a task's sub-items.
    Paren,
}

impl ItemStyle {
    pub fn of(delimiter: &str) -> Self {
        if delimiter == "、" {
            Self::Comma
        } else {
            Self::Dot
        }
    }
}

static LINE_START_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,3}) ?([.、]) ?").expect("a valid pattern"));
/// `(1)推进…` or `1)推进…` at a line start.
pub static PAREN_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(?(\d{1,3})\)\s*(\D.*)$").expect("a valid pattern"));
/// Anything that may start a line of its own inside running text: a part heading, a section
/// heading or an item. Each is checked against what precedes it.
static INNER_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([一二三四五六七八九十]{1,3})、|\(([一二三四五六七八九十]{1,3})\)|(\d{1,3}) ?([.、]) ?\p{Han}")
        .expect("a valid pattern")
});
static HEADING_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[一二三四五六七八九十]{1,3}、|\([一二三四五六七八九十]{1,3}\))")
        .expect("a valid pattern")
});

/// How far back a clause is read for the label or heading it opens with.
const MAX_CLAUSE_CHARS: usize = 240;

/// Characters that end a sentence or a clause a new line may follow.
const SENTENCE_ENDS: &[char] = &['。', ';', '!', '?', ':', ')', '】', '〕', ']', '”'];

/// A line-start number that breaks a sentence: the line before it runs on (long, no full stop),
/// or punctuation follows the number.
fn breaks_sentence(previous: Option<&str>, rest: &str) -> bool {
    if rest.starts_with(['、', ',', '。', ';', ',', ')']) {
        return true;
    }
    previous.is_some_and(|previous| {
        previous.chars().take(41).count() > 40
            && !previous.ends_with(SENTENCE_ENDS)
            && !HEADING_START.is_match(previous)
            && !starts_with_label(previous)
    })
}

/// An item or heading found inside a line (or at its start).
struct Start {
    /// Byte offset in the line.
    at: usize,
    item: Option<(u32, ItemStyle)>,
}

/// Whether what precedes `at` in `line` lets a new line start there: the line start, the end of
/// a sentence, or a clause that holds a unit label's list or is a heading (they run to no full
/// stop).
fn may_start_at(line: &str, at: usize) -> bool {
    let before = &line[..at];
    let Some(last) = before.chars().last() else {
        return true;
    };
    if SENTENCE_ENDS.contains(&last) {
        return true;
    }
    // The clause since the last sentence end, looked for no further back than a label's list
    // runs: a line without full stops costs no more per candidate than that.
    let mut clause_start = before.len();
    for (at, character) in before.char_indices().rev().take(MAX_CLAUSE_CHARS) {
        if matches!(character, '。' | ';' | '!' | '?') {
            break;
        }
        clause_start = at;
    }
    let clause = &before[clause_start..];
    LABEL_ANYWHERE.is_match(clause) || HEADING_START.is_match(clause)
}

fn starts_in(line: &str) -> Vec<Start> {
    INNER_START
        .find_iter(line)
        .filter_map(|found| {
            // A number inside a larger number or a decimal (2025.年, 3.5) starts nothing.
            let before = line[..found.start()].chars().last();
            if before.is_some_and(|character| character.is_ascii_digit() || character == '.') {
                return None;
            }
            if !may_start_at(line, found.start()) {
                return None;
            }
            // An item is digits, an optional space and its delimiter; a heading is anything else.
            let text = found.as_str();
            let digits = text.trim_start_matches(|character: char| character.is_ascii_digit());
            let item = if digits.len() < text.len() {
                let number = text[..text.len() - digits.len()].parse().ok()?;
                let delimiter = digits.trim_start().chars().next()?;
                Some((number, ItemStyle::of(&delimiter.to_string())))
            } else {
                None
            };
            Some(Start {
                at: found.start(),
                item,
            })
        })
        .collect()
}

/// The numbering the items follow: per style, one point for each number that continues the
/// sequence (or restarts it at 1) and one for each item that names units before the next.
fn choose_style(lines: &[Line], starts: &[Vec<Start>]) -> Option<ItemStyle> {
    let mut best: Option<(ItemStyle, usize)> = None;
    for style in [ItemStyle::Dot, ItemStyle::Comma] {
        let items: Vec<(usize, usize, u32)> = starts
            .iter()
            .enumerate()
            .flat_map(|(index, found)| {
                found.iter().filter_map(move |start| match start.item {
                    Some((number, found_style)) if found_style == style => {
                        Some((index, start.at, number))
                    }
                    _ => None,
                })
            })
            .collect();
        if items.is_empty() {
            continue;
        }
        let mut score = 0;
        let mut previous = 0;
        for (position, (index, at, number)) in items.iter().enumerate() {
            if *number == previous + 1 || *number == 1 {
                score += 1;
            }
            previous = *number;
            let end = items
                .get(position + 1)
                .map(|(next, next_at, _)| (*next, *next_at));
            if names_units(lines, (*index, *at), end) {
                score += 1;
            }
        }
        if best.is_none_or(|(_, known)| score > known) {
            best = Some((style, score));
        }
    }
    best.map(|(style, _)| style)
}

static UNIT_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"牵头|责任单位|责任部门|配合单位|配合部门|参与单位|参加单位|协办单位|主办单位|按职责分工",
    )
    .expect("a valid pattern")
});

/// Whether the text from `start` to `end` (line index, byte offset) names units.
fn names_units(lines: &[Line], start: (usize, usize), end: Option<(usize, usize)>) -> bool {
    let (last_line, last_at) = end.unwrap_or((lines.len().saturating_sub(1), usize::MAX));
    // Looking a few lines ahead is enough: labels follow their item closely.
    (start.0..=last_line.min(start.0 + 6)).any(|index| {
        let text = &lines[index].text;
        let from = if index == start.0 { start.1 } else { 0 };
        let to = if index == last_line {
            last_at.min(text.len())
        } else {
            text.len()
        };
        from <= to && UNIT_WORDS.is_match(&text[from..to])
    })
}

/// A label printed as a bracketed heading: 【牵头单位】县司法局.
static BRACKETED_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"【({})】", super::segment::label_alternation())).expect("a valid pattern")
});

/// The lines the document means, and the style its items are numbered in.
pub fn reline(lines: Vec<Line>) -> (Vec<Line>, Option<ItemStyle>) {
    let mut joined: Vec<Line> = Vec::with_capacity(lines.len());
    for mut line in lines {
        if BRACKETED_LABEL.is_match(&line.text) {
            line.text = BRACKETED_LABEL.replace_all(&line.text, "$1:").into_owned();
        }
        // 责任单位:县司法局完成时限:2024年底 — the limit is no unit: a line of the task's text.
        if starts_with_label(&line.text)
            && let Some(limit) = TIME_LIMIT_KEY.find(&line.text)
            && limit.start() > 0
        {
            let rest = line.text[limit.end()..].trim().to_owned();
            line.text.truncate(limit.start());
            let number = line.number;
            joined.push(line);
            joined.push(Line {
                number,
                text: format!("(完成时限:{rest})"),
            });
            continue;
        }
        // A label whose units are on the next line: 牵头单位: / 县司法局.
        if let Some(previous) = joined.last_mut()
            && previous.text.ends_with(':')
            && LABEL_ANYWHERE.is_match(&previous.text)
            && !LINE_START_ITEM.is_match(&line.text)
            && !HEADING_START.is_match(&line.text)
            && !starts_with_label(&line.text)
        {
            previous.text.push_str(&line.text);
            continue;
        }
        if let Some(marker) = LINE_START_ITEM.find(&line.text) {
            let rest = &line.text[marker.end()..];
            // Two numbers in a row (`3、4 .推进…`): the first is the chunk's, the second the item's.
            if LINE_START_ITEM.is_match(rest) {
                joined.push(Line {
                    number: line.number,
                    text: rest.to_owned(),
                });
                continue;
            }
            let previous = joined.last().map(|line| line.text.as_str());
            if previous.is_some() && breaks_sentence(previous, rest) {
                let rest = rest.to_owned();
                if let Some(previous) = joined.last_mut() {
                    previous.text.push_str(&rest);
                }
                continue;
            }
        }
        joined.push(line);
    }
    let starts: Vec<Vec<Start>> = joined.iter().map(|line| starts_in(&line.text)).collect();
    let style = choose_style(&joined, &starts).or_else(|| {
        joined
            .iter()
            .any(|line| PAREN_ITEM.is_match(&line.text))
            .then_some(ItemStyle::Paren)
    });
    let mut out = Vec::with_capacity(joined.len());
    for (line, found) in joined.into_iter().zip(starts) {
        let cuts: Vec<usize> = found
            .iter()
            .filter(|start| start.at > 0)
            .filter(|start| start.item.is_none_or(|(_, found)| Some(found) == style))
            .map(|start| start.at)
            .collect();
        if cuts.is_empty() {
            out.push(line);
            continue;
        }
        let mut from = 0;
        for cut in cuts.into_iter().chain([line.text.len()]) {
            let piece = line.text[from..cut].trim();
            if !piece.is_empty() {
                out.push(Line {
                    number: line.number,
                    text: piece.to_owned(),
                });
            }
            from = cut;
        }
    }
    (out, style)
}

#[cfg(test)]
mod tests {
    use super::super::normalize::numbered as lines;
    use super::*;

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    #[test]
    fn a_number_that_breaks_a_sentence_is_noise() {
        let (out, _) = reline(lines(&[
            "1.推进政务公开。严格执行行政审批告知承诺制和限时办结制度,对违法审批,给群众和企业合法权益",
            "2、造成重大损失的,依法追究责任。",
        ]));
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .text
                .ends_with("合法权益造成重大损失的,依法追究责任。")
        );
    }

    #[test]
    fn items_and_headings_inside_a_line_start_lines() {
        let (out, style) = reline(lines(&[
            "二、主要任务(一)健全体系1 .推进职能优化。牵头单位:县委编办责任单位:县直各部门2 .深化改革。提升3.5倍,开展2、3次。",
        ]));
        assert_eq!(style, Some(ItemStyle::Dot));
        assert_eq!(
            texts(&out),
            vec![
                "二、主要任务",
                "(一)健全体系",
                "1 .推进职能优化。牵头单位:县委编办责任单位:县直各部门",
                "2 .深化改革。提升3.5倍,开展2、3次。"
            ]
        );
    }

    #[test]
    fn a_label_takes_the_units_on_the_next_line() {
        let (out, _) = reline(lines(&[
            "1.推进政务公开。",
            "牵头单位:",
            "县政府办公室",
            "2.深化改革。",
        ]));
        assert_eq!(
            texts(&out),
            vec!["1.推进政务公开。", "牵头单位:县政府办公室", "2.深化改革。"]
        );
    }

    #[test]
    fn the_style_in_sequence_with_units_wins() {
        let (_, style) = reline(lines(&[
            "1、一段很长的说明文字",
            "1.推进政务公开。牵头单位:县政府办",
            "2.深化改革。牵头单位:县发改局",
            "5、另一段文字",
        ]));
        assert_eq!(style, Some(ItemStyle::Dot));
    }
}
