//! The gRPC surface: each handler converts (see [`convert`]), calls [`IndicatorBook`], converts
//! back.

pub(crate) mod convert;

use std::sync::Arc;

use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::call::CallContext;
use fazhi_platform::outbox::{self, OutboxHub};
use fazhi_proto::indicators::v1 as pb;
use fazhi_units_client::UnitId;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::{
    DataElementId, DataSetId, DataValueId, EvidenceLink, IndicatorId, ProposalId, TargetId,
    ValueFilter,
};
use crate::error::IndicatorsError;
use crate::ingest::IngestSession;
use crate::region::RegionQuery;
use crate::service::{IndicatorBook, Review, Scope, ValueReport, period_of};
use convert::*;

/// The `fazhi.indicators.v1.IndicatorsService` implementation.
#[derive(Clone)]
pub struct IndicatorsApi {
    book: IndicatorBook,
    events: Arc<OutboxHub>,
}

impl IndicatorsApi {
    pub fn new(book: IndicatorBook, events: Arc<OutboxHub>) -> Self {
        Self { book, events }
    }
}

type ApiResult<T> = Result<Response<T>, Status>;

fn require_caller<T>(request: &Request<T>) -> Result<(), Status> {
    caller_of(request)
        .map(|_| ())
        .map_err(|error| IndicatorsError::from(error).into())
}

fn mutation_context<T: Message>(
    request: &Request<T>,
    request_id: &str,
) -> Result<CallContext, Status> {
    Ok(CallContext::mutation(request, request_id).map_err(IndicatorsError::from)?)
}

fn read_context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    Ok(CallContext::of(request).map_err(IndicatorsError::from)?)
}

fn page_size(requested: i32) -> Result<i64, Status> {
    Ok(aip::page_size(requested, 100, 500).map_err(IndicatorsError::from)?)
}

fn page_token<K: serde::de::DeserializeOwned, Q: serde::Serialize>(
    token: &str,
    query: &Q,
) -> Result<Option<K>, Status> {
    Ok(aip::decode_page_token(token, query).map_err(IndicatorsError::from)?)
}

fn next_token<K: serde::Serialize, Q: serde::Serialize>(next: Option<K>, query: &Q) -> String {
    next.map(|next| aip::encode_page_token(&next, query))
        .unwrap_or_default()
}

/// A `plans/{plan}` name, checked for its form (the plans service says whether it exists).
fn plan_name(field: &str, name: &str) -> Result<String, Status> {
    match name.strip_prefix("plans/") {
        Some(id) if !id.is_empty() && !id.contains('/') && id.len() <= 64 => Ok(name.to_owned()),
        _ => Err(invalid(fazhi_platform::error::FieldViolation::new(
            field,
            "BAD_NAME",
            format!("{field} must be a plan name, plans/{{plan}}"),
            format!("{field} 须为规划名称,形如 plans/{{plan}}"),
        ))),
    }
}

fn period(field: &str, text: &str) -> Result<crate::domain::Period, Status> {
    Ok(period_of(field, text)?)
}

fn scope(
    unit: &str,
    period_text: &str,
    include_descendants: bool,
    include_submitted: bool,
) -> Result<Scope, Status> {
    let unit = UnitId::from_required_name("unit", unit).map_err(invalid);
    let period = period("period", period_text);
    match (unit, period) {
        (Ok(unit), Ok(period)) => Ok(Scope {
            unit,
            period,
            include_descendants,
            include_submitted,
        }),
        (Err(status), _) | (_, Err(status)) => Err(status),
    }
}

/// A request's data set and unit names, both checked.
fn data_set_and_unit(data_set: &str, unit: &str) -> Result<(DataSetId, UnitId), Status> {
    let id = DataSetId::from_required_name("data_set", data_set).map_err(invalid);
    let unit = UnitId::from_required_name("unit", unit).map_err(invalid);
    match (id, unit) {
        (Ok(id), Ok(unit)) => Ok((id, unit)),
        (Err(status), _) | (_, Err(status)) => Err(status),
    }
}

#[tonic::async_trait]
impl pb::indicators_service_server::IndicatorsService for IndicatorsApi {
    #[tracing::instrument(skip_all, fields(data_element = %request.get_ref().data_element_id))]
    async fn create_data_element(
        &self,
        request: Request<pb::CreateDataElementRequest>,
    ) -> ApiResult<pb::CreateDataElementResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id =
            DataElementId::parse("data_element_id", &message.data_element_id).map_err(invalid)?;
        let element = element_from_proto(id, message.data_element.unwrap_or_default())?;
        let created = self.book.create_element(&context, element).await?;
        Ok(Response::new(pb::CreateDataElementResponse {
            data_element: Some(element_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_element = %request.get_ref().name))]
    async fn get_data_element(
        &self,
        request: Request<pb::GetDataElementRequest>,
    ) -> ApiResult<pb::GetDataElementResponse> {
        require_caller(&request)?;
        let id =
            DataElementId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let element = self.book.get_element(&id).await?;
        Ok(Response::new(pb::GetDataElementResponse {
            data_element: Some(element_to_proto(element)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_data_elements(
        &self,
        request: Request<pb::ListDataElementsRequest>,
    ) -> ApiResult<pb::ListDataElementsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let size = page_size(message.page_size)?;
        let after = page_token(&message.page_token, &"data_elements")?;
        let page = self.book.list_elements(after, size).await?;
        Ok(Response::new(pb::ListDataElementsResponse {
            data_elements: page.items.into_iter().map(element_to_proto).collect(),
            next_page_token: next_token(page.next, &"data_elements"),
        }))
    }

    #[tracing::instrument(skip_all, fields(indicator = %request.get_ref().indicator_id))]
    async fn create_indicator(
        &self,
        request: Request<pb::CreateIndicatorRequest>,
    ) -> ApiResult<pb::CreateIndicatorResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = IndicatorId::parse("indicator_id", &message.indicator_id).map_err(invalid)?;
        let indicator = indicator_from_proto(id, message.indicator.unwrap_or_default())?;
        let created = self.book.create_indicator(&context, indicator).await?;
        Ok(Response::new(pb::CreateIndicatorResponse {
            indicator: Some(indicator_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_element = ?request.get_ref().data_element.as_ref().map(|element| &element.name)))]
    async fn update_data_element(
        &self,
        request: Request<pb::UpdateDataElementRequest>,
    ) -> ApiResult<pb::UpdateDataElementResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let element = message.data_element.unwrap_or_default();
        let id = DataElementId::from_required_name("data_element.name", &element.name)
            .map_err(invalid)?;
        let changes = element_changes(&element, message.update_mask.as_ref())?;
        let updated = self
            .book
            .update_element(&context, &id, &element.etag, changes)
            .await?;
        Ok(Response::new(pb::UpdateDataElementResponse {
            data_element: Some(element_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(indicator = ?request.get_ref().indicator.as_ref().map(|indicator| &indicator.name)))]
    async fn update_indicator(
        &self,
        request: Request<pb::UpdateIndicatorRequest>,
    ) -> ApiResult<pb::UpdateIndicatorResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let indicator = message.indicator.unwrap_or_default();
        let id =
            IndicatorId::from_required_name("indicator.name", &indicator.name).map_err(invalid)?;
        let changes = indicator_changes(&indicator, message.update_mask.as_ref())?;
        let updated = self
            .book
            .update_indicator(&context, &id, &indicator.etag, changes)
            .await?;
        Ok(Response::new(pb::UpdateIndicatorResponse {
            indicator: Some(indicator_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(indicator = %request.get_ref().name))]
    async fn get_indicator(
        &self,
        request: Request<pb::GetIndicatorRequest>,
    ) -> ApiResult<pb::GetIndicatorResponse> {
        require_caller(&request)?;
        let id =
            IndicatorId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let indicator = self.book.get_indicator(&id).await?;
        Ok(Response::new(pb::GetIndicatorResponse {
            indicator: Some(indicator_to_proto(indicator)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_indicators(
        &self,
        request: Request<pb::ListIndicatorsRequest>,
    ) -> ApiResult<pb::ListIndicatorsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let size = page_size(message.page_size)?;
        let after = page_token(&message.page_token, &"indicators")?;
        let page = self.book.list_indicators(after, size).await?;
        Ok(Response::new(pb::ListIndicatorsResponse {
            indicators: page.items.into_iter().map(indicator_to_proto).collect(),
            next_page_token: next_token(page.next, &"indicators"),
        }))
    }

    #[tracing::instrument(skip_all, fields(bytes = request.get_ref().content.len()))]
    async fn import_catalogue(
        &self,
        request: Request<pb::ImportCatalogueRequest>,
    ) -> ApiResult<pb::ImportCatalogueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        if message.content.is_empty() {
            return Err(invalid(fazhi_platform::error::FieldViolation::required(
                "content",
            )));
        }
        let summary = self
            .book
            .import_catalogue(&context, message.content, message.validate_only)
            .await?;
        let count = |count: usize| i32::try_from(count).unwrap_or(i32::MAX);
        Ok(Response::new(pb::ImportCatalogueResponse {
            data_elements_created: count(summary.elements),
            indicators_created: count(summary.indicators),
            targets_created: count(summary.targets),
            data_sets_created: count(summary.data_sets),
            unchanged: count(summary.unchanged),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn export_catalogue(
        &self,
        request: Request<pb::ExportCatalogueRequest>,
    ) -> ApiResult<pb::ExportCatalogueResponse> {
        require_caller(&request)?;
        let content = self.book.export_catalogue().await?;
        Ok(Response::new(pb::ExportCatalogueResponse {
            content: content.into_bytes(),
        }))
    }

    #[tracing::instrument(skip_all, fields(target = %request.get_ref().target_id))]
    async fn create_target(
        &self,
        request: Request<pb::CreateTargetRequest>,
    ) -> ApiResult<pb::CreateTargetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = TargetId::parse("target_id", &message.target_id).map_err(invalid)?;
        let target = target_from_proto(id, message.target.unwrap_or_default())?;
        let created = self.book.create_target(&context, target).await?;
        Ok(Response::new(pb::CreateTargetResponse {
            target: Some(target_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(target = %request.get_ref().name))]
    async fn get_target(
        &self,
        request: Request<pb::GetTargetRequest>,
    ) -> ApiResult<pb::GetTargetResponse> {
        require_caller(&request)?;
        let id = TargetId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let target = self.book.get_target(&id).await?;
        Ok(Response::new(pb::GetTargetResponse {
            target: Some(target_to_proto(target)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_targets(
        &self,
        request: Request<pb::ListTargetsRequest>,
    ) -> ApiResult<pb::ListTargetsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let owner = match message.owner_unit.as_str() {
            "" => None,
            name => Some(
                UnitId::from_name("owner_unit", name)
                    .map_err(invalid)?
                    .as_str()
                    .to_owned(),
            ),
        };
        let size = page_size(message.page_size)?;
        let after = page_token(&message.page_token, &owner)?;
        let page = self
            .book
            .list_targets(owner.as_deref(), after, size)
            .await?;
        Ok(Response::new(pb::ListTargetsResponse {
            targets: page.items.into_iter().map(target_to_proto).collect(),
            next_page_token: next_token(page.next, &owner),
        }))
    }

    #[tracing::instrument(skip_all, fields(target = ?request.get_ref().target.as_ref().map(|target| &target.name)))]
    async fn update_target(
        &self,
        request: Request<pb::UpdateTargetRequest>,
    ) -> ApiResult<pb::UpdateTargetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let target = message.target.unwrap_or_default();
        let id = TargetId::from_required_name("target.name", &target.name).map_err(invalid)?;
        let etag = target.etag.clone();
        let changes = target_changes(target, message.update_mask.as_ref())?;
        let updated = self
            .book
            .update_target(&context, &id, &etag, changes)
            .await?;
        Ok(Response::new(pb::UpdateTargetResponse {
            target: Some(target_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(target = %request.get_ref().name))]
    async fn delete_target(
        &self,
        request: Request<pb::DeleteTargetRequest>,
    ) -> ApiResult<pb::DeleteTargetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id = TargetId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let deleted = self
            .book
            .delete_target(&context, &id, &request.get_ref().etag)
            .await?;
        Ok(Response::new(pb::DeleteTargetResponse {
            target: Some(target_to_proto(deleted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_element = %request.get_ref().name))]
    async fn delete_data_element(
        &self,
        request: Request<pb::DeleteDataElementRequest>,
    ) -> ApiResult<pb::DeleteDataElementResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id =
            DataElementId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let deleted = self
            .book
            .delete_element(&context, &id, &request.get_ref().etag)
            .await?;
        Ok(Response::new(pb::DeleteDataElementResponse {
            data_element: Some(element_to_proto(deleted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(indicator = %request.get_ref().name))]
    async fn delete_indicator(
        &self,
        request: Request<pb::DeleteIndicatorRequest>,
    ) -> ApiResult<pb::DeleteIndicatorResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id =
            IndicatorId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let deleted = self
            .book
            .delete_indicator(&context, &id, &request.get_ref().etag)
            .await?;
        Ok(Response::new(pb::DeleteIndicatorResponse {
            indicator: Some(indicator_to_proto(deleted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = ?request.get_ref().data_set.as_ref().map(|set| &set.name)))]
    async fn update_data_set(
        &self,
        request: Request<pb::UpdateDataSetRequest>,
    ) -> ApiResult<pb::UpdateDataSetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let set = message.data_set.unwrap_or_default();
        let id = DataSetId::from_required_name("data_set.name", &set.name).map_err(invalid)?;
        let etag = set.etag.clone();
        let changes = data_set_changes(set, message.update_mask.as_ref())?;
        let updated = self
            .book
            .update_data_set(&context, &id, &etag, changes)
            .await?;
        Ok(Response::new(pb::UpdateDataSetResponse {
            data_set: Some(data_set_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().name))]
    async fn delete_data_set(
        &self,
        request: Request<pb::DeleteDataSetRequest>,
    ) -> ApiResult<pb::DeleteDataSetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id = DataSetId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let deleted = self
            .book
            .delete_data_set(&context, &id, &request.get_ref().etag)
            .await?;
        Ok(Response::new(pb::DeleteDataSetResponse {
            data_set: Some(data_set_to_proto(deleted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().data_set_id))]
    async fn create_data_set(
        &self,
        request: Request<pb::CreateDataSetRequest>,
    ) -> ApiResult<pb::CreateDataSetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = DataSetId::parse("data_set_id", &message.data_set_id).map_err(invalid)?;
        let set = data_set_from_proto(id, message.data_set.unwrap_or_default())?;
        let created = self.book.create_data_set(&context, set).await?;
        Ok(Response::new(pb::CreateDataSetResponse {
            data_set: Some(data_set_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().name))]
    async fn get_data_set(
        &self,
        request: Request<pb::GetDataSetRequest>,
    ) -> ApiResult<pb::GetDataSetResponse> {
        require_caller(&request)?;
        let id = DataSetId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let set = self.book.get_data_set(&id).await?;
        Ok(Response::new(pb::GetDataSetResponse {
            data_set: Some(data_set_to_proto(set)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_data_sets(
        &self,
        request: Request<pb::ListDataSetsRequest>,
    ) -> ApiResult<pb::ListDataSetsResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let size = page_size(message.page_size)?;
        let after = page_token(&message.page_token, &"data_sets")?;
        let page = self.book.list_data_sets(after, size).await?;
        Ok(Response::new(pb::ListDataSetsResponse {
            data_sets: page.items.into_iter().map(data_set_to_proto).collect(),
            next_page_token: next_token(page.next, &"data_sets"),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().data_set, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn submit_return(
        &self,
        request: Request<pb::SubmitReturnRequest>,
    ) -> ApiResult<pb::SubmitReturnResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (id, unit) = data_set_and_unit(&message.data_set, &message.unit)?;
        let values = self
            .book
            .submit_return(&context, &id, &unit, &message.period)
            .await?;
        Ok(Response::new(pb::SubmitReturnResponse {
            data_values: values.into_iter().map(value_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().data_set, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn export_data_entry_form(
        &self,
        request: Request<pb::ExportDataEntryFormRequest>,
    ) -> ApiResult<pb::ExportDataEntryFormResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let (id, unit) = data_set_and_unit(&message.data_set, &message.unit)?;
        let (content, file_name) = self
            .book
            .data_entry_form(&context, &id, &unit, &message.period)
            .await?;
        Ok(Response::new(pb::ExportDataEntryFormResponse {
            content,
            file_name,
        }))
    }

    #[tracing::instrument(skip_all, fields(data_set = %request.get_ref().data_set, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn list_returns(
        &self,
        request: Request<pb::ListReturnsRequest>,
    ) -> ApiResult<pb::ListReturnsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let (id, unit) = data_set_and_unit(&message.data_set, &message.unit)?;
        let size = page_size(message.page_size)?;
        let query = (
            &message.data_set,
            &message.unit,
            &message.period,
            message.outstanding_only,
        );
        let after = page_token(&message.page_token, &query)?;
        let found = self
            .book
            .list_returns(
                &context,
                &id,
                &unit,
                &message.period,
                message.outstanding_only,
                (after, size),
            )
            .await?;
        let count = |count: usize| i32::try_from(count).unwrap_or(i32::MAX);
        Ok(Response::new(pb::ListReturnsResponse {
            returns: found
                .returns
                .items
                .into_iter()
                .map(return_to_proto)
                .collect(),
            due_date: found.due_date.to_string(),
            expected_count: count(found.expected),
            on_time_count: count(found.on_time),
            late_count: count(found.late),
            next_page_token: next_token(found.returns.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_element = %request.get_ref().data_element, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn report_data_value(
        &self,
        request: Request<pb::ReportDataValueRequest>,
    ) -> ApiResult<pb::ReportDataValueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let data_element = DataElementId::from_required_name("data_element", &message.data_element)
            .map_err(invalid)?;
        let unit = match message.unit.as_str() {
            "" => None,
            name => Some(UnitId::from_name("unit", name).map_err(invalid)?),
        };
        let value = self
            .book
            .report_value(
                &context,
                ValueReport {
                    data_element,
                    unit,
                    period: message.period,
                    category_option: message.category_option,
                    value: message.value,
                    text: message.text,
                    comment: message.comment,
                    evidence: message
                        .evidence
                        .into_iter()
                        .map(|link| EvidenceLink {
                            uri: link.uri,
                            title: link.title,
                        })
                        .collect(),
                    etag: message.etag,
                },
            )
            .await?;
        Ok(Response::new(pb::ReportDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    type IngestDataValuesStream = outbox::ResponseStream<pb::IngestDataValuesResponse>;

    #[tracing::instrument(skip_all)]
    async fn ingest_data_values(
        &self,
        request: Request<tonic::Streaming<pb::IngestDataValuesRequest>>,
    ) -> ApiResult<Self::IngestDataValuesStream> {
        let context = read_context(&request)?;
        let mut session = IngestSession::new(self.book.clone(), context);
        let mut incoming = request.into_inner();
        // Message n is written while message n + 1 is received and checked; answers go out in
        // order as the caller reads them, so a slow reader slows the upload, and a caller who
        // goes away stops it.
        let answers = async_stream::stream! {
            let mut received = incoming.message().await;
            loop {
                let message = match received {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(status) => {
                        yield Err(status);
                        break;
                    }
                };
                let rows = message.rows.into_iter().map(ingest_row_from_proto).collect();
                let batch = match session.prepare(&message.source, message.submit, rows).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        yield Err(Status::from(error));
                        break;
                    }
                };
                let (written, next) = tokio::join!(batch.commit(), incoming.message());
                received = next;
                match written {
                    Ok(results) => yield Ok(pb::IngestDataValuesResponse {
                        results: results.into_iter().map(ingest_result_to_proto).collect(),
                    }),
                    Err(error) => {
                        yield Err(Status::from(error));
                        break;
                    }
                }
            }
        };
        Ok(Response::new(Box::pin(answers)))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().name))]
    async fn submit_data_value(
        &self,
        request: Request<pb::SubmitDataValueRequest>,
    ) -> ApiResult<pb::SubmitDataValueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id =
            DataValueId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let value = self
            .book
            .review_value(&context, &id, &request.get_ref().etag, Review::Submit)
            .await?;
        Ok(Response::new(pb::SubmitDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().name))]
    async fn approve_data_value(
        &self,
        request: Request<pb::ApproveDataValueRequest>,
    ) -> ApiResult<pb::ApproveDataValueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id =
            DataValueId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let value = self
            .book
            .review_value(&context, &id, &request.get_ref().etag, Review::Approve)
            .await?;
        Ok(Response::new(pb::ApproveDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().name))]
    async fn return_data_value(
        &self,
        request: Request<pb::ReturnDataValueRequest>,
    ) -> ApiResult<pb::ReturnDataValueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.get_ref();
        let id = DataValueId::from_required_name("name", &message.name).map_err(invalid)?;
        let value = self
            .book
            .review_value(
                &context,
                &id,
                &message.etag,
                Review::Return(&message.reason),
            )
            .await?;
        Ok(Response::new(pb::ReturnDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().name))]
    async fn reopen_data_value(
        &self,
        request: Request<pb::ReopenDataValueRequest>,
    ) -> ApiResult<pb::ReopenDataValueResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.get_ref();
        let id = DataValueId::from_required_name("name", &message.name).map_err(invalid)?;
        let value = self
            .book
            .review_value(
                &context,
                &id,
                &message.etag,
                Review::Reopen(&message.reason),
            )
            .await?;
        Ok(Response::new(pb::ReopenDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().name))]
    async fn get_data_value(
        &self,
        request: Request<pb::GetDataValueRequest>,
    ) -> ApiResult<pb::GetDataValueResponse> {
        let context = read_context(&request)?;
        let id =
            DataValueId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let value = self.book.get_value(&context, &id).await?;
        Ok(Response::new(pb::GetDataValueResponse {
            data_value: Some(value_to_proto(value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().unit))]
    async fn list_data_values(
        &self,
        request: Request<pb::ListDataValuesRequest>,
    ) -> ApiResult<pb::ListDataValuesResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let unit = match message.unit.as_str() {
            "" => None,
            name => Some(UnitId::from_name("unit", name).map_err(invalid)?),
        };
        let element = match message.data_element.as_str() {
            "" => None,
            name => Some(DataElementId::from_name("data_element", name).map_err(invalid)?),
        };
        let window = match message.period.as_str() {
            "" => None,
            text => Some(period("period", text)?),
        };
        let state = match message.state {
            0 => None,
            state => Some(value_state("state", state).map_err(invalid)?),
        };
        let size = page_size(message.page_size)?;
        let query = (
            &message.unit,
            &message.data_element,
            &message.period,
            message.state,
            message.include_descendants,
        );
        let after = page_token(&message.page_token, &query)?;
        let page = self
            .book
            .list_values(
                &context,
                (unit.as_ref(), element.as_ref()),
                ValueFilter {
                    window,
                    state,
                    include_descendants: message.include_descendants,
                },
                (after, size),
            )
            .await?;
        Ok(Response::new(pb::ListDataValuesResponse {
            data_values: page.items.into_iter().map(value_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(data_value = %request.get_ref().parent))]
    async fn list_data_value_revisions(
        &self,
        request: Request<pb::ListDataValueRevisionsRequest>,
    ) -> ApiResult<pb::ListDataValueRevisionsResponse> {
        let context = read_context(&request)?;
        let id = DataValueId::from_required_name("parent", &request.get_ref().parent)
            .map_err(invalid)?;
        let revisions = self.book.list_revisions(&context, &id).await?;
        Ok(Response::new(pb::ListDataValueRevisionsResponse {
            revisions: revisions.into_iter().map(revision_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(indicator = %request.get_ref().indicator, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn evaluate_indicator(
        &self,
        request: Request<pb::EvaluateIndicatorRequest>,
    ) -> ApiResult<pb::EvaluateIndicatorResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let id =
            IndicatorId::from_required_name("indicator", &message.indicator).map_err(invalid)?;
        let scope = scope(
            &message.unit,
            &message.period,
            message.include_descendants,
            message.include_submitted,
        )?;
        let value = self.book.evaluate_indicator(&context, &id, &scope).await?;
        Ok(Response::new(pb::EvaluateIndicatorResponse {
            value: Some(indicator_value_to_proto(&message.indicator, value)),
        }))
    }

    #[tracing::instrument(skip_all, fields(target = %request.get_ref().target, unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn evaluate_target(
        &self,
        request: Request<pb::EvaluateTargetRequest>,
    ) -> ApiResult<pb::EvaluateTargetResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let id = TargetId::from_required_name("target", &message.target).map_err(invalid)?;
        let scope = scope(
            &message.unit,
            &message.period,
            message.include_descendants,
            message.include_submitted,
        )?;
        let evaluation = self.book.evaluate_target(&context, &id, &scope).await?;
        let indicator = self
            .book
            .get_target(&id)
            .await?
            .indicator
            .map(|indicator| indicator.name())
            .unwrap_or_default();
        Ok(Response::new(pb::EvaluateTargetResponse {
            evaluation: Some(evaluation_to_proto(
                evaluation,
                &message.unit,
                &message.period,
                &indicator,
            )),
        }))
    }

    type EvaluateRegionStream = outbox::ResponseStream<pb::EvaluateRegionResponse>;
    type EvaluateRegionIndicatorsStream =
        outbox::ResponseStream<pb::EvaluateRegionIndicatorsResponse>;

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn evaluate_region_indicators(
        &self,
        request: Request<pb::EvaluateRegionIndicatorsRequest>,
    ) -> ApiResult<Self::EvaluateRegionIndicatorsStream> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let region = UnitId::from_required_name("unit", &message.unit).map_err(invalid)?;
        let period = period("period", &message.period)?;
        if message.indicators.is_empty() {
            return Err(invalid(fazhi_platform::error::FieldViolation::required(
                "indicators",
            )));
        }
        let indicators = message
            .indicators
            .iter()
            .enumerate()
            .map(|(index, name)| {
                IndicatorId::from_name(&format!("indicators[{index}]"), name).map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut pages = self
            .book
            .region_indicator_values(
                &context,
                (&region, period, message.include_submitted),
                &indicators,
                // Converted where it was worked out, off the async runtime.
                |page| pb::EvaluateRegionIndicatorsResponse {
                    values: page
                        .iter()
                        .map(|value| pb::UnitIndicatorValue {
                            unit: format!("units/{}", value.unit),
                            indicator: value.indicator.name(),
                            value: value.value,
                        })
                        .collect(),
                },
            )
            .await?;
        let responses = async_stream::stream! {
            while let Some(page) = pages.recv().await {
                yield Ok(page);
            }
        };
        Ok(Response::new(Box::pin(responses)))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().unit, period = %request.get_ref().period))]
    async fn evaluate_region(
        &self,
        request: Request<pb::EvaluateRegionRequest>,
    ) -> ApiResult<Self::EvaluateRegionStream> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let region = UnitId::from_required_name("unit", &message.unit).map_err(invalid)?;
        let period = period("period", &message.period)?;
        let targets = message
            .targets
            .iter()
            .enumerate()
            .map(|(index, name)| {
                TargetId::from_name(&format!("targets[{index}]"), name).map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let full = message.view == pb::EvaluationView::Full as i32;
        let mut pages = self
            .book
            .evaluate_region(
                &context,
                RegionQuery {
                    region,
                    period,
                    include_submitted: message.include_submitted,
                    targets,
                    detailed: full,
                },
                // Converted where it was judged, off the async runtime.
                move |page| pb::EvaluateRegionResponse {
                    evaluations: page
                        .iter()
                        .map(|evaluation| unit_evaluation_to_proto(evaluation, full))
                        .collect(),
                },
            )
            .await?;
        let responses = async_stream::stream! {
            while let Some(page) = pages.recv().await {
                yield Ok(page);
            }
        };
        Ok(Response::new(Box::pin(responses)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> ApiResult<pb::ListAuditRecordsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let (audit_records, next_page_token) = self
            .book
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

    type WatchEventsStream = outbox::ResponseStream<pb::WatchEventsResponse>;

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().plan))]
    async fn propose_targets(
        &self,
        request: Request<pb::ProposeTargetsRequest>,
    ) -> ApiResult<pb::ProposeTargetsResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let plan = plan_name("plan", &request.get_ref().plan)?;
        let proposals = self.book.propose_targets(&context, &plan).await?;
        let suggested_count = proposals
            .iter()
            .filter(|proposal| !proposal.suggested.is_empty())
            .count();
        Ok(Response::new(pb::ProposeTargetsResponse {
            proposed_targets: proposals.into_iter().map(proposal_to_proto).collect(),
            suggested_count: i32::try_from(suggested_count).unwrap_or(i32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().plan))]
    async fn list_proposed_targets(
        &self,
        request: Request<pb::ListProposedTargetsRequest>,
    ) -> ApiResult<pb::ListProposedTargetsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let plan = plan_name("plan", &message.plan)?;
        let state = match message.state {
            0 => None,
            state => Some(proposal_state("state", state).map_err(invalid)?),
        };
        let query = (&plan, state.map(crate::domain::ProposalState::as_str));
        let size = page_size(message.page_size)?;
        let after = page_token(&message.page_token, &query)?;
        let page = self
            .book
            .list_proposals(&context, &plan, state, after, size)
            .await?;
        Ok(Response::new(pb::ListProposedTargetsResponse {
            proposed_targets: page.items.into_iter().map(proposal_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(proposal = %request.get_ref().name))]
    async fn accept_proposed_target(
        &self,
        request: Request<pb::AcceptProposedTargetRequest>,
    ) -> ApiResult<pb::AcceptProposedTargetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = ProposalId::from_required_name("name", &message.name).map_err(invalid)?;
        let instead = targets_instead(message.targets)?;
        let accepted = self
            .book
            .accept_proposal(&context, &id, &message.etag, instead)
            .await?;
        Ok(Response::new(pb::AcceptProposedTargetResponse {
            proposed_target: Some(proposal_to_proto(accepted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(proposal = %request.get_ref().name))]
    async fn reject_proposed_target(
        &self,
        request: Request<pb::RejectProposedTargetRequest>,
    ) -> ApiResult<pb::RejectProposedTargetResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = ProposalId::from_required_name("name", &message.name).map_err(invalid)?;
        let rejected = self
            .book
            .reject_proposal(&context, &id, &message.etag, message.reason)
            .await?;
        Ok(Response::new(pb::RejectProposedTargetResponse {
            proposed_target: Some(proposal_to_proto(rejected)),
        }))
    }

    #[tracing::instrument(skip_all, fields(after = request.get_ref().after_sequence))]
    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> ApiResult<Self::WatchEventsStream> {
        let context = read_context(&request)?;
        let stream = outbox::watch_responses(
            &self.events,
            &context,
            request.get_ref().after_sequence,
            |event| {
                event_to_proto(event)
                    .map(|event| event.map(|event| pb::WatchEventsResponse { event: Some(event) }))
            },
        )
        .map_err(IndicatorsError::from)?;
        Ok(Response::new(stream))
    }
}
