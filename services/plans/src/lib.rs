//! The plans service, `fazhi.plans.v1`: plans (实施方案) imported from their published text into
//! drafts, with every unit mention resolved by the units service; publishing to assignments,
//! claims, progress reports with evidence, overdue lists, reassignment, cascade with coverage,
//! and XLSX export.

pub mod api;
pub mod blobs;
pub mod domain;
pub mod error;
pub mod export;
pub mod follow;
pub mod service;
pub mod store;
pub mod units_client;

use fazhi_platform::auth::{AuthInterceptor, Authenticator};
use fazhi_platform::settings::ServerSettings;
use fazhi_proto::plans::v1::plans_service_server::PlansServiceServer;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub use api::PlansApi;
pub use blobs::{BlobStore, LocalBlobStore};
pub use follow::follow_reorganizations;
pub use service::PlanBook;
pub use store::{MIGRATOR, Store};
pub use units_client::UnitsClient;

/// The authenticated gRPC service, ready to add to a [`fazhi_platform::server::GrpcServer`].
pub fn grpc_service(
    pool: PgPool,
    units: UnitsClient,
    blobs: Arc<dyn BlobStore>,
    authenticator: Authenticator,
    settings: &ServerSettings,
) -> InterceptedService<PlansServiceServer<PlansApi>, AuthInterceptor> {
    let api = PlansApi::new(PlanBook::new(Store::new(pool), units, blobs));
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
