//! No SSRF through arguments: whatever a client passes into a path template, the request stays
//! under the source's base URL, the value arriving as one (encoded) path segment, or it is
//! refused as bad input. Watched by a real upstream with an `/admin` app next to `/api`, and a
//! second server on another port.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Spawn, TestDb};
use crate::http_upstream::{error_at, percent_decode, Upstream};

const SCHEMA: &str = r#"schema
  @source(name: "api", http: "@API@", retries: 0)
{
  query: Query
}

type Query {
  item(id: String!): Item @http(source: "api", path: "/items/{{args.id}}")
  search(q: String!): Item @http(source: "api", path: "/items/search", query: {q: "{{args.q}}", limit: "5"})
}

type Item {
  id: String!
}
"#;

/// `/api/items/SEGMENT` echoes the raw segment; `/admin...` answers too, so a request that got
/// there would resolve rather than fail.
fn api_router() -> Router {
    Router::new()
        .route(
            "/admin",
            get(|| async { Json(json!({"id": "ADMIN REACHED"})) }),
        )
        .route(
            "/admin/{*rest}",
            get(|| async { Json(json!({"id": "ADMIN REACHED"})) }),
        )
        .fallback(|request: Request| async move {
            let path = request.uri().path().to_string();
            match path.strip_prefix("/api/items/") {
                Some(segment) => Json(json!({"id": segment})).into_response(),
                None => (StatusCode::NOT_FOUND, "no").into_response(),
            }
        })
}

fn other_router() -> Router {
    Router::new().fallback(|| async { Json(json!({"id": "OTHER SERVER REACHED"})) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_attempts_through_arguments_never_leave_the_base_url() {
    let upstream = Upstream::start_with_fallback(api_router()).await;
    let other = Upstream::start_with_fallback(other_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let sdl = SCHEMA.replace("@API@", &upstream.url("/api"));
    let app = spawn_app(Spawn::with_schema(&db, &sdl)).await;

    let o = other.addr.to_string();
    let attempts: Vec<String> = vec![
        "../admin".into(),
        "..%2Fadmin".into(),
        "%2e%2e/admin".into(),
        "%2E%2E%2Fadmin".into(),
        "..".into(),
        ".".into(),
        "../../admin".into(),
        "..\\admin".into(),
        "/admin".into(),
        format!("http://{o}/"),
        format!("//{o}/x"),
        format!("@{o}"),
        format!("x@{o}/admin"),
        "?x=1#y".into(),
        "#/../../admin".into(),
        "a/b".into(),
        "%00".into(),
        "ok".into(),
    ];
    let mut reached = 0;
    for id in &attempts {
        let before = upstream.hits.total();
        let body = app
            .query(
                "query ($id: String!) { item(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        let text = body.to_string();
        assert!(
            !text.contains("REACHED"),
            "{id:?} reached another app: {body}"
        );
        // The documented refusals: `.` and `..` (a value is data, never a path step).
        let refused = matches!(id.as_str(), "." | "..");
        assert_eq!(body["data"]["item"].is_null(), refused, "{id:?}: {body}");
        if refused {
            let error = error_at(&body, &[json!("item")]).expect("an error at item");
            assert_eq!(
                error["extensions"]["code"],
                json!("BAD_USER_INPUT"),
                "{id:?} was refused as bad input, nothing else: {body}"
            );
            assert_eq!(
                upstream.hits.total(),
                before,
                "{id:?}: refused before sending"
            );
        } else {
            reached += 1;
            assert!(body.get("errors").is_none(), "{id:?}: {body}");
            let hits = upstream.hits.all();
            assert_eq!(hits.len() as u64, before + 1, "{id:?}: one request");
            let hit = hits.last().expect("a hit");
            let segment = hit
                .path
                .strip_prefix("/api/items/")
                .unwrap_or_else(|| panic!("{id:?} arrived at {}", hit.path));
            assert!(
                !segment.contains('/'),
                "{id:?}: one segment, got {}",
                hit.path
            );
            assert!(hit.query.is_none(), "{id:?}: no query, got {:?}", hit.query);
            assert_eq!(body["data"]["item"]["id"], json!(segment));
            assert_eq!(
                percent_decode(segment),
                *id,
                "{id:?} arrived as data, intact"
            );
        }
    }
    assert_eq!(
        reached,
        attempts.len() - 2,
        "every other value is just data"
    );
    assert_eq!(upstream.hits.count_prefix("/admin"), 0);
    for hit in upstream.hits.all() {
        assert!(hit.path.starts_with("/api/items/"), "{}", hit.path);
    }
    assert_eq!(other.hits.total(), 0, "the other server saw nothing");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_dot_and_dot_dot_values_are_refused_as_bad_user_input() {
    let upstream = Upstream::start_with_fallback(api_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let sdl = SCHEMA.replace("@API@", &upstream.url("/api"));
    let app = spawn_app(Spawn::with_schema(&db, &sdl)).await;
    for id in ["..", ".", ""] {
        let body = app
            .query(
                "query ($id: String!) { item(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(body["data"]["item"], Value::Null, "{id:?}: {body}");
        let error = error_at(&body, &[json!("item")]).expect("an error at item");
        assert_eq!(
            error["extensions"]["code"],
            json!("BAD_USER_INPUT"),
            "{body}"
        );
    }
    assert_eq!(upstream.hits.total(), 0);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_values_cannot_add_parameters_or_change_the_path() {
    let upstream = Upstream::start_with_fallback(api_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let sdl = SCHEMA.replace("@API@", &upstream.url("/api"));
    let app = spawn_app(Spawn::with_schema(&db, &sdl)).await;
    let attempts = [
        "a&limit=1000",
        "x#/../../admin",
        "a b+c=d;e",
        "%26admin%3D1",
        "/../admin?y=1",
    ];
    for (i, q) in attempts.iter().enumerate() {
        let body = app
            .query(
                "query ($q: String!) { search(q: $q) { id } }",
                json!({"q": q}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{q:?}: {body}");
        assert_eq!(body["data"]["search"]["id"], json!("search"), "{body}");
        let hits = upstream.hits.all();
        assert_eq!(hits.len(), i + 1, "{q:?}: one request");
        let hit = hits.last().expect("a hit");
        assert_eq!(hit.path, "/api/items/search", "{q:?}");
        let query = hit.query.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("q".to_string(), q.to_string()),
                ("limit".to_string(), "5".to_string())
            ],
            "{q:?} arrived as one value: {query}"
        );
    }
    assert_eq!(upstream.hits.count_prefix("/admin"), 0);
    app.stop().await;
    db.drop_db().await;
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then `%XX` escapes.
fn form_decode(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}
