//! The gateway's own metrics, served in Prometheus' text format at `/metrics`: calls by RPC,
//! protocol and HTTP status, and their duration (until the answer's headers for a stream).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

use crate::gateway::Gateway;

/// The registry `/metrics` reads and the instruments the calls record into. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: prometheus::Registry,
    // Kept so the instruments keep reporting to the registry.
    _provider: SdkMeterProvider,
    calls: Counter<u64>,
    duration: Histogram<f64>,
}

impl Metrics {
    pub fn new() -> Result<Self, opentelemetry_sdk::error::OTelSdkError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let meter = provider.meter("fazhi-gateway");
        Ok(Self {
            registry,
            calls: meter
                .u64_counter("http.server.calls")
                .with_description("Calls through the gateway by RPC, protocol and HTTP status")
                .build(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Time to the answer's headers, by RPC, protocol and HTTP status")
                .build(),
            _provider: provider,
        })
    }

    /// Everything recorded so far, in Prometheus' text format.
    fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(text)
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(State(gateway): State<Gateway>) -> Response {
    match gateway.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            text,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Counts and times every call.
pub(crate) async fn record(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Only the services' own methods name a series: the label set stays bounded.
    let rpc = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(service, method)| {
            gateway
                .descriptors
                .get_service_by_name(service)
                .is_some_and(|service| service.methods().any(|known| known.name() == *method))
        })
        .map_or_else(|| "unknown".to_owned(), |_| request.uri().path().to_owned());
    let protocol = protocol(request.headers().get(header::CONTENT_TYPE));
    let answer = next.run(request).await;
    let attributes = [
        KeyValue::new("rpc", rpc),
        KeyValue::new("protocol", protocol),
        KeyValue::new(
            "http.response.status_code",
            i64::from(answer.status().as_u16()),
        ),
    ];
    let metrics = &gateway.metrics;
    metrics.calls.add(1, &attributes);
    metrics
        .duration
        .record(started.elapsed().as_secs_f64(), &attributes);
    answer
}

/// A short name for the protocol, from the content type (a bounded set, for the label).
fn protocol(content_type: Option<&HeaderValue>) -> &'static str {
    let essence = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or_default()
        .trim();
    match essence {
        "application/json" | "application/proto" | "" => "connect",
        "application/connect+json" | "application/connect+proto" => "connect-stream",
        web if web.starts_with("application/grpc-web") => "grpc-web",
        _ => "other",
    }
}
