//! What the service does on its own: the ledger sweep that announces overdue items
//! (`rectification.overdue`), safe with several replicas (an item is marked in the transaction
//! that publishes its event, and only once).

use std::time::Duration;

use fazhi_platform::call::{CallContext, Credentials};

use crate::service::AssessmentBook;

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
