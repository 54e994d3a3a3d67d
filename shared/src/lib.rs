//! The chat backend's library: everything the Lambda functions and `chat-local` run.
//!
//! # Layout
//! - [`domain`]: pure types and rules (ids, `MessageContent::parse`, status, participants). No I/O.
//! - [`app`]: use cases (`connect`, `send_message`, `create_conversation`, ...) over [`ports`].
//! - [`ports`]: one small trait per capability (stores, connection registry, notifier, clock).
//! - [`adapters`]: the ports over PostgreSQL, DynamoDB and the API Gateway Management API;
//!   driver errors become [`ports::PortError`] here.
//! - [`protocol`]: the wire contract: inbound frames, acks, pushed events, DTOs, error body.
//! - [`edge`]: Lambda event types in, responses out; the one place errors become status codes
//!   and error frames. One [`edge::Handler`] per function.
//! - [`routes`]: which function serves which route (shared with `infra/template.yaml`).
//! - [`auth`]: JWT verification (and dev tokens); [`config`]: environment; [`telemetry`]: logs.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod edge;
pub mod ports;
pub mod protocol;
pub mod routes;
pub mod telemetry;
