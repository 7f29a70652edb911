//! A bulletin (通报) as files: an XLSX workbook, and an HTML page that prints on A4. Both are
//! drawn from one [`Sheets`] view of the bulletin, so they say the same.

use askama::Template;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::domain::{Bulletin, ItemState, Round, RoundKind, Scheme};

/// A table: its title, column heads and rows of text.
pub struct Table {
    pub title: String,
    pub heads: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The bulletin as titled tables.
#[derive(Template)]
#[template(path = "bulletin.html")]
pub struct Sheets {
    pub title: String,
    pub subtitle: String,
    pub tables: Vec<Table>,
}

fn kind_word(kind: RoundKind) -> &'static str {
    match kind {
        RoundKind::Monthly => "月评价",
        RoundKind::Quarterly => "季通报",
        RoundKind::Annual => "年度考核",
    }
}

fn points(value: f64) -> String {
    format!("{:.2}", (value * 100.0).round() / 100.0)
}

fn state_word(state: ItemState) -> &'static str {
    match state {
        ItemState::Open => "待整改",
        ItemState::InProgress => "整改中",
        ItemState::Submitted => "已报送",
        ItemState::Closed => "已销号",
        ItemState::Reopened => "已退回",
    }
}

impl Sheets {
    /// The tables of a bulletin: each peer group's ranking, the grade distribution, the failed
    /// targets, vetoes, overdue tasks, the ledger and the supervision taken.
    pub fn of(round: &Round, scheme: &Scheme, bulletin: &Bulletin<'_>) -> Self {
        let name_of = |unit: &str| {
            bulletin
                .groups
                .iter()
                .flat_map(|group| &group.units)
                .find(|scored| scored.unit == unit)
                .map_or_else(|| unit.to_owned(), |scored| scored.display_name.clone())
        };
        let mut tables: Vec<Table> = bulletin
            .groups
            .iter()
            .map(|group| Table {
                title: format!("{}排名", group.title),
                heads: vec!["名次", "单位", "基础分", "加分", "总分", "等次", "否决项"],
                rows: group
                    .units
                    .iter()
                    .map(|scored| {
                        let rank = if scored.rank_shared {
                            format!("{}(并列)", scored.rank)
                        } else {
                            scored.rank.to_string()
                        };
                        vec![
                            rank,
                            scored.display_name.clone(),
                            points(scored.score.base),
                            points(scored.score.bonus),
                            points(scored.score.total),
                            scored
                                .score
                                .grade
                                .map_or("—", |grade| grade.word())
                                .to_owned(),
                            scored
                                .score
                                .veto
                                .as_ref()
                                .map(|veto| veto.criterion.clone())
                                .unwrap_or_default(),
                        ]
                    })
                    .collect(),
            })
            .collect();
        tables.push(Table {
            title: "等次分布".to_owned(),
            heads: vec!["考核组", "等次", "单位数"],
            rows: bulletin
                .groups
                .iter()
                .flat_map(|group| {
                    group.grades.iter().map(|(grade, count)| {
                        vec![
                            group.title.clone(),
                            crate::domain::Grade::parse(grade)
                                .map_or("未定等次", |grade| grade.word())
                                .to_owned(),
                            count.to_string(),
                        ]
                    })
                })
                .collect(),
        });
        tables.push(Table {
            title: "未达标指标".to_owned(),
            heads: vec!["目标", "未达标单位"],
            rows: bulletin
                .failed_targets
                .iter()
                .map(|failed| {
                    let units: Vec<String> =
                        failed.units.iter().map(|unit| name_of(unit)).collect();
                    vec![failed.target.clone(), units.join("、")]
                })
                .collect(),
        });
        tables.push(Table {
            title: "一票否决".to_owned(),
            heads: vec!["单位", "否决项"],
            rows: bulletin
                .vetoed
                .iter()
                .map(|(unit, criterion)| vec![name_of(unit), criterion.clone()])
                .collect(),
        });
        tables.push(Table {
            title: "逾期任务".to_owned(),
            heads: vec!["单位", "规划", "逾期未完成(项)"],
            rows: bulletin
                .overdue_tasks
                .iter()
                .map(|tasks| {
                    vec![
                        name_of(&tasks.unit),
                        tasks.plan.clone(),
                        tasks.overdue.to_string(),
                    ]
                })
                .collect(),
        });
        let mut ledger: Vec<Vec<String>> = ItemState::ALL
            .iter()
            .map(|state| {
                let count = bulletin
                    .ledger
                    .by_state
                    .get(state.as_str())
                    .copied()
                    .unwrap_or_default();
                vec![state_word(*state).to_owned(), count.to_string()]
            })
            .collect();
        ledger.push(vec![
            "黄牌预警".to_owned(),
            bulletin.ledger.yellow.to_string(),
        ]);
        ledger.push(vec![
            "红牌(逾期)".to_owned(),
            bulletin.ledger.red.to_string(),
        ]);
        tables.push(Table {
            title: "整改情况".to_owned(),
            heads: vec!["状态", "事项数"],
            rows: ledger,
        });
        tables.push(Table {
            title: "督察情况".to_owned(),
            heads: vec!["日期", "单位", "措施", "督察发现"],
            rows: bulletin
                .supervision
                .iter()
                .map(|record| {
                    vec![
                        record.create_time.date_naive().to_string(),
                        name_of(&record.unit),
                        record.action.word().to_owned(),
                        record.finding.clone(),
                    ]
                })
                .collect(),
        });
        let state = if round.publish_time.is_some() {
            "已发布"
        } else {
            "未发布"
        };
        Self {
            title: format!("{}{}通报", scheme.title, kind_word(round.kind)),
            subtitle: format!(
                "考核期间 {} · 第 {} 次计算 · {} · 方案第 {} 版",
                round.period, round.revision, state, round.scheme_version
            ),
            tables,
        }
    }

    /// The file name a download is given (RFC 5987 carries it as UTF-8).
    pub fn file_name(&self, extension: &str) -> String {
        format!("{}.{extension}", self.title)
    }

    pub fn to_html(&self) -> Result<String, askama::Error> {
        self.render()
    }

    /// One worksheet per table (Excel's sheet names are at most 31 characters).
    pub fn to_xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        let mut workbook = Workbook::new();
        let heading = Format::new().set_bold().set_font_size(14);
        let head = Format::new()
            .set_bold()
            .set_align(FormatAlign::Center)
            .set_border(FormatBorder::Thin)
            .set_background_color("#DDEBF7");
        let cell = Format::new().set_border(FormatBorder::Thin);
        for table in &self.tables {
            let sheet = workbook.add_worksheet();
            sheet.set_name(table.title.chars().take(31).collect::<String>())?;
            sheet.write_with_format(0, 0, &self.title, &heading)?;
            sheet.write(1, 0, &self.subtitle)?;
            for (column, name) in table.heads.iter().enumerate() {
                let column = u16::try_from(column).unwrap_or(u16::MAX);
                sheet.set_column_width(column, if column == 1 { 28 } else { 14 })?;
                sheet.write_with_format(3, column, *name, &head)?;
            }
            for (index, row) in table.rows.iter().enumerate() {
                let line = u32::try_from(index + 4).unwrap_or(u32::MAX);
                for (column, text) in row.iter().enumerate() {
                    let column = u16::try_from(column).unwrap_or(u16::MAX);
                    match text.parse::<f64>() {
                        Ok(number) if table.heads[usize::from(column)] != "名次" => {
                            sheet.write_with_format(line, column, number, &cell)?
                        }
                        _ => sheet.write_with_format(line, column, text, &cell)?,
                    };
                }
            }
        }
        workbook.save_to_buffer()
    }
}
