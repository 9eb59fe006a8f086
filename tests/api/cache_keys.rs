//! What an entry is for: two cached fields that send the very same request but take different
//! parts of its answer (`select`) must never be served each other's part from the cache.

use axum::extract::RawQuery;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::cache_support::{cache_backends, read_ok, spawn_cached};
use crate::helpers::{Backend, Spawn, TestDb};
use crate::http_upstream::Upstream;

fn router() -> Router {
    Router::new()
        .route(
            "/both",
            get(|| async { Json(json!({"a": {"text": "A"}, "b": {"text": "B"}})) }),
        )
        .route(
            "/items",
            get(|RawQuery(query): RawQuery| async move {
                let ids: Vec<u64> = query
                    .unwrap_or_default()
                    .split('&')
                    .filter_map(|p| p.strip_prefix("id="))
                    .filter_map(|id| id.parse().ok())
                    .collect();
                let of = |side: &str| -> Vec<Value> {
                    ids.iter()
                        .map(|id| json!({"id": id, "text": format!("{side}{id}")}))
                        .collect()
                };
                Json(json!({"a": of("a"), "b": of("b")}))
            }),
        )
        .route(
            "/parents",
            get(|| async { Json(json!([{"id": 1}, {"id": 2}])) }),
        )
}

fn schema(api: &str) -> String {
    r#"schema @source(name: "api", http: "@API@", retries: 0) { query: Query }

type Query {
  a: Answer @http(source: "api", path: "/both", select: "a") @cache(ttl: "30s")
  b: Answer @http(source: "api", path: "/both", select: "b") @cache(ttl: "30s")
  parents: [Parent!]! @http(source: "api", path: "/parents")
}

type Parent {
  id: Int!
  a: Answer
    @http(source: "api", path: "/items", query: {id: "{{parent.id}}"}, select: "a",
          batch: {param: "id", key: "id"})
    @cache(ttl: "30s")
  b: Answer
    @http(source: "api", path: "/items", query: {id: "{{parent.id}}"}, select: "b",
          batch: {param: "id", key: "id"})
    @cache(ttl: "30s")
}

type Answer {
  text: String
}
"#
    .replace("@API@", api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_sending_the_same_request_with_different_selects_never_share_an_entry() {
    for cache in cache_backends() {
        let upstream = Upstream::start(router()).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let spawn = Spawn::with_schema(&db, &schema(&upstream.url("")));
        let app = spawn_cached(spawn, &cache, "keys").await;

        let a = read_ok(&app, "{ a { text } }", &[]).await;
        assert_eq!(a["data"]["a"], json!({"text": "A"}));
        let b = read_ok(&app, "{ b { text } }", &[]).await;
        assert_eq!(b["data"]["b"], json!({"text": "B"}), "{cache:?}");
        assert_eq!(read_ok(&app, "{ a { text } }", &[]).await, a, "{cache:?}");
        assert_eq!(read_ok(&app, "{ b { text } }", &[]).await, b, "{cache:?}");
        assert_eq!(
            upstream.hits.count("/both"),
            2,
            "each field cached ({cache:?})"
        );

        let a = read_ok(&app, "{ parents { a { text } } }", &[]).await;
        assert_eq!(
            a["data"]["parents"],
            json!([{"a": {"text": "a1"}}, {"a": {"text": "a2"}}])
        );
        let b = read_ok(&app, "{ parents { b { text } } }", &[]).await;
        assert_eq!(
            b["data"]["parents"],
            json!([{"b": {"text": "b1"}}, {"b": {"text": "b2"}}]),
            "{cache:?}"
        );
        assert_eq!(read_ok(&app, "{ parents { a { text } } }", &[]).await, a);
        assert_eq!(
            upstream.hits.count("/items"),
            2,
            "each field cached ({cache:?})"
        );
        app.stop().await;
        db.drop_db().await;
    }
}
