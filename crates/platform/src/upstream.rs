//! Calls to another Fazhi service: the caller's credentials and the call's remaining deadline
//! carried along, and the upstream status code kept (a refusal is not an outage).

use tonic::Code;

use crate::call::CallContext;

/// What went wrong calling another service, with the upstream code kept: only
/// [`UpstreamError::Unavailable`] means "retry later".
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{0} not found upstream")]
    NotFound(String),
    #[error("the upstream service refused the caller")]
    PermissionDenied,
    #[error("the upstream service did not accept the caller's credentials")]
    Unauthenticated,
    #[error("the upstream service rejected the request: {0}")]
    InvalidArgument(String),
    #[error("the upstream service could not be reached: {0}")]
    Unavailable(String),
    #[error("the upstream service failed: {0}")]
    Failed(String),
}

impl UpstreamError {
    /// Keeps the code: NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED and INVALID_ARGUMENT pass
    /// through; UNAVAILABLE and DEADLINE_EXCEEDED are an outage; anything else is a fault there.
    pub fn from_status(status: &tonic::Status, what: &str) -> Self {
        match status.code() {
            Code::NotFound => Self::NotFound(what.to_owned()),
            Code::PermissionDenied => Self::PermissionDenied,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                Self::InvalidArgument(status.message().to_owned())
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                Self::Unavailable(format!("{:?}: {}", status.code(), status.message()))
            }
            code => Self::Failed(format!("{code:?}: {}", status.message())),
        }
    }
}

/// A request carrying the caller's credentials and the call's remaining deadline.
pub fn outbound<T>(message: T, context: &CallContext) -> Result<tonic::Request<T>, UpstreamError> {
    let mut request = tonic::Request::new(message);
    if let Some(authorization) = context.credentials.authorization() {
        let value = authorization
            .parse()
            .map_err(|_| UpstreamError::Unauthenticated)?;
        request.metadata_mut().insert("authorization", value);
    }
    if let Some(remaining) = context.remaining() {
        request.set_timeout(remaining);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_not_outages() {
        let denied = tonic::Status::permission_denied("no");
        assert!(matches!(
            UpstreamError::from_status(&denied, "units/x"),
            UpstreamError::PermissionDenied
        ));
        let invalid = tonic::Status::invalid_argument("bad");
        assert!(matches!(
            UpstreamError::from_status(&invalid, "units/x"),
            UpstreamError::InvalidArgument(_)
        ));
        let unauthenticated = tonic::Status::unauthenticated("who");
        assert!(matches!(
            UpstreamError::from_status(&unauthenticated, "units/x"),
            UpstreamError::Unauthenticated
        ));
        for status in [
            tonic::Status::unavailable("down"),
            tonic::Status::deadline_exceeded("slow"),
        ] {
            assert!(matches!(
                UpstreamError::from_status(&status, "units/x"),
                UpstreamError::Unavailable(_)
            ));
        }
        assert!(matches!(
            UpstreamError::from_status(&tonic::Status::internal("oops"), "units/x"),
            UpstreamError::Failed(_)
        ));
    }
}
