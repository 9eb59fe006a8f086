//! Request limits over real HTTP: each limit refuses a document just over it with
//! `LIMIT_EXCEEDED`, its setting's name and value (400 under graphql-response+json, 200 under
//! application/json), and allows one just under it; the defaults allow the demo's and the
//! benchmarks' queries and GraphiQL's introspection query.

use serde_json::{json, Value};
use tributary::config::Settings;
use tributary::engine::limits::Limits;

use crate::documents_support::{demo_app, post, Reply, APPLICATION_JSON, GRAPHQL_RESPONSE_JSON};
use crate::helpers::{repo_path, run_node};

fn assert_refused(reply: &Reply, limit: &str, max: u64) {
    assert_eq!(reply.status, 400, "{limit}: {:?}", reply);
    assert_eq!(reply.code(), "LIMIT_EXCEEDED", "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], limit);
    assert_eq!(reply.body["errors"][0]["extensions"]["max"], max);
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
}

async fn send(app: &crate::helpers::TestApp, query: &str) -> Reply {
    post(app, json!({ "query": query }), GRAPHQL_RESPONSE_JSON).await
}

/// `{ a1: __typename a2: __typename ... }` with `n` aliased root fields.
fn aliased_typenames(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn more_aliases_than_max_aliases_are_refused_and_exactly_max_aliases_run() {
    let (app, db) = demo_app(|s| s.graphql.max_aliases = 5).await;
    send(&app, &aliased_typenames(5)).await.assert_ok();
    assert_refused(
        &send(&app, &aliased_typenames(6)).await,
        "graphql.max_aliases",
        5,
    );
    // Aliases in a fragment count each time it is spread.
    let spread = "{ ...A ...B } fragment A on Query { x: __typename y: __typename z: __typename } fragment B on Query { ...A }";
    assert_refused(&send(&app, spread).await, "graphql.max_aliases", 5);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn more_root_fields_than_max_root_fields_are_refused_and_exactly_max_root_fields_run() {
    let (app, db) = demo_app(|s| s.graphql.max_root_fields = 3).await;
    send(
        &app,
        "{ categories { id } product(id: \"1\") { id } __typename }",
    )
    .await
    .assert_ok();
    assert_refused(
        &send(
            &app,
            "{ categories { id } product(id: \"1\") { id } __typename c2: categories { id } }",
        )
        .await,
        "graphql.max_root_fields",
        3,
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_query_deeper_than_max_depth_is_refused_and_one_at_max_depth_runs() {
    let (app, db) = demo_app(|s| s.graphql.max_depth = 4).await;
    // product(1) → category(2) → products(3) → name(4)
    send(
        &app,
        "{ product(id: \"1\") { category { products { name } } } }",
    )
    .await
    .assert_ok();
    assert_refused(
        &send(
            &app,
            "{ product(id: \"1\") { category { products { category { name } } } } }",
        )
        .await,
        "graphql.max_depth",
        4,
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_query_more_complex_than_max_complexity_is_refused_and_one_at_it_runs() {
    let (app, db) = demo_app(|s| s.graphql.max_complexity = 4).await;
    // categories(1 + id + name + slug) = 4
    send(&app, "{ categories { id name slug } }")
        .await
        .assert_ok();
    assert_refused(
        &send(&app, "{ categories { id name slug } __typename }").await,
        "graphql.max_complexity",
        4,
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_by_its_expanded_complexity_at_once() {
    let (app, db) = demo_app(|_| {}).await;
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..30 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
            n = i + 1
        ));
    }
    q.push_str("fragment F30 on Query { __typename }\n");
    let started = std::time::Instant::now();
    assert_refused(&send(&app, &q).await, "graphql.max_complexity", 1000);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn more_tokens_than_max_tokens_are_refused_before_parsing_and_exactly_max_tokens_run() {
    let (app, db) = demo_app(|s| s.graphql.max_tokens = 11).await;
    // `{ categories { id name slug } }` is 8 tokens; `x: __typename` adds 3.
    send(
        &app,
        "{ categories { id name slug } } # comments, commas and white space are free , , ,",
    )
    .await
    .assert_ok();
    send(&app, "{ categories { id name slug } x: __typename }")
        .await
        .assert_ok();
    let refused = send(&app, "{ categories { id name slug } x: __typename y }").await;
    assert_refused(&refused, "graphql.max_tokens", 11);
    // Refused before parsing: a document that would not even parse gets the limit error.
    let garbage = "{ ".repeat(100);
    assert_refused(&send(&app, &garbage).await, "graphql.max_tokens", 11);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_document_larger_than_max_document_bytes_is_refused_and_one_at_the_limit_runs() {
    let (app, db) = demo_app(|s| s.graphql.max_document_bytes = 100).await;
    let base = "{ __typename }";
    let at_limit = format!("{base}{}", " ".repeat(100 - base.len()));
    assert_eq!(at_limit.len(), 100);
    send(&app, &at_limit).await.assert_ok();
    let over = format!("{at_limit} ");
    assert_refused(&send(&app, &over).await, "graphql.max_document_bytes", 100);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_huge_document_is_refused_by_the_defaults_without_being_parsed() {
    let (app, db) = demo_app(|_| {}).await;
    let huge = format!("{{ {} }}", "__typename ".repeat(20_000));
    assert_refused(
        &send(&app, &huge).await,
        "graphql.max_document_bytes",
        128 * 1024,
    );
    let (app2, db2) = demo_app(|s| s.graphql.max_document_bytes = 0).await;
    assert_refused(&send(&app2, &huge).await, "graphql.max_tokens", 15_000);
    let deep = format!("{}{}", "{ a ".repeat(200), "}".repeat(200));
    assert_refused(&send(&app2, &deep).await, "graphql.max_nesting", 128);
    app.stop().await;
    app2.stop().await;
    db.drop_db().await;
    db2.drop_db().await;
}

#[tokio::test]
async fn a_limit_refusal_is_a_200_under_application_json_like_other_request_errors() {
    let (app, db) = demo_app(|s| s.graphql.max_aliases = 1).await;
    let reply = post(
        &app,
        json!({"query": aliased_typenames(2)}),
        APPLICATION_JSON,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply);
    assert_eq!(reply.code(), "LIMIT_EXCEEDED");
    assert_eq!(
        reply.body["errors"][0]["extensions"]["limit"],
        "graphql.max_aliases"
    );
    app.stop().await;
    db.drop_db().await;
}

/// The playground's example operations, one document per tab.
fn playground_examples() -> Vec<String> {
    let text = std::fs::read_to_string(repo_path("playground/src/examples.graphql"))
        .expect("playground/src/examples.graphql");
    let mut tabs: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("# tab:") {
            tabs.push(String::new());
        } else if let Some(tab) = tabs.last_mut() {
            tab.push_str(line);
            tab.push('\n');
        }
    }
    tabs
}

fn assert_within(limits: &Limits, what: &str, document: &str) {
    if let Err(e) = limits.check_source(document) {
        panic!("{what}: {e:?}");
    }
    let doc =
        async_graphql::parser::parse_query(document).unwrap_or_else(|e| panic!("{what}: {e}"));
    if let Err(e) = limits.check_document(&doc) {
        panic!("{what}: {e:?}");
    }
}

#[tokio::test]
async fn the_default_limits_allow_the_demo_and_benchmark_queries_and_graphiqls_introspection_query()
{
    let limits = Settings::default().limits();
    assert_eq!(limits, Limits::default());
    for (i, tab) in playground_examples().iter().enumerate() {
        assert_within(&limits, &format!("playground tab {i}"), tab);
    }
    for (name, q) in [
        ("Q1", "{posts{id,userId,title,user{id,name,email}}}"),
        ("Q2", "{posts{title}}"),
        ("Q3", "{greet}"),
        (
            "S1",
            "{products(first:20){id name priceCents category{name} reviews{rating} stock{available}}}",
        ),
    ] {
        assert_within(&limits, name, q);
    }
    // GraphiQL's introspection query with every option on, as graphql-js builds it.
    let (ok, introspection, stderr) = run_node(
        "--input-type=module",
        &["-e", "import { getIntrospectionQuery } from 'graphql'; process.stdout.write(getIntrospectionQuery({descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true}))"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(introspection.contains("__schema"), "{introspection}");
    assert_within(&limits, "introspection", &introspection);

    // And over HTTP: the demo's queries and the introspection query run under the defaults.
    let (app, db) = demo_app(|_| {}).await;
    for (tab, operation) in [(0, "Products"), (1, "Categories"), (1, "CustomerOrders")] {
        let reply = post(
            &app,
            json!({"query": playground_examples()[tab], "operationName": operation}),
            GRAPHQL_RESPONSE_JSON,
        )
        .await;
        reply.assert_ok();
    }
    let reply = post(
        &app,
        json!({ "query": introspection }),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    let codes: Vec<Value> = reply.body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["extensions"]["code"].clone()).collect())
        .unwrap_or_default();
    assert!(!codes.contains(&json!("LIMIT_EXCEEDED")), "{}", reply.body);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_same_limits_refuse_documents_sent_over_websocket() {
    use crate::websocket::{acknowledged, next_message, send};
    let (app, db) = demo_app(|s| s.graphql.max_aliases = 2).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "ok", "type": "subscribe", "payload": {"query": aliased_typenames(2)}}),
    )
    .await;
    assert_eq!(next_message(&mut socket).await["type"], "next");
    assert_eq!(next_message(&mut socket).await["type"], "complete");
    send(
        &mut socket,
        json!({"id": "over", "type": "subscribe", "payload": {"query": aliased_typenames(3)}}),
    )
    .await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "over");
    assert_eq!(error["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
    assert_eq!(
        error["payload"][0]["extensions"]["limit"],
        "graphql.max_aliases"
    );
    assert_eq!(error["payload"][0]["extensions"]["max"], 2);
    drop(socket);
    app.stop().await;
    db.drop_db().await;
}
