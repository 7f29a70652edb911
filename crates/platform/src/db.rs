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
    connect_to(url, settings, application_name, None).await
}

/// Begins a transaction on a pooled connection so that dropping the caller's future cannot
/// interrupt `BEGIN` itself: sqlx 0.9.0 counts the transaction only once `BEGIN` is answered, so
/// a future dropped in between (a client gone, a deadline) would hand the next borrower a
/// connection inside a transaction nobody rolls back (transact-rs/sqlx#4393, fixed upstream
/// after 0.9.0). In a task of its own `BEGIN` completes; a transaction no one awaits any more is
/// then dropped and rolled back as usual.
pub async fn begin(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?
}

/// The pool a service's migrations run on: `database.migration_url` (its schema's owner) when
/// set, else the service's own pool.
pub async fn migration_pool(
    settings: &DatabaseSettings,
    pool: &PgPool,
    application_name: &str,
) -> Result<PgPool, DatabaseSetupError> {
    match &settings.migration_url {
        Some(url) => connect_to(url, settings, application_name, None).await,
        None => Ok(pool.clone()),
    }
}

/// A pool on an administrator's connection whose sessions act as `role` (`SET ROLE`), for
/// `fazhi dev` and the tests, which have one superuser login and must still run each service
/// with its own role's grants.
pub async fn connect_as_role(
    settings: &DatabaseSettings,
    application_name: &str,
    role: &str,
) -> Result<PgPool, DatabaseSetupError> {
    let url = settings
        .url
        .as_ref()
        .ok_or(DatabaseSetupError::MissingUrl)?;
    connect_to(url, settings, application_name, Some(role)).await
}

async fn connect_to(
    url: &secrecy::SecretString,
    settings: &DatabaseSettings,
    application_name: &str,
    role: Option<&str>,
) -> Result<PgPool, DatabaseSetupError> {
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
            // Short statements only: JIT pays off for long analytic scans, and a recursive
            // query whose estimate is far off (one parent with 15,000 children) spent ~1 s
            // compiling itself to run in 100 ms (fault matrix, client deadlines row).
            ("jit", "off".to_owned()),
            // How a read whose caller went away ends in Postgres: `reads` closes its connection,
            // and a running statement notices the closed socket at the next check (Postgres ≥ 14).
            ("client_connection_check_interval", "250".to_owned()),
        ]);
    let set_role = role.map(|role| format!("SET ROLE {}", quote_identifier(role)));
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        // sqlx pings every connection it hands out by default: a round trip per statement that
        // doubled the read path's cost (load bench). A connection that broke meanwhile fails its
        // statement instead, and the database watch takes the service out while Postgres is away.
        .test_before_acquire(false)
        .after_connect(move |connection, _| {
            let set_role = set_role.clone();
            Box::pin(async move {
                if let Some(set_role) = set_role {
                    sqlx::raw_sql(AssertSqlSafe(set_role))
                        .execute(connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(DatabaseSetupError::Connect)
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The role a service runs as: it may read and write its own schema's tables, only insert into
/// and read its audit log, and reach no other schema.
pub fn runtime_role(schema: &str) -> String {
    format!("fazhi_{schema}")
}

/// The role that owns a service's schema and runs its migrations; no service runs as it.
pub fn owner_role(schema: &str) -> String {
    format!("fazhi_{schema}_owner")
}

/// Creates a service's two roles (if absent) and its schema owned by the owner, as an
/// administrator (a superuser or a `CREATEROLE` role). `fazhi dev` and the tests do this; in a
/// cluster the operator's managed roles do (`deploy/`). Roles are shared by the databases of a
/// cluster, so concurrent callers (tests in parallel) may race to create them: the loser's
/// duplicate is ignored.
pub async fn provision(admin: &PgPool, schema: &'static str) -> Result<(), DatabaseSetupError> {
    let owner = owner_role(schema);
    let runtime = runtime_role(schema);
    let create_role = |role: &str, login: &str| {
        format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} {login};
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;"
        )
    };
    let script = format!(
        "{}
         {}
         DO $$ BEGIN
             EXECUTE format('GRANT CREATE ON DATABASE %I TO {owner}', current_database());
         END $$;
         CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner};",
        create_role(&owner, "NOLOGIN"),
        create_role(&runtime, "LOGIN"),
    );
    sqlx::raw_sql(AssertSqlSafe(script))
        .execute(admin)
        .await
        .map_err(DatabaseSetupError::PlatformTables)?;
    Ok(())
}

/// Gives the runtime role (when it exists) what it needs of the schema's tables, on every
/// migration, so tables added since are covered: data and platform tables read and written,
/// the audit log only inserted into and read. Runs as the schema's owner.
async fn grant_runtime(
    connection: &mut sqlx::PgConnection,
    schema: &'static str,
) -> Result<(), sqlx::Error> {
    let runtime = runtime_role(schema);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DO $$ DECLARE partition regclass; BEGIN
             IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{runtime}') THEN
                 GRANT USAGE ON SCHEMA {schema} TO {runtime};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {runtime};
                 REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {schema}.audit_log FROM {runtime};
                 GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {runtime};
                 -- Absent while upgrading through the steps before partitions.
                 IF to_regclass('{schema}.audit_log_pruned') IS NOT NULL THEN
                     REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.audit_log_pruned FROM {runtime};
                     GRANT EXECUTE ON FUNCTION {schema}.audit_log_extend(timestamptz) TO {runtime};
                 END IF;
                 -- Rows are reached through the log itself, never a partition directly.
                 FOR partition IN SELECT inhrelid::regclass FROM pg_inherits
                                  WHERE inhparent = '{schema}.audit_log'::regclass LOOP
                     EXECUTE format('REVOKE ALL ON %s FROM {runtime}', partition);
                 END LOOP;
             END IF;
         END $$;"
    )))
    .execute(connection)
    .await?;
    Ok(())
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
    platform_tables_through(pool, schema, i32::MAX).await
}

/// The platform's steps up to `version` only, for tests of an upgrade from an older layout
/// ([`migrate`] runs them all).
pub async fn platform_tables_through(
    pool: &PgPool,
    schema: &'static str,
    version: i32,
) -> Result<(), DatabaseSetupError> {
    platform_tables(pool, schema, version)
        .await
        .map_err(DatabaseSetupError::PlatformTables)
}

/// The platform's tables in a service's schema, one step per version, each applied once
/// (recorded in `{schema}.platform_migrations`). Append-only, like every migration.
const PLATFORM_STEPS: [(i32, &str); 4] = [
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
    (
        // Monthly partitions (UTC months), so that a retention can end by dropping whole months
        // (`audit_log_prune`) without ever deleting a row. The rows move as they are, seals
        // and ids included; the identity goes on from the last id. `audit_log_extend` keeps
        // three months ahead (run by the service, which may not create tables itself: it is
        // SECURITY DEFINER); the default partition only catches what it missed. TRUNCATE
        // triggers are per table, so every partition gets its own.
        3,
        "ALTER TABLE {schema}.audit_log RENAME TO audit_log_unpartitioned;
    ALTER INDEX {schema}.audit_log_pkey RENAME TO audit_log_unpartitioned_pkey;
    ALTER INDEX {schema}.audit_log_resource RENAME TO audit_log_unpartitioned_resource;
    CREATE TABLE {schema}.audit_log (
        LIKE {schema}.audit_log_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY,
        PRIMARY KEY (id, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX audit_log_resource ON {schema}.audit_log (resource, at);
    CREATE TABLE {schema}.audit_log_default PARTITION OF {schema}.audit_log DEFAULT;
    CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON {schema}.audit_log_default
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_is_append_only();
    CREATE TABLE {schema}.audit_log_pruned (
        through_id bigint NOT NULL,
        chain      bytea,
        before     timestamptz NOT NULL,
        rows       bigint NOT NULL,
        pruned_at  timestamptz NOT NULL DEFAULT now(),
        pruned_by  text NOT NULL DEFAULT current_user
    );
    CREATE FUNCTION {schema}.audit_log_extend(since timestamptz) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
        DECLARE
            month timestamptz := date_trunc('month', since);
            last timestamptz := date_trunc('month', now()) + interval '3 months';
            partition text;
            waiting bigint;
        BEGIN
            -- Replicas extend in turn (two CREATEs of one partition: one would fail).
            PERFORM pg_advisory_xact_lock(hashtext('{schema}.audit_log_extend'));
            WHILE month <= last LOOP
                partition := 'audit_log_p' || to_char(month, 'YYYY_MM');
                IF to_regclass('{schema}.' || partition) IS NULL AND NOT EXISTS (
                    SELECT FROM {schema}.audit_log_default
                    WHERE at >= month AND at < month + interval '1 month'
                ) THEN
                    EXECUTE format(
                        'CREATE TABLE {schema}.%I PARTITION OF {schema}.audit_log
                             FOR VALUES FROM (%L) TO (%L)',
                        partition, month, month + interval '1 month');
                    EXECUTE format(
                        'CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON {schema}.%I
                             FOR EACH STATEMENT
                             EXECUTE FUNCTION {schema}.audit_log_is_append_only()',
                        partition);
                END IF;
                month := month + interval '1 month';
            END LOOP;
            SELECT count(*) INTO waiting FROM {schema}.audit_log_default;
            RETURN waiting;
        END
        $$;
    REVOKE ALL ON FUNCTION {schema}.audit_log_extend(timestamptz) FROM PUBLIC;
    CREATE FUNCTION {schema}.audit_log_prune(before timestamptz) RETURNS bigint
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
        DECLARE
            dropped oid[];
            anchor record;
            removed bigint;
            partition regclass;
        BEGIN
            IF before > now() - interval '180 days' THEN
                RAISE EXCEPTION 'audit rows are kept at least 180 days: % is too recent', before
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            SELECT coalesce(array_agg(child.oid), '{}') INTO dropped
            FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE pg_inherits.inhparent = '{schema}.audit_log'::regclass
              AND child.relname ~ '^audit_log_p[0-9]{4}_[0-9]{2}$'
              AND to_timestamp(substr(child.relname, 12), 'YYYY_MM') + interval '1 month'
                  <= date_trunc('month', before);
            SELECT count(*) INTO removed FROM {schema}.audit_log WHERE tableoid = ANY(dropped);
            SELECT id, chain INTO anchor FROM {schema}.audit_log
            WHERE tableoid = ANY(dropped) ORDER BY id DESC LIMIT 1;
            IF removed > 0 THEN
                INSERT INTO {schema}.audit_log_pruned (through_id, chain, before, rows)
                VALUES (anchor.id, anchor.chain, date_trunc('month', before), removed);
            END IF;
            FOREACH partition IN ARRAY dropped::regclass[] LOOP
                EXECUTE format('DROP TABLE %s', partition);
            END LOOP;
            RETURN removed;
        END
        $$;
    REVOKE ALL ON FUNCTION {schema}.audit_log_prune(timestamptz) FROM PUBLIC;
    SELECT {schema}.audit_log_extend(
        coalesce((SELECT min(at) FROM {schema}.audit_log_unpartitioned), now()));
    INSERT INTO {schema}.audit_log OVERRIDING SYSTEM VALUE
    SELECT * FROM {schema}.audit_log_unpartitioned;
    SELECT setval(pg_get_serial_sequence('{schema}.audit_log', 'id'), max(id))
    FROM {schema}.audit_log_unpartitioned HAVING max(id) IS NOT NULL;
    DROP TABLE {schema}.audit_log_unpartitioned;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {schema}.audit_log
        FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_is_append_only();
    CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON {schema}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_is_append_only();",
    ),
    (
        // The relay (`crate::relay`): each event keeps the W3C trace context of the call that
        // made it, so a consumer's spans join that trace; the relay's position per broker, and
        // the identity of this outbox (a new database numbers its events from 1 again).
        4,
        "ALTER TABLE {schema}.events ADD COLUMN IF NOT EXISTS trace_context jsonb;
    CREATE TABLE IF NOT EXISTS {schema}.relay_positions (
        relay      text PRIMARY KEY,
        outbox     uuid NOT NULL DEFAULT gen_random_uuid(),
        sequence   bigint NOT NULL,
        relayed_at timestamptz NOT NULL DEFAULT now()
    );",
    ),
];

async fn platform_tables(
    pool: &PgPool,
    schema: &'static str,
    through: i32,
) -> Result<(), sqlx::Error> {
    let mut transaction = begin(pool).await?;
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
        if applied.contains(&version) || version > through {
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
    // Under the same lock: concurrent GRANTs on one table fail ("tuple concurrently updated").
    grant_runtime(&mut transaction, schema).await?;
    transaction.commit().await
}
