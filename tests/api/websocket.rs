//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` to the letter of its
//! PROTOCOL.md (every close code in its own test), the legacy `graphql-ws`, and the
//! `[websocket]` limits. Real sockets: a tokio-tungstenite client against the spawned app.

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tributary::config::Settings;

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::Upstream;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The bound on every wait.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) const TRANSPORT: &str = "graphql-transport-ws";
pub(crate) const LEGACY: &str = "graphql-ws";

/// A WebSocket upgrade request for `/graphql` offering `protocol` (none when `None`).
fn upgrade_request(
    app: &TestApp,
    protocol: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!("{}/graphql", app.addr.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().expect("header value"));
    }
    request
}

async fn try_connect(
    app: &TestApp,
    protocol: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let request = upgrade_request(app, protocol);
    let (socket, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade answers in time")?;
    if let Some(p) = protocol {
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(p),
            "the server selects the offered subprotocol"
        );
    }
    Ok(socket)
}

pub(crate) async fn connect(app: &TestApp, protocol: &str) -> Socket {
    try_connect(app, Some(protocol))
        .await
        .expect("the upgrade succeeds")
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    send_text(socket, &message.to_string()).await;
}

async fn send_text(socket: &mut Socket, text: &str) {
    tokio::time::timeout(WAIT, socket.send(Message::text(text)))
        .await
        .expect("send in time")
        .expect("send");
}

/// What the server sent next, WebSocket-level pings and pongs skipped.
pub(crate) enum Received {
    Json(Value),
    Close(u16, String),
    Ended,
}

pub(crate) async fn receive(socket: &mut Socket) -> Received {
    loop {
        let next = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server answers in time");
        match next {
            Some(Ok(Message::Text(t))) => {
                return Received::Json(serde_json::from_str(t.as_str()).expect("JSON message"))
            }
            Some(Ok(Message::Close(Some(frame)))) => {
                return Received::Close(u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) => return Received::Close(1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Received::Ended,
        }
    }
}

/// The next JSON message, server pings (`ping`/`ka`) skipped.
pub(crate) async fn next_message(socket: &mut Socket) -> Value {
    loop {
        match receive(socket).await {
            Received::Json(v) if v["type"] == "ping" || v["type"] == "ka" => continue,
            Received::Json(v) => return v,
            Received::Close(code, reason) => {
                panic!("expected a message, the server closed with {code} {reason:?}")
            }
            Received::Ended => panic!("expected a message, the connection ended"),
        }
    }
}

/// The close frame's code and reason, messages before it skipped.
pub(crate) async fn close_frame(socket: &mut Socket) -> (u16, String) {
    loop {
        match receive(socket).await {
            Received::Json(_) => continue,
            Received::Close(code, reason) => return (code, reason),
            Received::Ended => panic!("the connection ended without a close frame"),
        }
    }
}

/// A graphql-transport-ws connection, initialised and acknowledged.
pub(crate) async fn acknowledged(app: &TestApp) -> Socket {
    let mut socket = connect(app, TRANSPORT).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(
        next_message(&mut socket).await,
        json!({"type": "connection_ack"})
    );
    socket
}

async fn demo_app(settings: impl FnOnce(&mut Settings) + Send + 'static) -> (TestApp, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db).settings(settings)).await;
    (app, db)
}

async fn finish(app: TestApp, db: TestDb) {
    app.stop().await;
    db.drop_db().await;
}

const HANGING_SCHEMA: &str = r#"schema @source(name: "api", http: "@API@", timeout: "20s", retries: 0) {
  query: Query
}

type Query {
  "Answers after a minute: an operation that stays open."
  hang: Msg @http(source: "api", path: "/hang")
  quick: Msg @http(source: "api", path: "/quick")
}

type Msg {
  message: String
}
"#;

/// An app whose `hang` query stays open (its upstream answers after a minute).
async fn hanging_app(
    settings: impl FnOnce(&mut Settings) + Send + 'static,
) -> (TestApp, TestDb, Upstream) {
    let upstream = Upstream::start(
        Router::new()
            .route(
                "/hang",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Json(json!({"message": "late"}))
                }),
            )
            .route("/quick", get(|| async { Json(json!({"message": "hi"})) })),
    )
    .await;
    let db = TestDb::new(Backend::Sqlite).await;
    let sdl = HANGING_SCHEMA.replace("@API@", &upstream.url(""));
    let app = spawn_app(Spawn::with_schema(&db, &sdl).settings(|s| {
        s.server.shutdown_timeout = "1s".into();
        settings(s)
    }))
    .await;
    (app, db, upstream)
}

#[tokio::test]
async fn a_connection_init_is_answered_with_connection_ack() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = connect(&app, TRANSPORT).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"token": "t"}}),
    )
    .await;
    assert_eq!(
        next_message(&mut socket).await,
        json!({"type": "connection_ack"})
    );
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn a_query_over_the_socket_answers_one_next_then_complete() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "q1", "type": "subscribe", "payload": {
            "query": "query Two($n: Int) { products(first: $n) { id name } }",
            "variables": {"n": 2},
            "operationName": "Two"
        }}),
    )
    .await;
    let next = next_message(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["id"], "q1", "{next}");
    let products = next["payload"]["data"]["products"]
        .as_array()
        .expect("products");
    assert_eq!(products.len(), 2, "{next}");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    assert_eq!(
        next_message(&mut socket).await,
        json!({"id": "q1", "type": "complete"})
    );
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn a_mutation_over_the_socket_writes_and_answers_next_then_complete() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "m1", "type": "subscribe", "payload": {
            "query": r#"mutation { updateOrderStatus(id: "1", status: CANCELLED) { id status } }"#
        }}),
    )
    .await;
    let next = next_message(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["updateOrderStatus"],
        json!({"id": "1", "status": "CANCELLED"}),
        "{next}"
    );
    assert_eq!(
        next_message(&mut socket).await,
        json!({"id": "m1", "type": "complete"})
    );
    let body = app
        .query(r#"{ order(id: "1") { status } }"#, json!({}))
        .await;
    assert_eq!(body["data"]["order"]["status"], "CANCELLED", "{body}");
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn a_parse_error_over_the_socket_is_an_error_message_coded_graphql_parse_failed() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "p", "type": "subscribe", "payload": {"query": "{ products { id "}}),
    )
    .await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "p", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
        "{error}"
    );
    send(
        &mut socket,
        json!({"id": "v", "type": "subscribe", "payload": {"query": "{ nope }"}}),
    )
    .await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{error}"
    );
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn a_client_that_never_sends_connection_init_is_closed_with_4408() {
    let (app, db) = demo_app(|s| s.websocket.init_timeout = "200ms".into()).await;
    let mut socket = connect(&app, TRANSPORT).await;
    assert_eq!(
        close_frame(&mut socket).await,
        (4408, "Connection initialisation timeout".to_string())
    );
    finish(app, db).await;
}

#[tokio::test]
async fn a_second_connection_init_closes_the_connection_with_4429() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(
        close_frame(&mut socket).await,
        (4429, "Too many initialisation requests".to_string())
    );
    finish(app, db).await;
}

#[tokio::test]
async fn a_subscribe_before_connection_ack_closes_the_connection_with_4401() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = connect(&app, TRANSPORT).await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "{ products { id } }"}}),
    )
    .await;
    assert_eq!(
        close_frame(&mut socket).await,
        (4401, "Unauthorized".to_string())
    );
    finish(app, db).await;
}

#[tokio::test]
async fn a_subscribe_reusing_the_id_of_a_running_operation_closes_the_connection_with_4409() {
    let (app, db, _upstream) = hanging_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    let subscribe =
        json!({"id": "dup", "type": "subscribe", "payload": {"query": "{ hang { message } }"}});
    send(&mut socket, subscribe.clone()).await;
    send(&mut socket, subscribe).await;
    assert_eq!(
        close_frame(&mut socket).await,
        (4409, "Subscriber for dup already exists".to_string())
    );
    finish(app, db).await;
}

#[tokio::test]
async fn the_close_reason_for_a_300_character_duplicate_id_stays_within_123_bytes() {
    let (app, db, _upstream) = hanging_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    let id = "x".repeat(300);
    let subscribe =
        json!({"id": id, "type": "subscribe", "payload": {"query": "{ hang { message } }"}});
    send(&mut socket, subscribe.clone()).await;
    send(&mut socket, subscribe).await;
    let (code, reason) = close_frame(&mut socket).await;
    assert_eq!(code, 4409, "{reason}");
    assert!(reason.len() <= 123, "{} bytes: {reason}", reason.len());
    assert!(reason.starts_with("Subscriber for xxx"), "{reason}");
    assert!(reason.ends_with(" already exists"), "{reason}");
    finish(app, db).await;
}

#[tokio::test]
async fn a_message_that_is_not_json_closes_the_connection_with_4400() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send_text(&mut socket, "{not json").await;
    let (code, reason) = close_frame(&mut socket).await;
    assert_eq!(code, 4400, "{reason}");
    assert!(!reason.is_empty() && reason.len() <= 123, "{reason}");
    finish(app, db).await;
}

#[tokio::test]
async fn a_message_of_an_unknown_type_closes_the_connection_with_4400() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(&mut socket, json!({"type": "teleport"})).await;
    let (code, reason) = close_frame(&mut socket).await;
    assert_eq!(code, 4400, "{reason}");
    assert!(reason.contains("teleport"), "{reason}");
    finish(app, db).await;
}

#[tokio::test]
async fn a_subscribe_without_a_query_closes_the_connection_with_4400() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {}}),
    )
    .await;
    let (code, reason) = close_frame(&mut socket).await;
    assert_eq!(code, 4400, "{reason}");
    finish(app, db).await;
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_echoing_its_payload() {
    let (app, db) = demo_app(|_| {}).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"type": "ping", "payload": {"seq": 7, "note": "hi"}}),
    )
    .await;
    assert_eq!(
        next_message(&mut socket).await,
        json!({"type": "pong", "payload": {"seq": 7, "note": "hi"}})
    );
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next_message(&mut socket).await, json!({"type": "pong"}));
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn the_server_sends_its_own_pings_on_the_configured_interval() {
    let (app, db) = demo_app(|s| s.websocket.ping_interval = "50ms".into()).await;
    let mut socket = acknowledged(&app).await;
    for _ in 0..2 {
        match receive(&mut socket).await {
            Received::Json(v) => assert_eq!(v, json!({"type": "ping"})),
            Received::Close(code, reason) => panic!("closed with {code} {reason}"),
            Received::Ended => panic!("the connection ended"),
        }
    }
    // The client's pong is accepted silently; the connection stays usable.
    send(&mut socket, json!({"type": "pong"})).await;
    send(&mut socket, json!({"type": "ping", "payload": {"k": 1}})).await;
    assert_eq!(
        next_message(&mut socket).await,
        json!({"type": "pong", "payload": {"k": 1}})
    );
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_acknowledges_keeps_alive_and_answers_a_query() {
    let (app, db) = demo_app(|s| s.websocket.ping_interval = "50ms".into()).await;
    let mut socket = connect(&app, LEGACY).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {}}),
    )
    .await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        match receive(&mut socket).await {
            Received::Json(v) => kinds.push(v["type"].as_str().unwrap_or("").to_string()),
            _ => panic!("the connection closed"),
        }
    }
    assert_eq!(kinds, ["connection_ack", "ka", "ka"]);
    send(
        &mut socket,
        json!({"id": "1", "type": "start", "payload": {"query": "{ products(first: 1) { id } }"}}),
    )
    .await;
    let data = next_message(&mut socket).await;
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(data["id"], "1", "{data}");
    assert_eq!(
        data["payload"]["data"]["products"],
        json!([{"id": "1"}]),
        "{data}"
    );
    assert_eq!(
        next_message(&mut socket).await,
        json!({"id": "1", "type": "complete"})
    );
    send(&mut socket, json!({"type": "connection_terminate"})).await;
    assert_eq!(close_frame(&mut socket).await.0, 1000);
    finish(app, db).await;
}

#[tokio::test]
async fn an_upgrade_without_a_graphql_subprotocol_is_refused_with_400() {
    let (app, db) = demo_app(|_| {}).await;
    for protocol in [None, Some("mqtt")] {
        match try_connect(&app, protocol).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400, "{protocol:?}")
            }
            Err(e) => panic!("{protocol:?}: unexpected error {e}"),
            Ok(_) => panic!("{protocol:?}: the upgrade was accepted"),
        }
    }
    finish(app, db).await;
}

#[tokio::test]
async fn the_connection_beyond_max_connections_is_refused_with_503() {
    let (app, db) = demo_app(|s| s.websocket.max_connections = 1).await;
    let first = acknowledged(&app).await;
    match try_connect(&app, Some(TRANSPORT)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or(b"{}"))
                .expect("JSON body");
            assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the second connection was accepted"),
    }
    // Once the first connection is gone its slot is free again.
    drop(first);
    let again = tokio::time::timeout(WAIT, async {
        loop {
            match try_connect(&app, Some(TRANSPORT)).await {
                Ok(socket) => return socket,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("a connection is accepted once the first one closed");
    drop(again);
    finish(app, db).await;
}

#[tokio::test]
async fn the_legacy_protocol_answers_a_message_that_is_not_json_with_connection_error_and_stays_open(
) {
    let (app, db) = demo_app(|s| s.websocket.ping_interval = "0s".into()).await;
    let mut socket = connect(&app, LEGACY).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(
        next_message(&mut socket).await,
        json!({"type": "connection_ack"})
    );
    send_text(&mut socket, "{not json").await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "connection_error", "{error}");
    send(
        &mut socket,
        json!({"id": "v", "type": "start", "payload": {"query": "{ nope }"}}),
    )
    .await;
    let data = next_message(&mut socket).await;
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(
        data["payload"]["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{data}"
    );
    assert_eq!(
        next_message(&mut socket).await,
        json!({"id": "v", "type": "complete"})
    );
    drop(socket);
    finish(app, db).await;
}

#[tokio::test]
async fn the_operation_beyond_max_subscriptions_gets_a_limit_exceeded_error_and_the_connection_stays_open(
) {
    let (app, db, _upstream) = hanging_app(|s| s.websocket.max_subscriptions = 1).await;
    let mut socket = acknowledged(&app).await;
    send(
        &mut socket,
        json!({"id": "a", "type": "subscribe", "payload": {"query": "{ hang { message } }"}}),
    )
    .await;
    send(
        &mut socket,
        json!({"id": "b", "type": "subscribe", "payload": {"query": "{ quick { message } }"}}),
    )
    .await;
    let error = next_message(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "b", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{error}"
    );
    // Completing the open operation frees its slot.
    send(&mut socket, json!({"id": "a", "type": "complete"})).await;
    send(
        &mut socket,
        json!({"id": "c", "type": "subscribe", "payload": {"query": "{ quick { message } }"}}),
    )
    .await;
    let next = next_message(&mut socket).await;
    assert_eq!(next["id"], "c", "{next}");
    assert_eq!(next["payload"]["data"]["quick"]["message"], "hi", "{next}");
    assert_eq!(
        next_message(&mut socket).await,
        json!({"id": "c", "type": "complete"})
    );
    drop(socket);
    finish(app, db).await;
}
