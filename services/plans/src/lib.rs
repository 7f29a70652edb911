//! The plans service, `fazhi.plans.v1`: plans (实施方案) imported from their published text into
//! drafts, with every unit mention resolved by the units service. Publishing, claims and
//! progress are still to come (see docs/architecture.md).

pub mod api;
pub mod domain;
pub mod error;
pub mod service;
pub mod store;
pub mod units_client;

use fazhi_platform::auth::{AuthInterceptor, Authenticator};
use fazhi_platform::settings::ServerSettings;
use fazhi_proto::plans::v1::plans_service_server::PlansServiceServer;
use sqlx::PgPool;
use tonic::service::interceptor::InterceptedService;

pub use api::PlansApi;
pub use service::PlanBook;
pub use store::{MIGRATOR, Store};
pub use units_client::UnitsClient;

/// The authenticated gRPC service, ready to add to a [`fazhi_platform::server::GrpcServer`].
pub fn grpc_service(
    pool: PgPool,
    units: UnitsClient,
    authenticator: Authenticator,
    settings: &ServerSettings,
) -> InterceptedService<PlansServiceServer<PlansApi>, AuthInterceptor> {
    let api = PlansApi::new(PlanBook::new(Store::new(pool), units));
    let server = PlansServiceServer::new(api)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);
    InterceptedService::new(
        server,
        AuthInterceptor {
            authenticator,
            error_domain: error::ERROR_DOMAIN,
        },
    )
}
