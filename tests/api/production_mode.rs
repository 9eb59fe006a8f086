//! Production mode turns introspection and "did you mean" suggestions off unless configured:
//! an introspection query is refused with `INTROSPECTION_DISABLED`, and a typo's validation
//! error names no field to try. Development mode has both.

use serde_json::json;

use crate::documents_support::{demo_app, post, GRAPHQL_RESPONSE_JSON};

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";
const TYPE_QUERY: &str =
    "query { ...T } fragment T on Query { __type(name: \"Product\") { name } }";
const TYPO: &str = "{ categories { nam } }";

async fn production_app(
    introspection: Option<bool>,
) -> (crate::helpers::TestApp, crate::helpers::TestDb) {
    demo_app(move |s| {
        s.server.production = true;
        s.graphql.introspection = introspection;
        // The demo database and services, which production mode does not set up itself.
        s.database.migrate = Some(true);
        s.demo.services = Some(true);
    })
    .await
}

#[tokio::test]
async fn in_production_an_introspection_query_is_refused_with_a_clear_error_and_code() {
    let (app, db) = production_app(None).await;
    for query in [INTROSPECTION, TYPE_QUERY] {
        let reply = post(&app, json!({ "query": query }), GRAPHQL_RESPONSE_JSON).await;
        assert_eq!(reply.status, 400, "{query}: {:?}", reply);
        assert_eq!(reply.code(), "INTROSPECTION_DISABLED", "{}", reply.body);
        let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("introspection is disabled"), "{message}");
        assert!(message.contains("graphql.introspection"), "{message}");
    }
    // `__typename` is not introspection: clients add it everywhere.
    post(
        &app,
        json!({"query": "{ __typename }"}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn in_production_a_field_typo_is_a_validation_error_without_did_you_mean() {
    let (app, db) = production_app(None).await;
    let reply = post(&app, json!({ "query": TYPO }), GRAPHQL_RESPONSE_JSON).await;
    assert_eq!(reply.status, 400, "{:?}", reply);
    assert_eq!(reply.code(), "GRAPHQL_VALIDATION_FAILED");
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("nam"), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn in_development_introspection_runs_and_a_field_typo_suggests_the_field() {
    let (app, db) = demo_app(|_| {}).await;
    let reply = post(
        &app,
        json!({ "query": INTROSPECTION }),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    reply.assert_ok();
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query");
    post(&app, json!({ "query": TYPE_QUERY }), GRAPHQL_RESPONSE_JSON)
        .await
        .assert_ok();
    let reply = post(&app, json!({ "query": TYPO }), GRAPHQL_RESPONSE_JSON).await;
    assert_eq!(reply.code(), "GRAPHQL_VALIDATION_FAILED");
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("Did you mean"), "{message}");
    assert!(message.contains("\"name\""), "{message}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn production_mode_serves_introspection_when_configured_explicitly() {
    let (app, db) = production_app(Some(true)).await;
    post(
        &app,
        json!({ "query": INTROSPECTION }),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    app.stop().await;
    db.drop_db().await;
}
