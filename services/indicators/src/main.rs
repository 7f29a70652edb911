//! `fazhi-indicators`: the indicators service on its own, as deployed on Kubernetes.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    fazhi_platform::service::run(fazhi_indicators::SPEC, |environment| {
        Ok(fazhi_indicators::mount(environment)?)
    })
    .await
}
