//! The gRPC surface: converts protos to domain values, calls [`PlanBook`], converts back.

use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_units_client::UnitId;
use std::sync::Arc;

use fazhi_platform::outbox::{self, OutboxHub, StoredEvent};
use fazhi_proto::plans::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::import::MAX_DOCUMENT_BYTES;
use crate::domain::{
    Assignment, AssignmentFilter, AssignmentState, Evidence, ImportReport, MentionTarget, Phase,
    Plan, PlanField, PlanId, PlanKind, PlanState, ProgressInput, ProgressReport, ProgressStatus,
    Role, Task, Upload, WorkPlanInput,
};
use crate::error::PlansError;
use crate::service::{ImportCommand, MentionEdit, PlanBook, TaskEdit};

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

fn invalid(violation: FieldViolation) -> Status {
    PlansError::invalid_field(violation).into()
}

fn require_caller<T>(request: &Request<T>) -> Result<(), Status> {
    caller_of(request)
        .map(|_| ())
        .map_err(|error| PlansError::from(error).into())
}

fn plan_id(field: &str, name: &str) -> Result<PlanId, Status> {
    PlanId::from_required_name(field, name).map_err(invalid)
}

/// A unit id from `units/{unit}`.
fn unit_id(field: &str, name: &str) -> Result<String, Status> {
    Ok(UnitId::from_required_name(field, name)
        .map_err(invalid)?
        .as_str()
        .to_owned())
}

fn report_to_proto(report: ImportReport) -> pb::ImportReport {
    pb::ImportReport {
        task_count: report.task_count,
        mention_count: report.mention_count,
        resolved_mention_count: report.resolved_mention_count,
        warnings: report
            .warnings
            .into_iter()
            .map(|warning| pb::ImportWarning {
                code: warning.code,
                line: warning.line,
                message: warning.message,
            })
            .collect(),
    }
}

fn plan_to_proto(plan: Plan) -> pb::Plan {
    let state = match plan.state {
        PlanState::Draft => pb::PlanState::Draft,
        PlanState::Published => pb::PlanState::Published,
        PlanState::Closed => pb::PlanState::Closed,
    };
    pb::Plan {
        name: plan.id.name(),
        title: plan.title,
        document_number: plan.document_number,
        issuer: format!("units/{}", plan.issuer),
        period_start_year: plan.period.map_or(0, |(start, _)| start),
        period_end_year: plan.period.map_or(0, |(_, end)| end),
        state: state as i32,
        task_count: plan.task_count,
        import_report: Some(report_to_proto(plan.report)),
        create_time: Some(aip::timestamp(plan.create_time)),
        update_time: Some(aip::timestamp(plan.update_time)),
        etag: aip::etag(plan.revision),
        publish_date: plan
            .publish_date
            .map(|day| day.to_string())
            .unwrap_or_default(),
        parent_plan: plan
            .parent_plan
            .map(|parent| parent.name())
            .unwrap_or_default(),
        kind: match plan.kind {
            None => pb::PlanKind::Unspecified,
            Some(PlanKind::MultiYear) => pb::PlanKind::MultiYear,
            Some(PlanKind::Annual) => pb::PlanKind::Annual,
            Some(PlanKind::SpecialAction) => pb::PlanKind::SpecialAction,
        } as i32,
        phases: plan
            .phases
            .into_iter()
            .map(|phase| pb::PlanPhase {
                title: phase.title,
                start_date: phase.start_date.to_string(),
                end_date: phase.end_date.to_string(),
            })
            .collect(),
    }
}
fn role_to_proto(role: Role) -> pb::AssignmentRole {
    match role {
        Role::Lead => pb::AssignmentRole::Lead,
        Role::Responsible => pb::AssignmentRole::Responsible,
        Role::Participating => pb::AssignmentRole::Participating,
    }
}

fn status_to_proto(status: ProgressStatus) -> pb::ProgressStatus {
    match status {
        ProgressStatus::NotStarted => pb::ProgressStatus::NotStarted,
        ProgressStatus::InProgress => pb::ProgressStatus::InProgress,
        ProgressStatus::Completed => pb::ProgressStatus::Completed,
        ProgressStatus::Blocked => pb::ProgressStatus::Blocked,
    }
}

fn evidence_to_proto(evidence: Evidence) -> pb::Evidence {
    pb::Evidence {
        file_name: evidence.file_name,
        content_type: evidence.content_type,
        size_bytes: evidence.size_bytes,
        sha256: evidence.sha256,
    }
}

fn report_of_assignment_to_proto(assignment: &str, report: ProgressReport) -> pb::ProgressReport {
    pb::ProgressReport {
        name: format!("{assignment}/progressReports/{}", report.id),
        status: status_to_proto(report.status) as i32,
        percent: report.percent,
        narrative: report.narrative,
        evidence: report.evidence.into_iter().map(evidence_to_proto).collect(),
        reporter: report.reporter,
        create_time: Some(aip::timestamp(report.create_time)),
    }
}

fn assignment_to_proto(assignment: Assignment) -> pb::Assignment {
    let (progress_status, progress_percent, progress_time) = match assignment.progress {
        Some((status, percent, time)) => {
            (status_to_proto(status), percent, Some(aip::timestamp(time)))
        }
        None => (pb::ProgressStatus::Unspecified, 0, None),
    };
    pb::Assignment {
        name: assignment.name(),
        due_date: assignment
            .due_date
            .map(|date| date.to_string())
            .unwrap_or_default(),
        progress_status: progress_status as i32,
        progress_percent,
        progress_time,
        unit: format!("units/{}", assignment.unit),
        role: role_to_proto(assignment.role) as i32,
        mention: assignment.mention,
        state: match assignment.state {
            AssignmentState::Open => pb::AssignmentState::Open,
            AssignmentState::Claimed => pb::AssignmentState::Claimed,
            AssignmentState::Completed => pb::AssignmentState::Completed,
        } as i32,
        task_number: assignment.task_number,
        task_title: assignment.task_title,
        create_time: Some(aip::timestamp(assignment.create_time)),
        work_plan: assignment.work_plan.map(|plan| pb::WorkPlan {
            leader_in_charge: plan.leader_in_charge,
            person_responsible: plan.person_responsible,
            measures: plan.measures,
            due_date: plan.due_date.to_string(),
        }),
        claim_time: assignment.claim_time.map(aip::timestamp),
        etag: aip::etag(assignment.revision),
    }
}

/// (plan, task, assignment) from `plans/{plan}/tasks/{task}/assignments/{assignment}`.
fn assignment_key(field: &str, name: &str) -> Result<(PlanId, String, String), Status> {
    let bad_name = || {
        invalid(FieldViolation::new(
            field,
            "INVALID_NAME",
            format!(
                "{field} must look like plans/{{plan}}/tasks/{{task}}/assignments/{{assignment}}"
            ),
            format!("{field} 须为 plans/{{plan}}/tasks/{{task}}/assignments/{{assignment}} 格式"),
        ))
    };
    let parts: Vec<&str> = name.split('/').collect();
    let ["plans", plan, "tasks", task, "assignments", assignment] = parts.as_slice() else {
        return Err(bad_name());
    };
    let plan = PlanId::parse(field, plan).map_err(|_| bad_name())?;
    Ok((plan, (*task).to_owned(), (*assignment).to_owned()))
}

fn role_from_proto(field: &str, role: i32) -> Result<Role, Status> {
    match pb::AssignmentRole::try_from(role) {
        Ok(pb::AssignmentRole::Lead) => Ok(Role::Lead),
        Ok(pb::AssignmentRole::Responsible) => Ok(Role::Responsible),
        Ok(pb::AssignmentRole::Participating) => Ok(Role::Participating),
        _ => Err(invalid(FieldViolation::required(field))),
    }
}

fn task_ref(plan: &PlanId, task: &Task) -> pb::TaskRef {
    pb::TaskRef {
        name: format!("{}/tasks/{}", plan.name(), task.id),
        number: task.number.clone(),
        title: task.title.clone(),
    }
}

/// The context of a mutation carrying `request_id`.
fn call_context<T: Message>(request: &Request<T>, request_id: &str) -> Result<CallContext, Status> {
    Ok(CallContext::mutation(request, request_id).map_err(PlansError::from)?)
}

/// The context of a read.
fn read_context<T>(request: &Request<T>) -> Result<CallContext, Status> {
    Ok(CallContext::of(request).map_err(PlansError::from)?)
}

fn snake_case<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|json| json.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn task_to_proto(plan: &PlanId, task: Task) -> pb::Task {
    pb::Task {
        name: format!("{}/tasks/{}", plan.name(), task.id),
        number: task.number,
        title: task.title,
        text: task.text,
        part_number: task.part_number,
        part_title: task.part_title,
        section_number: task.section_number,
        section_title: task.section_title,
        mentions: task
            .mentions
            .into_iter()
            .map(|mention| pb::TaskMention {
                role: role_to_proto(mention.role) as i32,
                mention: mention.mention,
                target: mention.resolution.target.map(|target| match target {
                    MentionTarget::Unit(unit) => pb::task_mention::Target::Unit(unit),
                    MentionTarget::Group(group) => pb::task_mention::Target::UnitGroup(group),
                }),
                confidence: mention.resolution.confidence,
                resolution_method: mention.resolution.method,
                candidates: mention.resolution.candidates,
            })
            .collect(),
        deadlines: task
            .deadlines
            .into_iter()
            .map(|deadline| pb::TaskDeadline {
                recurrence: deadline
                    .recurrence
                    .as_ref()
                    .map(snake_case)
                    .unwrap_or_default(),
                date: deadline
                    .date
                    .map(|date| date.to_string())
                    .unwrap_or_default(),
                text: deadline.text,
            })
            .collect(),
        targets: task
            .targets
            .into_iter()
            .map(|target| pb::TaskTarget {
                comparator: snake_case(&target.comparator),
                period: target.period.as_ref().map(snake_case).unwrap_or_default(),
                text: target.text,
                metric: target.metric,
                value: target.value,
                unit: target.unit,
            })
            .collect(),
        source_line: task.source_line,
        parent_task: task.parent_task.unwrap_or_default(),
    }
}

fn event_to_proto(event: StoredEvent) -> Result<Option<pb::PlanEvent>, PlansError> {
    let sequence = event.sequence;
    let unreadable = |error: serde_json::Error| {
        PlansError::Platform(PlatformError::Internal(format!(
            "event {sequence} unreadable: {error}"
        )))
    };
    let payload = match event.event_type.as_str() {
        "plan.imported" => pb::plan_event::Payload::PlanImported(pb::PlanImported {
            plan: Some(plan_to_proto(
                serde_json::from_value(event.payload).map_err(unreadable)?,
            )),
        }),
        "plan.published" => {
            #[derive(serde::Deserialize)]
            struct Published {
                plan: Plan,
                assignment_count: i32,
            }
            let published: Published = serde_json::from_value(event.payload).map_err(unreadable)?;
            pb::plan_event::Payload::PlanPublished(pb::PlanPublished {
                plan: Some(plan_to_proto(published.plan)),
                assignment_count: published.assignment_count,
            })
        }
        "assignment.claimed" => pb::plan_event::Payload::AssignmentClaimed(pb::AssignmentClaimed {
            assignment: Some(assignment_to_proto(
                serde_json::from_value(event.payload).map_err(unreadable)?,
            )),
        }),
        "assignment.created" => pb::plan_event::Payload::AssignmentCreated(pb::AssignmentCreated {
            assignment: Some(assignment_to_proto(
                serde_json::from_value(event.payload).map_err(unreadable)?,
            )),
        }),
        "plan.deleted" => pb::plan_event::Payload::PlanDeleted(pb::PlanDeleted {
            plan: event.resource,
        }),
        "plan.updated" => {
            #[derive(serde::Deserialize)]
            struct Updated {
                plan: Plan,
                changed: Vec<String>,
            }
            let updated: Updated = serde_json::from_value(event.payload).map_err(unreadable)?;
            pb::plan_event::Payload::PlanUpdated(pb::PlanUpdated {
                plan: Some(plan_to_proto(updated.plan)),
                changed: updated.changed,
            })
        }
        "progress.reported" => {
            let (report, assignment): (ProgressReport, Assignment) =
                serde_json::from_value(event.payload).map_err(unreadable)?;
            let name = assignment.name();
            pb::plan_event::Payload::ProgressReported(pb::ProgressReported {
                progress_report: Some(report_of_assignment_to_proto(&name, report)),
                assignment: Some(assignment_to_proto(assignment)),
            })
        }
        "assignment.reassigned" => {
            #[derive(serde::Deserialize)]
            struct Reassigned {
                assignment: Assignment,
                previous_unit: String,
                reason: String,
            }
            let moved: Reassigned = serde_json::from_value(event.payload).map_err(unreadable)?;
            pb::plan_event::Payload::AssignmentReassigned(pb::AssignmentReassigned {
                assignment: Some(assignment_to_proto(moved.assignment)),
                previous_unit: format!("units/{}", moved.previous_unit),
                reason: moved.reason,
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(pb::PlanEvent {
        sequence: event.sequence,
        occur_time: Some(aip::timestamp(event.occurred_at)),
        payload: Some(payload),
    }))
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
        let child_tasks: std::collections::HashMap<&str, &Task> = children
            .iter()
            .map(|task| (task.id.as_str(), task))
            .collect();
        let parent_tasks: std::collections::HashMap<&str, &Task> = parents
            .iter()
            .map(|task| (task.id.as_str(), task))
            .collect();
        let refs =
            |plan: &PlanId, tasks: &std::collections::HashMap<&str, &Task>, ids: &[String]| {
                ids.iter()
                    .filter_map(|id| tasks.get(id.as_str()))
                    .map(|task| task_ref(plan, task))
                    .collect::<Vec<_>>()
            };
        Ok(Response::new(pb::GetCoverageReportResponse {
            coverage_report: Some(pb::CoverageReport {
                plan: plan.name(),
                parent_plan: parent_plan.name(),
                covered: coverage
                    .covered
                    .iter()
                    .map(|(parent, children)| pb::CoveredTask {
                        parent_task: refs(
                            &parent_plan,
                            &parent_tasks,
                            std::slice::from_ref(parent),
                        )
                        .pop(),
                        child_tasks: refs(&plan, &child_tasks, children),
                    })
                    .collect(),
                missed: refs(&parent_plan, &parent_tasks, &coverage.missed),
                unlinked: refs(&plan, &child_tasks, &coverage.unlinked),
                parent_task_count: parents.len() as i32,
            }),
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
        let parts: Vec<&str> = task.name.split('/').collect();
        let ["plans", plan, "tasks", task_id] = parts.as_slice() else {
            return Err(invalid(FieldViolation::new(
                "task.name",
                "INVALID_NAME",
                "task.name must look like plans/{plan}/tasks/{task}",
                "task.name 须为 plans/{plan}/tasks/{task} 格式",
            )));
        };
        let plan = PlanId::parse("task.name", plan).map_err(invalid)?;
        let paths = aip::update_mask(message.update_mask.as_ref(), &["title", "text", "mentions"])
            .map_err(invalid)?;
        let mut edit = TaskEdit::default();
        for path in paths {
            match path {
                "title" => edit.title = Some(task.title.clone()),
                "text" => edit.text = Some(task.text.clone()),
                _ => {
                    let mut mentions = Vec::with_capacity(task.mentions.len());
                    for (index, mention) in task.mentions.iter().enumerate() {
                        let unit = match &mention.target {
                            Some(pb::task_mention::Target::Unit(unit)) => {
                                Some(unit_id(&format!("task.mentions[{index}].unit"), unit)?)
                            }
                            _ => None,
                        };
                        mentions.push(MentionEdit {
                            role: role_from_proto(
                                &format!("task.mentions[{index}].role"),
                                mention.role,
                            )?,
                            mention: mention.mention.clone(),
                            unit,
                        });
                    }
                    edit.mentions = Some(mentions);
                }
            }
        }
        let (task, plan_after) = self
            .book
            .update_task(&context, (&plan, task_id), edit, &message.etag)
            .await?;
        Ok(Response::new(pb::UpdateTaskResponse {
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
