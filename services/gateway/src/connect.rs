//! Connect unary calls (`POST /{package.Service}/{Method}`), transcoded and forwarded over gRPC.

use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prost::Message;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tonic::transport::Channel;
use tonic_types::pb;

use crate::codec::Encoded;
use crate::gateway::Gateway;

/// Headers carried to the service as they came: the caller's token, trace context and the
/// request id.
const FORWARDED: [&str; 4] = ["authorization", "traceparent", "tracestate", "x-request-id"];

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
        // The gateway's span is the services' parent (the caller's context when no tracer runs).
        fazhi_platform::telemetry::inject_current_trace(request.metadata_mut());
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
    pub(crate) async fn grpc(
        &self,
        method: &MethodDescriptor,
    ) -> Result<tonic::client::Grpc<Channel>, GatewayError> {
        let channel = self
            .upstreams
            .for_service(method.parent_service().full_name())
            .ok_or_else(|| GatewayError::NoMethod(method.full_name().to_owned()))?;
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready()
            .await
            .map_err(|error| GatewayError::Status(tonic::Status::unavailable(error.to_string())))?;
        Ok(grpc)
    }

    pub(crate) async fn unary(
        &self,
        route: (&str, &str),
        headers: &HeaderMap,
        body: (Bytes, Format),
    ) -> Result<Response, GatewayError> {
        let content_type = match body.1 {
            Format::Proto => "application/proto",
            Format::Json => "application/json",
        };
        Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            self.forward_unary(route, headers, body).await?,
        )
            .into_response())
    }

    /// A unary call in JSON, answered in JSON.
    pub(crate) async fn unary_json(
        &self,
        route: (&str, &str),
        headers: &HeaderMap,
        json: Bytes,
    ) -> Result<Bytes, GatewayError> {
        self.forward_unary(route, headers, (json, Format::Json))
            .await
    }

    /// Forwards a unary call; the answer in the request's format.
    async fn forward_unary(
        &self,
        route: (&str, &str),
        headers: &HeaderMap,
        body: (Bytes, Format),
    ) -> Result<Bytes, GatewayError> {
        let format = body.1;
        let call = self.prepare(route, false, headers, body)?;
        let answer = self
            .grpc(&call.method)
            .await?
            .unary(call.request, call.path, Encoded)
            .await
            .map_err(GatewayError::Status)?
            .into_inner();
        encode_output(&call.method, answer, format)
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
    /// The gRPC code this refusal carries.
    pub(crate) fn connect_code(&self) -> tonic::Code {
        match self {
            Self::Status(status) => status.code(),
            Self::NoMethod(_) | Self::Streaming(_) | Self::NotStreaming(_) => {
                tonic::Code::Unimplemented
            }
            Self::BadBody(..) | Self::ContentType(_) | Self::Compressed => {
                tonic::Code::InvalidArgument
            }
        }
    }

    /// Connect's error JSON and the HTTP status a unary answer carries it with.
    pub(crate) fn connect_error(&self) -> (StatusCode, serde_json::Value) {
        let (message, details) = match self {
            Self::Status(status) => {
                let details = pb::Status::decode(status.details())
                    .map(|decoded| decoded.details.iter().map(detail).collect())
                    .unwrap_or_default();
                (status.message().to_owned(), details)
            }
            _ => (self.to_string(), Vec::new()),
        };
        let (name, status) = match self {
            Self::ContentType(_) => ("invalid_argument", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            _ => connect_code(self.connect_code()),
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
