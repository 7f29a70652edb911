//! Resource ids: the `{id}` of `collection/{id}`, `[a-z0-9-]{1,63}` starting with a letter.

/// Declares an id newtype for one collection, e.g. `units`.
macro_rules! resource_id {
    ($(#[$meta:meta])* $name:ident, $collection:literal, $generated_prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks a client-chosen id.
            pub fn parse(field: &str, text: &str) -> Result<Self, fazhi_platform::error::FieldViolation> {
                fazhi_platform::aip::resource_id(field, text)?;
                Ok(Self(text.to_owned()))
            }

            /// Parses a resource name, e.g. `units/ningguo`.
            pub fn from_name(field: &str, name: &str) -> Result<Self, fazhi_platform::error::FieldViolation> {
                let id = name.strip_prefix(concat!($collection, "/")).ok_or_else(|| {
                    fazhi_platform::error::FieldViolation::new(
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
                format!(concat!($collection, "/{}"), self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}
pub(crate) use resource_id;
