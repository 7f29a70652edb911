//! Supervision (督察): the office's steps about a unit, in the escalation order.

use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{Change, NewEvent};

use super::{AssessmentBook, entry_outcome, one_of_owner_or_unit};
use crate::domain::{
    Item, ItemId, ItemSource, MAX_ITEM_TEXT_CHARS, RectificationTerms, RoundId, SupervisionAction,
    SupervisionId, SupervisionRecord, check_escalation, check_text,
};
use crate::error::{AssessmentError, Result};
use crate::store;

/// What the office records.
#[derive(Debug, Clone)]
pub struct SupervisionDraft {
    pub owner_unit: String,
    pub unit: String,
    pub action: SupervisionAction,
    pub round: Option<RoundId>,
    pub items: Vec<ItemId>,
    pub cites: Vec<SupervisionId>,
    pub finding: String,
    pub demand: String,
    /// Open a rectification item for the finding (责令整改 always does).
    pub open_item: bool,
}

/// Most items and earlier steps a record names.
const MAX_LINKS: usize = 50;

fn missing(field: String) -> FieldViolation {
    FieldViolation::new(field, "NOT_FOUND", "no such record", "未找到该记录")
}

impl AssessmentBook {
    /// Records a step about a unit at or below the office, checking that it cites the step it
    /// escalates from: coordinators of both.
    pub async fn record_supervision(
        &self,
        context: &CallContext,
        draft: SupervisionDraft,
    ) -> Result<SupervisionRecord> {
        let id = SupervisionId::generate();
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                self.require_coordinator(context, &draft.owner_unit).await?;
                self.require_coordinator(context, &draft.unit).await?;
                let mut violations = Vec::new();
                check_text("finding", &draft.finding, &mut violations);
                if draft.demand.chars().count() > MAX_ITEM_TEXT_CHARS {
                    violations.push(FieldViolation::too_long("demand", MAX_ITEM_TEXT_CHARS));
                }
                for (field, count) in [("items", draft.items.len()), ("cites", draft.cites.len())] {
                    if count > MAX_LINKS {
                        violations.push(FieldViolation::too_many(field, MAX_LINKS));
                    }
                }
                AssessmentError::refuse_any(std::mem::take(&mut violations))?;
                let mut terms = RectificationTerms::default();
                if let Some(round) = &draft.round {
                    match self.store.get_round(round).await {
                        Ok(found) if found.owner_unit == draft.owner_unit => {
                            terms = self
                                .store
                                .scheme_version(&found.scheme, found.scheme_version)
                                .await?
                                .rectification;
                        }
                        Ok(_) | Err(AssessmentError::Platform(PlatformError::NotFound(_))) => {
                            violations.push(missing("round".to_owned()));
                        }
                        Err(error) => return Err(error),
                    }
                }
                for (index, item) in draft.items.iter().enumerate() {
                    match self.store.get_item(item).await {
                        Ok(found) if found.unit == draft.unit => {}
                        Ok(_) => violations.push(FieldViolation::new(
                            format!("items[{index}]"),
                            "OTHER_UNIT",
                            "the item is another unit's",
                            "该整改事项不属于本单位",
                        )),
                        Err(AssessmentError::Platform(PlatformError::NotFound(_))) => {
                            violations.push(missing(format!("items[{index}]")));
                        }
                        Err(error) => return Err(error),
                    }
                }
                let ids: Vec<String> = draft
                    .cites
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .collect();
                let found = self.store.supervision_records(&ids).await?;
                let mut cited = Vec::new();
                for (index, id) in draft.cites.iter().enumerate() {
                    match found.iter().find(|record| record.id == *id) {
                        Some(record) => cited.push(record.clone()),
                        None => violations.push(missing(format!("cites[{index}]"))),
                    }
                }
                violations.extend(check_escalation(&draft.unit, draft.action, &cited));
                AssessmentError::refuse_any(violations)?;
                Ok(terms)
            },
            async |connection, terms: RectificationTerms| {
                let now = context.clock.now();
                let round = draft.round.as_ref().map(RoundId::name);
                let opened = (draft.open_item || draft.action.opens_item()).then(|| {
                    let problem = if draft.demand.is_empty() {
                        draft.finding.clone()
                    } else {
                        format!("{};{}", draft.finding, draft.demand)
                    };
                    Item::open(
                        ItemSource::Supervision,
                        (draft.owner_unit.clone(), draft.unit.clone()),
                        (round.clone(), String::new(), problem),
                        terms,
                        (context.clock.today(), now),
                    )
                });
                let record = SupervisionRecord {
                    id: id.clone(),
                    owner_unit: draft.owner_unit.clone(),
                    unit: draft.unit.clone(),
                    action: draft.action,
                    round,
                    items: draft.items.iter().map(ItemId::name).collect(),
                    cites: draft.cites.iter().map(SupervisionId::name).collect(),
                    finding: draft.finding.clone(),
                    demand: draft.demand.clone(),
                    opened_item: opened.as_ref().map(|item| item.id.clone()),
                    recorded_by: context.caller.subject.clone(),
                    create_time: now,
                };
                let saved = store::insert_supervision(connection, &record).await?;
                let mut outcome = entry_outcome(&name, "supervision.recorded", None, saved)?;
                if let Some(item) = opened {
                    store::insert_items(connection, std::slice::from_ref(&item)).await?;
                    outcome
                        .changes
                        .push(Change::of(item.id.name(), None::<&Item>, Some(&item))?);
                    outcome.events.push(NewEvent {
                        event_type: "rectification.opened",
                        resource: item.id.name(),
                        payload: fazhi_platform::mutation::to_json(&item)?,
                    });
                }
                Ok(outcome)
            },
        )
        .await
    }

    /// A record, to the office and the unit it is about.
    pub async fn get_supervision(
        &self,
        context: &CallContext,
        id: &SupervisionId,
    ) -> Result<SupervisionRecord> {
        let record = self.store.get_supervision(id).await?;
        if self
            .require_reader(context, &record.owner_unit)
            .await
            .is_err()
        {
            self.require_work_for(context, &record.unit).await?;
        }
        Ok(record)
    }

    /// An office's records (its coordinators, viewers) or a unit's (its staff and those who
    /// coordinate it), oldest first.
    pub async fn list_supervision(
        &self,
        context: &CallContext,
        (owner_unit, unit): (Option<&str>, Option<&str>),
        (after, size): (Option<(chrono::DateTime<chrono::Utc>, String)>, i64),
    ) -> Result<Page<SupervisionRecord, (chrono::DateTime<chrono::Utc>, String)>> {
        match (owner_unit, unit) {
            (Some(owner), None) => self.require_reader(context, owner).await?,
            (None, Some(unit)) => self.require_work_for(context, unit).await?,
            _ => return Err(one_of_owner_or_unit()),
        }
        self.store
            .list_supervision((owner_unit, unit), after, size)
            .await
    }
}
