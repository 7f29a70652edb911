//! `fazhi-units`: the units service on its own, as deployed on Kubernetes.
//! Settings: defaults → the TOML file named by `FAZHI_CONFIG` → `FAZHI__…` variables.

use fazhi_platform::auth::Authenticator;
use fazhi_platform::server::{GrpcServer, shutdown_signal};
use fazhi_platform::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config_file = std::env::var_os("FAZHI_CONFIG").map(std::path::PathBuf::from);
    let mut settings = Settings::load(config_file.as_deref())?;
    if settings.telemetry.service_name == "fazhi" {
        settings.telemetry.service_name = "fazhi-units".to_owned();
    }
    let _telemetry = fazhi_platform::telemetry::init(&settings.telemetry)?;
    let pool = fazhi_platform::db::connect(&settings.database, "fazhi-units").await?;
    if settings.database.migrate_on_start {
        fazhi_platform::db::migrate(&pool, fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR)
            .await?;
    }
    let authenticator = Authenticator::connect(&settings.auth).await?;
    let listener = tokio::net::TcpListener::bind(settings.server.listen_address).await?;
    tracing::info!(address = %listener.local_addr()?, "fazhi-units serving");
    GrpcServer::new()
        .add_service(fazhi_units::grpc_service(
            pool,
            authenticator,
            &settings.server,
        ))
        .await
        .serve(&settings.server, listener, shutdown_signal())
        .await?;
    Ok(())
}
