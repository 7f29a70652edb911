//! `fazhi-units`: the units service on its own, as deployed on Kubernetes.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    fazhi_platform::service::run(fazhi_units::SPEC, |environment| {
        Ok(fazhi_units::mount(environment))
    })
    .await
}
