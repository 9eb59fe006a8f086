//! Integration tests: one binary, one harness (`helpers`), the real server over real HTTP.

mod binary;
mod cache_batch;
mod cache_control_header;
mod cache_keys;
mod cache_redis;
mod cache_scope;
mod cache_support;
mod cache_ttl;
mod cli;
mod direct;
mod graphql_http;
mod helpers;
mod http_batching;
mod http_demo;
mod http_failures;
mod http_ssrf;
mod http_upstream;
mod proxy;
mod resilience;
mod schema_errors;
mod sql_batching;
mod sql_safety;
mod sql_types;
mod subscriptions;
mod transactions;
mod websocket;
