//! The gateway's routes and what every call passes through on its way to a service: the request
//! id, CORS, the caller's token checked at the edge, the per-caller rate limit, the body limit,
//! then the protocol the content type names (Connect unary or streaming, gRPC-Web).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use fazhi_platform::auth::{Authenticator, Caller};
use prost_reflect::DescriptorPool;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_web::GrpcWebLayer;
use tower::{Layer, ServiceExt};
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;

use crate::connect::{Format, GatewayError};
use crate::console::ConsoleConfig;
use crate::metrics::{self, Metrics};
use crate::rest::{Routes, aip_error};
use crate::stream;

/// Largest request body, as the services' own message limit (16 MiB).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// How long `/readyz` waits for each service's health.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The domain of the gateway's own refusals in `ErrorInfo`.
const DOMAIN: &str = "gateway.fazhi";

/// Where each service's calls go: a channel per bounded context (`units`, `plans`, …, the second
/// part of the proto package), or one channel for all (`fazhi dev`, tests).
#[derive(Clone)]
pub struct Upstreams {
    by_context: HashMap<String, Channel>,
    all: Option<Channel>,
}

impl Upstreams {
    /// Every service behind one channel.
    pub fn single(channel: Channel) -> Self {
        Self {
            by_context: HashMap::new(),
            all: Some(channel),
        }
    }

    /// A channel per context, e.g. `("units", …)`.
    pub fn per_context(channels: impl IntoIterator<Item = (String, Channel)>) -> Self {
        Self {
            by_context: channels.into_iter().collect(),
            all: None,
        }
    }

    /// The channel for `fazhi.units.v1.UnitsService`.
    pub(crate) fn for_service(&self, service: &str) -> Option<&Channel> {
        let context = service.split('.').nth(1).unwrap_or_default();
        self.by_context.get(context).or(self.all.as_ref())
    }

    fn every(&self) -> Vec<(&str, &Channel)> {
        let mut every: Vec<(&str, &Channel)> = self
            .by_context
            .iter()
            .map(|(context, channel)| (context.as_str(), channel))
            .collect();
        every.extend(self.all.iter().map(|channel| ("all", channel)));
        every.sort_by_key(|(context, _)| *context);
        every
    }
}

/// What the edge allows: browser origins and each caller's request rate.
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    /// Origins whose pages may call the gateway (CORS).
    pub cors_origins: Vec<HeaderValue>,
    /// Calls each caller (token subject, or address without a valid token) may make per
    /// second, sustained.
    pub requests_per_second: u32,
    /// Calls a caller may make at once before the rate applies.
    pub burst: u32,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            requests_per_second: 100,
            burst: 200,
        }
    }
}

/// The gateway: the services' descriptors, the channels to them and the token verifier. Cheap to
/// clone.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) descriptors: DescriptorPool,
    pub(crate) upstreams: Upstreams,
    authenticator: Authenticator,
    pub(crate) metrics: Metrics,
    pub(crate) routes: Arc<Routes>,
    /// The REST routes' OpenAPI document, made once.
    openapi: Arc<str>,
    console: Arc<ConsoleConfig>,
}

/// Why the gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the services' descriptors: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    #[error("metrics: {0}")]
    Metrics(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// The token check's outcome, put in the request by the edge for the rate limit and the call.
#[derive(Clone)]
struct Authenticated(Result<Arc<Caller>, tonic::Status>);

/// The protocol a call speaks, from its content type.
enum Protocol {
    Unary(Format),
    Streaming(Format),
    GrpcWeb,
}

impl Protocol {
    fn of(content_type: &str) -> Result<Self, GatewayError> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "application/json" => Ok(Self::Unary(Format::Json)),
            "application/proto" => Ok(Self::Unary(Format::Proto)),
            "application/connect+json" => Ok(Self::Streaming(Format::Json)),
            "application/connect+proto" => Ok(Self::Streaming(Format::Proto)),
            web if web.starts_with("application/grpc-web") => Ok(Self::GrpcWeb),
            other => Err(GatewayError::ContentType(other.to_owned())),
        }
    }

    /// A refusal before the call reached a service, said the way this protocol says it.
    fn refuse(&self, error: GatewayError, content_type: &str) -> Response {
        match self {
            Self::Unary(_) => error.into_response(),
            Self::Streaming(format) => stream::refused(*format, &error),
            Self::GrpcWeb => {
                let status = match error {
                    GatewayError::Status(status) => status,
                    other => tonic::Status::new(other.connect_code(), other.to_string()),
                };
                // Trailers-only: the status in the headers, in the caller's own content type.
                let mut answer = status.into_http::<axum::body::Body>();
                if let Ok(value) = HeaderValue::from_str(content_type) {
                    answer.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                answer
            }
        }
    }
}

/// Rate-limit key: the verified subject, else the caller's address.
#[derive(Debug, Clone, Copy)]
struct CallerKey;

impl KeyExtractor for CallerKey {
    type Key = String;

    fn extract<T>(&self, request: &http::Request<T>) -> Result<String, GovernorError> {
        if let Some(Authenticated(Ok(caller))) = request.extensions().get::<Authenticated>() {
            return Ok(format!("subject:{}", caller.subject));
        }
        Ok(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "address:unknown".to_owned(),
                |ConnectInfo(address)| format!("address:{}", address.ip()),
            ))
    }
}

impl Gateway {
    /// A gateway to the services behind `upstreams`, checking tokens with `authenticator` (the
    /// services check them again).
    pub fn new(upstreams: Upstreams, authenticator: Authenticator) -> Result<Self, SetupError> {
        let descriptors = DescriptorPool::decode(fazhi_proto::FILE_DESCRIPTOR_SET)?;
        let routes = Routes::from_pool(&descriptors);
        Ok(Self {
            openapi: Arc::from(crate::openapi::document(&routes).to_string()),
            console: Arc::default(),
            routes: Arc::new(routes),
            descriptors,
            upstreams,
            authenticator,
            metrics: Metrics::new()?,
        })
    }

    /// The routes: every RPC at `/{service}/{method}` (Connect, gRPC-Web) and at its REST path
    /// under `/v1/`, `/openapi.json`, `/healthz` (the gateway runs), `/readyz` (each service's
    /// health), `/metrics` (Prometheus) and the web console under `/console/`. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that callers without a valid
    /// token are limited by address.
    pub fn router(self, policy: &EdgePolicy) -> Router {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(policy.cors_origins.iter().cloned()))
            // REST's verbs as well as Connect's POST and GET.
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("connect-protocol-version"),
                HeaderName::from_static("connect-timeout-ms"),
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-grpc-web"),
                HeaderName::from_static("x-user-agent"),
                HeaderName::from_static("grpc-timeout"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("retry-after"),
                header::CONTENT_DISPOSITION,
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ]);
        let mut connect = Router::new().route("/{service}/{method}", post(dispatch));
        let mut rest_routes = Router::new().route("/v1/{*path}", any(rest));
        let limits = GovernorConfigBuilder::default()
            .key_extractor(CallerKey)
            .period(Duration::from_secs(1) / policy.requests_per_second.max(1))
            .burst_size(policy.burst.max(1))
            .finish()
            .map(Arc::new);
        if let Some(limits) = limits {
            // The limiter's memory follows the callers of the last minute, not of all time.
            every_minute(Arc::downgrade(limits.limiter()), |limiter| {
                limiter.retain_recent();
            });
            // One budget per caller across both, each refusal in its protocol's form.
            connect = connect.route_layer(
                tower_governor::GovernorLayer::new(Arc::clone(&limits)).error_handler(|error| {
                    too_many_requests(error, |refusal| refusal.into_response())
                }),
            );
            rest_routes = rest_routes.route_layer(
                tower_governor::GovernorLayer::new(limits)
                    .error_handler(|error| too_many_requests(error, |refusal| aip_error(&refusal))),
            );
        }
        let calls = connect.merge(rest_routes);
        let calls = calls
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                authenticate,
            ))
            .route_layer(axum::middleware::from_fn(read_whole_body))
            .route_layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                metrics::record,
            ))
            .route_layer(axum::middleware::from_fn(trace));
        let console = crate::console::routes((*self.console).clone());
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/metrics", get(metrics::serve))
            .route("/openapi.json", get(openapi))
            .merge(calls)
            .with_state(self)
            .merge(console)
            .layer(cors)
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    }

    /// Serves the web console with these settings (without it, `/console/config.json` offers
    /// no way to sign in).
    pub fn with_console(mut self, config: ConsoleConfig) -> Self {
        self.console = Arc::new(config);
        self
    }
}

/// Runs `chore` on `target` once a minute for as long as it lives.
fn every_minute<T: Send + Sync + 'static>(target: std::sync::Weak<T>, chore: fn(&T)) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticks.tick().await;
            let Some(target) = target.upgrade() else {
                return;
            };
            chore(&target);
        }
    });
}

/// Every call's span, continuing the caller's W3C trace; the services' spans become its
/// children (the trace context goes on with the call).
async fn trace(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "gateway",
        otel.name = %path,
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    fazhi_platform::telemetry::continue_trace(&span, request.headers());
    let answer = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", answer.status().as_u16());
    answer
}

/// Reads the request body (up to [`MAX_REQUEST_BYTES`]) before the call is judged: a refusal
/// sent while an HTTP/1.1 client is still sending would reset the connection under the client's
/// next call. A body over the limit is refused with 413 and the connection closed.
async fn read_whole_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let limited = Request::from_parts(parts.clone(), body);
    match Bytes::from_request(limited, &()).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(rejection) => {
            let mut answer = rejection.into_response();
            answer
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            answer
        }
    }
}

/// Checks the caller's token before anything else looks at the call.
async fn authenticate(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let checked = gateway
        .authenticator
        .authenticate(header)
        .map(Arc::new)
        .map_err(|error| fazhi_platform::error::into_status(DOMAIN, &error));
    request.extensions_mut().insert(Authenticated(checked));
    next.run(request).await
}

/// 429 with `Retry-After` and the `RATE_LIMITED` reason, said by `say` (Connect or AIP-193).
fn too_many_requests(error: GovernorError, say: fn(GatewayError) -> Response) -> Response {
    // The governor floors the wait to whole seconds; the caller should wait it out, not less.
    let wait = match error {
        GovernorError::TooManyRequests { wait_time, .. } => wait_time + 1,
        _ => 1,
    };
    let status = fazhi_platform::error::to_status(
        DOMAIN,
        fazhi_platform::error::ErrorDescription::new(
            tonic::Code::ResourceExhausted,
            "RATE_LIMITED",
            format!("too many calls: wait {wait} s"),
            format!("调用过于频繁,请 {wait} 秒后再试"),
        ),
    );
    let mut answer = say(GatewayError::Status(status));
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    answer
}

/// One route for every method; the content type says which protocol the caller speaks.
async fn dispatch(
    State(gateway): State<Gateway>,
    Path((service, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let protocol = match Protocol::of(&content_type) {
        Ok(protocol) => protocol,
        Err(error) => return error.into_response(),
    };
    match request.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(_))) => {}
        Some(Authenticated(Err(status))) => {
            return protocol.refuse(GatewayError::Status(status.clone()), &content_type);
        }
        None => {
            let status = tonic::Status::unauthenticated("the token was not checked");
            return protocol.refuse(GatewayError::Status(status), &content_type);
        }
    }
    let route = (service.as_str(), method.as_str());
    let format = match protocol {
        Protocol::GrpcWeb => return grpc_web(&gateway, &service, request, &content_type).await,
        Protocol::Unary(format) | Protocol::Streaming(format) => format,
    };
    // Read within the body limit (413 past it).
    let body = match Bytes::from_request(request, &gateway).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    match protocol {
        Protocol::Streaming(_) => {
            stream::server_stream(&gateway, route, &headers, (body, format)).await
        }
        _ => gateway
            .unary(route, &headers, (body, format))
            .await
            .unwrap_or_else(IntoResponse::into_response),
    }
}

/// The REST routes' OpenAPI 3.1 document.
async fn openapi(State(gateway): State<Gateway>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gateway.openapi.to_string(),
    )
        .into_response()
}

/// A REST call (`/v1/…`), routed by the methods' `google.api.http` annotations.
async fn rest(State(gateway): State<Gateway>, request: Request) -> Response {
    if let Some(Authenticated(Err(status))) = request.extensions().get::<Authenticated>() {
        return aip_error(&GatewayError::Status(status.clone()));
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let (parts, body) = request.into_parts();
    let body = if multipart {
        let request = Request::from_parts(parts.clone(), body);
        match crate::rest::multipart_json(request).await {
            Ok(json) => json,
            Err(error) => return aip_error(&error),
        }
    } else {
        match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
            Ok(body) => body,
            Err(error) => {
                return aip_error(&GatewayError::BadBody(
                    "REST request".to_owned(),
                    error.to_string(),
                ));
            }
        }
    };
    gateway
        .rest(
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            body,
        )
        .await
}

/// gRPC-Web, translated by tonic-web and forwarded as it is: the services answer as they would
/// over gRPC, trailers and all.
async fn grpc_web(
    gateway: &Gateway,
    service: &str,
    request: Request,
    content_type: &str,
) -> Response {
    let Some(channel) = gateway.upstreams.for_service(service) else {
        return Protocol::GrpcWeb.refuse(GatewayError::NoMethod(service.to_owned()), content_type);
    };
    let (mut parts, body) = request.into_parts();
    let mut metadata =
        tonic::metadata::MetadataMap::from_headers(std::mem::take(&mut parts.headers));
    fazhi_platform::telemetry::inject_current_trace(&mut metadata);
    parts.headers = metadata.into_headers();
    let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
    match GrpcWebLayer::new()
        .layer(channel.clone())
        .oneshot(request)
        .await
    {
        Ok(answer) => answer.map(axum::body::Body::new),
        Err(error) => Protocol::GrpcWeb.refuse(
            GatewayError::Status(tonic::Status::unavailable(error.to_string())),
            content_type,
        ),
    }
}

/// Each upstream's health as JSON (`{"units": "SERVING", …}`): 200 when every one is SERVING,
/// else 503.
async fn ready(State(gateway): State<Gateway>) -> Response {
    // Asked at once, so one silent service costs 2 s, not 2 s each.
    let checks = gateway
        .upstreams
        .every()
        .into_iter()
        .map(|(context, channel)| async move {
            let mut health = HealthClient::new(channel.clone());
            let checked = tokio::time::timeout(
                READY_TIMEOUT,
                health.check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await;
            let state = match checked {
                Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => {
                    "SERVING".to_owned()
                }
                Ok(Ok(_)) => "NOT_SERVING".to_owned(),
                Ok(Err(status)) => status.message().to_owned(),
                Err(_) => "no answer within 2 s".to_owned(),
            };
            (context.to_owned(), state)
        });
    let states: serde_json::Map<String, serde_json::Value> = futures::future::join_all(checks)
        .await
        .into_iter()
        .map(|(context, state)| (context, serde_json::Value::String(state)))
        .collect();
    let status = if states.values().all(|state| state == "SERVING") {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::Value::Object(states).to_string(),
    )
        .into_response()
}
