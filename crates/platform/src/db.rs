//! Postgres: the pool with session limits, and migrations.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::settings::DatabaseSettings;

/// Why the database could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseSetupError {
    #[error("database.url is not set")]
    MissingUrl,
    #[error("database.url is not a valid postgres url: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool whose every session carries the statement, lock and idle-transaction timeouts,
/// so a stuck query or a forgotten transaction cannot hold rows for long.
pub async fn connect(
    settings: &DatabaseSettings,
    application_name: &str,
) -> Result<PgPool, DatabaseSetupError> {
    let url = settings
        .url
        .as_ref()
        .ok_or(DatabaseSetupError::MissingUrl)?;
    let options = PgConnectOptions::from_str(url.expose_secret())
        .map_err(DatabaseSetupError::BadUrl)?
        .application_name(application_name)
        .options([
            (
                "statement_timeout",
                settings.statement_timeout_ms.to_string(),
            ),
            ("lock_timeout", settings.lock_timeout_ms.to_string()),
            (
                "idle_in_transaction_session_timeout",
                settings.idle_in_transaction_timeout_ms.to_string(),
            ),
        ]);
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_with(options)
        .await
        .map_err(DatabaseSetupError::Connect)
}

/// Runs a service's migrations. sqlx holds an advisory lock meanwhile, so replicas starting
/// together apply each migration once; each service keeps its migrations table in its schema.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> Result<(), DatabaseSetupError> {
    migrator.run(pool).await?;
    Ok(())
}
