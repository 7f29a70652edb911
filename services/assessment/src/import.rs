//! Schemes from the spreadsheets they are circulated in (考核细则表): a table with a column per
//! level of the criteria tree (一级指标, 二级指标, 三级指标; parents' cells merged or left empty
//! below their first row), the points (分值), the scoring rules as written (评分标准) and the
//! scoring unit (评分责任单位). Each row is a leaf scored by its reviewers (a `manual` rule)
//! until rules are written for it in YAML; a parent's points are its children's, or what its
//! name says (`行政应诉工作(20分)`).

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use fazhi_platform::error::FieldViolation;

use crate::domain::{Basis, Criterion, Effect, PeerGroup, Rule, Scheme, Worth};

/// Largest spreadsheet accepted, in bytes.
pub const MAX_SPREADSHEET_BYTES: usize = 5 << 20;

/// What the spreadsheet does not say: the scheme's code, title, year, owner and peer groups.
pub struct SchemeHead {
    pub code: String,
    pub title: String,
    pub year: i32,
    pub owner_unit: String,
    pub peer_groups: Vec<PeerGroup>,
}

fn refused(reason: &'static str, en: String, zh: String) -> Vec<FieldViolation> {
    vec![FieldViolation::new("spreadsheet", reason, en, zh)]
}

fn text(cell: Option<&Data>) -> String {
    match cell {
        None | Some(Data::Empty) => String::new(),
        Some(other) => other.to_string().trim().to_owned(),
    }
}

/// Points written in a cell: `5`, `5分`, `5.5 分`.
fn points(written: &str) -> Option<f64> {
    written
        .trim_end_matches('分')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|points| *points > 0.0 && points.is_finite())
}

/// A name with its points in brackets (`行政应诉工作(20分)`): the name and the points.
fn name_and_points(written: &str) -> (String, Option<f64>) {
    for (open, close) in [('(', ')'), ('(', ')')] {
        if let Some(start) = written.rfind(open)
            && written.ends_with(close)
            && let Some(found) =
                points(&written[start + open.len_utf8()..written.len() - close.len_utf8()])
        {
            return (written[..start].trim().to_owned(), Some(found));
        }
    }
    (written.to_owned(), None)
}

/// Which column holds what.
#[derive(Default)]
struct Columns {
    levels: Vec<usize>,
    points: Option<usize>,
    guidance: Option<usize>,
    scorer: Option<usize>,
}

impl Columns {
    /// The header row's columns, if `row` is one: it names the points.
    fn of(row: &[Data]) -> Option<Self> {
        let heads: Vec<String> = row.iter().map(|cell| text(Some(cell))).collect();
        let mut columns = Self::default();
        let mut levelled: Vec<(usize, usize)> = Vec::new();
        for (index, head) in heads.iter().enumerate() {
            if ["分值", "分数", "标准分"]
                .iter()
                .any(|word| head.contains(word))
            {
                columns.points = Some(index);
            } else if let Some(level) = ["一级", "二级", "三级", "四级"]
                .iter()
                .position(|word| head.contains(word))
            {
                levelled.push((level, index));
            } else if ["责任单位", "评分单位", "考核单位", "牵头单位"]
                .iter()
                .any(|word| head.contains(word))
            {
                columns.scorer = Some(index);
            } else if ["评分", "标准", "细则", "考核内容", "考核要点"]
                .iter()
                .any(|word| head.contains(word))
            {
                columns.guidance.get_or_insert(index);
            }
        }
        levelled.sort();
        columns.levels = levelled.into_iter().map(|(_, index)| index).collect();
        if columns.levels.is_empty()
            && let Some(index) = heads
                .iter()
                .position(|head| head.contains("指标") || head.contains("项目"))
        {
            columns.levels.push(index);
        }
        (columns.points.is_some() && !columns.levels.is_empty()).then_some(columns)
    }
}

/// A node being built: its children and what the rows said of it.
struct Node {
    title: String,
    points: Option<f64>,
    guidance: String,
    scorer: String,
    children: Vec<Node>,
}

impl Node {
    fn new(title: String, points: Option<f64>) -> Self {
        Self {
            title,
            points,
            guidance: String::new(),
            scorer: String::new(),
            children: Vec::new(),
        }
    }

    /// The criterion with code `code`: a leaf scored by reviewers, a branch worth its children.
    fn into_criterion(self, code: String, violations: &mut Vec<FieldViolation>) -> Criterion {
        let leaf = self.children.is_empty();
        let children: Vec<Criterion> = self
            .children
            .into_iter()
            .enumerate()
            .map(|(index, child)| child.into_criterion(format!("{code}.{}", index + 1), violations))
            .collect();
        let summed: f64 = children
            .iter()
            .map(|child| match child.worth {
                Worth::Points(points) | Worth::Weight(points) => points,
            })
            .sum();
        let points = self.points.or((summed > 0.0).then_some(summed));
        if points.is_none() {
            violations.push(FieldViolation::new(
                "spreadsheet",
                "NO_POINTS",
                format!("criterion {code} ({}) has no points", self.title),
                format!("指标 {code}({})没有分值", self.title),
            ));
        }
        Criterion {
            code,
            title: self.title,
            worth: Worth::Points(points.unwrap_or(1.0)),
            peer_groups: Vec::new(),
            scorer: self.scorer,
            scorer_unit: None,
            guidance: self.guidance,
            basis: Basis::Full,
            rules: if leaf {
                vec![Rule {
                    when: None,
                    then: Effect::Manual,
                }]
            } else {
                Vec::new()
            },
            group_caps: Default::default(),
            children,
        }
    }
}

/// The scheme a spreadsheet describes (its first sheet), checked whole.
pub fn scheme_from_xlsx(bytes: &[u8], head: SchemeHead) -> Result<Scheme, Vec<FieldViolation>> {
    if bytes.len() > MAX_SPREADSHEET_BYTES {
        return Err(vec![FieldViolation::too_long(
            "spreadsheet",
            MAX_SPREADSHEET_BYTES,
        )]);
    }
    let not_xlsx = |error: String| {
        refused(
            "NOT_XLSX",
            format!("not an XLSX workbook: {error}"),
            format!("不是 XLSX 工作簿:{error}"),
        )
    };
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|error: calamine::XlsxError| not_xlsx(error.to_string()))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| not_xlsx("no sheet".to_owned()))?
        .map_err(|error| not_xlsx(error.to_string()))?;
    let mut rows = sheet.rows();
    let columns = rows
        .by_ref()
        .take(20)
        .find_map(Columns::of)
        .ok_or_else(|| {
            refused(
                "NO_HEADER",
                "no header row naming the criteria (一级指标 …) and the points (分值) in the first 20 rows".to_owned(),
                "前 20 行中没有含指标列(一级指标等)和分值列的表头".to_owned(),
            )
        })?;
    let mut roots: Vec<Node> = Vec::new();
    // The names of the current path, carried down over merged or empty cells.
    let mut carried: Vec<String> = vec![String::new(); columns.levels.len()];
    for row in rows {
        let cell = |index: Option<usize>| text(index.and_then(|index| row.get(index)));
        let names: Vec<String> = columns
            .levels
            .iter()
            .map(|index| cell(Some(*index)))
            .collect();
        let Some(deepest) = names.iter().rposition(|name| !name.is_empty()) else {
            continue;
        };
        for (level, name) in names.iter().enumerate().take(deepest + 1) {
            if !name.is_empty() {
                carried[level].clone_from(name);
                for below in carried.iter_mut().skip(level + 1) {
                    below.clear();
                }
            }
        }
        let mut level_nodes = &mut roots;
        for level in 0..=deepest {
            let (title, from_name) = name_and_points(&carried[level]);
            if title.is_empty() {
                break;
            }
            let fresh = !names[level].is_empty()
                || level_nodes.last().is_none_or(|last| last.title != title);
            if fresh {
                level_nodes.push(Node::new(title, from_name));
            }
            let node = level_nodes.last_mut().expect("pushed or present");
            if level == deepest {
                node.points = node.points.or(points(&cell(columns.points)));
                node.guidance = cell(columns.guidance);
                node.scorer = cell(columns.scorer);
            }
            level_nodes = &mut node.children;
        }
    }
    if roots.is_empty() {
        return Err(refused(
            "NO_CRITERIA",
            "no criteria below the header row".to_owned(),
            "表头下没有考核指标".to_owned(),
        ));
    }
    let mut violations = Vec::new();
    let criteria = roots
        .into_iter()
        .enumerate()
        .map(|(index, node)| node.into_criterion((index + 1).to_string(), &mut violations))
        .collect();
    if !violations.is_empty() {
        return Err(violations);
    }
    let scheme = Scheme {
        code: head.code,
        title: head.title,
        year: head.year,
        owner_unit: head.owner_unit,
        peer_groups: head.peer_groups,
        criteria,
        normalise_to: None,
        bonus_cap: 0.0,
        grades: Vec::new(),
        rectification: Default::default(),
        appeal_days: 7,
    };
    // Through YAML, so that it is checked exactly as a scheme written by hand.
    Scheme::from_yaml(&scheme.to_yaml())
}
