//! The background sweep that chases overdue returns (催报): every `returns.sweep_seconds`, the
//! data sets whose latest period fell due are swept once for units that have not submitted
//! ([`IndicatorBook::chase_overdue_returns`]). Safe with several replicas: a sweep is recorded
//! in the transaction that publishes its events, and only one can record it.

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};
use secrecy::{ExposeSecret, SecretString};

use crate::service::IndicatorBook;

/// Runs until the process ends; a failed sweep is logged and tried again at the next tick.
pub async fn chase_overdue_returns(book: IndicatorBook, token: SecretString, every: Duration) {
    let context = CallContext::system(
        "fazhi.indicators.v1/ChaseOverdueReturns",
        Credentials::bearer(format!("Bearer {}", token.expose_secret())),
    );
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match book.chase_overdue_returns(&context).await {
            Ok(0) => {}
            Ok(overdue) => tracing::info!(overdue, "overdue returns chased"),
            Err(error) => tracing::warn!(error = ?error, "chasing overdue returns"),
        }
    }
}
