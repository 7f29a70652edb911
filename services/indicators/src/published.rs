//! Proposed targets as plans are published: a follower of the plans service's events proposes
//! the targets of each published plan, as `ProposeTargets` would, under the service's own token.
//! Each plan once: the proposal is idempotent by a request id made of the event's sequence, and
//! the cursor (`indicators.consumer_cursors`, stream `plans`) advances after it, so a restart
//! between the two replays the first answer.

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};
use fazhi_platform::error::DescribeError;
use fazhi_platform::mutation::{self, Outcome};
use fazhi_proto::plans::v1 as plans;
use secrecy::{ExposeSecret, SecretString};
use tonic::Code;

use crate::error::{IndicatorsError, Result};
use crate::proposals::plans_error;
use crate::service::IndicatorBook;
use crate::store::SCHEMA;

const STREAM: &str = "plans";
/// Other events only move the cursor every so often: reading a few again after a restart is free.
const CURSOR_EVERY: i64 = 500;

/// Runs until the process ends, reconnecting with backoff when the plans service is away.
pub async fn follow_published_plans(book: IndicatorBook, token: SecretString) {
    let context = CallContext::system(
        "fazhi.indicators.v1/ProposePublishedPlans",
        Credentials::bearer(format!("Bearer {}", token.expose_secret())),
    );
    let mut backoff = Duration::from_millis(200);
    loop {
        match book.follow_published_plans(&context).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(error) => {
                tracing::warn!(error = ?error, retry_in_ms = backoff.as_millis() as u64, "following plan events");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

impl IndicatorBook {
    /// Reads the plans service's events from the cursor until the stream ends, proposing the
    /// targets of each plan published.
    pub async fn follow_published_plans(&self, context: &CallContext) -> Result<()> {
        let mut applied = mutation::cursor(self.store().pool(), SCHEMA, STREAM).await?;
        let mut events = self
            .plans()
            .watch_events(context, applied)
            .await
            .map_err(plans_error)?;
        while let Some(response) = events
            .message()
            .await
            .map_err(|status| IndicatorsError::PlansUnavailable(status.to_string()))?
        {
            let Some(event) = response.event else {
                continue;
            };
            let published = match event.payload {
                Some(plans::plan_event::Payload::PlanPublished(published)) => {
                    published.plan.map(|plan| plan.name)
                }
                _ => None,
            };
            match published {
                Some(plan) => {
                    let mut proposing = context.clone();
                    proposing.request_id = Some(format!("plans-event-{}", event.sequence));
                    match self.propose_targets(&proposing, &plan).await {
                        Ok(proposed) => {
                            tracing::info!(%plan, proposed = proposed.len(), "targets proposed")
                        }
                        // A refusal stays a refusal on every retry: logged, and passed by.
                        Err(error)
                            if matches!(
                                error.describe().code,
                                Code::InvalidArgument
                                    | Code::NotFound
                                    | Code::PermissionDenied
                                    | Code::FailedPrecondition
                            ) =>
                        {
                            tracing::warn!(%plan, error = ?error, "targets not proposed")
                        }
                        Err(error) => return Err(error),
                    }
                }
                None if event.sequence - applied < CURSOR_EVERY => continue,
                None => {}
            }
            mutation::apply_once(
                self.store().pool(),
                self.store().journal(),
                context,
                (STREAM, event.sequence),
                async |_| {
                    Ok::<_, IndicatorsError>(Outcome {
                        response: (),
                        changes: Vec::new(),
                        events: Vec::new(),
                    })
                },
            )
            .await?;
            applied = event.sequence;
        }
        Ok(())
    }
}
