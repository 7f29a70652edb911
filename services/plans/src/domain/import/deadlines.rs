//! Layer 5a: deadlines (2022年底前 → 2022-12-31, 3月底前) and recurrences (每年, 每季度, 年中、年终).

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// How often something recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recurrence {
    Yearly,
    Semiannual,
    Quarterly,
    Monthly,
}

/// A deadline or recurrence as the text says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub text: String,
    /// Character offsets of `text` in the task text.
    pub start: usize,
    pub end: usize,
    /// The last day, when the text fixes one.
    pub date: Option<NaiveDate>,
    pub recurrence: Option<Recurrence>,
}

static YEAR_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:到|至)?(20\d{2})年(?:年底|底|末|年末|前|下半年)前?").expect("a valid pattern")
});
static YEAR_HALF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(20\d{2})年上半年").expect("a valid pattern"));
static YEAR_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(20\d{2})年(\d{1,2})月(?:底|末|份)?前").expect("a valid pattern")
});
/// A time limit given as a month, with no 底前: (完成时限:2023年12月) is by its end.
static LIMIT_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:完成时限|完成时间|时限):((20\d{2})年(\d{1,2})月(?:底|末|份)?)(?:\)|;|,|。|$)")
        .expect("a valid pattern")
});
static MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{1,2})月(?:底|末)前?|(\d{1,2})月(\d{1,2})日前").expect("a valid pattern")
});
static BY_YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"到(20\d{2})年").expect("a valid pattern"));
static RECURRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"每年|每半年|年中[、和及]年终|每季度|每月").expect("a valid pattern")
});

fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)?.pred_opt()
}

/// Finds deadlines; `plan_year` dates a month without a year (3月底前).
pub fn find(text: &str, plan_year: Option<i32>) -> Vec<Deadline> {
    let mut found: Vec<Deadline> = Vec::new();
    let mut add =
        |matched: regex::Match<'_>, date: Option<NaiveDate>, recurrence: Option<Recurrence>| {
            let start = text[..matched.start()].chars().count();
            let end = start + matched.as_str().chars().count();
            if found
                .iter()
                .all(|other| end <= other.start || start >= other.end)
            {
                found.push(Deadline {
                    text: matched.as_str().to_owned(),
                    start,
                    end,
                    date,
                    recurrence,
                });
            }
        };
    for captures in LIMIT_MONTH.captures_iter(text) {
        let date = captures[2]
            .parse()
            .ok()
            .zip(captures[3].parse().ok())
            .and_then(|(year, month)| last_day_of_month(year, month));
        if let Some(matched) = captures.get(1) {
            add(matched, date, None);
        }
    }
    for captures in YEAR_MONTH.captures_iter(text) {
        let date = captures[1]
            .parse()
            .ok()
            .zip(captures[2].parse().ok())
            .and_then(|(year, month)| last_day_of_month(year, month));
        if let Some(matched) = captures.get(0) {
            add(matched, date, None);
        }
    }
    for captures in YEAR_HALF.captures_iter(text) {
        let date = captures[1]
            .parse()
            .ok()
            .and_then(|year| NaiveDate::from_ymd_opt(year, 6, 30));
        if let Some(matched) = captures.get(0) {
            add(matched, date, None);
        }
    }
    for captures in YEAR_END.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        let year: Option<i32> = captures[1].parse().ok();
        // 2025年前 is before 2025; 2025年底前 and 到2025年 are within it.
        let before_year = matched.as_str().ends_with("年前") && !matched.as_str().contains("底");
        let date = year.and_then(|year| {
            NaiveDate::from_ymd_opt(if before_year { year - 1 } else { year }, 12, 31)
        });
        add(matched, date, None);
    }
    for captures in BY_YEAR.captures_iter(text) {
        let date = captures[1]
            .parse()
            .ok()
            .and_then(|year| NaiveDate::from_ymd_opt(year, 12, 31));
        if let Some(matched) = captures.get(0) {
            add(matched, date, None);
        }
    }
    for captures in MONTH.captures_iter(text) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        // A month right after a year was read above.
        if text[..matched.start()].ends_with('年') {
            continue;
        }
        let date = match (captures.get(1), captures.get(2), captures.get(3)) {
            (Some(month), _, _) => plan_year
                .zip(month.as_str().parse().ok())
                .and_then(|(year, month)| last_day_of_month(year, month)),
            (None, Some(month), Some(day)) => plan_year
                .zip(month.as_str().parse().ok())
                .zip(day.as_str().parse().ok())
                .and_then(|((year, month), day)| NaiveDate::from_ymd_opt(year, month, day)),
            _ => None,
        };
        add(matched, date, None);
    }
    for matched in RECURRING.find_iter(text) {
        let recurrence = match matched.as_str() {
            "每年" => Recurrence::Yearly,
            "每季度" => Recurrence::Quarterly,
            "每月" => Recurrence::Monthly,
            _ => Recurrence::Semiannual,
        };
        add(matched, None, Some(recurrence));
    }
    found.sort_by_key(|deadline| deadline.start);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(text: &str, year: Option<i32>) -> Vec<(String, Option<String>, Option<Recurrence>)> {
        find(text, year)
            .into_iter()
            .map(|deadline| {
                (
                    deadline.text,
                    deadline.date.map(|date| date.to_string()),
                    deadline.recurrence,
                )
            })
            .collect()
    }

    #[test]
    fn reads_the_forms_plans_use() {
        assert_eq!(
            dates("2022年底前完成清理", None),
            vec![("2022年底前".to_owned(), Some("2022-12-31".to_owned()), None)]
        );
        assert_eq!(
            dates("2023年年底前实现全覆盖", None)[0].1.as_deref(),
            Some("2023-12-31")
        );
        assert_eq!(
            dates("在3月底前向社会公布", Some(2020))[0].1.as_deref(),
            Some("2020-03-31")
        );
        assert_eq!(
            dates("2024年2月底前", None)[0].1.as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            dates("到2025年实现督察全覆盖", None)[0].1.as_deref(),
            Some("2025-12-31")
        );
        assert_eq!(
            dates("2025年前建成", None)[0].1.as_deref(),
            Some("2024-12-31")
        );
        // A time limit that names a month is by its end.
        assert_eq!(
            dates("学法不少于4次。(完成时限:2023年12月)", None),
            vec![("2023年12月".to_owned(), Some("2023-12-31".to_owned()), None)]
        );
        let recurring = dates(
            "每年专题研究不少于2次,年中、年终各报告一次,每季度通报",
            None,
        );
        let kinds: Vec<_> = recurring
            .iter()
            .map(|(_, _, recurrence)| *recurrence)
            .collect();
        assert_eq!(
            kinds,
            vec![
                Some(Recurrence::Yearly),
                Some(Recurrence::Semiannual),
                Some(Recurrence::Quarterly)
            ]
        );
    }

    #[test]
    fn a_month_without_a_plan_year_has_no_date() {
        assert_eq!(dates("4月底之前完成", None)[0].1, None);
    }
}
