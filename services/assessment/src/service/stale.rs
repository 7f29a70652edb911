//! Rounds marked stale (过期) when an input they froze changes in another service: applied once
//! per event of that service (the inbox), with the cursor in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use fazhi_platform::call::CallContext;
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};

use super::AssessmentBook;
use crate::domain::{InputChange, Needs, SchemeId};
use crate::error::Result;
use crate::store;

/// What one event of another service changed: for each unit, what and why (in Chinese).
pub type Changed = Vec<(String, InputChange, String)>;

impl AssessmentBook {
    /// Applies one event of `stream` (`indicators` or `plans`) that happened at `occurred`:
    /// marks stale every latest round run before it that froze what it changed, and moves the
    /// cursor, once. Answers how many were marked.
    pub async fn apply_input_event(
        &self,
        context: &CallContext,
        (stream, sequence, occurred): (&str, i64, Option<DateTime<Utc>>),
        changed: Changed,
    ) -> Result<usize> {
        let mut stale: Vec<(String, String)> = Vec::new();
        let mut needs: HashMap<(String, i64), Needs> = HashMap::new();
        for (unit, change, reason) in &changed {
            for live in self.store.live_rounds_of(unit).await? {
                // A round run after the change froze it already.
                if occurred.is_some_and(|occurred| occurred <= live.create_time) {
                    continue;
                }
                let key = (live.scheme_id.clone(), live.scheme_version);
                if !needs.contains_key(&key) {
                    let scheme = self
                        .store
                        .scheme_version(&SchemeId::from_trusted(key.0.clone()), key.1)
                        .await?;
                    needs.insert(key.clone(), Needs::of(&scheme));
                }
                if change.touches(&live.period, &needs[&key]) {
                    stale.push((live.id, reason.clone()));
                }
            }
        }
        let now = context.clock.now();
        let marked = mutation::apply_once(
            self.store.pool(),
            self.store.journal(),
            context,
            (stream, sequence),
            async |connection| {
                let mut outcome = Outcome {
                    response: 0,
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                for (id, reason) in &stale {
                    for round in
                        store::mark_stale(connection, std::slice::from_ref(id), (reason, now))
                            .await?
                    {
                        outcome.changes.push(Change::of(
                            round.id.name(),
                            None::<&()>,
                            Some(&round.stale),
                        )?);
                        outcome.events.push(NewEvent {
                            event_type: "round.stale",
                            resource: round.id.name(),
                            payload: mutation::to_json(&round)?,
                        });
                        outcome.response += 1;
                    }
                }
                Ok::<_, crate::error::AssessmentError>(outcome)
            },
        )
        .await?;
        Ok(marked.unwrap_or_default())
    }
}
