//! `fazhi-plans`: the plans service on its own, as deployed on Kubernetes.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    fazhi_platform::service::run(fazhi_plans::SPEC, |environment| {
        Ok(fazhi_plans::mount(environment)?)
    })
    .await
}
