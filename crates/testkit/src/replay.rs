//! AIP-155 replay checks for any mutating RPC: the same request id gives the first answer, on a
//! retry and after the resource has moved on; the same id with another payload is refused.

use std::fmt::Debug;

use tonic_types::StatusExt;

/// The `ErrorInfo.reason` of a status, or "" when it carries none.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// Sends `request` (which carries a request id) three times through `call`: twice in a row, and
/// once more after `change` has changed the resource (so a stale etag or a state check would
/// now refuse it). Every answer must equal the first. Then `reused`, the same request id with
/// another payload, must be refused with `REQUEST_ID_REUSED`. Returns the first answer.
pub async fn assert_replays<Request, Response, Call, Answer>(
    what: &str,
    call: Call,
    (request, reused): (Request, Request),
    change: impl AsyncFnOnce(),
) -> Response
where
    Request: Clone,
    Response: PartialEq + Debug,
    Call: Fn(Request) -> Answer,
    Answer: Future<Output = Result<tonic::Response<Response>, tonic::Status>>,
{
    let first = call(request.clone())
        .await
        .unwrap_or_else(|status| panic!("{what}: the first call failed: {status:?}"))
        .into_inner();
    let retry = call(request.clone())
        .await
        .unwrap_or_else(|status| panic!("{what}: the retry was not replayed: {status:?}"))
        .into_inner();
    assert_eq!(
        retry, first,
        "{what}: a retry answers as the first call did"
    );
    change().await;
    let late = call(request)
        .await
        .unwrap_or_else(|status| {
            panic!("{what}: a retry after the resource changed was not replayed: {status:?}")
        })
        .into_inner();
    assert_eq!(
        late, first,
        "{what}: a late retry answers as the first call did"
    );
    let refused = call(reused)
        .await
        .expect_err("the same request id with another payload is refused");
    assert_eq!(
        refused.code(),
        tonic::Code::InvalidArgument,
        "{what}: {refused:?}"
    );
    assert_eq!(reason(&refused), "REQUEST_ID_REUSED", "{what}");
    first
}

/// The `BadRequest` field violations of a status as `(field, reason)`.
pub fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|violation| (violation.field, violation.reason))
                .collect()
        })
        .unwrap_or_default()
}
