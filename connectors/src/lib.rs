//! Connectors: what the engine calls to reach backends, as capability traits, and their
//! implementations.
//!
//! # Layout
//! - [`error`]: the one error vocabulary ([`ConnectorError`]) with stable public codes.
//! - [`sql`]: the [`SqlSource`](sql::SqlSource) trait (batch-first) and its sqlx SQLite and
//!   PostgreSQL implementations.
//! - [`http`]: the [`HttpSource`](http::HttpSource) trait (downstream HTTP services: SSRF-safe
//!   URLs, timeouts, retries, circuit breaker, single-flight) and its reqwest implementation.
//! - [`cache`]: the `Cache` trait (in-memory by default, Redis when configured).
//! - [`json`]: JSON bodies straight into [`Value`]s, with interned object keys.
//! - [`pubsub`]: the `PubSub` trait (in-process by default, Redis when configured).
//!
//! The engine only sees the traits, so a connector can be swapped for another implementation.

pub mod cache;
pub mod error;
pub mod http;
pub mod json;
pub mod pubsub;
pub mod sql;

pub use error::ConnectorError;

/// The value type shared with the engine: GraphQL values, also used for rows and parameters.
pub use async_graphql_value::{ConstValue as Value, Name};
