//! Tributary: a declarative GraphQL backend-for-frontend.
//!
//! The BFF is declared in `schema.graphql` (SDL plus directives such as `@sql`) and built at
//! start-up into an async-graphql dynamic schema whose fields resolve through batched
//! connectors.
//!
//! # Layout
//! - `tributary-schema` (crate `schema/`): SDL + directives → validated `Blueprint`; pure.
//! - [`engine`]: Blueprint → executable schema; generic resolvers, per-request batch loader,
//!   start-up checks against the database.
//! - `tributary-connectors` (crate `connectors/`): capability traits (`SqlSource`) and their
//!   implementations (sqlx SQLite and PostgreSQL).
//! - [`server`]: axum routes (`/graphql`, `/healthz`, `/readyz`, `/`) and the application
//!   lifecycle with graceful shutdown.
//! - [`config`]: the settings tree; the only reader of the environment.
//! - [`bounded`]: the bounded map behind the per-request shortcuts (parsed documents,
//!   validated requests, constant responses).
//! - [`telemetry`]: logging set-up.
//!
//! Flow goes one way: server → engine → connectors → backends.

pub mod bounded;
pub mod config;
pub mod engine;
pub mod server;
pub mod telemetry;

pub use server::App;
