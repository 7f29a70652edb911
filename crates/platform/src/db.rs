//! Postgres: the pool with session limits, and migrations.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

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
    #[error("platform tables could not be set up: {0}")]
    PlatformTables(#[source] sqlx::Error),
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

/// Runs a service's migrations, then the platform's own for the same schema. sqlx holds an
/// advisory lock meanwhile, so replicas starting together apply each migration once; each
/// service keeps its migrations table in its schema.
///
/// The platform tables come after the service's migrations because the first two services'
/// `0001` migrations create them themselves (append-only, so they stay); the platform steps are
/// written to be no-ops where the tables exist, and a new service's migrations never mention them.
pub async fn migrate(
    pool: &PgPool,
    schema: &'static str,
    migrator: &Migrator,
) -> Result<(), DatabaseSetupError> {
    migrator.run(pool).await?;
    platform_tables(pool, schema)
        .await
        .map_err(DatabaseSetupError::PlatformTables)
}

/// The platform's tables in a service's schema, one step per version, each applied once
/// (recorded in `{schema}.platform_migrations`). Append-only, like every migration.
const PLATFORM_STEPS: [(i32, &str); 2] = [
    (
        1,
        "CREATE TABLE IF NOT EXISTS {schema}.audit_log (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at          timestamptz NOT NULL DEFAULT now(),
        subject     text NOT NULL,
        caller_unit text,
        roles       text[] NOT NULL,
        method      text NOT NULL,
        resource    text NOT NULL,
        before      jsonb,
        after       jsonb,
        result      text NOT NULL,
        request_id  text
    );
    CREATE INDEX IF NOT EXISTS audit_log_resource ON {schema}.audit_log (resource, at);
    CREATE TABLE IF NOT EXISTS {schema}.idempotency (
        subject     text NOT NULL,
        request_id  text NOT NULL,
        method      text NOT NULL,
        fingerprint bytea NOT NULL,
        response    jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subject, request_id)
    );
    CREATE TABLE IF NOT EXISTS {schema}.events (
        sequence    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_type  text NOT NULL,
        resource    text NOT NULL,
        payload     jsonb NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS {schema}.consumer_cursors (
        stream   text PRIMARY KEY,
        sequence bigint NOT NULL
    );",
    ),
    (
        // The audit log is append-only whoever asks, and each row carries its seal
        // (`crate::audit`); rows from before have none.
        2,
        "ALTER TABLE {schema}.audit_log ADD COLUMN IF NOT EXISTS chain bytea;
    CREATE OR REPLACE FUNCTION {schema}.audit_log_is_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {schema}.audit_log
        FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_is_append_only();
    CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON {schema}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_is_append_only();",
    ),
];

async fn platform_tables(pool: &PgPool, schema: &'static str) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    // Replicas starting together take turns; the lock ends with the transaction.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{schema}.platform_migrations"))
        .execute(&mut *transaction)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.platform_migrations (
             version    int PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    )))
    .execute(&mut *transaction)
    .await?;
    let applied: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {schema}.platform_migrations"
    )))
    .fetch_all(&mut *transaction)
    .await?;
    for (version, step) in PLATFORM_STEPS {
        if applied.contains(&version) {
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(step.replace("{schema}", schema)))
            .execute(&mut *transaction)
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {schema}.platform_migrations (version) VALUES ($1)"
        )))
        .bind(version)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
