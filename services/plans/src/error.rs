//! The plans service's errors, mapped once to `google.rpc.Status`.

use fazhi_platform::error::{DescribeError, ErrorDescription, PlatformError};
use fazhi_units_client::UnitsClientError;
use tonic::Code;

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "plans.fazhi";

#[derive(Debug, thiserror::Error)]
pub enum PlansError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("plan {0} not found")]
    PlanNotFound(String),
    #[error("the units service could not be reached: {0}")]
    UnitsUnavailable(String),
    #[error("the units service rejected the request: {0}")]
    UnitsRejected(String),
    #[error("task {0} not found")]
    TaskNotFound(String),
    #[error("the plan is not a draft")]
    PlanNotDraft,
    #[error("assignment {0} not found")]
    AssignmentNotFound(String),
    #[error("the assignment was claimed already")]
    AlreadyClaimed,
    #[error("the assignment must be claimed before progress is reported")]
    NotClaimed,
    #[error("unit {0} already has this part of the task")]
    AlreadyAssigned(String),
    #[error("evidence {0} not found")]
    EvidenceNotFound(String),
    #[error("the plan has no parent plan")]
    NoParentPlan,
    #[error("the plan is closed")]
    PlanClosed,
    #[error("only a published plan can be closed")]
    PlanNotPublished,
    #[error("tasks are edited only while the plan is a draft; reassign its assignments instead")]
    TasksFrozen,
    #[error("unresolved unit mentions: {}", .0.join("; "))]
    UnresolvedMentions(Vec<String>),
}

fazhi_platform::service_error!(PlansError, ERROR_DOMAIN);

impl From<UnitsClientError> for PlansError {
    /// Keeps what the units service said: a refusal stays a refusal, only an outage says retry.
    fn from(error: UnitsClientError) -> Self {
        match error {
            UnitsClientError::NotFound(name) => Self::Platform(PlatformError::NotFound(name)),
            UnitsClientError::PermissionDenied => Self::Platform(PlatformError::PermissionDenied),
            UnitsClientError::Unauthenticated => Self::Platform(PlatformError::Unauthenticated(
                "the units service did not accept the credentials".to_owned(),
            )),
            UnitsClientError::InvalidArgument(message) => Self::UnitsRejected(message),
            UnitsClientError::Unavailable(message) => Self::UnitsUnavailable(message),
            UnitsClientError::Failed(message) => {
                Self::Platform(PlatformError::Internal(format!("units service: {message}")))
            }
        }
    }
}

impl DescribeError for PlansError {
    fn describe(&self) -> ErrorDescription {
        match self {
            Self::Platform(error) => error.describe(),
            Self::PlanNotFound(plan) => ErrorDescription::new(
                Code::NotFound,
                "PLAN_NOT_FOUND",
                self.to_string(),
                format!("未找到实施方案 {plan}"),
            ),
            Self::AssignmentNotFound(name) => ErrorDescription::new(
                Code::NotFound,
                "ASSIGNMENT_NOT_FOUND",
                self.to_string(),
                format!("未找到任务分工 {name}"),
            ),
            Self::AlreadyClaimed => ErrorDescription::new(
                Code::FailedPrecondition,
                "ALREADY_CLAIMED",
                self.to_string(),
                "该任务已被认领",
            ),
            Self::NotClaimed => ErrorDescription::new(
                Code::FailedPrecondition,
                "NOT_CLAIMED",
                self.to_string(),
                "须先认领任务,再报送工作进展",
            ),
            Self::AlreadyAssigned(unit) => ErrorDescription::new(
                Code::AlreadyExists,
                "ALREADY_ASSIGNED",
                self.to_string(),
                format!("单位 {unit} 已承担该任务的同一角色"),
            ),
            Self::EvidenceNotFound(sha256) => ErrorDescription::new(
                Code::NotFound,
                "EVIDENCE_NOT_FOUND",
                self.to_string(),
                format!("未找到佐证材料 {sha256}"),
            ),
            Self::NoParentPlan => ErrorDescription::new(
                Code::FailedPrecondition,
                "NO_PARENT_PLAN",
                self.to_string(),
                "该实施方案没有上级方案,无法对标",
            ),
            Self::PlanClosed => ErrorDescription::new(
                Code::FailedPrecondition,
                "PLAN_CLOSED",
                self.to_string(),
                "实施方案已结束,不能修改",
            ),
            Self::PlanNotPublished => ErrorDescription::new(
                Code::FailedPrecondition,
                "PLAN_NOT_PUBLISHED",
                self.to_string(),
                "只有已发布的实施方案才能结束",
            ),
            Self::TasksFrozen => ErrorDescription::new(
                Code::FailedPrecondition,
                "TASKS_FROZEN",
                self.to_string(),
                "实施方案发布后不能修改任务,请调整任务分工",
            ),
            Self::PlanNotDraft => ErrorDescription::new(
                Code::FailedPrecondition,
                "PLAN_NOT_DRAFT",
                self.to_string(),
                "只有草稿状态的实施方案才能发布或删除",
            ),
            Self::UnresolvedMentions(mentions) => ErrorDescription::new(
                Code::FailedPrecondition,
                "UNRESOLVED_MENTIONS",
                self.to_string(),
                format!("以下单位名称尚未对应到单位,请先处理:{}", mentions.join(";")),
            ),
            Self::UnitsRejected(message) => ErrorDescription::new(
                Code::InvalidArgument,
                "UNITS_REJECTED",
                self.to_string(),
                format!("单位库服务拒绝了该请求:{message}"),
            ),
            Self::TaskNotFound(name) => ErrorDescription::new(
                Code::NotFound,
                "TASK_NOT_FOUND",
                self.to_string(),
                format!("未找到任务 {name}"),
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
