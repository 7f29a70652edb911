//! What a catalogue file does to the catalogue: which entries are new, which exist unchanged,
//! and every problem (invalid, changed, duplicate) named by its place in the file. The whole
//! file is checked against the catalogue as it would be after the import.

use fazhi_platform::error::FieldViolation;

use super::catalogue::{Catalogue, DataElement, Indicator, check_data_element, check_indicator};
use super::dataset::{DataSet, check_data_set};
use super::formula::Formula;
use super::target::{Target, check_target};

/// The entries a file adds; `unchanged` counts those that exist as the file says.
#[derive(Debug, Default)]
pub struct CatalogueImport {
    pub elements: Vec<DataElement>,
    pub indicators: Vec<Indicator>,
    pub targets: Vec<Target>,
    pub data_sets: Vec<DataSet>,
    pub unchanged: usize,
}

fn changed(field: String, name: String) -> FieldViolation {
    FieldViolation::new(
        field,
        "CHANGED",
        format!("{name} exists with other values; catalogue entries are not changed by an import"),
        format!("{name} 已存在且内容不同;导入不修改已有条目"),
    )
}

fn duplicate(field: String, what: &str, value: &str) -> FieldViolation {
    FieldViolation::new(
        field,
        "DUPLICATE",
        format!("another entry has the {what} {value}"),
        format!("{value} 与其他条目重复"),
    )
}

/// Compares two entries as a file describes them: not their revision or creation time.
fn same<T: PartialEq + Clone>(existing: &T, new: &T, normalise: impl Fn(T) -> T) -> bool {
    normalise(existing.clone()) == normalise(new.clone())
}

/// Plans the import of `file` into `existing`.
pub fn plan_import(
    file: Catalogue,
    existing: &Catalogue,
) -> Result<CatalogueImport, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut plan = CatalogueImport::default();
    let mut merged = existing.clone();
    let epoch = chrono::DateTime::<chrono::Utc>::MIN_UTC;

    for (index, element) in file.elements.into_iter().enumerate() {
        let prefix = format!("data_elements[{index}]");
        let normal = |element: DataElement| DataElement {
            revision: 0,
            create_time: epoch,
            ..element
        };
        if let Some(current) = existing
            .elements
            .iter()
            .find(|current| current.id == element.id)
        {
            if same(current, &element, normal) {
                plan.unchanged += 1;
            } else {
                violations.push(changed(prefix, element.id.name()));
            }
            continue;
        }
        violations.extend(check_data_element(&element, &prefix));
        if merged.elements.iter().any(|other| other.id == element.id) {
            violations.push(duplicate(format!("{prefix}.id"), "id", element.id.as_str()));
        }
        if merged.element(&element.code).is_some() {
            violations.push(duplicate(format!("{prefix}.code"), "code", &element.code));
        }
        merged.elements.push(element.clone());
        plan.elements.push(element);
    }

    for (index, mut indicator) in file.indicators.into_iter().enumerate() {
        let prefix = format!("indicators[{index}]");
        indicator.data_element_codes = Formula::parse(&indicator.formula)
            .map(|formula| formula.element_codes())
            .unwrap_or_default();
        let normal = |indicator: Indicator| Indicator {
            revision: 0,
            create_time: epoch,
            data_element_codes: Vec::new(),
            ..indicator
        };
        if let Some(current) = existing.indicator(&indicator.id) {
            if same(current, &indicator, normal) {
                plan.unchanged += 1;
            } else {
                violations.push(changed(prefix, indicator.id.name()));
            }
            continue;
        }
        if let Err(found) = check_indicator(&indicator, &prefix, |code| merged.element(code)) {
            violations.extend(found);
        }
        if merged.indicator(&indicator.id).is_some() {
            violations.push(duplicate(
                format!("{prefix}.id"),
                "id",
                indicator.id.as_str(),
            ));
        }
        if merged
            .indicators
            .iter()
            .any(|other| other.code == indicator.code)
        {
            violations.push(duplicate(format!("{prefix}.code"), "code", &indicator.code));
        }
        merged.indicators.push(indicator.clone());
        plan.indicators.push(indicator);
    }

    // Targets may name targets later in the file (a composite before its parts).
    let mut new_targets = Vec::new();
    for (index, target) in file.targets.into_iter().enumerate() {
        let normal = |target: Target| Target {
            revision: 0,
            create_time: epoch,
            ..target
        };
        if let Some(current) = existing
            .targets
            .iter()
            .find(|current| current.id == target.id)
        {
            if same(current, &target, normal) {
                plan.unchanged += 1;
            } else {
                violations.push(changed(format!("targets[{index}]"), target.id.name()));
            }
            continue;
        }
        if merged.has_target(&target.id) {
            violations.push(duplicate(
                format!("targets[{index}].id"),
                "id",
                target.id.as_str(),
            ));
        }
        merged.targets.push(target.clone());
        new_targets.push((index, target));
    }
    for (index, target) in new_targets {
        violations.extend(check_target(&target, &merged, &format!("targets[{index}]")));
        plan.targets.push(target);
    }

    for (index, set) in file.data_sets.into_iter().enumerate() {
        let prefix = format!("data_sets[{index}]");
        let normal = |set: DataSet| DataSet {
            revision: 0,
            create_time: epoch,
            ..set
        };
        if let Some(current) = existing
            .data_sets
            .iter()
            .find(|current| current.id == set.id)
        {
            if same(current, &set, normal) {
                plan.unchanged += 1;
            } else {
                violations.push(changed(prefix, set.id.name()));
            }
            continue;
        }
        violations.extend(check_data_set(&set, &merged, &prefix));
        if merged.data_sets.iter().any(|other| other.id == set.id) {
            violations.push(duplicate(format!("{prefix}.id"), "id", set.id.as_str()));
        }
        if merged.data_sets.iter().any(|other| other.code == set.code) {
            violations.push(duplicate(format!("{prefix}.code"), "code", &set.code));
        }
        merged.data_sets.push(set.clone());
        plan.data_sets.push(set);
    }
    if violations.is_empty() {
        Ok(plan)
    } else {
        Err(violations)
    }
}
