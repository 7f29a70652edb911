//! Proto ⇄ domain: the conversions and field parsing of the plans API, and the events on the wire.

use fazhi_platform::aip;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::outbox::StoredEvent;
use fazhi_proto::plans::v1 as pb;
use fazhi_units_client::UnitId;
use std::collections::HashMap;
use tonic::Status;

use crate::domain::{
    Assignment, AssignmentState, Coverage, Evidence, ImportReport, MentionTarget, Plan, PlanId,
    PlanKind, PlanState, ProgressReport, ProgressStatus, Role, Task, TaskPlace,
};
use crate::error::PlansError;
use crate::service::MentionEdit;

pub(super) fn invalid(violation: FieldViolation) -> Status {
    PlansError::invalid_field(violation).into()
}

pub(super) fn plan_id(field: &str, name: &str) -> Result<PlanId, Status> {
    PlanId::from_required_name(field, name).map_err(invalid)
}

/// A unit id from `units/{unit}`.
pub(super) fn unit_id(field: &str, name: &str) -> Result<String, Status> {
    Ok(UnitId::from_required_name(field, name)
        .map_err(invalid)?
        .as_str()
        .to_owned())
}

pub(super) fn report_to_proto(report: ImportReport) -> pb::ImportReport {
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

pub(super) fn plan_to_proto(plan: Plan) -> pb::Plan {
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

pub(super) fn role_to_proto(role: Role) -> pb::AssignmentRole {
    match role {
        Role::Lead => pb::AssignmentRole::Lead,
        Role::Responsible => pb::AssignmentRole::Responsible,
        Role::Participating => pb::AssignmentRole::Participating,
    }
}

pub(super) fn status_to_proto(status: ProgressStatus) -> pb::ProgressStatus {
    match status {
        ProgressStatus::NotStarted => pb::ProgressStatus::NotStarted,
        ProgressStatus::InProgress => pb::ProgressStatus::InProgress,
        ProgressStatus::Completed => pb::ProgressStatus::Completed,
        ProgressStatus::Blocked => pb::ProgressStatus::Blocked,
    }
}

pub(super) fn evidence_to_proto(evidence: Evidence) -> pb::Evidence {
    pb::Evidence {
        file_name: evidence.file_name,
        content_type: evidence.content_type,
        size_bytes: evidence.size_bytes,
        sha256: evidence.sha256,
    }
}

pub(super) fn report_of_assignment_to_proto(
    assignment: &str,
    report: ProgressReport,
) -> pb::ProgressReport {
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

pub(super) fn assignment_to_proto(assignment: Assignment) -> pb::Assignment {
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
pub(super) fn assignment_key(field: &str, name: &str) -> Result<(PlanId, String, String), Status> {
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

/// `(plan, task)` from `plans/{plan}/tasks/{task}`.
pub(super) fn task_key(field: &str, name: &str) -> Result<(PlanId, String), Status> {
    let bad_name = || {
        invalid(FieldViolation::new(
            field,
            "INVALID_NAME",
            format!("{field} must look like plans/{{plan}}/tasks/{{task}}"),
            format!("{field} 须为 plans/{{plan}}/tasks/{{task}} 格式"),
        ))
    };
    let parts: Vec<&str> = name.split('/').collect();
    let ["plans", plan, "tasks", task] = parts.as_slice() else {
        return Err(bad_name());
    };
    let plan = PlanId::parse(field, plan).map_err(|_| bad_name())?;
    Ok((plan, (*task).to_owned()))
}

/// The task id of `before_task` when given, which must be a task of `plan`.
pub(super) fn before_task(plan: &PlanId, name: &str) -> Result<Option<String>, Status> {
    if name.is_empty() {
        return Ok(None);
    }
    let (before_plan, task) = task_key("before_task", name)?;
    if before_plan != *plan {
        return Err(invalid(FieldViolation::new(
            "before_task",
            "OTHER_PLAN",
            "before_task must be a task of the same plan",
            "before_task 须为同一方案中的任务",
        )));
    }
    Ok(Some(task))
}

/// A task's mentions as edited: each with its role and the text to resolve or the unit chosen.
pub(super) fn mention_edits(task: &pb::Task) -> Result<Vec<MentionEdit>, Status> {
    let mut mentions = Vec::with_capacity(task.mentions.len());
    for (index, mention) in task.mentions.iter().enumerate() {
        let unit = match &mention.target {
            Some(pb::task_mention::Target::Unit(unit)) => {
                Some(unit_id(&format!("task.mentions[{index}].unit"), unit)?)
            }
            _ => None,
        };
        mentions.push(MentionEdit {
            role: role_from_proto(&format!("task.mentions[{index}].role"), mention.role)?,
            mention: mention.mention.clone(),
            unit,
        });
    }
    Ok(mentions)
}

pub(super) fn place_from_proto(place: pb::TaskPlace) -> TaskPlace {
    TaskPlace {
        part_number: place.part_number,
        part_title: place.part_title,
        section_number: place.section_number,
        section_title: place.section_title,
    }
}

pub(super) fn role_from_proto(field: &str, role: i32) -> Result<Role, Status> {
    match pb::AssignmentRole::try_from(role) {
        Ok(pb::AssignmentRole::Lead) => Ok(Role::Lead),
        Ok(pb::AssignmentRole::Responsible) => Ok(Role::Responsible),
        Ok(pb::AssignmentRole::Participating) => Ok(Role::Participating),
        _ => Err(invalid(FieldViolation::required(field))),
    }
}

pub(super) fn task_ref(plan: &PlanId, task: &Task) -> pb::TaskRef {
    pb::TaskRef {
        name: format!("{}/tasks/{}", plan.name(), task.id),
        number: task.number.clone(),
        title: task.title.clone(),
    }
}

pub(super) fn snake_case<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|json| json.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn task_to_proto(plan: &PlanId, task: Task) -> pb::Task {
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
                category: target.category.unwrap_or_default(),
                reference: target.reference.unwrap_or_default(),
                year: target.year.unwrap_or_default(),
                context: target.context,
            })
            .collect(),
        source_line: task.source_line,
        parent_task: task.parent_task.unwrap_or_default(),
    }
}

pub(crate) fn event_to_proto(event: StoredEvent) -> Result<Option<pb::PlanEvent>, PlansError> {
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

/// A child plan's coverage of its parent (对标对表), each task id as a reference.
pub(super) fn coverage_to_proto(
    (plan, children): (&PlanId, &[Task]),
    (parent_plan, parents): (&PlanId, &[Task]),
    coverage: &Coverage,
) -> pb::CoverageReport {
    fn index(tasks: &[Task]) -> HashMap<&str, &Task> {
        tasks.iter().map(|task| (task.id.as_str(), task)).collect()
    }
    let (child_tasks, parent_tasks) = (index(children), index(parents));
    let refs = |plan: &PlanId, tasks: &HashMap<&str, &Task>, ids: &[String]| {
        ids.iter()
            .filter_map(|id| tasks.get(id.as_str()))
            .map(|task| task_ref(plan, task))
            .collect::<Vec<_>>()
    };
    pb::CoverageReport {
        plan: plan.name(),
        parent_plan: parent_plan.name(),
        covered: coverage
            .covered
            .iter()
            .map(|(parent, children)| pb::CoveredTask {
                parent_task: refs(parent_plan, &parent_tasks, std::slice::from_ref(parent)).pop(),
                child_tasks: refs(plan, &child_tasks, children),
            })
            .collect(),
        missed: refs(parent_plan, &parent_tasks, &coverage.missed),
        unlinked: refs(plan, &child_tasks, &coverage.unlinked),
        parent_task_count: parents.len() as i32,
    }
}
