//! The engine: Blueprint → executable async-graphql dynamic schema.
//!
//! # Layout
//! - [`plan`]: what each field does at run time, compiled once at start-up.
//! - [`build`]: connects sources, prepares and checks every statement against the database,
//!   compiles plans and registers the dynamic schema's types.
//! - [`resolve`]: the generic resolvers and look-ahead prefetching.
//! - [`loader`]: the per-request batch loader.
//! - [`template`]: evaluating `{{...}}` templates to values.
//!
//! Resolvers call the loader, the loader calls connectors, connectors call backends; nothing
//! calls back up.

pub mod build;
pub mod cache_control;
pub mod caching;
pub mod http;
pub mod limits;
pub mod live;
pub mod loader;
pub mod nulls;
pub mod plan;
pub mod resolve;
pub mod template;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use tributary_connectors::http::{HeaderMap, HttpSource};
use tributary_connectors::sql::SqlSource;

pub use build::{BuildError, EngineOptions};
pub use resolve::RequestState;

/// Lists the fields answered from stale cache entries in `extensions.cache.stale`.
fn add_stale_extension(response: &mut async_graphql::Response, state: &RequestState) {
    let stale = std::mem::take(&mut *state.stale_paths.lock().unwrap_or_else(|e| e.into_inner()));
    if !stale.is_empty() {
        let paths = stale
            .into_iter()
            .map(async_graphql::Value::String)
            .collect();
        let mut obj = indexmap::IndexMap::new();
        obj.insert(
            async_graphql::Name::new("stale"),
            async_graphql::Value::List(paths),
        );
        response
            .extensions
            .insert("cache".to_string(), async_graphql::Value::Object(obj));
    }
}

/// The operation a request runs: the document's only one, or the one `name` names (`None`
/// when the name is missing for a document of several, or names none of them).
pub fn selected_operation<'d>(
    doc: &'d async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d async_graphql::parser::types::OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A request error: nothing was executed (the document failed validation), so there is no
/// `data` and no error has a path.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// What identifies an operation as sent: its document text, operation name and variables
/// (JSON text). The key of validated requests ([`Engine::execute_validated`]) and the start of
/// the sharing key ([`Engine::sharing_key`]); it starts with the document text.
pub fn operation_key(query: &str, operation_name: Option<&str>, variables: &str) -> String {
    format!(
        "{query}\u{0}{}\u{0}{variables}",
        operation_name.unwrap_or("")
    )
}

/// Keys of requests that passed full validation: at most 4,096 keys and 1 MiB of them.
fn validated_keys() -> crate::bounded::StartOverMap<String, ()> {
    const MAX_BYTES: usize = 1 << 20;
    crate::bounded::StartOverMap::new(4096, MAX_BYTES, MAX_BYTES / 8)
}

/// A built engine: the executable schema and the sources it owns.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    schema: Schema,
    /// `schema` with fast validation, for documents already validated in full (see
    /// [`Engine::execute_validated`]).
    revalidating: Schema,
    /// Keys (document, operation name, variables) of requests that passed full validation.
    validated: crate::bounded::StartOverMap<String, ()>,
    sql_sources: Vec<(String, Arc<dyn SqlSource>)>,
    http_sources: Vec<(String, Arc<dyn HttpSource>)>,
    /// Client headers some HTTP source allow-lists (lower-case): the only ones captured.
    forward_headers: Vec<String>,
    /// Field types, for null propagation.
    types: nulls::TypeIndex,
    /// Cache policies, for the response's `Cache-Control`.
    policies: cache_control::PolicyIndex,
    /// The `@cache` store: in memory, or Redis when configured (shared by replicas).
    cache: Arc<dyn tributary_connectors::cache::Cache>,
    /// `cache.enabled`: when off, loads bypass the cache.
    caching: bool,
    /// The pub/sub for `@publish`/`@subscribe` (when the schema uses them).
    pubsub: Option<Arc<dyn tributary_connectors::pubsub::PubSub>>,
    /// Operations executed (each HTTP or WebSocket operation, each subscription once).
    executions: std::sync::atomic::AtomicU64,
}

impl Engine {
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// SQL sources by name (readiness checks, tests and benchmarks count statements).
    pub fn sql_sources(&self) -> &[(String, Arc<dyn SqlSource>)] {
        &self.inner.sql_sources
    }

    /// The cache (tests and metrics read its state and counters).
    pub fn cache(&self) -> &Arc<dyn tributary_connectors::cache::Cache> {
        &self.inner.cache
    }

    /// Operations executed so far: what sharing and constant responses save shows here.
    pub fn operations_executed(&self) -> u64 {
        self.inner
            .executions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// HTTP sources by name (tests and benchmarks count upstream calls).
    pub fn http_sources(&self) -> &[(String, Arc<dyn HttpSource>)] {
        &self.inner.http_sources
    }

    /// The values of the allow-listed client headers, in a fixed order (requests that differ
    /// in them never share an execution).
    pub fn forwarded_header_values(&self, client_headers: &HeaderMap) -> Vec<String> {
        self.inner
            .forward_headers
            .iter()
            .map(|name| {
                client_headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    /// The pub/sub topics this instance holds an upstream subscription for (one per topic,
    /// however many subscribers), sorted.
    pub fn active_topics(&self) -> Vec<String> {
        self.inner
            .pubsub
            .as_ref()
            .map(|p| p.active_topics())
            .unwrap_or_default()
    }

    /// The key under which identical operations share one execution (HTTP queries and
    /// WebSocket subscriptions alike): the document, the operation name, the variables (as
    /// JSON text) and everything an execution depends on besides them — the allow-listed
    /// forwarded header values, the caller's credential identity (a hash of `authorization`
    /// and `cookie`, which PRIVATE cache entries are keyed by) and the WebSocket
    /// `connection_init` payload. Two operations with the same key produce the same result.
    pub fn sharing_key(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: &str,
        client_headers: &HeaderMap,
        init_payload: Option<&serde_json::Value>,
    ) -> String {
        let identity = caching::identity_of(
            client_headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            client_headers.get("cookie").and_then(|v| v.to_str().ok()),
        );
        let mut key = operation_key(query, operation_name, variables);
        key.push('\u{0}');
        key.push_str(&self.forwarded_header_values(client_headers).join("\u{0}"));
        key.push('\u{1}');
        key.push_str(identity.as_deref().unwrap_or(""));
        key.push('\u{1}');
        if let Some(payload) = init_payload {
            key.push_str(&payload.to_string());
        }
        key
    }

    /// Executes one GraphQL request with fresh per-request state.
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        self.execute_with_headers(request, &HeaderMap::new()).await
    }

    /// Executes one GraphQL request; the allow-listed client headers become `{{headers.x}}`.
    pub async fn execute_with_headers(
        &self,
        request: async_graphql::Request,
        client_headers: &HeaderMap,
    ) -> async_graphql::Response {
        self.run(&self.inner.schema, request, client_headers).await
    }

    /// Runs `request` on `schema` with fresh per-request state; recorded field errors are
    /// taken out and stale answers noted.
    async fn run(
        &self,
        schema: &Schema,
        request: async_graphql::Request,
        client_headers: &HeaderMap,
    ) -> async_graphql::Response {
        let state = Arc::new(self.request_state(client_headers, None));
        let mut response = schema.execute(request.data(state.clone())).await;
        response.errors.retain(|e| e.message != resolve::RECORDED);
        add_stale_extension(&mut response, &state);
        response
    }

    /// Like [`Engine::execute_with_headers`], but a request whose `key` (its document text,
    /// operation name and variables) already passed async-graphql's full validation runs on
    /// a twin schema with fast validation (fragment cycles, depth and complexity only): with
    /// the same schema, document and variables, full validation would pass again. Full
    /// validation costs about a tenth of a small query's execution.
    pub async fn execute_validated(
        &self,
        request: async_graphql::Request,
        client_headers: &HeaderMap,
        key: &str,
    ) -> async_graphql::Response {
        let known = self.inner.validated.contains(key);
        let schema = if known {
            &self.inner.revalidating
        } else {
            &self.inner.schema
        };
        let response = self.run(schema, request, client_headers).await;
        // A request error may be a validation failure: only documents that ran are remembered.
        if !known && !is_request_error(&response) {
            self.inner.validated.insert(key, (), key.len());
        }
        response
    }

    /// Fresh per-request state: allow-listed headers, cache identity, pub/sub, init payload.
    fn request_state(
        &self,
        client_headers: &HeaderMap,
        init_payload: Option<serde_json::Value>,
    ) -> RequestState {
        self.inner
            .executions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut state = RequestState {
            init_payload,
            pubsub: self.inner.pubsub.clone(),
            ..RequestState::default()
        };
        if self.inner.caching {
            state.loader.cache = Some(self.inner.cache.clone());
        }
        state.loader.identity = caching::identity_of(
            client_headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            client_headers.get("cookie").and_then(|v| v.to_str().ok()),
        );
        for name in &self.inner.forward_headers {
            if let Some(v) = client_headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
            {
                state.headers.insert(name.clone(), v.to_string());
            }
        }
        state
    }

    /// Executes one operation as a stream of responses, for the WebSocket transports: a
    /// subscription yields one response per event, a query or mutation exactly one. The
    /// `connection_init` payload goes into the request's [`RequestState`].
    pub fn execute_stream(
        &self,
        request: async_graphql::Request,
        client_headers: &HeaderMap,
        init_payload: Option<serde_json::Value>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        let state = self.request_state(client_headers, init_payload);
        let request = request.data(Arc::new(state));
        let strip = |mut response: async_graphql::Response| {
            response.errors.retain(|e| e.message != resolve::RECORDED);
            response
        };
        let schema = self.inner.schema.clone();
        // The dynamic schema's `execute_stream` refuses every operation when the schema has
        // no subscription root, so queries and mutations then run through `execute`.
        if schema.registry().subscription_type.is_some() {
            schema.execute_stream(request).map(strip).boxed()
        } else {
            futures::stream::once(async move { schema.execute(request).await })
                .map(strip)
                .boxed()
        }
    }

    /// Applies the spec's null propagation to a response with errors (see [`nulls`]).
    pub fn propagate_nulls(
        &self,
        response: &mut async_graphql::Response,
        document: &async_graphql::parser::types::ExecutableDocument,
        operation: Option<&str>,
    ) {
        nulls::propagate(response, document, operation, &self.inner.types);
    }

    /// The `Cache-Control` policy of an operation (Apollo's rules; see [`cache_control`]).
    pub fn cache_policy(
        &self,
        document: &async_graphql::parser::types::ExecutableDocument,
        operation: Option<&str>,
    ) -> cache_control::ResponsePolicy {
        self.inner.policies.policy(document, operation)
    }

    /// Whether the operation's response is the same for every request that sends it (no
    /// source asked, nothing of the request read); see [`cache_control::PolicyIndex::is_constant`].
    pub fn is_constant(
        &self,
        document: &async_graphql::parser::types::ExecutableDocument,
        operation: Option<&str>,
    ) -> bool {
        self.inner.policies.is_constant(document, operation)
    }

    /// Whether every source answers (for `/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        for (name, source) in &self.inner.sql_sources {
            if let Err(e) = source.ping().await {
                tracing::warn!(source = %name, error = %e, "source not ready");
                return Err(format!("source {name} is unavailable"));
            }
        }
        Ok(())
    }

    /// Closes connection pools (after the server has drained).
    pub async fn close(&self) {
        for (_, source) in &self.inner.sql_sources {
            source.close().await;
        }
    }
}
