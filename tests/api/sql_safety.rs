//! Safety: arguments reach SQL only as bound parameters; a failing statement nulls its own
//! field with a stable code and no database internals, and the rest of the response resolves.

use serde_json::{json, Value};

use crate::direct;
use crate::helpers::{backends, codes, spawn_app, Backend, Spawn, TestDb};

/// Text that would betray database internals (SQL, table names, drivers) in a client-facing
/// error.
const INTERNALS: [&str; 10] = [
    "select ",
    " from ",
    "where ",
    "sqlx",
    "sqlite",
    "postgres",
    "error returned from database",
    "gadgets",
    "products",
    "syntax",
];

/// What a database error in these tests would say about itself.
const DB_DETAILS: [&str; 6] = [
    "abs(",
    "cast(",
    "overflow",
    "out of range",
    "bigint",
    "integer",
];

/// Checks every error of `body` for internals; `echo` is the client's own value, which a
/// `BAD_USER_INPUT` message may quote back.
fn assert_no_internals(body: &Value, extra: &[&str], echo: Option<&str>) {
    for error in body["errors"].as_array().into_iter().flatten() {
        let mut message = error["message"].as_str().unwrap_or("").to_ascii_lowercase();
        if let Some(echo) = echo.filter(|e| !e.is_empty()) {
            message = message.replace(&echo.to_ascii_lowercase(), "");
        }
        assert!(!message.is_empty(), "an error has a message: {error}");
        let extensions = error["extensions"].to_string().to_ascii_lowercase();
        for word in INTERNALS.iter().chain(extra) {
            assert!(
                !message.contains(word),
                "the message leaks \"{word}\": {error}"
            );
            assert!(
                !extensions.contains(word),
                "the extensions leak \"{word}\": {error}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injection_attempt_in_a_string_argument_is_just_a_value() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        for sku in [
            "'; DROP TABLE products; --",
            "' OR '1'='1",
            "x' UNION SELECT * FROM customers --",
        ] {
            let body = app
                .query(
                    "query($sku: String!) { productBySku(sku: $sku) { id name } }",
                    json!({"sku": sku}),
                )
                .await;
            assert_eq!(
                body,
                json!({"data": {"productBySku": null}}),
                "{backend:?} {sku}"
            );
        }
        // The same through a literal in the document.
        let body = app
            .query(
                r#"{ productBySku(sku: "'; DROP TABLE products; --") { id } }"#,
                Value::Null,
            )
            .await;
        assert_eq!(body, json!({"data": {"productBySku": null}}), "{backend:?}");
        assert_eq!(
            direct::count(&db, "products").await,
            60,
            "{backend:?}: the table is intact"
        );
        assert_eq!(direct::count(&db, "customers").await, 10);
        let body = app
            .query(
                r#"{ productBySku(sku: "CB-ETH-YRG-250") { name } }"#,
                Value::Null,
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"productBySku": {"name": "Ethiopia Yirgacheffe, 250 g"}}})
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_that_is_not_an_integer_never_matches_a_row() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        for bad in ["1 OR 1=1", "1; DROP TABLE products", "abc", "1.5", ""] {
            let body = app
                .query(
                    "query($id: ID!) { product(id: $id) { id name } }",
                    json!({"id": bad}),
                )
                .await;
            assert_eq!(
                body["data"],
                json!({"product": null}),
                "{backend:?} {bad:?}: no row leaks: {body}"
            );
            match backend {
                // PostgreSQL describes the parameter as an integer: the value is refused.
                Backend::Postgres => {
                    assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{bad:?}: {body}");
                    assert_eq!(body["errors"][0]["path"], json!(["product"]), "{body}");
                }
                // SQLite may compare it as text (no match) or refuse it.
                Backend::Sqlite => {
                    assert!(
                        codes(&body).iter().all(|c| c == "BAD_USER_INPUT"),
                        "{bad:?}: {body}"
                    );
                }
            }
            assert_no_internals(&body, &[], Some(bad));
        }
        assert_eq!(direct::count(&db, "products").await, 60);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_string_binds_to_an_integer_column_and_comes_back_as_the_same_id() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let body = app
            .query(
                r#"{ product(id: "3") { id sku category { id } } }"#,
                Value::Null,
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"product": {"id": "3", "sku": "CB-COL-HUI-250", "category": {"id": "1"}}}}),
            "{backend:?}"
        );
        // An integer literal is a valid ID too, and gives the same answer.
        let body = app.query("{ product(id: 3) { id } }", Value::Null).await;
        assert_eq!(
            body,
            json!({"data": {"product": {"id": "3"}}}),
            "{backend:?}"
        );
        let body = app
            .query(
                "query($id: ID!) { product(id: $id) { id } }",
                json!({"id": 3}),
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"product": {"id": "3"}}}),
            "{backend:?}"
        );
        // The same id as in lists.
        let body = app
            .query("{ products(first: 3) { id } }", Value::Null)
            .await;
        assert_eq!(body["data"]["products"][2]["id"], json!("3"), "{backend:?}");
        app.stop().await;
        db.drop_db().await;
    }
}

/// One statement that prepares fine and fails when run, per backend: integer overflow in
/// `abs` of the smallest 64-bit integer (given as a parameter, so nothing is folded early).
const FAILING_SDL: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query }

type Query {
  hello: String! @value(of: "still here")
  gadgets: [Gadget!]! @sql(source: "main", query: "SELECT * FROM gadgets ORDER BY id")
  boom(n: String!): Int
    @sql(source: "main", query: "SELECT abs(CAST($1 AS BIGINT)) AS v FROM gadgets WHERE id = 1", params: ["{{args.n}}"])
  """Non-null, so a failure nulls the whole data."""
  strictBoom(n: String!): Int!
    @sql(source: "main", query: "SELECT abs(CAST($1 AS BIGINT)) AS v FROM gadgets WHERE id = 1", params: ["{{args.n}}"])
  gadget(id: ID!): Gadget @sql(source: "main", query: "SELECT * FROM gadgets WHERE id = $1", params: ["{{args.id}}"])
}

type Gadget {
  id: ID!
  name: String!
  weight: Int
  """Fails at run time for every gadget."""
  broken: Int
    @sql(source: "main", query: "SELECT id AS gadget_id, abs(CAST(-9223372036854775807 AS BIGINT) - weight) AS v FROM gadgets WHERE id IN ($keys)", key: "gadget_id", parentKey: "id")
  """The same, non-null."""
  strictBroken: Int!
    @sql(source: "main", query: "SELECT id AS gadget_id, abs(CAST(-9223372036854775807 AS BIGINT) - weight) AS v FROM gadgets WHERE id IN ($keys)", key: "gadget_id", parentKey: "id")
}
"#;

const MIN_I64: &str = "-9223372036854775808";

async fn failing_fixture(db: &TestDb) {
    db.exec(
        "CREATE TABLE gadgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, weight INTEGER);
         INSERT INTO gadgets (id, name, weight) VALUES (1, 'sprocket', 1), (2, 'widget', 2);",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_nulls_its_field_with_database_error_and_the_siblings_resolve() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        failing_fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, FAILING_SDL)).await;
        // The statement works for an ordinary value...
        let body = app.query(r#"{ boom(n: "-5") }"#, Value::Null).await;
        assert_eq!(body, json!({"data": {"boom": 5}}), "{backend:?}");
        // ...and fails at run time for this one.
        let (status, body) = app
            .post(
                "query($n: String!) { hello boom(n: $n) gadgets { id name } }",
                json!({"n": MIN_I64}),
            )
            .await;
        assert_eq!(
            status, 200,
            "an execution error keeps the request a success: {body}"
        );
        assert_eq!(
            body["data"],
            json!({"hello": "still here", "boom": null, "gadgets": [{"id": "1", "name": "sprocket"}, {"id": "2", "name": "widget"}]}),
            "{backend:?}: {body}"
        );
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["extensions"]["code"], "DATABASE_ERROR", "{body}");
        assert_eq!(errors[0]["path"], json!(["boom"]), "{body}");
        assert_no_internals(&body, &DB_DETAILS, None);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batched_statement_nulls_the_field_at_each_parents_path() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        failing_fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, FAILING_SDL)).await;
        let (status, body) = app
            .post("{ hello gadgets { id name broken } }", Value::Null)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"],
            json!({"hello": "still here", "gadgets": [
                {"id": "1", "name": "sprocket", "broken": null},
                {"id": "2", "name": "widget", "broken": null}
            ]}),
            "{backend:?}: {body}"
        );
        let mut paths: Vec<Value> = body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["path"].clone())
            .collect();
        paths.sort_by_key(|p| p.to_string());
        assert_eq!(
            paths,
            vec![
                json!(["gadgets", 0, "broken"]),
                json!(["gadgets", 1, "broken"])
            ],
            "{body}"
        );
        assert!(codes(&body).iter().all(|c| c == "DATABASE_ERROR"), "{body}");
        assert_eq!(codes(&body).len(), 2, "{body}");
        assert_no_internals(&body, &DB_DETAILS, None);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_violation_in_a_mutation_is_a_database_error_without_internals() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, body) = app
            .post(
                "mutation { placeOrder(input: {customerId: \"1\", lines: [{productId: \"1\", quantity: 0}]}) { id } }",
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"],
            json!({"placeOrder": null}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["placeOrder"]), "{body}");
        assert_no_internals(&body, &DB_DETAILS, None);
        let message = body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        for word in ["order_lines", "quantity", "check", "constraint", "insert"] {
            assert!(
                !message.contains(word),
                "the message leaks \"{word}\": {body}"
            );
        }
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_non_null_root_field_alone_gives_null_data_and_the_error_at_its_path() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        failing_fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, FAILING_SDL)).await;
        // GraphQL over HTTP: a response with a data entry is not a request error (200), even
        // when data is null.
        let (status, body) = app
            .post(
                "query($n: String!) { strictBoom(n: $n) }",
                json!({"n": MIN_I64}),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body.get("data"), Some(&Value::Null), "{backend:?}: {body}");
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["strictBoom"]), "{body}");
        assert_no_internals(&body, &DB_DETAILS, None);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_non_null_field_nulls_its_nearest_nullable_ancestor() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        failing_fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, FAILING_SDL)).await;
        // A non-null root field's error propagates to data itself.
        let (status, body) = app
            .post(
                "query($n: String!) { hello strictBoom(n: $n) }",
                json!({"n": MIN_I64}),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body.get("data"), Some(&Value::Null), "{backend:?}: {body}");
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["strictBoom"]), "{body}");
        // Under a nullable parent, the parent is null.
        let (status, body) = app
            .post(r#"{ gadget(id: "1") { id strictBroken } }"#, Value::Null)
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["data"], json!({"gadget": null}), "{backend:?}: {body}");
        assert_eq!(
            body["errors"][0]["path"],
            json!(["gadget", "strictBroken"]),
            "{body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}
