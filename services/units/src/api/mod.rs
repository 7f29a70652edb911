//! The gRPC surface: each handler converts (see [`convert`]), calls [`UnitRegistry`], converts back.

pub(crate) mod convert;

use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::FieldViolation;
use std::sync::Arc;

use fazhi_platform::outbox::{self, OutboxHub};
use fazhi_proto::units::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::{NewGroup, UnitFilter};
use crate::domain::{
    Reorganization, ReorganizationId, ReorganizationKind, UnitField, UnitGroupId, UnitId,
    UnitPatch, validate_group,
};
use crate::error::UnitsError;
use crate::service::{MAX_MENTION_CHARS, MAX_MENTIONS, UnitRegistry};
use convert::*;

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
            search: text("search", &message.search)?,
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
        let basic = message.view == pb::UnitView::Basic as i32;
        let query = (&message.name, &message.as_of, message.max_depth, basic);
        let size = page_size(message.page_size, 1000, if basic { 50_000 } else { 5000 })?;
        let after = decode_token(&message.page_token, &query)?;
        let page = self
            .registry
            .descendants(&id, (as_of, today), message.max_depth, after, size)
            .await?;
        Ok(Response::new(pb::ListUnitDescendantsResponse {
            units: page
                .items
                .into_iter()
                .map(|found| {
                    let unit = unit_to_proto(found.unit);
                    if basic {
                        pb::Unit {
                            name: unit.name,
                            display_name: unit.display_name,
                            parent: unit.parent,
                            ..Default::default()
                        }
                    } else {
                        unit
                    }
                })
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
        let owner = optional_unit_id("unit_group.owner_unit", &group.owner_unit)?;
        let (display_name, aliases, definition) =
            validate_group(&group.display_name, &group.aliases, definition.as_ref())
                .map_err(invalid_all)?;
        let created = self
            .registry
            .create_group(
                &context,
                NewGroup {
                    id,
                    display_name,
                    aliases,
                    definition,
                    owner,
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
        let successor_units = units(
            "reorganization.successor_units",
            &reorganization.successor_units,
        )?;
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
        }
        .with_new_units(&new_units);
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
        let violations = FieldViolation::check_texts(
            "mentions",
            &message.mentions,
            (MAX_MENTIONS, MAX_MENTION_CHARS),
        );
        if !violations.is_empty() {
            return Err(invalid_all(violations));
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

    #[tracing::instrument(skip_all)]
    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> ApiResult<pb::ListAuditRecordsResponse> {
        let context = CallContext::of(&request).map_err(UnitsError::from)?;
        let message = request.into_inner();
        let (audit_records, next_page_token) = self
            .registry
            .list_audit_records(
                &context,
                (message.filter, message.page_size, &message.page_token),
            )
            .await?;
        Ok(Response::new(pb::ListAuditRecordsResponse {
            audit_records,
            next_page_token,
        }))
    }

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
