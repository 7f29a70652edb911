//! The use cases of plans: authorise, apply the domain, call the store and the units service.
//!
//! Every mutation goes through [`PlanBook::mutate`] (`fazhi_platform::mutation::run`): a retry
//! is answered from its stored response before anything else; authorisation and calls to the
//! units service run next, outside the transaction; then, with the request id claimed, the
//! resource is locked, its etag and state checked by the domain, and the change written.

use std::collections::HashMap;
use std::sync::Arc;

use fazhi_platform::aip::{Page, check_etag};
use fazhi_platform::audit;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Outcome};
use fazhi_proto::audit::v1::{AuditRecord, AuditRecordFilter};
use fazhi_units_client::{Resolution, ResolvedTarget, UnitId, UnitsClient, UnitsClientError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use crate::blobs::BlobStore;
use crate::domain::import::parse_document;
use crate::domain::{
    Assignment, AssignmentFilter, AssignmentRefusal, CheckedProgress, Coverage, Draft, EditRefusal,
    Evidence, ImportReport, MentionResolution, MentionTarget, NewAssignment, NewTask, Plan,
    PlanField, PlanId, ProgressInput, ProgressReport, PublishRefusal, Role, Task, TaskMention,
    TaskPlace, WorkPlanInput, apply_resolutions, assignments, check_deletable, check_editable,
    check_publishable, check_tasks_editable, close, copy_task, coverage, distinct_mentions, draft,
    edit_plan, edit_task, groups_to_expand, level_word, link_to_parent, moves_place, new_task,
    place_name, reorder, task_deadline, task_mentions,
};
use crate::error::{PlansError, Result};
use crate::export::{self, Table};
use crate::store::{self, AssignmentKey, OverdueKey, ProgressKey, SCHEMA, Store};

/// The plans service's use cases.
#[derive(Clone)]
pub struct PlanBook {
    store: Store,
    units: UnitsClient,
    blobs: Arc<dyn BlobStore>,
}

/// What the caller must be to a unit.
#[derive(Clone, Copy)]
enum Need {
    /// Its coordinator (or above).
    Coordinate,
    /// Its own staff, or its coordinator.
    WorkFor,
    /// Whoever may work for it, or a viewer at or above it (a read).
    Read,
}

impl Need {
    fn field(self) -> &'static str {
        match self {
            Self::Coordinate => "issuer",
            Self::WorkFor | Self::Read => "unit",
        }
    }
}

/// A new mention of a task: its text, resolved against the issuer, or a unit named directly.
pub struct MentionEdit {
    pub role: Role,
    pub mention: String,
    /// A unit id, when the caller picked the unit itself.
    pub unit: Option<String>,
}

/// What an edit of a draft's task changes.
#[derive(Default)]
pub struct TaskEdit {
    pub number: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
    pub mentions: Option<Vec<MentionEdit>>,
}

/// Locks a plan whose tasks a mutation edits: its etag must match and it must be a draft.
async fn lock_draft(connection: &mut PgConnection, plan_id: &PlanId, etag: &str) -> Result<Plan> {
    let plan = store::lock_plan(connection, plan_id).await?;
    check_etag(etag, plan.revision)?;
    check_tasks_editable(&plan).map_err(edit_refused)?;
    Ok(plan)
}

fn edit_refused(refusal: EditRefusal) -> PlansError {
    match refusal {
        EditRefusal::Closed => PlansError::PlanClosed,
        EditRefusal::NotDraft => PlansError::TasksFrozen,
        EditRefusal::NotPublished => PlansError::PlanNotPublished,
    }
}

fn assignment_refused(refusal: AssignmentRefusal) -> PlansError {
    match refusal {
        AssignmentRefusal::AlreadyClaimed => PlansError::AlreadyClaimed,
        AssignmentRefusal::NotClaimed => PlansError::NotClaimed,
        AssignmentRefusal::SameUnit => PlansError::invalid_field(FieldViolation::new(
            "unit",
            "SAME_UNIT",
            "the assignment is with this unit already",
            "该任务已由此单位承担",
        )),
    }
}

fn unit(id: &str) -> UnitId {
    UnitId::from_trusted(id.to_owned())
}

fn resolution(resolved: Resolution) -> MentionResolution {
    MentionResolution {
        target: resolved.target.map(|target| match target {
            ResolvedTarget::Unit(unit) => MentionTarget::Unit(unit),
            ResolvedTarget::Group(group) => MentionTarget::Group(group),
        }),
        confidence: resolved.confidence,
        method: resolved.method,
        candidates: resolved.candidates,
    }
}

/// An import request, checked.
pub struct ImportCommand<'a> {
    /// The issuer's unit id.
    pub issuer: String,
    pub content: &'a [u8],
    pub validate_only: bool,
    /// The upper-level plan it implements: tasks are linked to parent tasks by text.
    pub parent_plan: Option<PlanId>,
}

impl PlanBook {
    pub fn new(store: Store, units: UnitsClient, blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            store,
            units,
            blobs,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a mutation of this service; see the module comment.
    async fn mutate<T, P>(
        &self,
        context: &CallContext,
        target: &str,
        prepare: impl AsyncFnOnce() -> Result<P>,
        apply: impl AsyncFnOnce(&mut PgConnection, P) -> Result<Outcome<T>>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        mutation::run(
            self.store.pool(),
            self.store.journal(),
            context,
            target,
            prepare,
            apply,
        )
        .await
    }

    /// Refuses unless the caller may act for the unit: coordinate it (its coordinators above
    /// it, admins), or work for it (also its own staff). Mutations audit the refusal through
    /// [`Self::mutate`]; reads go through [`Self::authorize_read`].
    async fn authorize(&self, context: &CallContext, unit_id: &str, need: Need) -> Result<()> {
        let access = match self.units.access(context, &unit(unit_id)).await {
            Ok(access) => access,
            // AIP-211: only a caller who could act anywhere learns that a unit does not exist;
            // anyone else is refused as they would be for a unit that exists.
            Err(UnitsClientError::NotFound(_))
                if context.caller.has(fazhi_platform::auth::Role::Admin) =>
            {
                return Err(PlansError::invalid_field(
                    fazhi_units_client::unit_not_found(need.field()),
                ));
            }
            Err(UnitsClientError::NotFound(_)) => {
                return Err(PlatformError::PermissionDenied.into());
            }
            Err(error) => return Err(error.into()),
        };
        let allowed = match need {
            Need::Coordinate => access.may_coordinate(),
            Need::WorkFor => access.may_work_for(),
            Need::Read => access.may_read(),
        };
        if allowed {
            Ok(())
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    /// [`Self::authorize`] for a read: a refusal is audited here (a mutation's is audited by
    /// `mutation::run`).
    async fn authorize_read(&self, context: &CallContext, unit_id: &str, need: Need) -> Result<()> {
        let decision = self.authorize(context, unit_id, need).await;
        self.audit_read_refusal(context, &unit(unit_id).name(), decision)
            .await
    }

    /// Audits a read's refusal of `resource` (not a fault of ours), and passes the decision on.
    async fn audit_read_refusal<T>(
        &self,
        context: &CallContext,
        resource: &str,
        decision: Result<T>,
    ) -> Result<T> {
        mutation::audit_read_refusal(
            self.store.pool(),
            self.store.journal(),
            context,
            resource,
            decision,
        )
        .await
    }

    /// Resolves mentions against a unit through the units service, in order.
    async fn resolve(
        &self,
        context: &CallContext,
        context_unit: &str,
        mentions: &[String],
    ) -> Result<Vec<MentionResolution>> {
        Ok(self
            .units
            .resolve(context, &unit(context_unit), mentions)
            .await?
            .into_iter()
            .map(resolution)
            .collect())
    }

    /// Parses, resolves against the units service and stores a draft: coordinators of the issuer.
    pub async fn import(
        &self,
        context: &CallContext,
        command: ImportCommand<'_>,
    ) -> Result<(Option<Plan>, ImportReport)> {
        let prepare = async || {
            self.authorize(context, &command.issuer, Need::Coordinate)
                .await?;
            // Unzipping and parsing are CPU work: off the async runtime, so no call waits behind it.
            let content = command.content.to_vec();
            let parsed = tokio::task::spawn_blocking(move || parse_document(&content))
                .await
                .map_err(|error| PlatformError::Internal(format!("parser failed: {error}")))?
                .map_err(|error| {
                    PlansError::invalid_field(FieldViolation::new(
                        "content",
                        "UNREADABLE_DOCUMENT",
                        error.to_string(),
                        "无法读取文件内容(须为 UTF-8 文本、.docx 或任务分解表 .xlsx)",
                    ))
                })?;
            let mentions = distinct_mentions(&parsed);
            let resolutions: HashMap<String, _> = mentions
                .iter()
                .cloned()
                .zip(self.resolve(context, &command.issuer, &mentions).await?)
                .collect();
            let mut draft = draft(
                PlanId::generate(),
                command.issuer.clone(),
                parsed,
                &resolutions,
            );
            if let Some(parent) = &command.parent_plan {
                let parent_tasks = self.store.all_tasks(parent).await?;
                link_to_parent(&mut draft.tasks, parent, &parent_tasks);
                draft.parent_plan = Some(parent.clone());
            }
            Ok(draft)
        };
        if command.validate_only {
            return Ok((None, prepare().await?.report));
        }
        let target = unit(&command.issuer).name();
        let plan = self
            .mutate(context, &target, prepare, async |connection, draft| {
                store::insert_draft(connection, &draft).await
            })
            .await?;
        let report = plan.report.clone();
        Ok((Some(plan), report))
    }

    /// Publishes a draft: groups expanded through the units service as of `publish_date`, one
    /// assignment per task, unit and role.
    pub async fn publish(
        &self,
        context: &CallContext,
        id: &PlanId,
        etag: &str,
        publish_date: chrono::NaiveDate,
    ) -> Result<(Plan, i32)> {
        let prepare = async || {
            let plan = self.store.get_plan(id).await?;
            self.authorize(context, &plan.issuer, Need::Coordinate)
                .await?;
            let tasks = self.store.all_tasks(id).await?;
            let mut members = HashMap::new();
            for group in groups_to_expand(&tasks) {
                let units = self
                    .units
                    .expand(context, &group, &unit(&plan.issuer), publish_date)
                    .await?;
                let ids = units.iter().map(|id| id.as_str().to_owned()).collect();
                members.insert(group, ids);
            }
            let new_assignments = assignments(&tasks, &members);
            Ok((plan.revision, tasks, new_assignments))
        };
        let apply =
            async |connection: &mut PgConnection,
                   (seen_revision, tasks, new): (i64, Vec<Task>, Vec<NewAssignment>)| {
                let plan = store::lock_plan(connection, id).await?;
                check_etag(etag, plan.revision)?;
                check_publishable(&plan, &tasks).map_err(|refusal| match refusal {
                    PublishRefusal::NotDraft(_) => PlansError::PlanNotDraft,
                    PublishRefusal::UnresolvedMentions(mentions) => {
                        PlansError::UnresolvedMentions(mentions)
                    }
                })?;
                // Its tasks were read, and its groups expanded, at this revision.
                if plan.revision != seen_revision {
                    return Err(PlatformError::Conflict.into());
                }
                store::publish(connection, &plan, publish_date, &new).await
            };
        self.mutate(context, &id.name(), prepare, apply).await
    }

    /// The plan of an assignment being looked for; a missing plan is refused to anyone but an
    /// admin as another unit's assignment is (AIP-211).
    async fn plan_of_assignment(&self, context: &CallContext, plan: &PlanId) -> Result<Plan> {
        match self.store.get_plan(plan).await {
            Err(PlansError::PlanNotFound(_))
                if !context.caller.has(fazhi_platform::auth::Role::Admin) =>
            {
                Err(PlatformError::PermissionDenied.into())
            }
            found => found,
        }
    }

    /// An assignment, once the caller is found to work for its unit.
    async fn assignment_for_unit(
        &self,
        context: &CallContext,
        (plan, task, id): (&PlanId, &str, &str),
    ) -> Result<Assignment> {
        let assignment = match self.store.get_assignment(plan, task, id).await {
            Ok(assignment) => assignment,
            // AIP-211: a missing assignment is NOT_FOUND only to those who may see every
            // assignment of the plan; to anyone else it is refused like another unit's.
            Err(PlansError::AssignmentNotFound(name)) => {
                let issuer = self.plan_of_assignment(context, plan).await?.issuer;
                self.authorize(context, &issuer, Need::Coordinate).await?;
                return Err(PlansError::AssignmentNotFound(name));
            }
            Err(error) => return Err(error),
        };
        self.authorize(context, &assignment.unit, Need::WorkFor)
            .await?;
        Ok(assignment)
    }

    /// Claims an assignment with the unit's work plan: its staff, or those who manage it.
    pub async fn claim(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
        work_plan: WorkPlanInput,
        etag: &str,
    ) -> Result<Assignment> {
        let (plan, task, id) = key;
        let target = format!("{}/tasks/{task}/assignments/{id}", plan.name());
        let prepare = async || {
            self.assignment_for_unit(context, key).await?;
            let task = self.store.get_task(plan, task).await?;
            work_plan
                .validate(task_deadline(&task))
                .map_err(PlansError::invalid)
        };
        let apply = async |connection: &mut PgConnection, work_plan| {
            let before = store::lock_assignment(connection, key).await?;
            check_etag(etag, before.revision)?;
            let after = before
                .claim(work_plan, &context.caller.subject, context.clock.now())
                .map_err(assignment_refused)?;
            let claimed = store::update_assignment(connection, &before, &after).await?;
            store::assignment_change(
                &before,
                &claimed,
                ("assignment.claimed", None),
                claimed.clone(),
            )
        };
        self.mutate(context, &target, prepare, apply).await
    }

    /// Reports progress: the evidence goes to the blob store first (durably), then the report
    /// and the assignment's new standing in one transaction.
    pub async fn report_progress(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
        input: ProgressInput,
    ) -> Result<(ProgressReport, Assignment)> {
        let (plan, task, id) = key;
        let target = format!("{}/tasks/{task}/assignments/{id}", plan.name());
        let prepare = async || {
            self.assignment_for_unit(context, key).await?;
            let progress = input.check().map_err(PlansError::invalid)?;
            let mut evidence = Vec::with_capacity(progress.evidence.len());
            for (upload, content_type) in &progress.evidence {
                let sha256 = self.blobs.put(&upload.content).await.map_err(|error| {
                    PlatformError::Internal(format!("storing evidence failed: {error}"))
                })?;
                evidence.push(Evidence {
                    file_name: upload.file_name.trim().to_owned(),
                    content_type: (*content_type).to_owned(),
                    size_bytes: upload.content.len() as i64,
                    sha256,
                });
            }
            Ok((progress, evidence))
        };
        let apply =
            async |connection: &mut PgConnection,
                   (progress, evidence): (CheckedProgress, Vec<Evidence>)| {
                let now = context.clock.now();
                let before = store::lock_assignment(connection, key).await?;
                let after = before
                    .report(progress.status, progress.percent, now)
                    .map_err(assignment_refused)?;
                let report = store::insert_report(
                    connection,
                    &before,
                    &progress,
                    &evidence,
                    (&context.caller.subject, now),
                )
                .await?;
                let updated = store::update_assignment(connection, &before, &after).await?;
                let outcome = (report, updated);
                let payload = store::json(&outcome)?;
                store::assignment_change(
                    &before,
                    &outcome.1,
                    ("progress.reported", Some(payload)),
                    outcome.clone(),
                )
            };
        self.mutate(context, &target, prepare, apply).await
    }

    /// Gives an assignment to another unit: coordinators of the plan's issuer.
    pub async fn reassign(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
        (unit_id, reason): (&str, &str),
        etag: &str,
    ) -> Result<Assignment> {
        let (plan_id, task, id) = key;
        let target = format!("{}/tasks/{task}/assignments/{id}", plan_id.name());
        let reason = reason.trim();
        let prepare = async || {
            // AIP-211: whether the assignment exists is told only to those who manage the
            // plan's issuer.
            let plan = self.plan_of_assignment(context, plan_id).await?;
            self.authorize(context, &plan.issuer, Need::Coordinate)
                .await?;
            let assignment = self.store.get_assignment(plan_id, task, id).await?;
            let mut violations = Vec::new();
            if reason.is_empty() {
                violations.push(FieldViolation::required("reason"));
            }
            if unit_id != assignment.unit
                && self
                    .units
                    .display_name(context, &unit(unit_id))
                    .await?
                    .is_none()
            {
                violations.push(fazhi_units_client::unit_not_found("unit"));
            }
            if !violations.is_empty() {
                return Err(PlansError::invalid(violations));
            }
            Ok(task_deadline(&self.store.get_task(plan_id, task).await?))
        };
        let apply = async |connection: &mut PgConnection, deadline| {
            let before = store::lock_assignment(connection, key).await?;
            check_etag(etag, before.revision)?;
            let after = before
                .reassign(unit_id, deadline)
                .map_err(assignment_refused)?;
            let moved = store::update_assignment(connection, &before, &after).await?;
            let payload = serde_json::json!({
                "assignment": store::json(&moved)?,
                "previous_unit": before.unit,
                "reason": reason,
            });
            store::assignment_change(
                &before,
                &moved,
                ("assignment.reassigned", Some(payload)),
                moved.clone(),
            )
        };
        self.mutate(context, &target, prepare, apply).await
    }

    /// A unit's assignments, or those of the tasks it leads, or a plan's: for whoever may work
    /// for the unit (or the issuer), and viewers above it.
    pub async fn list_assignments(
        &self,
        context: &CallContext,
        filter: AssignmentFilter<'_>,
        after: Option<AssignmentKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, AssignmentKey>> {
        match (filter.plan, filter.unit.or(filter.led_by)) {
            (_, Some(unit)) => self.authorize_read(context, unit, Need::Read).await?,
            (Some(plan), None) => {
                let issuer = self.store.get_plan(plan).await?.issuer;
                self.authorize_read(context, &issuer, Need::Read).await?;
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
        self.store.list_assignments(filter, after, page_size).await
    }

    /// The plans audit log for the caller: admins all of it, coordinators the records of callers
    /// in their region (their unit and below, today); anyone else is refused.
    pub async fn list_audit_records(
        &self,
        context: &CallContext,
        page: (Option<AuditRecordFilter>, i32, &str),
    ) -> Result<(Vec<AuditRecord>, String)> {
        let (pool, journal) = (self.store.pool(), self.store.journal());
        audit::list_for_caller(pool, journal, context, page, async |own: &str| {
            Ok::<_, PlansError>(self.units.ids_below(context, own).await?)
        })
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

    /// An assignment for a read by those who work for its unit, refused (and audited) as
    /// [`Self::assignment_for_unit`] refuses a change.
    async fn assignment_to_read(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
    ) -> Result<Assignment> {
        let (plan, task, id) = key;
        let found = self.assignment_for_unit(context, key).await;
        self.audit_read_refusal(
            context,
            &format!("{}/tasks/{task}/assignments/{id}", plan.name()),
            found,
        )
        .await
    }

    /// An assignment's reports, newest first: for those who work for its unit.
    pub async fn list_progress_reports(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
        after: Option<ProgressKey>,
        page_size: i64,
    ) -> Result<Page<ProgressReport, ProgressKey>> {
        let assignment = self.assignment_to_read(context, key).await?;
        self.store
            .list_progress_reports(&assignment.id, after, page_size)
            .await
    }

    /// One evidence file of an assignment, with its content.
    pub async fn get_evidence(
        &self,
        context: &CallContext,
        key: (&PlanId, &str, &str),
        sha256: &str,
    ) -> Result<(Evidence, Vec<u8>)> {
        let assignment = self.assignment_to_read(context, key).await?;
        let evidence = self
            .store
            .find_evidence(&assignment.id, sha256)
            .await?
            .ok_or_else(|| PlansError::EvidenceNotFound(sha256.to_owned()))?;
        let content = self
            .blobs
            .get(sha256)
            .await
            .map_err(|error| PlatformError::Internal(format!("reading evidence failed: {error}")))?
            .ok_or_else(|| {
                PlatformError::Internal(format!("evidence {sha256} is missing from the store"))
            })?;
        Ok((evidence, content))
    }

    /// Overdue assignments as of a day: of a unit (and, for a region, every unit under it) for
    /// those who work for it, or of a plan for those who manage its issuer.
    pub async fn list_overdue(
        &self,
        context: &CallContext,
        as_of: chrono::NaiveDate,
        (unit_id, include_descendants): (Option<&str>, bool),
        plan: Option<&PlanId>,
        (after, page_size): (Option<OverdueKey>, i64),
    ) -> Result<Page<Assignment, OverdueKey>> {
        let units = match (unit_id, plan) {
            (Some(unit_id), _) => {
                self.authorize_read(context, unit_id, Need::Read).await?;
                let mut units = vec![unit_id.to_owned()];
                if include_descendants {
                    units.extend(
                        self.units
                            .descendants(context, &unit(unit_id), as_of)
                            .await?
                            .into_iter()
                            .map(|(id, _)| id.as_str().to_owned()),
                    );
                }
                Some(units)
            }
            (None, Some(plan)) => {
                let issuer = self.store.get_plan(plan).await?.issuer;
                self.authorize_read(context, &issuer, Need::Read).await?;
                None
            }
            (None, None) => {
                return Err(PlansError::invalid_field(FieldViolation::new(
                    "unit",
                    "REQUIRED",
                    "give a plan or a unit",
                    "须指定实施方案或单位",
                )));
            }
        };
        self.store
            .list_overdue(as_of, units.as_deref(), plan, after, page_size)
            .await
    }

    /// A draft child plan for a lower-level issuer (对标对表): the parent's tasks copied and
    /// linked, their mentions moved to the child's level and resolved against it.
    pub async fn cascade(
        &self,
        context: &CallContext,
        parent_id: &PlanId,
        issuer: &str,
        title: &str,
    ) -> Result<(Plan, ImportReport)> {
        let prepare = async || {
            let parent = self.store.get_plan(parent_id).await?;
            self.authorize(context, issuer, Need::Coordinate).await?;
            let issuer_name = self
                .units
                .display_name(context, &unit(issuer))
                .await?
                .unwrap_or_default();
            let child_place = place_name(&issuer_name);
            let level = level_word(&issuer_name);
            let mut tasks: Vec<Task> = self
                .store
                .all_tasks(parent_id)
                .await?
                .iter()
                .map(|task| copy_task(parent_id, task, level))
                .collect();
            let mentions = task_mentions(&tasks);
            let resolutions: HashMap<String, _> = mentions
                .iter()
                .cloned()
                .zip(self.resolve(context, issuer, &mentions).await?)
                .collect();
            let mut report = ImportReport {
                task_count: tasks.len() as i32,
                ..ImportReport::default()
            };
            apply_resolutions(&mut tasks, &resolutions, &mut report);
            let title = match title.trim() {
                "" => {
                    let parent_name = self
                        .units
                        .display_name(context, &unit(&parent.issuer))
                        .await?
                        .unwrap_or_default();
                    let parent_place = place_name(&parent_name);
                    match parent.title.strip_prefix(parent_place) {
                        Some(rest) if !parent_place.is_empty() => format!("{child_place}{rest}"),
                        _ => format!("{child_place}{}", parent.title),
                    }
                }
                title => title.to_owned(),
            };
            Ok(Draft {
                id: PlanId::generate(),
                title,
                document_number: String::new(),
                issuer: issuer.to_owned(),
                period: parent.period,
                kind: parent.kind,
                phases: parent.phases,
                tasks,
                report,
                parent_plan: Some(parent.id),
            })
        };
        let plan = self
            .mutate(
                context,
                &parent_id.name(),
                prepare,
                async |connection, child| store::insert_draft(connection, &child).await,
            )
            .await?;
        let report = plan.report.clone();
        Ok((plan, report))
    }

    /// How a child plan answers its parent: (coverage, child tasks, parent tasks, parent plan).
    pub async fn coverage(
        &self,
        plan: &PlanId,
    ) -> Result<(Coverage, Vec<Task>, Vec<Task>, PlanId)> {
        let child = self.store.get_plan(plan).await?;
        let parent = child.parent_plan.ok_or(PlansError::NoParentPlan)?;
        let children = self.store.all_tasks(plan).await?;
        let parents = self.store.all_tasks(&parent).await?;
        Ok((
            coverage(&children, &parent, &parents),
            children,
            parents,
            parent,
        ))
    }

    /// The task breakdown table (open to every caller, like the tasks), or the progress table
    /// as of today (for those who manage the issuer), as XLSX with a file name.
    pub async fn export(
        &self,
        context: &CallContext,
        plan_id: &PlanId,
        progress: bool,
    ) -> Result<(Vec<u8>, String)> {
        let plan = self.store.get_plan(plan_id).await?;
        let table: Table = if progress {
            self.authorize_read(context, &plan.issuer, Need::Coordinate)
                .await?;
            let today = context.clock.today();
            let issuer = unit(&plan.issuer);
            let mut unit_names: HashMap<String, String> = self
                .units
                .descendants(context, &issuer, today)
                .await?
                .into_iter()
                .map(|(id, name)| (id.as_str().to_owned(), name))
                .collect();
            if let Some(name) = self.units.display_name(context, &issuer).await? {
                unit_names.insert(plan.issuer.clone(), name);
            }
            let mut assignments = Vec::new();
            let mut after = None;
            loop {
                let filter = AssignmentFilter {
                    plan: Some(plan_id),
                    ..AssignmentFilter::default()
                };
                let page = self.store.list_assignments(filter, after, 1000).await?;
                assignments.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            export::progress(&plan.title, &assignments, &unit_names, today)
        } else {
            export::task_breakdown(&plan.title, &self.store.all_tasks(plan_id).await?)
        };
        let content = export::to_xlsx(&table)
            .map_err(|error| PlatformError::Internal(format!("writing XLSX failed: {error}")))?;
        Ok((content, format!("{}.xlsx", table.title)))
    }

    /// Authorises a change of a plan by its issuer's coordinators.
    async fn authorize_plan_change(&self, context: &CallContext, id: &PlanId) -> Result<()> {
        let plan = self.store.get_plan(id).await?;
        self.authorize(context, &plan.issuer, Need::Coordinate)
            .await
    }

    /// Edits a plan's fields until it is closed.
    pub async fn update_plan(
        &self,
        context: &CallContext,
        id: &PlanId,
        fields: Vec<PlanField>,
        etag: &str,
    ) -> Result<Plan> {
        let prepare = async || self.authorize_plan_change(context, id).await;
        let apply = async |connection: &mut PgConnection, ()| {
            let plan = store::lock_plan(connection, id).await?;
            check_etag(etag, plan.revision)?;
            check_editable(&plan).map_err(edit_refused)?;
            let changed = fields.iter().map(|field| field.path().to_owned()).collect();
            let edited = edit_plan(&plan, fields).map_err(PlansError::invalid)?;
            store::save_plan(connection, &plan, &edited, changed).await
        };
        self.mutate(context, &id.name(), prepare, apply).await
    }

    /// Closes a published plan.
    pub async fn close_plan(&self, context: &CallContext, id: &PlanId, etag: &str) -> Result<Plan> {
        let prepare = async || self.authorize_plan_change(context, id).await;
        let apply = async |connection: &mut PgConnection, ()| {
            let plan = store::lock_plan(connection, id).await?;
            check_etag(etag, plan.revision)?;
            let closed = close(&plan).map_err(edit_refused)?;
            store::save_plan(connection, &plan, &closed, vec!["state".to_owned()]).await
        };
        self.mutate(context, &id.name(), prepare, apply).await
    }

    /// Edits a draft's task: title, text, and mentions resolved anew.
    pub async fn update_task(
        &self,
        context: &CallContext,
        (plan_id, task_id): (&PlanId, &str),
        edit: TaskEdit,
        etag: &str,
    ) -> Result<(Task, Plan)> {
        let target = format!("{}/tasks/{task_id}", plan_id.name());
        let TaskEdit {
            number,
            title,
            text,
            mentions,
        } = edit;
        let prepare = async || {
            let plan = self.store.get_plan(plan_id).await?;
            self.authorize(context, &plan.issuer, Need::Coordinate)
                .await?;
            match mentions {
                Some(mentions) => Ok(Some(
                    self.resolve_edited_mentions(context, &plan.issuer, mentions)
                        .await?,
                )),
                None => Ok(None),
            }
        };
        let apply = async |connection: &mut PgConnection, mentions: Option<Vec<TaskMention>>| {
            let plan = lock_draft(connection, plan_id, etag).await?;
            let task = store::task_in(&mut *connection, plan_id, task_id).await?;
            let mut changed = Vec::new();
            if number.is_some() || title.is_some() || text.is_some() {
                changed.push(format!("tasks/{task_id}"));
            }
            let plan_year = plan.period.map(|(start, _)| start);
            let mut edited =
                edit_task(&task, (number, title, text), plan_year).map_err(PlansError::invalid)?;
            if let Some(mentions) = mentions {
                edited.mentions = mentions;
                changed.push(format!("tasks/{task_id}/mentions"));
            }
            let mut outcome = store::save_task(connection, &plan, &edited, changed).await?;
            let saved = store::task_in(&mut *connection, plan_id, task_id).await?;
            let response = (saved, outcome.response);
            outcome.changes.push(mutation::Change::of(
                format!("{}/tasks/{task_id}", plan_id.name()),
                Some(&task),
                Some(&response.0),
            )?);
            Ok(Outcome {
                response,
                changes: outcome.changes,
                events: outcome.events,
            })
        };
        self.mutate(context, &target, prepare, apply).await
    }

    /// Adds a task to a draft, before another or at the end, its mentions resolved against the
    /// issuer.
    pub async fn create_task(
        &self,
        context: &CallContext,
        plan_id: &PlanId,
        (new, mentions): (NewTask, Vec<MentionEdit>),
        before: Option<&str>,
        etag: &str,
    ) -> Result<(Task, Plan)> {
        let prepare = async || {
            let plan = self.store.get_plan(plan_id).await?;
            self.authorize(context, &plan.issuer, Need::Coordinate)
                .await?;
            self.resolve_edited_mentions(context, &plan.issuer, mentions)
                .await
        };
        let apply = async |connection: &mut PgConnection, mentions: Vec<TaskMention>| {
            let plan = lock_draft(connection, plan_id, etag).await?;
            let tasks = store::tasks_in(connection, plan_id).await?;
            let mut task = new_task(&tasks, new, plan.period.map(|(start, _)| start))
                .map_err(PlansError::invalid)?;
            task.mentions = mentions;
            let order = reorder(&tasks, &task.id, before).map_err(PlansError::invalid_field)?;
            store::insert_task(connection, plan_id, &task).await?;
            let changed = vec![format!("tasks/{}", task.id)];
            self.task_outcome(connection, &plan, (None, &task.id), &order, changed)
                .await
        };
        self.mutate(context, &plan_id.name(), prepare, apply).await
    }

    /// Removes a draft's task.
    pub async fn delete_task(
        &self,
        context: &CallContext,
        (plan_id, task_id): (&PlanId, &str),
        etag: &str,
    ) -> Result<Plan> {
        let target = format!("{}/tasks/{task_id}", plan_id.name());
        let prepare = async || self.authorize_plan_change(context, plan_id).await;
        let apply = async |connection: &mut PgConnection, ()| {
            let plan = lock_draft(connection, plan_id, etag).await?;
            let task = store::task_in(&mut *connection, plan_id, task_id).await?;
            store::remove_task(connection, plan_id, task_id).await?;
            let order: Vec<String> = store::tasks_in(connection, plan_id)
                .await?
                .into_iter()
                .map(|task| task.id)
                .collect();
            let changed = vec![format!("tasks/{task_id}")];
            let mut outcome = store::order_tasks(connection, &plan, &order, changed).await?;
            outcome.changes.push(mutation::Change::of::<Task, Task>(
                target.clone(),
                Some(&task),
                None,
            )?);
            Ok(outcome)
        };
        self.mutate(context, &target, prepare, apply).await
    }

    /// Moves a draft's task before another (or to the end), and into another part and section
    /// when one is given.
    pub async fn move_task(
        &self,
        context: &CallContext,
        (plan_id, task_id): (&PlanId, &str),
        (before, place): (Option<&str>, Option<TaskPlace>),
        etag: &str,
    ) -> Result<(Task, Plan)> {
        let target = format!("{}/tasks/{task_id}", plan_id.name());
        let prepare = async || self.authorize_plan_change(context, plan_id).await;
        let apply = async |connection: &mut PgConnection, ()| {
            let plan = lock_draft(connection, plan_id, etag).await?;
            let task = store::task_in(&mut *connection, plan_id, task_id).await?;
            let tasks = store::tasks_in(connection, plan_id).await?;
            let order = reorder(&tasks, task_id, before).map_err(PlansError::invalid_field)?;
            if let Some(place) = place.filter(|place| moves_place(&task, place)) {
                store::place_task(connection, plan_id, &place.put(&task)).await?;
            }
            let changed = vec![format!("tasks/{task_id}")];
            self.task_outcome(connection, &plan, (Some(&task), task_id), &order, changed)
                .await
        };
        self.mutate(context, &target, prepare, apply).await
    }

    /// Puts a draft's tasks in `order` and answers with the task as saved and the plan, the
    /// task's change recorded from `before`.
    async fn task_outcome(
        &self,
        connection: &mut PgConnection,
        plan: &Plan,
        (before, task_id): (Option<&Task>, &str),
        order: &[String],
        changed: Vec<String>,
    ) -> Result<Outcome<(Task, Plan)>> {
        let outcome = store::order_tasks(connection, plan, order, changed).await?;
        let saved = store::task_in(&mut *connection, &plan.id, task_id).await?;
        let mut changes = outcome.changes;
        changes.push(mutation::Change::of(
            format!("{}/tasks/{task_id}", plan.id.name()),
            before,
            Some(&saved),
        )?);
        Ok(Outcome {
            response: (saved, outcome.response),
            changes,
            events: outcome.events,
        })
    }

    async fn resolve_edited_mentions(
        &self,
        context: &CallContext,
        issuer: &str,
        mentions: Vec<MentionEdit>,
    ) -> Result<Vec<TaskMention>> {
        let mut violations = Vec::new();
        let mut resolved = Vec::with_capacity(mentions.len());
        let texts: Vec<String> = mentions
            .iter()
            .filter(|mention| mention.unit.is_none() && !mention.mention.trim().is_empty())
            .map(|mention| mention.mention.trim().to_owned())
            .collect();
        let mut resolutions = self.resolve(context, issuer, &texts).await?.into_iter();
        for (index, mention) in mentions.into_iter().enumerate() {
            let resolution = match &mention.unit {
                Some(unit_id) => match self.units.display_name(context, &unit(unit_id)).await? {
                    Some(_) => MentionResolution {
                        target: Some(MentionTarget::Unit(unit(unit_id).name())),
                        confidence: 1.0,
                        method: "chosen".to_owned(),
                        candidates: Vec::new(),
                    },
                    None => {
                        violations.push(FieldViolation::new(
                            format!("task.mentions[{index}].unit"),
                            "UNIT_NOT_FOUND",
                            "names no registered unit",
                            "指定的单位不存在",
                        ));
                        continue;
                    }
                },
                None if mention.mention.trim().is_empty() => {
                    violations.push(FieldViolation::required(format!(
                        "task.mentions[{index}].mention"
                    )));
                    continue;
                }
                None => resolutions
                    .next()
                    .unwrap_or_else(MentionResolution::unresolved),
            };
            resolved.push(TaskMention {
                role: mention.role,
                mention: mention.mention.trim().to_owned(),
                resolution,
            });
        }
        if violations.is_empty() {
            Ok(resolved)
        } else {
            Err(PlansError::invalid(violations))
        }
    }

    /// Deletes a draft.
    pub async fn delete_plan(&self, context: &CallContext, id: &PlanId, etag: &str) -> Result<()> {
        let prepare = async || self.authorize_plan_change(context, id).await;
        let apply = async |connection: &mut PgConnection, ()| {
            let plan = store::lock_plan(connection, id).await?;
            check_etag(etag, plan.revision)?;
            check_deletable(&plan).map_err(|_| PlansError::PlanNotDraft)?;
            store::delete_draft(connection, &plan).await
        };
        self.mutate(context, &id.name(), prepare, apply).await
    }

    /// Applies a unit reorganisation from the units stream once: open assignments move to the
    /// successors (see [`crate::follow`]). `None` when this event was applied before.
    pub async fn apply_unit_moves(
        &self,
        context: &CallContext,
        (stream, sequence): (&str, i64),
        moves: &[(String, String)],
        reason: &str,
    ) -> Result<Option<usize>> {
        mutation::apply_once(
            self.store.pool(),
            self.store.journal(),
            context,
            (stream, sequence),
            async |connection| store::repoint_assignments(connection, moves, reason).await,
        )
        .await
    }

    /// How far the units stream has been applied.
    pub async fn cursor(&self, stream: &str) -> Result<i64> {
        Ok(mutation::cursor(self.store.pool(), SCHEMA, stream).await?)
    }
}
