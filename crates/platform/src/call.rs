//! What a handler knows about the call it serves, built once at the edge and passed to the service
//! layer for reads and writes alike: who calls, which method, the request id and the payload's
//! fingerprint, the credentials to forward to other services, the deadline, and the clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;

use crate::aip;
use crate::auth::Caller;
use crate::error::PlatformError;

/// The full gRPC method of a call (`/fazhi.units.v1.UnitsService/CreateUnit`), put in the
/// request's extensions by the server stack, which reads it off the path.
#[derive(Debug, Clone)]
pub struct RpcMethod(pub Arc<str>);

/// The `grpc.server` span of a call, put in the request's extensions by the server stack, so
/// that what is learnt later (the subject, the request id) lands on the span every log line of
/// the call carries.
#[derive(Debug, Clone)]
pub struct RootSpan(pub tracing::Span);

/// When the call must be answered by: the caller's `grpc-timeout` or the server's own limit,
/// whichever comes first. Put in the request's extensions by the server stack.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub tokio::time::Instant);

/// Resolves when the server begins to shut down, for calls that never end on their own (event
/// streams), so they end at once rather than hold the shutdown for its whole grace period. Put
/// in the request's extensions by the server stack; outside a server it never resolves.
#[derive(Debug, Clone, Default)]
pub struct Stopping(Option<tokio::sync::watch::Receiver<bool>>);

impl Stopping {
    pub fn new(receiver: tokio::sync::watch::Receiver<bool>) -> Self {
        Self(Some(receiver))
    }

    /// Waits until the server stops (or is gone).
    pub async fn wait(&self) {
        match &self.0 {
            Some(receiver) => {
                let _ = receiver.clone().wait_for(|stopped| *stopped).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// "Now" for the rules of a call. The system clock in production; tests serve with a fixed one
/// so that "today" is what the test says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Fixed(time) => time,
        }
    }

    /// Today's date (UTC).
    pub fn today(self) -> NaiveDate {
        self.now().date_naive()
    }
}

/// The caller's own credentials (`authorization` metadata), forwarded unchanged when this
/// service calls another for the caller, so the other applies its rules to the real caller.
#[derive(Clone, Default)]
pub struct Credentials(Option<Arc<str>>);

impl Credentials {
    /// Credentials of a service acting for itself (`Bearer …`).
    pub fn bearer(header_value: impl Into<Arc<str>>) -> Self {
        Self(Some(header_value.into()))
    }

    pub fn authorization(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() {
            "Credentials(..)"
        } else {
            "Credentials(none)"
        })
    }
}

/// One call as the service layer sees it.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub caller: Caller,
    pub method: Arc<str>,
    /// AIP-155: set on mutations that carry one.
    pub request_id: Option<String>,
    /// See [`aip::request_fingerprint`]; empty for reads.
    pub fingerprint: Vec<u8>,
    pub credentials: Credentials,
    pub deadline: Option<tokio::time::Instant>,
    pub clock: Clock,
    pub stopping: Stopping,
}

impl CallContext {
    /// The context of a read: the caller, the method, the credentials, the deadline, the clock.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, PlatformError> {
        let extensions = request.extensions();
        let caller = crate::auth::caller_of(request)?;
        let method = extensions
            .get::<RpcMethod>()
            .map(|method| Arc::clone(&method.0))
            .unwrap_or_else(|| Arc::from(""));
        let credentials = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .map(Credentials::bearer)
            .unwrap_or_default();
        Ok(Self {
            caller,
            method,
            request_id: None,
            fingerprint: Vec::new(),
            credentials,
            deadline: extensions.get::<Deadline>().map(|deadline| deadline.0),
            clock: extensions.get::<Clock>().copied().unwrap_or_default(),
            stopping: extensions.get::<Stopping>().cloned().unwrap_or_default(),
        })
    }

    /// The context of a mutation with its `request_id` (empty: not idempotent), checked, and the
    /// fingerprint of the whole request, to tell a retry from a reuse of the id.
    pub fn mutation<T: Message>(
        request: &tonic::Request<T>,
        request_id: &str,
    ) -> Result<Self, PlatformError> {
        let mut context = Self::of(request)?;
        context.request_id = aip::request_id(request_id)
            .map_err(|violation| PlatformError::InvalidArgument(vec![violation]))?;
        if let (Some(root), Some(request_id)) =
            (request.extensions().get::<RootSpan>(), &context.request_id)
        {
            root.0.record("request_id", request_id.as_str());
        }
        context.fingerprint =
            aip::request_fingerprint(&context.method, &request.get_ref().encode_to_vec());
        Ok(context)
    }

    /// The service acting on its own (following another service's events), audited as
    /// `system`; `method` names what it does, `credentials` are its own for the calls it makes.
    pub fn system(method: &str, credentials: Credentials) -> Self {
        Self {
            caller: Caller::system(),
            method: Arc::from(method),
            request_id: None,
            fingerprint: Vec::new(),
            credentials,
            deadline: None,
            clock: Clock::System,
            stopping: Stopping::default(),
        }
    }

    /// Time left before the deadline, for the calls this one makes to other services.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()))
    }
}

/// Parses a `grpc-timeout` header value (`100m`, `5S`, at most 8 digits and a unit).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("123456789m"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
        assert_eq!(parse_grpc_timeout("1é"), None);
    }

    #[test]
    fn fixed_clock_says_today() {
        let noon = DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .map(|time| time.with_timezone(&Utc))
            .ok();
        let clock = Clock::Fixed(noon.unwrap_or_default());
        assert_eq!(clock.today().to_string(), "2025-03-01");
    }
}
