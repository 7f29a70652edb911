//! Running one service as its own process (its `main.rs`), the same way every time: settings,
//! telemetry, the pool, migrations, authentication, its background work, the server until
//! SIGTERM. `fazhi dev` builds each service with the same `mount` functions instead.

use std::future::Future;
use std::pin::Pin;

use axum::response::IntoResponse;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::body::Body;
use tonic::server::NamedService;

use crate::auth::Authenticator;
use crate::server::{GrpcServer, shutdown_signal};
use crate::settings::{ServiceSettings, Settings};

/// Work a service runs beside its RPCs for as long as the process lives (following another
/// service's events, say).
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service ready to serve, and its background work.
pub struct Mounted<S> {
    pub service: S,
    pub background: Vec<BackgroundTask>,
}

/// What a service is called and where its tables are.
pub struct ServiceSpec {
    /// The binary and `service.name` (`fazhi-plans`).
    pub name: &'static str,
    pub schema: &'static str,
    pub migrator: &'static Migrator,
}

/// What the process needs to mount a service.
pub struct Environment<'a, S> {
    pub settings: &'a Settings,
    pub service_settings: S,
    pub pool: PgPool,
    pub authenticator: Authenticator,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs one service as a process. Settings come from defaults, the TOML file named by
/// `FAZHI_CONFIG`, then `FAZHI__…` variables.
pub async fn run<S, Svc>(
    spec: ServiceSpec,
    mount: impl FnOnce(Environment<'_, S>) -> Result<Mounted<Svc>, BoxError>,
) -> Result<(), BoxError>
where
    S: ServiceSettings,
    Svc: tower::Service<http::Request<Body>, Error = std::convert::Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    Svc::Response: IntoResponse,
    Svc::Future: Send + 'static,
{
    let config_file = std::env::var_os("FAZHI_CONFIG").map(std::path::PathBuf::from);
    let (settings, service_settings) = Settings::load_with::<S>(config_file.as_deref())?;
    let _telemetry = crate::telemetry::init(&settings.telemetry, spec.name)?;
    let pool = crate::db::connect(&settings.database, spec.name).await?;
    if settings.database.migrate_on_start {
        let owner = crate::db::migration_pool(&settings.database, &pool, spec.name).await?;
        crate::db::migrate(&owner, spec.schema, spec.migrator).await?;
    }
    let authenticator = Authenticator::connect(&settings.auth).await?;
    let mounted = mount(Environment {
        settings: &settings,
        service_settings,
        pool: pool.clone(),
        authenticator,
    })?;
    tokio::spawn(housekeeping(
        pool.clone(),
        spec.schema,
        settings.database.request_id_retention(),
    ));
    for task in mounted.background {
        tokio::spawn(task);
    }
    let listener = tokio::net::TcpListener::bind(settings.server.listen_address).await?;
    tracing::info!(address = %listener.local_addr()?, service = spec.name, "serving");
    GrpcServer::new()
        .add_database_service(mounted.service, pool)
        .await
        .serve(&settings.server, listener, shutdown_signal())
        .await?;
    Ok(())
}

/// A service's hourly upkeep of its platform tables, for as long as it runs: request ids past
/// `retention` forgotten (replays are promised for the retention, not forever), the audit
/// log's partitions kept ahead of the clock. Safe with several replicas.
pub async fn housekeeping(pool: PgPool, schema: &'static str, retention: std::time::Duration) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        match crate::mutation::forget_request_ids_older_than(&pool, schema, retention).await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(schema, forgotten, "old request ids forgotten"),
            Err(error) => tracing::warn!(%error, schema, "old request ids not forgotten"),
        }
        match crate::audit::extend_partitions(&pool, schema).await {
            Ok(0) => {}
            Ok(waiting) => tracing::error!(
                schema,
                waiting,
                "audit rows in the default partition: their months were not partitioned in time"
            ),
            Err(error) => tracing::warn!(%error, schema, "audit partitions not extended"),
        }
    }
}
