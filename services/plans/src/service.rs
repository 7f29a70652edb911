//! The use cases of plans: authorise, apply the domain, call the store and the units service.

use std::collections::HashMap;
use std::sync::Arc;

use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::MutationContext;

use crate::blobs::BlobStore;
use crate::domain::import::{document_text, parse};
use crate::domain::{
    Assignment, AssignmentState, Evidence, ImportReport, Plan, PlanId, ProgressInput,
    ProgressReport, PublishRefusal, Task, WorkPlanInput, assignments, check_publishable,
    distinct_mentions, draft, groups_to_expand, task_deadline,
};
use crate::domain::{
    Coverage, Draft, apply_resolutions, copy_task, coverage, level_word, link_to_parent,
    place_name, task_mentions,
};
use crate::domain::{
    EditRefusal, MentionResolution, MentionTarget, PlanField, Role, TaskMention, check_deletable,
    check_editable, check_tasks_editable, close, edit_plan, edit_task,
};
use crate::error::{PlansError, Result};
use crate::export::{self, Table};
use crate::store::{AssignmentFilter, AssignmentKey, OverdueKey, ProgressKey, Store};
use crate::units_client::{Issuer, UnitsClient};
use fazhi_platform::aip::Page;

/// The plans service's use cases.
#[derive(Clone)]
pub struct PlanBook {
    store: Store,
    units: UnitsClient,
    blobs: Arc<dyn BlobStore>,
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
    pub title: Option<String>,
    pub text: Option<String>,
    pub mentions: Option<Vec<MentionEdit>>,
}

fn refused(refusal: EditRefusal) -> PlansError {
    match refusal {
        EditRefusal::Closed => PlansError::PlanClosed,
        EditRefusal::NotDraft => PlansError::TasksFrozen,
        EditRefusal::NotPublished => PlansError::PlanNotPublished,
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
    /// The caller's `authorization` header, forwarded to the units service.
    pub authorization: String,
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
        let mut draft = draft(PlanId::generate(), command.issuer, parsed, &resolutions);
        if let Some(parent) = command.parent_plan {
            let parent_tasks = self.store.all_tasks(&parent).await?;
            link_to_parent(&mut draft.tasks, &parent, &parent_tasks);
            draft.parent_plan = Some(parent);
        }
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

    /// A unit's assignments, or those of the tasks it leads (its staff, or those who manage it),
    /// or a plan's (those who manage its issuer).
    pub async fn list_assignments(
        &self,
        context: &MutationContext,
        filter: AssignmentFilter<'_>,
        authorization: &str,
        after: Option<AssignmentKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, AssignmentKey>> {
        match (filter.plan, filter.unit.or(filter.led_by)) {
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
        self.store.list_assignments(filter, after, page_size).await
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

    /// An assignment, once the caller is found to work for its unit.
    async fn assignment_for_unit(
        &self,
        context: &MutationContext,
        (plan, task, id): (&PlanId, &str, &str),
        authorization: &str,
    ) -> Result<Assignment> {
        let assignment = self.store.get_assignment(plan, task, id).await?;
        self.authorize_for_unit(context, &assignment.unit, authorization, Manage::WorkFor)
            .await?;
        Ok(assignment)
    }

    /// Reports progress: the evidence goes to the blob store first (durably), then the report
    /// and the assignment's new standing in one transaction.
    pub async fn report_progress(
        &self,
        context: &MutationContext,
        key: (&PlanId, &str, &str),
        input: ProgressInput,
        authorization: &str,
    ) -> Result<(ProgressReport, Assignment)> {
        let assignment = self
            .assignment_for_unit(context, key, authorization)
            .await?;
        let progress = input.check().map_err(PlatformError::InvalidArgument)?;
        if assignment.state == AssignmentState::Open {
            return Err(PlansError::NotClaimed);
        }
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
        self.store
            .report_progress(context, &assignment, &progress, &evidence)
            .await
    }

    /// An assignment's reports, newest first: for those who work for its unit.
    pub async fn list_progress_reports(
        &self,
        context: &MutationContext,
        key: (&PlanId, &str, &str),
        authorization: &str,
        after: Option<ProgressKey>,
        page_size: i64,
    ) -> Result<Page<ProgressReport, ProgressKey>> {
        let assignment = self
            .assignment_for_unit(context, key, authorization)
            .await?;
        self.store
            .list_progress_reports(&assignment.id, after, page_size)
            .await
    }

    /// One evidence file of an assignment, with its content.
    pub async fn get_evidence(
        &self,
        context: &MutationContext,
        key: (&PlanId, &str, &str),
        sha256: &str,
        authorization: &str,
    ) -> Result<(Evidence, Vec<u8>)> {
        let assignment = self
            .assignment_for_unit(context, key, authorization)
            .await?;
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
    #[allow(clippy::too_many_arguments)]
    pub async fn list_overdue(
        &self,
        context: &MutationContext,
        as_of: chrono::NaiveDate,
        (unit, include_descendants): (Option<&str>, bool),
        plan: Option<&PlanId>,
        authorization: &str,
        after: Option<OverdueKey>,
        page_size: i64,
    ) -> Result<Page<Assignment, OverdueKey>> {
        let units = match (unit, plan) {
            (Some(unit), _) => {
                self.authorize_for_unit(context, unit, authorization, Manage::WorkFor)
                    .await?;
                let mut units = vec![unit.to_owned()];
                if include_descendants {
                    units.extend(
                        self.units
                            .descendants(unit, as_of, authorization)
                            .await?
                            .into_iter()
                            .map(|(id, _)| id),
                    );
                }
                Some(units)
            }
            (None, Some(plan)) => {
                let issuer = self.store.get_plan(plan).await?.issuer;
                self.authorize_for_unit(context, &issuer, authorization, Manage::Coordinate)
                    .await?;
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

    /// Gives an assignment to another unit: coordinators of the plan's issuer.
    pub async fn reassign(
        &self,
        context: &MutationContext,
        (plan_id, task, id): (&PlanId, &str, &str),
        (unit, reason): (&str, &str),
        etag: &str,
        authorization: &str,
    ) -> Result<Assignment> {
        let assignment = self.store.get_assignment(plan_id, task, id).await?;
        let plan = self.store.get_plan(plan_id).await?;
        self.authorize_for_unit(context, &plan.issuer, authorization, Manage::Coordinate)
            .await?;
        fazhi_platform::aip::check_etag(etag, assignment.revision)?;
        let mut violations = Vec::new();
        if reason.trim().is_empty() {
            violations.push(FieldViolation::required("reason"));
        }
        if unit == assignment.unit {
            violations.push(FieldViolation::new(
                "unit",
                "SAME_UNIT",
                "the assignment is with this unit already",
                "该任务已由此单位承担",
            ));
        } else if self
            .units
            .display_name(unit, authorization)
            .await?
            .is_none()
        {
            violations.push(FieldViolation::new(
                "unit",
                "UNIT_NOT_FOUND",
                "unit names no registered unit",
                "unit 指定的单位不存在",
            ));
        }
        if !violations.is_empty() {
            return Err(PlatformError::InvalidArgument(violations).into());
        }
        let deadline = task_deadline(&self.store.get_task(plan_id, task).await?);
        self.store
            .reassign(context, &assignment, unit, reason.trim(), deadline)
            .await
    }

    /// A draft child plan for a lower-level issuer (对标对表): the parent's tasks copied and
    /// linked, their mentions moved to the child's level and resolved against it.
    pub async fn cascade(
        &self,
        context: &MutationContext,
        parent_id: &PlanId,
        issuer: &str,
        title: &str,
        authorization: &str,
    ) -> Result<(Plan, ImportReport)> {
        let parent = self.store.get_plan(parent_id).await?;
        self.authorize_for_unit(context, issuer, authorization, Manage::Coordinate)
            .await?;
        let issuer_name = self
            .units
            .display_name(issuer, authorization)
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
            .zip(self.units.resolve(issuer, &mentions, authorization).await?)
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
                    .display_name(&parent.issuer, authorization)
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
        let child = Draft {
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
        };
        let plan = self.store.create_draft(context, &child).await?;
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
        context: &MutationContext,
        plan_id: &PlanId,
        progress: bool,
        authorization: &str,
    ) -> Result<(Vec<u8>, String)> {
        let plan = self.store.get_plan(plan_id).await?;
        let table: Table = if progress {
            self.authorize_for_unit(context, &plan.issuer, authorization, Manage::Coordinate)
                .await?;
            let today = chrono::Utc::now().date_naive();
            let mut unit_names: HashMap<String, String> = self
                .units
                .descendants(&plan.issuer, today, authorization)
                .await?
                .into_iter()
                .collect();
            if let Some(name) = self.units.display_name(&plan.issuer, authorization).await? {
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

    /// A plan read for a change by its issuer's coordinators, at the caller's etag.
    async fn plan_to_change(
        &self,
        context: &MutationContext,
        id: &PlanId,
        etag: &str,
        authorization: &str,
    ) -> Result<Plan> {
        let plan = self.store.get_plan(id).await?;
        self.authorize_for_unit(context, &plan.issuer, authorization, Manage::Coordinate)
            .await?;
        fazhi_platform::aip::check_etag(etag, plan.revision)?;
        Ok(plan)
    }

    /// Edits a plan's fields until it is closed.
    pub async fn update_plan(
        &self,
        context: &MutationContext,
        id: &PlanId,
        fields: Vec<PlanField>,
        etag: &str,
        authorization: &str,
    ) -> Result<Plan> {
        let plan = self
            .plan_to_change(context, id, etag, authorization)
            .await?;
        check_editable(&plan).map_err(refused)?;
        let changed = fields.iter().map(|field| field.path().to_owned()).collect();
        let edited = edit_plan(&plan, fields).map_err(PlatformError::InvalidArgument)?;
        self.store.save_plan(context, &plan, &edited, changed).await
    }

    /// Closes a published plan.
    pub async fn close_plan(
        &self,
        context: &MutationContext,
        id: &PlanId,
        etag: &str,
        authorization: &str,
    ) -> Result<Plan> {
        let plan = self
            .plan_to_change(context, id, etag, authorization)
            .await?;
        let closed = close(&plan).map_err(refused)?;
        self.store
            .save_plan(context, &plan, &closed, vec!["state".to_owned()])
            .await
    }

    /// Edits a draft's task: title, text, and mentions resolved anew.
    pub async fn update_task(
        &self,
        context: &MutationContext,
        (plan_id, task_id): (&PlanId, &str),
        edit: TaskEdit,
        etag: &str,
        authorization: &str,
    ) -> Result<(Task, Plan)> {
        let plan = self
            .plan_to_change(context, plan_id, etag, authorization)
            .await?;
        check_tasks_editable(&plan).map_err(refused)?;
        let task = self.store.get_task(plan_id, task_id).await?;
        let mut changed = Vec::new();
        if edit.title.is_some() || edit.text.is_some() {
            changed.push(format!("tasks/{task_id}"));
        }
        let mut edited = edit_task(
            &task,
            edit.title,
            edit.text,
            plan.period.map(|(start, _)| start),
        )
        .map_err(PlatformError::InvalidArgument)?;
        if let Some(mentions) = edit.mentions {
            edited.mentions = self
                .resolve_edited_mentions(&plan.issuer, mentions, authorization)
                .await?;
            changed.push(format!("tasks/{task_id}/mentions"));
        }
        let saved = self
            .store
            .save_task(context, &plan, &edited, changed)
            .await?;
        Ok((self.store.get_task(plan_id, task_id).await?, saved))
    }

    async fn resolve_edited_mentions(
        &self,
        issuer: &str,
        mentions: Vec<MentionEdit>,
        authorization: &str,
    ) -> Result<Vec<TaskMention>> {
        let mut violations = Vec::new();
        let mut resolved = Vec::with_capacity(mentions.len());
        let texts: Vec<String> = mentions
            .iter()
            .filter(|mention| mention.unit.is_none() && !mention.mention.trim().is_empty())
            .map(|mention| mention.mention.trim().to_owned())
            .collect();
        let mut resolutions = self
            .units
            .resolve(issuer, &texts, authorization)
            .await?
            .into_iter();
        for (index, mention) in mentions.into_iter().enumerate() {
            let resolution = match &mention.unit {
                Some(unit) => match self.units.display_name(unit, authorization).await? {
                    Some(_) => MentionResolution {
                        target: Some(MentionTarget::Unit(format!("units/{unit}"))),
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
            Err(PlatformError::InvalidArgument(violations).into())
        }
    }

    /// Deletes a draft.
    pub async fn delete_plan(
        &self,
        context: &MutationContext,
        id: &PlanId,
        etag: &str,
        authorization: &str,
    ) -> Result<()> {
        let plan = self
            .plan_to_change(context, id, etag, authorization)
            .await?;
        check_deletable(&plan).map_err(|_| PlansError::PlanNotDraft)?;
        self.store.delete_draft(context, &plan).await
    }
}
