//! `@cache` TTLs and stale-if-error, counted at the backends: a loopback upstream that records
//! every request, and the SQL source's statement counter. Every test runs on the in-memory
//! cache and, when `TEST_REDIS_URL` is set, on that Redis too (under a prefix of its own).
//!
//! TTLs are milliseconds and waits short. A read is only required to be a hit when it began
//! well inside the TTL (measured from before the entry was filled), so a slow machine makes
//! the checks weaker, never wrong.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::cache_support::{cache_backends, pause_ms, read_ok, send, spawn_cached};
use crate::helpers::{backends, codes, Backend, Spawn, TestDb};
use crate::http_upstream::Upstream;

const READS: usize = 5;

/// `/thing`, `/plain` and `/detail/{id}` answer `{"id", "version"}`, the version counting that
/// path's calls, or 500 while `fail` is set; `/things` (never failing) lists ids 1 and 2.
fn router(fail: Arc<AtomicBool>) -> Router {
    let counter = |fail: Arc<AtomicBool>| {
        let n = Arc::new(AtomicU64::new(0));
        move || {
            let fail = fail.clone();
            let n = n.clone();
            async move {
                if fail.load(Ordering::SeqCst) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
                }
                let version = n.fetch_add(1, Ordering::SeqCst) + 1;
                Json(json!({"id": 1, "version": version})).into_response()
            }
        }
    };
    let detail_n = Arc::new(AtomicU64::new(0));
    let detail_fail = fail.clone();
    Router::new()
        .route("/thing", get(counter(fail.clone())))
        .route("/plain", get(counter(fail)))
        .route(
            "/detail/{id}",
            get(move |Path(id): Path<u64>| {
                let n = detail_n.clone();
                let fail = detail_fail.clone();
                async move {
                    if fail.load(Ordering::SeqCst) {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
                    }
                    let version = n.fetch_add(1, Ordering::SeqCst) + 1;
                    Json(json!({"id": id, "version": version})).into_response()
                }
            }),
        )
        .route(
            "/things",
            get(|| async { Json(json!([{"id": 1}, {"id": 2}])) }),
        )
}

fn http_schema(api: &str) -> String {
    r#"schema @source(name: "api", http: "@API@", retries: 0) { query: Query }

type Query {
  thing: Thing @http(source: "api", path: "/thing") @cache(ttl: "300ms")
  staleThing: Thing @http(source: "api", path: "/thing") @cache(ttl: "200ms", staleIfError: "10m")
  plain: Thing @http(source: "api", path: "/plain") @cache(ttl: "200ms")
  things: [Thing!]! @http(source: "api", path: "/things")
}

type Thing {
  id: Int!
  version: Int
  detail: Thing
    @http(source: "api", path: "/detail/{{parent.id}}")
    @cache(ttl: "200ms", staleIfError: "10m")
}
"#
    .replace("@API@", api)
}

/// Whether a read beginning now is still well inside a TTL that started at `start` (the
/// entry was stored after `start`; half the TTL leaves room for the read to reach the cache).
fn well_inside(start: Instant, ttl: Duration) -> bool {
    start.elapsed() < ttl / 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_http_field_calls_the_upstream_once_within_its_ttl_and_again_after_it() {
    for cache in cache_backends() {
        let upstream = Upstream::start(router(Arc::default())).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let spawn = Spawn::with_schema(&db, &http_schema(&upstream.url("")));
        let app = spawn_cached(spawn, &cache, "ttl-http").await;
        let ttl = Duration::from_millis(300);
        let query = "{ thing { id version } }";

        let start = Instant::now();
        let first = read_ok(&app, query, &[]).await;
        assert_eq!(
            first["data"]["thing"],
            json!({"id": 1, "version": 1}),
            "{cache:?}"
        );
        let mut late = 0;
        for _ in 0..READS {
            let inside = well_inside(start, ttl);
            let body = read_ok(&app, query, &[]).await;
            if inside {
                assert_eq!(
                    body, first,
                    "a read within the TTL is the cached answer ({cache:?})"
                );
            } else {
                late += 1;
            }
        }
        let calls = upstream.hits.count("/thing");
        if late == 0 {
            assert_eq!(calls, 1, "one upstream call within the TTL ({cache:?})");
        } else {
            assert!(
                calls <= 1 + late,
                "{calls} calls, {late} late reads ({cache:?})"
            );
        }

        pause_ms(400).await;
        let body = read_ok(&app, query, &[]).await;
        assert_eq!(
            upstream.hits.count("/thing"),
            calls + 1,
            "after the TTL the upstream is called again ({cache:?})"
        );
        assert_eq!(
            body["data"]["thing"]["version"],
            json!(calls + 1),
            "and its new answer is served ({cache:?})"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

const SQL_SCHEMA: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query }

type Query {
  things: [Row!]!
    @sql(source: "main", query: "SELECT id, name FROM things ORDER BY id")
    @cache(ttl: "300ms")
}

type Row {
  id: Int!
  name: String!
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_sql_field_runs_its_statement_once_within_its_ttl_and_again_after_it() {
    for backend in backends() {
        for cache in cache_backends() {
            let db = TestDb::new(backend).await;
            db.exec(
                "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 INSERT INTO things (id, name) VALUES (1, 'old'), (2, 'old');",
            )
            .await;
            let spawn = Spawn::with_schema(&db, SQL_SCHEMA);
            let app = spawn_cached(spawn, &cache, "ttl-sql").await;
            let ttl = Duration::from_millis(300);
            let query = "{ things { id name } }";
            let base = app.statements();

            let start = Instant::now();
            let first = read_ok(&app, query, &[]).await;
            assert_eq!(
                first["data"]["things"],
                json!([{"id": 1, "name": "old"}, {"id": 2, "name": "old"}])
            );
            // The rows change behind the cache: reads within the TTL still see the cached ones.
            db.exec("UPDATE things SET name = 'new'").await;
            let mut late = 0;
            for _ in 0..READS {
                let inside = well_inside(start, ttl);
                let body = read_ok(&app, query, &[]).await;
                if inside {
                    assert_eq!(
                        body, first,
                        "cached rows within the TTL ({backend:?}, {cache:?})"
                    );
                } else {
                    late += 1;
                }
            }
            let statements = app.statements() - base;
            if late == 0 {
                assert_eq!(
                    statements, 1,
                    "one statement within the TTL ({backend:?}, {cache:?})"
                );
            } else {
                assert!(
                    statements <= 1 + late as u64,
                    "{statements} statements, {late} late"
                );
            }

            pause_ms(400).await;
            let body = read_ok(&app, query, &[]).await;
            assert_eq!(
                app.statements() - base,
                statements + 1,
                "after the TTL the statement runs again ({backend:?}, {cache:?})"
            );
            assert_eq!(
                body["data"]["things"],
                json!([{"id": 1, "name": "new"}, {"id": 2, "name": "new"}])
            );
            app.stop().await;
            db.drop_db().await;
        }
    }
}

fn stale_paths(body: &Value) -> Vec<String> {
    body["extensions"]["cache"]["stale"]
        .as_array()
        .map(|paths| {
            paths
                .iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stale_if_error_a_failing_upstream_is_answered_from_the_expired_entry_and_says_so() {
    for cache in cache_backends() {
        let fail = Arc::new(AtomicBool::new(false));
        let upstream = Upstream::start(router(fail.clone())).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let spawn = Spawn::with_schema(&db, &http_schema(&upstream.url("")));
        let app = spawn_cached(spawn, &cache, "stale").await;
        let stale_query = "{ staleThing { id version } }";
        let nested_query = "{ things { id detail { id version } } }";
        let plain_query = "{ plain { id version } }";

        let filled = read_ok(&app, stale_query, &[]).await;
        assert_eq!(filled["data"]["staleThing"], json!({"id": 1, "version": 1}));
        let nested = read_ok(&app, nested_query, &[]).await;
        read_ok(&app, plain_query, &[]).await;
        assert!(filled.get("extensions").is_none(), "fresh: {filled}");

        fail.store(true, Ordering::SeqCst);
        pause_ms(300).await;
        let calls = upstream.hits.total();

        let body = read_ok(&app, stale_query, &[]).await;
        assert_eq!(body["data"], filled["data"], "the old value ({cache:?})");
        assert_eq!(stale_paths(&body), vec!["staleThing"], "{body}");
        assert!(
            upstream.hits.total() > calls,
            "the upstream was asked first ({cache:?})"
        );

        let body = read_ok(&app, nested_query, &[]).await;
        assert_eq!(body["data"], nested["data"], "the old values ({cache:?})");
        let mut paths = stale_paths(&body);
        paths.sort();
        assert_eq!(paths, vec!["things.0.detail", "things.1.detail"], "{body}");

        // Without staleIfError the same failure is an error.
        let reply = send(&app, plain_query, &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["data"]["plain"], Value::Null, "{}", reply.body);
        assert_eq!(
            codes(&reply.body),
            vec!["UPSTREAM_HTTP_ERROR"],
            "{}",
            reply.body
        );
        assert_eq!(reply.body["errors"][0]["path"], json!(["plain"]));
        assert!(stale_paths(&reply.body).is_empty(), "{}", reply.body);

        // Back up: fresh answers, no extension.
        fail.store(false, Ordering::SeqCst);
        let body = read_ok(&app, stale_query, &[]).await;
        assert_eq!(body["data"]["staleThing"]["version"], json!(2), "{body}");
        assert!(stale_paths(&body).is_empty(), "{body}");
        app.stop().await;
        db.drop_db().await;
    }
}
