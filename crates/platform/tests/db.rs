//! Postgres errors classified for the caller: what is the caller's input is not our fault.

#![allow(clippy::unwrap_used)]

use fazhi_platform::error::{DescribeError, PlatformError};
use fazhi_testkit::TestDatabase;

#[tokio::test]
async fn text_postgres_cannot_store_is_invalid_argument() {
    let database = TestDatabase::new().await;
    let error = sqlx::query("SELECT $1::text")
        .bind("市司法局\0")
        .execute(&database.pool)
        .await
        .unwrap_err();
    let error = PlatformError::from(error);
    let description = error.describe();
    assert_eq!(description.code, tonic::Code::InvalidArgument, "{error:?}");
    assert_eq!(description.violations[0].reason, "INVALID_TEXT");
}

/// A call cancelled while its `BEGIN` is on the wire (a client gone, a deadline) must not leave
/// the session inside a transaction for the next borrower: sqlx 0.9.0 counts the transaction only
/// once `BEGIN` is answered, so a future dropped in between returns an open transaction to the
/// pool (transact-rs/sqlx#4393). Cancelled at moments spread over the round trip, one connection.
#[tokio::test]
async fn a_transaction_cancelled_while_beginning_leaves_no_open_transaction_in_the_pool() {
    let database = TestDatabase::new().await;
    let mut settings = database.settings();
    settings.max_connections = 1;
    let pool = fazhi_platform::db::connect(&settings, "fazhi-test")
        .await
        .unwrap();
    let mut leaked = 0;
    for attempt in 0..400_u64 {
        let wait = std::time::Duration::from_micros(attempt % 40 * 10);
        let _ = tokio::time::timeout(wait, fazhi_platform::db::begin(&pool)).await;
        // A savepoint can only be set inside a transaction block.
        let in_transaction = sqlx::raw_sql("SAVEPOINT probe")
            .execute(&pool)
            .await
            .is_ok();
        leaked += u32::from(in_transaction);
        if in_transaction {
            sqlx::query("ROLLBACK").execute(&pool).await.unwrap();
        }
    }
    assert_eq!(leaked, 0, "connections handed out inside a transaction");
}
