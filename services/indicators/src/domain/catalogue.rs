//! The catalogue: data elements (数据项) units report, and indicators (指标) computed from them.

use chrono::{DateTime, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::formula::Formula;
use super::period::PeriodType;

fazhi_platform::resource_id!(
    /// A data element, `dataElements/{data_element}`.
    DataElementId,
    "dataElements",
    "e"
);

fazhi_platform::resource_id!(
    /// An indicator, `indicators/{indicator}`.
    IndicatorId,
    "indicators",
    "i"
);

fazhi_platform::string_enum!(
    /// What a data element's values are.
    ValueType {
        Count = "count",
        Decimal = "decimal",
        Percentage = "percentage",
        Hours = "hours",
        WorkingDays = "working_days",
        Boolean = "boolean",
        Date = "date",
        Text = "text",
    }
);

impl ValueType {
    /// Whether its values are numbers formulas can use (a date's day number is not one).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Self::Date | Self::Text)
    }

    /// How its values may combine: text only counted or the latest taken, dates not added up.
    fn allows(self, aggregation: Aggregation) -> bool {
        match self {
            Self::Text => matches!(aggregation, Aggregation::Count | Aggregation::Last),
            Self::Date => !matches!(aggregation, Aggregation::Sum | Aggregation::Average),
            _ => true,
        }
    }
}

fazhi_platform::string_enum!(
    /// How values combine over units or over periods.
    Aggregation {
        Sum = "sum",
        Average = "average",
        Max = "max",
        Min = "min",
        Last = "last",
        Count = "count",
    }
);

fazhi_platform::string_enum!(
    /// Which way an indicator improves.
    Direction {
        HigherIsBetter = "higher_is_better",
        LowerIsBetter = "lower_is_better",
    }
);

/// Most category options an element may have, and the longest texts of the catalogue.
pub const MAX_CATEGORY_OPTIONS: usize = 50;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_CODE_CHARS: usize = 40;

/// A raw figure units report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataElement {
    pub id: DataElementId,
    pub code: String,
    pub display_name: String,
    pub value_type: ValueType,
    /// Over the units of a region.
    pub aggregation: Aggregation,
    /// Over the periods inside a longer period.
    pub period_aggregation: Aggregation,
    pub period_type: PeriodType,
    /// 分类 (e.g. 人员类别), with its options; a value without an option is the total.
    pub category: String,
    pub category_options: Vec<String>,
    pub unit_of_measure: String,
    /// A reference series entered centrally, belonging to no unit.
    pub central: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    /// When it was deleted (AIP-164); a deleted entry is read by name only.
    pub delete_time: Option<DateTime<Utc>>,
}

/// A formula over data elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub id: IndicatorId,
    pub code: String,
    pub display_name: String,
    pub formula: String,
    pub factor: f64,
    pub unit_of_measure: String,
    pub direction: Direction,
    pub data_element_codes: Vec<String>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    /// When it was deleted (AIP-164); a deleted entry is read by name only.
    pub delete_time: Option<DateTime<Utc>>,
}

#[cfg(test)]
impl DataElement {
    /// A yearly element of a unit, summed, without categories.
    pub(crate) fn for_test(code: &str, value_type: ValueType) -> Self {
        Self {
            id: DataElementId::from_trusted(code.to_owned()),
            code: code.to_owned(),
            display_name: code.to_owned(),
            value_type,
            aggregation: Aggregation::Sum,
            period_aggregation: Aggregation::Sum,
            period_type: PeriodType::Year,
            category: String::new(),
            category_options: Vec::new(),
            unit_of_measure: String::new(),
            central: false,
            revision: 1,
            create_time: DateTime::<Utc>::MIN_UTC,
            delete_time: None,
        }
    }
}

/// Checks a code as formulas name it: letters (汉字 too), digits and `_`, not a digit first.
pub fn check_code(field: &str, code: &str) -> Option<FieldViolation> {
    let mut characters = code.chars();
    let valid = characters
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && characters.all(|c| c.is_alphanumeric() || c == '_')
        && code.chars().count() <= MAX_CODE_CHARS
        && code != "previous";
    (!valid).then(|| {
        FieldViolation::new(
            field,
            "INVALID_CODE",
            format!(
                "{field} must be 1-{MAX_CODE_CHARS} letters, digits or _, not starting with a digit (and not `previous`)"
            ),
            format!("{field} 须为 1 至 {MAX_CODE_CHARS} 个字母(可含汉字)、数字或下划线,且不以数字开头"),
        )
    })
}

/// The checks of a new data element's own fields (the code's uniqueness is the store's).
pub fn check_data_element(element: &DataElement, prefix: &str) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    violations.extend(check_code(&format!("{prefix}.code"), &element.code));
    check_display_name(
        &format!("{prefix}.display_name"),
        &element.display_name,
        &mut violations,
    );
    for (field, aggregation) in [
        ("aggregation", element.aggregation),
        ("period_aggregation", element.period_aggregation),
    ] {
        if !element.value_type.allows(aggregation) {
            violations.push(FieldViolation::new(
                format!("{prefix}.{field}"),
                "AGGREGATION_NOT_ALLOWED",
                format!(
                    "{} values cannot be combined by {}",
                    element.value_type.as_str(),
                    aggregation.as_str()
                ),
                format!(
                    "{}类数据项不能按 {} 汇总",
                    if element.value_type == ValueType::Text {
                        "文本"
                    } else {
                        "日期"
                    },
                    aggregation.as_str()
                ),
            ));
        }
    }
    if !element.category_options.is_empty() && element.category.trim().is_empty() {
        violations.push(FieldViolation::required(format!("{prefix}.category")));
    }
    violations.extend(FieldViolation::check_texts(
        &format!("{prefix}.category_options"),
        &element.category_options,
        (MAX_CATEGORY_OPTIONS, MAX_NAME_CHARS),
    ));
    let mut seen = std::collections::HashSet::new();
    for (index, option) in element.category_options.iter().enumerate() {
        if option.trim().is_empty() || option.contains(']') || !seen.insert(option) {
            violations.push(FieldViolation::new(
                format!("{prefix}.category_options[{index}]"),
                "INVALID_OPTION",
                "a category option is non-empty, unique and has no ]",
                "分类选项不能为空、不能重复,且不能包含 ]",
            ));
        }
    }
    for (field, text) in [
        ("category", &element.category),
        ("unit_of_measure", &element.unit_of_measure),
    ] {
        if text.chars().count() > MAX_NAME_CHARS {
            violations.push(FieldViolation::too_long(
                format!("{prefix}.{field}"),
                MAX_NAME_CHARS,
            ));
        }
    }
    violations
}

pub(super) fn check_display_name(field: &str, name: &str, violations: &mut Vec<FieldViolation>) {
    if name.trim().is_empty() {
        violations.push(FieldViolation::required(field));
    } else if name.chars().count() > MAX_NAME_CHARS {
        violations.push(FieldViolation::too_long(field, MAX_NAME_CHARS));
    }
}

/// Checks a new indicator against the catalogue (`element_of`: the element of a code, `None`
/// when there is none) and returns its parsed formula.
pub fn check_indicator<'a>(
    indicator: &Indicator,
    prefix: &str,
    element_of: impl Fn(&str) -> Option<&'a DataElement>,
) -> Result<Formula, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    violations.extend(check_code(&format!("{prefix}.code"), &indicator.code));
    check_display_name(
        &format!("{prefix}.display_name"),
        &indicator.display_name,
        &mut violations,
    );
    if !indicator.factor.is_finite() || indicator.factor == 0.0 {
        violations.push(FieldViolation::new(
            format!("{prefix}.factor"),
            "INVALID_FACTOR",
            "factor must be a finite number other than 0",
            "系数须为非零的有限数",
        ));
    }
    if indicator.unit_of_measure.chars().count() > MAX_NAME_CHARS {
        violations.push(FieldViolation::too_long(
            format!("{prefix}.unit_of_measure"),
            MAX_NAME_CHARS,
        ));
    }
    let formula_violation = |error: super::formula::FormulaError| {
        FieldViolation::new(
            format!("{prefix}.formula"),
            error.reason,
            format!("{} (character {})", error.message_en, error.position + 1),
            format!("{}(第 {} 个字符)", error.message_zh, error.position + 1),
        )
    };
    match Formula::parse(&indicator.formula) {
        Ok(formula) => {
            violations.extend(
                formula
                    .check(&indicator.formula, element_of)
                    .into_iter()
                    .map(formula_violation),
            );
            if violations.is_empty() {
                return Ok(formula);
            }
        }
        Err(error) => violations.push(formula_violation(error)),
    }
    Err(violations)
}

impl Aggregation {
    /// Combines values (in period order, for [`Aggregation::Last`]); `None` for no values.
    pub fn combine(self, values: &[f64]) -> Option<f64> {
        let last = *values.last()?;
        let count = values.len() as f64;
        Some(match self {
            Self::Sum => values.iter().sum(),
            Self::Average => values.iter().sum::<f64>() / count,
            Self::Max => values.iter().copied().fold(f64::MIN, f64::max),
            Self::Min => values.iter().copied().fold(f64::MAX, f64::min),
            Self::Last => last,
            Self::Count => count,
        })
    }

    /// How values of several units combine: a snapshot's latest values add up across units.
    pub fn over_units(self) -> Self {
        match self {
            Self::Last => Self::Sum,
            other => other,
        }
    }
}

/// What an update changes in a data element; `None`: kept. Its code, types, aggregations,
/// category and whether it is central are fixed: its values were reported as they are.
#[derive(Debug, Clone, Default)]
pub struct DataElementChanges {
    pub display_name: Option<String>,
    pub unit_of_measure: Option<String>,
    pub category_options: Option<Vec<String>>,
}

impl DataElement {
    /// This element with `changes` made, or the violation when an option would be taken away.
    pub fn changed(&self, changes: DataElementChanges) -> Result<Self, FieldViolation> {
        let current = self.clone();
        if let Some(options) = &changes.category_options
            && let Some(gone) = current
                .category_options
                .iter()
                .find(|option| !options.contains(option))
        {
            return Err(FieldViolation::new(
                "data_element.category_options",
                "CATEGORY_OPTION_REMOVED",
                format!("the option {gone} may not be taken away: values and formulas use it"),
                format!("分类选项 {gone} 不能删除:已有数据和公式使用它"),
            ));
        }
        Ok(Self {
            display_name: changes.display_name.unwrap_or(current.display_name),
            unit_of_measure: changes.unit_of_measure.unwrap_or(current.unit_of_measure),
            category_options: changes.category_options.unwrap_or(current.category_options),
            ..current
        })
    }
}

/// What an update changes in an indicator; `None`: kept. Its code is fixed: values and
/// targets are read by it.
#[derive(Debug, Clone, Default)]
pub struct IndicatorChanges {
    pub display_name: Option<String>,
    pub formula: Option<String>,
    pub factor: Option<f64>,
    pub unit_of_measure: Option<String>,
    pub direction: Option<Direction>,
}

impl Indicator {
    /// This indicator with `changes` made (its element codes to be read again from the formula).
    pub fn changed(&self, changes: IndicatorChanges) -> Self {
        let current = self.clone();
        Self {
            display_name: changes.display_name.unwrap_or(current.display_name),
            formula: changes.formula.unwrap_or(current.formula),
            factor: changes.factor.unwrap_or(current.factor),
            unit_of_measure: changes.unit_of_measure.unwrap_or(current.unit_of_measure),
            direction: changes.direction.unwrap_or(current.direction),
            ..current
        }
    }
}

/// The whole catalogue, for checks that look across it (a target's indicator, a formula's
/// elements, a composite's parts).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub elements: Vec<DataElement>,
    pub indicators: Vec<Indicator>,
    pub targets: Vec<super::target::Target>,
    pub data_sets: Vec<super::dataset::DataSet>,
}

impl Catalogue {
    pub fn element(&self, code: &str) -> Option<&DataElement> {
        self.elements.iter().find(|element| element.code == code)
    }

    pub fn indicator(&self, id: &IndicatorId) -> Option<&Indicator> {
        self.indicators.iter().find(|indicator| &indicator.id == id)
    }

    pub fn has_target(&self, id: &super::target::TargetId) -> bool {
        self.targets.iter().any(|target| &target.id == id)
    }

    /// A live entry that needs the element with this code (an indicator's formula, a data set,
    /// a target's reference), by name: what keeps it from being deleted.
    pub fn element_user(&self, code: &str) -> Option<String> {
        let code = code.to_owned();
        let indicators = self
            .indicators
            .iter()
            .filter(|indicator| indicator.data_element_codes.contains(&code))
            .map(|indicator| indicator.id.name());
        let data_sets = self
            .data_sets
            .iter()
            .filter(|set| set.data_element_codes.contains(&code))
            .map(|set| set.id.name());
        let targets = self
            .targets
            .iter()
            .filter(|target| {
                matches!(&target.kind, super::target::TargetKind::Reference { reference_code, .. }
                    if *reference_code == code)
            })
            .map(|target| target.id.name());
        indicators.chain(data_sets).chain(targets).next()
    }

    /// A live target on the indicator, by name.
    pub fn indicator_user(&self, id: &IndicatorId) -> Option<String> {
        self.targets
            .iter()
            .find(|target| target.indicator.as_ref() == Some(id))
            .map(|target| target.id.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_may_be_chinese_but_not_start_with_a_digit() {
        assert!(check_code("code", "出庭数").is_none());
        assert!(check_code("code", "L4_a").is_none());
        for bad in ["", "4L", "出庭-数", "a b", "previous", &"长".repeat(41)] {
            assert!(check_code("code", bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn aggregations_combine_as_named() {
        let values = [3.0, 1.0, 2.0];
        assert_eq!(Aggregation::Sum.combine(&values), Some(6.0));
        assert_eq!(Aggregation::Average.combine(&values), Some(2.0));
        assert_eq!(Aggregation::Max.combine(&values), Some(3.0));
        assert_eq!(Aggregation::Min.combine(&values), Some(1.0));
        assert_eq!(Aggregation::Last.combine(&values), Some(2.0));
        assert_eq!(Aggregation::Count.combine(&values), Some(3.0));
        assert_eq!(Aggregation::Sum.combine(&[]), None);
    }
}
