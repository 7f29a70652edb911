//! Stages of a plan (实施步骤): headings that name a 阶段 with its dates, as
//! (一)制定方案阶段(2020年3月1日—3月20日).

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde::Serialize;

use super::Warning;
use super::normalize::Line;

/// A stage as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedPhase {
    /// Without 阶段: 制定方案.
    pub title: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub line: usize,
}

/// A stage heading: its name and what its brackets hold.
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\([一二三四五六七八九十]{1,3}\)|[一二三四五六七八九十]{1,3}、|\d{1,2}[.、])?\s*(\p{Han}{2,12}?)阶段\s*\(([^)]{3,40})\)",
    )
    .expect("a valid pattern")
});
/// Dates as printed: 2020年3月1日—3月20日, 3月21日至4月30日, 11月1日—次年1月25日.
static DATES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(20\d{2})年)?(\d{1,2})月(\d{1,2})日?\s*(?:—|-|–|~|至|到)+\s*(?:(20\d{2})年|(次年))?(?:(\d{1,2})月)?(\d{1,2})日",
    )
    .expect("a valid pattern")
});
/// Dates whose 年 and 月 were lost in extraction: (202031日—320日), (2020321430日).
static GARBLED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(20\d{2})([\d日—\-–~至]+)$").expect("a valid pattern"));

/// Every stage heading with dates, and warnings for those whose dates could not be read. Years
/// missing from the text are the plan's first year. Dates that lost their 年 and 月 are read back
/// when exactly one reading gives valid dates in order that follow the previous stage (and, among
/// several, exactly one starts the day after it ends); each recovery is reported.
pub fn find(lines: &[Line], plan_year: Option<i32>) -> (Vec<ParsedPhase>, Vec<Warning>) {
    let mut phases: Vec<ParsedPhase> = Vec::new();
    let mut warnings = Vec::new();
    for line in lines {
        let Some(heading) = HEADING.captures(&line.text) else {
            continue;
        };
        let (title, dates) = (heading[1].to_owned(), &heading[2]);
        let previous_end = phases.last().map(|phase| phase.end_date);
        let read = match read_dates(dates, plan_year) {
            Some(read) => Some(read),
            None => match recover(dates, plan_year, previous_end).as_slice() {
                [(start, end)] => {
                    warnings.push(Warning {
                        code: "PHASE_DATES_RECOVERED",
                        line: line.number,
                        message: format!(
                            "{title}阶段: dates ({dates}) lost characters; read as {start} to {end}"
                        ),
                    });
                    Some((*start, *end))
                }
                readings => {
                    warnings.push(Warning {
                        code: "PHASE_DATES_UNREADABLE",
                        line: line.number,
                        message: format!(
                            "{title}阶段: dates ({dates}) could not be read ({} readings)",
                            readings.len()
                        ),
                    });
                    None
                }
            },
        };
        if let Some((start_date, end_date)) = read {
            phases.push(ParsedPhase {
                title,
                start_date,
                end_date,
                line: line.number,
            });
        }
    }
    (phases, warnings)
}

fn read_dates(text: &str, plan_year: Option<i32>) -> Option<(NaiveDate, NaiveDate)> {
    let captures = DATES.captures(text)?;
    let number = |index: usize| captures.get(index)?.as_str().parse::<u32>().ok();
    let start_year = match captures.get(1) {
        Some(year) => year.as_str().parse().ok()?,
        None => plan_year?,
    };
    let (start_month, start_day) = (number(2)?, number(3)?);
    let end_month = number(6).unwrap_or(start_month);
    let end_year = match (captures.get(4), captures.get(5)) {
        (Some(year), _) => year.as_str().parse().ok()?,
        (None, Some(_)) => start_year + 1,
        (None, None) => start_year,
    };
    let start = NaiveDate::from_ymd_opt(start_year, start_month, start_day)?;
    let end = NaiveDate::from_ymd_opt(end_year, end_month, number(7)?)?;
    (start <= end).then_some((start, end))
}

/// The readings of digits that lost their 年 and 月: each way to cut them into month, day,
/// (month,) day — never across a surviving 日 or dash — that gives dates in order within the year,
/// after the previous stage.
fn recover(
    text: &str,
    plan_year: Option<i32>,
    previous_end: Option<NaiveDate>,
) -> Vec<(NaiveDate, NaiveDate)> {
    let Some(captures) = GARBLED.captures(text) else {
        return Vec::new();
    };
    let Ok(year) = captures[1].parse::<i32>() else {
        return Vec::new();
    };
    if plan_year.is_some_and(|plan| plan > year) {
        return Vec::new();
    }
    // Month, day, month, day: at most eight digits (and few ways to cut them).
    if captures[2].bytes().filter(u8::is_ascii_digit).count() > 8 {
        return Vec::new();
    }
    let segments: Vec<Vec<u32>> = captures[2]
        .split(|character: char| !character.is_ascii_digit())
        .filter(|segment| !segment.is_empty())
        .map(|segment| segment.bytes().map(|byte| u32::from(byte - b'0')).collect())
        .collect();
    let mut cuts = vec![Vec::new()];
    for segment in &segments {
        cuts = cuts
            .into_iter()
            .flat_map(|numbers: Vec<u32>| {
                numbers_of(segment).into_iter().map(move |more| {
                    let mut numbers = numbers.clone();
                    numbers.extend(more);
                    numbers
                })
            })
            .collect();
    }
    let mut readings: Vec<(NaiveDate, NaiveDate)> = cuts
        .into_iter()
        .filter_map(|numbers| {
            let (start_month, start_day, end_month, end_day) = match numbers.as_slice() {
                [month, day, end_month, end_day] => (*month, *day, *end_month, *end_day),
                [month, day, end_day] => (*month, *day, *month, *end_day),
                _ => return None,
            };
            let start = NaiveDate::from_ymd_opt(year, start_month, start_day)?;
            let end = NaiveDate::from_ymd_opt(year, end_month, end_day)?;
            (start <= end && previous_end.is_none_or(|previous| start > previous))
                .then_some((start, end))
        })
        .collect();
    readings.sort();
    readings.dedup();
    if readings.len() > 1
        && let Some(previous) = previous_end
    {
        let following: Vec<_> = readings
            .iter()
            .copied()
            .filter(|(start, _)| previous.succ_opt() == Some(*start))
            .collect();
        if following.len() == 1 {
            return following;
        }
    }
    readings
}

/// Every way to cut a run of digits into numbers of one or two digits, none starting with 0.
fn numbers_of(digits: &[u32]) -> Vec<Vec<u32>> {
    if digits.is_empty() {
        return vec![Vec::new()];
    }
    if digits[0] == 0 {
        return Vec::new();
    }
    let mut cuts = Vec::new();
    for width in 1..=2.min(digits.len()) {
        let number = digits[..width]
            .iter()
            .fold(0, |sum, digit| sum * 10 + digit);
        for mut rest in numbers_of(&digits[width..]) {
            rest.insert(0, number);
            cuts.push(rest);
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::super::normalize::numbered as lines;
    use super::*;

    fn read(texts: &[&str]) -> (Vec<(String, String, String)>, Vec<&'static str>) {
        let (phases, warnings) = find(&lines(texts), Some(2020));
        (
            phases
                .iter()
                .map(|phase| {
                    (
                        phase.title.clone(),
                        phase.start_date.to_string(),
                        phase.end_date.to_string(),
                    )
                })
                .collect(),
            warnings.iter().map(|warning| warning.code).collect(),
        )
    }

    fn phase(title: &str, start: &str, end: &str) -> (String, String, String) {
        (title.to_owned(), start.to_owned(), end.to_owned())
    }

    #[test]
    fn reads_stage_headings_with_their_dates() {
        let (phases, warnings) = read(&[
            "(一)制定方案阶段(2020年3月1日—3月20日)",
            "(二)自查自评阶段(3月21日至4月30日)",
            "3.全面总结阶段(11月1日—次年1月25日)",
            "各阶段要统筹推进。",
            "(四)组织验收阶段(2020年2月30日—3月1日)",
        ]);
        assert_eq!(
            phases,
            [
                phase("制定方案", "2020-03-01", "2020-03-20"),
                phase("自查自评", "2020-03-21", "2020-04-30"),
                phase("全面总结", "2020-11-01", "2021-01-25"),
            ]
        );
        assert_eq!(warnings, ["PHASE_DATES_UNREADABLE"]);
    }

    #[test]
    fn recovers_dates_that_lost_their_year_and_month_characters() {
        // As in the 通辽 fixture: 年 and 月 (and some 日 and dashes) lost in extraction.
        let (phases, warnings) = read(&[
            "(一)制定方案阶段(202031日—320日)",
            "(二)自查自评阶段(2020321430日)",
            "(三)整改推进阶段(202051731日)",
            "(四)组织验收阶段(202081日—1031日)",
            "(五)全面总结阶段(2020111125日)",
        ]);
        assert_eq!(
            phases,
            [
                phase("制定方案", "2020-03-01", "2020-03-20"),
                phase("自查自评", "2020-03-21", "2020-04-30"),
                phase("整改推进", "2020-05-01", "2020-07-31"),
                phase("组织验收", "2020-08-01", "2020-10-31"),
                phase("全面总结", "2020-11-01", "2020-12-05"),
            ]
        );
        assert_eq!(warnings, ["PHASE_DATES_RECOVERED"; 5]);
        // Ambiguous without a previous stage to follow: reported, not guessed.
        let (phases, warnings) = read(&["(三)整改推进阶段(202051731日)"]);
        assert!(phases.is_empty());
        assert_eq!(warnings, ["PHASE_DATES_UNREADABLE"]);
    }
}
