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

/// Reads on a pool of `connections` to the test database, with the sessions' settings.
async fn reads_on(database: &TestDatabase, connections: u32) -> fazhi_platform::reads::Reads {
    let mut settings = database.settings();
    settings.max_connections = connections;
    fazhi_platform::reads::Reads::new(
        fazhi_platform::db::connect(&settings, "fazhi-test")
            .await
            .unwrap(),
    )
}

/// Whether a statement with `marker` in its text still runs in the database, waiting up to 3 s
/// for it to end.
async fn still_running_after_wait(database: &TestDatabase, marker: &str) -> bool {
    for _ in 0..30 {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'active'
               AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
        )
        .bind(marker)
        .fetch_one(&database.pool)
        .await
        .unwrap();
        if running == 0 {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    true
}

/// A read whose call is dropped (its deadline passed, its client went away) stops in Postgres
/// instead of running on for nobody until `statement_timeout`, whether it went through the reads
/// pool or a connection taken from it; the pool serves the next read.
#[tokio::test]
async fn a_read_dropped_mid_statement_stops_in_postgres() {
    let database = TestDatabase::new().await;
    let reads = reads_on(&database, 2).await;
    let wait = std::time::Duration::from_millis(300);

    let on_pool = sqlx::query("SELECT pg_sleep(20), 'probe-on-pool'").fetch_optional(&reads);
    assert!(tokio::time::timeout(wait, on_pool).await.is_err());
    assert!(!still_running_after_wait(&database, "probe-on-pool").await);

    let on_connection = async {
        let mut connection = reads.acquire().await?;
        sqlx::query("SELECT pg_sleep(20), 'probe-on-connection'")
            .fetch_all(&mut connection)
            .await
    };
    assert!(tokio::time::timeout(wait, on_connection).await.is_err());
    assert!(!still_running_after_wait(&database, "probe-on-connection").await);

    let answer: i32 = sqlx::query_scalar("SELECT 42")
        .fetch_one(&reads)
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

/// A read that finishes gives its connection back to the pool to be used again: closing it
/// would cost every call a new session.
#[tokio::test]
async fn a_finished_read_keeps_its_connection() {
    let database = TestDatabase::new().await;
    let reads = reads_on(&database, 1).await;
    let backend_on_pool = async || -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&reads)
            .await
            .unwrap()
    };
    let backend_on_connection = async || -> i32 {
        let mut connection = reads.acquire().await.unwrap();
        let pids: Vec<i32> = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_all(&mut connection)
            .await
            .unwrap();
        pids[0]
    };
    let first = backend_on_pool().await;
    assert_eq!(backend_on_connection().await, first);
    assert_eq!(backend_on_pool().await, first);
}
