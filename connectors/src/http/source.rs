//! [`ReqwestHttpSource`]: the reqwest implementation of [`HttpSource`].
//!
//! One pooled keep-alive client per source. A call is: build the URL under the base → join an
//! identical in-flight GET if single-flight is on → otherwise attempts, each admitted by the
//! circuit breaker, until one succeeds, the failure is not retryable, or the retry policy,
//! the retry budget or the time left says stop.
//!
//! # Time
//! The timeout (the source's, or the request's `@timeout` override) bounds the *whole call*:
//! attempts, backoff and `Retry-After` waits. That is what a client waits for, so a field
//! never takes longer than its timeout; the price is that a hung attempt leaves no time for a
//! retry (retries are for fast failures: refused, reset, 5xx, 429). A retry whose wait would
//! reach the deadline is not made, and the last error is returned at once.
//!
//! # Bodies
//! A 2xx must be JSON (`application/json` or `application/*+json`), except 204 and HEAD
//! answers, which are `null`. Bodies over `max_response_bytes` are refused.
//!
//! # Error mapping
//! | what happened | error | retried (idempotent methods) | circuit failure |
//! |---|---|---|---|
//! | no complete answer within the timeout | `UPSTREAM_TIMEOUT` | no (no time left) | yes |
//! | refused, DNS, reset before or *during* the body | `UPSTREAM_UNREACHABLE` | yes | yes |
//! | non-2xx (redirects are not followed) | `UPSTREAM_HTTP_ERROR` + status | 408, 429, 500, 502, 503, 504 | 429, 5xx |
//! | 2xx not `application/json`/`+json`, bad JSON, too large | `UPSTREAM_INVALID_RESPONSE` | no | no |
//!
//! A reset mid-body is `UPSTREAM_UNREACHABLE`, not `INVALID_RESPONSE`: the service did not
//! send a wrong answer, the exchange broke, and a second attempt may well succeed.
//!
//! Upstream bodies and error details only reach logs (as fields, with constant messages, and
//! without the query string, which may hold a key); clients get the fixed public messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt, Shared};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use tokio::time::Instant;
use url::Url;

use super::circuit::{CircuitBreaker, CircuitState};
use super::retry::{is_idempotent, is_retryable_status, retry_after, RetryBudget, RetryPolicy};
use super::{build_url, HeaderName, HttpOptions, HttpRequest, HttpResponse, HttpSource};
use crate::{ConnectorError, Value};

/// How much of an error body is kept for the logs.
const ERROR_BODY_LOG_BYTES: usize = 1024;

type CallResult = Result<HttpResponse, ConnectorError>;
type SharedCall = Shared<BoxFuture<'static, CallResult>>;

/// Identical in-flight GETs share a call when these are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    method: Method,
    url: String,
    /// Sorted, so header order does not matter.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// An HTTP source over reqwest. Cheap to share behind an `Arc`; the state (pool, breaker,
/// budget, in-flight calls) is per source.
#[derive(Debug)]
pub struct ReqwestHttpSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    base_url: Url,
    client: reqwest::Client,
    timeout: Duration,
    retries: RetryPolicy,
    budget: RetryBudget,
    circuit: CircuitBreaker,
    single_flight: bool,
    max_response_bytes: usize,
    /// One permit per call in flight (`max_connections`).
    slots: tokio::sync::Semaphore,
    calls: AtomicU64,
    in_flight: Mutex<HashMap<FlightKey, Flight>>,
    next_flight: AtomicU64,
}

/// An in-flight shared call.
#[derive(Debug)]
struct Flight {
    /// Tells a finished call's entry from a newer one for the same key.
    id: u64,
    /// When the call gives up: a caller arriving after it starts a new call instead of
    /// joining one that is about to end in a timeout.
    deadline: Instant,
    call: SharedCall,
}

/// A failed attempt, with what the retry loop and the breaker need to know.
struct Failure {
    error: ConnectorError,
    retryable: bool,
    /// Counts against the circuit (the service looks unwell).
    unhealthy: bool,
    retry_after: Option<Duration>,
}

impl ReqwestHttpSource {
    /// Builds the client; no connection is made until the first call. Fails with `BadInput`
    /// when the base URL is not an http(s) URL.
    pub fn new(options: HttpOptions) -> Result<Self, ConnectorError> {
        if options.base_url.cannot_be_a_base()
            || !matches!(options.base_url.scheme(), "http" | "https")
            || options.base_url.host_str().is_none()
        {
            return Err(ConnectorError::BadInput {
                message: format!(
                    "source {}: the base URL must be an http(s) URL",
                    options.name
                ),
            });
        }
        let mut default_headers = options.default_headers.clone();
        // Default headers often carry keys: keep them out of any `Debug` output and traces.
        for value in default_headers.values_mut() {
            value.set_sensitive(true);
        }
        default_headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            .default_headers(default_headers)
            // A redirect could lead outside the base URL: report the 3xx instead.
            .redirect(reqwest::redirect::Policy::none())
            // Only the config module reads the environment: no HTTP_PROXY & co.
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(options.max_connections.max(1))
            .connect_timeout(options.timeout)
            .build()
            .map_err(|e| ConnectorError::Internal {
                detail: format!("source {}: cannot build the HTTP client: {e}", options.name),
            })?;
        Ok(ReqwestHttpSource {
            inner: Arc::new(Inner {
                budget: RetryBudget::new(&options.retries),
                circuit: CircuitBreaker::new(options.circuit),
                name: options.name,
                base_url: options.base_url,
                client,
                timeout: options.timeout,
                retries: options.retries,
                single_flight: options.single_flight,
                max_response_bytes: options.max_response_bytes,
                slots: tokio::sync::Semaphore::new(options.max_connections.max(1)),
                calls: AtomicU64::new(0),
                in_flight: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
            }),
        })
    }
}

#[async_trait]
impl HttpSource for ReqwestHttpSource {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    async fn send(&self, request: HttpRequest) -> CallResult {
        let url = build_url(&self.inner.base_url, &request.path, &request.query)?;
        let deadline = Instant::now() + request.timeout.unwrap_or(self.inner.timeout);
        let shareable =
            self.inner.single_flight && request.method == Method::GET && request.body.is_none();
        if !shareable {
            return self
                .inner
                .call(request.method, url, request.headers, request.body, deadline)
                .await;
        }

        let mut headers = request.headers;
        headers.sort_by(|a, b| (a.0.as_str(), a.1.as_bytes()).cmp(&(b.0.as_str(), b.1.as_bytes())));
        let key = FlightKey {
            method: Method::GET,
            url: url.to_string(),
            headers,
        };
        let shared = self.inner.join_or_start(key, url, deadline);
        // Each caller keeps its own deadline, even when it joined a call started with a longer
        // one.
        match tokio::time::timeout_at(deadline, shared).await {
            Ok(result) => result,
            Err(_) => Err(self.inner.timeout_error()),
        }
    }

    fn calls_made(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    fn circuit_state(&self) -> CircuitState {
        self.inner.circuit.state()
    }
}

impl Inner {
    /// Returns the in-flight call for `key`, or starts one. The call runs in its own task, so
    /// it completes (and leaves the map) even if every caller gives up; it removes its own
    /// entry when done, so a later identical GET makes a fresh call.
    ///
    /// The call runs under the deadline of the caller that started it. A joiner keeps its own
    /// deadline too, so it never waits longer than allowed; but a joiner with a *later*
    /// deadline gets the starter's timeout if the starter gives up first (accepted: identical
    /// calls nearly always come from the same field, with the same timeout).
    fn join_or_start(self: &Arc<Self>, key: FlightKey, url: Url, deadline: Instant) -> SharedCall {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = in_flight.get(&key) {
            if flight.deadline > Instant::now() {
                return flight.call.clone();
            }
        }
        let id = self.next_flight.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(self);
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let result = inner
                .call(Method::GET, url, task_key.headers.clone(), None, deadline)
                .await;
            inner.end_flight(&task_key, id);
            result
        });
        let source_name = self.name.clone();
        let call = async move {
            task.await.unwrap_or_else(|error| {
                Err(ConnectorError::Internal {
                    detail: format!("upstream call task of source {source_name} failed: {error}"),
                })
            })
        }
        .boxed()
        .shared();
        in_flight.insert(
            key,
            Flight {
                id,
                deadline,
                call: call.clone(),
            },
        );
        call
    }

    fn end_flight(&self, key: &FlightKey, id: u64) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.get(key).is_some_and(|flight| flight.id == id) {
            in_flight.remove(key);
        }
    }

    fn timeout_error(&self) -> ConnectorError {
        ConnectorError::UpstreamTimeout {
            source_name: self.name.clone(),
        }
    }

    /// One call: attempts and retries until `deadline`.
    async fn call(
        &self,
        method: Method,
        url: Url,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Option<Value>,
        deadline: Instant,
    ) -> CallResult {
        let source = self.name.as_str();
        let path = url.path().to_owned();
        self.budget.deposit();
        let idempotent = is_idempotent(&method);
        let mut retries = 0u32;
        let mut last_error: Option<ConnectorError> = None;
        loop {
            let Some(permit) = self.circuit.try_acquire() else {
                // Retrying into an open circuit: the last real error says more.
                if let Some(error) = last_error {
                    return Err(error);
                }
                tracing::debug!(source, path, "circuit open, upstream call refused");
                return Err(ConnectorError::CircuitOpen {
                    source_name: self.name.clone(),
                });
            };
            self.calls.fetch_add(1, Ordering::Relaxed);
            let attempt = self.attempt(&method, &url, &headers, body.as_ref());
            let outcome = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure {
                    error: self.timeout_error(),
                    retryable: false,
                    unhealthy: true,
                    retry_after: None,
                }),
            };
            let failure = match outcome {
                Ok(response) => {
                    permit.record(true);
                    return Ok(response);
                }
                Err(failure) => {
                    permit.record(!failure.unhealthy);
                    failure
                }
            };
            if failure.unhealthy {
                tracing::warn!(
                    source,
                    method = %method,
                    path,
                    code = failure.error.code().as_str(),
                    status = failure.error.status(),
                    error = %failure.error,
                    attempt = retries + 1,
                    "upstream attempt failed"
                );
            } else {
                // A 4xx or an invalid body: the caller's or the contract's problem, often
                // expected (a 404 the engine turns into null).
                tracing::debug!(
                    source,
                    method = %method,
                    path,
                    code = failure.error.code().as_str(),
                    status = failure.error.status(),
                    error = %failure.error,
                    attempt = retries + 1,
                    "upstream attempt refused"
                );
            }
            if !idempotent || !failure.retryable || retries >= self.retries.max_retries {
                return Err(failure.error);
            }
            let mut wait = self.retries.backoff(retries + 1);
            if let Some(asked) = failure.retry_after {
                wait = wait.max(asked);
            }
            if Instant::now() + wait >= deadline {
                tracing::debug!(
                    source,
                    path,
                    wait_ms = wait.as_millis() as u64,
                    "no retry: the wait exceeds the time left"
                );
                return Err(failure.error);
            }
            if !self.budget.withdraw() {
                tracing::debug!(source, path, "no retry: the retry budget is spent");
                return Err(failure.error);
            }
            retries += 1;
            tracing::debug!(
                source,
                path,
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                "retrying upstream call"
            );
            last_error = Some(failure.error);
            tokio::time::sleep(wait).await;
        }
    }

    /// One exchange: request, status, headers and body.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<&Value>,
    ) -> Result<HttpResponse, Failure> {
        // Waiting for a free slot counts against the call's deadline, like the exchange.
        let _slot = self.slots.acquire().await.map_err(|_| Failure {
            error: ConnectorError::Internal {
                detail: format!("source {}: the call slots are closed", self.name),
            },
            retryable: false,
            unhealthy: false,
            retry_after: None,
        })?;
        let mut builder = self.client.request(method.clone(), url.clone());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();

        if !response.status().is_success() {
            // Read a little of the body for the logs (and to keep the connection reusable).
            let mut snippet = Vec::new();
            while snippet.len() < ERROR_BODY_LOG_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            snippet.truncate(ERROR_BODY_LOG_BYTES);
            return Err(Failure {
                error: ConnectorError::UpstreamHttp {
                    source_name: self.name.clone(),
                    status,
                    detail: String::from_utf8_lossy(&snippet).into_owned(),
                },
                retryable: is_retryable_status(status),
                unhealthy: status >= 500 || status == 429,
                retry_after: retry_after(&headers, SystemTime::now()),
            });
        }

        if status == 204 || *method == Method::HEAD {
            return Ok(HttpResponse {
                status,
                headers,
                body: Value::Null,
            });
        }
        if !is_json_content_type(headers.get(CONTENT_TYPE)) {
            let content_type = headers
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(self.invalid(format!("content type {content_type:?} is not JSON")));
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_response_bytes as u64) {
            return Err(self.invalid("body larger than the limit".into()));
        }
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > self.max_response_bytes {
                        return Err(self.invalid("body larger than the limit".into()));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return Err(self.transport_failure(error)),
            }
        }
        let body: Value = crate::json::from_slice(&bytes)
            .map_err(|e| self.invalid(format!("body is not valid JSON: {e}")))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn invalid(&self, detail: String) -> Failure {
        Failure {
            error: ConnectorError::UpstreamInvalidResponse {
                source_name: self.name.clone(),
                detail,
            },
            retryable: false,
            unhealthy: false,
            retry_after: None,
        }
    }

    /// A reqwest error before or while reading the response.
    fn transport_failure(&self, error: reqwest::Error) -> Failure {
        let error = error.without_url();
        if error.is_timeout() {
            return Failure {
                error: self.timeout_error(),
                retryable: false,
                unhealthy: true,
                retry_after: None,
            };
        }
        if error.is_builder() {
            return Failure {
                error: ConnectorError::Internal {
                    detail: format!(
                        "source {}: cannot build the request: {}",
                        self.name,
                        chain(&error)
                    ),
                },
                retryable: false,
                unhealthy: false,
                retry_after: None,
            };
        }
        Failure {
            error: ConnectorError::UpstreamUnreachable {
                source_name: self.name.clone(),
                detail: chain(&error),
            },
            retryable: true,
            unhealthy: true,
            retry_after: None,
        }
    }
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn is_json_content_type(value: Option<&HeaderValue>) -> bool {
    let Some(text) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// An error and its causes on one line ("error sending request: connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn json_and_plus_json_content_types_are_accepted() {
        for accepted in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
            "application/vnd.api+json;v=2",
        ] {
            let value = HeaderValue::from_static(accepted);
            assert!(is_json_content_type(Some(&value)), "{accepted}");
        }
        for refused in [
            "text/html",
            "text/json",
            "application/jsonp",
            "application/xml",
            "",
        ] {
            let value = HeaderValue::from_static(refused);
            assert!(!is_json_content_type(Some(&value)), "{refused}");
        }
        assert!(!is_json_content_type(None));
    }
}
