//! One trace per request: the gateway continues the caller's W3C trace context and carries its
//! own span into the service call, so the service's span (and the SQL it logs) sit under the
//! gateway's, in one trace, as an in-process OpenTelemetry exporter records them.

#![allow(clippy::unwrap_used)]

use fazhi_platform::auth::Role;
use fazhi_testkit::bearer;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

mod common;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| &attribute.value)
}

#[tokio::test]
async fn a_call_through_the_gateway_is_one_trace_down_to_the_sql() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // Fazhi's spans and sqlx's statements; not the HTTP/2 machinery's.
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("fazhi-test"))
            .with_filter(
                Targets::new()
                    .with_target("fazhi", Level::TRACE)
                    .with_target("sqlx", Level::TRACE),
            ),
    );
    // This test binary holds only this test: the subscriber is the process's.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let running = common::start().await;
    let staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let answer = running
        .http
        .post(format!(
            "{}/fazhi.units.v1.UnitsService/GetUnit",
            running.base
        ))
        .header("authorization", &staff)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({"name": "units/ningguo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.span_context.trace_id().to_string() == CALLER_TRACE)
        .collect();
    let gateway = in_trace
        .iter()
        .find(|span| attribute(span, "url.path").is_some())
        .unwrap_or_else(|| panic!("no gateway span in the caller's trace: {spans:#?}"));
    assert_eq!(gateway.parent_span_id.to_string(), CALLER_SPAN);
    let service = in_trace
        .iter()
        .find(|span| attribute(span, "rpc.system").is_some())
        .unwrap_or_else(|| panic!("no service span in the caller's trace: {in_trace:#?}"));
    assert_eq!(
        service.parent_span_id,
        gateway.span_context.span_id(),
        "the service's span is the gateway's child"
    );
    assert_eq!(
        attribute(gateway, "http.response.status_code").map(ToString::to_string),
        Some("200".to_owned())
    );
    // The statements the service ran, as sqlx reports them, below the service's span.
    let below_service = |span: &SpanData| {
        let mut parent = span.parent_span_id;
        while let Some(up) = in_trace
            .iter()
            .find(|candidate| candidate.span_context.span_id() == parent)
        {
            if up.span_context.span_id() == service.span_context.span_id() {
                return true;
            }
            parent = up.parent_span_id;
        }
        false
    };
    let statements = in_trace
        .iter()
        .filter(|span| below_service(span))
        .flat_map(|span| span.events.iter())
        .filter(|event| {
            event
                .attributes
                .iter()
                .any(|attribute| attribute.key.as_str() == "db.statement")
        })
        .count();
    assert!(
        statements > 0,
        "no SQL below the service's span: {in_trace:#?}"
    );
}
