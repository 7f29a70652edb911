//! Units and the values they are made of.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::{CreditCode, Violations};

fazhi_platform::resource_id!(
    /// A unit's id, the `{unit}` of `units/{unit}`.
    UnitId,
    "units",
    "u"
);

use fazhi_platform::string_enum;

string_enum! {
    /// What sort of organisation a unit is.
    UnitKind {
        /// 人民政府
        Government = "government",
        /// 政府工作部门、直属机构
        GovernmentDepartment = "government_department",
        /// 党委及其工作机关
        PartyOrgan = "party_organ",
        /// 人大、政协机关
        CongressOffice = "congress_office",
        /// 人民法院
        Court = "court",
        /// 人民检察院
        Procuratorate = "procuratorate",
        /// 乡、镇人民政府, 街道办事处
        Township = "township",
        /// 村(居)委会
        Village = "village",
        Other = "other",
    }
}

string_enum! {
    /// 行政层级
    AdministrativeLevel {
        Province = "province",
        City = "city",
        County = "county",
        Township = "township",
        Village = "village",
    }
}

string_enum! {
    /// The role a contact holds for rule-of-law work.
    ContactRole {
        /// 主要负责人
        Principal = "principal",
        /// 分管领导
        LeaderInCharge = "leader_in_charge",
        /// 联络员
        Liaison = "liaison",
    }
}

/// A person to contact at a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub person_name: String,
    pub role: ContactRole,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub job_title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
}

/// An administrative division code: GB/T 2260 (6 digits), or the statistical township (9) and
/// village (12) extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(text: &str) -> Option<Self> {
        let valid = matches!(text.len(), 6 | 9 | 12)
            && text.bytes().all(|byte| byte.is_ascii_digit())
            && !text.starts_with("00");
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit as the registry knows it, seen on one day (`as_of`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: UnitId,
    /// Full name, e.g. 宁国市司法局.
    pub display_name: String,
    /// 简称, e.g. 市司法局.
    pub short_name: String,
    pub aliases: Vec<String>,
    pub kind: UnitKind,
    pub level: AdministrativeLevel,
    pub parent: Option<UnitId>,
    pub region_code: Option<RegionCode>,
    pub credit_code: Option<CreditCode>,
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
    pub valid_from: NaiveDate,
    /// The day it ceased to exist; `None` while it exists.
    pub valid_until: Option<NaiveDate>,
    pub successors: Vec<UnitId>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub revision: i64,
}

impl Unit {
    /// Every name the unit goes by: full name, short name, aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.display_name.as_str())
            .chain((!self.short_name.is_empty()).then_some(self.short_name.as_str()))
            .chain(self.aliases.iter().map(String::as_str))
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|own| own == tag)
    }
}

/// The fields of a unit a caller writes; checked by [`NewUnit::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUnit {
    pub id: UnitId,
    pub display_name: String,
    pub short_name: String,
    pub aliases: Vec<String>,
    pub kind: Option<UnitKind>,
    pub level: Option<AdministrativeLevel>,
    pub parent: Option<UnitId>,
    pub region_code: String,
    pub credit_code: String,
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
}

/// A checked [`NewUnit`]: what the store writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidUnitFields {
    pub id: UnitId,
    pub display_name: String,
    pub short_name: String,
    pub aliases: Vec<String>,
    pub kind: UnitKind,
    pub level: AdministrativeLevel,
    pub parent: Option<UnitId>,
    pub region_code: Option<RegionCode>,
    pub credit_code: Option<CreditCode>,
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
}

/// Names, aliases and contact fields.
pub const MAX_NAME_CHARS: usize = 100;
/// Aliases, tags and contacts of one unit or group.
pub const MAX_LIST_ITEMS: usize = 50;

impl NewUnit {
    /// Checks every field, reporting all violations at once under `prefix` (e.g. `unit`).
    pub fn validate(self, prefix: &str) -> Result<ValidUnitFields, Violations> {
        let mut violations = Violations::new();
        let field = |name: &str| format!("{prefix}.{name}");
        let display_name = clean_text(&self.display_name);
        if display_name.is_empty() {
            violations.push(FieldViolation::required(field("display_name")));
        } else if display_name.chars().count() > MAX_NAME_CHARS {
            violations.push(FieldViolation::too_long(
                field("display_name"),
                MAX_NAME_CHARS,
            ));
        }
        let short_name = clean_text(&self.short_name);
        if short_name.chars().count() > MAX_NAME_CHARS {
            violations.push(FieldViolation::too_long(
                field("short_name"),
                MAX_NAME_CHARS,
            ));
        }
        let aliases = clean_names(&self.aliases);
        violations.extend(FieldViolation::check_texts(
            &field("aliases"),
            &aliases,
            (MAX_LIST_ITEMS, MAX_NAME_CHARS),
        ));
        if self.kind.is_none() {
            violations.push(FieldViolation::required(field("kind")));
        }
        if self.level.is_none() {
            violations.push(FieldViolation::required(field("level")));
        }
        if self.parent.as_ref() == Some(&self.id) {
            violations.push(FieldViolation::new(
                field("parent"),
                "PARENT_IS_SELF",
                "a unit cannot be its own parent",
                "单位不能以自身为上级",
            ));
        }
        let region_code = match self.region_code.trim() {
            "" => None,
            text => {
                let parsed = RegionCode::parse(text);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        field("region_code"),
                        "INVALID_REGION_CODE",
                        "region_code must be a GB/T 2260 code of 6 digits (or 9/12 for townships and villages)",
                        "region_code 须为 6 位 GB/T 2260 行政区划代码(乡镇 9 位、村 12 位)",
                    ));
                }
                parsed
            }
        };
        let credit_code = match self.credit_code.trim() {
            "" => None,
            text => {
                let parsed = CreditCode::parse(text);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        field("unified_social_credit_code"),
                        "INVALID_CREDIT_CODE",
                        "unified_social_credit_code is not 18 characters with a valid GB 32100 check character",
                        "统一社会信用代码须为 18 位且校验码正确(GB 32100)",
                    ));
                }
                parsed
            }
        };
        let mut tags: Vec<String> = self.tags.iter().map(|tag| tag.trim().to_owned()).collect();
        tags.sort();
        tags.dedup();
        if tags.len() > MAX_LIST_ITEMS {
            violations.push(FieldViolation::too_many(field("tags"), MAX_LIST_ITEMS));
        }
        if tags.iter().any(|tag| !is_tag(tag)) {
            violations.push(FieldViolation::new(
                field("tags"),
                "INVALID_TAG",
                "tags must be lower_snake_case words of up to 63 characters",
                "标签须为不超过 63 位的小写字母、数字和下划线",
            ));
        }
        if self.contacts.len() > MAX_LIST_ITEMS {
            violations.push(FieldViolation::too_many(field("contacts"), MAX_LIST_ITEMS));
        }
        for (index, contact) in self.contacts.iter().enumerate() {
            if clean_text(&contact.person_name).is_empty() {
                violations.push(FieldViolation::required(field(&format!(
                    "contacts[{index}].person_name"
                ))));
            }
            for (name, value) in [
                ("person_name", &contact.person_name),
                ("job_title", &contact.job_title),
                ("phone", &contact.phone),
                ("email", &contact.email),
            ] {
                if value.chars().count() > MAX_NAME_CHARS {
                    violations.push(FieldViolation::too_long(
                        field(&format!("contacts[{index}].{name}")),
                        MAX_NAME_CHARS,
                    ));
                }
            }
        }
        let (Some(kind), Some(level), true) = (self.kind, self.level, violations.is_empty()) else {
            return Err(violations);
        };
        Ok(ValidUnitFields {
            id: self.id,
            display_name,
            short_name,
            aliases,
            kind,
            level,
            parent: self.parent,
            region_code,
            credit_code,
            tags,
            contacts: self
                .contacts
                .into_iter()
                .map(|contact| Contact {
                    person_name: clean_text(&contact.person_name),
                    ..contact
                })
                .collect(),
        })
    }
}

/// Fields an update may name in its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnitField {
    DisplayName,
    ShortName,
    Aliases,
    Kind,
    Level,
    Parent,
    RegionCode,
    CreditCode,
    Tags,
    Contacts,
}

impl UnitField {
    pub const ALL: &'static [UnitField] = &[
        Self::DisplayName,
        Self::ShortName,
        Self::Aliases,
        Self::Kind,
        Self::Level,
        Self::Parent,
        Self::RegionCode,
        Self::CreditCode,
        Self::Tags,
        Self::Contacts,
    ];

    /// The proto field path, as in an update mask.
    pub fn path(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::ShortName => "short_name",
            Self::Aliases => "aliases",
            Self::Kind => "kind",
            Self::Level => "level",
            Self::Parent => "parent",
            Self::RegionCode => "region_code",
            Self::CreditCode => "unified_social_credit_code",
            Self::Tags => "tags",
            Self::Contacts => "contacts",
        }
    }

    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|field| field.path() == path)
    }

    /// Fields a unit's own staff may change; the rest need a coordinator.
    pub fn staff_may_edit(self) -> bool {
        matches!(self, Self::Contacts)
    }
}

/// An update: the fields named and their new values (taken from a full [`NewUnit`]).
#[derive(Debug, Clone)]
pub struct UnitPatch {
    pub fields: Vec<UnitField>,
    pub values: NewUnit,
}

impl UnitPatch {
    /// Applies the patch to the current unit and validates the result as a whole.
    pub fn apply(&self, current: &Unit) -> Result<ValidUnitFields, Violations> {
        let mut merged = NewUnit {
            id: current.id.clone(),
            display_name: current.display_name.clone(),
            short_name: current.short_name.clone(),
            aliases: current.aliases.clone(),
            kind: Some(current.kind),
            level: Some(current.level),
            parent: current.parent.clone(),
            region_code: current
                .region_code
                .as_ref()
                .map(|code| code.as_str().to_owned())
                .unwrap_or_default(),
            credit_code: current
                .credit_code
                .as_ref()
                .map(|code| code.as_str().to_owned())
                .unwrap_or_default(),
            tags: current.tags.clone(),
            contacts: current.contacts.clone(),
        };
        let values = &self.values;
        for field in &self.fields {
            match field {
                UnitField::DisplayName => merged.display_name = values.display_name.clone(),
                UnitField::ShortName => merged.short_name = values.short_name.clone(),
                UnitField::Aliases => merged.aliases = values.aliases.clone(),
                UnitField::Kind => merged.kind = values.kind,
                UnitField::Level => merged.level = values.level,
                UnitField::Parent => merged.parent = values.parent.clone(),
                UnitField::RegionCode => merged.region_code = values.region_code.clone(),
                UnitField::CreditCode => merged.credit_code = values.credit_code.clone(),
                UnitField::Tags => merged.tags = values.tags.clone(),
                UnitField::Contacts => merged.contacts = values.contacts.clone(),
            }
        }
        merged.validate("unit")
    }
}

/// Cleans a list of names: white space out, empties dropped, sorted, no repeats.
pub fn clean_names(names: &[String]) -> Vec<String> {
    let mut cleaned: Vec<String> = names
        .iter()
        .map(|name| clean_text(name))
        .filter(|name| !name.is_empty())
        .collect();
    cleaned.sort();
    cleaned.dedup();
    cleaned
}

/// Trims and folds inner runs of white space (including U+3000) to nothing: Chinese names have none.
pub fn clean_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is_tag(tag: &str) -> bool {
    (1..=63).contains(&tag.len())
        && tag
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// The day to show a unit on when asked for `day`: clamped into its lifetime.
pub fn showing_day(
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
    day: NaiveDate,
) -> NaiveDate {
    match valid_until {
        Some(until) if day >= until => until.pred_opt().unwrap_or(until),
        _ if day < valid_from => valid_from,
        _ => day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_unit() -> NewUnit {
        NewUnit {
            id: UnitId::parse("unit_id", "ningguo-sfj").expect("id"),
            display_name: " 宁国市司法局 ".to_owned(),
            short_name: "市司法局".to_owned(),
            aliases: vec!["司法局".to_owned(), "司法局".to_owned()],
            kind: Some(UnitKind::GovernmentDepartment),
            level: Some(AdministrativeLevel::County),
            parent: Some(UnitId::parse("unit_id", "ningguo").expect("id")),
            region_code: "341881".to_owned(),
            credit_code: String::new(),
            tags: vec!["law_enforcement".to_owned()],
            contacts: vec![],
        }
    }

    #[test]
    fn valid_unit_is_cleaned() {
        let unit = new_unit().validate("unit").expect("valid");
        assert_eq!(unit.display_name, "宁国市司法局");
        assert_eq!(unit.aliases, vec!["司法局".to_owned()]);
    }

    #[test]
    fn every_violation_is_reported() {
        let mut unit = new_unit();
        unit.display_name = "  ".to_owned();
        unit.kind = None;
        unit.region_code = "34188".to_owned();
        unit.credit_code = "123".to_owned();
        unit.tags = vec!["Bad Tag".to_owned()];
        let violations = unit.validate("unit").expect_err("invalid");
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "unit.display_name",
                "unit.kind",
                "unit.region_code",
                "unit.unified_social_credit_code",
                "unit.tags"
            ]
        );
    }

    #[test]
    fn names_parse() {
        assert!(UnitId::from_name("name", "units/ningguo").is_ok());
        assert!(UnitId::from_name("name", "ningguo").is_err());
        assert!(UnitId::from_name("name", "units/宁国").is_err());
    }
}
