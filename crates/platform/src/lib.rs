//! What every Fazhi service shares, written once: settings, telemetry, the gRPC server stack,
//! errors mapped to `google.rpc.Status`, Postgres, authentication, and the AIP behaviours
//! (page tokens, etags, request ids, audit, outbox).

pub mod aip;
pub mod audit;
pub mod auth;
pub mod call;
pub mod db;
pub mod error;
pub mod mutation;
pub mod outbox;
pub mod reads;
pub mod relay;
pub mod server;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod upstream;
