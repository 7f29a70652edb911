//! What the service does on its own: the ledger sweep that announces overdue items
//! (`rectification.overdue`), safe with several replicas (an item is marked in the transaction
//! that publishes its event, and only once); and following the indicators and plans services'
//! events to mark stale the rounds whose frozen inputs they change (cursors `indicators` and
//! `plans` in `assessment.consumer_cursors`, moved in the transaction that marks).

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};
use fazhi_platform::mutation;
use fazhi_proto::plans::v1 as plans;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::InputChange;
use crate::error::{AssessmentError, Result};
use crate::service::{AssessmentBook, Changed};
use crate::store::SCHEMA;

/// Runs until the process ends; a failed sweep is logged and tried again at the next tick.
pub async fn sweep_overdue_items(book: AssessmentBook, every: Duration) {
    let context = CallContext::system(
        "fazhi.assessment.v1/SweepOverdueItems",
        Credentials::default(),
    );
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match book.sweep_overdue_items(&context).await {
            Ok(0) => {}
            Ok(overdue) => tracing::info!(overdue, "overdue rectification items announced"),
            Err(error) => tracing::warn!(error = ?error, "sweeping overdue rectification items"),
        }
    }
}

/// Follows the indicators and plans services' events until the process ends, marking stale
/// the rounds whose frozen inputs they change; each stream reconnects with backoff.
pub async fn follow_input_changes(book: AssessmentBook, token: SecretString) {
    let context = CallContext::system(
        "fazhi.assessment.v1/FollowInputChanges",
        Credentials::bearer(format!("Bearer {}", token.expose_secret())),
    );
    tokio::join!(
        retrying(&book, &context, Followed::Indicators),
        retrying(&book, &context, Followed::Plans),
    );
}

#[derive(Debug, Clone, Copy)]
enum Followed {
    Indicators,
    Plans,
}

async fn retrying(book: &AssessmentBook, context: &CallContext, stream: Followed) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let followed = match stream {
            Followed::Indicators => follow_indicators(book, context).await,
            Followed::Plans => follow_plans(book, context).await,
        };
        match followed {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(error) => {
                tracing::warn!(?stream, error = ?error, retry_in_ms = backoff.as_millis() as u64, "following input changes");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Other events only move the cursor every so often: reading a few again after a restart is
/// free.
const CURSOR_EVERY: i64 = 500;

fn time_of(timestamp: &prost_types::Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(timestamp.seconds, u32::try_from(timestamp.nanos).ok()?)
}

fn bare(name: &str) -> String {
    name.trim_start_matches("units/").to_owned()
}

/// Data values approved or reopened: the figures and verdicts of their period move.
async fn follow_indicators(book: &AssessmentBook, context: &CallContext) -> Result<()> {
    const STREAM: &str = "indicators";
    let mut applied = mutation::cursor(book.store().pool(), SCHEMA, STREAM).await?;
    let mut events = book.sources().indicator_events(context, applied).await?;
    while let Some(response) = events
        .message()
        .await
        .map_err(|status| AssessmentError::Unavailable("indicators", status.message().to_owned()))?
    {
        let Some(event) = response.event else {
            continue;
        };
        let occurred = event.occur_time.as_ref().and_then(time_of);
        let said = match event.r#type.as_str() {
            "data_value.approved" => "已审核通过",
            "data_value.reopened" => "已退回重报",
            _ => "",
        };
        let changed: Changed = match (said, event.data_value) {
            ("", _) | (_, None) => Vec::new(),
            (said, Some(value)) => vec![(
                bare(&value.unit),
                InputChange::Figures {
                    period: value.period.clone(),
                },
                format!(
                    "{}({},{})的数据{said}(指标服务事件 {})",
                    value.data_element, value.unit, value.period, event.sequence
                ),
            )],
        };
        if changed.is_empty() && event.sequence - applied < CURSOR_EVERY {
            continue;
        }
        let marked = book
            .apply_input_event(context, (STREAM, event.sequence, occurred), changed)
            .await?;
        if marked > 0 {
            tracing::info!(marked, sequence = event.sequence, "rounds marked stale");
        }
        applied = event.sequence;
    }
    Ok(())
}

/// Assignments completed or given to another unit: the plan's task counts move.
async fn follow_plans(book: &AssessmentBook, context: &CallContext) -> Result<()> {
    const STREAM: &str = "plans";
    let mut applied = mutation::cursor(book.store().pool(), SCHEMA, STREAM).await?;
    let mut events = book
        .sources()
        .plans
        .watch_events(context, applied)
        .await
        .map_err(|error| AssessmentError::upstream("plans", error))?;
    while let Some(response) = events
        .message()
        .await
        .map_err(|status| AssessmentError::Unavailable("plans", status.message().to_owned()))?
    {
        let Some(event) = response.event else {
            continue;
        };
        let occurred = event.occur_time.as_ref().and_then(time_of);
        let plan_of = |assignment: &str| {
            assignment
                .split("/assignments/")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let changed: Changed = match event.payload {
            Some(plans::plan_event::Payload::ProgressReported(reported)) => reported
                .assignment
                .filter(|assignment| assignment.state() == plans::AssignmentState::Completed)
                .map(|assignment| {
                    vec![(
                        bare(&assignment.unit),
                        InputChange::Tasks {
                            plan: plan_of(&assignment.name),
                        },
                        format!(
                            "任务 {} 已完成(规划服务事件 {})",
                            assignment.name, event.sequence
                        ),
                    )]
                })
                .unwrap_or_default(),
            Some(plans::plan_event::Payload::AssignmentReassigned(moved)) => moved
                .assignment
                .map(|assignment| {
                    let reason = format!(
                        "任务 {} 由 {} 改派 {}(规划服务事件 {})",
                        assignment.name, moved.previous_unit, assignment.unit, event.sequence
                    );
                    let change = InputChange::Tasks {
                        plan: plan_of(&assignment.name),
                    };
                    vec![
                        (bare(&assignment.unit), change.clone(), reason.clone()),
                        (bare(&moved.previous_unit), change, reason),
                    ]
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if changed.is_empty() && event.sequence - applied < CURSOR_EVERY {
            continue;
        }
        let marked = book
            .apply_input_event(context, (STREAM, event.sequence, occurred), changed)
            .await?;
        if marked > 0 {
            tracing::info!(marked, sequence = event.sequence, "rounds marked stale");
        }
        applied = event.sequence;
    }
    Ok(())
}
