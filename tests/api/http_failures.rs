//! The `@http` failure matrix against real loopback upstreams: every failure nulls its own
//! field (or its nearest nullable parent) with an error carrying `path` and a stable
//! `extensions.code`, a sibling field from a healthy source still resolves, and no upstream
//! body reaches the client. Retries (GET only, `Retry-After`) and the circuit breaker are
//! observed at the upstream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tributary_connectors::http::CircuitState;

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::{closed_port, error_at, CutServer, Upstream};

/// Text only upstream bodies hold: it must never reach a client.
const SECRET: &str = "UPSTREAM-SECRET-7f3a";

/// The failing service. `/flaky` fails with 500 while `healthy` is false.
fn failing_router(healthy: Arc<AtomicBool>) -> Router {
    let limited = Arc::new(AtomicU64::new(0));
    Router::new()
        .route(
            "/500",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("db password {SECRET}"),
                )
            })
            .post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("db password {SECRET}"),
                )
            }),
        )
        .route(
            "/404",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": format!("no such thing {SECRET}")})),
                )
            }),
        )
        .route(
            "/429",
            get(move || {
                let limited = limited.clone();
                async move {
                    if limited.fetch_add(1, Ordering::SeqCst) == 0 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [(header::RETRY_AFTER, "1")],
                            format!("slow down {SECRET}"),
                        )
                            .into_response()
                    } else {
                        Json(json!({"message": "after the wait"})).into_response()
                    }
                }
            }),
        )
        .route(
            "/users",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, SECRET) }),
        )
        .route(
            "/429-long",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "10")],
                    SECRET,
                )
            }),
        )
        .route("/list", get(|| async { Json(json!([1, 2, 3])) }))
        .route("/text", get(|| async { Json(json!("just text")) }))
        .route(
            "/numbermsg",
            get(|| async { Json(json!({"message": {"deep": [5]}})) }),
        )
        .route("/object", get(|| async { Json(json!({"a": 1})) }))
        .route("/batch-object", get(|| async { Json(json!({"id": 7})) }))
        .route(
            "/408",
            get(|| async { (StatusCode::REQUEST_TIMEOUT, SECRET) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Json(json!({"message": "too late"}))
            }),
        )
        .route(
            "/garbled",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    format!("{{\"message\": \"{SECRET}"),
                )
            }),
        )
        .route(
            "/html",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    format!("<html><body>{SECRET}</body></html>"),
                )
            }),
        )
        .route(
            "/flaky",
            get(move || {
                let healthy = healthy.clone();
                async move {
                    if healthy.load(Ordering::SeqCst) {
                        Json(json!({"message": "recovered"})).into_response()
                    } else {
                        (StatusCode::INTERNAL_SERVER_ERROR, SECRET).into_response()
                    }
                }
            }),
        )
}

fn healthy_router() -> Router {
    Router::new()
        .route(
            "/posts",
            get(|| async {
                Json(json!([
                    {"id": 1, "userId": 7},
                    {"id": 2, "userId": 8},
                    {"id": 3, "userId": 7}
                ]))
            }),
        )
        .route(
            "/hello",
            get(|| async { Json(json!({"message": "hello"})) }),
        )
        .route(
            "/wrapper",
            get(|| async { Json(json!({"name": "wrapper"})) }),
        )
}

const SCHEMA: &str = r#"schema
  @source(name: "api", http: "@API@", timeout: "5s", retries: @RETRIES@)
  @source(name: "ok", http: "@OK@")
  @source(name: "down", http: "@DOWN@", retries: 0)
  @source(name: "cut", http: "@CUT@", retries: 0)
{
  query: Query
  mutation: Mutation
}

type Query {
  healthy: Msg @http(source: "ok", path: "/hello")
  broken: Msg @http(source: "api", path: "/500")
  missing: Msg @http(source: "api", path: "/404")
  wrapper: Wrapper @http(source: "ok", path: "/wrapper")
  limited: Msg @http(source: "api", path: "/429")
  slow: Msg @http(source: "api", path: "/slow") @timeout(ms: 100)
  garbled: Msg @http(source: "api", path: "/garbled")
  html: Msg @http(source: "api", path: "/html")
  flaky: Msg @http(source: "api", path: "/flaky")
  impatient: Msg @http(source: "api", path: "/408")
  posts: [Post!]! @http(source: "ok", path: "/posts")
  listForObject: Msg @http(source: "api", path: "/list")
  textForObject: Msg @http(source: "api", path: "/text")
  objectForInt: Int @http(source: "api", path: "/object")
  numberMsg: Msg @http(source: "api", path: "/numbermsg")
  limitedLong: Msg @http(source: "api", path: "/429-long")
  objectForList: [Msg!] @http(source: "api", path: "/object")
  unreachable: Msg @http(source: "down", path: "/anything")
  cut: Msg @http(source: "cut", path: "/anything")
}

type Mutation {
  submit: Msg @http(source: "api", method: POST, path: "/500", body: {note: "hi"})
}

type Post {
  id: Int!
  user: Msg
    @http(source: "api", path: "/users", query: {id: "{{parent.userId}}"},
          batch: {param: "id", key: "id"})
}

type Wrapper {
  name: String
  item: Msg! @http(source: "api", path: "/404")
}

type Msg {
  message: String
}
"#;

struct Fixture {
    api: Upstream,
    healthy: Arc<AtomicBool>,
    _ok: Upstream,
    cut: CutServer,
    app: TestApp,
    db: TestDb,
}

impl Fixture {
    async fn new(retries: u32) -> Fixture {
        let healthy = Arc::new(AtomicBool::new(false));
        let api = Upstream::start(failing_router(healthy.clone())).await;
        let ok = Upstream::start(healthy_router()).await;
        let cut = CutServer::start().await;
        let down = format!("http://127.0.0.1:{}", closed_port().await);
        let sdl = SCHEMA
            .replace("@API@", &api.url(""))
            .replace("@OK@", &ok.url(""))
            .replace("@DOWN@", &down)
            .replace("@CUT@", &cut.url())
            .replace("@RETRIES@", &retries.to_string());
        let db = TestDb::new(Backend::Sqlite).await;
        let app = spawn_app(Spawn::with_schema(&db, &sdl)).await;
        Fixture {
            api,
            healthy,
            _ok: ok,
            cut,
            app,
            db,
        }
    }

    async fn finish(self) {
        self.app.stop().await;
        self.db.drop_db().await;
    }
}

/// Asserts `{ FIELD { message } healthy { message } }` gives `FIELD: null` with one error at
/// `[FIELD]` with `code`, `healthy` resolved, and no upstream body text; returns the error.
fn assert_partial(body: &Value, field: &str, code: &str) -> Value {
    assert_eq!(body["data"][field], Value::Null, "{body}");
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"), "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let error = error_at(body, &[json!(field)]).expect("an error at the field's path");
    assert_eq!(error["extensions"]["code"], json!(code), "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        !body.to_string().contains(SECRET),
        "no upstream body: {body}"
    );
    error.clone()
}

async fn partial(f: &Fixture, field: &str, code: &str) -> Value {
    let body = f
        .app
        .query(
            &format!("{{ {field} {{ message }} healthy {{ message }} }}"),
            json!({}),
        )
        .await;
    assert_partial(&body, field, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_500_nulls_the_field_with_upstream_http_error_and_the_status() {
    let f = Fixture::new(0).await;
    let error = partial(&f, "broken", "UPSTREAM_HTTP_ERROR").await;
    assert_eq!(error["extensions"]["status"], json!(500));
    assert_eq!(f.api.hits.count("/500"), 1, "retries: 0 makes one attempt");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_on_a_nullable_field_is_null_without_an_error() {
    let f = Fixture::new(0).await;
    let body = f
        .app
        .query("{ missing { message } healthy { message } }", json!({}))
        .await;
    assert_eq!(body["data"]["missing"], Value::Null, "{body}");
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"));
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(f.api.hits.count("/404"), 1, "a 404 is not retried");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_on_a_non_null_field_is_not_found_and_nulls_its_nullable_parent() {
    let f = Fixture::new(1).await;
    let body = f
        .app
        .query(
            "{ wrapper { name item { message } } healthy { message } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["wrapper"], Value::Null, "{body}");
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"), "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(
        errors.len(),
        1,
        "only the real error, no placeholder: {body}"
    );
    let error = error_at(&body, &[json!("wrapper"), json!("item")]).expect("error at its path");
    assert_eq!(error["extensions"]["code"], json!("NOT_FOUND"), "{body}");
    assert!(!body.to_string().contains(SECRET), "{body}");
    assert_eq!(f.api.hits.count("/404"), 1, "a 404 is not retried");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_retried_no_sooner_than_asked() {
    let f = Fixture::new(1).await;
    let body = f
        .app
        .query("{ limited { message } healthy { message } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["limited"]["message"], json!("after the wait"));
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"));
    let hits = f.api.hits.of("/429");
    assert_eq!(hits.len(), 2, "one retry");
    let waited = hits[1].at.duration_since(hits[0].at);
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after the 429 asking for 1 s"
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_asking_for_a_wait_longer_than_the_timeout_is_not_retried() {
    let f = Fixture::new(1).await;
    let error = partial(&f, "limitedLong", "UPSTREAM_HTTP_ERROR").await;
    assert_eq!(error["extensions"]["status"], json!(429));
    assert_eq!(
        f.api.hits.count("/429-long"),
        1,
        "Retry-After: 10 is beyond the 5 s timeout: no retry at all"
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retries_is_upstream_http_error_429() {
    let f = Fixture::new(0).await;
    let error = partial(&f, "limited", "UPSTREAM_HTTP_ERROR").await;
    assert_eq!(error["extensions"]["status"], json!(429));
    assert_eq!(f.api.hits.count("/429"), 1);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_slower_than_the_field_timeout_is_upstream_timeout() {
    let f = Fixture::new(1).await;
    let error = partial(&f, "slow", "UPSTREAM_TIMEOUT").await;
    assert!(error["extensions"].get("status").is_none(), "{error}");
    assert_eq!(f.api.hits.count("/slow"), 1, "a timeout is not retried");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_upstream_invalid_response() {
    let f = Fixture::new(1).await;
    partial(&f, "garbled", "UPSTREAM_INVALID_RESPONSE").await;
    assert_eq!(
        f.api.hits.count("/garbled"),
        1,
        "an invalid body is not retried"
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_upstream_invalid_response() {
    let f = Fixture::new(1).await;
    partial(&f, "html", "UPSTREAM_INVALID_RESPONSE").await;
    assert_eq!(f.api.hits.count("/html"), 1);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_upstream_unreachable() {
    let f = Fixture::new(0).await;
    partial(&f, "unreachable", "UPSTREAM_UNREACHABLE").await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_in_the_middle_of_the_body_is_upstream_unreachable() {
    let f = Fixture::new(0).await;
    partial(&f, "cut", "UPSTREAM_UNREACHABLE").await;
    assert_eq!(f.cut.connections.load(Ordering::SeqCst), 1);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_retried_and_a_post_is_attempted_once() {
    let f = Fixture::new(1).await;
    let error = partial(&f, "broken", "UPSTREAM_HTTP_ERROR").await;
    assert_eq!(error["extensions"]["status"], json!(500));
    assert_eq!(f.api.hits.count_method("GET", "/500"), 2, "GET: one retry");

    let body = f
        .app
        .query("mutation { submit { message } }", json!({}))
        .await;
    assert_eq!(body["data"]["submit"], Value::Null, "{body}");
    let error = error_at(&body, &[json!("submit")]).expect("error at submit");
    assert_eq!(error["extensions"]["code"], json!("UPSTREAM_HTTP_ERROR"));
    assert_eq!(error["extensions"]["status"], json!(500));
    assert!(!body.to_string().contains(SECRET), "{body}");
    assert_eq!(
        f.api.hits.count_method("POST", "/500"),
        1,
        "POST is not idempotent: never retried"
    );
    f.finish().await;
}

/// The breaker's defaults (connectors/src/http/circuit.rs): it opens once at least 20 outcomes
/// in the 10 s window are at least half failures, stays open 5 s, then lets one probe through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_after_repeated_failures_fails_fast_and_closes_after_a_good_probe() {
    let f = Fixture::new(0).await;
    let api = f.app.http_source("api");
    for i in 0..20 {
        let error = partial(&f, "flaky", "UPSTREAM_HTTP_ERROR").await;
        assert_eq!(error["extensions"]["status"], json!(500), "attempt {i}");
    }
    assert_eq!(f.api.hits.count("/flaky"), 20);
    assert_eq!(api.circuit_state(), CircuitState::Open);

    // Open: the field fails fast, upstream sees nothing, other sources are unaffected.
    for _ in 0..3 {
        partial(&f, "flaky", "CIRCUIT_OPEN").await;
    }
    assert_eq!(f.api.hits.count("/flaky"), 20, "no request while open");

    // After the open period, one successful probe closes the circuit.
    f.healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    let body = f
        .app
        .query("{ flaky { message } healthy { message } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["flaky"]["message"], json!("recovered"));
    assert_eq!(f.api.hits.count("/flaky"), 21);
    assert_eq!(api.circuit_state(), CircuitState::Closed);
    f.finish().await;
}

/// The retry budget (connectors/src/http/retry.rs defaults): 10 retries in reserve, and each
/// call earns 0.2 more. Constant 408s are retryable but, unlike 5xx and 429, do not count
/// against the circuit, so the breaker stays out of the way and the budget alone bounds the
/// retries, which `retries: 1` would otherwise make on every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_constant_retryable_failures_the_retries_stay_within_the_budget() {
    let f = Fixture::new(1).await;
    let calls: u64 = 40;
    for _ in 0..calls {
        let error = partial(&f, "impatient", "UPSTREAM_HTTP_ERROR").await;
        assert_eq!(error["extensions"]["status"], json!(408));
    }
    let attempts = f.api.hits.count("/408") as u64;
    let retries = attempts - calls;
    assert!(retries >= 10, "the reserve is used: {retries} retries");
    assert!(
        retries <= 10 + calls / 5,
        "at most the reserve plus a fifth of the calls: {retries} retries for {calls} calls"
    );
    assert_eq!(
        f.app.http_source("api").circuit_state(),
        CircuitState::Closed
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_call_nulls_the_field_of_every_parent_each_with_its_own_path() {
    let f = Fixture::new(0).await;
    let body = f
        .app
        .query(
            "{ posts { id user { message } } healthy { message } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"), "{body}");
    assert_eq!(
        body["data"]["posts"],
        json!([{"id": 1, "user": null}, {"id": 2, "user": null}, {"id": 3, "user": null}]),
        "{body}"
    );
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{body}");
    for i in 0..3 {
        let error = error_at(&body, &[json!("posts"), json!(i), json!("user")])
            .unwrap_or_else(|| panic!("an error at posts.{i}.user: {body}"));
        assert_eq!(error["extensions"]["code"], json!("UPSTREAM_HTTP_ERROR"));
        assert_eq!(error["extensions"]["status"], json!(503));
    }
    assert!(!body.to_string().contains(SECRET), "{body}");
    assert_eq!(f.api.hits.count("/users"), 1, "one batch call, failed once");
    f.finish().await;
}

/// A 2xx JSON answer of the wrong shape for the field is the upstream's contract broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_of_the_wrong_shape_is_upstream_invalid_response() {
    let f = Fixture::new(0).await;
    for (field, selection) in [
        ("listForObject", "{ message }"),
        ("textForObject", "{ message }"),
        ("objectForInt", ""),
        ("objectForList", "{ message }"),
    ] {
        let body = f
            .app
            .query(
                &format!("{{ {field} {selection} healthy {{ message }} }}"),
                json!({}),
            )
            .await;
        assert_partial(&body, field, "UPSTREAM_INVALID_RESPONSE");
    }
    f.finish().await;
}

/// A leaf inside an upstream object must have its field's type too (GraphQL result coercion):
/// `message: String` holding an object is a field error at `[numberMsg, message]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_of_the_wrong_type_inside_an_upstream_object_is_a_field_error() {
    let f = Fixture::new(0).await;
    let body = f
        .app
        .query("{ numberMsg { message } healthy { message } }", json!({}))
        .await;
    assert_eq!(body["data"]["healthy"]["message"], json!("hello"), "{body}");
    assert_eq!(body["data"]["numberMsg"]["message"], Value::Null, "{body}");
    let error = error_at(&body, &[json!("numberMsg"), json!("message")])
        .unwrap_or_else(|| panic!("an error at numberMsg.message: {body}"));
    assert_eq!(
        error["extensions"]["code"],
        json!("UPSTREAM_INVALID_RESPONSE"),
        "{body}"
    );
    f.finish().await;
}
