//! Reporting periods (统计周期) and their canonical ids: `2024`, `2024H1`, `2024Q3`, `2024-03`,
//! `2024W09` (ISO week), `2024-2025` (two years), and custom dated windows such as a term of
//! office (任期), `2021-03-15~2026-03-14`. A period is a dated window; a longer period contains the
//! shorter ones inside it, which is how months roll up into a quarter, a year or a term.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use fazhi_platform::error::FieldViolation;

fazhi_platform::string_enum!(
    /// The length of a period.
    PeriodType {
        Year = "year",
        HalfYear = "half_year",
        Quarter = "quarter",
        Month = "month",
        Week = "week",
        TwoYear = "two_year",
        /// A dated window of any length: a term of office (任期), a campaign.
        Custom = "custom",
    }
);

/// One period: its type and its first and last day (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub period_type: PeriodType,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Why a period id was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a period id: expected 2024, 2024H1, 2024Q3, 2024-03, 2024W09, 2024-2025 or 2021-03-15~2026-03-14"
)]
pub struct BadPeriod;

const FIRST_YEAR: i32 = 1949;
const LAST_YEAR: i32 = 2200;

fn year_of(text: &str) -> Result<i32, BadPeriod> {
    if text.len() != 4 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(BadPeriod);
    }
    let year: i32 = text.parse().map_err(|_| BadPeriod)?;
    if (FIRST_YEAR..=LAST_YEAR).contains(&year) {
        Ok(year)
    } else {
        Err(BadPeriod)
    }
}

fn small_number(text: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, BadPeriod> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(BadPeriod);
    }
    let number: u32 = text.parse().map_err(|_| BadPeriod)?;
    if range.contains(&number) {
        Ok(number)
    } else {
        Err(BadPeriod)
    }
}

fn first_of_month(year: i32, month: u32) -> Result<NaiveDate, BadPeriod> {
    NaiveDate::from_ymd_opt(year, month, 1).ok_or(BadPeriod)
}

/// The day before the first of the month `months` after `start`.
fn end_after(start: NaiveDate, months: u32) -> Result<NaiveDate, BadPeriod> {
    start
        .checked_add_months(Months::new(months))
        .and_then(|next| next.checked_sub_days(Days::new(1)))
        .ok_or(BadPeriod)
}

impl Period {
    /// Reads a canonical period id.
    pub fn parse(id: &str) -> Result<Self, BadPeriod> {
        if let Some((start, end)) = id.split_once('~') {
            return Self::custom(start, end);
        }
        let months = |period_type, start, months| {
            Ok(Self {
                period_type,
                start,
                end: end_after(start, months)?,
            })
        };
        if let Some((year, rest)) = id.split_once('H') {
            let half = small_number(rest, 1..=2)?;
            let start = first_of_month(year_of(year)?, (half - 1) * 6 + 1)?;
            return months(PeriodType::HalfYear, start, 6);
        }
        if let Some((year, rest)) = id.split_once('Q') {
            let quarter = small_number(rest, 1..=4)?;
            let start = first_of_month(year_of(year)?, (quarter - 1) * 3 + 1)?;
            return months(PeriodType::Quarter, start, 3);
        }
        if let Some((year, rest)) = id.split_once('W') {
            let year = year_of(year)?;
            let week = small_number(rest, 1..=53)?;
            if rest.len() != 2 {
                return Err(BadPeriod);
            }
            let start = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or(BadPeriod)?;
            let end = start.checked_add_days(Days::new(6)).ok_or(BadPeriod)?;
            return Ok(Self {
                period_type: PeriodType::Week,
                start,
                end,
            });
        }
        if let Some((year, rest)) = id.split_once('-') {
            let year = year_of(year)?;
            if rest.len() == 4 {
                if year_of(rest)? != year + 1 {
                    return Err(BadPeriod);
                }
                return months(PeriodType::TwoYear, first_of_month(year, 1)?, 24);
            }
            if rest.len() != 2 {
                return Err(BadPeriod);
            }
            let month = small_number(rest, 1..=12)?;
            return months(PeriodType::Month, first_of_month(year, month)?, 1);
        }
        months(PeriodType::Year, first_of_month(year_of(id)?, 1)?, 12)
    }

    /// A custom window `START~END`, both ISO dates, the start not after the end.
    fn custom(start: &str, end: &str) -> Result<Self, BadPeriod> {
        let date = |text: &str| {
            if text.len() != 10 {
                return Err(BadPeriod);
            }
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| BadPeriod)?;
            year_of(&text[..4]).map(|_| day)
        };
        let (start, end) = (date(start)?, date(end)?);
        if start > end {
            return Err(BadPeriod);
        }
        Ok(Self {
            period_type: PeriodType::Custom,
            start,
            end,
        })
    }

    /// Reads the period a request field names, as a field violation when it does not.
    pub fn parse_field(field: &str, text: &str) -> Result<Self, FieldViolation> {
        if text.is_empty() {
            return Err(FieldViolation::required(field));
        }
        Self::parse(text).map_err(|_| {
            FieldViolation::new(
                field,
                "INVALID_PERIOD",
                format!("{field} must be a period id such as 2024, 2024H1, 2024Q3, 2024-03, 2024W09, 2024-2025 or 2021-03-15~2026-03-14"),
                format!("{field} 须为 2024、2024H1、2024Q3、2024-03、2024W09、2024-2025 或 2021-03-15~2026-03-14(自定义期间)形式的统计周期"),
            )
        })
    }

    /// The canonical id.
    pub fn id(&self) -> String {
        let year = self.start.year();
        match self.period_type {
            PeriodType::Year => format!("{year}"),
            PeriodType::HalfYear => format!("{year}H{}", self.start.month0() / 6 + 1),
            PeriodType::Quarter => format!("{year}Q{}", self.start.month0() / 3 + 1),
            PeriodType::Month => format!("{year}-{:02}", self.start.month()),
            PeriodType::Week => {
                let week = self.start.iso_week();
                format!("{}W{:02}", week.year(), week.week())
            }
            PeriodType::TwoYear => format!("{year}-{}", year + 1),
            PeriodType::Custom => format!("{}~{}", self.start, self.end),
        }
    }

    /// The period of the same type just before this one (上期 / 上年同期 for a year).
    pub fn previous(&self) -> Option<Self> {
        let start = match self.period_type {
            PeriodType::Week => self.start.checked_sub_days(Days::new(7))?,
            PeriodType::Year => self.start.checked_sub_months(Months::new(12))?,
            PeriodType::HalfYear => self.start.checked_sub_months(Months::new(6))?,
            PeriodType::Quarter => self.start.checked_sub_months(Months::new(3))?,
            PeriodType::Month => self.start.checked_sub_months(Months::new(1))?,
            PeriodType::TwoYear => self.start.checked_sub_months(Months::new(24))?,
            // As long again, just before: the term before.
            PeriodType::Custom => self.start.checked_sub_days(Days::new(
                (self.end - self.start).num_days().unsigned_abs() + 1,
            ))?,
        };
        let end = self.start.checked_sub_days(Days::new(1))?;
        (start.year() >= FIRST_YEAR).then_some(Self {
            period_type: self.period_type,
            start,
            end,
        })
    }

    /// The period of a type that holds `day`; two-year periods are anchored on even years; a
    /// custom window is no calendar's, so `None`.
    pub fn containing(period_type: PeriodType, day: NaiveDate) -> Option<Self> {
        let year = day.year();
        let id = match period_type {
            PeriodType::Year => format!("{year}"),
            PeriodType::HalfYear => format!("{year}H{}", day.month0() / 6 + 1),
            PeriodType::Quarter => format!("{year}Q{}", day.month0() / 3 + 1),
            PeriodType::Month => format!("{year}-{:02}", day.month()),
            PeriodType::Week => {
                let week = day.iso_week();
                format!("{}W{:02}", week.year(), week.week())
            }
            PeriodType::TwoYear => {
                let first = year - year.rem_euclid(2);
                format!("{first}-{}", first + 1)
            }
            PeriodType::Custom => return None,
        };
        Self::parse(&id).ok()
    }

    /// Whether `other` lies wholly inside this period (a period contains itself).
    pub fn contains(&self, other: &Period) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

impl PeriodType {
    /// How a reporting form says it: 按年度填报.
    pub fn word(self) -> &'static str {
        match self {
            Self::Year => "年度",
            Self::HalfYear => "半年",
            Self::Quarter => "季度",
            Self::Month => "月度",
            Self::Week => "周",
            Self::TwoYear => "两年",
            Self::Custom => "自定义期间",
        }
    }
}

impl Ord for Period {
    /// In time order (the type breaks a tie no two real periods have).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start, self.end, self.period_type.as_str()).cmp(&(
            other.start,
            other.end,
            other.period_type.as_str(),
        ))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn every_kind_of_id_reads_and_writes_back() {
        for (id, start, end) in [
            ("2024", "2024-01-01", "2024-12-31"),
            ("2024H2", "2024-07-01", "2024-12-31"),
            ("2024Q1", "2024-01-01", "2024-03-31"),
            ("2024-02", "2024-02-01", "2024-02-29"),
            ("2024W09", "2024-02-26", "2024-03-03"),
            ("2020W53", "2020-12-28", "2021-01-03"),
            ("2024-2025", "2024-01-01", "2025-12-31"),
            ("2021-03-15~2026-03-14", "2021-03-15", "2026-03-14"),
        ] {
            let period = Period::parse(id).expect(id);
            assert_eq!((period.start, period.end), (date(start), date(end)), "{id}");
            assert_eq!(period.id(), id);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for id in [
            "",
            "24",
            "2024Q5",
            "2024Q0",
            "2024-13",
            "2024-2026",
            "2024H3",
            "2024W54",
            "2021W53",
            "2024W9",
            "二〇二四",
            "2024-1",
            "99999",
            "1800",
            "2024Q",
            "Q1",
            "2026-03-14~2021-03-15",
            "2021-3-15~2026-03-14",
            "2021-02-30~2021-03-01",
            "1800-01-01~2021-03-01",
            "2021-03-15~",
        ] {
            assert_eq!(Period::parse(id), Err(BadPeriod), "{id}");
        }
    }

    #[test]
    fn previous_periods_step_back_one_of_their_kind() {
        for (id, previous) in [
            ("2024", "2023"),
            ("2024H1", "2023H2"),
            ("2024Q1", "2023Q4"),
            ("2024-01", "2023-12"),
            ("2024W01", "2023W52"),
            ("2024-2025", "2022-2023"),
            ("2024-01-01~2024-01-10", "2023-12-22~2023-12-31"),
        ] {
            let period = Period::parse(id).expect(id);
            assert_eq!(period.previous().expect(id).id(), previous, "{id}");
        }
    }

    #[test]
    fn a_year_contains_its_months_and_quarters_but_not_the_next_year() {
        let year = Period::parse("2024").expect("year");
        assert!(year.contains(&Period::parse("2024-12").expect("month")));
        assert!(year.contains(&Period::parse("2024Q2").expect("quarter")));
        assert!(year.contains(&year));
        assert!(!year.contains(&Period::parse("2025-01").expect("month")));
        assert!(!year.contains(&Period::parse("2024-2025").expect("two years")));
        let term = Period::parse("2021-03-15~2026-03-14").expect("a term");
        assert!(term.contains(&Period::parse("2022").expect("year")));
        assert!(!term.contains(&Period::parse("2021").expect("year")));
    }
}
