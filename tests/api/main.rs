//! Integration tests: one binary, one harness (`helpers`), the real server over real HTTP.

mod binary;
mod cli;
mod direct;
mod graphql_http;
mod helpers;
mod proxy;
mod resilience;
mod schema_errors;
mod sql_batching;
mod sql_safety;
mod sql_types;
mod transactions;
