//! The indicators service, `fazhi.indicators.v1`: data elements units report, indicators as
//! formulas over them, targets for regions, reported values with their review
//! (draft → submitted → approved | returned), and evaluation of indicators and targets for a
//! unit or a region and a period, every figure named.

pub mod api;
pub mod catalogue_file;
pub mod chase;
pub mod datasets;
pub mod domain;
pub mod error;
pub mod form;
pub mod ingest;
pub mod proposals;
pub mod published;
pub mod region;
pub mod service;
pub mod settings;
pub mod statuses;
pub mod store;

use fazhi_platform::audit::AuditKey;
use fazhi_platform::auth::AuthInterceptor;
use fazhi_platform::outbox::OutboxHub;
use fazhi_platform::relay::{self, RelaySpec};
use fazhi_platform::service::{BackgroundTask, Environment, Mounted, ServiceSpec};
use fazhi_proto::indicators::v1::indicators_service_server::IndicatorsServiceServer;
use fazhi_units_client::UnitsClientError;
use std::time::Duration;

use tonic::service::interceptor::InterceptedService;

pub use api::IndicatorsApi;
pub use fazhi_plans_client::PlansClient;
pub use fazhi_units_client::UnitsClient;
pub use service::IndicatorBook;
pub use settings::IndicatorsSettings;
pub use store::{MIGRATOR, Store};

/// How long the status follower rests once it has caught up with the outbox.
const STATUS_FOLLOW_REST: Duration = Duration::from_secs(2);

/// The authenticated gRPC service of indicators.
pub type IndicatorsGrpcService =
    InterceptedService<IndicatorsServiceServer<IndicatorsApi>, AuthInterceptor>;

/// What the process is called and where indicators keeps its tables.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "fazhi-indicators",
    schema: store::SCHEMA,
    migrator: &MIGRATOR,
};

/// How the relay publishes this service's outbox to NATS (`docs/events.md`): each event as the
/// `WatchEvents` message.
pub const RELAY: RelaySpec = RelaySpec {
    schema: store::SCHEMA,
    message_type: "fazhi.indicators.v1.IndicatorsEvent",
    encode: |event| relay::encoded(api::convert::event_to_proto(event)),
};

/// Builds the indicators service on a pool; `main.rs` and `fazhi dev` mount it the same way.
pub fn mount(
    environment: Environment<'_, IndicatorsSettings>,
) -> Result<Mounted<IndicatorsGrpcService>, UnitsClientError> {
    let Environment {
        settings,
        service_settings,
        pool,
        authenticator,
    } = environment;
    let units = UnitsClient::new(&service_settings.clients.units_endpoint)?;
    let plans = PlansClient::new(&service_settings.clients.plans_endpoint)?;
    let events = OutboxHub::start(
        pool.clone(),
        store::SCHEMA,
        settings.server.max_streams_per_caller,
    );
    let relay = relay::background(&settings.events, &pool, RELAY);
    let store = Store::new(pool).with_audit_key(AuditKey::from_settings(
        settings.database.audit_key.as_ref(),
    ));
    let book = IndicatorBook::new(store, units, plans);
    let mut background: Vec<BackgroundTask> = relay.into_iter().collect();
    match service_settings.clients.units_token {
        Some(token) => {
            background.push(Box::pin(chase::chase_overdue_returns(
                book.clone(),
                token.clone(),
                Duration::from_secs(service_settings.returns.sweep_seconds),
            )));
            background.push(Box::pin(statuses::follow_target_statuses(
                book.clone(),
                token.clone(),
                STATUS_FOLLOW_REST,
            )));
            background.push(Box::pin(published::follow_published_plans(
                book.clone(),
                token,
            )));
        }
        None => tracing::warn!(
            "clients.units_token is not set: no return.overdue or target.status_changed events, no targets proposed as plans are published"
        ),
    }
    let server = IndicatorsServiceServer::new(IndicatorsApi::new(book, events))
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
