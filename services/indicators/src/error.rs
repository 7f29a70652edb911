//! The indicators service's errors, mapped once to `google.rpc.Status`.

use fazhi_platform::error::{DescribeError, ErrorDescription, PlatformError};
use fazhi_platform::upstream::UpstreamError;
use fazhi_units_client::UnitsClientError;
use tonic::Code;

use crate::domain::{ProposalState, ValueRefusal, ValueState};

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "indicators.fazhi";

#[derive(Debug, thiserror::Error)]
pub enum IndicatorsError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("the units service could not be reached: {0}")]
    UnitsUnavailable(String),
    #[error("the units service rejected the request: {0}")]
    UnitsRejected(String),
    #[error("the value is {} and cannot be changed; it must be returned or reopened first", .0.as_str())]
    ValueLocked(ValueState),
    #[error("the value is {} and cannot take this step", .0.as_str())]
    ValueWrongState(ValueState),
    /// What cannot be deleted (with the reason naming its kind: `TARGET_IN_USE`…), and a
    /// live entry that needs it.
    #[error("{1} is used by {2}, which is not deleted")]
    InUse(&'static str, String, String),
    #[error("the plans service could not be reached: {0}")]
    PlansUnavailable(String),
    #[error("the plans service rejected the request: {0}")]
    PlansRejected(String),
    #[error("the proposal is {} already", .0.as_str())]
    ProposalDecided(ProposalState),
    #[error("nothing in the catalogue matches the proposal ({0}); name the targets to make")]
    ProposalUnmatched(String),
}

fazhi_platform::service_error!(IndicatorsError, ERROR_DOMAIN);

impl From<UnitsClientError> for IndicatorsError {
    fn from(error: UnitsClientError) -> Self {
        Self::upstream(
            error,
            "units",
            (Self::UnitsRejected, Self::UnitsUnavailable),
        )
    }
}

/// How an answer names the service it came from: its refusal, and its outage.
type UpstreamVariants = (fn(String) -> IndicatorsError, fn(String) -> IndicatorsError);

impl IndicatorsError {
    /// What another service (`service`) said, kept: a refusal stays a refusal, only an outage
    /// says retry; `rejected` and `unavailable` name that service in the answer.
    pub fn upstream(
        error: UpstreamError,
        service: &str,
        (rejected, unavailable): UpstreamVariants,
    ) -> Self {
        match error {
            UpstreamError::NotFound(name) => Self::Platform(PlatformError::NotFound(name)),
            UpstreamError::PermissionDenied => Self::Platform(PlatformError::PermissionDenied),
            UpstreamError::Unauthenticated => Self::Platform(PlatformError::Unauthenticated(
                format!("the {service} service did not accept the credentials"),
            )),
            UpstreamError::InvalidArgument(message) => rejected(message),
            UpstreamError::Unavailable(message) => unavailable(message),
            UpstreamError::Failed(message) => Self::Platform(PlatformError::Internal(format!(
                "{service} service: {message}"
            ))),
        }
    }
}

impl From<ValueRefusal> for IndicatorsError {
    fn from(refusal: ValueRefusal) -> Self {
        match refusal {
            ValueRefusal::Locked(state) => Self::ValueLocked(state),
            ValueRefusal::WrongState(state) => Self::ValueWrongState(state),
        }
    }
}

fn state_word(state: ValueState) -> &'static str {
    match state {
        ValueState::Draft => "草稿",
        ValueState::Submitted => "已报送",
        ValueState::Approved => "已审核",
        ValueState::Returned => "已退回",
    }
}

impl DescribeError for IndicatorsError {
    fn describe(&self) -> ErrorDescription {
        match self {
            Self::Platform(error) => error.describe(),
            Self::ValueLocked(state) => ErrorDescription::new(
                Code::FailedPrecondition,
                "VALUE_LOCKED",
                self.to_string(),
                format!("该数据{},不能修改;须先退回或重新打开", state_word(*state)),
            ),
            Self::ValueWrongState(state) => ErrorDescription::new(
                Code::FailedPrecondition,
                "VALUE_WRONG_STATE",
                self.to_string(),
                format!("该数据{},不能执行此操作", state_word(*state)),
            ),
            Self::InUse(reason, used, user) => ErrorDescription::new(
                Code::FailedPrecondition,
                reason,
                self.to_string(),
                format!("{used} 正被 {user} 使用,须先删除或修改 {user}"),
            ),
            Self::UnitsRejected(message) => ErrorDescription::new(
                Code::InvalidArgument,
                "UNITS_REJECTED",
                self.to_string(),
                format!("单位库服务拒绝了该请求:{message}"),
            ),
            Self::PlansRejected(message) => ErrorDescription::new(
                Code::InvalidArgument,
                "PLANS_REJECTED",
                self.to_string(),
                format!("规划服务拒绝了该请求:{message}"),
            ),
            Self::PlansUnavailable(_) => ErrorDescription::new(
                Code::Unavailable,
                "PLANS_UNAVAILABLE",
                "the plans service is unavailable; retry later",
                "规划服务暂不可用,请稍后重试",
            ),
            Self::ProposalDecided(state) => ErrorDescription::new(
                Code::FailedPrecondition,
                "PROPOSAL_DECIDED",
                self.to_string(),
                format!(
                    "该拟设目标已{}",
                    if *state == ProposalState::Rejected {
                        "驳回"
                    } else {
                        "采纳"
                    }
                ),
            ),
            Self::ProposalUnmatched(reason) => ErrorDescription::new(
                Code::FailedPrecondition,
                "PROPOSAL_UNMATCHED",
                self.to_string(),
                format!("{reason};请指定要设立的目标"),
            ),
            Self::UnitsUnavailable(_) => ErrorDescription::new(
                Code::Unavailable,
                "UNITS_UNAVAILABLE",
                "the unit registry is unavailable; retry later",
                "单位库服务暂不可用,请稍后重试",
            ),
        }
    }
}
