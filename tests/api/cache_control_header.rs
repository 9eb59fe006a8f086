//! The `Cache-Control` of responses, by Apollo's cache-control rules: the smallest max-age of
//! the selected fields, `private` when any is PRIVATE, `no-store` when any is uncacheable, and
//! always `no-store` for mutations and responses with errors. On the demo storefront and on a
//! small HTTP schema with a PRIVATE field.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::cache_support::send;
use crate::helpers::{backends, spawn_app, Backend, Spawn, TestDb};
use crate::http_upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_answers_catalogue_queries_with_a_public_max_age_and_the_rest_with_no_store()
{
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let cases = [
            // `Product` is cached 60s (type), its scalars inherit.
            ("{ products(first: 5) { id name } }", "max-age=60, public"),
            // `categories` says 60s, `Category` 300s: the smallest wins.
            ("{ categories { name } }", "max-age=60, public"),
            // `customer` has no policy and returns an object: uncacheable.
            ("{ customer(id: 1) { name } }", "no-store"),
            (
                "{ products(first: 5) { id } customer(id: 1) { name } }",
                "no-store",
            ),
            // A root scalar without a policy is uncacheable too.
            ("{ categories { name } greet }", "no-store"),
            (
                "mutation { updateOrderStatus(id: 1, status: PAID) { id } }",
                "no-store",
            ),
        ];
        for (query, expected) in cases {
            let reply = send(&app, query, &[]).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.body);
            assert!(
                reply.body.get("errors").is_none(),
                "{query}: {}",
                reply.body
            );
            assert_eq!(reply.cache_control(), expected, "{query} ({backend:?})");
        }
        app.stop().await;
        db.drop_db().await;
    }
}

fn schema(api: &str) -> String {
    r#"schema @source(name: "api", http: "@API@", retries: 0) { query: Query }

type Query {
  me: Answer @http(source: "api", path: "/me") @cache(ttl: "5s", scope: PRIVATE)
  news: Answer @http(source: "api", path: "/news") @cache(ttl: "30s")
  broken: Answer @http(source: "api", path: "/broken") @cache(ttl: "30s")
}

type Answer {
  text: String
}
"#
    .replace("@API@", api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_field_makes_the_response_private_and_an_error_makes_it_no_store() {
    let upstream = Upstream::start(
        Router::new()
            .route("/me", get(|| async { Json(json!({"text": "mine"})) }))
            .route("/news", get(|| async { Json(json!({"text": "news"})) }))
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response() }),
            ),
    )
    .await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::with_schema(&db, &schema(&upstream.url("")))).await;
    let cases = [
        ("{ news { text } }", "max-age=30, public"),
        ("{ me { text } }", "max-age=5, private"),
        ("{ news { text } me { text } }", "max-age=5, private"),
    ];
    for (query, expected) in cases {
        let reply = send(&app, query, &[("authorization", "Bearer alice")]).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        assert!(
            reply.body.get("errors").is_none(),
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.cache_control(), expected, "{query}");
    }

    // A cacheable selection whose field fails: the response has errors, so `no-store`.
    let reply = send(&app, "{ news { text } broken { text } }", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("errors").is_some(), "{}", reply.body);
    assert_eq!(reply.body["data"]["news"], json!({"text": "news"}));
    assert_eq!(reply.cache_control(), "no-store");
    app.stop().await;
    db.drop_db().await;
}
