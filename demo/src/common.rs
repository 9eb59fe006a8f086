//! What the two demo services share: JSON error bodies, the request counter behind `/_stats`,
//! and parsing of repeated query parameters (`?productId=1&productId=2`).
//!
//! Both services are upstreams for Tributary's `@http` connector, whose tests classify upstream
//! failures by status and expect JSON everywhere, so even a malformed request gets a JSON
//! `{"error": ...}` body rather than axum's plain-text rejections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The path of the stats endpoint; requests to it are not counted, so reading the counter does
/// not change it.
pub const STATS_PATH: &str = "/_stats";

/// An error answered as `{"error": message}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Any unreadable JSON body (syntax, wrong types, missing fields, no content type) is the
/// client's mistake; answering all of them with one status keeps the contract simple: 400.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

/// Counts the requests a service has served, so tests and benchmarks can assert how many
/// upstream calls Tributary made (batching and single-flight are judged by this number).
/// Cloning shares the count.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    /// Requests served since start (or the last [`reset`](Self::reset)), `/_stats` excluded.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the count back to zero, e.g. between benchmark rounds.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Finishes a service's router: adds `GET /_stats`, a JSON 404 for unknown paths, and the
/// counting middleware around everything (unknown paths included, `/_stats` excluded).
pub fn finish(router: Router, counter: &RequestCounter) -> Router {
    let stats_counter = counter.clone();
    router
        .route(
            STATS_PATH,
            get(move || async move { Json(json!({ "requests": stats_counter.get() })) }),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn_with_state(
            counter.clone(),
            count_request,
        ))
}

async fn count_request(
    State(counter): State<RequestCounter>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() != STATS_PATH {
        counter.increment();
    }
    next.run(request).await
}

/// The values of query parameter `name`, in order of first appearance, without duplicates.
///
/// Both batch spellings are accepted, repeated (`?id=1&id=2`) and comma-separated (`?id=1,2`),
/// so either batch form of the `@http` connector can be exercised against these services.
pub fn query_values(query: Option<&str>, name: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    let Some(query) = query else { return values };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != name {
            continue;
        }
        for part in value
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            if !values.iter().any(|seen| seen == part) {
                values.push(part.to_owned());
            }
        }
    }
    values
}

/// Like [`query_values`], but every value must be an integer; the error names the bad value.
pub fn query_ids(query: Option<&str>, name: &str) -> Result<Vec<i64>, ApiError> {
    query_values(query, name)
        .iter()
        .map(|value| {
            value.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be an integer, got {value:?}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values_are_merged_in_order_without_duplicates() {
        let values = query_values(Some("sku=B&other=x&sku=A,B&sku=%41-1"), "sku");
        assert_eq!(values, ["B", "A", "A-1"]);
    }

    #[test]
    fn a_non_integer_id_is_a_bad_request() {
        assert!(query_ids(Some("productId=1&productId=two"), "productId").is_err());
        assert_eq!(
            query_ids(Some("productId=2,1"), "productId").ok(),
            Some(vec![2, 1])
        );
    }
}
