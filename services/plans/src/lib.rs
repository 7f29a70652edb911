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

use fazhi_platform::auth::{AuthInterceptor, Authenticator};
use fazhi_platform::outbox::OutboxHub;
use fazhi_platform::settings::ServerSettings;
use fazhi_proto::plans::v1::plans_service_server::PlansServiceServer;
use secrecy::SecretString;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub use api::PlansApi;
pub use blobs::{BlobStore, LocalBlobStore};
pub use fazhi_units_client::UnitsClient;
pub use follow::follow_reorganizations;
pub use service::PlanBook;
pub use store::{MIGRATOR, Store};

/// The authenticated gRPC service of plans.
pub type PlansGrpcService = InterceptedService<PlansServiceServer<PlansApi>, AuthInterceptor>;

/// The plans service, ready to add to a [`fazhi_platform::server::GrpcServer`], and its own
/// background work: following unit reorganisations, when it has a token for the units service.
pub struct Mounted {
    pub service: PlansGrpcService,
    pub follower: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Builds the plans service on a pool; `main.rs` and `fazhi dev` mount it the same way.
pub fn mount(
    pool: PgPool,
    units: UnitsClient,
    blobs: Arc<dyn BlobStore>,
    authenticator: Authenticator,
    (settings, units_token): (&ServerSettings, Option<SecretString>),
) -> Mounted {
    let events = OutboxHub::start(pool.clone(), store::SCHEMA, settings.max_streams_per_caller);
    let book = PlanBook::new(Store::new(pool), units.clone(), blobs);
    let follower = match units_token {
        Some(token) => Some(Box::pin(follow_reorganizations(book.clone(), units, token)) as _),
        None => {
            tracing::warn!(
                "clients.units_token is not set: unit reorganisations will not re-point assignments"
            );
            None
        }
    };
    let server = PlansServiceServer::new(PlansApi::new(book, events))
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);
    Mounted {
        service: InterceptedService::new(
            server,
            AuthInterceptor {
                authenticator,
                error_domain: error::ERROR_DOMAIN,
            },
        ),
        follower,
    }
}
