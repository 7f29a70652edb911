//! The assessment service, `fazhi.assessment.v1` (考核): schemes as criteria trees with points
//! or weights and the rules that score them; rounds that gather every input from the units,
//! indicators and plans services, freeze them, and score, grade and rank every unit of the
//! scheme's peer groups with a trace of each point (docs/assessment.md).

pub mod api;
pub mod background;
pub mod domain;
pub mod error;
pub mod export;
pub mod gather;
pub mod import;
pub mod service;
pub mod settings;
pub mod store;

use std::time::Duration;

use fazhi_plans_client::PlansClient;
use fazhi_platform::audit::AuditKey;
use fazhi_platform::auth::AuthInterceptor;
use fazhi_platform::outbox::OutboxHub;
use fazhi_platform::relay::{self, RelaySpec};
use fazhi_platform::service::{BackgroundTask, Environment, Mounted, ServiceSpec};
use fazhi_proto::assessment::v1::assessment_service_server::AssessmentServiceServer;
use fazhi_units_client::UnitsClient;
use tonic::service::interceptor::InterceptedService;

pub use api::AssessmentApi;
pub use error::AssessmentError;
pub use service::AssessmentBook;
pub use settings::AssessmentSettings;
pub use store::{MIGRATOR, Store};

/// The authenticated gRPC service of assessment.
pub type AssessmentGrpcService =
    InterceptedService<AssessmentServiceServer<AssessmentApi>, AuthInterceptor>;

/// What the process is called and where assessment keeps its tables.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "fazhi-assessment",
    schema: store::SCHEMA,
    migrator: &MIGRATOR,
};

/// How the relay publishes this service's outbox to NATS (`docs/events.md`): each event as the
/// `WatchEvents` message.
pub const RELAY: RelaySpec = RelaySpec {
    schema: store::SCHEMA,
    message_type: "fazhi.assessment.v1.AssessmentEvent",
    encode: |event| relay::encoded(api::convert::event_to_proto(event)),
};

/// Builds the assessment service on a pool; `main.rs` and `fazhi dev` mount it the same way.
pub fn mount(
    environment: Environment<'_, AssessmentSettings>,
) -> Result<Mounted<AssessmentGrpcService>, AssessmentError> {
    let Environment {
        settings,
        service_settings,
        pool,
        authenticator,
    } = environment;
    let clients = &service_settings.clients;
    let units = UnitsClient::new(&clients.units_endpoint)
        .map_err(|error| AssessmentError::upstream("units", error))?;
    let plans = PlansClient::new(&clients.plans_endpoint)
        .map_err(|error| AssessmentError::upstream("plans", error))?;
    let sources = gather::Sources::new(units, plans, &clients.indicators_endpoint)?;
    let store = Store::new(pool).with_audit_key(AuditKey::from_settings(
        settings.database.audit_key.as_ref(),
    ));
    let events = OutboxHub::start(
        store.pool().clone(),
        store::SCHEMA,
        settings.server.max_streams_per_caller,
    );
    let relay = relay::background(&settings.events, store.pool(), RELAY);
    let book = AssessmentBook::new(store, sources);
    let mut background: Vec<BackgroundTask> = relay.into_iter().collect();
    background.push(Box::pin(background::sweep_overdue_items(
        book.clone(),
        Duration::from_secs(service_settings.ledger.sweep_seconds),
    )));
    match service_settings.clients.service_token {
        Some(token) => background.push(Box::pin(background::follow_input_changes(
            book.clone(),
            token,
        ))),
        None => tracing::warn!(
            "clients.service_token is not set: rounds are not marked stale when their inputs change"
        ),
    }
    let server = AssessmentServiceServer::new(AssessmentApi::new(book, events))
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
