//! The use cases of plans: authorise, apply the domain, call the store and the units service.

use std::collections::HashMap;

use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::MutationContext;

use crate::domain::import::{document_text, parse};
use crate::domain::{ImportReport, Plan, PlanId, Task, distinct_mentions, draft};
use crate::error::{PlansError, Result};
use crate::store::Store;
use crate::units_client::{Issuer, UnitsClient};
use fazhi_platform::aip::Page;

/// The plans service's use cases.
#[derive(Clone)]
pub struct PlanBook {
    store: Store,
    units: UnitsClient,
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
        let ancestry = match self
            .units
            .issuer(&command.issuer, &command.authorization)
            .await?
        {
            Issuer::Found(ancestry) => ancestry,
            Issuer::Unknown => {
                return Err(PlansError::invalid_field(FieldViolation::new(
                    "issuer",
                    "ISSUER_NOT_FOUND",
                    "issuer names no registered unit",
                    "issuer 指定的单位不存在",
                )));
            }
        };
        if !context.caller.may_manage(&ancestry) {
            self.store
                .audit_refusal(
                    context,
                    &format!("units/{}", command.issuer),
                    "PERMISSION_DENIED",
                )
                .await?;
            return Err(PlatformError::PermissionDenied.into());
        }
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
