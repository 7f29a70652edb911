//! Connect server streaming (`application/connect+json`, `application/connect+proto`): every
//! message in a five-byte envelope, and a last end-of-stream envelope carrying the error, if any,
//! as Connect's error JSON. The answer is 200 once the request was read; what went wrong after
//! that travels in the last envelope, as the protocol says.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, BufMut, BytesMut};

use crate::codec::Encoded;
use crate::connect::{Format, GatewayError, encode_output};
use crate::gateway::Gateway;

/// The envelope flag of a compressed message.
const COMPRESSED: u8 = 0b01;
/// The envelope flag of the end-of-stream message.
const END_STREAM: u8 = 0b10;

/// `message` in an envelope with `flags`.
fn envelope(flags: u8, message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(flags);
    // Messages are bounded by the gateway's and the services' 16 MiB limits.
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(message);
    framed.freeze()
}

/// The one request message of a server-streaming call, out of its envelope.
fn open_envelope(mut body: Bytes) -> Result<Bytes, GatewayError> {
    let malformed =
        || GatewayError::BadBody("enveloped".to_owned(), "malformed envelope".to_owned());
    if body.len() < 5 {
        return Err(malformed());
    }
    let flags = body.get_u8();
    let length = usize::try_from(body.get_u32()).map_err(|_| malformed())?;
    if flags & COMPRESSED != 0 {
        return Err(GatewayError::Compressed);
    }
    if body.len() != length {
        return Err(malformed());
    }
    Ok(body)
}

/// The end-of-stream envelope: `{}` after a clean end, `{"error": …}` after a failure.
fn end_stream(error: Option<&GatewayError>) -> Bytes {
    let message = match error {
        None => serde_json::json!({}),
        Some(error) => serde_json::json!({"error": error.connect_error().1}),
    };
    envelope(END_STREAM, message.to_string().as_bytes())
}

/// Forwards a server-streaming call and streams its messages back as they come; a caller that
/// goes away drops the body, and with it the call to the service.
pub(crate) async fn server_stream(
    gateway: &Gateway,
    route: (&str, &str),
    headers: &HeaderMap,
    (body, format): (Bytes, Format),
) -> Response {
    let started = async {
        let call = gateway.prepare(route, true, headers, (open_envelope(body)?, format))?;
        let messages = gateway
            .grpc(&call.method)
            .await?
            .server_streaming(call.request, call.path, Encoded)
            .await
            .map_err(GatewayError::Status)?
            .into_inner();
        Ok::<_, GatewayError>((call.method, messages))
    }
    .await;
    let (method, mut messages) = match started {
        Ok(started) => started,
        Err(error) => return refused(format, &error),
    };
    let body = Body::from_stream(async_stream::stream! {
        loop {
            let next = messages.message().await.map_err(GatewayError::Status);
            let error = match next.and_then(|message| {
                message.map(|answer| encode_output(&method, answer, format)).transpose()
            }) {
                Ok(Some(encoded)) => {
                    yield Ok::<_, Infallible>(envelope(0, &encoded));
                    continue;
                }
                Ok(None) => None,
                Err(error) => Some(error),
            };
            yield Ok(end_stream(error.as_ref()));
            break;
        }
    });
    answer(format, body)
}

/// A stream refused before its first message: only the end-of-stream envelope, with the error.
pub(crate) fn refused(format: Format, error: &GatewayError) -> Response {
    answer(format, Body::from(end_stream(Some(error))))
}

fn answer(format: Format, body: Body) -> Response {
    let content_type = match format {
        Format::Json => "application/connect+json",
        Format::Proto => "application/connect+proto",
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
