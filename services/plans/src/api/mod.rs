//! The gRPC surface: each handler converts (see [`convert`]), calls [`PlanBook`], converts back.

pub(crate) mod convert;

use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::FieldViolation;
use std::sync::Arc;

use fazhi_platform::outbox::{self, OutboxHub};
use fazhi_proto::plans::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::import::MAX_DOCUMENT_BYTES;
use crate::domain::{
    AssignmentFilter, NewTask, Phase, PlanField, PlanKind, ProgressInput, ProgressStatus, Upload,
    WorkPlanInput,
};
use crate::error::PlansError;
use crate::service::{ImportCommand, PlanBook, TaskEdit};
use convert::*;

/// The `fazhi.plans.v1.PlansService` implementation.
#[derive(Clone)]
pub struct PlansApi {
    book: PlanBook,
    events: Arc<OutboxHub>,
}

impl PlansApi {
    pub fn new(book: PlanBook, events: Arc<OutboxHub>) -> Self {
        Self { book, events }
    }
}

type ApiResult<T> = Result<Response<T>, Status>;

fn require_caller<T>(request: &Request<T>) -> Result<(), Status> {
    caller_of(request)
        .map(|_| ())
        .map_err(|error| PlansError::from(error).into())
}

/// The context of a mutation carrying `request_id`.
fn call_context<T: Message>(request: &Request<T>, request_id: &str) -> Result<CallContext, Status> {
    Ok(CallContext::mutation(request, request_id).map_err(PlansError::from)?)
}

/// The context of a read.
fn read_context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    Ok(CallContext::of(request).map_err(PlansError::from)?)
}

#[tonic::async_trait]
impl pb::plans_service_server::PlansService for PlansApi {
    #[tracing::instrument(skip_all, fields(issuer = %request.get_ref().issuer, bytes = request.get_ref().content.len()))]
    async fn import_plan(
        &self,
        request: Request<pb::ImportPlanRequest>,
    ) -> ApiResult<pb::ImportPlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let issuer = unit_id("issuer", &message.issuer)?;
        if message.content.is_empty() {
            return Err(invalid(FieldViolation::required("content")));
        }
        if message.content.len() > MAX_DOCUMENT_BYTES {
            return Err(invalid(FieldViolation::new(
                "content",
                "TOO_LARGE",
                format!("content must be at most {MAX_DOCUMENT_BYTES} bytes"),
                format!("文件不能超过 {MAX_DOCUMENT_BYTES} 字节"),
            )));
        }
        let (plan, report) = self
            .book
            .import(
                &context,
                ImportCommand {
                    issuer,
                    content: &message.content,
                    validate_only: message.validate_only,
                    parent_plan: match message.parent_plan.as_str() {
                        "" => None,
                        name => Some(plan_id("parent_plan", name)?),
                    },
                },
            )
            .await?;
        Ok(Response::new(pb::ImportPlanResponse {
            plan: plan.map(plan_to_proto),
            report: Some(report_to_proto(report)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().name))]
    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> ApiResult<pb::GetPlanResponse> {
        require_caller(&request)?;
        let id = plan_id("name", &request.get_ref().name)?;
        let plan = self.book.get_plan(&id).await?;
        Ok(Response::new(pb::GetPlanResponse {
            plan: Some(plan_to_proto(plan)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> ApiResult<pb::ListPlansResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let issuer = match message.issuer.as_str() {
            "" => None,
            name => Some(unit_id("issuer", name)?),
        };
        let size = aip::page_size(message.page_size, 50, 500).map_err(PlansError::from)?;
        let after =
            aip::decode_page_token(&message.page_token, &issuer).map_err(PlansError::from)?;
        let page = self.book.list_plans(issuer.as_deref(), after, size).await?;
        Ok(Response::new(pb::ListPlansResponse {
            plans: page.items.into_iter().map(plan_to_proto).collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &issuer))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().parent))]
    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> ApiResult<pb::ListTasksResponse> {
        require_caller(&request)?;
        let message = request.into_inner();
        let plan = plan_id("parent", &message.parent)?;
        let size = aip::page_size(message.page_size, 200, 1000).map_err(PlansError::from)?;
        let after = aip::decode_page_token(&message.page_token, &message.parent)
            .map_err(PlansError::from)?;
        let page = self.book.list_tasks(&plan, after, size).await?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page
                .items
                .into_iter()
                .map(|task| task_to_proto(&plan, task))
                .collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &message.parent))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().name))]
    async fn publish_plan(
        &self,
        request: Request<pb::PublishPlanRequest>,
    ) -> ApiResult<pb::PublishPlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = plan_id("name", &message.name)?;
        let publish_date = aip::optional_date("publish_date", &message.publish_date)
            .map_err(invalid)?
            .unwrap_or_else(|| context.clock.today());
        let (plan, assignment_count) = self
            .book
            .publish(&context, &id, &message.etag, publish_date)
            .await?;
        Ok(Response::new(pb::PublishPlanResponse {
            plan: Some(plan_to_proto(plan)),
            assignment_count,
        }))
    }

    #[tracing::instrument(skip_all, fields(assignment = %request.get_ref().name))]
    async fn claim_assignment(
        &self,
        request: Request<pb::ClaimAssignmentRequest>,
    ) -> ApiResult<pb::ClaimAssignmentResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (plan, task, assignment) = assignment_key("name", &message.name)?;
        let work_plan = message.work_plan.unwrap_or_default();
        let input = WorkPlanInput {
            due_date: aip::optional_date("work_plan.due_date", &work_plan.due_date)
                .map_err(invalid)?,
            leader_in_charge: work_plan.leader_in_charge,
            person_responsible: work_plan.person_responsible,
            measures: work_plan.measures,
        };
        let claimed = self
            .book
            .claim(&context, (&plan, &task, &assignment), input, &message.etag)
            .await?;
        Ok(Response::new(pb::ClaimAssignmentResponse {
            assignment: Some(assignment_to_proto(claimed)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().plan, unit = %request.get_ref().unit))]
    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> ApiResult<pb::ListAssignmentsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let plan = match message.plan.as_str() {
            "" => None,
            name => Some(plan_id("plan", name)?),
        };
        let unit = match message.unit.as_str() {
            "" => None,
            name => Some(unit_id("unit", name)?),
        };
        let led_by = match message.led_by.as_str() {
            "" => None,
            name => Some(unit_id("led_by", name)?),
        };
        let query = (&message.plan, &message.unit, &message.led_by);
        let size = aip::page_size(message.page_size, 200, 1000).map_err(PlansError::from)?;
        let after =
            aip::decode_page_token(&message.page_token, &query).map_err(PlansError::from)?;
        let page = self
            .book
            .list_assignments(
                &context,
                AssignmentFilter {
                    plan: plan.as_ref(),
                    unit: unit.as_deref(),
                    led_by: led_by.as_deref(),
                },
                after,
                size,
            )
            .await?;
        Ok(Response::new(pb::ListAssignmentsResponse {
            assignments: page.items.into_iter().map(assignment_to_proto).collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &query))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(assignment = %request.get_ref().parent, files = request.get_ref().evidence.len()))]
    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> ApiResult<pb::ReportProgressResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (plan, task, assignment) = assignment_key("parent", &message.parent)?;
        let status = match pb::ProgressStatus::try_from(message.status) {
            Ok(pb::ProgressStatus::NotStarted) => Some(ProgressStatus::NotStarted),
            Ok(pb::ProgressStatus::InProgress) => Some(ProgressStatus::InProgress),
            Ok(pb::ProgressStatus::Completed) => Some(ProgressStatus::Completed),
            Ok(pb::ProgressStatus::Blocked) => Some(ProgressStatus::Blocked),
            Ok(pb::ProgressStatus::Unspecified) | Err(_) => None,
        };
        let input = ProgressInput {
            status,
            percent: message.percent,
            narrative: message.narrative,
            evidence: message
                .evidence
                .into_iter()
                .map(|upload| Upload {
                    file_name: upload.file_name,
                    content: upload.content,
                })
                .collect(),
        };
        let (report, assignment) = self
            .book
            .report_progress(&context, (&plan, &task, &assignment), input)
            .await?;
        Ok(Response::new(pb::ReportProgressResponse {
            progress_report: Some(report_of_assignment_to_proto(&assignment.name(), report)),
            assignment: Some(assignment_to_proto(assignment)),
        }))
    }

    #[tracing::instrument(skip_all, fields(assignment = %request.get_ref().parent))]
    async fn list_progress_reports(
        &self,
        request: Request<pb::ListProgressReportsRequest>,
    ) -> ApiResult<pb::ListProgressReportsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let (plan, task, assignment) = assignment_key("parent", &message.parent)?;
        let size = aip::page_size(message.page_size, 50, 500).map_err(PlansError::from)?;
        let after = aip::decode_page_token(&message.page_token, &message.parent)
            .map_err(PlansError::from)?;
        let page = self
            .book
            .list_progress_reports(&context, (&plan, &task, &assignment), after, size)
            .await?;
        Ok(Response::new(pb::ListProgressReportsResponse {
            progress_reports: page
                .items
                .into_iter()
                .map(|report| report_of_assignment_to_proto(&message.parent, report))
                .collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &message.parent))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(assignment = %request.get_ref().assignment))]
    async fn get_evidence(
        &self,
        request: Request<pb::GetEvidenceRequest>,
    ) -> ApiResult<pb::GetEvidenceResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let (plan, task, assignment) = assignment_key("assignment", &message.assignment)?;
        let sha256 = message.sha256.to_ascii_lowercase();
        if !crate::blobs::is_sha256_hex(&sha256) {
            return Err(invalid(FieldViolation::new(
                "sha256",
                "INVALID_DIGEST",
                "sha256 must be 64 hex digits",
                "sha256 须为 64 位十六进制数",
            )));
        }
        let (evidence, content) = self
            .book
            .get_evidence(&context, (&plan, &task, &assignment), &sha256)
            .await?;
        Ok(Response::new(pb::GetEvidenceResponse {
            evidence: Some(evidence_to_proto(evidence)),
            content,
        }))
    }

    #[tracing::instrument(skip_all, fields(unit = %request.get_ref().unit, plan = %request.get_ref().plan))]
    async fn list_overdue_assignments(
        &self,
        request: Request<pb::ListOverdueAssignmentsRequest>,
    ) -> ApiResult<pb::ListOverdueAssignmentsResponse> {
        let context = read_context(&request)?;
        let message = request.into_inner();
        let as_of = aip::optional_date("as_of", &message.as_of)
            .map_err(invalid)?
            .unwrap_or_else(|| context.clock.today());
        let unit = match message.unit.as_str() {
            "" => None,
            name => Some(unit_id("unit", name)?),
        };
        let plan = match message.plan.as_str() {
            "" => None,
            name => Some(plan_id("plan", name)?),
        };
        let query = (
            as_of,
            &message.unit,
            message.include_descendants,
            &message.plan,
        );
        let size = aip::page_size(message.page_size, 200, 1000).map_err(PlansError::from)?;
        let after =
            aip::decode_page_token(&message.page_token, &query).map_err(PlansError::from)?;
        let page = self
            .book
            .list_overdue(
                &context,
                as_of,
                (unit.as_deref(), message.include_descendants),
                plan.as_ref(),
                (after, size),
            )
            .await?;
        Ok(Response::new(pb::ListOverdueAssignmentsResponse {
            overdue_assignments: page
                .items
                .into_iter()
                .map(|assignment| pb::OverdueAssignment {
                    days_overdue: assignment.days_overdue(as_of).unwrap_or_default() as i32,
                    assignment: Some(assignment_to_proto(assignment)),
                })
                .collect(),
            next_page_token: page
                .next
                .map(|next| aip::encode_page_token(&next, &query))
                .unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all, fields(assignment = %request.get_ref().name, unit = %request.get_ref().unit))]
    async fn reassign_assignment(
        &self,
        request: Request<pb::ReassignAssignmentRequest>,
    ) -> ApiResult<pb::ReassignAssignmentResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (plan, task, assignment) = assignment_key("name", &message.name)?;
        let unit = unit_id("unit", &message.unit)?;
        let moved = self
            .book
            .reassign(
                &context,
                (&plan, &task, &assignment),
                (&unit, &message.reason),
                &message.etag,
            )
            .await?;
        Ok(Response::new(pb::ReassignAssignmentResponse {
            assignment: Some(assignment_to_proto(moved)),
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent_plan, issuer = %request.get_ref().issuer))]
    async fn cascade_plan(
        &self,
        request: Request<pb::CascadePlanRequest>,
    ) -> ApiResult<pb::CascadePlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let parent = plan_id("parent_plan", &message.parent_plan)?;
        let issuer = unit_id("issuer", &message.issuer)?;
        let (plan, report) = self
            .book
            .cascade(&context, &parent, &issuer, &message.title)
            .await?;
        Ok(Response::new(pb::CascadePlanResponse {
            plan: Some(plan_to_proto(plan)),
            report: Some(report_to_proto(report)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().plan))]
    async fn get_coverage_report(
        &self,
        request: Request<pb::GetCoverageReportRequest>,
    ) -> ApiResult<pb::GetCoverageReportResponse> {
        require_caller(&request)?;
        let plan = plan_id("plan", &request.get_ref().plan)?;
        let (coverage, children, parents, parent_plan) = self.book.coverage(&plan).await?;
        Ok(Response::new(pb::GetCoverageReportResponse {
            coverage_report: Some(coverage_to_proto(
                (&plan, &children),
                (&parent_plan, &parents),
                &coverage,
            )),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().name))]
    async fn export_plan(
        &self,
        request: Request<pb::ExportPlanRequest>,
    ) -> ApiResult<pb::ExportPlanResponse> {
        let context = read_context(&request)?;
        let message = request.get_ref();
        let plan = plan_id("name", &message.name)?;
        let progress = match pb::ExportTable::try_from(message.table) {
            Ok(pb::ExportTable::TaskBreakdown) => false,
            Ok(pb::ExportTable::Progress) => true,
            _ => {
                return Err(invalid(FieldViolation::new(
                    "table",
                    "REQUIRED",
                    "table must be TASK_BREAKDOWN or PROGRESS",
                    "须指定导出任务分解表或进展情况表",
                )));
            }
        };
        let (content, file_name) = self.book.export(&context, &plan, progress).await?;
        Ok(Response::new(pb::ExportPlanResponse { content, file_name }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_plan(
        &self,
        request: Request<pb::UpdatePlanRequest>,
    ) -> ApiResult<pb::UpdatePlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let plan = message.plan.unwrap_or_default();
        let id = plan_id("plan.name", &plan.name)?;
        let paths = aip::update_mask(
            message.update_mask.as_ref(),
            &[
                "title",
                "document_number",
                "kind",
                "period_start_year",
                "period_end_year",
                "phases",
            ],
        )
        .map_err(invalid)?;
        let mut fields = Vec::with_capacity(paths.len());
        for path in paths {
            fields.push(match path {
                "title" => PlanField::Title(plan.title.clone()),
                "document_number" => PlanField::DocumentNumber(plan.document_number.clone()),
                "kind" => PlanField::Kind(match pb::PlanKind::try_from(plan.kind) {
                    Ok(pb::PlanKind::MultiYear) => Some(PlanKind::MultiYear),
                    Ok(pb::PlanKind::Annual) => Some(PlanKind::Annual),
                    Ok(pb::PlanKind::SpecialAction) => Some(PlanKind::SpecialAction),
                    _ => None,
                }),
                "period_start_year" => PlanField::PeriodStartYear(plan.period_start_year),
                "period_end_year" => PlanField::PeriodEndYear(plan.period_end_year),
                _ => {
                    let mut phases = Vec::with_capacity(plan.phases.len());
                    for (index, phase) in plan.phases.iter().enumerate() {
                        let date = |name: &str, value: &str| {
                            let field = format!("plan.phases[{index}].{name}");
                            aip::optional_date(&field, value)
                                .map_err(invalid)?
                                .ok_or_else(|| invalid(FieldViolation::required(field)))
                        };
                        phases.push(Phase {
                            title: phase.title.clone(),
                            start_date: date("start_date", &phase.start_date)?,
                            end_date: date("end_date", &phase.end_date)?,
                        });
                    }
                    PlanField::Phases(phases)
                }
            });
        }
        let updated = self
            .book
            .update_plan(&context, &id, fields, &plan.etag)
            .await?;
        Ok(Response::new(pb::UpdatePlanResponse {
            plan: Some(plan_to_proto(updated)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_task(
        &self,
        request: Request<pb::UpdateTaskRequest>,
    ) -> ApiResult<pb::UpdateTaskResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let task = message.task.unwrap_or_default();
        let (plan, task_id) = task_key("task.name", &task.name)?;
        let paths = aip::update_mask(
            message.update_mask.as_ref(),
            &["number", "title", "text", "mentions"],
        )
        .map_err(invalid)?;
        let mut edit = TaskEdit::default();
        for path in paths {
            match path {
                "number" => edit.number = Some(task.number.clone()),
                "title" => edit.title = Some(task.title.clone()),
                "text" => edit.text = Some(task.text.clone()),
                _ => edit.mentions = Some(mention_edits(&task)?),
            }
        }
        let (task, plan_after) = self
            .book
            .update_task(&context, (&plan, &task_id), edit, &message.etag)
            .await?;
        Ok(Response::new(pb::UpdateTaskResponse {
            task: Some(task_to_proto(&plan, task)),
            plan: Some(plan_to_proto(plan_after)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().parent))]
    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> ApiResult<pb::CreateTaskResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let plan = plan_id("parent", &message.parent)?;
        let before = before_task(&plan, &message.before_task)?;
        let task = message.task.unwrap_or_default();
        let mentions = mention_edits(&task)?;
        let new = NewTask {
            number: task.number,
            title: task.title,
            text: task.text,
            place: place_from_proto(pb::TaskPlace {
                part_number: task.part_number,
                part_title: task.part_title,
                section_number: task.section_number,
                section_title: task.section_title,
            }),
        };
        let (task, plan_after) = self
            .book
            .create_task(
                &context,
                &plan,
                (new, mentions),
                before.as_deref(),
                &message.etag,
            )
            .await?;
        Ok(Response::new(pb::CreateTaskResponse {
            task: Some(task_to_proto(&plan, task)),
            plan: Some(plan_to_proto(plan_after)),
        }))
    }

    #[tracing::instrument(skip_all, fields(task = %request.get_ref().name))]
    async fn delete_task(
        &self,
        request: Request<pb::DeleteTaskRequest>,
    ) -> ApiResult<pb::DeleteTaskResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (plan, task) = task_key("name", &message.name)?;
        let plan_after = self
            .book
            .delete_task(&context, (&plan, &task), &message.etag)
            .await?;
        Ok(Response::new(pb::DeleteTaskResponse {
            plan: Some(plan_to_proto(plan_after)),
        }))
    }

    #[tracing::instrument(skip_all, fields(task = %request.get_ref().name))]
    async fn move_task(
        &self,
        request: Request<pb::MoveTaskRequest>,
    ) -> ApiResult<pb::MoveTaskResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let (plan, task) = task_key("name", &message.name)?;
        let before = before_task(&plan, &message.before_task)?;
        let place = message.place.map(place_from_proto);
        let (task, plan_after) = self
            .book
            .move_task(
                &context,
                (&plan, &task),
                (before.as_deref(), place),
                &message.etag,
            )
            .await?;
        Ok(Response::new(pb::MoveTaskResponse {
            task: Some(task_to_proto(&plan, task)),
            plan: Some(plan_to_proto(plan_after)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().name))]
    async fn close_plan(
        &self,
        request: Request<pb::ClosePlanRequest>,
    ) -> ApiResult<pb::ClosePlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = plan_id("name", &message.name)?;
        let closed = self.book.close_plan(&context, &id, &message.etag).await?;
        Ok(Response::new(pb::ClosePlanResponse {
            plan: Some(plan_to_proto(closed)),
        }))
    }

    #[tracing::instrument(skip_all, fields(plan = %request.get_ref().name))]
    async fn delete_plan(
        &self,
        request: Request<pb::DeletePlanRequest>,
    ) -> ApiResult<pb::DeletePlanResponse> {
        let context = call_context(&request, &request.get_ref().request_id)?;
        let message = request.into_inner();
        let id = plan_id("name", &message.name)?;
        self.book.delete_plan(&context, &id, &message.etag).await?;
        Ok(Response::new(pb::DeletePlanResponse {}))
    }

    type WatchEventsStream = outbox::ResponseStream<pb::WatchEventsResponse>;

    #[tracing::instrument(skip_all)]
    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> ApiResult<pb::ListAuditRecordsResponse> {
        let context = CallContext::of(&request).map_err(PlansError::from)?;
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
        .map_err(PlansError::from)?;
        Ok(Response::new(stream))
    }
}
