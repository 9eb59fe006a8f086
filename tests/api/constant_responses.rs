//! Constant responses (`server::constant`): a query that asks no source and reads nothing of
//! the request is executed once per body and media type, then answered from its kept
//! response; anything else is executed every time. Counted with the engine's executions.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};

/// POSTs `body` as it is; returns the status, content type, `Cache-Control` and body.
async fn post_raw(app: &TestApp, body: &str, accept: &str) -> (u16, String, String, Value) {
    let res = app.post_body(body.to_string(), accept).await;
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (content_type, cache_control) = (header("content-type"), header("cache-control"));
    let body = res.json().await.expect("JSON body");
    (status, content_type, cache_control, body)
}

/// How many operations `app` executes while `f` runs.
async fn executions<F: std::future::Future<Output = ()>>(app: &TestApp, f: F) -> u64 {
    let before = app.engine.operations_executed();
    f.await;
    app.engine.operations_executed() - before
}

#[tokio::test]
async fn a_constant_query_is_executed_once_then_answered_from_its_kept_response() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let body = r#"{"query":"{ greet __typename }"}"#;
    let first = post_raw(&app, body, "application/json").await;
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(
        first.3,
        json!({"data": {"greet": "Welcome to the Tributary storefront", "__typename": "Query"}})
    );
    let repeats = executions(&app, async {
        for _ in 0..3 {
            assert_eq!(post_raw(&app, body, "application/json").await, first);
        }
    })
    .await;
    assert_eq!(repeats, 0, "kept responses are not executed again");

    // The media type is part of the key: the other one is executed (once) and labelled right.
    let other = executions(&app, async {
        for _ in 0..2 {
            let (status, content_type, _, reply) =
                post_raw(&app, body, "application/graphql-response+json").await;
            assert_eq!(status, 200);
            assert!(
                content_type.starts_with("application/graphql-response+json"),
                "{content_type}"
            );
            assert_eq!(reply, first.3);
        }
    })
    .await;
    assert_eq!(other, 1);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_query_that_asks_a_source_is_executed_every_time() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let body = r#"{"query":"{ greet categories { name } }"}"#;
    let runs = executions(&app, async {
        for _ in 0..3 {
            let (status, _, _, reply) = post_raw(&app, body, "application/json").await;
            assert_eq!(status, 200, "{reply}");
            assert!(reply["data"]["categories"]
                .as_array()
                .is_some_and(|c| !c.is_empty()));
        }
    })
    .await;
    assert_eq!(runs, 3);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn variables_are_part_of_the_kept_response_key() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let query = "query($skip: Boolean!) { greet @skip(if: $skip) __typename }";
    for skip in [false, true, false, true] {
        let body = json!({"query": query, "variables": {"skip": skip}}).to_string();
        let (status, _, _, reply) = post_raw(&app, &body, "application/json").await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            reply["data"].get("greet").is_some(),
            !skip,
            "skip = {skip}: {reply}"
        );
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_response_with_errors_is_never_kept() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    // Valid syntax, invalid against the schema: a request error from execution.
    let body = r#"{"query":"{ greet(loud: true) }"}"#;
    let runs = executions(&app, async {
        for _ in 0..2 {
            let (_, _, cache_control, reply) = post_raw(&app, body, "application/json").await;
            assert!(reply["errors"].is_array(), "{reply}");
            assert_eq!(cache_control, "no-store");
        }
    })
    .await;
    assert_eq!(runs, 2);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn zero_constant_response_bytes_executes_every_request() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut spawn = Spawn::demo(&db);
    spawn.settings = Box::new(|s| s.server.constant_response_bytes = 0);
    let app = spawn_app(spawn).await;
    let body = r#"{"query":"{ greet }"}"#;
    let runs = executions(&app, async {
        for _ in 0..3 {
            let (status, _, _, reply) = post_raw(&app, body, "application/json").await;
            assert_eq!(status, 200, "{reply}");
        }
    })
    .await;
    assert_eq!(runs, 3);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn fragments_are_looked_into_a_source_behind_one_makes_the_query_run_every_time() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let cases = [
        // Only @value behind a named and an inline fragment: constant, run once.
        (
            r#"{"query":"query { ...G ... on Query { __typename } } fragment G on Query { greet }"}"#,
            1,
        ),
        // A SQL field behind an inline fragment: run every time.
        (
            r#"{"query":"{ greet ... on Query { categories { name } } }"}"#,
            3,
        ),
        // ... and behind a named fragment.
        (
            r#"{"query":"query { greet ...C } fragment C on Query { categories { name } }"}"#,
            3,
        ),
    ];
    for (body, expected) in cases {
        let runs = executions(&app, async {
            for _ in 0..3 {
                let (status, _, _, reply) = post_raw(&app, body, "application/json").await;
                assert_eq!(status, 200, "{reply}");
                assert!(reply.get("errors").is_none(), "{body}: {reply}");
                assert!(
                    reply["data"]["greet"].is_string() || reply["data"]["__typename"].is_string()
                );
            }
        })
        .await;
        assert_eq!(runs, expected, "{body}");
    }
    app.stop().await;
    db.drop_db().await;
}
