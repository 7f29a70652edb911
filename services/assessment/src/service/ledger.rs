//! The rectification ledger (整改台账): the steps of an item, who may take them, and the sweep
//! that announces the overdue ones.

use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, NewEvent, Outcome};

use super::{AssessmentBook, check_evidence, entry_outcome, one_of_owner_or_unit};
use crate::domain::{Item, ItemId, check_text};
use crate::error::{AssessmentError, Result};
use crate::store::{self, ItemFilter};

/// A step of a rectification item.
pub enum ItemStep {
    /// The unit's measures and who answers for them.
    TakeUp {
        measures: String,
        responsible_person: String,
    },
    /// The unit's report that it is done, with evidence links.
    Submit { evidence: Vec<String> },
    /// 销号 by the office, with its reason.
    Close { reason: String },
    /// Sent back by the office, with its reason.
    Reopen { reason: String },
}

impl ItemStep {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TakeUp { .. } => "rectification.taken_up",
            Self::Submit { .. } => "rectification.submitted",
            Self::Close { .. } => "rectification.closed",
            Self::Reopen { .. } => "rectification.reopened",
        }
    }

    /// Every problem of the step's fields.
    fn check(&self) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        match self {
            Self::TakeUp {
                measures,
                responsible_person,
            } => {
                check_text("measures", measures, &mut violations);
                check_text("responsible_person", responsible_person, &mut violations);
            }
            Self::Submit { evidence } => {
                if evidence.is_empty() {
                    violations.push(FieldViolation::required("evidence_uris"));
                }
                check_evidence(evidence, &mut violations);
            }
            Self::Close { reason } | Self::Reopen { reason } => {
                check_text("reason", reason, &mut violations);
            }
        }
        violations
    }
}

impl AssessmentBook {
    /// The ledger: an office's items (its coordinators, viewers) or a unit's own (its staff and
    /// those who coordinate it), optionally of one round and state, by deadline.
    pub async fn list_items(
        &self,
        context: &CallContext,
        filter: &ItemFilter,
        (after, size): (Option<(chrono::NaiveDate, String)>, i64),
    ) -> Result<Page<Item, (chrono::NaiveDate, String)>> {
        match (&filter.owner_unit, &filter.unit) {
            (Some(owner), None) => self.require_reader(context, owner).await?,
            (None, Some(unit)) => self.require_work_for(context, unit).await?,
            _ => return Err(one_of_owner_or_unit()),
        }
        self.store.list_items(filter, after, size).await
    }

    /// An item, to its unit and to the office that follows it up.
    pub async fn get_item(&self, context: &CallContext, id: &ItemId) -> Result<Item> {
        let item = self.store.get_item(id).await?;
        if self
            .require_reader(context, &item.owner_unit)
            .await
            .is_err()
        {
            self.require_work_for(context, &item.unit).await?;
        }
        Ok(item)
    }

    /// A step of an item: its unit takes it up and submits it; the office closes or reopens it.
    pub async fn step_item(
        &self,
        context: &CallContext,
        id: &ItemId,
        etag: &str,
        step: ItemStep,
    ) -> Result<Item> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let item = self.store.get_item(id).await?;
                match &step {
                    ItemStep::TakeUp { .. } | ItemStep::Submit { .. } => {
                        self.require_work_for(context, &item.unit).await?;
                    }
                    ItemStep::Close { .. } | ItemStep::Reopen { .. } => {
                        self.require_coordinator(context, &item.owner_unit).await?;
                    }
                }
                AssessmentError::refuse_any(step.check())
            },
            async |connection, ()| {
                let current = store::lock_item(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.clone()))?;
                fazhi_platform::aip::check_etag(etag, current.revision)?;
                let event_type = step.event_type();
                let moved = match &step {
                    ItemStep::TakeUp {
                        measures,
                        responsible_person,
                    } => current
                        .clone()
                        .take_up(measures.clone(), responsible_person.clone())?,
                    ItemStep::Submit { evidence } => current.clone().submit(evidence.clone())?,
                    ItemStep::Close { reason } => current.clone().close(reason.clone())?,
                    ItemStep::Reopen { reason } => current.clone().reopen(reason.clone())?,
                };
                let saved = store::save_item(
                    connection,
                    &Item {
                        update_time: context.clock.now(),
                        ..moved
                    },
                )
                .await?;
                entry_outcome(&name, event_type, Some(&current), saved)
            },
        )
        .await
    }

    /// Publishes `rectification.overdue` once for each item past its deadline and not closed,
    /// answering how many.
    pub async fn sweep_overdue_items(&self, context: &CallContext) -> Result<usize> {
        self.mutate(
            context,
            "rectificationItems:sweepOverdue",
            async || Ok(()),
            async |connection, ()| {
                let overdue = store::mark_overdue(connection, context.clock.today()).await?;
                let events = overdue
                    .iter()
                    .map(|item| {
                        Ok(NewEvent {
                            event_type: "rectification.overdue",
                            resource: item.id.name(),
                            payload: mutation::to_json(item)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Outcome {
                    response: overdue.len(),
                    changes: Vec::new(),
                    events,
                })
            },
        )
        .await
    }
}
