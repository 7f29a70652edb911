//! The gRPC surface: converts protos to domain values, calls [`UnitRegistry`], converts back.

use chrono::NaiveDate;
use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use std::sync::Arc;

use fazhi_platform::outbox::{self, OutboxHub, StoredEvent};
use fazhi_proto::units::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::mentions::{Resolution, Target};
use crate::domain::{
    AdministrativeLevel, Contact, ContactRole, GroupDefinition, GroupRule, GroupScope, NewUnit,
    Reorganization, ReorganizationId, ReorganizationKind, Unit, UnitField, UnitGroup, UnitGroupId,
    UnitId, UnitKind, UnitPatch, validate_group,
};
use crate::error::UnitsError;
use crate::registry_file::Format;
use crate::service::{MAX_MENTIONS, UnitRegistry};
use crate::store::{ImportedGroup, UnitFilter};

/// The `fazhi.units.v1.UnitsService` implementation.
#[derive(Clone)]
pub struct UnitsApi {
    registry: UnitRegistry,
    events: Arc<OutboxHub>,
}

impl UnitsApi {
    pub fn new(registry: UnitRegistry, events: Arc<OutboxHub>) -> Self {
        Self { registry, events }
    }
}

type ApiResult<T> = Result<Response<T>, Status>;

fn invalid(violation: FieldViolation) -> Status {
    UnitsError::invalid_field(violation).into()
}

fn invalid_all(violations: Vec<FieldViolation>) -> Status {
    UnitsError::invalid(violations).into()
}

/// The context of a mutation carrying `request_id`.
fn call_context<T: Message>(request: &Request<T>, request_id: &str) -> Result<CallContext, Status> {
    Ok(CallContext::mutation(request, request_id).map_err(UnitsError::from)?)
}

/// The context of a read.
fn read_context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    Ok(CallContext::of(request).map_err(UnitsError::from)?)
}

fn require_caller<T>(request: &Request<T>) -> Result<(), Status> {
    caller_of(request)
        .map(|_| ())
        .map_err(|error| UnitsError::from(error).into())
}

fn date(field: &str, text: &str) -> Result<Option<NaiveDate>, Status> {
    aip::optional_date(field, text).map_err(invalid)
}

fn unit_id(field: &str, name: &str) -> Result<UnitId, Status> {
    UnitId::from_required_name(field, name).map_err(invalid)
}

fn optional_unit_id(field: &str, name: &str) -> Result<Option<UnitId>, Status> {
    if name.is_empty() {
        Ok(None)
    } else {
        unit_id(field, name).map(Some)
    }
}

fn group_id(field: &str, name: &str) -> Result<UnitGroupId, Status> {
    UnitGroupId::from_required_name(field, name).map_err(invalid)
}

fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, Status> {
    aip::page_size(requested, default, max).map_err(|error| UnitsError::from(error).into())
}

fn decode_token<K: serde::de::DeserializeOwned, Q: serde::Serialize>(
    token: &str,
    query: &Q,
) -> Result<Option<K>, Status> {
    aip::decode_page_token(token, query).map_err(|error| UnitsError::from(error).into())
}

fn kind_to_proto(kind: UnitKind) -> pb::UnitKind {
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

fn kind_from_proto(value: i32) -> Option<UnitKind> {
    UnitKind::ALL
        .iter()
        .copied()
        .find(|kind| kind_to_proto(*kind) as i32 == value)
}

fn level_to_proto(level: AdministrativeLevel) -> pb::AdministrativeLevel {
    match level {
        AdministrativeLevel::Province => pb::AdministrativeLevel::Province,
        AdministrativeLevel::City => pb::AdministrativeLevel::City,
        AdministrativeLevel::County => pb::AdministrativeLevel::County,
        AdministrativeLevel::Township => pb::AdministrativeLevel::Township,
        AdministrativeLevel::Village => pb::AdministrativeLevel::Village,
    }
}

fn level_from_proto(value: i32) -> Option<AdministrativeLevel> {
    AdministrativeLevel::ALL
        .iter()
        .copied()
        .find(|level| level_to_proto(*level) as i32 == value)
}

fn role_to_proto(role: ContactRole) -> pb::ContactRole {
    match role {
        ContactRole::Principal => pb::ContactRole::Principal,
        ContactRole::LeaderInCharge => pb::ContactRole::LeaderInCharge,
        ContactRole::Liaison => pb::ContactRole::Liaison,
    }
}

fn unit_to_proto(unit: Unit) -> pb::Unit {
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
fn new_unit_from_proto(
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

fn scope_to_proto(scope: GroupScope) -> pb::GroupScope {
    match scope {
        GroupScope::Children => pb::GroupScope::Children,
        GroupScope::Descendants => pb::GroupScope::Descendants,
    }
}

fn group_to_proto(group: UnitGroup) -> pb::UnitGroup {
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
        definition: Some(definition),
        create_time: Some(aip::timestamp(group.create_time)),
        update_time: Some(aip::timestamp(group.update_time)),
        etag: aip::etag(group.revision),
    }
}

fn group_definition_from_proto(
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

fn reorganization_kind_to_proto(kind: ReorganizationKind) -> pb::ReorganizationKind {
    match kind {
        ReorganizationKind::Merge => pb::ReorganizationKind::Merge,
        ReorganizationKind::Rename => pb::ReorganizationKind::Rename,
        ReorganizationKind::Split => pb::ReorganizationKind::Split,
        ReorganizationKind::Move => pb::ReorganizationKind::Move,
        ReorganizationKind::Abolish => pb::ReorganizationKind::Abolish,
    }
}

fn reorganization_to_proto(reorganization: Reorganization) -> pb::Reorganization {
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

fn resolution_to_proto(resolution: Resolution) -> pb::MentionResolution {
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

fn format_from_proto(value: i32) -> Result<Format, Status> {
    match pb::RegistryFormat::try_from(value) {
        Ok(pb::RegistryFormat::Yaml) => Ok(Format::Yaml),
        Ok(pb::RegistryFormat::Csv) => Ok(Format::Csv),
        _ => Err(invalid(FieldViolation::required("format"))),
    }
}

/// Turns a stored outbox event into the proto event; unknown types are skipped by the caller.
fn event_to_proto(event: StoredEvent) -> Result<Option<pb::UnitEvent>, UnitsError> {
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

#[tonic::async_trait]
impl pb::units_service_server::UnitsService for UnitsApi {
    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().name))]
    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> ApiResult<pb::GetUnitResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let id = unit_id("name", &message.name)?;
        let as_of = date("as_of", &message.as_of)?;
        let unit = self.registry.get_unit(&id, as_of, today).await?;
        Ok(Response::new(pb::GetUnitResponse {
            unit: Some(unit_to_proto(unit)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> ApiResult<pb::ListUnitsResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let kind = match message.kind {
            0 => None,
            value => Some(kind_from_proto(value).ok_or_else(|| {
                invalid(FieldViolation::new(
                    "kind",
                    "INVALID_KIND",
                    "unknown unit kind",
                    "未知的单位类型",
                ))
            })?),
        };
        let filter = UnitFilter {
            parent: optional_unit_id("parent", &message.parent)?,
            kind,
            tag: Some(message.tag).filter(|tag| !tag.is_empty()),
            search: Some(message.search.trim().to_owned()).filter(|search| !search.is_empty()),
            as_of: date("as_of", &message.as_of)?.unwrap_or(today),
            show_deleted: message.show_deleted,
        };
        let size = page_size(message.page_size, 100, 1000)?;
        let after = decode_token(&message.page_token, &filter)?;
        let page = self.registry.list_units(&filter, after, size).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            units: page.items.into_iter().map(unit_to_proto).collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &filter))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(unit_id = %request.get_ref().unit_id))]
    async fn create_unit(
        &self,
        request: Request<pb::CreateUnitRequest>,
    ) -> ApiResult<pb::CreateUnitResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = match message.unit_id.as_str() {
            "" => UnitId::generate(),
            text => UnitId::parse("unit_id", text).map_err(invalid)?,
        };
        let valid_from = date("valid_from", &message.valid_from)?;
        let unit = message
            .unit
            .ok_or_else(|| invalid(FieldViolation::required("unit")))?;
        let fields = new_unit_from_proto("unit", id, unit)
            .map_err(invalid_all)?
            .validate("unit")
            .map_err(invalid_all)?;
        let unit = self
            .registry
            .create_unit(&context, fields, valid_from)
            .await?;
        Ok(Response::new(pb::CreateUnitResponse {
            unit: Some(unit_to_proto(unit)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_unit(
        &self,
        request: Request<pb::UpdateUnitRequest>,
    ) -> ApiResult<pb::UpdateUnitResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let unit = message
            .unit
            .ok_or_else(|| invalid(FieldViolation::required("unit")))?;
        let id = unit_id("unit.name", &unit.name)?;
        let allowed: Vec<&'static str> = UnitField::ALL.iter().map(|field| field.path()).collect();
        let fields: Vec<UnitField> = aip::update_mask(message.update_mask.as_ref(), &allowed)
            .map_err(invalid)?
            .into_iter()
            .filter_map(UnitField::from_path)
            .collect();
        let etag = unit.etag.clone();
        let values = new_unit_from_proto("unit", id.clone(), unit).map_err(invalid_all)?;
        let updated = self
            .registry
            .update_unit(&context, &id, &etag, UnitPatch { fields, values })
            .await?;
        Ok(Response::new(pb::UpdateUnitResponse {
            unit: Some(unit_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().name))]
    async fn delete_unit(
        &self,
        request: Request<pb::DeleteUnitRequest>,
    ) -> ApiResult<pb::DeleteUnitResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = unit_id("name", &message.name)?;
        let unit = self
            .registry
            .delete_unit(&context, &id, &message.etag)
            .await?;
        Ok(Response::new(pb::DeleteUnitResponse {
            unit: Some(unit_to_proto(unit)),
        }))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().name))]
    async fn list_unit_ancestors(
        &self,
        request: Request<pb::ListUnitAncestorsRequest>,
    ) -> ApiResult<pb::ListUnitAncestorsResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let id = unit_id("name", &message.name)?;
        let units = self
            .registry
            .ancestors(&id, date("as_of", &message.as_of)?, today)
            .await?;
        Ok(Response::new(pb::ListUnitAncestorsResponse {
            units: units.into_iter().map(unit_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().name))]
    async fn list_unit_descendants(
        &self,
        request: Request<pb::ListUnitDescendantsRequest>,
    ) -> ApiResult<pb::ListUnitDescendantsResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let id = unit_id("name", &message.name)?;
        if message.max_depth < 0 {
            return Err(invalid(FieldViolation::new(
                "max_depth",
                "NEGATIVE_DEPTH",
                "max_depth must not be negative",
                "max_depth 不能为负数",
            )));
        }
        let as_of = date("as_of", &message.as_of)?;
        let query = (&message.name, &message.as_of, message.max_depth);
        let size = page_size(message.page_size, 1000, 5000)?;
        let after = decode_token(&message.page_token, &query)?;
        let page = self
            .registry
            .descendants(&id, (as_of, today), message.max_depth, after, size)
            .await?;
        Ok(Response::new(pb::ListUnitDescendantsResponse {
            units: page
                .items
                .into_iter()
                .map(|found| unit_to_proto(found.unit))
                .collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &query))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_unit_group(
        &self,
        request: Request<pb::CreateUnitGroupRequest>,
    ) -> ApiResult<pb::CreateUnitGroupResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = match message.unit_group_id.as_str() {
            "" => UnitGroupId::generate(),
            text => UnitGroupId::parse("unit_group_id", text).map_err(invalid)?,
        };
        let group = message
            .unit_group
            .ok_or_else(|| invalid(FieldViolation::required("unit_group")))?;
        let definition = group_definition_from_proto(group.definition)?;
        let (display_name, aliases, definition) =
            validate_group(&group.display_name, &group.aliases, definition.as_ref())
                .map_err(invalid_all)?;
        let created = self
            .registry
            .create_group(
                &context,
                ImportedGroup {
                    id,
                    display_name,
                    aliases,
                    definition,
                },
            )
            .await?;
        Ok(Response::new(pb::CreateUnitGroupResponse {
            unit_group: Some(group_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().name))]
    async fn get_unit_group(
        &self,
        request: Request<pb::GetUnitGroupRequest>,
    ) -> ApiResult<pb::GetUnitGroupResponse> {
        require_caller(&request)?;
        let id = group_id("name", &request.get_ref().name)?;
        let group = self.registry.get_group(&id).await?;
        Ok(Response::new(pb::GetUnitGroupResponse {
            unit_group: Some(group_to_proto(group)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_unit_groups(
        &self,
        request: Request<pb::ListUnitGroupsRequest>,
    ) -> ApiResult<pb::ListUnitGroupsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let size = page_size(message.page_size, 100, 1000)?;
        let after = decode_token(&message.page_token, &"unit_groups")?;
        let page = self.registry.list_groups(after, size).await?;
        Ok(Response::new(pb::ListUnitGroupsResponse {
            unit_groups: page.items.into_iter().map(group_to_proto).collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &"unit_groups"))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().name))]
    async fn delete_unit_group(
        &self,
        request: Request<pb::DeleteUnitGroupRequest>,
    ) -> ApiResult<pb::DeleteUnitGroupResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = group_id("name", &message.name)?;
        self.registry
            .delete_group(&context, &id, &message.etag)
            .await?;
        Ok(Response::new(pb::DeleteUnitGroupResponse {}))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().name))]
    async fn expand_unit_group(
        &self,
        request: Request<pb::ExpandUnitGroupRequest>,
    ) -> ApiResult<pb::ExpandUnitGroupResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let id = group_id("name", &message.name)?;
        let context_unit = optional_unit_id("context_unit", &message.context_unit)?;
        let units = self
            .registry
            .expand_group(
                &id,
                context_unit.as_ref(),
                (date("as_of", &message.as_of)?, today),
            )
            .await?;
        Ok(Response::new(pb::ExpandUnitGroupResponse {
            units: units.into_iter().map(unit_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn reorganize_units(
        &self,
        request: Request<pb::ReorganizeUnitsRequest>,
    ) -> ApiResult<pb::ReorganizeUnitsResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let reorganization = message
            .reorganization
            .ok_or_else(|| invalid(FieldViolation::required("reorganization")))?;
        let kind = match pb::ReorganizationKind::try_from(reorganization.kind) {
            Ok(pb::ReorganizationKind::Merge) => ReorganizationKind::Merge,
            Ok(pb::ReorganizationKind::Rename) => ReorganizationKind::Rename,
            Ok(pb::ReorganizationKind::Split) => ReorganizationKind::Split,
            Ok(pb::ReorganizationKind::Move) => ReorganizationKind::Move,
            Ok(pb::ReorganizationKind::Abolish) => ReorganizationKind::Abolish,
            _ => return Err(invalid(FieldViolation::required("reorganization.kind"))),
        };
        let effective_date = date(
            "reorganization.effective_date",
            &reorganization.effective_date,
        )?
        .ok_or_else(|| invalid(FieldViolation::required("reorganization.effective_date")))?;
        let mut new_units = Vec::new();
        for (index, unit) in message.new_units.into_iter().enumerate() {
            let field = format!("new_units[{index}]");
            let id = match unit.name.as_str() {
                "" => UnitId::generate(),
                name => UnitId::from_name(&format!("{field}.name"), name).map_err(invalid)?,
            };
            new_units.push(
                new_unit_from_proto(&field, id, unit)
                    .map_err(invalid_all)?
                    .validate(&field)
                    .map_err(invalid_all)?,
            );
        }
        let units = |field: &str, names: &[String]| -> Result<Vec<UnitId>, Status> {
            names.iter().map(|name| unit_id(field, name)).collect()
        };
        let mut successor_units = units(
            "reorganization.successor_units",
            &reorganization.successor_units,
        )?;
        successor_units.extend(new_units.iter().map(|unit| unit.id.clone()));
        let domain = Reorganization {
            id: ReorganizationId::generate(),
            kind,
            effective_date,
            source_units: units("reorganization.source_units", &reorganization.source_units)?,
            successor_units,
            new_display_name: reorganization.new_display_name,
            new_parent: optional_unit_id("reorganization.new_parent", &reorganization.new_parent)?,
            note: reorganization.note,
            create_time: context.clock.now(),
        };
        let (stored, created) = self
            .registry
            .reorganize(&context, domain, new_units)
            .await?;
        Ok(Response::new(pb::ReorganizeUnitsResponse {
            reorganization: Some(reorganization_to_proto(stored)),
            new_units: created.into_iter().map(unit_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_reorganizations(
        &self,
        request: Request<pb::ListReorganizationsRequest>,
    ) -> ApiResult<pb::ListReorganizationsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let unit = optional_unit_id("unit", &message.unit)?;
        let size = page_size(message.page_size, 100, 1000)?;
        let after = decode_token(&message.page_token, &message.unit)?;
        let page = self
            .registry
            .list_reorganizations(unit.as_ref(), after, size)
            .await?;
        Ok(Response::new(pb::ListReorganizationsResponse {
            reorganizations: page
                .items
                .into_iter()
                .map(reorganization_to_proto)
                .collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &message.unit))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(context = %request.get_ref().context_unit, mentions = request.get_ref().mentions.len()))]
    async fn resolve_unit_mentions(
        &self,
        request: Request<pb::ResolveUnitMentionsRequest>,
    ) -> ApiResult<pb::ResolveUnitMentionsResponse> {
        let today = read_context(&request)?.clock.today();
        let message = request.into_inner();
        let context_unit = unit_id("context_unit", &message.context_unit)?;
        if message.mentions.len() > MAX_MENTIONS {
            return Err(invalid(FieldViolation::new(
                "mentions",
                "TOO_MANY",
                format!("at most {MAX_MENTIONS} mentions per call"),
                format!("每次最多解析 {MAX_MENTIONS} 个名称"),
            )));
        }
        let resolutions = self
            .registry
            .resolve_mentions(
                &context_unit,
                &message.mentions,
                (date("as_of", &message.as_of)?, today),
            )
            .await?;
        Ok(Response::new(pb::ResolveUnitMentionsResponse {
            resolutions: resolutions.into_iter().map(resolution_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(bytes = request.get_ref().content.len()))]
    async fn import_units(
        &self,
        request: Request<pb::ImportUnitsRequest>,
    ) -> ApiResult<pb::ImportUnitsResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let format = format_from_proto(message.format)?;
        let counts = self
            .registry
            .import(&context, format, &message.content, message.validate_only)
            .await?;
        Ok(Response::new(pb::ImportUnitsResponse {
            units_created: counts.units_created,
            units_updated: counts.units_updated,
            groups_created: counts.groups_created,
            groups_updated: counts.groups_updated,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn export_units(
        &self,
        request: Request<pb::ExportUnitsRequest>,
    ) -> ApiResult<pb::ExportUnitsResponse> {
        let today = read_context(&request)?.clock.today();
        let format = format_from_proto(request.get_ref().format)?;
        let content = self.registry.export(format, today).await?;
        Ok(Response::new(pb::ExportUnitsResponse { content }))
    }

    type WatchEventsStream = outbox::ResponseStream<pb::WatchEventsResponse>;

    #[tracing::instrument(skip_all, fields(after = request.get_ref().after_sequence))]
    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> ApiResult<Self::WatchEventsStream> {
        let context = CallContext::of(&request).map_err(UnitsError::from)?;
        let stream = outbox::watch_responses(
            &self.events,
            &context,
            request.get_ref().after_sequence,
            |event| {
                event_to_proto(event)
                    .map(|event| event.map(|event| pb::WatchEventsResponse { event: Some(event) }))
            },
        )
        .map_err(UnitsError::from)?;
        Ok(Response::new(stream))
    }
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
