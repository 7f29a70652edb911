//! Errors at the edge: every service error becomes a `google.rpc.Status` with `ErrorInfo`,
//! `BadRequest` field violations and a zh-CN `LocalizedMessage`, in one place.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// A message in English and Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bilingual {
    pub en: String,
    pub zh: String,
}

impl Bilingual {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

/// One bad request field (`unit.display_name`), with a stable reason and a message in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub reason: &'static str,
    pub message: Bilingual,
}

impl FieldViolation {
    pub fn new(
        field: impl Into<String>,
        reason: &'static str,
        en: impl Into<String>,
        zh: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            reason,
            message: Bilingual::new(en, zh),
        }
    }

    /// A text over `max` characters.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let field = field.into();
        Self::new(
            field.clone(),
            "TOO_LONG",
            format!("{field} must be at most {max} characters"),
            format!("{field} 不能超过 {max} 个字符"),
        )
    }

    /// A list over `max` items.
    pub fn too_many(field: impl Into<String>, max: usize) -> Self {
        let field = field.into();
        Self::new(
            field.clone(),
            "TOO_MANY",
            format!("{field} may hold at most {max} items"),
            format!("{field} 最多 {max} 项"),
        )
    }

    /// The violations of a list of texts: over `max_items`, or an item over `max_chars` (the
    /// first such, by index). Every list and string an RPC takes is bounded, so no call can make
    /// the server do unbounded work.
    pub fn check_texts(
        field: &str,
        items: &[String],
        (max_items, max_chars): (usize, usize),
    ) -> Vec<Self> {
        let mut violations = Vec::new();
        if items.len() > max_items {
            violations.push(Self::too_many(field, max_items));
        }
        if let Some(index) = items
            .iter()
            .position(|item| item.chars().count() > max_chars)
        {
            violations.push(Self::too_long(format!("{field}[{index}]"), max_chars));
        }
        violations
    }

    /// The common case: a required field left empty.
    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(
            field.clone(),
            "REQUIRED",
            format!("{field} is required"),
            format!("{field} 为必填项"),
        )
    }
}

/// What a caller is told about an error: code, stable reason, messages, field violations.
#[derive(Debug, Clone)]
pub struct ErrorDescription {
    pub code: Code,
    /// Stable API: `ErrorInfo.reason`, SCREAMING_SNAKE_CASE.
    pub reason: &'static str,
    pub message: Bilingual,
    pub violations: Vec<FieldViolation>,
}

impl ErrorDescription {
    pub fn new(
        code: Code,
        reason: &'static str,
        en: impl Into<String>,
        zh: impl Into<String>,
    ) -> Self {
        Self {
            code,
            reason,
            message: Bilingual::new(en, zh),
            violations: Vec::new(),
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(
            self.code,
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable
        )
    }
}

/// A service's error type: says what the caller may know. Implemented once per service.
pub trait DescribeError: std::error::Error {
    fn describe(&self) -> ErrorDescription;
}

/// Converts an error to a `Status` for `domain` (e.g. `units.fazhi`), logging it once:
/// server faults at ERROR with the whole cause chain, client errors at WARN.
pub fn into_status<E: DescribeError>(domain: &str, error: &E) -> tonic::Status {
    let description = error.describe();
    if description.is_server_fault() {
        tracing::error!(reason = description.reason, error = %ErrorChain(error), "request failed");
    } else {
        tracing::warn!(reason = description.reason, error = %error, "request rejected");
    }
    to_status(domain, description)
}

/// Builds the `Status` with its details.
pub fn to_status(domain: &str, description: ErrorDescription) -> tonic::Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(description.reason, domain, HashMap::<String, String>::new());
    details.set_localized_message("zh-CN", description.message.zh);
    if !description.violations.is_empty() {
        let violations: Vec<tonic_types::FieldViolation> = description
            .violations
            .into_iter()
            .map(|violation| tonic_types::FieldViolation {
                field: violation.field,
                description: violation.message.en,
                reason: violation.reason.to_owned(),
                localized_message: Some(tonic_types::LocalizedMessage {
                    locale: "zh-CN".to_owned(),
                    message: violation.message.zh,
                }),
            })
            .collect();
        details.set_bad_request(violations);
    }
    tonic::Status::with_error_details(description.code, description.message.en, details)
}

/// Displays an error with its sources, `a: b: c`.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(formatter, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The glue every service's error enum needs, written once: `$error` must have a
/// `Platform(#[from] PlatformError)` variant and implement [`DescribeError`]. Adds
/// `invalid`/`invalid_field`, `From<sqlx::Error>`, `From<$error> for tonic::Status` (with
/// `ErrorInfo.domain` = `$domain`) and `type Result<T>`.
#[macro_export]
macro_rules! service_error {
    ($error:ident, $domain:expr) => {
        impl $error {
            /// Bad request fields, every one named.
            pub fn invalid(violations: Vec<$crate::error::FieldViolation>) -> Self {
                Self::Platform($crate::error::PlatformError::InvalidArgument(violations))
            }

            /// One bad request field.
            pub fn invalid_field(violation: $crate::error::FieldViolation) -> Self {
                Self::invalid(vec![violation])
            }

            /// Refuses with every violation found; passes when there are none.
            pub fn refuse_any(violations: Vec<$crate::error::FieldViolation>) -> Result<(), Self> {
                if violations.is_empty() {
                    Ok(())
                } else {
                    Err(Self::invalid(violations))
                }
            }
        }

        impl From<sqlx::Error> for $error {
            fn from(error: sqlx::Error) -> Self {
                Self::Platform(error.into())
            }
        }

        impl From<$error> for tonic::Status {
            fn from(error: $error) -> Self {
                $crate::error::into_status($domain, &error)
            }
        }

        pub type Result<T, E = $error> = std::result::Result<T, E>;
    };
}

/// Errors every service shares; a service's own enum wraps it.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("invalid argument: {}", .0.iter().map(|v| v.message.en.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied")]
    PermissionDenied,
    #[error("request_id was used before with a different request")]
    RequestIdReused,
    #[error("etag does not match the current version")]
    EtagMismatch,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("concurrent change, retry")]
    Conflict,
    #[error("too many open event streams (at most {0} per caller)")]
    TooManyStreams(usize),
    #[error("the server is shutting down; resume after the last sequence received")]
    ShuttingDown,
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("database statement timed out")]
    DatabaseTimeout(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for PlatformError {
    /// Classifies by SQLSTATE; the store maps constraint names to domain errors before this.
    fn from(error: sqlx::Error) -> Self {
        let code = error
            .as_database_error()
            .and_then(|database_error| database_error.code())
            .map(|code| code.into_owned());
        match code.as_deref() {
            // serialization_failure, deadlock_detected, lock_not_available
            Some("40001" | "40P01" | "55P03") => Self::Conflict,
            // query_canceled: statement_timeout
            Some("57014") => Self::DatabaseTimeout(error),
            // character_not_in_repertoire, untranslatable_character: text Postgres cannot store,
            // a NUL character above all; the caller's input, not our fault.
            Some("22021" | "22P05") => Self::InvalidArgument(vec![FieldViolation::new(
                "",
                "INVALID_TEXT",
                "text must not contain NUL or other characters that cannot be stored",
                "文本不得包含空字符(NUL)等无法保存的字符",
            )]),
            _ => match error {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    Self::DatabaseUnavailable(error)
                }
                other => Self::Database(other),
            },
        }
    }
}

impl DescribeError for PlatformError {
    fn describe(&self) -> ErrorDescription {
        match self {
            Self::InvalidArgument(violations) => ErrorDescription {
                code: Code::InvalidArgument,
                reason: "INVALID_ARGUMENT",
                message: Bilingual::new(
                    self.to_string(),
                    format!(
                        "请求参数无效:{}",
                        violations
                            .iter()
                            .map(|violation| violation.message.zh.as_str())
                            .collect::<Vec<_>>()
                            .join(";")
                    ),
                ),
                violations: violations.clone(),
            },
            Self::Unauthenticated(why) => ErrorDescription::new(
                Code::Unauthenticated,
                "UNAUTHENTICATED",
                format!("authentication required: {why}"),
                "需要有效的身份凭证",
            ),
            Self::PermissionDenied => ErrorDescription::new(
                Code::PermissionDenied,
                "PERMISSION_DENIED",
                "the caller may not do this",
                "无权执行此操作",
            ),
            Self::RequestIdReused => ErrorDescription {
                violations: vec![FieldViolation::new(
                    "request_id",
                    "REQUEST_ID_REUSED",
                    "request_id was already used for a different request",
                    "request_id 已用于另一个不同的请求",
                )],
                ..ErrorDescription::new(
                    Code::InvalidArgument,
                    "REQUEST_ID_REUSED",
                    "request_id was already used for a different request",
                    "request_id 已用于另一个不同的请求",
                )
            },
            Self::EtagMismatch => ErrorDescription::new(
                Code::Aborted,
                "ETAG_MISMATCH",
                "the resource changed since it was read; read it again and retry",
                "数据已被他人修改,请重新读取后再提交",
            ),
            Self::NotFound(resource) => ErrorDescription::new(
                Code::NotFound,
                "NOT_FOUND",
                format!("{resource} not found"),
                format!("未找到 {resource}"),
            ),
            Self::AlreadyExists(resource) => ErrorDescription::new(
                Code::AlreadyExists,
                "ALREADY_EXISTS",
                format!("{resource} already exists"),
                format!("{resource} 已存在"),
            ),
            Self::Conflict => ErrorDescription::new(
                Code::Aborted,
                "CONCURRENT_CHANGE",
                "a concurrent change got in the way; retry",
                "数据正被并发修改,请重试",
            ),
            Self::TooManyStreams(limit) => ErrorDescription::new(
                Code::ResourceExhausted,
                "TOO_MANY_STREAMS",
                self.to_string(),
                format!("打开的事件流过多(每个调用方最多 {limit} 个),请先关闭不用的流"),
            ),
            Self::ShuttingDown => ErrorDescription::new(
                Code::Unavailable,
                "SHUTTING_DOWN",
                self.to_string(),
                "服务正在停止,请从已收到的最后序号处重新订阅",
            ),
            Self::DatabaseUnavailable(_) => ErrorDescription::new(
                Code::Unavailable,
                "DATABASE_UNAVAILABLE",
                "the database is unavailable; retry later",
                "数据库暂不可用,请稍后重试",
            ),
            Self::DatabaseTimeout(_) => ErrorDescription::new(
                Code::DeadlineExceeded,
                "DATABASE_TIMEOUT",
                "the database did not answer in time",
                "数据库响应超时",
            ),
            Self::Database(_) | Self::Internal(_) => {
                ErrorDescription::new(Code::Internal, "INTERNAL", "internal error", "系统内部错误")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_reason_domain_violations_and_chinese() {
        let error =
            PlatformError::InvalidArgument(vec![FieldViolation::required("unit.display_name")]);
        let status = to_status("units.fazhi", error.describe());
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, "units.fazhi");
        let violation = &details.bad_request().expect("bad request").field_violations[0];
        assert_eq!(violation.field, "unit.display_name");
        assert!(
            violation
                .localized_message
                .as_ref()
                .expect("zh")
                .message
                .contains("必填")
        );
        assert_eq!(details.localized_message().expect("zh").locale, "zh-CN");
    }

    #[test]
    fn database_internals_are_not_sent() {
        let error = PlatformError::Database(sqlx::Error::Protocol("secret detail".into()));
        let status = to_status("units.fazhi", error.describe());
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
