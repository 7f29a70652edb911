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
