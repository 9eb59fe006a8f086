//! Downstream HTTP services: the [`HttpSource`] capability trait and its reqwest
//! implementation, [`ReqwestHttpSource`].
//!
//! A request never carries a URL string: it carries the path as [`PathPart`]s and the query as
//! values, and the *source* builds the URL under its own base with [`build_url`]. So however the
//! engine renders templates, a request cannot leave its source's base URL (no SSRF through
//! `../`, `//host`, `@host` or encoded variants).
//!
//! Batch-first: a list value in the query becomes repeated pairs (`?id=1&id=2`, the batch form
//! of most services), and [`HttpSource::send_all`] sends the distinct calls of a batch without
//! a batch form concurrently.
//!
//! # Layout
//! - `target`: [`build_url`], percent-encoding and the under-the-base checks.
//! - `retry`: [`RetryPolicy`], backoff with jitter, `Retry-After`, the retry budget.
//! - `circuit`: [`CircuitPolicy`] and the per-source breaker.
//! - `source`: [`ReqwestHttpSource`]: pooled client, timeouts, retries, breaker, single-flight,
//!   error mapping.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use reqwest::Method;
pub use url::Url;

use crate::{ConnectorError, Value};

pub mod circuit;
pub mod retry;
mod source;
pub mod target;

pub use circuit::{CircuitPolicy, CircuitState};
pub use retry::RetryPolicy;
pub use source::ReqwestHttpSource;
pub use target::{build_url, ensure_under_base, PathPart};

/// One call to a downstream service, relative to the source's base URL.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// The path below the base path: trusted literals and untrusted values (percent-encoded).
    pub path: Vec<PathPart>,
    /// Query pairs, after the base URL's own query. A list value repeats the key; `null`
    /// omits the pair.
    pub query: Vec<(String, Value)>,
    /// Headers for this call (e.g. forwarded client headers), on top of the source's defaults.
    /// They are part of the single-flight key: calls with different headers never share.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A JSON body (mutations), serialised as `application/json`.
    pub body: Option<Value>,
    /// Overrides the source's timeout for this call (`@timeout` on a field).
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    /// A request with no query, headers, body or timeout override.
    pub fn new(method: Method, path: Vec<PathPart>) -> Self {
        HttpRequest {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// A GET of one literal path: `HttpRequest::get("/reviews")`.
    pub fn get(path: &str) -> Self {
        HttpRequest::new(Method::GET, vec![PathPart::literal(path)])
    }

    pub fn with_query(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A successful (2xx) answer. Non-2xx answers are errors (`UPSTREAM_HTTP_ERROR` with the
/// status), so callers only ever see usable bodies here.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// The response headers (e.g. for caching or pagination decisions).
    pub headers: HeaderMap,
    /// The JSON body; `null` for an empty body (204, HEAD).
    pub body: Value,
}

/// How to open an HTTP source. Build with [`HttpOptions::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The source's name, for errors and logs.
    pub name: String,
    /// Every request of the source stays under this URL (scheme, host, port and path prefix).
    pub base_url: Url,
    /// Time allowed for a whole call, retries and backoff included.
    pub timeout: Duration,
    pub retries: RetryPolicy,
    /// Sent with every request (e.g. an API key), unless the request sets the same header.
    pub default_headers: HeaderMap,
    /// Whether identical in-flight GETs (same URL and headers) share one upstream call.
    pub single_flight: bool,
    pub circuit: CircuitPolicy,
    /// A larger response body is `UPSTREAM_INVALID_RESPONSE` (protects the server's memory).
    pub max_response_bytes: usize,
    /// Most calls of this source in flight at once (so most pooled connections: one per call
    /// in flight); further calls wait for a free one, within their timeout. Each connection
    /// costs the server memory (buffers, task): uncapped, a 2-core server under 100 clients
    /// fanning out 10 calls each held ~900 connections and ~90 MiB.
    pub max_connections: usize,
}

impl HttpOptions {
    /// Defaults: 5 s timeout, [`RetryPolicy::default`], [`CircuitPolicy::default`],
    /// single-flight on, 16 MiB bodies, 128 calls in flight.
    pub fn new(name: impl Into<String>, base_url: Url) -> Self {
        HttpOptions {
            name: name.into(),
            base_url,
            timeout: Duration::from_secs(5),
            retries: RetryPolicy::default(),
            default_headers: HeaderMap::new(),
            single_flight: true,
            circuit: CircuitPolicy::default(),
            max_response_bytes: 16 * 1024 * 1024,
            max_connections: 128,
        }
    }
}

/// A downstream HTTP service.
#[async_trait]
pub trait HttpSource: Send + Sync + 'static {
    /// The source's name (from `@source`).
    fn name(&self) -> &str;

    /// Every request stays under this URL.
    fn base_url(&self) -> &Url;

    /// Sends one call: builds the URL under the base, applies the timeout, retries, circuit
    /// breaker and single-flight, and parses the JSON body. Errors are the `UPSTREAM_*` and
    /// `CIRCUIT_OPEN` variants of [`ConnectorError`], or `BadInput` for a path value that
    /// cannot go into a URL.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError>;

    /// Sends calls concurrently (the distinct keys of a batch without a batch endpoint);
    /// results are in request order, each call succeeding or failing on its own.
    async fn send_all(
        &self,
        requests: Vec<HttpRequest>,
    ) -> Vec<Result<HttpResponse, ConnectorError>> {
        futures::future::join_all(requests.into_iter().map(|request| self.send(request))).await
    }

    /// Upstream attempts made so far (each retry counts; calls refused by the open circuit
    /// and calls that joined another's in-flight call do not). Tests and benchmarks use it
    /// to prove batching and single-flight.
    fn calls_made(&self) -> u64;

    /// The circuit breaker's current state.
    fn circuit_state(&self) -> CircuitState;
}

/// Opens an HTTP source (the reqwest implementation), as the engine holds it.
pub fn connect(options: HttpOptions) -> Result<Arc<dyn HttpSource>, ConnectorError> {
    Ok(Arc::new(ReqwestHttpSource::new(options)?))
}
