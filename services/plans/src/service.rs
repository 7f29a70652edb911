//! The use cases of plans: authorise, apply the domain, call the store and the units service.

use std::collections::HashMap;

use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::MutationContext;

use crate::domain::import::{document_text, parse};
use crate::domain::{
    Assignment, AssignmentState, ImportReport, Plan, PlanId, PublishRefusal, Task, WorkPlanInput,
    assignments, check_publishable, distinct_mentions, draft, groups_to_expand, task_deadline,
};
use crate::error::{PlansError, Result};
use crate::store::{AssignmentKey, Store};
use crate::units_client::{Issuer, UnitsClient};
use fazhi_platform::aip::Page;

/// The plans service's use cases.
#[derive(Clone)]
pub struct PlanBook {
    store: Store,
    units: UnitsClient,
}

/// What the caller must be to a unit.
#[derive(Clone, Copy)]
enum Manage {
    /// Its coordinator (or above).
    Coordinate,
    /// Its own staff, or its coordinator.
    WorkFor,
}

impl Manage {
    fn field(self) -> &'static str {
        match self {
            Self::Coordinate => "issuer",
            Self::WorkFor => "unit",
        }
    }
}

/// An import request, checked.
pub struct ImportCommand<'a> {
    /// The issuer's unit id.
    pub issuer: String,
    pub content: &'a [u8],
    pub validate_only: bool,
    /// The caller's `authorization` header, forwarded to the units service.
    pub authorization: String,
}

impl PlanBook {
    pub fn new(store: Store, units: UnitsClient) -> Self {
        Self { store, units }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Parses, resolves against the units service and stores a draft: coordinators of the issuer.
    pub async fn import(
        &self,
        context: &MutationContext,
        command: ImportCommand<'_>,
    ) -> Result<(Option<Plan>, ImportReport)> {
        self.authorize_for_unit(
            context,
            &command.issuer,
            &command.authorization,
            Manage::Coordinate,
        )
        .await?;
        let text = document_text(command.content).map_err(|error| {
            PlansError::invalid_field(FieldViolation::new(
                "content",
                "UNREADABLE_DOCUMENT",
                error.to_string(),
                "无法读取文件内容(须为 UTF-8 文本或 .docx)",
            ))
        })?;
        let parsed = parse(&text);
        let mentions = distinct_mentions(&parsed);
        let resolutions: HashMap<String, _> = mentions
            .iter()
            .cloned()
            .zip(
                self.units
                    .resolve(&command.issuer, &mentions, &command.authorization)
                    .await?,
            )
            .collect();
        let draft = draft(PlanId::generate(), command.issuer, parsed, &resolutions);
        if command.validate_only {
            return Ok((None, draft.report));
        }
        let plan = self.store.create_draft(context, &draft).await?;
        let report = plan.report.clone();
        Ok((Some(plan), report))
    }

    /// Refuses, auditing the refusal, unless the caller may act for the unit: coordinate it (its
    /// coordinators above it, admins), or work for it (also its own staff).
    async fn authorize_for_unit(
        &self,
        context: &MutationContext,
        unit: &str,
        authorization: &str,
        need: Manage,
    ) -> Result<()> {
        let ancestry = match self.units.issuer(unit, authorization).await? {
            Issuer::Found(ancestry) => ancestry,
            Issuer::Unknown => {
                return Err(PlansError::invalid_field(FieldViolation::new(
                    need.field(),
                    "UNIT_NOT_FOUND",
                    format!("{} names no registered unit", need.field()),
                    format!("{} 指定的单位不存在", need.field()),
                )));
            }
        };
        let allowed = match need {
            Manage::Coordinate => context.caller.may_manage(&ancestry),
            Manage::WorkFor => context.caller.may_work_for(unit, &ancestry),
        };
        if allowed {
            return Ok(());
        }
        self.store
            .audit_refusal(context, &format!("units/{unit}"), "PERMISSION_DENIED")
            .await?;
        Err(PlatformError::PermissionDenied.into())
    }

    /// Publishes a draft: groups expanded through the units service as of `publish_date`, one
    /// assignment per task, unit and role.
    pub async fn publish(
        &self,
        context: &MutationContext,
        id: &PlanId,
        etag: &str,
        publish_date: chrono::NaiveDate,
        authorization: &str,
    ) -> Result<(Plan, i32)> {
        let plan = self.store.get_plan(id).await?;
        self.authorize_for_unit(context, &plan.issuer, authorization, Manage::Coordinate)
            .await?;
        fazhi_platform::aip::check_etag(etag, plan.revision)?;
        let tasks = self.store.all_tasks(id).await?;
        check_publishable(&plan, &tasks).map_err(|refusal| match refusal {
            PublishRefusal::NotDraft(_) => PlansError::PlanNotDraft,
            PublishRefusal::UnresolvedMentions(mentions) => {
                PlansError::UnresolvedMentions(mentions)
            }
        })?;
        let mut members = HashMap::new();
        for group in groups_to_expand(&tasks) {
            let units = self
                .units
                .expand(&group, &plan.issuer, publish_date, authorization)
                .await?;
            members.insert(group, units);
        }
        let new_assignments = assignments(&tasks, &members);
        self.store
            .publish(context, &plan, publish_date, &new_assignments)
            .await
    }

    /// Claims an assignment with the unit's work plan: its staff, or those who manage it.
    pub async fn claim(
        &self,
        context: &MutationContext,
        (plan, task, id): (&PlanId, &str, &str),
        work_plan: WorkPlanInput,
        etag: &str,
        authorization: &str,
    ) -> Result<Assignment> {
        let assignment = self.store.get_assignment(plan, task, id).await?;
        self.authorize_for_unit(context, &assignment.unit, authorization, Manage::WorkFor)
            .await?;
        fazhi_platform::aip::check_etag(etag, assignment.revision)?;
        if assignment.state != AssignmentState::Open {
            return Err(PlansError::AlreadyClaimed);
        }
        let task = self.store.get_task(plan, task).await?;
        let work_plan = work_plan
            .validate(task_deadline(&task))
            .map_err(|violations| {
                PlansError::Platform(PlatformError::InvalidArgument(violations))
            })?;
        self.store.claim(context, &assignment, &work_plan).await
    }

    /// A unit's assignments (its staff, or those who manage it), or a plan's (those who manage
    /// its issuer).
    pub async fn list_assignments(
        &self,
        context: &MutationContext,
        plan: Option<&PlanId>,
        unit: Option<&str>,
        authorization: &str,
        after: Option<AssignmentKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, AssignmentKey>> {
        match (plan, unit) {
            (_, Some(unit)) => {
                self.authorize_for_unit(context, unit, authorization, Manage::WorkFor)
                    .await?
            }
            (Some(plan), None) => {
                let issuer = self.store.get_plan(plan).await?.issuer;
                self.authorize_for_unit(context, &issuer, authorization, Manage::Coordinate)
                    .await?;
            }
            (None, None) => {
                return Err(PlansError::invalid_field(FieldViolation::new(
                    "unit",
                    "REQUIRED",
                    "give a plan or a unit",
                    "须指定实施方案或单位",
                )));
            }
        }
        self.store
            .list_assignments(plan, unit, after, page_size)
            .await
    }

    pub async fn get_plan(&self, id: &PlanId) -> Result<Plan> {
        self.store.get_plan(id).await
    }

    pub async fn list_plans(
        &self,
        issuer: Option<&str>,
        after: Option<(chrono::DateTime<chrono::Utc>, String)>,
        page_size: i64,
    ) -> Result<Page<Plan, (chrono::DateTime<chrono::Utc>, String)>> {
        self.store.list_plans(issuer, after, page_size).await
    }

    pub async fn list_tasks(
        &self,
        plan: &PlanId,
        after: Option<i32>,
        page_size: i64,
    ) -> Result<Page<Task, i32>> {
        self.store.list_tasks(plan, after, page_size).await
    }
}
