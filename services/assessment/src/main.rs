//! `fazhi-assessment`: the assessment service on its own, as deployed on Kubernetes.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    fazhi_platform::service::run(fazhi_assessment::SPEC, |environment| {
        Ok(fazhi_assessment::mount(environment)?)
    })
    .await
}
