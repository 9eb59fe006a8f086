//! Live updates end to end: `@subscribe` fields over WebSocket, fed by `@publish` mutations
//! over HTTP (in-process, and across two instances through the CI Redis), and by PostgreSQL
//! `NOTIFY`. Events' nested fields resolve through connectors.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{backends, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::websocket::{acknowledged, connect, next_message, send, Socket, LEGACY};

/// Waits for the next `next`/`data` message of operation `id`, up to `wait`.
async fn event(socket: &mut Socket, id: &str, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, next_message(socket))
            .await
            .ok()?;
        if msg["id"] == id && (msg["type"] == "next" || msg["type"] == "data") {
            return Some(msg["payload"].clone());
        }
    }
}

/// Runs `trigger` until the subscriber sees an event (a subscription starts asynchronously,
/// so the first triggers may come before it is in place); returns the event.
async fn until_event<F, Fut>(socket: &mut Socket, id: &str, mut trigger: F) -> Value
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for attempt in 0..40 {
        trigger(attempt).await;
        if let Some(payload) = event(socket, id, Duration::from_millis(250)).await {
            return payload;
        }
    }
    panic!("no event reached the subscriber");
}

async fn add_review(app: &TestApp, product: &str, body: &str) {
    let res = app
        .query(
            "mutation($p: ID!, $b: String!) { addReview(input: {productId: $p, rating: 4, body: $b, author: \"T\"}) { id } }",
            json!({"p": product, "b": body}),
        )
        .await;
    assert!(res.get("errors").is_none(), "{res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_posted_over_http_reaches_its_products_subscribers_with_the_product_resolved_from_sql(
) {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let mut socket = acknowledged(&app).await;
        send(
            &mut socket,
            json!({"id": "r", "type": "subscribe", "payload": {"query":
                "subscription { reviewAdded(productId: \"7\") { body productId product { name } } }"}}),
        )
        .await;
        let payload = until_event(&mut socket, "r", |i| {
            let app = &app;
            async move {
                // A review of another product must not be delivered to this subscriber.
                add_review(app, "8", &format!("other {i}")).await;
                add_review(app, "7", &format!("mine {i}")).await;
            }
        })
        .await;
        let review = &payload["data"]["reviewAdded"];
        assert!(
            review["body"].as_str().unwrap_or("").starts_with("mine"),
            "{payload}"
        );
        assert_eq!(review["productId"], json!("7"), "{payload}");
        assert_eq!(
            review["product"]["name"],
            json!("House Espresso Blend, 500 g"),
            "{payload}"
        );
        drop(socket);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_delivers_events_too() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let mut socket = connect(&app, LEGACY).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({"id": "1", "type": "start", "payload": {"query":
            "subscription { orderStatusChanged(orderId: \"1\") { id status } }"}}),
    )
    .await;
    let statuses = ["PAID", "SHIPPED"];
    let payload = until_event(&mut socket, "1", |i| {
        let app = &app;
        async move {
            let res = app
                .query(
                    "mutation($s: OrderStatus!) { updateOrderStatus(id: \"1\", status: $s) { id } }",
                    json!({"s": statuses[i % 2]}),
                )
                .await;
            assert!(res.get("errors").is_none(), "{res}");
        }
    })
    .await;
    assert_eq!(
        payload["data"]["orderStatusChanged"]["id"],
        json!("1"),
        "{payload}"
    );
    assert!(statuses.contains(
        &payload["data"]["orderStatusChanged"]["status"]
            .as_str()
            .unwrap_or("")
    ));
    drop(socket);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_instance_receives_an_event_from_a_mutation_on_another_through_redis() {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let spawn = |db: &TestDb| {
        let mut s = Spawn::demo(db);
        s.env.insert("REDIS_URL".into(), redis.clone());
        let prefix = prefix.clone();
        s.settings(move |st| st.cache.prefix = prefix)
    };
    let a = spawn_app(spawn(&db)).await;
    let b = spawn_app(spawn(&db)).await;
    let mut socket = acknowledged(&a).await;
    send(
        &mut socket,
        json!({"id": "o", "type": "subscribe", "payload": {"query":
            "subscription { orderStatusChanged(orderId: \"2\") { id status customer { name } } }"}}),
    )
    .await;
    let statuses = ["PAID", "SHIPPED"];
    let payload = until_event(&mut socket, "o", |i| {
        let b = &b;
        async move {
            let res = b
                .query(
                    "mutation($s: OrderStatus!) { updateOrderStatus(id: \"2\", status: $s) { id } }",
                    json!({"s": statuses[i % 2]}),
                )
                .await;
            assert!(res.get("errors").is_none(), "{res}");
        }
    })
    .await;
    let order = &payload["data"]["orderStatusChanged"];
    assert_eq!(order["id"], json!("2"), "{payload}");
    assert!(
        order["customer"]["name"].is_string(),
        "nested field resolved on A: {payload}"
    );
    drop(socket);
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_on_postgresql_reaches_a_listen_subscriber() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    db.exec("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items VALUES (1, 'kettle');")
        .await;
    let sdl = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query, subscription: Subscription }
type Query { item(id: ID!): Item @sql(source: "main", query: "SELECT * FROM items WHERE id = $1", params: ["{{args.id}}"]) }
type Item { id: ID! name: String! }
type Change { id: ID! kind: String! item: Item @sql(source: "main", query: "SELECT * FROM items WHERE id IN ($keys)", key: "id", parentKey: "id") }
type Subscription { itemChanged(id: ID!): Change @subscribe(source: "main", topic: "item_changes", filter: {id: "{{args.id}}"}) }
"#;
    let app = spawn_app(Spawn::with_schema(&db, sdl)).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "n", "type": "subscribe", "payload": {"query":
            "subscription { itemChanged(id: \"1\") { id kind item { name } } }"}}),
    )
    .await;
    let payload = until_event(&mut socket, "n", |i| {
        let db = &db;
        async move {
            // Another item's change is filtered out.
            db.exec(&format!(
                "NOTIFY item_changes, '{{\"id\": 2, \"kind\": \"other{i}\"}}'"
            ))
            .await;
            db.exec(&format!(
                "NOTIFY item_changes, '{{\"id\": 1, \"kind\": \"renamed{i}\"}}'"
            ))
            .await;
        }
    })
    .await;
    let change = &payload["data"]["itemChanged"];
    assert!(
        change["kind"].as_str().unwrap_or("").starts_with("renamed"),
        "{payload}"
    );
    assert_eq!(change["item"]["name"], json!("kettle"), "{payload}");
    drop(socket);
    app.stop().await;
    db.drop_db().await;
}
