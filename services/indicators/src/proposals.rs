//! Proposed targets from plans: a plan's tasks read from the plans service, the targets they
//! state proposed with the typed targets they would become, and a coordinator's decision —
//! accept (creating or reusing targets) or reject with a reason.

use std::collections::HashMap;

use fazhi_plans_client::{PlanWithTasks, PlansClientError};
use fazhi_platform::aip::{Page, check_etag};
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{Change, NewEvent, Outcome};

use crate::domain::{
    Catalogue, ExtractedTarget, ProposalId, ProposalState, ProposedTarget, SuggestedTarget, Target,
    TargetId, TargetKind, check_target, statements, suggest,
};
use crate::error::{IndicatorsError, Result};
use crate::service::{IndicatorBook, Need};
use crate::store;

/// A plans service answer as this service's error: a refusal stays a refusal.
pub(crate) fn plans_error(error: PlansClientError) -> IndicatorsError {
    IndicatorsError::upstream(
        error,
        "plans",
        (
            IndicatorsError::PlansRejected,
            IndicatorsError::PlansUnavailable,
        ),
    )
}

/// A plan's proposals as its tasks state them now, each at its place in the plan.
fn fresh_proposals(read: &PlanWithTasks, catalogue: &Catalogue) -> Vec<(i32, ProposedTarget)> {
    let now = chrono::Utc::now();
    let mut position = 0;
    let mut found = Vec::new();
    for task in &read.tasks {
        let extracted: Vec<ExtractedTarget> = task
            .targets
            .iter()
            .map(|target| ExtractedTarget {
                text: target.text.clone(),
                metric: target.metric.clone(),
                comparator: target.comparator.clone(),
                value: target.value,
                unit: target.unit.clone(),
                period: target.period.clone(),
                category: Some(target.category.clone()).filter(|text| !text.is_empty()),
                reference: Some(target.reference.clone()).filter(|text| !text.is_empty()),
                year: Some(target.year).filter(|year| *year > 0),
                context: target.context.clone(),
            })
            .collect();
        let group = responsible_group(task);
        for (ordinal, statement) in statements(&extracted).into_iter().enumerate() {
            let (suggested, unmatched) = match suggest(&statement, catalogue) {
                Ok(suggested) => (
                    suggested
                        .into_iter()
                        .map(|suggested| SuggestedTarget {
                            applies_to_group: group.clone(),
                            ..suggested
                        })
                        .collect(),
                    None,
                ),
                Err(reason) => (Vec::new(), Some(reason)),
            };
            found.push((
                position,
                ProposedTarget {
                    id: ProposalId::generate(),
                    plan: read.plan.name.clone(),
                    task: task.name.clone(),
                    task_number: task.number.clone(),
                    task_title: task.title.clone(),
                    ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
                    owner_unit: fazhi_units_client::id_of(&read.plan.issuer)
                        .as_str()
                        .to_owned(),
                    statement,
                    suggested,
                    unmatched,
                    state: ProposalState::Proposed,
                    targets: Vec::new(),
                    reason: None,
                    revision: 0,
                    create_time: now,
                    update_time: now,
                },
            ));
            position += 1;
        }
    }
    found
}

/// The one unit group a task makes responsible (or, naming no responsible units, lead), when
/// its units of that role are that group alone: the units its targets apply to.
fn responsible_group(task: &fazhi_proto::plans::v1::Task) -> Option<String> {
    use fazhi_proto::plans::v1::{AssignmentRole, task_mention::Target};
    let of_role = |role: AssignmentRole| -> Vec<&Option<Target>> {
        task.mentions
            .iter()
            .filter(|mention| mention.role == role as i32)
            .map(|mention| &mention.target)
            .collect()
    };
    let mut named = of_role(AssignmentRole::Responsible);
    if named.is_empty() {
        named = of_role(AssignmentRole::Lead);
    }
    let mut groups = named
        .iter()
        .map(|target| match target {
            Some(Target::UnitGroup(group)) => Some(group.as_str()),
            _ => None,
        })
        .collect::<Option<Vec<&str>>>()?;
    groups.dedup();
    match groups.as_slice() {
        [group] => Some((*group).to_owned()),
        _ => None,
    }
}

/// Whether a refreshed proposal says anything new.
fn differs(current: &ProposedTarget, fresh: &ProposedTarget) -> bool {
    (
        &current.statement,
        &current.suggested,
        &current.unmatched,
        &current.task_number,
        &current.task_title,
    ) != (
        &fresh.statement,
        &fresh.suggested,
        &fresh.unmatched,
        &fresh.task_number,
        &fresh.task_title,
    )
}

impl IndicatorBook {
    /// Reads a plan through the plans service (with the caller's credentials) and proposes the
    /// targets its tasks state: coordinators of the plan's issuer. Undecided proposals are
    /// refreshed (and dropped when the plan no longer states them); decided ones are kept.
    pub async fn propose_targets(
        &self,
        context: &CallContext,
        plan: &str,
    ) -> Result<Vec<ProposedTarget>> {
        self.mutate(
            context,
            plan,
            async || {
                let read = self
                    .plans()
                    .plan_with_tasks(context, plan)
                    .await
                    .map_err(plans_error)?;
                let issuer = fazhi_units_client::id_of(&read.plan.issuer);
                self.authorize(context, &issuer, Need::Coordinate).await?;
                Ok(fresh_proposals(&read, &self.catalogue().await?))
            },
            async |connection, fresh: Vec<(i32, ProposedTarget)>| {
                let mut existing: HashMap<(String, i32), ProposedTarget> =
                    store::lock_plan_proposals(connection, plan)
                        .await?
                        .into_iter()
                        .map(|(_, proposal)| ((proposal.task.clone(), proposal.ordinal), proposal))
                        .collect();
                let mut outcome = Outcome {
                    response: Vec::new(),
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                for (position, fresh) in fresh {
                    let current = existing.remove(&(fresh.task.clone(), fresh.ordinal));
                    let saved = match current {
                        Some(current) if current.state != ProposalState::Proposed => current,
                        Some(current) if !differs(&current, &fresh) => current,
                        current => {
                            let next = ProposedTarget {
                                id: current
                                    .as_ref()
                                    .map_or(fresh.id.clone(), |current| current.id.clone()),
                                ..fresh
                            };
                            let saved = store::save_proposal(connection, position, &next).await?;
                            outcome.changes.push(Change::of(
                                saved.id.name(),
                                current.as_ref(),
                                Some(&saved),
                            )?);
                            saved
                        }
                    };
                    outcome.response.push(saved);
                }
                for gone in existing.into_values() {
                    if gone.state == ProposalState::Proposed {
                        store::drop_proposal(connection, &gone.id).await?;
                        outcome
                            .changes
                            .push(Change::of(gone.id.name(), Some(&gone), None::<&()>)?);
                    }
                }
                Ok(outcome)
            },
        )
        .await
    }

    /// A plan's proposals in task order: coordinators of its issuer, viewers.
    pub async fn list_proposals(
        &self,
        context: &CallContext,
        plan: &str,
        state: Option<ProposalState>,
        after: Option<(i32, String)>,
        size: i64,
    ) -> Result<Page<ProposedTarget, (i32, String)>> {
        // Decided on the plan's proposals as a whole, so that no filter or page answers a
        // stranger with an empty list where a refusal is due; a plan without any tells nothing.
        if let Some(owner) = self.store().proposal_owner(plan).await? {
            let owner = fazhi_units_client::id_of(&owner);
            let decision = self.authorize(context, &owner, Need::Read).await;
            self.audit_read_refusal(context, plan, decision).await?;
        }
        self.store().list_proposals(plan, state, after, size).await
    }

    /// Makes a proposal targets — the suggested ones, or `instead` — reusing a live target of
    /// the same indicator, owner, kind and periods: coordinators of the owner unit.
    pub async fn accept_proposal(
        &self,
        context: &CallContext,
        id: &ProposalId,
        etag: &str,
        instead: Vec<Target>,
    ) -> Result<ProposedTarget> {
        let name = id.name();
        let now = context.clock.now();
        self.mutate(
            context,
            &name,
            async || {
                let proposal = self.undecided(context, id).await?;
                let mut catalogue = self.catalogue().await?;
                let wanted: Vec<Target> = if instead.is_empty() {
                    if proposal.suggested.is_empty() {
                        return Err(IndicatorsError::ProposalUnmatched(
                            proposal.unmatched.clone().unwrap_or_default(),
                        ));
                    }
                    proposal
                        .suggested
                        .iter()
                        .map(|suggested| Target {
                            id: TargetId::generate(),
                            display_name: suggested.display_name.clone(),
                            indicator: Some(suggested.indicator.clone()),
                            owner_unit: proposal.owner_unit.clone(),
                            applies_to_group: suggested.applies_to_group.clone(),
                            first_period: suggested.first_period.clone(),
                            last_period: None,
                            kind: suggested.kind.clone(),
                            revision: 0,
                            create_time: now,
                            delete_time: None,
                        })
                        .collect()
                } else {
                    instead
                        .into_iter()
                        .map(|target| Target {
                            id: TargetId::generate(),
                            owner_unit: proposal.owner_unit.clone(),
                            ..target
                        })
                        .collect()
                };
                let mut chosen = Vec::new();
                let mut created = Vec::new();
                for (index, target) in wanted.into_iter().enumerate() {
                    IndicatorsError::refuse_any(check_target(
                        &target,
                        &catalogue,
                        &format!("targets[{index}]"),
                    ))?;
                    match catalogue.targets.iter().find(|live| same_target(live, &target)) {
                        Some(live) => chosen.push(live.id.clone()),
                        None => {
                            chosen.push(target.id.clone());
                            catalogue.targets.push(target.clone());
                            created.push(target);
                        }
                    }
                }
                if chosen.len() > 1 {
                    let whole = Target {
                        id: TargetId::generate(),
                        display_name: proposal.statement.text.clone(),
                        indicator: None,
                        owner_unit: proposal.owner_unit.clone(),
                        applies_to_group: None,
                        first_period: None,
                        last_period: None,
                        kind: TargetKind::AllOf(chosen.clone()),
                        revision: 0,
                        create_time: now,
                        delete_time: None,
                    };
                    match catalogue.targets.iter().find(|live| same_target(live, &whole)) {
                        Some(live) => chosen.push(live.id.clone()),
                        None => {
                            chosen.push(whole.id.clone());
                            created.push(whole);
                        }
                    }
                }
                Ok((proposal.revision, chosen, created))
            },
            async |connection, (read_revision, chosen, created): (i64, Vec<TargetId>, Vec<Target>)| {
                let current = self.lock_undecided(connection, id, etag, read_revision).await?;
                let mut outcome = Outcome {
                    response: (),
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                for target in &created {
                    let saved = store::insert_target(connection, target).await?;
                    outcome
                        .changes
                        .push(Change::of(saved.id.name(), None::<&()>, Some(&saved))?);
                    outcome.events.push(NewEvent {
                        event_type: "target.created",
                        resource: saved.id.name(),
                        payload: serde_json::Value::Null,
                    });
                }
                let next = ProposedTarget {
                    state: ProposalState::Accepted,
                    targets: chosen,
                    ..current.clone()
                };
                self.decided(connection, current, next, outcome).await
            },
        )
        .await
    }

    /// Sets a proposal aside with a reason: coordinators of the owner unit.
    pub async fn reject_proposal(
        &self,
        context: &CallContext,
        id: &ProposalId,
        etag: &str,
        reason: String,
    ) -> Result<ProposedTarget> {
        self.mutate(
            context,
            &id.name(),
            async || {
                // Checked inside the mutation, so a rejection without a reason is audited too.
                if reason.trim().is_empty() {
                    return Err(IndicatorsError::invalid_field(FieldViolation::required(
                        "reason",
                    )));
                }
                Ok(self.undecided(context, id).await?.revision)
            },
            async |connection, read_revision| {
                let current = self
                    .lock_undecided(connection, id, etag, read_revision)
                    .await?;
                let next = ProposedTarget {
                    state: ProposalState::Rejected,
                    reason: Some(reason.trim().to_owned()),
                    ..current.clone()
                };
                let outcome = Outcome {
                    response: (),
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                self.decided(connection, current, next, outcome).await
            },
        )
        .await
    }

    /// An undecided proposal the caller coordinates.
    async fn undecided(&self, context: &CallContext, id: &ProposalId) -> Result<ProposedTarget> {
        let proposal = self
            .store()
            .find_proposal(id)
            .await?
            .ok_or_else(|| PlatformError::NotFound(id.name()))?;
        let owner = fazhi_units_client::id_of(&proposal.owner_unit);
        self.authorize(context, &owner, Need::Coordinate).await?;
        if proposal.state != ProposalState::Proposed {
            return Err(IndicatorsError::ProposalDecided(proposal.state));
        }
        Ok(proposal)
    }

    /// The proposal locked, its etag checked, still undecided and as it was read.
    async fn lock_undecided(
        &self,
        connection: &mut sqlx::PgConnection,
        id: &ProposalId,
        etag: &str,
        read_revision: i64,
    ) -> Result<ProposedTarget> {
        let current = store::lock_proposal(connection, id)
            .await?
            .ok_or_else(|| PlatformError::NotFound(id.name()))?;
        check_etag(etag, current.revision)?;
        if current.state != ProposalState::Proposed {
            return Err(IndicatorsError::ProposalDecided(current.state));
        }
        if current.revision != read_revision {
            return Err(PlatformError::Conflict.into());
        }
        Ok(current)
    }

    /// Saves a decision, audited and published with what else it did.
    async fn decided(
        &self,
        connection: &mut sqlx::PgConnection,
        current: ProposedTarget,
        next: ProposedTarget,
        mut outcome: Outcome<()>,
    ) -> Result<Outcome<ProposedTarget>> {
        let saved = store::decide_proposal(connection, &next).await?;
        outcome
            .changes
            .push(Change::of(saved.id.name(), Some(&current), Some(&saved))?);
        outcome.events.push(NewEvent {
            event_type: match saved.state {
                ProposalState::Rejected => "proposed_target.rejected",
                _ => "proposed_target.accepted",
            },
            resource: saved.id.name(),
            payload: serde_json::Value::Null,
        });
        Ok(Outcome {
            response: saved,
            changes: outcome.changes,
            events: outcome.events,
        })
    }
}

/// A live target that says the same as `wanted`: reused rather than made twice.
fn same_target(live: &Target, wanted: &Target) -> bool {
    live.delete_time.is_none()
        && (
            &live.indicator,
            &live.owner_unit,
            &live.kind,
            &live.applies_to_group,
        ) == (
            &wanted.indicator,
            &wanted.owner_unit,
            &wanted.kind,
            &wanted.applies_to_group,
        )
        && (&live.first_period, &live.last_period) == (&wanted.first_period, &wanted.last_period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fazhi_proto::plans::v1::{AssignmentRole, Task, TaskMention, task_mention::Target};

    fn mention(role: AssignmentRole, target: Target) -> TaskMention {
        TaskMention {
            role: role as i32,
            target: Some(target),
            ..Default::default()
        }
    }

    #[test]
    fn a_target_applies_to_the_one_group_a_task_makes_responsible() {
        let townships = || Target::UnitGroup("unitGroups/townships".to_owned());
        let task = |mentions| Task {
            mentions,
            ..Default::default()
        };
        let lead = mention(
            AssignmentRole::Lead,
            Target::Unit("units/ng-sfj".to_owned()),
        );
        // 各乡镇、街道: the same group twice.
        let one = task(vec![
            lead.clone(),
            mention(AssignmentRole::Responsible, townships()),
            mention(AssignmentRole::Responsible, townships()),
        ]);
        assert_eq!(
            responsible_group(&one).as_deref(),
            Some("unitGroups/townships")
        );
        let with_a_unit = task(vec![
            mention(AssignmentRole::Responsible, townships()),
            mention(
                AssignmentRole::Responsible,
                Target::Unit("units/ng-gaj".to_owned()),
            ),
        ]);
        assert_eq!(responsible_group(&with_a_unit), None);
        assert_eq!(responsible_group(&task(vec![lead])), None);
        let lead_group = task(vec![mention(AssignmentRole::Lead, townships())]);
        assert_eq!(
            responsible_group(&lead_group).as_deref(),
            Some("unitGroups/townships")
        );
    }
}
