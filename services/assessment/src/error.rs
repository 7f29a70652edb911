//! The assessment service's errors, mapped once to `google.rpc.Status`.

use fazhi_platform::error::{DescribeError, ErrorDescription, PlatformError};
use fazhi_platform::upstream::UpstreamError;
use tonic::Code;

use crate::domain::{ClaimState, ItemState};

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "assessment.fazhi";

#[derive(Debug, thiserror::Error)]
pub enum AssessmentError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Another service (units, plans, indicators) refused what a round asked of it.
    #[error("the {0} service rejected the request: {1}")]
    Rejected(&'static str, String),
    #[error("the {0} service could not be reached: {1}")]
    Unavailable(&'static str, String),
    #[error("the round is published already: it is final")]
    RoundPublished,
    #[error("the round was revised already by {0}: revise the latest revision")]
    RoundRevised(String),
    #[error("the round is not published yet: its scores can be appealed once it is")]
    RoundNotPublished,
    #[error("the appeal window closed {0} days after the round was published")]
    AppealWindowClosed(i64),
    #[error("it was decided already ({}): a decision is final", .0.as_str())]
    ClaimDecided(ClaimState),
    #[error("the rectification item is {} and cannot take this step", .0.as_str())]
    ItemWrongState(ItemState),
}

fazhi_platform::service_error!(AssessmentError, ERROR_DOMAIN);

impl AssessmentError {
    /// What another service said, kept: a refusal stays a refusal, only an outage says retry.
    pub fn upstream(service: &'static str, error: UpstreamError) -> Self {
        match error {
            UpstreamError::NotFound(name) => Self::Platform(PlatformError::NotFound(name)),
            UpstreamError::PermissionDenied => Self::Platform(PlatformError::PermissionDenied),
            UpstreamError::Unauthenticated => Self::Platform(PlatformError::Unauthenticated(
                format!("the {service} service did not accept the credentials"),
            )),
            UpstreamError::InvalidArgument(message) => Self::Rejected(service, message),
            UpstreamError::Unavailable(message) => Self::Unavailable(service, message),
            UpstreamError::Failed(message) => Self::Platform(PlatformError::Internal(format!(
                "{service} service: {message}"
            ))),
        }
    }
}

fn service_word(service: &str) -> &'static str {
    match service {
        "units" => "单位库",
        "plans" => "规划",
        _ => "指标",
    }
}

fn item_state_word(state: ItemState) -> &'static str {
    match state {
        ItemState::Open => "待整改",
        ItemState::InProgress => "整改中",
        ItemState::Submitted => "已报送",
        ItemState::Closed => "已销号",
        ItemState::Reopened => "已退回",
    }
}

impl From<crate::domain::WrongState> for AssessmentError {
    fn from(refusal: crate::domain::WrongState) -> Self {
        Self::ItemWrongState(refusal.0)
    }
}

impl DescribeError for AssessmentError {
    fn describe(&self) -> ErrorDescription {
        match self {
            Self::Platform(error) => error.describe(),
            Self::Rejected(service, message) => ErrorDescription::new(
                Code::FailedPrecondition,
                "UPSTREAM_REJECTED",
                self.to_string(),
                format!("{}服务拒绝了该请求:{message}", service_word(service)),
            ),
            Self::RoundPublished => ErrorDescription::new(
                Code::FailedPrecondition,
                "ROUND_PUBLISHED",
                self.to_string(),
                "该轮考核已发布,不能再次发布",
            ),
            Self::RoundRevised(later) => ErrorDescription::new(
                Code::FailedPrecondition,
                "ROUND_REVISED",
                self.to_string(),
                format!("该轮考核已由 {later} 重新计算,请对最新一次修订重新计算"),
            ),
            Self::RoundNotPublished => ErrorDescription::new(
                Code::FailedPrecondition,
                "ROUND_NOT_PUBLISHED",
                self.to_string(),
                "该轮考核尚未发布,发布后方可申诉",
            ),
            Self::AppealWindowClosed(days) => ErrorDescription::new(
                Code::FailedPrecondition,
                "APPEAL_WINDOW_CLOSED",
                self.to_string(),
                format!("申诉期为考核结果发布后 {days} 天,已过申诉期"),
            ),
            Self::ClaimDecided(state) => ErrorDescription::new(
                Code::FailedPrecondition,
                "CLAIM_DECIDED",
                self.to_string(),
                format!(
                    "已作出决定({}),不能再次提交或决定",
                    match state {
                        ClaimState::Pending => "待处理",
                        ClaimState::Upheld => "维持",
                        ClaimState::Adjusted => "调整",
                    }
                ),
            ),
            Self::ItemWrongState(state) => ErrorDescription::new(
                Code::FailedPrecondition,
                "ITEM_WRONG_STATE",
                self.to_string(),
                format!(
                    "该整改事项当前为“{}”,不能执行此操作",
                    item_state_word(*state)
                ),
            ),
            Self::Unavailable(service, _) => ErrorDescription::new(
                Code::Unavailable,
                "UPSTREAM_UNAVAILABLE",
                format!("the {service} service is unavailable; retry later"),
                format!("{}服务暂不可用,请稍后重试", service_word(service)),
            ),
        }
    }
}
