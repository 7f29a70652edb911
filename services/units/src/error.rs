//! The units service's errors, mapped once to `google.rpc.Status`.

use fazhi_platform::error::{DescribeError, ErrorDescription, FieldViolation, PlatformError};
use tonic::Code;

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "units.fazhi";

#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("unit {0} not found")]
    UnitNotFound(String),
    #[error("unit group {0} not found")]
    GroupNotFound(String),
    #[error("unit {0} does not exist on {1}")]
    UnitNotActive(String, chrono::NaiveDate),
    #[error("placing {0} under {1} would make a cycle")]
    HierarchyCycle(String, String),
    #[error("unit {0} still has units below it")]
    HasChildren(String),
    #[error("the unified social credit code is already registered to another unit")]
    DuplicateCreditCode,
    #[error("registry file, {location}: {message}")]
    BadRegistry { location: String, message: String },
}

fazhi_platform::service_error!(UnitsError, ERROR_DOMAIN);

impl DescribeError for UnitsError {
    fn describe(&self) -> ErrorDescription {
        match self {
            Self::Platform(error) => error.describe(),
            Self::UnitNotFound(unit) => ErrorDescription::new(
                Code::NotFound,
                "UNIT_NOT_FOUND",
                self.to_string(),
                format!("未找到单位 {unit}"),
            ),
            Self::GroupNotFound(group) => ErrorDescription::new(
                Code::NotFound,
                "UNIT_GROUP_NOT_FOUND",
                self.to_string(),
                format!("未找到单位组 {group}"),
            ),
            Self::UnitNotActive(unit, date) => ErrorDescription::new(
                Code::FailedPrecondition,
                "UNIT_NOT_ACTIVE",
                self.to_string(),
                format!("单位 {unit} 在 {date} 不存在(尚未设立或已撤并)"),
            ),
            Self::HierarchyCycle(unit, parent) => ErrorDescription::new(
                Code::FailedPrecondition,
                "HIERARCHY_CYCLE",
                self.to_string(),
                format!("将 {unit} 置于 {parent} 之下会形成循环隶属"),
            ),
            Self::HasChildren(unit) => ErrorDescription::new(
                Code::FailedPrecondition,
                "UNIT_HAS_CHILDREN",
                self.to_string(),
                format!("单位 {unit} 仍有下级单位,不能删除"),
            ),
            Self::DuplicateCreditCode => ErrorDescription::new(
                Code::AlreadyExists,
                "DUPLICATE_CREDIT_CODE",
                self.to_string(),
                "该统一社会信用代码已登记给其他单位",
            ),
            Self::BadRegistry { location, message } => ErrorDescription {
                violations: vec![FieldViolation::new(
                    "content",
                    "BAD_REGISTRY_FILE",
                    format!("{location}: {message}"),
                    format!("{location}:{message}"),
                )],
                ..ErrorDescription::new(
                    Code::InvalidArgument,
                    "BAD_REGISTRY_FILE",
                    self.to_string(),
                    format!("登记文件有误,{location}:{message}"),
                )
            },
        }
    }
}
