//! Behaviour every API shares (Google AIPs): page sizes and tokens, etags, request ids, dates.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{FieldViolation, PlatformError};

/// Clamps a requested page size (AIP-158): 0 → `default`, above `max` → `max`, negative → error.
pub fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, PlatformError> {
    match requested {
        size if size < 0 => Err(PlatformError::InvalidArgument(vec![FieldViolation::new(
            "page_size",
            "NEGATIVE_PAGE_SIZE",
            "page_size must not be negative",
            "page_size 不能为负数",
        )])),
        0 => Ok(default),
        size => Ok(i64::from(size).min(max)),
    }
}

#[derive(Serialize, serde::Deserialize)]
struct TokenBody<K> {
    /// The keyset position: the sort key of the last item served.
    after: K,
    /// Fingerprint of the query, so a token is not reused with other filters.
    query: String,
}

/// Makes an opaque keyset page token (never an offset: inserts do not shift pages).
pub fn encode_page_token<K: Serialize, Q: Serialize>(after: &K, query: &Q) -> String {
    let body = TokenBody {
        after,
        query: query_fingerprint(query),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

/// Reads a page token made by [`encode_page_token`] for the same query; empty → first page.
pub fn decode_page_token<K: DeserializeOwned, Q: Serialize>(
    token: &str,
    query: &Q,
) -> Result<Option<K>, PlatformError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        PlatformError::InvalidArgument(vec![FieldViolation::new(
            "page_token",
            "INVALID_PAGE_TOKEN",
            "page_token is invalid or belongs to another query",
            "page_token 无效或不属于本次查询",
        )])
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let body: TokenBody<K> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if body.query != query_fingerprint(query) {
        return Err(invalid());
    }
    Ok(Some(body.after))
}

fn query_fingerprint<Q: Serialize>(query: &Q) -> String {
    let digest = Sha256::digest(serde_json::to_vec(query).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

/// A page of a keyset-paginated list and the position after its last item.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// From rows fetched with `LIMIT page_size + 1`: the extra row only says another page exists;
    /// `key` gives the keyset position of the last row kept.
    pub fn from_overfetch(mut items: Vec<T>, page_size: i64, key: impl Fn(&T) -> K) -> Self {
        let more = items.len() as i64 > page_size;
        items.truncate(page_size.max(0) as usize);
        let next = if more { items.last().map(key) } else { None };
        Self { items, next }
    }
}

/// The etag of a resource revision (AIP-154).
pub fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// Fails with `ABORTED` when a given etag differs from the current revision; empty passes.
pub fn check_etag(given: &str, current_revision: i64) -> Result<(), PlatformError> {
    if given.is_empty() || given == etag(current_revision) {
        Ok(())
    } else {
        Err(PlatformError::EtagMismatch)
    }
}

/// Validates a `request_id` (AIP-155): empty means "not idempotent"; otherwise 1–128 printable
/// ASCII characters (a UUID is recommended).
pub fn request_id(given: &str) -> Result<Option<String>, FieldViolation> {
    if given.is_empty() {
        return Ok(None);
    }
    if given.len() > 128 || !given.chars().all(|c| c.is_ascii_graphic()) {
        return Err(FieldViolation::new(
            "request_id",
            "INVALID_REQUEST_ID",
            "request_id must be 1-128 printable ASCII characters, e.g. a UUID",
            "request_id 须为 1 至 128 个可打印 ASCII 字符,建议使用 UUID",
        ));
    }
    Ok(Some(given.to_owned()))
}

/// Hash identifying a request payload, to tell a retry from a reuse of its `request_id`.
pub fn request_fingerprint(method: &str, encoded_request: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(encoded_request);
    hasher.finalize().to_vec()
}

/// A time as a protobuf `Timestamp`.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The fields an update mask names (AIP-134), each one of `allowed`; `*` means all of them. An
/// empty mask is refused: an update says what it changes.
pub fn update_mask(
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&'static str],
) -> Result<Vec<&'static str>, FieldViolation> {
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Err(FieldViolation::required("update_mask"));
    }
    if paths.iter().any(|path| path == "*") {
        return Ok(allowed.to_vec());
    }
    paths
        .iter()
        .map(|path| {
            allowed
                .iter()
                .find(|known| *known == path)
                .copied()
                .ok_or_else(|| {
                    FieldViolation::new(
                        "update_mask",
                        "UNKNOWN_FIELD",
                        format!("{path} cannot be updated; allowed: {}", allowed.join(", ")),
                        format!("{path} 不可修改;可修改:{}", allowed.join("、")),
                    )
                })
        })
        .collect()
}

/// Parses an optional ISO 8601 date field (`2024-02-08`).
pub fn optional_date(field: &str, text: &str) -> Result<Option<NaiveDate>, FieldViolation> {
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            FieldViolation::new(
                field,
                "INVALID_DATE",
                format!("{field} must be a date like 2024-02-08"),
                format!("{field} 须为形如 2024-02-08 的日期"),
            )
        })
}

/// Declares an enum with a stable text form per variant (`as_str`, `parse`, `ALL`), serialised
/// in snake case: how enums are stored and written in files. The using crate needs `serde`.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$variant_meta])* $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable text form, as stored and as written in files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

/// Declares an id newtype for one collection (`resource_id!(UnitId, "units", "u")`): parsing of
/// ids and resource names with field violations, generation (UUIDv7), display. The using crate
/// needs `serde` and `uuid`.
#[macro_export]
macro_rules! resource_id {
    ($(#[$meta:meta])* $name:ident, $collection:literal, $generated_prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks a client-chosen id.
            pub fn parse(field: &str, text: &str) -> Result<Self, $crate::error::FieldViolation> {
                $crate::aip::resource_id(field, text)?;
                Ok(Self(text.to_owned()))
            }

            /// Parses a resource name that must be given: empty is `REQUIRED`.
            pub fn from_required_name(field: &str, name: &str) -> Result<Self, $crate::error::FieldViolation> {
                if name.is_empty() {
                    return Err($crate::error::FieldViolation::required(field));
                }
                Self::from_name(field, name)
            }

            /// Parses a resource name, e.g. `units/ningguo`.
            pub fn from_name(field: &str, name: &str) -> Result<Self, $crate::error::FieldViolation> {
                let id = name.strip_prefix(concat!($collection, "/")).ok_or_else(|| {
                    $crate::error::FieldViolation::new(
                        field,
                        "INVALID_NAME",
                        format!("{field} must look like {}/{{id}}", $collection),
                        format!("{field} 须为 {}/{{id}} 格式", $collection),
                    )
                })?;
                Self::parse(field, id)
            }

            /// A fresh id for a resource created without one; time-ordered (UUIDv7).
            pub fn generate() -> Self {
                Self(format!(concat!($generated_prefix, "-{}"), uuid::Uuid::now_v7().simple()))
            }

            /// Wraps an id read back from storage, where it was checked on the way in.
            pub fn from_trusted(id: String) -> Self {
                Self(id)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The resource name, e.g. `units/ningguo`.
            pub fn name(&self) -> String {
                // Joined, not formatted: names are made per verdict in region evaluations.
                [concat!($collection, "/"), self.0.as_str()].concat()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

/// Validates a client-chosen resource id (AIP-122): `[a-z0-9-]{1,63}`, starting with a letter.
pub fn resource_id(field: &str, text: &str) -> Result<(), FieldViolation> {
    let valid = (1..=63).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(FieldViolation::new(
            field,
            "INVALID_ID",
            format!("{field} must be 1-63 characters of a-z, 0-9 and -, starting with a letter"),
            format!("{field} 须为 1 至 63 位小写字母、数字或连字符,并以字母开头"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_clamped() {
        assert_eq!(page_size(0, 100, 1000).ok(), Some(100));
        assert_eq!(page_size(5000, 100, 1000).ok(), Some(1000));
        assert_eq!(page_size(7, 100, 1000).ok(), Some(7));
        assert!(page_size(-1, 100, 1000).is_err());
    }

    #[test]
    fn page_token_is_bound_to_its_query() {
        let token = encode_page_token(&("宁国市司法局", "ningguo-sfj"), &("kind", 2));
        let after: Option<(String, String)> =
            decode_page_token(&token, &("kind", 2)).expect("same query");
        assert_eq!(
            after,
            Some(("宁国市司法局".to_owned(), "ningguo-sfj".to_owned()))
        );
        assert!(decode_page_token::<(String, String), _>(&token, &("kind", 3)).is_err());
        assert!(decode_page_token::<(String, String), _>("garbage!", &("kind", 2)).is_err());
    }

    #[test]
    fn pages_from_overfetched_rows() {
        let full = Page::from_overfetch(vec![1, 2, 3], 2, |item| *item);
        assert_eq!((full.items, full.next), (vec![1, 2], Some(2)));
        let last = Page::from_overfetch(vec![1, 2], 2, |item| *item);
        assert_eq!((last.items, last.next), (vec![1, 2], None));
    }

    #[test]
    fn etag_round_trip() {
        assert!(check_etag(&etag(3), 3).is_ok());
        assert!(check_etag("", 3).is_ok());
        assert!(matches!(
            check_etag(&etag(2), 3),
            Err(PlatformError::EtagMismatch)
        ));
    }

    #[test]
    fn update_masks() {
        let mask = |paths: &[&str]| prost_types::FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        };
        let allowed = ["title", "kind"];
        assert_eq!(
            update_mask(Some(&mask(&["kind"])), &allowed),
            Ok(vec!["kind"])
        );
        assert_eq!(
            update_mask(Some(&mask(&["*"])), &allowed),
            Ok(vec!["title", "kind"])
        );
        assert_eq!(
            update_mask(Some(&mask(&["issuer"])), &allowed).map_err(|violation| violation.reason),
            Err("UNKNOWN_FIELD")
        );
        assert_eq!(
            update_mask(None, &allowed).map_err(|violation| violation.reason),
            Err("REQUIRED")
        );
    }

    #[test]
    fn resource_ids() {
        assert!(resource_id("unit_id", "ningguo-sfj").is_ok());
        assert!(resource_id("unit_id", "Ningguo").is_err());
        assert!(resource_id("unit_id", "1abc").is_err());
        assert!(resource_id("unit_id", "").is_err());
        assert!(resource_id("unit_id", "a-").is_err());
    }

    proptest::proptest! {
        #[test]
        fn page_token_decoding_never_panics(token in ".{0,200}") {
            let _ = decode_page_token::<(String, String), _>(&token, &());
        }
    }
}
