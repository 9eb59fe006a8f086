//! `graphql-transport-ws`, per the graphql-ws PROTOCOL.md:
//!
//! | event | server answer |
//! |---|---|
//! | no `connection_init` within `websocket.init_timeout` | close 4408 `Connection initialisation timeout` |
//! | a second `connection_init` | close 4429 `Too many initialisation requests` |
//! | `subscribe` before `connection_ack` | close 4401 `Unauthorized` |
//! | `subscribe` with the id of a running operation | close 4409 `Subscriber for <id> already exists` (id truncated to fit 123 bytes) |
//! | invalid message (bad JSON, unknown or server-only type, missing/ill-typed fields) | close 4400 with a short reason |
//! | `ping` | `pong` echoing the payload |
//! | `complete` | the operation stops, nothing is sent |
//!
//! Every `websocket.ping_interval` after the ack the server sends `ping`. A query or mutation
//! answers one `next` then `complete`; a request error (parse, validation) answers one `error`.

use axum::extract::ws::WebSocket;
use futures::stream::SplitStream;
use serde_json::{json, Value};

use super::{frame_text, truncate, Conn, Ended, OperationPayload, Reader};

/// A client message.
enum ClientMessage {
    Init(Option<Value>),
    Ping(Option<Value>),
    Pong,
    Subscribe(String, OperationPayload),
    Complete(String),
}

/// Reads one message; the error is the 4400 close reason.
fn parse(text: &str) -> Result<ClientMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| "Invalid message received: not JSON".to_string())?;
    let Value::Object(obj) = value else {
        return Err("Invalid message received: not an object".into());
    };
    let Some(Value::String(ty)) = obj.get("type") else {
        return Err("Invalid message received: missing type".into());
    };
    let payload = |optional_object: bool| -> Result<Option<Value>, String> {
        match obj.get("payload") {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Object(_)) if optional_object => Ok(Some(v.clone())),
            Some(_) => Err(format!(
                "Invalid message received: {} payload must be an object",
                truncate(ty, 40)
            )),
        }
    };
    let id = || -> Result<String, String> {
        match obj.get("id") {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            _ => Err(format!(
                "Invalid message received: {} needs an id",
                truncate(ty, 40)
            )),
        }
    };
    match ty.as_str() {
        "connection_init" => Ok(ClientMessage::Init(payload(true)?)),
        "ping" => Ok(ClientMessage::Ping(payload(true)?)),
        "pong" => {
            payload(true)?;
            Ok(ClientMessage::Pong)
        }
        "subscribe" => {
            let id = id()?;
            let payload = OperationPayload::from_json(obj.get("payload"))
                .map_err(|e| format!("Invalid message received: subscribe {e}"))?;
            Ok(ClientMessage::Subscribe(id, payload))
        }
        "complete" => Ok(ClientMessage::Complete(id()?)),
        other => Err(format!(
            "Invalid message received: unexpected type {}",
            json!(truncate(other, 60))
        )),
    }
}

/// The connection's read loop.
pub(crate) async fn run(conn: &mut Conn, stream: &mut SplitStream<WebSocket>) -> Ended {
    let mut reader = Reader::new(conn, stream, r#"{"type":"ping"}"#);
    loop {
        let message = match reader.next(conn).await {
            Ok(m) => m,
            Err(ended) => return ended,
        };
        let text = match frame_text(&message) {
            None => continue,
            Some(Ok(t)) => t,
            Some(Err(())) => {
                conn.outbox
                    .close(4400, "Invalid message received: not UTF-8");
                return Ended::ServerClosed;
            }
        };
        let parsed = match parse(text) {
            Ok(m) => m,
            Err(reason) => {
                conn.outbox.close(4400, &reason);
                return Ended::ServerClosed;
            }
        };
        match parsed {
            ClientMessage::Init(payload) => {
                if reader.is_initialised() {
                    conn.outbox.close(4429, "Too many initialisation requests");
                    return Ended::ServerClosed;
                }
                conn.init_payload = payload;
                conn.outbox
                    .push_control(None, r#"{"type":"connection_ack"}"#.into());
                reader.initialised();
            }
            ClientMessage::Ping(payload) => {
                let pong = match payload {
                    Some(p) => json!({"type": "pong", "payload": p}),
                    None => json!({"type": "pong"}),
                };
                conn.outbox.push_control(None, pong.to_string());
            }
            ClientMessage::Pong => {}
            ClientMessage::Subscribe(id, payload) => {
                if !reader.is_initialised() {
                    conn.outbox.close(4401, "Unauthorized");
                    return Ended::ServerClosed;
                }
                if conn.is_running(&id) {
                    // "Subscriber for " + " already exists" is 30 bytes.
                    let reason = format!(
                        "Subscriber for {} already exists",
                        truncate(&id, super::MAX_CLOSE_REASON - 30)
                    );
                    conn.outbox.close(4409, &reason);
                    return Ended::ServerClosed;
                }
                if let Some((payload, document)) = conn.prepare(&id, payload).await {
                    conn.start(id, payload, document);
                }
            }
            ClientMessage::Complete(id) => conn.stop(&id),
        }
    }
}
