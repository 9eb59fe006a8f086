//! The reqwest HTTP source against real loopback servers (small axum apps, or a raw TCP
//! listener where a well-behaved server cannot misbehave enough). The servers record every
//! request they receive, so the tests count upstream calls and measure waits on the server's
//! side.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tributary_connectors::error::ErrorCode;
use tributary_connectors::http::{
    CircuitPolicy, CircuitState, HeaderName, HeaderValue, HttpOptions, HttpRequest, HttpSource,
    Method, PathPart, ReqwestHttpSource, RetryPolicy, Url,
};
use tributary_connectors::{ConnectorError, Value};

/// What the upstream saw: the arrival time and the method, path and query of each request.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<(Instant, String)>>>);

impl Hits {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn times(&self) -> Vec<Instant> {
        self.0.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    fn targets(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// Serves `router` on a free loopback port, recording each request before it is handled.
async fn serve(router: Router) -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let recorder = hits.clone();
    let router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let recorder = recorder.clone();
        async move {
            let target = format!("{} {}", request.method(), request.uri());
            recorder.0.lock().unwrap().push((Instant::now(), target));
            next.run(request).await
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, hits)
}

/// Options for a source on `addr` under `/v1`: fast retries, a breaker that never opens,
/// unless a test says otherwise.
fn options(addr: SocketAddr) -> HttpOptions {
    let base = Url::parse(&format!("http://{addr}/v1")).unwrap();
    let mut options = HttpOptions::new("test", base);
    options.timeout = Duration::from_secs(5);
    options.retries = RetryPolicy {
        max_retries: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    options.circuit = CircuitPolicy::disabled();
    options
}

fn source(options: HttpOptions) -> Arc<ReqwestHttpSource> {
    Arc::new(ReqwestHttpSource::new(options).unwrap())
}

fn json_body(value: serde_json::Value) -> Value {
    serde_json::from_value(value).unwrap()
}

fn assert_code(result: &Result<impl std::fmt::Debug, ConnectorError>, code: ErrorCode) {
    match result {
        Err(error) => assert_eq!(error.code(), code, "{error:?}"),
        Ok(value) => panic!("expected {code}, got {value:?}"),
    }
}

#[tokio::test]
async fn a_json_answer_is_returned_with_its_status_headers_and_body() {
    let router = Router::new().route(
        "/v1/items/{id}",
        get(|Path(id): Path<String>| async move {
            (
                [("x-total", "1")],
                Json(json!({ "id": id, "tags": ["a", "b"], "price": 9.5 })),
            )
        }),
    );
    let (addr, hits) = serve(router).await;
    let source = source(options(addr));

    let request = HttpRequest::new(
        Method::GET,
        vec![PathPart::literal("/items/"), PathPart::value("42")],
    )
    .with_query(
        "expand",
        Value::List(vec![Value::from("a"), Value::from("b")]),
    );
    let response = source.send(request).await.unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(response.headers.get("x-total").unwrap(), "1");
    assert_eq!(
        response.body,
        json_body(json!({ "id": "42", "tags": ["a", "b"], "price": 9.5 }))
    );
    assert_eq!(hits.targets(), ["GET /v1/items/42?expand=a&expand=b"]);
    assert_eq!(source.calls_made(), 1);
}

#[tokio::test]
async fn a_json_body_is_posted_and_a_204_answers_null() {
    let seen = Arc::new(Mutex::new(None));
    let recorded = seen.clone();
    let router = Router::new().route(
        "/v1/reviews",
        any(move |Json(body): Json<serde_json::Value>| {
            let recorded = recorded.clone();
            async move {
                *recorded.lock().unwrap() = Some(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let (addr, _hits) = serve(router).await;
    let source = source(options(addr));

    let body = json_body(json!({ "productId": "p1", "stars": 5 }));
    let request =
        HttpRequest::new(Method::POST, vec![PathPart::literal("/reviews")]).with_body(body);
    let response = source.send(request).await.unwrap();

    assert_eq!(response.status, 204);
    assert_eq!(response.body, Value::Null);
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some(json!({ "productId": "p1", "stars": 5 }))
    );
}

#[tokio::test]
async fn a_500_is_an_upstream_http_error_with_the_status_and_no_body_in_the_public_message() {
    let router = Router::new().route(
        "/v1/boom",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "secret stack trace") }),
    );
    let (addr, hits) = serve(router).await;
    let mut options = options(addr);
    options.retries = RetryPolicy::none();
    let source = source(options);

    let result = source.send(HttpRequest::get("/boom")).await;

    assert_code(&result, ErrorCode::UpstreamHttpError);
    let error = result.unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert!(!error.public_message().contains("secret"));
    // The body is kept for the logs only.
    assert!(error.to_string().contains("secret stack trace"));
    assert_eq!(hits.count(), 1);
}

#[tokio::test]
async fn a_404_is_reported_with_its_status_and_not_retried() {
    let (addr, hits) = serve(Router::new()).await;
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/missing")).await;

    assert_code(&result, ErrorCode::UpstreamHttpError);
    assert_eq!(result.unwrap_err().status(), Some(404));
    assert_eq!(hits.count(), 1, "a 404 will not change on a retry");
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_reported_as_its_status() {
    let router = Router::new().route(
        "/v1/moved",
        get(|| async {
            (
                StatusCode::FOUND,
                [(header::LOCATION, "http://127.0.0.1:1/admin")],
            )
        }),
    );
    let (addr, hits) = serve(router).await;
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/moved")).await;

    assert_eq!(result.unwrap_err().status(), Some(302));
    assert_eq!(hits.count(), 1);
}

/// Answers 429 with `Retry-After: <seconds>` to the first request, then 200.
fn rate_limited_once(seconds: &'static str) -> Router {
    let seen = Arc::new(AtomicUsize::new(0));
    Router::new().route(
        "/v1/limited",
        get(move || {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, seconds)],
                    )
                        .into_response()
                } else {
                    Json(json!({ "ok": true })).into_response()
                }
            }
        }),
    )
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_the_server_asked() {
    let (addr, hits) = serve(rate_limited_once("1")).await;
    let source = source(options(addr));

    let response = source.send(HttpRequest::get("/limited")).await.unwrap();

    assert_eq!(response.body, json_body(json!({ "ok": true })));
    let times = hits.times();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_time_left_is_not_waited_for() {
    let (addr, hits) = serve(rate_limited_once("10")).await;
    let mut options = options(addr);
    options.timeout = Duration::from_secs(2);
    let source = source(options);

    let started = Instant::now();
    let result = source.send(HttpRequest::get("/limited")).await;

    assert_eq!(result.unwrap_err().status(), Some(429));
    assert!(started.elapsed() < Duration::from_secs(1), "it waited");
    assert_eq!(hits.count(), 1);
}

fn slow_router(delay: Duration) -> Router {
    Router::new().route(
        "/v1/slow",
        get(move || async move {
            tokio::time::sleep(delay).await;
            Json(json!({ "late": true }))
        }),
    )
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_an_upstream_timeout() {
    let (addr, _hits) = serve(slow_router(Duration::from_secs(3))).await;
    let mut options = options(addr);
    options.timeout = Duration::from_millis(200);
    let source = source(options);

    let started = Instant::now();
    let result = source.send(HttpRequest::get("/slow")).await;

    assert_code(&result, ErrorCode::UpstreamTimeout);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn a_per_call_timeout_overrides_the_source_timeout() {
    let (addr, _hits) = serve(slow_router(Duration::from_millis(600))).await;
    let source = source(options(addr));

    let short = HttpRequest::get("/slow").with_timeout(Duration::from_millis(150));
    assert_code(&source.send(short).await, ErrorCode::UpstreamTimeout);
    // The source's own 5 s is enough.
    assert!(source.send(HttpRequest::get("/slow")).await.is_ok());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_invalid_response() {
    let router = Router::new().route(
        "/v1/broken",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{\"a\": ") }),
    );
    let (addr, hits) = serve(router).await;
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/broken")).await;

    assert_code(&result, ErrorCode::UpstreamInvalidResponse);
    assert_eq!(hits.count(), 1, "an invalid answer is not retried");
}

#[tokio::test]
async fn a_json_body_with_a_wrong_content_type_is_an_invalid_response() {
    let router = Router::new().route(
        "/v1/html",
        get(|| async { ([(header::CONTENT_TYPE, "text/html")], "{\"a\": 1}") }),
    );
    let (addr, _hits) = serve(router).await;
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/html")).await;

    assert_code(&result, ErrorCode::UpstreamInvalidResponse);
}

#[tokio::test]
async fn a_problem_json_content_type_is_accepted() {
    let router = Router::new().route(
        "/v1/problem",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/problem+json; charset=utf-8",
                )],
                "[1]",
            )
        }),
    );
    let (addr, _hits) = serve(router).await;
    let source = source(options(addr));

    let response = source.send(HttpRequest::get("/problem")).await.unwrap();

    assert_eq!(response.body, json_body(json!([1])));
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    // A port that was free a moment ago: nothing listens on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/anything")).await;

    assert_code(&result, ErrorCode::UpstreamUnreachable);
    assert_eq!(source.calls_made(), 3, "a refused GET is retried");
}

#[tokio::test]
async fn a_connection_reset_in_the_middle_of_the_body_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(b"{\"items\": [1, 2, ").await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            // SO_LINGER 0: closing sends RST instead of FIN. The blocking-on-drop concern
            // behind the deprecation does not apply to a zero linger.
            #[allow(deprecated)]
            stream.set_linger(Some(Duration::ZERO)).unwrap();
            drop(stream);
        }
    });
    let source = source(options(addr));

    let result = source.send(HttpRequest::get("/items")).await;

    assert_code(&result, ErrorCode::UpstreamUnreachable);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "a broken exchange is worth retrying for a GET"
    );
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_an_invalid_response() {
    let router = Router::new().route(
        "/v1/big",
        get(|| async { Json(json!({ "blob": "x".repeat(10_000) })) }),
    );
    let (addr, _hits) = serve(router).await;
    let mut options = options(addr);
    options.max_response_bytes = 1_000;
    let source = tributary_connectors::http::connect(options).unwrap();

    let result = source.send(HttpRequest::get("/big")).await;

    assert_code(&result, ErrorCode::UpstreamInvalidResponse);
}

fn always(status: StatusCode) -> Router {
    Router::new().route("/v1/flaky", any(move || async move { status }))
}

#[tokio::test]
async fn only_idempotent_methods_are_retried() {
    let (addr, hits) = serve(always(StatusCode::SERVICE_UNAVAILABLE)).await;
    let source = source(options(addr));

    let post = HttpRequest::new(Method::POST, vec![PathPart::literal("/flaky")])
        .with_body(json_body(json!({})));
    assert_code(&source.send(post).await, ErrorCode::UpstreamHttpError);
    assert_eq!(hits.count(), 1, "a POST is attempted once");

    assert_code(
        &source.send(HttpRequest::get("/flaky")).await,
        ErrorCode::UpstreamHttpError,
    );
    assert_eq!(hits.count(), 1 + 3, "a GET is retried max_retries times");

    let put = HttpRequest::new(Method::PUT, vec![PathPart::literal("/flaky")]);
    assert_code(&source.send(put).await, ErrorCode::UpstreamHttpError);
    assert_eq!(hits.count(), 4 + 3, "a PUT is idempotent");
}

#[tokio::test]
async fn under_constant_500s_retries_stay_within_the_budget() {
    let (addr, hits) = serve(always(StatusCode::INTERNAL_SERVER_ERROR)).await;
    let mut options = options(addr);
    options.retries = RetryPolicy {
        max_retries: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        budget_ratio: 0.2,
        budget_burst: 2.0,
    };
    let source = source(options);

    let calls = 50;
    for _ in 0..calls {
        let result = source.send(HttpRequest::get("/flaky")).await;
        assert_eq!(result.unwrap_err().status(), Some(500));
    }

    // Without a budget: 50 × 4 = 200 attempts. With it: 50 + 2 + 0.2 × 50 at most.
    let attempts = hits.count();
    assert!(attempts > calls, "some retries happened ({attempts})");
    assert!(attempts <= calls + 2 + 10, "{attempts} attempts");
    assert_eq!(source.calls_made(), attempts as u64);
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_after_a_successful_probe() {
    let healthy = Arc::new(AtomicBool::new(false));
    let state = healthy.clone();
    let router = Router::new().route(
        "/v1/svc",
        get(move || {
            let healthy = state.load(Ordering::SeqCst);
            async move {
                if healthy {
                    Json(json!({ "up": true })).into_response()
                } else {
                    StatusCode::BAD_GATEWAY.into_response()
                }
            }
        }),
    );
    let (addr, hits) = serve(router).await;
    let mut options = options(addr);
    options.retries = RetryPolicy::none();
    options.circuit = CircuitPolicy {
        failure_ratio: 0.5,
        min_requests: 4,
        window: Duration::from_secs(10),
        open_for: Duration::from_millis(200),
        half_open_probes: 1,
    };
    let source = source(options);

    for _ in 0..4 {
        let result = source.send(HttpRequest::get("/svc")).await;
        assert_eq!(result.unwrap_err().status(), Some(502));
    }
    assert_eq!(source.circuit_state(), CircuitState::Open);

    // Open: fails fast, the server sees nothing.
    let started = Instant::now();
    for _ in 0..5 {
        assert_code(
            &source.send(HttpRequest::get("/svc")).await,
            ErrorCode::CircuitOpen,
        );
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(hits.count(), 4);
    assert_eq!(source.calls_made(), 4);

    // Half-open, the probe fails: open again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let probe = source.send(HttpRequest::get("/svc")).await;
    assert_eq!(probe.unwrap_err().status(), Some(502));
    assert_eq!(hits.count(), 5);
    assert_code(
        &source.send(HttpRequest::get("/svc")).await,
        ErrorCode::CircuitOpen,
    );
    assert_eq!(hits.count(), 5);

    // Half-open, the service is back: the probe succeeds and the circuit closes.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(source.send(HttpRequest::get("/svc")).await.is_ok());
    assert_eq!(source.circuit_state(), CircuitState::Closed);
    assert!(source.send(HttpRequest::get("/svc")).await.is_ok());
    assert_eq!(hits.count(), 7);
}

/// Sends `n` identical requests at once and checks every caller got the body.
async fn concurrent(source: &Arc<ReqwestHttpSource>, n: usize, request: HttpRequest) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let source = source.clone();
            let request = request.clone();
            tokio::spawn(async move { source.send(request).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.body, json_body(json!({ "late": true })));
    }
}

fn slow_any() -> Router {
    Router::new().route(
        "/v1/slow",
        any(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Json(json!({ "late": true }))
        }),
    )
}

#[tokio::test]
async fn identical_concurrent_gets_share_one_upstream_call() {
    let (addr, hits) = serve(slow_any()).await;
    let source = source(options(addr));

    concurrent(&source, 50, HttpRequest::get("/slow")).await;

    assert_eq!(hits.count(), 1);
    assert_eq!(source.calls_made(), 1);
    // Done calls leave the map: the next GET makes a fresh call.
    concurrent(&source, 1, HttpRequest::get("/slow")).await;
    assert_eq!(hits.count(), 2);
}

#[tokio::test]
async fn with_single_flight_off_every_get_makes_its_own_call() {
    let (addr, hits) = serve(slow_any()).await;
    let mut options = options(addr);
    options.single_flight = false;
    let source = source(options);

    concurrent(&source, 50, HttpRequest::get("/slow")).await;

    assert_eq!(hits.count(), 50);
}

#[tokio::test]
async fn posts_and_gets_with_different_headers_never_share_a_call() {
    let (addr, hits) = serve(slow_any()).await;
    let source = source(options(addr));

    let post = HttpRequest::new(Method::POST, vec![PathPart::literal("/slow")])
        .with_body(json_body(json!({})));
    concurrent(&source, 10, post).await;
    assert_eq!(hits.count(), 10);

    let user = HeaderName::from_static("x-user");
    let (a, b) = tokio::join!(
        source.send(
            HttpRequest::get("/slow").with_header(user.clone(), HeaderValue::from_static("a"))
        ),
        source.send(HttpRequest::get("/slow").with_header(user, HeaderValue::from_static("b"))),
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(hits.count(), 12);
}

#[tokio::test]
async fn a_caller_joining_a_shared_call_keeps_its_own_timeout() {
    let (addr, _hits) = serve(slow_any()).await;
    let source = source(options(addr));

    let (long, short) = tokio::join!(
        source.send(HttpRequest::get("/slow")),
        source.send(HttpRequest::get("/slow").with_timeout(Duration::from_millis(100))),
    );

    assert!(long.is_ok());
    assert_code(&short, ErrorCode::UpstreamTimeout);
    assert_eq!(source.calls_made(), 1);
}

#[tokio::test]
async fn traversal_values_reach_the_server_as_one_escaped_segment_under_the_base() {
    let (addr, hits) = serve(Router::new()).await;
    let source = source(options(addr));

    for value in [
        "../admin",
        "%2e%2e/",
        "http://evil",
        "//evil.com",
        "@evil",
        "?x=1#frag",
    ] {
        let request = HttpRequest::new(
            Method::GET,
            vec![PathPart::literal("/users/"), PathPart::value(value)],
        );
        let _ = source.send(request).await;
    }
    let refused = HttpRequest::new(
        Method::GET,
        vec![PathPart::literal("/users/"), PathPart::value("..")],
    );
    assert_code(&source.send(refused).await, ErrorCode::BadUserInput);

    assert_eq!(
        hits.targets(),
        [
            "GET /v1/users/..%2Fadmin",
            "GET /v1/users/%252e%252e%2F",
            "GET /v1/users/http%3A%2F%2Fevil",
            "GET /v1/users/%2F%2Fevil.com",
            "GET /v1/users/%40evil",
            "GET /v1/users/%3Fx%3D1%23frag",
        ]
    );
}

#[tokio::test]
async fn default_headers_are_sent_and_a_request_header_overrides_them() {
    let router = Router::new().route(
        "/v1/echo",
        get(|headers: axum::http::HeaderMap| async move {
            let get = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            Json(json!({ "key": get("x-api-key"), "accept": get("accept") }))
        }),
    );
    let (addr, _hits) = serve(router).await;
    let mut options = options(addr);
    options
        .default_headers
        .insert("x-api-key", HeaderValue::from_static("default"));
    let source = source(options);

    let response = source.send(HttpRequest::get("/echo")).await.unwrap();
    assert_eq!(
        response.body,
        json_body(json!({ "key": "default", "accept": "application/json" }))
    );
    let request = HttpRequest::get("/echo").with_header(
        HeaderName::from_static("x-api-key"),
        HeaderValue::from_static("mine"),
    );
    let response = source.send(request).await.unwrap();
    assert_eq!(
        response.body,
        json_body(json!({ "key": "mine", "accept": "application/json" }))
    );
}

#[tokio::test]
async fn a_base_url_that_is_not_http_is_refused() {
    let options = HttpOptions::new("files", Url::parse("file:///etc").unwrap());
    assert!(matches!(
        ReqwestHttpSource::new(options),
        Err(ConnectorError::BadInput { .. })
    ));
}
