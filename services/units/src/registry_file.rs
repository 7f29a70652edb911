//! Registry files (YAML with units and groups, or CSV with units): reading and writing.
//! The format is described in `docs/registry-format.md`.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{
    AdministrativeLevel, Contact, GroupDefinition, GroupRule, NewUnit, Unit, UnitGroup,
    UnitGroupId, UnitId, UnitKind, validate_group,
};
use crate::domain::{ImportedUnit, NewGroup};
use crate::error::{Result, UnitsError};

/// A registry file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Csv,
}

/// The first day of units whose file gives none: before any plan the system will hold.
fn default_valid_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    units: Vec<UnitRecord>,
    #[serde(default)]
    groups: Vec<GroupRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitRecord {
    id: String,
    display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    short_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    kind: String,
    level: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    parent: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    region_code: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    unified_social_credit_code: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    contacts: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRecord {
    id: String,
    display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<GroupRule>,
    /// The region that defines the group for its own plans; absent: shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

/// CSV columns; list cells are separated by `;`.
#[derive(Debug, Serialize, Deserialize)]
struct CsvRow {
    id: String,
    display_name: String,
    #[serde(default)]
    short_name: String,
    #[serde(default)]
    aliases: String,
    kind: String,
    level: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    unified_social_credit_code: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    valid_from: String,
}

fn bad(location: impl Into<String>, message: impl Into<String>) -> UnitsError {
    UnitsError::BadRegistry {
        location: location.into(),
        message: message.into(),
    }
}

/// Parses and validates a registry file; units come back parents first.
pub fn parse(format: Format, content: &[u8]) -> Result<(Vec<ImportedUnit>, Vec<NewGroup>)> {
    let file = match format {
        Format::Yaml => serde_yaml::from_slice::<RegistryFile>(content).map_err(|error| {
            let location = error
                .location()
                .map_or_else(|| "file".to_owned(), |at| format!("line {}", at.line()));
            bad(location, error.to_string())
        })?,
        Format::Csv => RegistryFile {
            units: read_csv(content)?,
            groups: Vec::new(),
        },
    };
    let mut units = Vec::with_capacity(file.units.len());
    let mut seen = HashSet::new();
    for (index, record) in file.units.into_iter().enumerate() {
        let location = format!("units[{index}] ({})", record.id);
        let id = UnitId::parse("id", &record.id)
            .map_err(|violation| bad(&location, violation.message.en))?;
        if !seen.insert(id.clone()) {
            return Err(bad(location, "duplicate id"));
        }
        let parent = match record.parent.as_str() {
            "" => None,
            text => Some(
                UnitId::parse("parent", text)
                    .map_err(|violation| bad(&location, violation.message.en))?,
            ),
        };
        let kind = UnitKind::parse(&record.kind)
            .ok_or_else(|| bad(&location, format!("unknown kind {}", record.kind)))?;
        let level = AdministrativeLevel::parse(&record.level)
            .ok_or_else(|| bad(&location, format!("unknown level {}", record.level)))?;
        let fields = NewUnit {
            id,
            display_name: record.display_name,
            short_name: record.short_name,
            aliases: record.aliases,
            kind: Some(kind),
            level: Some(level),
            parent,
            region_code: record.region_code,
            credit_code: record.unified_social_credit_code,
            tags: record.tags,
            contacts: record.contacts,
        }
        .validate("unit")
        .map_err(|violations| {
            let messages: Vec<String> = violations
                .into_iter()
                .map(|violation| violation.message.en)
                .collect();
            bad(&location, messages.join("; "))
        })?;
        units.push(ImportedUnit {
            fields,
            valid_from: record.valid_from.unwrap_or_else(default_valid_from),
        });
    }
    let units = parents_first(units)?;
    let mut groups = Vec::with_capacity(file.groups.len());
    for (index, record) in file.groups.into_iter().enumerate() {
        let location = format!("groups[{index}] ({})", record.id);
        let id = UnitGroupId::parse("id", &record.id)
            .map_err(|violation| bad(&location, violation.message.en))?;
        let definition = match (record.members, record.rule) {
            (Some(members), None) => GroupDefinition::Static(
                members
                    .iter()
                    .map(|member| UnitId::parse("members", member))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|violation| bad(&location, violation.message.en))?,
            ),
            (None, Some(rule)) => GroupDefinition::Rule(rule),
            _ => return Err(bad(location, "a group has either members or a rule")),
        };
        let owner = record
            .owner
            .as_deref()
            .map(|owner| UnitId::parse("owner", owner))
            .transpose()
            .map_err(|violation| bad(&location, violation.message.en))?;
        let (display_name, aliases, definition) =
            validate_group(&record.display_name, &record.aliases, Some(&definition)).map_err(
                |violations| {
                    let messages: Vec<String> = violations
                        .into_iter()
                        .map(|violation| violation.message.en)
                        .collect();
                    bad(&location, messages.join("; "))
                },
            )?;
        groups.push(NewGroup {
            id,
            display_name,
            aliases,
            definition,
            owner,
        });
    }
    Ok((units, groups))
}

fn read_csv(content: &[u8]) -> Result<Vec<UnitRecord>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(content);
    let split = |cell: &str| -> Vec<String> {
        cell.split(';')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut records = Vec::new();
    for (index, row) in reader.deserialize::<CsvRow>().enumerate() {
        let location = format!("row {}", index + 2);
        let row = row.map_err(|error| bad(&location, error.to_string()))?;
        let valid_from = match row.valid_from.as_str() {
            "" => None,
            text => Some(
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| bad(&location, "valid_from must be a date like 2024-02-08"))?,
            ),
        };
        records.push(UnitRecord {
            aliases: split(&row.aliases),
            tags: split(&row.tags),
            id: row.id,
            display_name: row.display_name,
            short_name: row.short_name,
            kind: row.kind,
            level: row.level,
            parent: row.parent,
            region_code: row.region_code,
            unified_social_credit_code: row.unified_social_credit_code,
            contacts: Vec::new(),
            valid_from,
        });
    }
    Ok(records)
}

/// Orders units so each parent in the file comes before its children; refuses cycles.
fn parents_first(units: Vec<ImportedUnit>) -> Result<Vec<ImportedUnit>> {
    let position: HashMap<UnitId, usize> = units
        .iter()
        .enumerate()
        .map(|(index, unit)| (unit.fields.id.clone(), index))
        .collect();
    let mut placed = vec![false; units.len()];
    let mut order = Vec::with_capacity(units.len());
    for start in 0..units.len() {
        let mut chain = Vec::new();
        let mut current = Some(start);
        while let Some(index) = current {
            if placed[index] {
                break;
            }
            if chain.contains(&index) {
                return Err(bad(
                    format!("units ({})", units[index].fields.id),
                    "parent cycle",
                ));
            }
            chain.push(index);
            current = units[index]
                .fields
                .parent
                .as_ref()
                .and_then(|parent| position.get(parent).copied());
        }
        for index in chain.into_iter().rev() {
            placed[index] = true;
            order.push(index);
        }
    }
    let mut slots: Vec<Option<ImportedUnit>> = units.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect())
}

/// Writes units and groups in a registry format.
pub fn write(format: Format, units: &[Unit], groups: &[UnitGroup]) -> Result<Vec<u8>> {
    let records: Vec<UnitRecord> = units
        .iter()
        .map(|unit| UnitRecord {
            id: unit.id.as_str().to_owned(),
            display_name: unit.display_name.clone(),
            short_name: unit.short_name.clone(),
            aliases: unit.aliases.clone(),
            kind: unit.kind.as_str().to_owned(),
            level: unit.level.as_str().to_owned(),
            parent: unit
                .parent
                .as_ref()
                .map(|parent| parent.as_str().to_owned())
                .unwrap_or_default(),
            region_code: unit
                .region_code
                .as_ref()
                .map(|code| code.as_str().to_owned())
                .unwrap_or_default(),
            unified_social_credit_code: unit
                .credit_code
                .as_ref()
                .map(|code| code.as_str().to_owned())
                .unwrap_or_default(),
            tags: unit.tags.clone(),
            contacts: unit.contacts.clone(),
            valid_from: Some(unit.valid_from),
        })
        .collect();
    let failed =
        |error: String| UnitsError::Platform(fazhi_platform::error::PlatformError::Internal(error));
    match format {
        Format::Yaml => {
            let file = RegistryFile {
                units: records,
                groups: groups
                    .iter()
                    .map(|group| {
                        let (members, rule) = match &group.definition {
                            GroupDefinition::Static(members) => (
                                Some(
                                    members
                                        .iter()
                                        .map(|member| member.as_str().to_owned())
                                        .collect(),
                                ),
                                None,
                            ),
                            GroupDefinition::Rule(rule) => (None, Some(rule.clone())),
                        };
                        GroupRecord {
                            id: group.id.as_str().to_owned(),
                            display_name: group.display_name.clone(),
                            aliases: group.aliases.clone(),
                            members,
                            rule,
                            owner: group.owner.as_ref().map(|owner| owner.as_str().to_owned()),
                        }
                    })
                    .collect(),
            };
            serde_yaml::to_string(&file)
                .map(String::into_bytes)
                .map_err(|error| failed(error.to_string()))
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            for record in records {
                writer
                    .serialize(CsvRow {
                        id: record.id,
                        display_name: record.display_name,
                        short_name: record.short_name,
                        aliases: record.aliases.join(";"),
                        kind: record.kind,
                        level: record.level,
                        parent: record.parent,
                        region_code: record.region_code,
                        unified_social_credit_code: record.unified_social_credit_code,
                        tags: record.tags.join(";"),
                        valid_from: record
                            .valid_from
                            .map(|day| day.to_string())
                            .unwrap_or_default(),
                    })
                    .map_err(|error| failed(error.to_string()))?;
            }
            writer
                .into_inner()
                .map_err(|error| failed(error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_units_come_parents_first() {
        let yaml = "units:\n  - {id: child, display_name: 宁国市司法局, kind: government_department, level: county, parent: root}\n  - {id: root, display_name: 宁国市人民政府, kind: government, level: county, region_code: '341881'}\ngroups:\n  - {id: townships, display_name: 乡镇, rule: {scope: children, kinds: [township]}}\n";
        let (units, groups) = parse(Format::Yaml, yaml.as_bytes()).expect("valid");
        let ids: Vec<&str> = units.iter().map(|unit| unit.fields.id.as_str()).collect();
        assert_eq!(ids, vec!["root", "child"]);
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn errors_say_where() {
        let yaml = "units:\n  - {id: a, display_name: 甲, kind: planet, level: county}\n";
        let error = parse(Format::Yaml, yaml.as_bytes()).err().expect("invalid");
        assert!(error.to_string().contains("units[0] (a)"), "{error}");
        let cycle = "units:\n  - {id: a, display_name: 甲, kind: other, level: county, parent: b}\n  - {id: b, display_name: 乙, kind: other, level: county, parent: a}\n";
        assert!(parse(Format::Yaml, cycle.as_bytes()).is_err());
    }

    #[test]
    fn csv_reads_lists() {
        let csv = "id,display_name,short_name,aliases,kind,level,parent,region_code,unified_social_credit_code,tags,valid_from\nng,宁国市人民政府,,市政府;宁国,government,county,,341881,,,2020-01-01\n";
        let (units, _) = parse(Format::Csv, csv.as_bytes()).expect("valid");
        assert_eq!(
            units[0].fields.aliases,
            vec!["宁国".to_owned(), "市政府".to_owned()]
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse(Format::Yaml, text.as_bytes());
            let _ = parse(Format::Csv, text.as_bytes());
        }
    }
}
