//! GraphQL over HTTP: media types, status codes and request errors, per the GraphQL-over-HTTP
//! spec and the README's endpoint and error tables.

use serde_json::{json, Value};

use crate::helpers::{backends, codes, spawn_app, Spawn, TestApp, TestDb};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// A raw POST /graphql with the given headers and body; returns status, headers and body text.
async fn post_raw(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app.client.post(format!("{}/graphql", app.addr)).body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body text");
    (status, headers, text)
}

async fn get_raw(
    app: &TestApp,
    path_and_query: &[(&str, &str)],
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app
        .client
        .get(format!("{}/graphql", app.addr))
        .query(path_and_query);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body text");
    (status, headers, text)
}

fn content_type(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The media type without parameters (`application/json; charset=utf-8` → `application/json`).
fn essence(headers: &reqwest::header::HeaderMap) -> String {
    content_type(headers)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn json_body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

fn gql(query: &str) -> String {
    json!({ "query": query }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_accepting_graphql_response_json_is_answered_in_that_media_type() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(essence(&headers), GRAPHQL_RESPONSE_JSON, "{backend:?}");
        assert_eq!(
            json_body(&text),
            json!({"data": {"greet": "Welcome to the Tributary storefront"}})
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_accepting_only_application_json_is_answered_in_application_json() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", APPLICATION_JSON),
            ],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(essence(&headers), APPLICATION_JSON, "{backend:?}");
        assert_eq!(
            json_body(&text)["data"]["greet"],
            "Welcome to the Tributary storefront"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_accept_or_accepting_anything_is_answered_in_application_json() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = post_raw(
            &app,
            &[("content-type", APPLICATION_JSON)],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(
            essence(&headers),
            APPLICATION_JSON,
            "no Accept, {backend:?}"
        );
        let (status, headers, text) = post_raw(
            &app,
            &[("content-type", APPLICATION_JSON), ("accept", "*/*")],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(
            essence(&headers),
            APPLICATION_JSON,
            "Accept */*, {backend:?}"
        );
        // q-values pick the preferred type.
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                (
                    "accept",
                    "application/graphql-response+json;q=0.5, application/json;q=0.9",
                ),
            ],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(essence(&headers), APPLICATION_JSON, "q-values, {backend:?}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_parse_is_a_400_without_data_under_graphql_response_json() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            gql("{ greet "),
        )
        .await;
        assert_eq!(status, 400, "{backend:?}: {text}");
        assert_eq!(essence(&headers), GRAPHQL_RESPONSE_JSON);
        let body = json_body(&text);
        assert!(
            body.get("data").is_none(),
            "a request error has no data key: {body}"
        );
        assert_eq!(codes(&body), vec!["GRAPHQL_PARSE_FAILED"], "{body}");
        assert!(
            !body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_parse_is_a_200_without_data_under_application_json() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", APPLICATION_JSON),
            ],
            gql("{ greet "),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(essence(&headers), APPLICATION_JSON);
        let body = json_body(&text);
        assert!(
            body.get("data").is_none(),
            "a request error has no data key: {body}"
        );
        assert_eq!(codes(&body), vec!["GRAPHQL_PARSE_FAILED"], "{body}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_with_an_unknown_field_is_a_400_validation_failure() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = app.statements();
        let (status, headers, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            gql("{ products { id nope } }"),
        )
        .await;
        assert_eq!(status, 400, "{backend:?}: {text}");
        assert_eq!(essence(&headers), GRAPHQL_RESPONSE_JSON);
        let body = json_body(&text);
        assert!(
            body.get("data").is_none(),
            "a request error has no data key: {body}"
        );
        let errors = body["errors"].as_array().expect("errors");
        assert!(!errors.is_empty(), "{body}");
        assert!(
            codes(&body)
                .iter()
                .all(|c| c == "GRAPHQL_VALIDATION_FAILED"),
            "{body}"
        );
        assert_eq!(
            codes(&body).len(),
            errors.len(),
            "every error has a code: {body}"
        );
        assert!(
            errors[0]["message"].as_str().unwrap_or("").contains("nope"),
            "{body}"
        );
        assert_eq!(
            app.statements() - before,
            0,
            "an invalid document runs no statement"
        );

        // Under application/json the same request error is a 200.
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", APPLICATION_JSON),
            ],
            gql("{ products { id nope } }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        let body = json_body(&text);
        assert!(body.get("data").is_none(), "{body}");
        assert!(
            codes(&body)
                .iter()
                .all(|c| c == "GRAPHQL_VALIDATION_FAILED"),
            "{body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_a_json_content_type_is_415() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        // Simple content types (or none) carry a preflight header here: without one, CSRF
        // prevention refuses them first (tests/api/csrf.rs).
        for headers in [
            vec![
                ("content-type", "application/xml"),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            vec![
                ("content-type", "text/plain"),
                ("graphql-require-preflight", "1"),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            vec![
                ("content-type", "application/x-www-form-urlencoded"),
                ("apollo-require-preflight", "1"),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            vec![
                ("x-apollo-operation-name", "Greet"),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
        ] {
            let (status, _, text) = post_raw(&app, &headers, gql("{ greet }")).await;
            assert_eq!(status, 415, "{backend:?} {headers:?}: {text}");
            let body = json_body(&text);
            assert_eq!(codes(&body), vec!["UNSUPPORTED_MEDIA_TYPE"], "{body}");
            assert!(body.get("data").is_none(), "{body}");
        }
        // A charset parameter is fine.
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacceptable_accept_header_is_406() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, _, text) = post_raw(
            &app,
            &[("content-type", APPLICATION_JSON), ("accept", "text/csv")],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 406, "{backend:?}: {text}");
        assert_eq!(codes(&json_body(&text)), vec!["NOT_ACCEPTABLE"]);
        // q=0 refuses a type.
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", "application/json;q=0"),
            ],
            gql("{ greet }"),
        )
        .await;
        assert_eq!(status, 406, "{backend:?}: {text}");
        // GET too.
        let (status, _, text) = get_raw(&app, &[("query", "{ greet }")], Some("text/csv")).await;
        assert_eq!(status, 406, "{backend:?}: {text}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_get_is_executed() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, headers, text) = get_raw(
            &app,
            &[
                (
                    "query",
                    "query Two($n: Int) { products(first: $n) { sku } greet }",
                ),
                ("variables", r#"{"n": 2}"#),
                ("operationName", "Two"),
            ],
            Some(GRAPHQL_RESPONSE_JSON),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        assert_eq!(essence(&headers), GRAPHQL_RESPONSE_JSON);
        assert_eq!(
            json_body(&text),
            json!({"data": {
                "products": [{"sku": "CB-ETH-YRG-250"}, {"sku": "CB-KEN-NYR-250"}],
                "greet": "Welcome to the Tributary storefront"
            }})
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_over_get_is_405_with_allow_post_and_changes_nothing() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = app
            .query(r#"{ order(id: "1") { status } }"#, Value::Null)
            .await;
        let status_before = before["data"]["order"]["status"].clone();
        assert_ne!(
            status_before,
            json!("CANCELLED"),
            "pick a status the mutation changes"
        );
        let statements = app.statements();
        let (status, headers, text) = get_raw(
            &app,
            &[(
                "query",
                r#"mutation { updateOrderStatus(id: "1", status: CANCELLED) { id status } }"#,
            )],
            Some(GRAPHQL_RESPONSE_JSON),
        )
        .await;
        assert_eq!(status, 405, "{backend:?}: {text}");
        assert_eq!(
            headers.get("allow").and_then(|v| v.to_str().ok()),
            Some("POST"),
            "{headers:?}"
        );
        assert_eq!(codes(&json_body(&text)), vec!["METHOD_NOT_ALLOWED"]);
        assert_eq!(
            app.statements() - statements,
            0,
            "the mutation ran no statement"
        );
        let after = app
            .query(r#"{ order(id: "1") { status } }"#, Value::Null)
            .await;
        assert_eq!(
            after["data"]["order"]["status"], status_before,
            "the order is unchanged"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_json_body_is_a_400_bad_request() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        for body in [r#"{"query": "{ greet }""#, "not json", r#"{"query": 42}"#] {
            let (status, _, text) = post_raw(
                &app,
                &[
                    ("content-type", APPLICATION_JSON),
                    ("accept", GRAPHQL_RESPONSE_JSON),
                ],
                body,
            )
            .await;
            assert_eq!(status, 400, "{backend:?} {body}: {text}");
            let json = json_body(&text);
            assert_eq!(codes(&json), vec!["BAD_REQUEST"], "{json}");
            assert!(json.get("data").is_none(), "{json}");
        }
        // Valid JSON with no query is not a GraphQL request either.
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            "{}",
        )
        .await;
        assert_eq!(status, 400, "{backend:?}: {text}");
        assert_eq!(codes(&json_body(&text)), vec!["BAD_REQUEST"]);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_size_limit_is_413_limit_exceeded() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db).settings(|s| s.server.max_body_bytes = 1000)).await;
        // A valid query padded with a comment past 1000 bytes.
        let big = gql(&format!("{{ greet }}\n# {}", "x".repeat(1200)));
        assert!(big.len() > 1000);
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            big,
        )
        .await;
        assert_eq!(status, 413, "{backend:?}: {text}");
        let body = json_body(&text);
        assert_eq!(codes(&body), vec!["LIMIT_EXCEEDED"], "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["limit"], "max_body_bytes",
            "{body}"
        );
        // Under the limit, the same server answers.
        let small = gql(&format!("{{ greet }}\n# {}", "x".repeat(800)));
        assert!(small.len() < 1000);
        let (status, _, text) = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", GRAPHQL_RESPONSE_JSON),
            ],
            small,
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {text}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_200_when_the_database_is_up() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        for path in ["/healthz", "/readyz"] {
            let res = app
                .client
                .get(format!("{}{path}", app.addr))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 200, "{backend:?} {path}");
            let body: Value = res.json().await.expect("json");
            assert!(body["status"].is_string(), "{path}: {body}");
        }
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greet_returns_the_value_constant_without_a_statement() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = app.statements();
        let body = app.query("{ greet }", Value::Null).await;
        assert_eq!(
            body,
            json!({"data": {"greet": "Welcome to the Tributary storefront"}})
        );
        assert_eq!(app.statements() - before, 0);
        app.stop().await;
        db.drop_db().await;
    }
}
