//! Connect unary calls (`POST /{package.Service}/{Method}`), transcoded and forwarded over gRPC.

use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::pb;
use tonic_web::GrpcWebLayer;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::codec::Encoded;
use crate::stream;

/// Largest request body, as the services' own message limit (16 MiB).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// How long `/readyz` waits for the services' health.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers carried to the service as they came: the caller's token, trace context and the
/// request id.
const FORWARDED: [&str; 4] = ["authorization", "traceparent", "tracestate", "x-request-id"];

/// The gateway: the services' descriptors and the channel to them. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    descriptors: DescriptorPool,
    channel: Channel,
}

/// Why a call did not get an answer, as Connect says it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The service's refusal, kept as it was.
    #[error("{}", .0.message())]
    Status(tonic::Status),
    #[error("no such method: {0}")]
    NoMethod(String),
    #[error("{0} streams: call it with application/connect+json or application/connect+proto")]
    Streaming(String),
    #[error("{0} is unary: call it with application/json or application/proto")]
    NotStreaming(String),
    #[error("compressed messages are not accepted")]
    Compressed,
    #[error("the body is not a {0} message: {1}")]
    BadBody(String, String),
    #[error("content type {0}: send application/json or application/proto")]
    ContentType(String),
}

/// How messages are encoded on the wire, from the request's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Proto,
}

/// A call ready to forward: the method, and the request with the caller's headers.
pub(crate) struct Call {
    pub(crate) method: MethodDescriptor,
    pub(crate) request: tonic::Request<Bytes>,
    pub(crate) path: http::uri::PathAndQuery,
}

impl Gateway {
    /// A gateway to the services behind `channel`.
    pub fn new(channel: Channel) -> Result<Self, prost_reflect::DescriptorError> {
        Ok(Self {
            descriptors: DescriptorPool::decode(fazhi_proto::FILE_DESCRIPTOR_SET)?,
            channel,
        })
    }

    /// The routes: every unary RPC at `/{service}/{method}`, `/healthz` (the gateway runs) and
    /// `/readyz` (the services behind it answer SERVING). A body over
    /// [`MAX_REQUEST_BYTES`] is refused with 413 before it is read whole; every answer carries
    /// an `x-request-id` (the caller's, or a new UUID), which is also sent on to the service;
    /// browsers on `cors_origins` may call it (CORS, the headers Connect clients send).
    pub fn router(self, cors_origins: &[HeaderValue]) -> Router {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(cors_origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
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
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ]);
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/{service}/{method}", post(dispatch))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .layer(cors)
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .with_state(self)
    }

    /// The method at `/{service}/{method}`, if it is one of the services' and is called the way
    /// it is declared (`streaming` for a server-streaming one).
    fn method(
        &self,
        (service, method): (&str, &str),
        streaming: bool,
    ) -> Result<MethodDescriptor, GatewayError> {
        let path = format!("{service}/{method}");
        let found = self
            .descriptors
            .get_service_by_name(service)
            .and_then(|service| {
                service
                    .methods()
                    .find(|candidate| candidate.name() == method)
            })
            .ok_or_else(|| GatewayError::NoMethod(path.clone()))?;
        match (found.is_client_streaming(), found.is_server_streaming()) {
            (true, _) => Err(GatewayError::NoMethod(path)),
            (false, true) if !streaming => Err(GatewayError::Streaming(path)),
            (false, false) if streaming => Err(GatewayError::NotStreaming(path)),
            _ => Ok(found),
        }
    }

    /// Decodes the request message and builds the gRPC request: the caller's token, trace
    /// context and request id carried over, Connect's timeout as the gRPC deadline.
    pub(crate) fn prepare(
        &self,
        route: (&str, &str),
        streaming: bool,
        headers: &HeaderMap,
        (message, format): (Bytes, Format),
    ) -> Result<Call, GatewayError> {
        let method = self.method(route, streaming)?;
        let input = method.input();
        let encoded = match format {
            Format::Proto => message,
            Format::Json => {
                let text: &[u8] = if message.is_empty() { b"{}" } else { &message };
                let mut json = serde_json::Deserializer::from_slice(text);
                let decoded = DynamicMessage::deserialize(input.clone(), &mut json)
                    .and_then(|decoded| json.end().map(|()| decoded))
                    .map_err(|error| {
                        GatewayError::BadBody(input.full_name().to_owned(), error.to_string())
                    })?;
                Bytes::from(decoded.encode_to_vec())
            }
        };
        let mut request = tonic::Request::new(encoded);
        for name in FORWARDED {
            if let Some(value) = headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok())
            {
                request.metadata_mut().insert(name, value);
            }
        }
        if let Some(milliseconds) = headers
            .get("connect-timeout-ms")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
        {
            request.set_timeout(Duration::from_millis(milliseconds));
        }
        let path = http::uri::PathAndQuery::from_str(&format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        ))
        .map_err(|error| GatewayError::NoMethod(error.to_string()))?;
        Ok(Call {
            method,
            request,
            path,
        })
    }

    /// A gRPC client on the channel, once the channel can take a call.
    pub(crate) async fn grpc(&self) -> Result<tonic::client::Grpc<Channel>, GatewayError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|error| GatewayError::Status(tonic::Status::unavailable(error.to_string())))?;
        Ok(grpc)
    }

    async fn unary(
        &self,
        route: (&str, &str),
        headers: &HeaderMap,
        body: (Bytes, Format),
    ) -> Result<Response, GatewayError> {
        let format = body.1;
        let call = self.prepare(route, false, headers, body)?;
        let answer = self
            .grpc()
            .await?
            .unary(call.request, call.path, Encoded)
            .await
            .map_err(GatewayError::Status)?
            .into_inner();
        let content_type = match format {
            Format::Proto => "application/proto",
            Format::Json => "application/json",
        };
        Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            encode_output(&call.method, answer, format)?,
        )
            .into_response())
    }
}

/// The service's answer in the caller's format.
pub(crate) fn encode_output(
    method: &MethodDescriptor,
    answer: Bytes,
    format: Format,
) -> Result<Bytes, GatewayError> {
    match format {
        Format::Proto => Ok(answer),
        Format::Json => {
            let output = method.output();
            let message = DynamicMessage::decode(output.clone(), answer).map_err(|error| {
                GatewayError::Status(tonic::Status::internal(format!(
                    "the service's answer is not a {}: {error}",
                    output.full_name()
                )))
            })?;
            serde_json::to_vec(&message)
                .map(Bytes::from)
                .map_err(|error| GatewayError::Status(tonic::Status::internal(error.to_string())))
        }
    }
}

/// 200 when the gRPC server behind the gateway says it is SERVING, else 503 with why.
async fn ready(State(gateway): State<Gateway>) -> Response {
    let mut health = HealthClient::new(gateway.channel.clone());
    let checked = tokio::time::timeout(
        READY_TIMEOUT,
        health.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await;
    match checked {
        Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => {
            "ready".into_response()
        }
        Ok(Ok(_)) => (StatusCode::SERVICE_UNAVAILABLE, "not serving").into_response(),
        Ok(Err(status)) => {
            (StatusCode::SERVICE_UNAVAILABLE, status.message().to_owned()).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "no answer").into_response(),
    }
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
        .unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.starts_with("application/grpc-web") {
        return grpc_web(&gateway, request).await;
    }
    // Read within the body limit (413 past it).
    let body = match Bytes::from_request(request, &gateway).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let route = (service.as_str(), method.as_str());
    let answer = match essence {
        "application/json" => gateway.unary(route, &headers, (body, Format::Json)).await,
        "application/proto" => gateway.unary(route, &headers, (body, Format::Proto)).await,
        "application/connect+json" => {
            return stream::server_stream(&gateway, route, &headers, (body, Format::Json)).await;
        }
        "application/connect+proto" => {
            return stream::server_stream(&gateway, route, &headers, (body, Format::Proto)).await;
        }
        other => Err(GatewayError::ContentType(other.to_owned())),
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// gRPC-Web, translated by tonic-web and forwarded as it is: the services answer as they would
/// over gRPC, trailers and all.
async fn grpc_web(gateway: &Gateway, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
    match GrpcWebLayer::new()
        .layer(gateway.channel.clone())
        .oneshot(request)
        .await
    {
        Ok(answer) => answer.map(axum::body::Body::new),
        Err(error) => {
            GatewayError::Status(tonic::Status::unavailable(error.to_string())).into_response()
        }
    }
}

/// Connect's name for a gRPC code, and the HTTP status it travels with.
fn connect_code(code: tonic::Code) -> (&'static str, StatusCode) {
    use tonic::Code;
    match code {
        Code::Ok => ("ok", StatusCode::OK),
        Code::Cancelled => (
            "canceled",
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        ),
        Code::Unknown => ("unknown", StatusCode::INTERNAL_SERVER_ERROR),
        Code::InvalidArgument => ("invalid_argument", StatusCode::BAD_REQUEST),
        Code::DeadlineExceeded => ("deadline_exceeded", StatusCode::GATEWAY_TIMEOUT),
        Code::NotFound => ("not_found", StatusCode::NOT_FOUND),
        Code::AlreadyExists => ("already_exists", StatusCode::CONFLICT),
        Code::PermissionDenied => ("permission_denied", StatusCode::FORBIDDEN),
        Code::ResourceExhausted => ("resource_exhausted", StatusCode::TOO_MANY_REQUESTS),
        Code::FailedPrecondition => ("failed_precondition", StatusCode::BAD_REQUEST),
        Code::Aborted => ("aborted", StatusCode::CONFLICT),
        Code::OutOfRange => ("out_of_range", StatusCode::BAD_REQUEST),
        Code::Unimplemented => ("unimplemented", StatusCode::NOT_IMPLEMENTED),
        Code::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        Code::DataLoss => ("data_loss", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
    }
}

/// A status detail as Connect sends it: its type, its bytes, and for the ones a frontend reads
/// (the reason, the field violations, the Chinese message) a `debug` form in JSON.
fn detail(any: &prost_types::Any) -> serde_json::Value {
    let kind = any
        .type_url
        .rsplit('/')
        .next()
        .unwrap_or(any.type_url.as_str());
    let bytes = any.value.as_slice();
    let debug = match kind {
        "google.rpc.ErrorInfo" => pb::ErrorInfo::decode(bytes).ok().map(|info| {
            serde_json::json!({"reason": info.reason, "domain": info.domain, "metadata": info.metadata})
        }),
        "google.rpc.LocalizedMessage" => pb::LocalizedMessage::decode(bytes)
            .ok()
            .map(|localized| serde_json::json!({"locale": localized.locale, "message": localized.message})),
        "google.rpc.BadRequest" => pb::BadRequest::decode(bytes).ok().map(|bad| {
            serde_json::json!({"fieldViolations": bad
                .field_violations
                .iter()
                .map(|violation| serde_json::json!({"field": violation.field, "description": violation.description}))
                .collect::<Vec<_>>()})
        }),
        _ => None,
    };
    let mut value = serde_json::json!({
        "type": kind,
        "value": base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes),
    });
    if let Some(debug) = debug {
        value["debug"] = debug;
    }
    value
}

impl GatewayError {
    /// Connect's error JSON and the HTTP status a unary answer carries it with.
    pub(crate) fn connect_error(&self) -> (StatusCode, serde_json::Value) {
        let (code, message, details) = match self {
            Self::Status(status) => {
                let details = pb::Status::decode(status.details())
                    .map(|decoded| decoded.details.iter().map(detail).collect())
                    .unwrap_or_default();
                (status.code(), status.message().to_owned(), details)
            }
            Self::NoMethod(_) | Self::Streaming(_) | Self::NotStreaming(_) => {
                (tonic::Code::Unimplemented, self.to_string(), Vec::new())
            }
            Self::BadBody(..) | Self::ContentType(_) | Self::Compressed => {
                (tonic::Code::InvalidArgument, self.to_string(), Vec::new())
            }
        };
        let (name, status) = match self {
            Self::ContentType(_) => ("invalid_argument", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            _ => connect_code(code),
        };
        (
            status,
            serde_json::json!({"code": name, "message": message, "details": details}),
        )
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, body) = self.connect_error();
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.to_string(),
        )
            .into_response()
    }
}
