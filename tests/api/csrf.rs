//! CSRF prevention (`server.csrf_prevention`, on by default): every request a browser could
//! send cross-site without a preflight is refused before it runs; everything else is not.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Backend, Spawn, TestApp, TestDb};

const MUTATION: &str =
    r#"mutation { updateOrderStatus(id: "1", status: CANCELLED) { id status } }"#;

/// POSTs `body` with exactly these headers; returns the status and the JSON body.
async fn post_with(app: &TestApp, headers: &[(&str, &str)], body: String) -> (u16, Value) {
    let mut req = app.client.post(format!("{}/graphql", app.addr)).body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text}"));
    (status, body)
}

async fn order_status(app: &TestApp) -> Value {
    app.query(r#"{ order(id: "1") { status } }"#, Value::Null)
        .await["data"]["order"]["status"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_with_a_simple_content_type_or_none_are_refused_with_400_csrf_prevented_and_run_nothing(
) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let before = order_status(&app).await;
    assert_ne!(before, json!("CANCELLED"));
    let statements = app.statements();
    let body = json!({ "query": MUTATION }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=xyz"),
        None,
    ] {
        let mut headers = vec![("accept", "application/json")];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let (status, reply) = post_with(&app, &headers, body.clone()).await;
        assert_eq!(status, 400, "{content_type:?}: {reply}");
        assert_eq!(codes(&reply), vec!["CSRF_PREVENTED"], "{content_type:?}");
        assert!(reply.get("data").is_none(), "{reply}");
        let message = reply["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("graphql-require-preflight"),
            "the message names the fix: {message}"
        );
    }
    assert_eq!(app.statements() - statements, 0, "nothing ran");
    assert_eq!(order_status(&app).await, before, "the order is unchanged");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_over_get_is_refused_with_405_and_runs_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let before = order_status(&app).await;
    let statements = app.statements();
    let res = app
        .client
        .get(format!("{}/graphql", app.addr))
        .query(&[("query", MUTATION)])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 405);
    let reply: Value = res.json().await.expect("json");
    assert_eq!(codes(&reply), vec!["METHOD_NOT_ALLOWED"], "{reply}");
    assert_eq!(app.statements() - statements, 0, "nothing ran");
    assert_eq!(order_status(&app).await, before);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_content_type_with_any_preflight_header_passes_the_csrf_check_and_meets_the_media_type_check(
) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let body = json!({ "query": "{ greet }" }).to_string();
    for header in [
        "graphql-require-preflight",
        "apollo-require-preflight",
        "x-apollo-operation-name",
    ] {
        let (status, reply) = post_with(
            &app,
            &[("content-type", "text/plain"), (header, "1")],
            body.clone(),
        )
        .await;
        // Not a forgery: refused only because Tributary reads JSON bodies alone.
        assert_eq!(status, 415, "{header}: {reply}");
        assert_eq!(codes(&reply), vec!["UNSUPPORTED_MEDIA_TYPE"], "{header}");
    }
    // An empty header proves nothing.
    let (status, reply) = post_with(
        &app,
        &[
            ("content-type", "text/plain"),
            ("graphql-require-preflight", ""),
        ],
        body,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(codes(&reply), vec!["CSRF_PREVENTED"]);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_posts_and_get_queries_are_not_refused_without_any_preflight_header() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let (status, reply) = post_with(
        &app,
        &[("content-type", "application/json; charset=utf-8")],
        json!({ "query": MUTATION }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"]["updateOrderStatus"]["status"], "CANCELLED",
        "{reply}"
    );
    let res = app
        .client
        .get(format!("{}/graphql", app.addr))
        .query(&[("query", "{ greet }")])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let reply: Value = res.json().await.expect("json");
    assert_eq!(
        reply,
        json!({"data": {"greet": "Welcome to the Tributary storefront"}})
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_csrf_prevention_off_a_text_plain_post_is_only_an_unsupported_media_type() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db).settings(|s| s.server.csrf_prevention = false)).await;
    let (status, reply) = post_with(
        &app,
        &[("content-type", "text/plain")],
        json!({ "query": "{ greet }" }).to_string(),
    )
    .await;
    assert_eq!(status, 415, "{reply}");
    assert_eq!(codes(&reply), vec!["UNSUPPORTED_MEDIA_TYPE"]);
    app.stop().await;
    db.drop_db().await;
}
