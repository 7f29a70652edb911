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
pub mod settings;
pub mod store;

use fazhi_platform::audit::AuditKey;
use fazhi_platform::auth::AuthInterceptor;
use fazhi_platform::outbox::OutboxHub;
use fazhi_platform::relay::{self, RelaySpec};
use fazhi_platform::service::{BackgroundTask, Environment, Mounted, ServiceSpec};
use fazhi_proto::plans::v1::plans_service_server::PlansServiceServer;
use fazhi_units_client::UnitsClientError;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub use api::PlansApi;
pub use blobs::{BlobStore, LocalBlobStore};
pub use fazhi_units_client::UnitsClient;
pub use follow::follow_reorganizations;
pub use service::PlanBook;
pub use settings::PlansSettings;
pub use store::{MIGRATOR, Store};

/// The authenticated gRPC service of plans.
pub type PlansGrpcService = InterceptedService<PlansServiceServer<PlansApi>, AuthInterceptor>;

/// What the process is called and where plans keeps its tables.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "fazhi-plans",
    schema: store::SCHEMA,
    migrator: &MIGRATOR,
};

/// How the relay publishes this service's outbox to NATS (`docs/events.md`): each event as the
/// `WatchEvents` message.
pub const RELAY: RelaySpec = RelaySpec {
    schema: store::SCHEMA,
    message_type: "fazhi.plans.v1.PlanEvent",
    encode: |event| relay::encoded(api::convert::event_to_proto(event)),
};

/// Builds the plans service on a pool, with its background work (following unit
/// reorganisations, when it has a token for the units service); `main.rs` and `fazhi dev`
/// mount it the same way.
pub fn mount(
    environment: Environment<'_, PlansSettings>,
) -> Result<Mounted<PlansGrpcService>, UnitsClientError> {
    let Environment {
        settings,
        service_settings,
        pool,
        authenticator,
    } = environment;
    let units = UnitsClient::new(&service_settings.clients.units_endpoint)?;
    let blobs: Arc<dyn BlobStore> =
        Arc::new(LocalBlobStore::new(&service_settings.evidence.directory));
    let events = OutboxHub::start(
        pool.clone(),
        store::SCHEMA,
        settings.server.max_streams_per_caller,
    );
    let relay = relay::background(&settings.events, &pool, RELAY);
    let store = Store::new(pool).with_audit_key(AuditKey::from_settings(
        settings.database.audit_key.as_ref(),
    ));
    let book = PlanBook::new(store, units.clone(), blobs);
    let mut background: Vec<BackgroundTask> = relay.into_iter().collect();
    match service_settings.clients.units_token {
        Some(token) => {
            background.push(Box::pin(follow_reorganizations(book.clone(), units, token)))
        }
        None => tracing::warn!(
            "clients.units_token is not set: unit reorganisations will not re-point assignments"
        ),
    }
    let server = PlansServiceServer::new(PlansApi::new(book, events))
        .max_decoding_message_size(settings.server.max_message_bytes)
        .max_encoding_message_size(settings.server.max_message_bytes);
    Ok(Mounted {
        service: InterceptedService::new(
            server,
            AuthInterceptor {
                authenticator,
                error_domain: error::ERROR_DOMAIN,
            },
        ),
        background,
    })
}
