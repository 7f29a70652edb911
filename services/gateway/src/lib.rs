//! The gateway for frontends (`docs/gateway.md`): the Connect protocol's unary calls, in JSON and
//! in binary protobuf, for every RPC of every Fazhi service. Nothing is written per RPC: the
//! request is transcoded with the services' own descriptors (`fazhi_proto::FILE_DESCRIPTOR_SET`,
//! through `prost-reflect`), forwarded over gRPC with the caller's credentials, deadline and
//! trace context, and the answer transcoded back; a refusal becomes Connect's error JSON with
//! its `ErrorInfo` reason, field violations and the zh-CN message.

mod codec;
mod connect;
mod console;
mod gateway;
mod metrics;
mod openapi;
mod rest;
mod settings;
mod stream;

pub use connect::GatewayError;
pub use console::{ConsoleConfig, ConsoleOidc, DemoIdentity};
pub use gateway::{EdgePolicy, Gateway, MAX_REQUEST_BYTES, SetupError, Upstreams};
pub use settings::{GatewaySections, GatewaySettings, check_auth};
