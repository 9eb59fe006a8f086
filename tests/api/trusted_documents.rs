//! Trusted documents over real HTTP: a manifest in Apollo's persisted-query manifest format,
//! each mode (`allow_listed`, `log_unknown`, `off`), and the start-up errors of a bad manifest.

use serde_json::{json, Value};
use tributary::config::TrustedDocumentsMode;

use crate::documents_support::{
    demo_app, get, persisted, post, sha256, temp_file, GRAPHQL_RESPONSE_JSON,
};
use crate::helpers::{try_spawn, Backend, Spawn, TestDb};

const CATEGORIES: &str = "query Categories { categories { name } }";
const PRODUCT: &str = "query Product($id: ID!) { product(id: $id) { name } }";
const UNKNOWN: &str = "{ categories { id } }";

/// A manifest with two operations: `Categories` under its sha256, `Product` under a custom id.
fn manifest() -> std::path::PathBuf {
    let text = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(CATEGORIES), "name": "Categories", "type": "query", "body": CATEGORIES},
            {"id": "product-v1", "name": "Product", "type": "query", "body": PRODUCT},
        ]
    });
    temp_file("manifest.json", &text.to_string())
}

async fn app_in(mode: TrustedDocumentsMode) -> (crate::helpers::TestApp, crate::helpers::TestDb) {
    let path = manifest();
    demo_app(move |s| {
        s.trusted_documents.mode = mode;
        s.trusted_documents.manifest = Some(path);
    })
    .await
}

#[tokio::test]
async fn in_allow_listed_mode_manifest_documents_run_by_hash_by_document_id_and_in_full() {
    let (app, db) = app_in(TrustedDocumentsMode::AllowListed).await;
    let hash = sha256(CATEGORIES);
    // By APQ hash, never sent in full before.
    post(
        &app,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    // By documentId: the manifest's custom id, and `sha256:<hash>`.
    let product = post(
        &app,
        json!({"documentId": "product-v1", "variables": {"id": "1"}}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    product.assert_ok();
    assert!(
        product.body["data"]["product"]["name"].is_string(),
        "{}",
        product.body
    );
    post(
        &app,
        json!({"documentId": format!("sha256:{hash}")}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    // Over GET, by documentId.
    get(
        &app,
        &[("documentId", "product-v1"), ("variables", r#"{"id":"2"}"#)],
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    // In full: matched by its sha256.
    post(&app, json!({"query": CATEGORIES}), GRAPHQL_RESPONSE_JSON)
        .await
        .assert_ok();
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn in_allow_listed_mode_any_other_document_is_refused_as_untrusted_with_400() {
    let (app, db) = app_in(TrustedDocumentsMode::AllowListed).await;
    let unknown_hash = sha256(UNKNOWN);
    for body in [
        json!({"query": UNKNOWN}),
        json!({"extensions": persisted(&unknown_hash)}),
        // Registering it as a persisted query does not make it trusted.
        json!({"query": UNKNOWN, "extensions": persisted(&unknown_hash)}),
        json!({"documentId": "no-such-id"}),
        // A trusted document's text with one more field is another document.
        json!({"query": "query Categories { categories { name id } }"}),
    ] {
        let reply = post(&app, body.clone(), GRAPHQL_RESPONSE_JSON).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply);
        assert_eq!(reply.code(), "UNTRUSTED_DOCUMENT", "{body}: {}", reply.body);
        assert!(reply.body.get("data").is_none());
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn in_log_unknown_mode_unknown_documents_run_and_persisted_queries_still_work() {
    let (app, db) = app_in(TrustedDocumentsMode::LogUnknown).await;
    post(&app, json!({"query": UNKNOWN}), GRAPHQL_RESPONSE_JSON)
        .await
        .assert_ok();
    post(
        &app,
        json!({"documentId": "product-v1", "variables": {"id": "1"}}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    let hash = sha256(UNKNOWN);
    let miss = post(
        &app,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
    post(
        &app,
        json!({"query": UNKNOWN, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn in_off_mode_which_is_the_default_every_document_runs_and_no_manifest_is_read() {
    let (app, db) = demo_app(|s| {
        assert_eq!(s.trusted_documents.mode, TrustedDocumentsMode::Off);
        s.trusted_documents.manifest = Some("/no/such/manifest.json".into());
    })
    .await;
    post(&app, json!({"query": UNKNOWN}), GRAPHQL_RESPONSE_JSON)
        .await
        .assert_ok();
    app.stop().await;
    db.drop_db().await;
}

/// The start-up error for `manifest_text` in allow-listed mode.
async fn start_up_error(manifest: Option<&str>) -> String {
    let db = TestDb::new(Backend::Sqlite).await;
    let path = manifest.map(|text| temp_file("manifest.json", text));
    let spawn = Spawn::demo(&db).settings(move |s| {
        s.trusted_documents.mode = TrustedDocumentsMode::AllowListed;
        s.trusted_documents.manifest = path;
    });
    let err = match try_spawn(spawn).await {
        Ok(app) => {
            app.stop().await;
            panic!("the app started with a bad manifest");
        }
        Err(e) => e,
    };
    db.drop_db().await;
    err
}

#[tokio::test]
async fn a_manifest_that_is_not_json_stops_start_up_naming_the_file_line_and_column() {
    let err = start_up_error(Some(
        "{\n  \"format\": \"apollo-persisted-query-manifest\",\n  \"version\": 1,\n  \"operations\": [,]\n}",
    ))
    .await;
    assert!(err.contains("manifest.json:4:"), "{err}");
    assert!(err.contains("not valid JSON"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[tokio::test]
async fn a_manifest_in_another_format_or_with_a_bad_operation_stops_start_up() {
    let err = start_up_error(Some(
        r#"{"format": "relay", "version": 1, "operations": []}"#,
    ))
    .await;
    assert!(err.contains("apollo-persisted-query-manifest"), "{err}");
    let bad_body: Value = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": "x", "name": "Broken", "type": "query", "body": "query Broken {"}]
    });
    let err = start_up_error(Some(&bad_body.to_string())).await;
    assert!(err.contains("operations[0] (Broken)"), "{err}");
    assert!(err.contains("not a GraphQL document"), "{err}");
}

#[tokio::test]
async fn a_missing_manifest_stops_start_up_with_what_to_do() {
    let err = start_up_error(None).await;
    assert!(err.contains("no manifest is set"), "{err}");
    assert!(err.contains("trusted_documents.manifest"), "{err}");
    let db = TestDb::new(Backend::Sqlite).await;
    let spawn = Spawn::demo(&db).settings(|s| {
        s.trusted_documents.mode = TrustedDocumentsMode::LogUnknown;
        s.trusted_documents.manifest = Some("/no/such/manifest.json".into());
    });
    let err = try_spawn(spawn).await.err().expect("start-up error");
    assert!(err.contains("/no/such/manifest.json"), "{err}");
    assert!(err.contains("cannot read"), "{err}");
    db.drop_db().await;
}

#[tokio::test]
async fn over_websocket_allow_listed_mode_runs_manifest_documents_by_id_and_refuses_others() {
    use crate::websocket::{acknowledged, next_message, send};
    let (app, db) = app_in(TrustedDocumentsMode::AllowListed).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "by-id", "type": "subscribe", "payload": {
            "documentId": "product-v1", "variables": {"id": "1"}
        }}),
    )
    .await;
    let next = next_message(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert!(
        next["payload"]["data"]["product"]["name"].is_string(),
        "{next}"
    );
    assert_eq!(next_message(&mut socket).await["type"], "complete");

    send(
        &mut socket,
        json!({"id": "hash", "type": "subscribe", "payload": {
            "extensions": persisted(&sha256(CATEGORIES))
        }}),
    )
    .await;
    assert_eq!(next_message(&mut socket).await["type"], "next");
    assert_eq!(next_message(&mut socket).await["type"], "complete");

    send(
        &mut socket,
        json!({"id": "other", "type": "subscribe", "payload": {"query": UNKNOWN}}),
    )
    .await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "other");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "UNTRUSTED_DOCUMENT"
    );
    drop(socket);
    app.stop().await;
    db.drop_db().await;
}
