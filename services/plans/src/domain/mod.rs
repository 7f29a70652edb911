//! The plans context's rules; no tonic, no sqlx.

pub mod import;
