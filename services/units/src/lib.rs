//! The unit registry service, `fazhi.units.v1`: units and their hierarchy over time, unit groups,
//! reorganisations (机构改革), and the resolution of unit names as plans print them.

pub mod api;
pub mod domain;
pub mod error;
pub mod registry_file;
pub mod service;
pub mod store;

use fazhi_platform::audit::AuditKey;
use fazhi_platform::auth::{AuthInterceptor, Authenticator};
use fazhi_platform::outbox::OutboxHub;
use fazhi_platform::relay::{self, RelaySpec};
use fazhi_platform::service::{Environment, Mounted, ServiceSpec};
use fazhi_platform::settings::{NoServiceSettings, ServerSettings};
use fazhi_proto::units::v1::units_service_server::UnitsServiceServer;
use tonic::service::interceptor::InterceptedService;

pub use api::UnitsApi;
pub use service::UnitRegistry;
pub use store::{MIGRATOR, Store};

/// What the process is called and where units keeps its tables.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "fazhi-units",
    schema: store::SCHEMA,
    migrator: &MIGRATOR,
};

/// How the relay publishes this service's outbox to NATS (`docs/events.md`): each event as the
/// `WatchEvents` message.
pub const RELAY: RelaySpec = RelaySpec {
    schema: store::SCHEMA,
    message_type: "fazhi.units.v1.UnitEvent",
    encode: |event| relay::encoded(api::convert::event_to_proto(event)),
};

/// The units service as `main.rs` and `fazhi dev` mount it: no settings of its own; in the
/// background, the event relay when one is configured.
pub fn mount(
    environment: Environment<'_, NoServiceSettings>,
) -> Mounted<InterceptedService<UnitsServiceServer<UnitsApi>, AuthInterceptor>> {
    let relay = relay::background(&environment.settings.events, &environment.pool, RELAY);
    Mounted {
        service: grpc_service(
            Store::new(environment.pool).with_audit_key(AuditKey::from_settings(
                environment.settings.database.audit_key.as_ref(),
            )),
            environment.authenticator,
            &environment.settings.server,
        ),
        background: relay.into_iter().collect(),
    }
}

/// The authenticated gRPC service, ready to add to a [`fazhi_platform::server::GrpcServer`].
pub fn grpc_service(
    store: Store,
    authenticator: Authenticator,
    settings: &ServerSettings,
) -> InterceptedService<UnitsServiceServer<UnitsApi>, AuthInterceptor> {
    let events = OutboxHub::start(
        store.pool().clone(),
        store::SCHEMA,
        settings.max_streams_per_caller,
    );
    let api = UnitsApi::new(UnitRegistry::new(store), events);
    let server = UnitsServiceServer::new(api)
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
