//! Batched requests (a JSON array in one POST): one result per entry in order, mixed
//! outcomes, mutations in order, the `graphql.max_batch_size` cap, the empty batch and the
//! `graphql.batching` switch.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Backend, Spawn, TestApp, TestDb};

const GREETING: &str = "Welcome to the Tributary storefront";

/// POSTs `body` as JSON, accepting `accept`; returns the status and JSON body.
async fn post_json(app: &TestApp, body: &Value, accept: &str) -> (u16, Value) {
    let res = app.post_body(body.to_string(), accept).await;
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_queries_answers_an_array_with_each_result_in_order() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let batch = json!([
        {"query": "{ greet }"},
        {"query": "query P($n: Int) { products(first: $n) { sku } }", "variables": {"n": 2}},
        {"query": "query A { greet } query B { products(first: 1) { sku } }", "operationName": "B"},
    ]);
    let (status, body) = post_json(&app, &batch, "application/graphql-response+json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"data": {"greet": GREETING}},
            {"data": {"products": [{"sku": "CB-ETH-YRG-250"}, {"sku": "CB-KEN-NYR-250"}]}},
            {"data": {"products": [{"sku": "CB-ETH-YRG-250"}]}},
        ])
    );
    // Each result equals the entry's own response.
    for (i, entry) in batch.as_array().into_iter().flatten().enumerate() {
        let (status, single) = post_json(&app, entry, "application/graphql-response+json").await;
        assert_eq!(status, 200);
        assert_eq!(single, body[i], "entry {i}");
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_get_their_own_errors_while_the_others_succeed_and_the_batch_is_200() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let batch = json!([
        {"query": "{ greet }"},
        {"query": "{ greet "},
        {"query": "{ noSuchField }"},
        {"query": "query ($id: ID!) { product(id: $id) { sku } }", "variables": {"id": ["x"]}},
        42,
        {"notAQuery": "{ greet }"},
        {"query": "{ greet }", "extensions": "not an object"},
        {"query": "{ greet }"},
    ]);
    // Under graphql-response+json a lone request error would be a 400; in a batch the
    // status is 200 and each entry carries its own error.
    let (status, body) = post_json(&app, &batch, "application/graphql-response+json").await;
    assert_eq!(status, 200, "{body}");
    let results = body.as_array().expect("an array");
    assert_eq!(results.len(), 8, "{body}");
    assert_eq!(results[0], json!({"data": {"greet": GREETING}}));
    assert_eq!(codes(&results[1]), vec!["GRAPHQL_PARSE_FAILED"], "{body}");
    assert_eq!(
        codes(&results[2]),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{body}"
    );
    assert!(!codes(&results[3]).is_empty(), "{body}");
    assert!(results[3].get("data").is_none_or(Value::is_null), "{body}");
    for i in [4, 5, 6] {
        assert_eq!(codes(&results[i]), vec!["BAD_REQUEST"], "entry {i}: {body}");
    }
    for i in [1, 2, 4, 5, 6] {
        assert!(results[i].get("data").is_none(), "entry {i}: {body}");
    }
    assert_eq!(results[7], json!({"data": {"greet": GREETING}}));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_in_a_batch_run_in_order_and_later_entries_see_their_writes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let set = |status: &str| {
        json!({"query": format!(
            r#"mutation {{ updateOrderStatus(id: "1", status: {status}) {{ status }} }}"#
        )})
    };
    let read = json!({"query": r#"{ order(id: "1") { status } }"#});
    let batch = json!([
        set("PAID"),
        read,
        set("SHIPPED"),
        read,
        set("DELIVERED"),
        read,
        read
    ]);
    let (status, body) = post_json(&app, &batch, "application/json").await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<Value> = body
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            let data = &r["data"];
            if data["updateOrderStatus"].is_null() {
                data["order"]["status"].clone()
            } else {
                data["updateOrderStatus"]["status"].clone()
            }
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            json!("PAID"),
            json!("PAID"),
            json!("SHIPPED"),
            json!("SHIPPED"),
            json!("DELIVERED"),
            json!("DELIVERED"),
            json!("DELIVERED"),
        ],
        "{body}"
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_max_batch_size_is_refused_whole_with_413_limit_exceeded_and_runs_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db).settings(|s| s.graphql.max_batch_size = 3)).await;
    let entry = json!({"query": "{ products(first: 1) { sku } }"});
    // At the cap: runs.
    let (status, body) = post_json(&app, &json!([entry, entry, entry]), "application/json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    // One over: refused before anything runs.
    let statements = app.statements();
    let (status, body) = post_json(
        &app,
        &json!([entry, entry, entry, entry]),
        "application/json",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(codes(&body), vec!["LIMIT_EXCEEDED"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["limit"],
        "graphql.max_batch_size"
    );
    assert_eq!(body["errors"][0]["extensions"]["max"], 3);
    assert_eq!(app.statements() - statements, 0, "nothing ran");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_cap_is_ten_requests() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let entry = json!({"query": "{ greet }"});
    let (status, body) = post_json(&app, &json!(vec![entry.clone(); 10]), "application/json").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_json(&app, &json!(vec![entry; 11]), "application/json").await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 10);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_batch_is_a_400_bad_request() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    for accept in ["application/json", "application/graphql-response+json"] {
        let (status, body) = post_json(&app, &json!([]), accept).await;
        assert_eq!(status, 400, "{accept}: {body}");
        assert_eq!(codes(&body), vec!["BAD_REQUEST"], "{body}");
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_batching_off_a_batch_is_a_400_bad_request_and_single_requests_still_run() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db).settings(|s| s.graphql.batching = false)).await;
    let (status, body) =
        post_json(&app, &json!([{"query": "{ greet }"}]), "application/json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(codes(&body), vec!["BAD_REQUEST"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("graphql.batching"), "{message}");
    let (status, body) = post_json(&app, &json!({"query": "{ greet }"}), "application/json").await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
    db.drop_db().await;
}
