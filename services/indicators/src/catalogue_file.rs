//! Catalogue files: data elements, indicators and targets as YAML, read into the domain and
//! written back. The format is described in `docs/indicators.md`.

use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use crate::domain::{
    Aggregation, Catalogue, DataElement, DataElementId, DataSet, DataSetId, Direction, Indicator,
    IndicatorId, PeriodType, Target, TargetId, TargetKind, ValidationRule, ValueType,
};

/// Largest catalogue file accepted.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    data_elements: Vec<ElementRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    indicators: Vec<IndicatorRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    targets: Vec<TargetRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    data_sets: Vec<DataSetRecord>,
}

fn sum() -> Aggregation {
    Aggregation::Sum
}

fn one() -> f64 {
    1.0
}

fn is_one(value: &f64) -> bool {
    *value == 1.0
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementRecord {
    id: String,
    code: String,
    display_name: String,
    value_type: ValueType,
    #[serde(default = "sum")]
    aggregation: Aggregation,
    /// Over periods; the aggregation over units when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period_aggregation: Option<Aggregation>,
    period_type: PeriodType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    category: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    category_options: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    unit_of_measure: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    central: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorRecord {
    id: String,
    code: String,
    display_name: String,
    formula: String,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    factor: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    unit_of_measure: String,
    direction: Direction,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRecord {
    id: String,
    display_name: String,
    /// The indicator's id; absent for a composite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    indicator: Option<String>,
    /// The unit's id.
    owner_unit: String,
    /// The unit group's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applies_to_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_period: Option<String>,
    /// `{absolute: {...}}`, `trend`, `{all_of: [...]}`…: one key naming the kind.
    #[serde(with = "serde_yaml::with::singleton_map")]
    kind: TargetKind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSetRecord {
    id: String,
    code: String,
    display_name: String,
    period_type: PeriodType,
    data_elements: Vec<String>,
    /// The unit's id.
    owner_unit: String,
    /// The unit group's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reporting_group: Option<String>,
    #[serde(default)]
    due_days: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    validation_rules: Vec<ValidationRule>,
}

const GROUP_PREFIX: &str = "unitGroups/";

/// Reads a catalogue file; every entry's id checked, each problem named by its place.
pub fn read(content: &[u8]) -> Result<Catalogue, Vec<FieldViolation>> {
    if content.len() > MAX_FILE_BYTES {
        return Err(vec![FieldViolation::new(
            "content",
            "TOO_LARGE",
            format!("a catalogue file is at most {MAX_FILE_BYTES} bytes"),
            format!("目录文件不能超过 {MAX_FILE_BYTES} 字节"),
        )]);
    }
    let file: CatalogueFile = serde_yaml::from_slice(content).map_err(|error| {
        vec![FieldViolation::new(
            "content",
            "UNREADABLE_FILE",
            format!("not a catalogue file: {error}"),
            format!("无法读取目录文件:{error}"),
        )]
    })?;
    let mut violations = Vec::new();
    let mut checked = |result: Result<(), FieldViolation>| {
        if let Err(violation) = result {
            violations.push(violation);
        }
    };
    let creation = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let mut catalogue = Catalogue::default();
    for (index, record) in file.data_elements.into_iter().enumerate() {
        let id = DataElementId::parse(&format!("data_elements[{index}].id"), &record.id);
        checked(id.as_ref().map(|_| ()).map_err(Clone::clone));
        catalogue.elements.push(DataElement {
            id: id.unwrap_or_else(|_| DataElementId::from_trusted(record.id)),
            code: record.code,
            display_name: record.display_name,
            value_type: record.value_type,
            aggregation: record.aggregation,
            period_aggregation: record.period_aggregation.unwrap_or(record.aggregation),
            period_type: record.period_type,
            category: record.category,
            category_options: record.category_options,
            unit_of_measure: record.unit_of_measure,
            central: record.central,
            revision: 1,
            create_time: creation,
            delete_time: None,
        });
    }
    for (index, record) in file.indicators.into_iter().enumerate() {
        let id = IndicatorId::parse(&format!("indicators[{index}].id"), &record.id);
        checked(id.as_ref().map(|_| ()).map_err(Clone::clone));
        catalogue.indicators.push(Indicator {
            id: id.unwrap_or_else(|_| IndicatorId::from_trusted(record.id)),
            code: record.code,
            display_name: record.display_name,
            formula: record.formula,
            factor: record.factor,
            unit_of_measure: record.unit_of_measure,
            direction: record.direction,
            data_element_codes: Vec::new(),
            revision: 1,
            create_time: creation,
            delete_time: None,
        });
    }
    for (index, record) in file.targets.into_iter().enumerate() {
        let field = |name: &str| format!("targets[{index}].{name}");
        let id = TargetId::parse(&field("id"), &record.id);
        checked(id.as_ref().map(|_| ()).map_err(Clone::clone));
        let indicator = record.indicator.map(|indicator| {
            let parsed = IndicatorId::parse(&field("indicator"), &indicator);
            checked(parsed.as_ref().map(|_| ()).map_err(Clone::clone));
            parsed.unwrap_or_else(|_| IndicatorId::from_trusted(indicator))
        });
        checked(fazhi_platform::aip::resource_id(
            &field("owner_unit"),
            &record.owner_unit,
        ));
        if let Some(group) = &record.applies_to_group {
            checked(fazhi_platform::aip::resource_id(
                &field("applies_to_group"),
                group,
            ));
        }
        catalogue.targets.push(Target {
            id: id.unwrap_or_else(|_| TargetId::from_trusted(record.id)),
            display_name: record.display_name,
            indicator,
            owner_unit: record.owner_unit,
            applies_to_group: record
                .applies_to_group
                .map(|group| format!("{GROUP_PREFIX}{group}")),
            first_period: record.first_period,
            last_period: record.last_period,
            kind: record.kind,
            revision: 1,
            create_time: creation,
            delete_time: None,
        });
    }
    for (index, record) in file.data_sets.into_iter().enumerate() {
        let field = |name: &str| format!("data_sets[{index}].{name}");
        let id = DataSetId::parse(&field("id"), &record.id);
        checked(id.as_ref().map(|_| ()).map_err(Clone::clone));
        checked(fazhi_platform::aip::resource_id(
            &field("owner_unit"),
            &record.owner_unit,
        ));
        if let Some(group) = &record.reporting_group {
            checked(fazhi_platform::aip::resource_id(
                &field("reporting_group"),
                group,
            ));
        }
        catalogue.data_sets.push(DataSet {
            id: id.unwrap_or_else(|_| DataSetId::from_trusted(record.id)),
            code: record.code,
            display_name: record.display_name,
            period_type: record.period_type,
            data_element_codes: record.data_elements,
            owner_unit: record.owner_unit,
            reporting_group: record
                .reporting_group
                .map(|group| format!("{GROUP_PREFIX}{group}")),
            due_days: record.due_days,
            validation_rules: record.validation_rules,
            revision: 1,
            create_time: creation,
            delete_time: None,
        });
    }
    if violations.is_empty() {
        Ok(catalogue)
    } else {
        Err(violations)
    }
}

fn without_group_prefix(group: &str) -> String {
    group.strip_prefix(GROUP_PREFIX).unwrap_or(group).to_owned()
}

/// Writes a catalogue as a file [`read`] takes back.
pub fn write(catalogue: Catalogue) -> Result<String, serde_yaml::Error> {
    let file = CatalogueFile {
        data_elements: catalogue
            .elements
            .into_iter()
            .map(|element| ElementRecord {
                id: element.id.as_str().to_owned(),
                code: element.code,
                display_name: element.display_name,
                value_type: element.value_type,
                aggregation: element.aggregation,
                period_aggregation: (element.period_aggregation != element.aggregation)
                    .then_some(element.period_aggregation),
                period_type: element.period_type,
                category: element.category,
                category_options: element.category_options,
                unit_of_measure: element.unit_of_measure,
                central: element.central,
            })
            .collect(),
        indicators: catalogue
            .indicators
            .into_iter()
            .map(|indicator| IndicatorRecord {
                id: indicator.id.as_str().to_owned(),
                code: indicator.code,
                display_name: indicator.display_name,
                formula: indicator.formula,
                factor: indicator.factor,
                unit_of_measure: indicator.unit_of_measure,
                direction: indicator.direction,
            })
            .collect(),
        targets: catalogue
            .targets
            .into_iter()
            .map(|target| TargetRecord {
                id: target.id.as_str().to_owned(),
                display_name: target.display_name,
                indicator: target
                    .indicator
                    .map(|indicator| indicator.as_str().to_owned()),
                owner_unit: target.owner_unit,
                applies_to_group: target
                    .applies_to_group
                    .map(|group| without_group_prefix(&group)),
                first_period: target.first_period,
                last_period: target.last_period,
                kind: target.kind,
            })
            .collect(),
        data_sets: catalogue
            .data_sets
            .into_iter()
            .map(|set| DataSetRecord {
                id: set.id.as_str().to_owned(),
                code: set.code,
                display_name: set.display_name,
                period_type: set.period_type,
                data_elements: set.data_element_codes,
                owner_unit: set.owner_unit,
                reporting_group: set
                    .reporting_group
                    .map(|group| without_group_prefix(&group)),
                due_days: set.due_days,
                validation_rules: set.validation_rules,
            })
            .collect(),
    };
    serde_yaml::to_string(&file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan_import;

    const DEMO: &str = include_str!("../catalogue/demo.yaml");

    #[test]
    fn the_demo_catalogue_reads_checks_and_writes_back() {
        let catalogue = read(DEMO.as_bytes()).expect("reads");
        assert_eq!(
            (
                catalogue.elements.len(),
                catalogue.indicators.len(),
                catalogue.targets.len(),
                catalogue.data_sets.len()
            ),
            (11, 7, 9, 3)
        );
        let plan = plan_import(catalogue, &Catalogue::default()).expect("a valid catalogue");
        let written = write(Catalogue {
            elements: plan.elements,
            indicators: plan.indicators,
            targets: plan.targets,
            data_sets: plan.data_sets,
        })
        .expect("writes");
        let again = read(written.as_bytes()).expect("reads back");
        assert_eq!((again.targets.len(), again.data_sets.len()), (9, 3));
        assert_eq!(
            again.data_sets[0],
            read(DEMO.as_bytes()).expect("reads").data_sets[0]
        );
        assert_eq!(
            again.targets[3].kind,
            read(DEMO.as_bytes()).expect("reads").targets[3].kind
        );
    }

    #[test]
    fn problems_are_named_by_their_place_in_the_file() {
        let broken = "data_elements:\n  - {id: Bad_Id, code: x, display_name: x, value_type: count, period_type: year}\n";
        let violations = read(broken.as_bytes()).expect_err("bad id");
        assert_eq!(violations[0].field, "data_elements[0].id");
        let unknown = read(b"elements: []\n").expect_err("unknown key");
        assert_eq!(unknown[0].reason, "UNREADABLE_FILE");
        let file = "indicators:\n  - {id: a, code: a, display_name: a, formula: 未知 / 2, direction: higher_is_better}\n";
        let planned = plan_import(read(file.as_bytes()).expect("reads"), &Catalogue::default())
            .expect_err("unknown element");
        assert_eq!(
            (planned[0].field.as_str(), planned[0].reason),
            ("indicators[0].formula", "UNKNOWN_DATA_ELEMENT")
        );
    }
}
