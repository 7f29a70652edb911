//! The units service as every other service calls it: over gRPC, with the caller's own
//! credentials, the current trace and the call's remaining deadline carried along; unit ids as
//! [`UnitId`]; the upstream status code kept (a refusal is not an outage); and an [`Access`]
//! decision built once per call.

use fazhi_platform::call::CallContext;
use fazhi_platform::telemetry::TraceContextInterceptor;
use fazhi_platform::upstream::outbound;
use fazhi_proto::units::v1 as units;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

fazhi_platform::resource_id!(
    /// A unit of the registry (`units/{unit}`), as other services refer to it.
    UnitId,
    "units",
    "u"
);

/// Mentions per resolution call (the units service accepts at most 1000).
const MENTIONS_PER_CALL: usize = 500;

/// What went wrong calling the units service (the code every service client keeps).
pub use fazhi_platform::upstream::UpstreamError as UnitsClientError;

pub type Result<T, E = UnitsClientError> = std::result::Result<T, E>;

/// What the caller may do for one unit, decided once from the unit's ancestry.
#[derive(Debug, Clone)]
pub struct Access {
    unit: UnitId,
    /// The unit itself, then its ancestors, nearest first.
    ancestry: Vec<String>,
    caller: fazhi_platform::auth::Caller,
}

impl Access {
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }

    /// Its coordinators (at or above it) and admins.
    pub fn may_coordinate(&self) -> bool {
        self.caller.may_manage(&self.ancestry)
    }

    /// Whether the unit is `region` or lies below it.
    pub fn is_within(&self, region: &str) -> bool {
        self.ancestry.iter().any(|unit| unit == region)
    }

    /// Its own staff, and whoever may coordinate it.
    pub fn may_work_for(&self) -> bool {
        self.caller.may_work_for(self.unit.as_str(), &self.ancestry)
    }

    /// Whoever may work for it, and viewers at or above it.
    pub fn may_read(&self) -> bool {
        self.caller.may_read(self.unit.as_str(), &self.ancestry)
    }
}

/// A unit mention as the units service resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub target: Option<ResolvedTarget>,
    pub confidence: f64,
    pub method: String,
    /// Display names of the candidates, when ambiguous.
    pub candidates: Vec<String>,
}

/// What a mention resolved to (resource names).
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedTarget {
    Unit(String),
    Group(String),
}

/// A client of `fazhi.units.v1.UnitsService`. Cheap to clone.
#[derive(Clone)]
pub struct UnitsClient {
    client: UnitsServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
}

impl UnitsClient {
    /// Connects on first use, so services can start in any order.
    pub fn new(endpoint: &str) -> Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|error| UnitsClientError::Unavailable(format!("bad endpoint: {error}")))?
            .connect_lazy();
        Ok(Self {
            // A BASIC page of 50,000 descendants is ~4 MiB; the servers send up to 16 MiB.
            client: UnitsServiceClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(16 << 20),
        })
    }

    /// What the caller may do for `unit`; [`UnitsClientError::NotFound`] when no such unit.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/ListUnitAncestors"))]
    pub async fn access(&self, context: &CallContext, unit: &UnitId) -> Result<Access> {
        let response = self
            .client
            .clone()
            .list_unit_ancestors(outbound(
                units::ListUnitAncestorsRequest {
                    name: unit.name(),
                    as_of: String::new(),
                },
                context,
            )?)
            .await
            .map_err(|status| UnitsClientError::from_status(&status, &unit.name()))?;
        let ancestors = response
            .into_inner()
            .units
            .into_iter()
            .map(|ancestor| id_of(&ancestor.name).as_str().to_owned());
        Ok(Access {
            unit: unit.clone(),
            ancestry: std::iter::once(unit.as_str().to_owned())
                .chain(ancestors)
                .collect(),
            caller: context.caller.clone(),
        })
    }

    /// A group's member units relative to `context_unit` on a day.
    pub async fn expand(
        &self,
        context: &CallContext,
        group: &str,
        context_unit: &UnitId,
        as_of: chrono::NaiveDate,
    ) -> Result<Vec<UnitId>> {
        Ok(self
            .members(context, group, context_unit, as_of)
            .await?
            .into_iter()
            .map(|(unit, _)| unit)
            .collect())
    }

    /// [`Self::expand`] with each member's full name (宁国市司法局).
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/ExpandUnitGroup"))]
    pub async fn members(
        &self,
        context: &CallContext,
        group: &str,
        context_unit: &UnitId,
        as_of: chrono::NaiveDate,
    ) -> Result<Vec<(UnitId, String)>> {
        let response = self
            .client
            .clone()
            .expand_unit_group(outbound(
                units::ExpandUnitGroupRequest {
                    name: group.to_owned(),
                    context_unit: context_unit.name(),
                    as_of: as_of.to_string(),
                },
                context,
            )?)
            .await
            .map_err(|status| UnitsClientError::from_status(&status, group))?;
        Ok(response
            .into_inner()
            .units
            .into_iter()
            .map(|unit| (id_of(&unit.name), unit.display_name))
            .collect())
    }

    /// Resolves mentions relative to `context_unit`, in order.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/ResolveUnitMentions"))]
    pub async fn resolve(
        &self,
        context: &CallContext,
        context_unit: &UnitId,
        mentions: &[String],
    ) -> Result<Vec<Resolution>> {
        let mut resolutions = Vec::with_capacity(mentions.len());
        for chunk in mentions.chunks(MENTIONS_PER_CALL) {
            let response = self
                .client
                .clone()
                .resolve_unit_mentions(outbound(
                    units::ResolveUnitMentionsRequest {
                        context_unit: context_unit.name(),
                        mentions: chunk.to_vec(),
                        as_of: String::new(),
                    },
                    context,
                )?)
                .await
                .map_err(|status| UnitsClientError::from_status(&status, &context_unit.name()))?;
            resolutions.extend(
                response
                    .into_inner()
                    .resolutions
                    .into_iter()
                    .map(|resolution| Resolution {
                        target: resolution.target.map(|target| match target {
                            units::mention_resolution::Target::Unit(unit) => {
                                ResolvedTarget::Unit(unit)
                            }
                            units::mention_resolution::Target::UnitGroup(group) => {
                                ResolvedTarget::Group(group)
                            }
                        }),
                        confidence: resolution.confidence,
                        method: resolution.method,
                        candidates: resolution
                            .candidates
                            .into_iter()
                            .map(|candidate| candidate.display_name)
                            .collect(),
                    }),
            );
        }
        Ok(resolutions)
    }

    /// Every unit under `unit` on a day (all levels), with its display name.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/ListUnitDescendants"))]
    pub async fn descendants(
        &self,
        context: &CallContext,
        unit: &UnitId,
        as_of: chrono::NaiveDate,
    ) -> Result<Vec<(UnitId, String)>> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_unit_descendants(outbound(
                    units::ListUnitDescendantsRequest {
                        name: unit.name(),
                        as_of: as_of.to_string(),
                        max_depth: 0,
                        page_size: 50_000,
                        page_token,
                        view: units::UnitView::Basic as i32,
                    },
                    context,
                )?)
                .await
                .map_err(|status| UnitsClientError::from_status(&status, &unit.name()))?
                .into_inner();
            found.extend(
                page.units
                    .into_iter()
                    .map(|descendant| (id_of(&descendant.name), descendant.display_name)),
            );
            if page.next_page_token.is_empty() {
                return Ok(found);
            }
            page_token = page.next_page_token;
        }
    }

    /// The ids of every unit below `unit` today (a coordinator's region in the audit log).
    pub async fn ids_below(&self, context: &CallContext, unit: &str) -> Result<Vec<String>> {
        Ok(self
            .descendants(context, &id_of(unit), context.clock.today())
            .await?
            .into_iter()
            .map(|(id, _)| id.as_str().to_owned())
            .collect())
    }

    /// A unit's display name, or `None` when no such unit.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/GetUnit"))]
    pub async fn display_name(
        &self,
        context: &CallContext,
        unit: &UnitId,
    ) -> Result<Option<String>> {
        let response = self
            .client
            .clone()
            .get_unit(outbound(
                units::GetUnitRequest {
                    name: unit.name(),
                    as_of: String::new(),
                },
                context,
            )?)
            .await;
        match response {
            Ok(response) => Ok(response.into_inner().unit.map(|unit| unit.display_name)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(UnitsClientError::from_status(&status, &unit.name())),
        }
    }

    /// The units service's events after a sequence.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.units.v1.UnitsService/WatchEvents"))]
    pub async fn watch_events(
        &self,
        context: &CallContext,
        after_sequence: i64,
    ) -> Result<tonic::Streaming<units::WatchEventsResponse>> {
        Ok(self
            .client
            .clone()
            .watch_events(outbound(
                units::WatchEventsRequest { after_sequence },
                context,
            )?)
            .await
            .map_err(|status| UnitsClientError::from_status(&status, "units events"))?
            .into_inner())
    }
}

/// The violation of a request field naming a unit the registry does not have (told only to
/// admins: anyone else is refused as for another unit's, AIP-211).
pub fn unit_not_found(field: &str) -> fazhi_platform::error::FieldViolation {
    fazhi_platform::error::FieldViolation::new(
        field,
        "UNIT_NOT_FOUND",
        format!("{field} names no registered unit"),
        format!("{field} 指定的单位不存在"),
    )
}

/// The id in a `units/{unit}` name the units service answered with (trusted: it made it).
pub fn id_of(name: &str) -> UnitId {
    UnitId::from_trusted(name.strip_prefix("units/").unwrap_or(name).to_owned())
}
