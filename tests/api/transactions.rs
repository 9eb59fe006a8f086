//! Mutations: `placeOrder` runs its steps in one transaction (all or nothing) and reads the
//! result inside it; `updateOrderStatus` is a single statement.

use serde_json::{json, Value};

use crate::direct;
use crate::helpers::{backends, codes, spawn_app, Spawn, TestApp, TestDb};

const PLACE_ORDER: &str = "mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    id status createdAt
    customer { id name }
    lines { quantity unitPriceCents product { id sku } }
  }
}";

async fn place(app: &TestApp, input: Value) -> Value {
    let (status, body) = app.post(PLACE_ORDER, json!({ "input": input })).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Orders and lines as the database has them.
async fn counts(db: &TestDb) -> (i64, i64) {
    (
        direct::count(db, "orders").await,
        direct::count(db, "order_lines").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_an_order_returns_it_with_its_lines_at_current_prices() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        assert_eq!(counts(&db).await, (25, 57));
        let body = place(
            &app,
            json!({"customerId": "1", "lines": [{"productId": "1", "quantity": 2}, {"productId": "3", "quantity": 1}]}),
        )
        .await;
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");
        let order = &body["data"]["placeOrder"];
        assert_eq!(order["status"], "PLACED", "{body}");
        assert_eq!(
            order["customer"],
            json!({"id": "1", "name": "Ada Lovelace"}),
            "{body}"
        );
        assert_eq!(
            order["lines"],
            json!([
                {"quantity": 2, "unitPriceCents": 1650, "product": {"id": "1", "sku": "CB-ETH-YRG-250"}},
                {"quantity": 1, "unitPriceCents": 1400, "product": {"id": "3", "sku": "CB-COL-HUI-250"}}
            ]),
            "{backend:?}: {body}"
        );
        let created = order["createdAt"].as_str().expect("createdAt");
        assert!(
            created.len() >= 20 && created.contains('T'),
            "an RFC 3339 time: {created}"
        );
        assert_eq!(counts(&db).await, (26, 59), "{backend:?}");

        // The order is there afterwards, for its customer too.
        let id = order["id"].as_str().expect("an ID string").to_string();
        let body = app
            .query("query($id: ID!) { order(id: $id) { status lines { quantity } } customer(id: 1) { orders { id } } }", json!({"id": id}))
            .await;
        assert_eq!(
            body["data"]["order"],
            json!({"status": "PLACED", "lines": [{"quantity": 2}, {"quantity": 1}]}),
            "{body}"
        );
        assert_eq!(
            body["data"]["customer"]["orders"][0]["id"],
            json!(id),
            "the newest order comes first: {body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_second_line_has_an_unknown_product_leaves_nothing_behind() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = counts(&db).await;
        let body = place(
            &app,
            json!({"customerId": "1", "lines": [{"productId": "1", "quantity": 1}, {"productId": "99999", "quantity": 1}]}),
        )
        .await;
        assert_eq!(
            body["data"],
            json!({"placeOrder": null}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["placeOrder"]), "{body}");
        assert_eq!(
            counts(&db).await,
            before,
            "{backend:?}: no order and no line written"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_second_line_has_quantity_zero_leaves_nothing_behind() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = counts(&db).await;
        let body = place(
            &app,
            json!({"customerId": "2", "lines": [{"productId": "2", "quantity": 3}, {"productId": "4", "quantity": 0}]}),
        )
        .await;
        assert_eq!(
            body["data"],
            json!({"placeOrder": null}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(
            counts(&db).await,
            before,
            "{backend:?}: no order and no line written"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_without_lines_or_for_an_unknown_customer_leaves_nothing_behind() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = counts(&db).await;
        let body = place(&app, json!({"customerId": "1", "lines": []})).await;
        assert_eq!(
            body["data"],
            json!({"placeOrder": null}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        let body = place(
            &app,
            json!({"customerId": "4242", "lines": [{"productId": "1", "quantity": 1}]}),
        )
        .await;
        assert_eq!(
            body["data"],
            json!({"placeOrder": null}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), vec!["DATABASE_ERROR"], "{body}");
        assert_eq!(counts(&db).await, before, "{backend:?}: nothing written");

        // The failed transactions left the pool usable: a good order still goes through.
        let body = place(
            &app,
            json!({"customerId": "1", "lines": [{"productId": "5", "quantity": 1}]}),
        )
        .await;
        assert_eq!(
            body["data"]["placeOrder"]["status"], "PLACED",
            "{backend:?}: {body}"
        );
        assert_eq!(counts(&db).await, (before.0 + 1, before.1 + 1));
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_each_get_their_own_lines() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = std::sync::Arc::new(spawn_app(Spawn::demo(&db)).await);
        let before = counts(&db).await;
        let mut tasks = Vec::new();
        for i in 1..=10i64 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let body = place(
                    &app,
                    json!({"customerId": "3", "lines": [{"productId": i.to_string(), "quantity": i}, {"productId": "60", "quantity": 1}]}),
                )
                .await;
                assert!(body.get("errors").is_none(), "order {i}: {body}");
                let lines = &body["data"]["placeOrder"]["lines"];
                assert_eq!(lines[0]["product"]["id"], json!(i.to_string()), "{body}");
                assert_eq!(lines[0]["quantity"], json!(i), "{body}");
                assert_eq!(lines[1]["product"]["id"], json!("60"), "{body}");
                assert_eq!(lines.as_array().expect("lines").len(), 2, "{body}");
            }));
        }
        for t in futures::future::join_all(tasks).await {
            t.expect("order task");
        }
        assert_eq!(
            counts(&db).await,
            (before.0 + 10, before.1 + 20),
            "{backend:?}"
        );
        let app = std::sync::Arc::into_inner(app).expect("all tasks done");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_an_order_status_returns_the_updated_order() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let (status, body) = app
            .post(
                "mutation { updateOrderStatus(id: \"24\", status: PAID) { id status customer { name } } }",
                Value::Null,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"data": {"updateOrderStatus": {"id": "24", "status": "PAID", "customer": {"name": "Frances Allen"}}}}),
            "{backend:?}"
        );
        let body = app.query("{ order(id: 24) { status } }", Value::Null).await;
        assert_eq!(
            body,
            json!({"data": {"order": {"status": "PAID"}}}),
            "{backend:?}: the change is stored"
        );

        // With a variable for the enum.
        let (_, body) = app
            .post(
                "mutation($s: OrderStatus!) { updateOrderStatus(id: 24, status: $s) { status } }",
                json!({"s": "SHIPPED"}),
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"updateOrderStatus": {"status": "SHIPPED"}}}),
            "{backend:?}"
        );

        // No such order: null, no error.
        let (_, body) = app
            .post(
                "mutation { updateOrderStatus(id: 9999, status: PAID) { id } }",
                Value::Null,
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"updateOrderStatus": null}}),
            "{backend:?}"
        );

        // Not a status: refused before any statement.
        let before = app.statements();
        let (status, body) = app
            .post(
                "mutation { updateOrderStatus(id: 24, status: LOST) { id } }",
                Value::Null,
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(codes(&body), vec!["GRAPHQL_VALIDATION_FAILED"], "{body}");
        assert_eq!(app.statements() - before, 0);
        app.stop().await;
        db.drop_db().await;
    }
}
