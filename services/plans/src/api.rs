//! The gRPC surface: converts protos to domain values, calls [`PlanBook`], converts back.

use chrono::{DateTime, Utc};
use fazhi_platform::aip;
use fazhi_platform::auth::caller_of;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::MutationContext;
use fazhi_platform::outbox::{self, StoredEvent};
use fazhi_proto::plans::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::import::MAX_DOCUMENT_BYTES;
use crate::domain::{
    Assignment, AssignmentState, ImportReport, MentionTarget, Plan, PlanId, PlanState, Role, Task,
    WorkPlanInput,
};
use crate::error::PlansError;
use crate::service::{ImportCommand, PlanBook};
use crate::store::SCHEMA;

/// The `fazhi.plans.v1.PlansService` implementation.
#[derive(Clone)]
pub struct PlansApi {
    book: PlanBook,
}

impl PlansApi {
    pub fn new(book: PlanBook) -> Self {
        Self { book }
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
    if name.is_empty() {
        return Err(invalid(FieldViolation::required(field)));
    }
    PlanId::from_name(field, name).map_err(invalid)
}

/// A unit id from `units/{unit}`.
fn unit_id(field: &str, name: &str) -> Result<String, Status> {
    let id = name.strip_prefix("units/").unwrap_or_default();
    aip::resource_id(field, id).map_err(|_| {
        invalid(FieldViolation::new(
            field,
            "INVALID_NAME",
            format!("{field} must look like units/{{unit}}"),
            format!("{field} 须为 units/{{unit}} 格式"),
        ))
    })?;
    Ok(id.to_owned())
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
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
        create_time: Some(timestamp(plan.create_time)),
        update_time: Some(timestamp(plan.update_time)),
        etag: aip::etag(plan.revision),
        publish_date: plan
            .publish_date
            .map(|day| day.to_string())
            .unwrap_or_default(),
    }
}
fn role_to_proto(role: Role) -> pb::AssignmentRole {
    match role {
        Role::Lead => pb::AssignmentRole::Lead,
        Role::Responsible => pb::AssignmentRole::Responsible,
        Role::Participating => pb::AssignmentRole::Participating,
    }
}

fn assignment_to_proto(assignment: Assignment) -> pb::Assignment {
    pb::Assignment {
        name: format!(
            "{}/tasks/{}/assignments/{}",
            assignment.plan.name(),
            assignment.task_id,
            assignment.id
        ),
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
        create_time: Some(timestamp(assignment.create_time)),
        work_plan: assignment.work_plan.map(|plan| pb::WorkPlan {
            leader_in_charge: plan.leader_in_charge,
            person_responsible: plan.person_responsible,
            measures: plan.measures,
            due_date: plan.due_date.to_string(),
        }),
        claim_time: assignment.claim_time.map(timestamp),
        etag: aip::etag(assignment.revision),
    }
}

/// The caller's `authorization` header, forwarded to the units service.
fn authorization_of<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Who calls, with which request id and payload fingerprint.
fn mutation_context<T: Message>(
    request: &Request<T>,
    method: &'static str,
    request_id: &str,
) -> Result<MutationContext, Status> {
    Ok(MutationContext {
        caller: caller_of(request).map_err(PlansError::from)?,
        method,
        request_id: aip::request_id(request_id).map_err(invalid)?,
        fingerprint: aip::request_fingerprint(method, &request.get_ref().encode_to_vec()),
    })
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
        _ => return Ok(None),
    };
    Ok(Some(pb::PlanEvent {
        sequence: event.sequence,
        occur_time: Some(timestamp(event.occurred_at)),
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
        let context = mutation_context(
            &request,
            "/fazhi.plans.v1.PlansService/ImportPlan",
            &request.get_ref().request_id,
        )?;
        let authorization = authorization_of(&request);
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
                    authorization,
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
        let context = mutation_context(
            &request,
            "/fazhi.plans.v1.PlansService/PublishPlan",
            &request.get_ref().request_id,
        )?;
        let authorization = authorization_of(&request);
        let message = request.into_inner();
        let id = plan_id("name", &message.name)?;
        let publish_date = aip::optional_date("publish_date", &message.publish_date)
            .map_err(invalid)?
            .unwrap_or_else(|| Utc::now().date_naive());
        let (plan, assignment_count) = self
            .book
            .publish(&context, &id, &message.etag, publish_date, &authorization)
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
        let context = mutation_context(
            &request,
            "/fazhi.plans.v1.PlansService/ClaimAssignment",
            &request.get_ref().request_id,
        )?;
        let authorization = authorization_of(&request);
        let message = request.into_inner();
        let bad_name = || {
            invalid(FieldViolation::new(
                "name",
                "INVALID_NAME",
                "name must look like plans/{plan}/tasks/{task}/assignments/{assignment}",
                "name 须为 plans/{plan}/tasks/{task}/assignments/{assignment} 格式",
            ))
        };
        let parts: Vec<&str> = message.name.split('/').collect();
        let ["plans", plan, "tasks", task, "assignments", assignment] = parts.as_slice() else {
            return Err(bad_name());
        };
        let plan = PlanId::parse("name", plan).map_err(|_| bad_name())?;
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
            .claim(
                &context,
                (&plan, task, assignment),
                input,
                &message.etag,
                &authorization,
            )
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
        let context =
            mutation_context(&request, "/fazhi.plans.v1.PlansService/ListAssignments", "")?;
        let authorization = authorization_of(&request);
        let message = request.into_inner();
        let plan = match message.plan.as_str() {
            "" => None,
            name => Some(plan_id("plan", name)?),
        };
        let unit = match message.unit.as_str() {
            "" => None,
            name => Some(unit_id("unit", name)?),
        };
        let query = (&message.plan, &message.unit);
        let size = aip::page_size(message.page_size, 200, 1000).map_err(PlansError::from)?;
        let after =
            aip::decode_page_token(&message.page_token, &query).map_err(PlansError::from)?;
        let page = self
            .book
            .list_assignments(
                &context,
                plan.as_ref(),
                unit.as_deref(),
                &authorization,
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

    type WatchEventsStream = outbox::ResponseStream<pb::WatchEventsResponse>;

    #[tracing::instrument(skip_all, fields(after = request.get_ref().after_sequence))]
    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> ApiResult<Self::WatchEventsStream> {
        require_caller(&request)?;
        let pool = self.book.store().pool().clone();
        let stream =
            outbox::watch_responses(pool, SCHEMA, request.get_ref().after_sequence, |event| {
                event_to_proto(event)
                    .map(|event| event.map(|event| pb::WatchEventsResponse { event: Some(event) }))
            })
            .map_err(PlansError::from)?;
        Ok(Response::new(stream))
    }
}
