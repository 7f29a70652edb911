//! The units service as the plans service calls it: over gRPC, with the caller's token and the
//! current trace carried along.

use fazhi_platform::telemetry::TraceContextInterceptor;
use fazhi_proto::units::v1 as units;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::domain::{MentionResolution, MentionTarget};
use crate::error::{PlansError, Result};

/// Mentions per resolution call (the units service accepts at most 1000).
const MENTIONS_PER_CALL: usize = 500;

/// A client of `fazhi.units.v1.UnitsService`.
#[derive(Clone)]
pub struct UnitsClient {
    client: UnitsServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
}

/// What a unit lookup found.
pub enum Issuer {
    /// The unit and its ancestors' ids, nearest first.
    Found(Vec<String>),
    Unknown,
}

impl UnitsClient {
    /// Connects on first use, so services can start in any order.
    pub fn new(endpoint: &str) -> Result<Self> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|error| {
                PlansError::UnitsUnavailable(format!("bad clients.units_endpoint: {error}"))
            })?
            .connect_lazy();
        Ok(Self {
            client: UnitsServiceClient::with_interceptor(channel, TraceContextInterceptor),
        })
    }

    fn request<T>(message: T, authorization: &str) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let value = authorization.parse().map_err(|_| {
            PlansError::UnitsUnavailable("unusable authorization header".to_owned())
        })?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    fn unavailable(status: &tonic::Status) -> PlansError {
        PlansError::UnitsUnavailable(format!("{:?}: {}", status.code(), status.message()))
    }

    /// The unit and its ancestors, for authorisation.
    pub async fn issuer(&self, unit: &str, authorization: &str) -> Result<Issuer> {
        let name = format!("units/{unit}");
        let response = self
            .client
            .clone()
            .list_unit_ancestors(Self::request(
                units::ListUnitAncestorsRequest {
                    name,
                    as_of: String::new(),
                },
                authorization,
            )?)
            .await;
        match response {
            Ok(response) => {
                let ancestors = response
                    .into_inner()
                    .units
                    .into_iter()
                    .map(|ancestor| ancestor.name.trim_start_matches("units/").to_owned());
                Ok(Issuer::Found(
                    std::iter::once(unit.to_owned()).chain(ancestors).collect(),
                ))
            }
            Err(status) if status.code() == Code::NotFound => Ok(Issuer::Unknown),
            Err(status) => Err(Self::unavailable(&status)),
        }
    }

    /// The ids of a group's member units relative to the issuer on a day.
    pub async fn expand(
        &self,
        group: &str,
        issuer: &str,
        as_of: chrono::NaiveDate,
        authorization: &str,
    ) -> Result<Vec<String>> {
        let response = self
            .client
            .clone()
            .expand_unit_group(Self::request(
                units::ExpandUnitGroupRequest {
                    name: group.to_owned(),
                    context_unit: format!("units/{issuer}"),
                    as_of: as_of.to_string(),
                },
                authorization,
            )?)
            .await
            .map_err(|status| Self::unavailable(&status))?;
        Ok(response
            .into_inner()
            .units
            .into_iter()
            .map(|unit| unit.name.trim_start_matches("units/").to_owned())
            .collect())
    }

    /// Resolves mentions relative to the issuer, in order.
    pub async fn resolve(
        &self,
        issuer: &str,
        mentions: &[String],
        authorization: &str,
    ) -> Result<Vec<MentionResolution>> {
        let mut resolutions = Vec::with_capacity(mentions.len());
        for chunk in mentions.chunks(MENTIONS_PER_CALL) {
            let response = self
                .client
                .clone()
                .resolve_unit_mentions(Self::request(
                    units::ResolveUnitMentionsRequest {
                        context_unit: format!("units/{issuer}"),
                        mentions: chunk.to_vec(),
                        as_of: String::new(),
                    },
                    authorization,
                )?)
                .await
                .map_err(|status| Self::unavailable(&status))?;
            resolutions.extend(
                response
                    .into_inner()
                    .resolutions
                    .into_iter()
                    .map(|resolution| MentionResolution {
                        target: resolution.target.map(|target| match target {
                            units::mention_resolution::Target::Unit(unit) => {
                                MentionTarget::Unit(unit)
                            }
                            units::mention_resolution::Target::UnitGroup(group) => {
                                MentionTarget::Group(group)
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

    /// Every unit under a unit on a day (all levels), as (id, display name).
    pub async fn descendants(
        &self,
        unit: &str,
        as_of: chrono::NaiveDate,
        authorization: &str,
    ) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_unit_descendants(Self::request(
                    units::ListUnitDescendantsRequest {
                        name: format!("units/{unit}"),
                        as_of: as_of.to_string(),
                        max_depth: 0,
                        page_size: 5000,
                        page_token,
                    },
                    authorization,
                )?)
                .await
                .map_err(|status| Self::unavailable(&status))?
                .into_inner();
            found.extend(page.units.into_iter().map(|unit| {
                (
                    unit.name.trim_start_matches("units/").to_owned(),
                    unit.display_name,
                )
            }));
            if page.next_page_token.is_empty() {
                return Ok(found);
            }
            page_token = page.next_page_token;
        }
    }

    /// A unit's display name, or `None` when no such unit.
    pub async fn display_name(&self, unit: &str, authorization: &str) -> Result<Option<String>> {
        let response = self
            .client
            .clone()
            .get_unit(Self::request(
                units::GetUnitRequest {
                    name: format!("units/{unit}"),
                    as_of: String::new(),
                },
                authorization,
            )?)
            .await;
        match response {
            Ok(response) => Ok(response.into_inner().unit.map(|unit| unit.display_name)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(Self::unavailable(&status)),
        }
    }

    /// The units service's events after a sequence, as the plans service itself.
    pub async fn watch_events(
        &self,
        after_sequence: i64,
        authorization: &str,
    ) -> Result<tonic::Streaming<units::WatchEventsResponse>> {
        Ok(self
            .client
            .clone()
            .watch_events(Self::request(
                units::WatchEventsRequest { after_sequence },
                authorization,
            )?)
            .await
            .map_err(|status| Self::unavailable(&status))?
            .into_inner())
    }
}
