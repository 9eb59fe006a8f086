//! Live updates end to end: `@subscribe` fields over WebSocket, fed by `@publish` mutations
//! over HTTP (in-process, and across two instances through the CI Redis), and by PostgreSQL
//! `NOTIFY`. Events' nested fields resolve through connectors.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{backends, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::websocket::{acknowledged, connect, next_message, send, Socket, LEGACY};

/// Waits for the next `next`/`data` message of operation `id`, up to `wait`.
pub(crate) async fn event(socket: &mut Socket, id: &str, wait: Duration) -> Option<Value> {
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

pub(crate) async fn add_review(app: &TestApp, product: &str, body: &str) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_oldest_events_with_a_notice_while_a_fast_client_gets_every_event_in_order(
) {
    let db = TestDb::new(Backend::Sqlite).await;
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
        .await;
    let sdl = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query, mutation: Mutation, subscription: Subscription }
type Query { count: Int @sql(source: "main", query: "SELECT COUNT(*) AS n FROM notes") }
type Note { id: ID! body: String! }
type Mutation {
  addNote(body: String!): Note
    @sql(source: "main", query: "INSERT INTO notes (body) VALUES ($1) RETURNING *", params: ["{{args.body}}"])
    @publish(topic: "notes")
}
type Subscription { noteAdded: Note @subscribe(topic: "notes") }
"#;
    // A send queue of 4 messages per connection; events of 48 KiB (29 MB in all), so a client that does not
    // read fills its socket's kernel buffers and then its queue.
    let app =
        spawn_app(Spawn::with_schema(&db, sdl).settings(|s| s.websocket.send_buffer = 4)).await;
    let subscribe = json!({"id": "s", "type": "subscribe", "payload": {"query": "subscription { noteAdded { id body } }"}});
    let mut slow = acknowledged(&app).await;
    send(&mut slow, subscribe.clone()).await;
    let mut fast = acknowledged(&app).await;
    send(&mut fast, subscribe).await;
    // Wait until both subscriptions are in place: a first note reaches both.
    let first = until_event(&mut fast, "s", |_| {
        let app = &app;
        async move {
            let res = app
                .query("mutation { addNote(body: \"warm-up\") { id } }", json!({}))
                .await;
            assert!(res.get("errors").is_none(), "{res}");
        }
    })
    .await;
    let first_id: i64 = first["data"]["noteAdded"]["id"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);

    const EVENTS: usize = 600;
    let body = "x".repeat(48 * 1024);
    let reader = tokio::spawn(async move {
        // The fast client reads every event as it comes.
        let mut ids = Vec::new();
        while ids.len() < EVENTS {
            match event(&mut fast, "s", Duration::from_secs(20)).await {
                Some(p) => {
                    if let Some(id) = p["data"]["noteAdded"]["id"].as_str() {
                        ids.push(id.parse::<i64>().unwrap_or(0));
                    }
                }
                None => break,
            }
        }
        ids
    });
    for _ in 0..EVENTS {
        let res = app
            .query(
                "mutation($b: String!) { addNote(body: $b) { id } }",
                json!({"b": body}),
            )
            .await;
        assert!(res.get("errors").is_none(), "{res}");
    }
    let ids = reader.await.expect("reader");
    let expected: Vec<i64> = (first_id + 1..=first_id + EVENTS as i64).collect();
    assert_eq!(ids, expected, "the fast client gets every event, in order");

    // The slow client now reads what is left for it: fewer events, and a notice saying how
    // many were dropped.
    let mut received = 0usize;
    let mut dropped = 0u64;
    while let Some(p) = event(&mut slow, "s", Duration::from_millis(1500)).await {
        if let Some(errors) = p["errors"].as_array() {
            for e in errors {
                if e["extensions"]["code"] == "EVENTS_DROPPED" {
                    dropped += e["extensions"]["dropped"].as_u64().unwrap_or(0);
                }
            }
        } else {
            received += 1;
        }
    }
    assert!(
        dropped > 0,
        "the slow client is told events were dropped (got {received} events)"
    );
    assert!(
        received < EVENTS + 1,
        "the slow client did not get every event ({received})"
    );
    drop(slow);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_the_redis_behind_the_pub_sub_restarts() {
    // A Redis of the test's own, never the shared one.
    let mut redis = crate::cache_support::OwnRedis::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut spawn = Spawn::demo(&db);
    spawn.env.insert("REDIS_URL".into(), redis.url());
    let app = spawn_app(spawn).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "o", "type": "subscribe", "payload": {"query":
            "subscription { orderStatusChanged(orderId: \"3\") { id status } }"}}),
    )
    .await;
    let statuses = ["PAID", "SHIPPED"];
    let trigger = |i: usize| {
        let app = &app;
        async move {
            // While Redis is down the mutation still succeeds; only its event is lost.
            let res = app
                .query(
                    "mutation($s: OrderStatus!) { updateOrderStatus(id: \"3\", status: $s) { id } }",
                    json!({"s": statuses[i % 2]}),
                )
                .await;
            assert!(res.get("errors").is_none(), "{res}");
        }
    };
    let before = until_event(&mut socket, "o", trigger).await;
    assert_eq!(
        before["data"]["orderStatusChanged"]["id"],
        json!("3"),
        "{before}"
    );

    redis.stop();
    trigger(0).await;
    redis.restart().await;
    let after = until_event(&mut socket, "o", trigger).await;
    assert_eq!(
        after["data"]["orderStatusChanged"]["id"],
        json!("3"),
        "{after}"
    );
    drop(socket);
    app.stop().await;
    db.drop_db().await;
}
