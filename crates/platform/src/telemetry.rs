//! Logs, traces and metrics, set up in one place.
//!
//! Logs go to stdout (JSON or pretty). Traces and metrics are exported over OTLP/gRPC only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. W3C trace context is read from incoming gRPC metadata
//! and written into outgoing calls with [`TraceContextInterceptor`].

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, TelemetrySettings};

/// Flushes exporters when dropped; keep it alive for the life of the process.
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.shutdown();
        }
        if let Some(provider) = self.meter_provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already set")]
    AlreadySet,
}

/// The log layer, writing to `writer`. In JSON every line carries the list of its spans, so
/// the root `grpc.server` span's `trace_id`, `subject` and `request_id` are on every line a call
/// logs, however deep in the handler.
pub fn log_layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(writer)
            .boxed(),
    }
}

/// Installs the global subscriber, propagator and (when configured) OTLP exporters.
/// The service is named by `OTEL_SERVICE_NAME`, else `telemetry.service_name`, else
/// `default_service_name` (the binary's).
pub fn init(
    settings: &TelemetrySettings,
    default_service_name: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_filter));
    let log_layer = log_layer(settings.log_format, std::io::stdout);
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .or_else(|| settings.service_name.clone())
        .unwrap_or_else(|| default_service_name.to_owned());
    let otlp_enabled = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    let mut guard = TelemetryGuard {
        tracer_provider: None,
        meter_provider: None,
    };
    let trace_layer = if otlp_enabled {
        let resource = Resource::builder().with_service_name(service_name).build();
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(span_exporter)
            .with_resource(resource.clone())
            .build();
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(metric_exporter)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_tracer_provider(tracer_provider.clone());
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        let tracer = tracer_provider.tracer("fazhi");
        guard.tracer_provider = Some(tracer_provider);
        guard.meter_provider = Some(meter_provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    } else {
        None
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(log_layer)
        .with(trace_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadySet)?;
    Ok(guard)
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of an incoming call, continuing the caller's trace ([`continue_trace`]); `subject`
/// and `request_id` are recorded by authentication and [`crate::call::CallContext`].
pub fn server_span(method: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        subject = tracing::field::Empty,
        request_id = tracing::field::Empty,
    );
    continue_trace(&span, headers);
    span
}

/// Makes `span` the child of the caller's W3C trace context when it sent one (whether or not
/// `init` ran: tests, embedders) and records its `trace_id`: the trace's (ours under OTLP, else
/// the caller's), or a fresh random one so that a call's log lines still belong together.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let callers = parent.span().span_context().trace_id();
    let _ = span.set_parent(parent);
    let ours = span.context().span().span_context().trace_id();
    let invalid = opentelemetry::trace::TraceId::INVALID;
    let trace_id = if ours != invalid {
        ours.to_string()
    } else if callers != invalid {
        callers.to_string()
    } else {
        uuid::Uuid::now_v7().simple().to_string()
    };
    span.record("trace_id", trace_id.as_str());
}

/// Whether a status is the server's fault (the span is marked ERROR), not the caller's.
pub fn is_server_fault(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Internal
            | tonic::Code::Unknown
            | tonic::Code::DataLoss
            | tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
    )
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// A client interceptor that carries the current trace into outgoing gRPC calls.
#[derive(Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current_trace(request.metadata_mut());
        Ok(request)
    }
}

/// Puts the current span's W3C trace context in outgoing metadata (nothing when no tracer runs:
/// what is there stays).
pub fn inject_current_trace(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

/// The current span's W3C trace context (`traceparent`, and `tracestate` when there is one), to
/// store with what the call writes; empty when no tracer runs.
pub fn current_trace_context() -> std::collections::HashMap<String, String> {
    let mut fields = std::collections::HashMap::new();
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    fields
}

/// Rate, errors and duration per RPC method.
pub struct RpcMetrics {
    calls: Counter<u64>,
    duration: Histogram<f64>,
}

impl RpcMetrics {
    pub fn record(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let attributes = [
            KeyValue::new("rpc.method", method.to_owned()),
            KeyValue::new("rpc.grpc.status_code", code as i64),
        ];
        self.calls.add(1, &attributes);
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}

/// The process's RPC metrics, bound to the meter provider installed by [`init`].
pub fn rpc_metrics() -> &'static RpcMetrics {
    static METRICS: OnceLock<RpcMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = opentelemetry::global::meter("fazhi");
        RpcMetrics {
            calls: meter
                .u64_counter("rpc.server.calls")
                .with_description("Calls by method and gRPC status")
                .build(),
            duration: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("s")
                .with_description("Call duration by method and gRPC status")
                .build(),
        }
    })
}
