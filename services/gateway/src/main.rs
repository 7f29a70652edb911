//! `fazhi-gateway`: the gateway on its own, as deployed on Kubernetes in front of the services.
//! Settings: `[gateway]`, `[auth]` and `[telemetry]` from the file named by `FAZHI_CONFIG`, then
//! `FAZHI__…` variables.

use std::net::SocketAddr;

use fazhi_gateway::{Gateway, GatewaySections};
use fazhi_platform::auth::Authenticator;
use fazhi_platform::settings::{ServiceSettings, Settings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config_file = std::env::var_os("FAZHI_CONFIG").map(std::path::PathBuf::from);
    // The platform's checks are about the database, which the gateway does not use; the token
    // settings are checked on their own.
    let (settings, sections) =
        Settings::load_unvalidated_with::<GatewaySections>(config_file.as_deref())?;
    sections.validate()?;
    fazhi_gateway::check_auth(&settings.auth)?;
    let gateway = sections.gateway;
    let _telemetry = fazhi_platform::telemetry::init(&settings.telemetry, "fazhi-gateway")?;
    let authenticator = Authenticator::connect(&settings.auth).await?;
    let router = Gateway::new(gateway.upstreams()?, authenticator)?
        .with_console(gateway.console(&settings.auth))
        .router(&gateway.edge_policy());
    let listener = tokio::net::TcpListener::bind(gateway.listen_address).await?;
    tracing::info!(address = %gateway.listen_address, "the gateway listens");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(fazhi_platform::server::shutdown_signal())
    .await?;
    Ok(())
}
