//! `graphql-ws`, the legacy subscriptions-transport-ws protocol, as its reference server
//! behaves:
//!
//! | client | server |
//! |---|---|
//! | `connection_init` | `connection_ack`, then `ka` at once and every `websocket.ping_interval` |
//! | `start` (id, payload) | `data`… then `complete`; a request error is a `data` with `errors` then `complete` |
//! | `start` before `connection_init` | `error` for the id (`BAD_REQUEST`) |
//! | `start` with a running id | the running operation is stopped and replaced |
//! | `stop` | the operation stops, nothing is sent |
//! | `connection_terminate` | close 1000 |
//! | not JSON | `connection_error` (the connection stays open) |
//! | unknown type / bad `start` payload | `error` (the connection stays open) |
//!
//! Tributary adds the init timeout (close 4408) and the limits of `[websocket]`.

use axum::extract::ws::WebSocket;
use futures::stream::SplitStream;
use serde_json::{json, Value};

use super::{frame_text, Conn, Ended, OperationPayload, Reader};
use crate::server::graphql_http::codes;

/// The server's keep-alive message.
const KEEP_ALIVE: &str = r#"{"type":"ka"}"#;

/// The connection's read loop.
pub(crate) async fn run(conn: &mut Conn, stream: &mut SplitStream<WebSocket>) -> Ended {
    let mut reader = Reader::new(conn, stream, KEEP_ALIVE);
    loop {
        let message = match reader.next(conn).await {
            Ok(m) => m,
            Err(ended) => return ended,
        };
        let value = match frame_text(&message) {
            None => continue,
            Some(text) => text
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .filter(Value::is_object),
        };
        let Some(value) = value else {
            let error = json!({"type": "connection_error", "payload": {"message": "Message must be a JSON object"}});
            conn.outbox.push_control(None, error.to_string());
            continue;
        };
        let id = value.get("id").and_then(Value::as_str).map(String::from);
        match value.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                conn.init_payload = value.get("payload").filter(|p| p.is_object()).cloned();
                conn.outbox
                    .push_control(None, r#"{"type":"connection_ack"}"#.into());
                if !reader.is_initialised() {
                    if conn.settings.ping_interval.is_some() {
                        conn.outbox.push_control(None, KEEP_ALIVE.into());
                    }
                    reader.initialised();
                }
            }
            Some("start") => {
                let Some(id) = id else {
                    let error =
                        json!({"type": "error", "payload": {"message": "start needs an id"}});
                    conn.outbox.push_control(None, error.to_string());
                    continue;
                };
                if !reader.is_initialised() {
                    conn.refuse(&id, "send connection_init first", codes::BAD_REQUEST);
                    continue;
                }
                match OperationPayload::from_json(value.get("payload")) {
                    Ok(payload) => {
                        conn.stop(&id);
                        if let Some((payload, document)) = conn.prepare(&id, payload).await {
                            conn.start(id, payload, document);
                        }
                    }
                    Err(e) => conn.refuse(&id, e, codes::BAD_REQUEST),
                }
            }
            Some("stop") => {
                if let Some(id) = id {
                    conn.stop(&id);
                }
            }
            Some("connection_terminate") => {
                conn.outbox.close(1000, "");
                return Ended::ServerClosed;
            }
            _ => {
                let error = json!({"id": id, "type": "error", "payload": {"message": "Invalid message type!"}});
                conn.outbox.push_control(id.as_deref(), error.to_string());
            }
        }
    }
}
