//! The units service's integration tests: a fresh Postgres database per test, the real gRPC
//! server on a loopback port, real tokens.

#![allow(clippy::unwrap_used)]

mod api;
mod errors;
mod helpers;
mod logs;
mod mentions;
mod relay;
mod reorganization;
mod replay;
mod store;
mod streams;
