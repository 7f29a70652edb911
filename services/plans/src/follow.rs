//! Follows the units service's events: a merge or split re-points open assignments to the
//! successor unit (see [`crate::domain::successor_moves`]). Resumes from its cursor in the
//! plans schema after a restart; safe with several replicas (the cursor row is locked).

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};
use fazhi_proto::units::v1 as units;
use fazhi_units_client::UnitsClient;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Reorganization, successor_moves};
use crate::error::Result;
use crate::service::PlanBook;

const STREAM: &str = "units";
/// Other events only move the cursor every so often: replaying a few after a restart is free.
const CURSOR_EVERY: i64 = 500;

/// Runs until the process ends, reconnecting with backoff when the units service is away.
pub async fn follow_reorganizations(book: PlanBook, units: UnitsClient, token: SecretString) {
    let context = CallContext::system(
        "fazhi.units.v1/UnitsReorganized",
        Credentials::bearer(format!("Bearer {}", token.expose_secret())),
    );
    let mut backoff = Duration::from_millis(200);
    loop {
        match follow_once(&book, &units, &context).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(error) => {
                tracing::warn!(error = ?error, retry_in_ms = backoff.as_millis() as u64, "following unit events");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn ids(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| name.trim_start_matches("units/").to_owned())
        .collect()
}

async fn follow_once(book: &PlanBook, units: &UnitsClient, context: &CallContext) -> Result<()> {
    let mut applied = book.cursor(STREAM).await?;
    let mut events = units.watch_events(context, applied).await?;
    while let Some(response) = events
        .message()
        .await
        .map_err(|status| crate::error::PlansError::UnitsUnavailable(status.to_string()))?
    {
        let Some(event) = response.event else {
            continue;
        };
        let reorganization = match event.payload {
            Some(units::unit_event::Payload::UnitsReorganized(reorganized)) => {
                reorganized.reorganization
            }
            _ => None,
        };
        let Some(reorganization) = reorganization else {
            if event.sequence - applied >= CURSOR_EVERY {
                book.apply_unit_moves(context, (STREAM, event.sequence), &[], "")
                    .await?;
                applied = event.sequence;
            }
            continue;
        };
        let (kind, label) = match units::ReorganizationKind::try_from(reorganization.kind) {
            Ok(units::ReorganizationKind::Merge) => (Reorganization::Merge, "合并"),
            Ok(units::ReorganizationKind::Split) => (Reorganization::Split, "拆分"),
            _ => (Reorganization::KeepsWork, ""),
        };
        let moves = successor_moves(
            kind,
            &ids(&reorganization.source_units),
            &ids(&reorganization.successor_units),
        );
        let reason = format!("机构改革({label}):{}", reorganization.note);
        let moved = book
            .apply_unit_moves(context, (STREAM, event.sequence), &moves, &reason)
            .await?
            .unwrap_or(0);
        applied = event.sequence;
        tracing::info!(
            sequence = event.sequence,
            moved,
            "applied a unit reorganisation"
        );
    }
    Ok(())
}
