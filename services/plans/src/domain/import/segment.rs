//! Layer 2: say what each line is — a heading, a numbered item, a unit label, a table number,
//! page noise, or running text.

use std::sync::LazyLock;

use regex::Regex;

use super::normalize::Line;
use super::reline::{ItemStyle, PAREN_ITEM};

/// The role a unit label gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelRole {
    /// 牵头单位
    Lead,
    /// 责任单位
    Responsible,
    /// 配合/参加单位
    Participating,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// `一、主要任务`
    Part {
        number: String,
        title: String,
    },
    /// `(一)实施主体能力提升行动。` with any text after its first sentence.
    Section {
        number: String,
        title: String,
    },
    /// `1. 把习近平法治思想…` / `1、…`
    Item {
        number: u32,
        text: String,
    },
    /// `牵头单位:市司法局`
    Label {
        role: LabelRole,
        text: String,
    },
    /// A lone number: a row of a table flattened to one cell per line.
    RowNumber(u32),
    /// Web page navigation, metadata, links.
    Noise,
    Text,
}

static PART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([一二三四五六七八九十]{1,3})、\s*(.+)$").expect("a valid pattern")
});
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(([一二三四五六七八九十]{1,3})\)\s*(.*)$").expect("a valid pattern")
});
static ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,3})\s*([.、])\s*(\D.*)$").expect("a valid pattern"));
/// The words plans label units with, longest first so that 牵头单位 wins over 牵头.
pub const LABELS: &[(&str, LabelRole)] = &[
    ("牵头单位", LabelRole::Lead),
    ("牵头部门", LabelRole::Lead),
    ("主办单位", LabelRole::Lead),
    ("责任单位", LabelRole::Responsible),
    ("责任部门", LabelRole::Responsible),
    ("主责单位", LabelRole::Responsible),
    ("责任主体", LabelRole::Responsible),
    ("配合单位", LabelRole::Participating),
    ("配合部门", LabelRole::Participating),
    ("参加单位", LabelRole::Participating),
    ("参与单位", LabelRole::Participating),
    ("协办单位", LabelRole::Participating),
    ("协同单位", LabelRole::Participating),
    ("牵头", LabelRole::Lead),
    ("责任", LabelRole::Responsible),
    ("配合", LabelRole::Participating),
    ("协办", LabelRole::Participating),
];

/// `牵头单位|牵头部门|…` for a pattern.
pub fn label_alternation() -> String {
    LABELS
        .iter()
        .map(|(label, _)| *label)
        .collect::<Vec<_>>()
        .join("|")
}

/// A label inside a line: `牵头单位:`, and the short forms (`牵头:`) only with their colon.
pub static LABEL_ANYWHERE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"({})\s*[::]", label_alternation())).expect("a valid pattern")
});
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({})\s*[::]\s*(.*)$", label_alternation())).expect("a valid pattern")
});
static ROW_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,3})$").expect("a valid pattern"));
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{1,2}-\d{1,2}( \d{1,2}:\d{2}(:\d{2})?)?$").expect("a valid pattern")
});

/// Words that only web page chrome and document metadata lines begin with.
const NOISE_PREFIXES: &[&str] = &[
    "您现在所在的位置",
    "当前位置",
    "索引号",
    "索 引 号",
    "主题分类",
    "组配分类",
    "发布机构",
    "成文日期",
    "公文时效",
    "发布日期",
    "发布时间",
    "发布文号",
    "文 号",
    "文号",
    "关键词",
    "信息来源",
    "信息名称",
    "有效性",
    "浏览次数",
    "浏览:",
    "分享到",
    "【字体",
    "字体大小",
    "打印本页",
    "关闭窗口",
    "政策解读",
    "扫一扫",
    "•",
];

/// What `line` is, in a document whose items are numbered in `style`: a number in another style
/// is text.
pub fn classify(line: &Line, style: Option<ItemStyle>) -> LineKind {
    let text = line.text.as_str();
    if text.contains("http://") || text.contains("https://") || DATE_TIME.is_match(text) {
        return LineKind::Noise;
    }
    if NOISE_PREFIXES.iter().any(|prefix| text.starts_with(prefix)) && text.chars().count() < 60 {
        return LineKind::Noise;
    }
    if let Some(captures) = LABEL.captures(text) {
        return LineKind::Label {
            role: label_role(&captures[1]),
            text: captures[2].to_owned(),
        };
    }
    if let Some(captures) = PART.captures(text) {
        return LineKind::Part {
            number: captures[1].to_owned(),
            title: first_sentence(&captures[2]),
        };
    }
    if let Some(captures) = SECTION.captures(text) {
        return LineKind::Section {
            number: format!("({})", &captures[1]),
            title: first_sentence(&captures[2]),
        };
    }
    if let Some(captures) = ITEM.captures(text)
        && let Ok(number) = captures[1].parse()
        && style == Some(ItemStyle::of(&captures[2]))
    {
        return LineKind::Item {
            number,
            text: captures[3].trim().to_owned(),
        };
    }
    if style == Some(ItemStyle::Paren)
        && let Some(captures) = PAREN_ITEM.captures(text)
        && let Ok(number) = captures[1].parse()
    {
        return LineKind::Item {
            number,
            text: captures[2].trim().to_owned(),
        };
    }
    if let Some(captures) = ROW_NUMBER.captures(text)
        && let Ok(number) = captures[1].parse()
    {
        return LineKind::RowNumber(number);
    }
    LineKind::Text
}

/// Whether a line opens with a unit label (`责任单位:`): what follows is a list of units, not a
/// sentence.
pub fn starts_with_label(text: &str) -> bool {
    LABEL.is_match(text)
}

pub fn label_role(label: &str) -> LabelRole {
    LABELS
        .iter()
        .find(|(known, _)| *known == label)
        .map_or(LabelRole::Participating, |(_, role)| *role)
}

/// A label line that carries several labels: 牵头单位:市司法局;责任单位:市直各部门.
pub fn split_labels(role: LabelRole, text: &str) -> Vec<(LabelRole, String)> {
    let mut labels = vec![(role, String::new())];
    // Each label starts a piece of its own, with or without a separator before it.
    let separated = LABEL_ANYWHERE.replace_all(text, ";$0");
    for piece in separated.split([';', ';']).map(str::trim) {
        match LABEL.captures(piece) {
            Some(captures) => labels.push((label_role(&captures[1]), captures[2].to_owned())),
            None => {
                if let Some((_, units)) = labels.last_mut() {
                    if !units.is_empty() {
                        units.push('、');
                    }
                    units.push_str(piece);
                }
            }
        }
    }
    labels.retain(|(_, units)| !units.is_empty());
    labels
}

/// The text up to the first full stop, without it.
pub fn first_sentence(text: &str) -> String {
    let end = text.find(['。', ';', '!', '?']).unwrap_or(text.len());
    text[..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> LineKind {
        let style = if text.starts_with("3、") {
            ItemStyle::Comma
        } else {
            ItemStyle::Dot
        };
        classify(
            &Line {
                number: 1,
                text: text.to_owned(),
            },
            Some(style),
        )
    }

    #[test]
    fn classifies_the_shapes_plans_use() {
        assert_eq!(
            kind("二、主要任务"),
            LineKind::Part {
                number: "二".to_owned(),
                title: "主要任务".to_owned()
            }
        );
        assert_eq!(
            kind("(一)实施主体能力提升行动。全市政府系统要…"),
            LineKind::Section {
                number: "(一)".to_owned(),
                title: "实施主体能力提升行动".to_owned()
            }
        );
        assert_eq!(
            kind("12. 推进政务公开"),
            LineKind::Item {
                number: 12,
                text: "推进政务公开".to_owned()
            }
        );
        assert_eq!(
            kind("3、加强培训"),
            LineKind::Item {
                number: 3,
                text: "加强培训".to_owned()
            }
        );
        assert_eq!(kind("2020.3"), LineKind::Text);
        assert_eq!(
            kind("牵头单位:市司法局"),
            LineKind::Label {
                role: LabelRole::Lead,
                text: "市司法局".to_owned()
            }
        );
        assert_eq!(kind("45"), LineKind::RowNumber(45));
        assert_eq!(
            kind("发布时间:2024-02-08 09:16 来源:宁国市政府(办公室) 浏览:98次"),
            LineKind::Noise
        );
        assert_eq!(kind("2020-04-26 21:04"), LineKind::Noise);
        assert_eq!(
            kind("政策解读链接:http://example.gov.cn/x.shtml"),
            LineKind::Noise
        );
    }
}
