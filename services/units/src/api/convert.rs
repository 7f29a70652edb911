//! Proto ⇄ domain: the conversions and field parsing of the units API, and the events on the wire.

use chrono::NaiveDate;
use fazhi_platform::aip;
use fazhi_platform::error::{FieldViolation, PlatformError};

use fazhi_platform::outbox::StoredEvent;
use fazhi_proto::units::v1 as pb;
use tonic::Status;

use crate::domain::mentions::{Resolution, Target};
use crate::domain::{
    AdministrativeLevel, Contact, ContactRole, GroupDefinition, GroupRule, GroupScope, NewUnit,
    Reorganization, ReorganizationKind, Unit, UnitGroup, UnitGroupId, UnitId, UnitKind,
};
use crate::error::UnitsError;
use crate::registry_file::Format;

pub(super) fn invalid(violation: FieldViolation) -> Status {
    UnitsError::invalid_field(violation).into()
}

pub(super) fn invalid_all(violations: Vec<FieldViolation>) -> Status {
    UnitsError::invalid(violations).into()
}

/// Free text a read takes (a search).
const MAX_FREE_TEXT_CHARS: usize = 200;

/// An optional free-text field, trimmed; a NUL character (which Postgres cannot store) is
/// refused naming the field.
pub(super) fn text(field: &str, value: &str) -> Result<Option<String>, Status> {
    if value.contains('\0') {
        return Err(invalid(FieldViolation::new(
            field,
            "INVALID_TEXT",
            format!("{field} must not contain NUL characters"),
            format!("{field} 不得包含空字符(NUL)"),
        )));
    }
    if value.chars().count() > MAX_FREE_TEXT_CHARS {
        return Err(invalid(FieldViolation::too_long(
            field,
            MAX_FREE_TEXT_CHARS,
        )));
    }
    Ok(Some(value.trim().to_owned()).filter(|value| !value.is_empty()))
}

pub(super) fn date(field: &str, text: &str) -> Result<Option<NaiveDate>, Status> {
    aip::optional_date(field, text).map_err(invalid)
}

pub(super) fn unit_id(field: &str, name: &str) -> Result<UnitId, Status> {
    UnitId::from_required_name(field, name).map_err(invalid)
}

pub(super) fn optional_unit_id(field: &str, name: &str) -> Result<Option<UnitId>, Status> {
    if name.is_empty() {
        Ok(None)
    } else {
        unit_id(field, name).map(Some)
    }
}

pub(super) fn group_id(field: &str, name: &str) -> Result<UnitGroupId, Status> {
    UnitGroupId::from_required_name(field, name).map_err(invalid)
}

pub(super) fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, Status> {
    aip::page_size(requested, default, max).map_err(|error| UnitsError::from(error).into())
}

pub(super) fn decode_token<K: serde::de::DeserializeOwned, Q: serde::Serialize>(
    token: &str,
    query: &Q,
) -> Result<Option<K>, Status> {
    aip::decode_page_token(token, query).map_err(|error| UnitsError::from(error).into())
}

pub(super) fn kind_to_proto(kind: UnitKind) -> pb::UnitKind {
    match kind {
        UnitKind::Government => pb::UnitKind::Government,
        UnitKind::GovernmentDepartment => pb::UnitKind::GovernmentDepartment,
        UnitKind::PartyOrgan => pb::UnitKind::PartyOrgan,
        UnitKind::CongressOffice => pb::UnitKind::CongressOffice,
        UnitKind::Court => pb::UnitKind::Court,
        UnitKind::Procuratorate => pb::UnitKind::Procuratorate,
        UnitKind::Township => pb::UnitKind::Township,
        UnitKind::Village => pb::UnitKind::Village,
        UnitKind::Other => pb::UnitKind::Other,
    }
}

pub(super) fn kind_from_proto(value: i32) -> Option<UnitKind> {
    UnitKind::ALL
        .iter()
        .copied()
        .find(|kind| kind_to_proto(*kind) as i32 == value)
}

pub(super) fn level_to_proto(level: AdministrativeLevel) -> pb::AdministrativeLevel {
    match level {
        AdministrativeLevel::Province => pb::AdministrativeLevel::Province,
        AdministrativeLevel::City => pb::AdministrativeLevel::City,
        AdministrativeLevel::County => pb::AdministrativeLevel::County,
        AdministrativeLevel::Township => pb::AdministrativeLevel::Township,
        AdministrativeLevel::Village => pb::AdministrativeLevel::Village,
    }
}

pub(super) fn level_from_proto(value: i32) -> Option<AdministrativeLevel> {
    AdministrativeLevel::ALL
        .iter()
        .copied()
        .find(|level| level_to_proto(*level) as i32 == value)
}

pub(super) fn role_to_proto(role: ContactRole) -> pb::ContactRole {
    match role {
        ContactRole::Principal => pb::ContactRole::Principal,
        ContactRole::LeaderInCharge => pb::ContactRole::LeaderInCharge,
        ContactRole::Liaison => pb::ContactRole::Liaison,
    }
}

pub(super) fn unit_to_proto(unit: Unit) -> pb::Unit {
    pb::Unit {
        name: unit.id.name(),
        display_name: unit.display_name,
        short_name: unit.short_name,
        aliases: unit.aliases,
        kind: kind_to_proto(unit.kind) as i32,
        level: level_to_proto(unit.level) as i32,
        parent: unit.parent.map(|parent| parent.name()).unwrap_or_default(),
        region_code: unit
            .region_code
            .map(|code| code.as_str().to_owned())
            .unwrap_or_default(),
        unified_social_credit_code: unit.credit_code.map(String::from).unwrap_or_default(),
        tags: unit.tags,
        contacts: unit
            .contacts
            .into_iter()
            .map(|contact| pb::Contact {
                person_name: contact.person_name,
                role: role_to_proto(contact.role) as i32,
                job_title: contact.job_title,
                phone: contact.phone,
                email: contact.email,
            })
            .collect(),
        valid_from: unit.valid_from.to_string(),
        valid_until: unit
            .valid_until
            .map(|day| day.to_string())
            .unwrap_or_default(),
        successors: unit
            .successors
            .into_iter()
            .map(|successor| successor.name())
            .collect(),
        create_time: Some(aip::timestamp(unit.create_time)),
        update_time: Some(aip::timestamp(unit.update_time)),
        delete_time: unit.delete_time.map(aip::timestamp),
        etag: aip::etag(unit.revision),
    }
}

/// Reads the caller-writable fields of a proto unit; `field` prefixes violation paths.
pub(super) fn new_unit_from_proto(
    field: &str,
    id: UnitId,
    unit: pb::Unit,
) -> Result<NewUnit, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let parent = match unit.parent.as_str() {
        "" => None,
        name => UnitId::from_name(&format!("{field}.parent"), name)
            .map_err(|violation| violations.push(violation))
            .ok(),
    };
    let mut contacts = Vec::new();
    for (index, contact) in unit.contacts.into_iter().enumerate() {
        let role = match pb::ContactRole::try_from(contact.role) {
            Ok(pb::ContactRole::Principal) => Some(ContactRole::Principal),
            Ok(pb::ContactRole::LeaderInCharge) => Some(ContactRole::LeaderInCharge),
            Ok(pb::ContactRole::Liaison) => Some(ContactRole::Liaison),
            _ => None,
        };
        let Some(role) = role else {
            violations.push(FieldViolation::required(format!(
                "{field}.contacts[{index}].role"
            )));
            continue;
        };
        contacts.push(Contact {
            person_name: contact.person_name,
            role,
            job_title: contact.job_title,
            phone: contact.phone,
            email: contact.email,
        });
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(NewUnit {
        id,
        display_name: unit.display_name,
        short_name: unit.short_name,
        aliases: unit.aliases,
        kind: kind_from_proto(unit.kind),
        level: level_from_proto(unit.level),
        parent,
        region_code: unit.region_code,
        credit_code: unit.unified_social_credit_code,
        tags: unit.tags,
        contacts,
    })
}

pub(super) fn scope_to_proto(scope: GroupScope) -> pb::GroupScope {
    match scope {
        GroupScope::Children => pb::GroupScope::Children,
        GroupScope::Descendants => pb::GroupScope::Descendants,
    }
}

pub(super) fn group_to_proto(group: UnitGroup) -> pb::UnitGroup {
    let definition = match group.definition {
        GroupDefinition::Static(members) => {
            pb::unit_group::Definition::StaticMembers(pb::StaticMembers {
                units: members.into_iter().map(|member| member.name()).collect(),
            })
        }
        GroupDefinition::Rule(rule) => pb::unit_group::Definition::Rule(pb::GroupRule {
            scope: scope_to_proto(rule.scope) as i32,
            kinds: rule
                .kinds
                .into_iter()
                .map(|kind| kind_to_proto(kind) as i32)
                .collect(),
            levels: rule
                .levels
                .into_iter()
                .map(|level| level_to_proto(level) as i32)
                .collect(),
            required_tags: rule.required_tags,
        }),
    };
    pb::UnitGroup {
        name: group.id.name(),
        display_name: group.display_name,
        aliases: group.aliases,
        owner_unit: group.owner.map(|owner| owner.name()).unwrap_or_default(),
        definition: Some(definition),
        create_time: Some(aip::timestamp(group.create_time)),
        update_time: Some(aip::timestamp(group.update_time)),
        etag: aip::etag(group.revision),
    }
}

pub(super) fn group_definition_from_proto(
    definition: Option<pb::unit_group::Definition>,
) -> Result<Option<GroupDefinition>, Status> {
    Ok(match definition {
        None => None,
        Some(pb::unit_group::Definition::StaticMembers(members)) => Some(GroupDefinition::Static(
            members
                .units
                .iter()
                .map(|name| unit_id("unit_group.static_members.units", name))
                .collect::<Result<_, _>>()?,
        )),
        Some(pb::unit_group::Definition::Rule(rule)) => {
            let scope = match pb::GroupScope::try_from(rule.scope) {
                Ok(pb::GroupScope::Children) => GroupScope::Children,
                Ok(pb::GroupScope::Descendants) => GroupScope::Descendants,
                _ => return Err(invalid(FieldViolation::required("unit_group.rule.scope"))),
            };
            let kinds = rule
                .kinds
                .iter()
                .map(|kind| kind_from_proto(*kind))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid(FieldViolation::new(
                        "unit_group.rule.kinds",
                        "INVALID_KIND",
                        "unknown unit kind",
                        "未知的单位类型",
                    ))
                })?;
            let levels = rule
                .levels
                .iter()
                .map(|level| level_from_proto(*level))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid(FieldViolation::new(
                        "unit_group.rule.levels",
                        "INVALID_LEVEL",
                        "unknown level",
                        "未知的行政层级",
                    ))
                })?;
            Some(GroupDefinition::Rule(GroupRule {
                scope,
                kinds,
                levels,
                required_tags: rule.required_tags,
            }))
        }
    })
}

pub(super) fn reorganization_kind_to_proto(kind: ReorganizationKind) -> pb::ReorganizationKind {
    match kind {
        ReorganizationKind::Merge => pb::ReorganizationKind::Merge,
        ReorganizationKind::Rename => pb::ReorganizationKind::Rename,
        ReorganizationKind::Split => pb::ReorganizationKind::Split,
        ReorganizationKind::Move => pb::ReorganizationKind::Move,
        ReorganizationKind::Abolish => pb::ReorganizationKind::Abolish,
    }
}

pub(super) fn reorganization_to_proto(reorganization: Reorganization) -> pb::Reorganization {
    pb::Reorganization {
        name: reorganization.id.name(),
        kind: reorganization_kind_to_proto(reorganization.kind) as i32,
        effective_date: reorganization.effective_date.to_string(),
        source_units: reorganization
            .source_units
            .into_iter()
            .map(|id| id.name())
            .collect(),
        successor_units: reorganization
            .successor_units
            .into_iter()
            .map(|id| id.name())
            .collect(),
        new_display_name: reorganization.new_display_name,
        new_parent: reorganization
            .new_parent
            .map(|id| id.name())
            .unwrap_or_default(),
        note: reorganization.note,
        create_time: Some(aip::timestamp(reorganization.create_time)),
    }
}

pub(super) fn resolution_to_proto(resolution: Resolution) -> pb::MentionResolution {
    pb::MentionResolution {
        mention: resolution.mention,
        normalized: resolution.normalized,
        target: resolution.target.map(|target| match target {
            Target::Unit(id) => pb::mention_resolution::Target::Unit(id.name()),
            Target::Group(id) => pb::mention_resolution::Target::UnitGroup(id.name()),
        }),
        confidence: resolution.confidence,
        candidates: resolution
            .candidates
            .into_iter()
            .map(|candidate| pb::MentionCandidate {
                unit: candidate.unit.name(),
                display_name: candidate.display_name,
                score: candidate.score,
            })
            .collect(),
        method: resolution.method.to_owned(),
    }
}

pub(super) fn format_from_proto(value: i32) -> Result<Format, Status> {
    match pb::RegistryFormat::try_from(value) {
        Ok(pb::RegistryFormat::Yaml) => Ok(Format::Yaml),
        Ok(pb::RegistryFormat::Csv) => Ok(Format::Csv),
        _ => Err(invalid(FieldViolation::required("format"))),
    }
}

/// Turns a stored outbox event into the proto event; unknown types are skipped by the caller.
pub(crate) fn event_to_proto(event: StoredEvent) -> Result<Option<pb::UnitEvent>, UnitsError> {
    let unreadable = |error: serde_json::Error| {
        UnitsError::Platform(PlatformError::Internal(format!(
            "event {} unreadable: {error}",
            event.sequence
        )))
    };
    let payload = match event.event_type.as_str() {
        "unit.created" => pb::unit_event::Payload::UnitCreated(pb::UnitCreated {
            unit: Some(unit_to_proto(
                serde_json::from_value(event.payload.clone()).map_err(unreadable)?,
            )),
        }),
        "unit.updated" => {
            #[derive(serde::Deserialize)]
            struct Updated {
                unit: Unit,
                changed_fields: Vec<String>,
            }
            let updated: Updated =
                serde_json::from_value(event.payload.clone()).map_err(unreadable)?;
            pb::unit_event::Payload::UnitUpdated(pb::UnitUpdated {
                unit: Some(unit_to_proto(updated.unit)),
                changed_fields: updated.changed_fields,
            })
        }
        "unit.deleted" => pb::unit_event::Payload::UnitDeleted(pb::UnitDeleted {
            unit: event.resource.clone(),
        }),
        "units.reorganized" => pb::unit_event::Payload::UnitsReorganized(pb::UnitsReorganized {
            reorganization: Some(reorganization_to_proto(
                serde_json::from_value(event.payload.clone()).map_err(unreadable)?,
            )),
        }),
        "unit_group.changed" => pb::unit_event::Payload::UnitGroupChanged(pb::UnitGroupChanged {
            unit_group: event.resource.clone(),
            deleted: event
                .payload
                .get("deleted")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        }),
        _ => return Ok(None),
    };
    Ok(Some(pb::UnitEvent {
        sequence: event.sequence,
        occur_time: Some(aip::timestamp(event.occurred_at)),
        payload: Some(payload),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_mappings_round_trip() {
        for kind in UnitKind::ALL {
            assert_eq!(kind_from_proto(kind_to_proto(*kind) as i32), Some(*kind));
        }
        for level in AdministrativeLevel::ALL {
            assert_eq!(
                level_from_proto(level_to_proto(*level) as i32),
                Some(*level)
            );
        }
        assert_eq!(kind_from_proto(0), None);
    }
}
