//! Target statuses followed as values change (目标达成情况变动): a follower of this service's own
//! outbox re-evaluates, after each approval or reopening of a unit's value, the targets that read
//! its element for that unit — for the value's period and the year holding it, and the year after
//! for trends — and publishes `target.status_changed` when a verdict differs from the last one
//! seen. Each event is applied once: the cursor advances in the transaction that records the
//! statuses and publishes the changes (`mutation::apply_once`).

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_platform::outbox;
use fazhi_units_client::UnitId;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{
    DataValue, Period, PeriodType, StatusChange, Target, TargetKind, TargetStatus,
};
use crate::error::{IndicatorsError, Result};
use crate::service::{IndicatorBook, Scope};
use crate::store::{self, SCHEMA};

const STREAM: &str = "indicators.target_statuses";
const BATCH: i64 = 200;

/// Runs until the process ends: follows the outbox, resting `every` when it has caught up.
pub async fn follow_target_statuses(book: IndicatorBook, token: SecretString, every: Duration) {
    let context = CallContext::system(
        "fazhi.indicators.v1/FollowTargetStatuses",
        Credentials::bearer(format!("Bearer {}", token.expose_secret())),
    );
    loop {
        match book.follow_target_statuses(&context).await {
            Ok(0) => tokio::time::sleep(every).await,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = ?error, "following target statuses");
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// One verdict to record: target, unit, period, status.
type Verdict = (Target, String, String, TargetStatus);

impl IndicatorBook {
    /// Applies the next events of the outbox; answers how many it read.
    pub async fn follow_target_statuses(&self, context: &CallContext) -> Result<usize> {
        let after = mutation::cursor(self.store().pool(), SCHEMA, STREAM).await?;
        let events = outbox::read_after(self.store().pool(), SCHEMA, after, BATCH).await?;
        for event in &events {
            let verdicts = match event.event_type.as_str() {
                "data_value.approved" | "data_value.reopened" => {
                    match serde_json::from_value::<DataValue>(event.payload.clone()) {
                        Ok(value) => self.verdicts_after(context, &value).await?,
                        Err(_) => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            mutation::apply_once(
                self.store().pool(),
                self.store().journal(),
                context,
                (STREAM, event.sequence),
                async |connection| {
                    let mut outcome = Outcome {
                        response: (),
                        changes: Vec::new(),
                        events: Vec::new(),
                    };
                    for (target, unit, period, status) in &verdicts {
                        let before =
                            store::record_status(connection, &target.id, unit, period, *status)
                                .await?;
                        // A first verdict is news when it is one; a first "no data" is not.
                        let news = before.is_some()
                            || matches!(status, TargetStatus::Met | TargetStatus::NotMet);
                        if before == Some(*status) || !news {
                            continue;
                        }
                        let resource =
                            format!("{}/units/{unit}/periods/{period}", target.id.name());
                        let change = StatusChange {
                            target: target.id.clone(),
                            unit: unit.clone(),
                            period: period.clone(),
                            status: *status,
                            previous_status: before,
                        };
                        outcome
                            .changes
                            .push(Change::of(&resource, before.as_ref(), Some(status))?);
                        outcome.events.push(NewEvent {
                            event_type: "target.status_changed",
                            resource,
                            payload: mutation::to_json(&change)?,
                        });
                    }
                    Ok::<_, IndicatorsError>(outcome)
                },
            )
            .await?;
        }
        Ok(events.len())
    }

    /// The verdicts, for the value's unit, of every target that reads its element (and the
    /// composites made of them) for the periods the value counts in.
    async fn verdicts_after(
        &self,
        context: &CallContext,
        value: &DataValue,
    ) -> Result<Vec<Verdict>> {
        let Some(unit) = &value.unit else {
            // A central series changes every unit's verdicts: left to evaluation on read.
            return Ok(Vec::new());
        };
        let Ok(period) = Period::parse(&value.period) else {
            return Ok(Vec::new());
        };
        let catalogue = self.catalogue().await?;
        let Some(code) = catalogue
            .elements
            .iter()
            .find(|element| element.id == value.data_element)
            .map(|element| element.code.clone())
        else {
            return Ok(Vec::new());
        };
        let reads = |target: &Target| {
            let by_indicator = target
                .indicator
                .as_ref()
                .and_then(|id| catalogue.indicator(id))
                .is_some_and(|indicator| indicator.data_element_codes.contains(&code));
            by_indicator
                || matches!(&target.kind, TargetKind::Reference { reference_code, .. } if *reference_code == code)
        };
        let direct: Vec<&Target> = catalogue
            .targets
            .iter()
            .filter(|target| reads(target))
            .collect();
        let wholes = catalogue.targets.iter().filter(|whole| {
            matches!(&whole.kind, TargetKind::AllOf(parts) | TargetKind::AnyOf(parts)
                if direct.iter().any(|part| parts.contains(&part.id)))
        });
        let targets: Vec<&Target> = direct.iter().copied().chain(wholes).collect();
        let year = Period::containing(PeriodType::Year, period.start);
        let next_year =
            year.and_then(|year| Period::containing(PeriodType::Year, year.end.succ_opt()?));
        let mut periods = vec![period];
        periods.extend(year.filter(|year| *year != period));
        let mut verdicts = Vec::new();
        for target in targets {
            // A year's value is also the "previous" of the next year's trend.
            let trend = matches!(target.kind, TargetKind::Trend)
                .then_some(next_year)
                .flatten();
            for period in periods.iter().chain(trend.iter()) {
                let scope = Scope {
                    unit: UnitId::from_trusted(unit.clone()),
                    period: *period,
                    include_descendants: false,
                    include_submitted: false,
                };
                let evaluation = self.evaluate_target(context, &target.id, &scope).await?;
                verdicts.push((
                    target.clone(),
                    unit.clone(),
                    period.id(),
                    evaluation.verdict.status,
                ));
            }
        }
        Ok(verdicts)
    }
}
