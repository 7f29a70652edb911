//! `fazhi-plans`: the plans service on its own, as deployed on Kubernetes.

use fazhi_platform::auth::Authenticator;
use fazhi_platform::server::{GrpcServer, shutdown_signal};
use fazhi_platform::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config_file = std::env::var_os("FAZHI_CONFIG").map(std::path::PathBuf::from);
    let mut settings = Settings::load(config_file.as_deref())?;
    if settings.telemetry.service_name == "fazhi" {
        settings.telemetry.service_name = "fazhi-plans".to_owned();
    }
    let _telemetry = fazhi_platform::telemetry::init(&settings.telemetry)?;
    let pool = fazhi_platform::db::connect(&settings.database, "fazhi-plans").await?;
    if settings.database.migrate_on_start {
        fazhi_platform::db::migrate(&pool, fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR)
            .await?;
    }
    let authenticator = Authenticator::connect(&settings.auth).await?;
    let units = fazhi_plans::UnitsClient::new(&settings.clients.units_endpoint)?;
    let mounted = fazhi_plans::mount(
        pool,
        units,
        std::sync::Arc::new(fazhi_plans::LocalBlobStore::new(
            &settings.evidence.directory,
        )),
        authenticator,
        (&settings.server, settings.clients.units_token.clone()),
    );
    if let Some(follower) = mounted.follower {
        tokio::spawn(follower);
    }
    let listener = tokio::net::TcpListener::bind(settings.server.listen_address).await?;
    tracing::info!(address = %listener.local_addr()?, "fazhi-plans serving");
    GrpcServer::new()
        .add_service(mounted.service)
        .await
        .serve(&settings.server, listener, shutdown_signal())
        .await?;
    Ok(())
}
