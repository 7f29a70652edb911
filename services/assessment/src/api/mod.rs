//! The gRPC surface: each handler converts (see [`convert`]), calls [`AssessmentBook`],
//! converts back.

pub(crate) mod convert;

use std::sync::Arc;

use fazhi_platform::aip;
use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::PlatformError;
use fazhi_platform::outbox::{self, OutboxHub};
use fazhi_proto::assessment::v1 as pb;
use fazhi_units_client::UnitId;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::PeerGroup;
use crate::domain::{AppealId, ItemId, RoundId, SchemeId, SelfAssessmentId, SupervisionId};
use crate::error::AssessmentError;
use crate::export::Sheets;
use crate::import::{SchemeHead, scheme_from_xlsx};
use crate::service::{
    AppealDraft, AssessmentBook, BulletinParts, ItemStep, RoundSpec, SelfAssessmentDraft,
    SupervisionDraft,
};
use crate::store::{ClaimFilter, ClaimKind, Finding, ItemFilter, ManualScore};
use convert::*;

/// The `fazhi.assessment.v1.AssessmentService` implementation.
#[derive(Clone)]
pub struct AssessmentApi {
    book: AssessmentBook,
    events: Arc<OutboxHub>,
}

impl AssessmentApi {
    pub fn new(book: AssessmentBook, events: Arc<OutboxHub>) -> Self {
        Self { book, events }
    }

    /// The round's bulletin as of today, made into something on a blocking thread.
    async fn bulletin<T: Send + 'static>(
        &self,
        context: &CallContext,
        id: &RoundId,
        make: impl FnOnce(&BulletinParts, &crate::domain::Bulletin<'_>) -> T + Send + 'static,
    ) -> Result<T, Status> {
        let parts = self.book.bulletin_parts(context, id).await?;
        let today = context.clock.today();
        tokio::task::spawn_blocking(move || {
            let bulletin = crate::domain::bulletin(
                &parts.scheme,
                &parts.results,
                (&parts.items, &parts.supervision),
                today,
            );
            make(&parts, &bulletin)
        })
        .await
        .map_err(|error| {
            AssessmentError::from(fazhi_platform::error::PlatformError::Internal(format!(
                "bulletin: {error}"
            )))
            .into()
        })
    }

    /// A step of the item `name`, answered as of today.
    async fn step(
        &self,
        context: &CallContext,
        name: &str,
        etag: &str,
        step: ItemStep,
    ) -> Result<pb::RectificationItem, Status> {
        let id = ItemId::from_required_name("name", name).map_err(invalid)?;
        let item = self.book.step_item(context, &id, etag, step).await?;
        Ok(item_to_proto(item, context.clock.today()))
    }
}

type ApiResult<T> = Result<Response<T>, Status>;

fn mutation_context<T: Message>(
    request: &Request<T>,
    request_id: &str,
) -> Result<CallContext, Status> {
    Ok(CallContext::mutation(request, request_id).map_err(AssessmentError::from)?)
}

fn read_context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    Ok(CallContext::of(request).map_err(AssessmentError::from)?)
}

fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, Status> {
    Ok(aip::page_size(requested, default, max).map_err(AssessmentError::from)?)
}

fn page_token<K: serde::de::DeserializeOwned, Q: serde::Serialize>(
    token: &str,
    query: &Q,
) -> Result<Option<K>, Status> {
    Ok(aip::decode_page_token(token, query).map_err(AssessmentError::from)?)
}

fn next_token<K: serde::Serialize, Q: serde::Serialize>(next: Option<K>, query: &Q) -> String {
    next.map(|next| aip::encode_page_token(&next, query))
        .unwrap_or_default()
}

/// Both ids named, or the first refusal.
fn scheme_and_unit(scheme: &str, unit: &str) -> Result<(SchemeId, UnitId), Status> {
    let scheme = SchemeId::from_required_name("scheme", scheme).map_err(invalid);
    let unit = UnitId::from_required_name("unit", unit).map_err(invalid);
    match (scheme, unit) {
        (Ok(scheme), Ok(unit)) => Ok((scheme, unit)),
        (Err(status), _) | (_, Err(status)) => Err(status),
    }
}

/// A unit filter: empty is none.
fn optional_unit(name: &str) -> Result<Option<String>, Status> {
    if name.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        UnitId::from_name("unit", name)
            .map_err(invalid)?
            .as_str()
            .to_owned(),
    ))
}

/// A claim's name of the kind asked for (`appeals/…` or `selfAssessments/…`).
fn claim_name(name: &str, collection: &str) -> Result<String, Status> {
    let valid = match collection {
        "appeals" => AppealId::from_required_name("name", name).map(|id| id.name()),
        _ => SelfAssessmentId::from_required_name("name", name).map(|id| id.name()),
    };
    valid.map_err(invalid)
}

#[tonic::async_trait]
impl pb::assessment_service_server::AssessmentService for AssessmentApi {
    type WatchEventsStream = outbox::ResponseStream<pb::WatchEventsResponse>;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> ApiResult<Self::WatchEventsStream> {
        let context = read_context(&request)?;
        // Events carry every unit's items and claims: for admins and viewers only.
        if !(context.caller.has(Role::Admin) || context.caller.has(Role::Viewer)) {
            return Err(AssessmentError::from(PlatformError::PermissionDenied).into());
        }
        let stream = outbox::watch_responses(
            &self.events,
            &context,
            request.get_ref().after_sequence,
            |event| {
                event_to_proto(event)
                    .map(|event| event.map(|event| pb::WatchEventsResponse { event: Some(event) }))
            },
        )
        .map_err(AssessmentError::from)?;
        Ok(Response::new(stream))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().unit))]
    async fn record_supervision(
        &self,
        request: Request<pb::RecordSupervisionRequest>,
    ) -> ApiResult<pb::RecordSupervisionResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let owner =
            UnitId::from_required_name("owner_unit", &message.owner_unit).map_err(invalid)?;
        let unit = UnitId::from_required_name("unit", &message.unit).map_err(invalid)?;
        let round = (!message.round.is_empty())
            .then(|| RoundId::from_name("round", &message.round))
            .transpose()
            .map_err(invalid)?;
        let items = message
            .items
            .iter()
            .enumerate()
            .map(|(index, name)| ItemId::from_name(&format!("items[{index}]"), name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let cites = message
            .cites
            .iter()
            .enumerate()
            .map(|(index, name)| SupervisionId::from_name(&format!("cites[{index}]"), name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let record = self
            .book
            .record_supervision(
                &context,
                SupervisionDraft {
                    owner_unit: owner.as_str().to_owned(),
                    unit: unit.as_str().to_owned(),
                    action: supervision_action(message.action)?,
                    round,
                    items,
                    cites,
                    finding: message.finding,
                    demand: message.demand,
                    open_item: message.open_item,
                },
            )
            .await?;
        Ok(Response::new(pb::RecordSupervisionResponse {
            record: Some(supervision_to_proto(record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(record = %request.get_ref().name))]
    async fn get_supervision_record(
        &self,
        request: Request<pb::GetSupervisionRecordRequest>,
    ) -> ApiResult<pb::GetSupervisionRecordResponse> {
        let context = read_context(&request)?;
        let id =
            SupervisionId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let record = self.book.get_supervision(&context, &id).await?;
        Ok(Response::new(pb::GetSupervisionRecordResponse {
            record: Some(supervision_to_proto(record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(owner = %request.get_ref().owner_unit, unit = %request.get_ref().unit))]
    async fn list_supervision_records(
        &self,
        request: Request<pb::ListSupervisionRecordsRequest>,
    ) -> ApiResult<pb::ListSupervisionRecordsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let owner = (!message.owner_unit.is_empty())
            .then(|| UnitId::from_name("owner_unit", &message.owner_unit))
            .transpose()
            .map_err(invalid)?;
        let unit = optional_unit(&message.unit)?;
        let query = (
            "supervision",
            owner.as_ref().map(UnitId::as_str),
            unit.as_deref(),
        );
        let size = page_size(message.page_size, 100, 500)?;
        let after = page_token(&message.page_token, &query)?;
        let page = self
            .book
            .list_supervision(
                &context,
                (owner.as_ref().map(UnitId::as_str), unit.as_deref()),
                (after, size),
            )
            .await?;
        Ok(Response::new(pb::ListSupervisionRecordsResponse {
            records: page.items.into_iter().map(supervision_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round, unit = %request.get_ref().unit))]
    async fn file_appeal(
        &self,
        request: Request<pb::FileAppealRequest>,
    ) -> ApiResult<pb::FileAppealResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let round = RoundId::from_required_name("round", &message.round).map_err(invalid)?;
        let unit = UnitId::from_required_name("unit", &message.unit).map_err(invalid)?;
        let appeal = self
            .book
            .file_appeal(
                &context,
                AppealDraft {
                    round,
                    unit,
                    criterion: message.criterion,
                    reasons: message.reasons,
                    evidence: message.evidence_uris,
                },
            )
            .await?;
        Ok(Response::new(pb::FileAppealResponse {
            appeal: Some(appeal_to_proto(appeal)),
        }))
    }

    #[tracing::instrument(skip_all, fields(appeal = %request.get_ref().name))]
    async fn decide_appeal(
        &self,
        request: Request<pb::DecideAppealRequest>,
    ) -> ApiResult<pb::DecideAppealResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let name = claim_name(&message.name, "appeals")?;
        let decided = self
            .book
            .decide_claim(
                &context,
                (&name, &message.etag),
                decision(message.decision, message.score)?,
                message.justification,
            )
            .await?;
        Ok(Response::new(pb::DecideAppealResponse {
            appeal: Some(appeal_to_proto(decided)),
        }))
    }

    #[tracing::instrument(skip_all, fields(appeal = %request.get_ref().name))]
    async fn get_appeal(
        &self,
        request: Request<pb::GetAppealRequest>,
    ) -> ApiResult<pb::GetAppealResponse> {
        let context = read_context(&request)?;
        let name = claim_name(&request.get_ref().name, "appeals")?;
        let appeal = self.book.get_claim(&context, &name).await?;
        Ok(Response::new(pb::GetAppealResponse {
            appeal: Some(appeal_to_proto(appeal)),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round))]
    async fn list_appeals(
        &self,
        request: Request<pb::ListAppealsRequest>,
    ) -> ApiResult<pb::ListAppealsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let filter = ClaimFilter {
            kind: ClaimKind::Appeal,
            scheme: None,
            period: None,
            round: Some(RoundId::from_required_name("round", &message.round).map_err(invalid)?),
            unit: optional_unit(&message.unit)?,
        };
        let size = page_size(message.page_size, 100, 500)?;
        let after = page_token(&message.page_token, &filter)?;
        let page = self
            .book
            .list_claims(&context, &filter, (after, size))
            .await?;
        Ok(Response::new(pb::ListAppealsResponse {
            appeals: page.items.into_iter().map(appeal_to_proto).collect(),
            next_page_token: next_token(page.next, &filter),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme, unit = %request.get_ref().unit))]
    async fn submit_self_assessment(
        &self,
        request: Request<pb::SubmitSelfAssessmentRequest>,
    ) -> ApiResult<pb::SubmitSelfAssessmentResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (scheme, unit) = scheme_and_unit(&message.scheme, &message.unit)?;
        let submitted = self
            .book
            .submit_self_assessment(
                &context,
                SelfAssessmentDraft {
                    scheme,
                    period: message.period,
                    unit,
                    criterion: message.criterion,
                    score: message.self_score,
                    reasons: message.reasons,
                    evidence: message.evidence_uris,
                    problems_found: message.problems_found,
                },
            )
            .await?;
        Ok(Response::new(pb::SubmitSelfAssessmentResponse {
            self_assessment: Some(self_assessment_to_proto(submitted)),
        }))
    }

    #[tracing::instrument(skip_all, fields(self_assessment = %request.get_ref().name))]
    async fn review_self_assessment(
        &self,
        request: Request<pb::ReviewSelfAssessmentRequest>,
    ) -> ApiResult<pb::ReviewSelfAssessmentResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let name = claim_name(&message.name, "selfAssessments")?;
        let reviewed = self
            .book
            .decide_claim(
                &context,
                (&name, &message.etag),
                decision(message.decision, message.score)?,
                message.justification,
            )
            .await?;
        Ok(Response::new(pb::ReviewSelfAssessmentResponse {
            self_assessment: Some(self_assessment_to_proto(reviewed)),
        }))
    }

    #[tracing::instrument(skip_all, fields(self_assessment = %request.get_ref().name))]
    async fn get_self_assessment(
        &self,
        request: Request<pb::GetSelfAssessmentRequest>,
    ) -> ApiResult<pb::GetSelfAssessmentResponse> {
        let context = read_context(&request)?;
        let name = claim_name(&request.get_ref().name, "selfAssessments")?;
        let found = self.book.get_claim(&context, &name).await?;
        Ok(Response::new(pb::GetSelfAssessmentResponse {
            self_assessment: Some(self_assessment_to_proto(found)),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme))]
    async fn list_self_assessments(
        &self,
        request: Request<pb::ListSelfAssessmentsRequest>,
    ) -> ApiResult<pb::ListSelfAssessmentsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let filter = ClaimFilter {
            kind: ClaimKind::SelfAssessment,
            scheme: Some(SchemeId::from_required_name("scheme", &message.scheme).map_err(invalid)?),
            period: (!message.period.is_empty()).then_some(message.period),
            round: None,
            unit: optional_unit(&message.unit)?,
        };
        let size = page_size(message.page_size, 100, 500)?;
        let after = page_token(&message.page_token, &filter)?;
        let page = self
            .book
            .list_claims(&context, &filter, (after, size))
            .await?;
        Ok(Response::new(pb::ListSelfAssessmentsResponse {
            self_assessments: page
                .items
                .into_iter()
                .map(self_assessment_to_proto)
                .collect(),
            next_page_token: next_token(page.next, &filter),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme, unit = %request.get_ref().unit))]
    async fn record_falsification(
        &self,
        request: Request<pb::RecordFalsificationRequest>,
    ) -> ApiResult<pb::RecordFalsificationResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (scheme, unit) = scheme_and_unit(&message.scheme, &message.unit)?;
        let recorded = self
            .book
            .record_falsification(
                &context,
                Finding {
                    scheme,
                    period: message.period,
                    unit: unit.as_str().to_owned(),
                    criterion: message.criterion,
                    kind: String::new(),
                    score: None,
                    justification: message.justification,
                    decided_by: String::new(),
                    source: String::new(),
                },
            )
            .await?;
        Ok(Response::new(pb::RecordFalsificationResponse {
            decided_by: recorded.decided_by,
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme_id))]
    async fn create_scheme(
        &self,
        request: Request<pb::CreateSchemeRequest>,
    ) -> ApiResult<pb::CreateSchemeResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = SchemeId::parse("scheme_id", &message.scheme_id).map_err(invalid)?;
        let created = self
            .book
            .create_scheme(&context, &id, message.content)
            .await?;
        Ok(Response::new(pb::CreateSchemeResponse {
            scheme: Some(scheme_to_proto(created)),
        }))
    }

    #[tracing::instrument(skip_all, fields(code = %request.get_ref().code))]
    async fn convert_scheme_spreadsheet(
        &self,
        request: Request<pb::ConvertSchemeSpreadsheetRequest>,
    ) -> ApiResult<pb::ConvertSchemeSpreadsheetResponse> {
        read_context(&request)?;
        let message = request.into_inner();
        let owner =
            UnitId::from_required_name("owner_unit", &message.owner_unit).map_err(invalid)?;
        let head = SchemeHead {
            code: message.code,
            title: message.title,
            year: message.year,
            owner_unit: owner.as_str().to_owned(),
            peer_groups: message
                .peer_groups
                .into_iter()
                .map(|group| PeerGroup {
                    code: group.code,
                    title: group.title,
                    unit_group: group.unit_group,
                })
                .collect(),
        };
        let spreadsheet = message.spreadsheet;
        let scheme = tokio::task::spawn_blocking(move || scheme_from_xlsx(&spreadsheet, head))
            .await
            .map_err(|error| {
                AssessmentError::from(PlatformError::Internal(format!("spreadsheet: {error}")))
            })?
            .map_err(AssessmentError::invalid)?;
        Ok(Response::new(pb::ConvertSchemeSpreadsheetResponse {
            criterion_count: i32::try_from(scheme.all_criteria().count()).unwrap_or(i32::MAX),
            content: scheme.to_yaml(),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().name))]
    async fn get_scheme(
        &self,
        request: Request<pb::GetSchemeRequest>,
    ) -> ApiResult<pb::GetSchemeResponse> {
        read_context(&request)?;
        let id = SchemeId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let scheme = self.book.get_scheme(&id).await?;
        Ok(Response::new(pb::GetSchemeResponse {
            scheme: Some(scheme_to_proto(scheme)),
        }))
    }

    #[tracing::instrument(skip_all, fields(owner = %request.get_ref().owner_unit))]
    async fn list_schemes(
        &self,
        request: Request<pb::ListSchemesRequest>,
    ) -> ApiResult<pb::ListSchemesResponse> {
        read_context(&request)?;
        let message = request.into_inner();
        let owner =
            UnitId::from_required_name("owner_unit", &message.owner_unit).map_err(invalid)?;
        let size = page_size(message.page_size, 100, 500)?;
        let query = ("schemes", owner.as_str());
        let after = page_token(&message.page_token, &query)?;
        let page = self.book.list_schemes(&owner, after, size).await?;
        Ok(Response::new(pb::ListSchemesResponse {
            schemes: page.items.into_iter().map(scheme_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().name))]
    async fn update_scheme(
        &self,
        request: Request<pb::UpdateSchemeRequest>,
    ) -> ApiResult<pb::UpdateSchemeResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = SchemeId::from_required_name("name", &message.name).map_err(invalid)?;
        let updated = self
            .book
            .update_scheme(&context, &id, &message.etag, message.content)
            .await?;
        Ok(Response::new(pb::UpdateSchemeResponse {
            scheme: Some(scheme_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme, unit = %request.get_ref().unit))]
    async fn record_manual_score(
        &self,
        request: Request<pb::RecordManualScoreRequest>,
    ) -> ApiResult<pb::RecordManualScoreResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (scheme, unit) = scheme_and_unit(&message.scheme, &message.unit)?;
        let recorded = self
            .book
            .record_manual_score(
                &context,
                ManualScore {
                    scheme,
                    period: message.period,
                    unit: unit.as_str().to_owned(),
                    criterion: message.criterion,
                    score: message.score,
                    justification: message.justification,
                    scorer: String::new(),
                },
            )
            .await?;
        Ok(Response::new(pb::RecordManualScoreResponse {
            scorer: recorded.scorer,
            score: recorded.score,
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme, period = %request.get_ref().period))]
    async fn run_round(
        &self,
        request: Request<pb::RunRoundRequest>,
    ) -> ApiResult<pb::RunRoundResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let spec = if message.revises.is_empty() {
            let scheme =
                SchemeId::from_required_name("scheme", &message.scheme).map_err(invalid)?;
            let kind = round_kind(message.kind)?;
            if message.period.trim().is_empty() {
                return Err(invalid(fazhi_platform::error::FieldViolation::required(
                    "period",
                )));
            }
            RoundSpec::First {
                scheme,
                kind,
                period: message.period,
            }
        } else {
            let previous =
                RoundId::from_required_name("revises", &message.revises).map_err(invalid)?;
            let scheme = (!message.scheme.is_empty())
                .then(|| SchemeId::from_required_name("scheme", &message.scheme))
                .transpose()
                .map_err(invalid)?;
            let kind = (message.kind != 0)
                .then(|| round_kind(message.kind))
                .transpose()?;
            let period = (!message.period.is_empty()).then_some(message.period);
            RoundSpec::Revision {
                of: previous,
                scheme,
                kind,
                period,
            }
        };
        let round = self.book.run_round(&context, spec).await?;
        Ok(Response::new(pb::RunRoundResponse {
            round: Some(round_to_proto(round)),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().name))]
    async fn diff_round(
        &self,
        request: Request<pb::DiffRoundRequest>,
    ) -> ApiResult<pb::DiffRoundResponse> {
        let context = read_context(&request)?;
        let id = RoundId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let (round, changes) = self.book.diff_round(&context, &id).await?;
        Ok(Response::new(pb::DiffRoundResponse {
            previous_round: round
                .previous_round
                .as_ref()
                .map(RoundId::name)
                .unwrap_or_default(),
            round: Some(round_to_proto(round)),
            changes: changes.into_iter().map(change_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().name))]
    async fn get_round(
        &self,
        request: Request<pb::GetRoundRequest>,
    ) -> ApiResult<pb::GetRoundResponse> {
        let context = read_context(&request)?;
        let id = RoundId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let round = self.book.get_round(&context, &id).await?;
        Ok(Response::new(pb::GetRoundResponse {
            round: Some(round_to_proto(round)),
        }))
    }

    #[tracing::instrument(skip_all, fields(scheme = %request.get_ref().scheme))]
    async fn list_rounds(
        &self,
        request: Request<pb::ListRoundsRequest>,
    ) -> ApiResult<pb::ListRoundsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let scheme = SchemeId::from_required_name("scheme", &message.scheme).map_err(invalid)?;
        let size = page_size(message.page_size, 100, 500)?;
        let query = ("rounds", scheme.as_str());
        let after = page_token(&message.page_token, &query)?;
        let page = self
            .book
            .list_rounds(&context, &scheme, after, size)
            .await?;
        Ok(Response::new(pb::ListRoundsResponse {
            rounds: page.items.into_iter().map(round_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round))]
    async fn list_scores(
        &self,
        request: Request<pb::ListScoresRequest>,
    ) -> ApiResult<pb::ListScoresResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let round = RoundId::from_required_name("round", &message.round).map_err(invalid)?;
        let size = page_size(message.page_size, 200, 1000)?;
        let query = ("scores", round.as_str(), message.peer_group.as_str());
        let after = page_token(&message.page_token, &query)?;
        let group = (!message.peer_group.is_empty()).then_some(message.peer_group.as_str());
        let page = self
            .book
            .list_scores(&context, &round, group, (after, size))
            .await?;
        Ok(Response::new(pb::ListScoresResponse {
            scores: page.items.iter().map(score_to_proto).collect(),
            next_page_token: next_token(page.next, &query),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round, unit = %request.get_ref().unit))]
    async fn explain_score(
        &self,
        request: Request<pb::ExplainScoreRequest>,
    ) -> ApiResult<pb::ExplainScoreResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let round = RoundId::from_required_name("round", &message.round).map_err(invalid);
        let unit = UnitId::from_required_name("unit", &message.unit).map_err(invalid);
        let (round, unit) = match (round, unit) {
            (Ok(round), Ok(unit)) => (round, unit),
            (Err(status), _) | (_, Err(status)) => return Err(status),
        };
        let scored = self.book.explain_score(&context, &round, &unit).await?;
        Ok(Response::new(pb::ExplainScoreResponse {
            lines: scored.score.lines.iter().map(line_to_proto).collect(),
            score: Some(score_to_proto(&scored)),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().name))]
    async fn publish_round(
        &self,
        request: Request<pb::PublishRoundRequest>,
    ) -> ApiResult<pb::PublishRoundResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let id = RoundId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let (round, opened) = self.book.publish_round(&context, &id).await?;
        Ok(Response::new(pb::PublishRoundResponse {
            round: Some(round_to_proto(round)),
            items_opened: i32::try_from(opened).unwrap_or(i32::MAX),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_rectification_items(
        &self,
        request: Request<pb::ListRectificationItemsRequest>,
    ) -> ApiResult<pb::ListRectificationItemsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let unit_id = |field: &str, name: &str| -> Result<Option<String>, Status> {
            if name.is_empty() {
                return Ok(None);
            }
            Ok(Some(
                UnitId::from_name(field, name)
                    .map_err(invalid)?
                    .as_str()
                    .to_owned(),
            ))
        };
        let round = if message.round.is_empty() {
            None
        } else {
            Some(
                RoundId::from_name("round", &message.round)
                    .map_err(invalid)?
                    .as_str()
                    .to_owned(),
            )
        };
        let filter = ItemFilter {
            owner_unit: unit_id("owner_unit", &message.owner_unit)?,
            unit: unit_id("unit", &message.unit)?,
            round,
            state: item_state(message.state)?,
        };
        let size = page_size(message.page_size, 200, 1000)?;
        let after = page_token(&message.page_token, &filter)?;
        let page = self
            .book
            .list_items(&context, &filter, (after, size))
            .await?;
        let today = context.clock.today();
        Ok(Response::new(pb::ListRectificationItemsResponse {
            items: page
                .items
                .into_iter()
                .map(|item| item_to_proto(item, today))
                .collect(),
            next_page_token: next_token(page.next, &filter),
        }))
    }

    #[tracing::instrument(skip_all, fields(item = %request.get_ref().name))]
    async fn get_rectification_item(
        &self,
        request: Request<pb::GetRectificationItemRequest>,
    ) -> ApiResult<pb::GetRectificationItemResponse> {
        let context = read_context(&request)?;
        let id = ItemId::from_required_name("name", &request.get_ref().name).map_err(invalid)?;
        let item = self.book.get_item(&context, &id).await?;
        Ok(Response::new(pb::GetRectificationItemResponse {
            item: Some(item_to_proto(item, context.clock.today())),
        }))
    }

    #[tracing::instrument(skip_all, fields(item = %request.get_ref().name))]
    async fn take_up_rectification_item(
        &self,
        request: Request<pb::TakeUpRectificationItemRequest>,
    ) -> ApiResult<pb::TakeUpRectificationItemResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let step = ItemStep::TakeUp {
            measures: message.measures,
            responsible_person: message.responsible_person,
        };
        let item = self
            .step(&context, &message.name, &message.etag, step)
            .await?;
        Ok(Response::new(pb::TakeUpRectificationItemResponse {
            item: Some(item),
        }))
    }

    #[tracing::instrument(skip_all, fields(item = %request.get_ref().name))]
    async fn submit_rectification_item(
        &self,
        request: Request<pb::SubmitRectificationItemRequest>,
    ) -> ApiResult<pb::SubmitRectificationItemResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let step = ItemStep::Submit {
            evidence: message.evidence_uris,
        };
        let item = self
            .step(&context, &message.name, &message.etag, step)
            .await?;
        Ok(Response::new(pb::SubmitRectificationItemResponse {
            item: Some(item),
        }))
    }

    #[tracing::instrument(skip_all, fields(item = %request.get_ref().name))]
    async fn close_rectification_item(
        &self,
        request: Request<pb::CloseRectificationItemRequest>,
    ) -> ApiResult<pb::CloseRectificationItemResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let step = ItemStep::Close {
            reason: message.reason,
        };
        let item = self
            .step(&context, &message.name, &message.etag, step)
            .await?;
        Ok(Response::new(pb::CloseRectificationItemResponse {
            item: Some(item),
        }))
    }

    #[tracing::instrument(skip_all, fields(item = %request.get_ref().name))]
    async fn reopen_rectification_item(
        &self,
        request: Request<pb::ReopenRectificationItemRequest>,
    ) -> ApiResult<pb::ReopenRectificationItemResponse> {
        let context = mutation_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let step = ItemStep::Reopen {
            reason: message.reason,
        };
        let item = self
            .step(&context, &message.name, &message.etag, step)
            .await?;
        Ok(Response::new(pb::ReopenRectificationItemResponse {
            item: Some(item),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round))]
    async fn get_bulletin(
        &self,
        request: Request<pb::GetBulletinRequest>,
    ) -> ApiResult<pb::GetBulletinResponse> {
        let context = read_context(&request)?;
        let id = RoundId::from_required_name("round", &request.get_ref().round).map_err(invalid)?;
        let made = self
            .bulletin(&context, &id, |parts, bulletin| {
                bulletin_to_proto(parts.round.clone(), &parts.scheme, bulletin)
            })
            .await?;
        Ok(Response::new(pb::GetBulletinResponse {
            bulletin: Some(made),
        }))
    }

    #[tracing::instrument(skip_all, fields(round = %request.get_ref().round))]
    async fn export_bulletin(
        &self,
        request: Request<pb::ExportBulletinRequest>,
    ) -> ApiResult<pb::ExportBulletinResponse> {
        let context = read_context(&request)?;
        let id = RoundId::from_required_name("round", &request.get_ref().round).map_err(invalid)?;
        let format = match pb::BulletinFormat::try_from(request.get_ref().format) {
            Ok(pb::BulletinFormat::Xlsx) => "xlsx",
            Ok(pb::BulletinFormat::Html) => "html",
            _ => {
                return Err(invalid(fazhi_platform::error::FieldViolation::new(
                    "format",
                    "REQUIRED",
                    "format must be BULLETIN_FORMAT_XLSX or BULLETIN_FORMAT_HTML",
                    "format 须为 XLSX 或 HTML",
                )));
            }
        };
        let (content, file_name) = self
            .bulletin(&context, &id, move |parts, bulletin| {
                let sheets = Sheets::of(&parts.round, &parts.scheme, bulletin);
                let content = if format == "xlsx" {
                    sheets.to_xlsx().map_err(|error| error.to_string())
                } else {
                    sheets
                        .to_html()
                        .map(String::into_bytes)
                        .map_err(|error| error.to_string())
                };
                (content, sheets.file_name(format))
            })
            .await?;
        let content = content.map_err(|error| {
            AssessmentError::from(fazhi_platform::error::PlatformError::Internal(format!(
                "bulletin {format}: {error}"
            )))
        })?;
        Ok(Response::new(pb::ExportBulletinResponse {
            content,
            content_type: if format == "xlsx" {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            } else {
                "text/html; charset=utf-8"
            }
            .to_owned(),
            file_name,
        }))
    }

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
}
