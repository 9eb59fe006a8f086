//! GraphQL over WebSocket on `GET /graphql`: Tributary's own protocol handler on top of the
//! dynamic schema (async-graphql's `GraphQLSubscription` deviates from the protocol; see
//! DESIGN.md).
//!
//! The subprotocol (`Sec-WebSocket-Protocol`) picks the protocol:
//! - `graphql-transport-ws` ([`transport`]): the current protocol, followed to the letter.
//! - `graphql-ws` ([`legacy`]): the legacy subscriptions-transport-ws protocol.
//!
//! When the client offers both, `graphql-transport-ws` wins. An upgrade request offering
//! neither (or no subprotocol at all) is refused with HTTP 400 (`BAD_REQUEST`) before the
//! upgrade. A `GET /graphql` that is not a WebSocket upgrade is plain GraphQL over HTTP.
//!
//! # Policies (settings: `[websocket]`)
//! - **Connections** (`max_connections`): the upgrade beyond the limit is refused with HTTP
//!   503 and a `LIMIT_EXCEEDED` body (browsers see a failed connection, close code 1006).
//! - **Operations per connection** (`max_subscriptions`, counting every running operation):
//!   the next `subscribe`/`start` gets an `error` message for its id with code
//!   `LIMIT_EXCEEDED`; the connection stays open.
//! - **Outgoing buffer** (`send_buffer` messages per connection): a slow client never slows
//!   the producers. When the buffer is full the *oldest queued result* (`next`/`data`) is
//!   dropped; before the next message of that operation the client receives a `next`/`data`
//!   whose payload has only an error with code `EVENTS_DROPPED` and `extensions.dropped` (how
//!   many). Protocol messages (`complete`, `pong`, `error`, ...) are never dropped; should they
//!   alone exceed the buffer by 1,024, the connection is closed with 1008.
//! - **Init timeout** (`init_timeout`): no `connection_init` in time closes 4408 (both
//!   protocols). **Pings** (`ping_interval`, `0s` turns them off): after the ack the server
//!   sends `ping` (graphql-transport-ws) or `ka` (graphql-ws) on the interval.
//! - Errors in messages carry the HTTP vocabulary in `extensions.code`
//!   (`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, `BAD_REQUEST`, `LIMIT_EXCEEDED`).
//! - Close reasons never exceed 123 bytes (ids in them are truncated).

pub mod legacy;
mod shared;
pub mod transport;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{ServerError, Variables};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::graphql_http::{self, codes};
use super::AppState;
use crate::config::{parse_duration, Settings};
use crate::engine::Engine;

/// The largest close reason RFC 6455 allows (125 bytes of control payload minus the code).
pub const MAX_CLOSE_REASON: usize = 123;

/// Error code of the notice that replaces results dropped for a slow client.
pub const EVENTS_DROPPED: &str = "EVENTS_DROPPED";

/// WebSocket limits and timings (from `[websocket]`) and the open-connection count.
pub struct WsState {
    pub init_timeout: Duration,
    /// `None`: the server sends no pings.
    pub ping_interval: Option<Duration>,
    pub max_connections: usize,
    pub max_subscriptions: usize,
    pub send_buffer: usize,
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
    pub max_message_bytes: usize,
    connections: AtomicUsize,
    /// Identical subscriptions share one execution (`server.sharing`); `None` when off.
    shared: Option<Arc<shared::SharedSubscriptions>>,
}

impl WsState {
    pub fn new(settings: &Settings) -> Arc<WsState> {
        let ws = &settings.websocket;
        let ping = parse_duration(&ws.ping_interval).unwrap_or(Duration::from_secs(15));
        Arc::new(WsState {
            init_timeout: parse_duration(&ws.init_timeout).unwrap_or(Duration::from_secs(3)),
            ping_interval: (!ping.is_zero()).then_some(ping),
            max_connections: ws.max_connections,
            max_subscriptions: ws.max_subscriptions,
            send_buffer: ws.send_buffer.max(1),
            read_buffer_bytes: ws.read_buffer_bytes.max(256),
            write_buffer_bytes: ws.write_buffer_bytes,
            max_message_bytes: ws.max_message_bytes.max(1024),
            connections: AtomicUsize::new(0),
            shared: settings.server.sharing.then(Default::default),
        })
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Running shared subscription executions (each serving one or more subscriptions).
    pub fn shared_executions(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.groups())
    }

    fn try_acquire(self: &Arc<Self>) -> Option<ConnectionGuard> {
        let mut current = self.connections.load(Ordering::SeqCst);
        loop {
            if current >= self.max_connections {
                return None;
            }
            match self.connections.compare_exchange(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(ConnectionGuard(self.clone())),
                Err(now) => current = now,
            }
        }
    }
}

/// One counted connection; released when the connection ends (or the upgrade fails).
struct ConnectionGuard(Arc<WsState>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The two protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library's protocol).
    TransportWs,
    /// `graphql-ws` (the legacy subscriptions-transport-ws protocol).
    Legacy,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }

    /// The protocol for the offered subprotocols (`graphql-transport-ws` preferred).
    pub fn choose(headers: &HeaderMap) -> Option<Protocol> {
        let offered: Vec<String> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .collect();
        [Protocol::TransportWs, Protocol::Legacy]
            .into_iter()
            .find(|p| offered.iter().any(|o| o == p.name()))
    }

    /// A result message (`next` or `data`).
    fn result(self, id: &str, payload: &str) -> String {
        let ty = match self {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        };
        format!(
            r#"{{"id":{},"type":"{ty}","payload":{payload}}}"#,
            json_string(id)
        )
    }

    fn complete(self, id: &str) -> String {
        format!(r#"{{"id":{},"type":"complete"}}"#, json_string(id))
    }

    /// The messages for an operation that failed before executing (no result): an `error`
    /// with the errors in graphql-transport-ws (which ends the operation); a `data` with the
    /// errors then `complete` in graphql-ws, as its reference server does.
    fn request_error(self, id: &str, errors: &[Value]) -> Vec<String> {
        match self {
            Protocol::TransportWs => {
                vec![json!({"id": id, "type": "error", "payload": errors}).to_string()]
            }
            Protocol::Legacy => vec![
                self.result(id, &json!({ "errors": errors }).to_string()),
                self.complete(id),
            ],
        }
    }

    /// A refusal of one operation (limits, bad payload): an `error` message for its id.
    fn refusal(self, id: &str, error: Value) -> String {
        match self {
            Protocol::TransportWs => json!({"id": id, "type": "error", "payload": [error]}),
            Protocol::Legacy => json!({"id": id, "type": "error", "payload": error}),
        }
        .to_string()
    }

    /// The notice that `dropped` results of `id` were dropped for a slow client.
    fn lag_notice(self, id: &str, dropped: u64) -> String {
        let payload = json!({"errors": [{
            "message": format!("{dropped} result(s) dropped: the client read too slowly"),
            "extensions": {"code": EVENTS_DROPPED, "dropped": dropped},
        }]});
        self.result(id, &payload.to_string())
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `GET /graphql`: a WebSocket upgrade runs the protocol handler; anything else is the GraphQL
/// over HTTP `GET`.
pub async fn get_graphql(State(state): State<AppState>, request: Request) -> Response {
    if !is_websocket_upgrade(request.headers()) {
        return Handler::call(graphql_http::get_graphql, request, state).await;
    }
    let ws_state = state.ws.clone();
    // Browsers apply no CORS to WebSockets: a page's Origin must be ours or allow-listed
    // (Cross-Site WebSocket Hijacking; see `server::cors`).
    if !state.cors.websocket_allowed(request.headers()) {
        return error_response(
            StatusCode::FORBIDDEN,
            "WebSocket connections from this origin are not allowed (cors.allowed_origins)",
            json!({"code": super::cors::ORIGIN_NOT_ALLOWED}),
        );
    }
    let (mut parts, _body) = request.into_parts();
    let Some(protocol) = Protocol::choose(&parts.headers) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "WebSocket connections must ask for the graphql-transport-ws or graphql-ws subprotocol (Sec-WebSocket-Protocol)",
            json!({"code": codes::BAD_REQUEST}),
        );
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(guard) = ws_state.try_acquire() else {
        let mut res = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many WebSocket connections (limit {})",
                ws_state.max_connections
            ),
            json!({"code": codes::LIMIT_EXCEEDED, "limit": "websocket.max_connections"}),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    let headers = owned_headers(&parts.headers);
    drop(parts);
    let engine = state.engine.clone();
    let documents = state.documents.clone();
    upgrade
        .protocols([protocol.name()])
        .read_buffer_size(ws_state.read_buffer_bytes)
        .write_buffer_size(ws_state.write_buffer_bytes)
        .max_message_size(ws_state.max_message_bytes)
        .max_frame_size(ws_state.max_message_bytes)
        .on_upgrade(move |socket| async move {
            let _guard = guard;
            serve(socket, protocol, engine, documents, headers, ws_state).await;
        })
}

/// The upgrade request's headers, copied into memory of their own, without the handshake's.
///
/// hyper parses a request without copying: every header value is a slice of the connection's
/// read buffer (8–16 KiB). A connection that kept the parsed headers would keep that whole
/// buffer alive for as long as the socket stays open — measured with massif, 16 KiB of the
/// 18.5 KiB a WebSocket connection cost. The copy costs a few hundred bytes.
fn owned_headers(headers: &HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_text = name.as_str();
        if name_text.starts_with("sec-websocket-")
            || name == header::CONNECTION
            || name == header::UPGRADE
        {
            continue;
        }
        // Names too: a custom header's name is a slice of the same buffer.
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name_text.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            owned.append(name, value);
        }
    }
    owned
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn error_response(status: StatusCode, message: &str, extensions: Value) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": extensions}]});
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// Runs one connection: a writer task drains the outbox into the socket while the protocol
/// loop reads; when the loop ends, every operation is stopped.
async fn serve(
    socket: WebSocket,
    protocol: Protocol,
    engine: Engine,
    documents: Arc<super::documents::Documents>,
    headers: HeaderMap,
    settings: Arc<WsState>,
) {
    let (sink, mut stream) = socket.split();
    let outbox = Arc::new(Outbox::new(settings.send_buffer, protocol));
    let writer = tokio::spawn(write_loop(sink, outbox.clone()));
    let mut conn = Conn {
        protocol,
        engine,
        documents,
        headers: Arc::new(headers),
        settings,
        outbox: outbox.clone(),
        ops: Default::default(),
        generation: 0,
        init_payload: None,
    };
    let ended = match protocol {
        Protocol::TransportWs => transport::run(&mut conn, &mut stream).await,
        Protocol::Legacy => legacy::run(&mut conn, &mut stream).await,
    };
    conn.stop_all();
    if ended == Ended::ServerClosed {
        // Let the writer send the close frame, then wait (briefly) for the client's reply so
        // that the socket is not reset under the close frame.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    outbox.finish();
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(1), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// How a protocol loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The client closed or vanished.
    ClientGone,
    /// The server queued a close frame.
    ServerClosed,
}

/// A connection's running operations: id → (generation, handle).
pub(crate) type Ops = Arc<Mutex<HashMap<String, (u64, OpHandle)>>>;

/// How a running operation is stopped.
pub(crate) enum OpHandle {
    /// It runs alone in its own task.
    Task(tokio::task::AbortHandle),
    /// It is a member of a shared execution; dropping the membership leaves the group.
    Shared(#[allow(dead_code)] shared::Membership),
}

impl OpHandle {
    fn stop(self) {
        match self {
            OpHandle::Task(task) => task.abort(),
            OpHandle::Shared(membership) => drop(membership),
        }
    }
}

/// One connection's state, shared by the protocol loops.
pub(crate) struct Conn {
    pub protocol: Protocol,
    pub engine: Engine,
    /// Persisted queries, trusted documents and request limits, as over HTTP.
    pub documents: Arc<super::documents::Documents>,
    pub headers: Arc<HeaderMap>,
    pub settings: Arc<WsState>,
    pub outbox: Arc<Outbox>,
    /// Running operations.
    ops: Ops,
    generation: u64,
    pub init_payload: Option<Value>,
}

/// A `subscribe`/`start` payload.
pub(crate) struct OperationPayload {
    /// Empty when the payload names a persisted document instead ([`Conn::prepare`] fills it).
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Option<Value>,
    pub document_id: Option<String>,
    pub extensions: Option<Value>,
}

impl OperationPayload {
    /// Reads a payload object; the error says what is wrong.
    pub fn from_json(payload: Option<&Value>) -> Result<OperationPayload, &'static str> {
        let Some(Value::Object(p)) = payload else {
            return Err("payload must be an object");
        };
        let document_id = match p.get("documentId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("payload.documentId must be a string"),
        };
        let persisted = p
            .get("extensions")
            .and_then(|e| e.get("persistedQuery"))
            .is_some_and(|pq| !pq.is_null());
        let query = match p.get("query") {
            Some(Value::String(query)) => query.clone(),
            None | Some(Value::Null) if document_id.is_some() || persisted => String::new(),
            _ => return Err("payload.query must be a string"),
        };
        let operation_name = match p.get("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("payload.operationName must be a string"),
        };
        let variables = match p.get("variables") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err("payload.variables must be an object"),
        };
        let extensions = match p.get("extensions") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err("payload.extensions must be an object"),
        };
        Ok(OperationPayload {
            query,
            operation_name,
            variables,
            document_id,
            extensions,
        })
    }
}

impl Conn {
    pub fn is_running(&self, id: &str) -> bool {
        self.ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// Stops one operation (the client's `complete`/`stop`); no message is sent.
    pub fn stop(&self, id: &str) {
        let removed = self
            .ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some((_, handle)) = removed {
            handle.stop();
        }
    }

    fn stop_all(&self) {
        let all: Vec<_> = self
            .ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, (_, handle)) in all {
            handle.stop();
        }
    }

    /// Starts an operation, or refuses it with an `error` message when the connection runs
    /// `max_subscriptions` operations already.
    pub fn start(
        &mut self,
        id: String,
        payload: OperationPayload,
        document: async_graphql::parser::types::ExecutableDocument,
    ) {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        if ops.len() >= self.settings.max_subscriptions {
            drop(ops);
            let error = json!({
                "message": format!(
                    "too many operations on this connection (limit {})",
                    self.settings.max_subscriptions
                ),
                "extensions": {"code": codes::LIMIT_EXCEEDED, "limit": "websocket.max_subscriptions"},
            });
            self.outbox
                .push_control(Some(&id), self.protocol.refusal(&id, error));
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let member = shared::Member {
            id: Arc::from(id.as_str()),
            protocol: self.protocol,
            outbox: self.outbox.clone(),
            ops: self.ops.clone(),
            generation,
        };
        let op = RunningOp {
            engine: self.engine.clone(),
            headers: self.headers.clone(),
            init_payload: self.init_payload.clone(),
        };
        let shared = self.settings.shared.as_ref().filter(|_| {
            graphql_http::selected_operation_type(&document, payload.operation_name.as_deref())
                == Some(async_graphql::parser::types::OperationType::Subscription)
        });
        // Registered under the lock, so the execution cannot finish (and deregister) first.
        let handle = match shared {
            Some(groups) => {
                let key = self.engine.sharing_key(
                    &payload.query,
                    payload.operation_name.as_deref(),
                    &payload
                        .variables
                        .as_ref()
                        .map(Value::to_string)
                        .unwrap_or_default(),
                    &self.headers,
                    self.init_payload.as_ref(),
                );
                let groups_for_task = groups.clone();
                let start: shared::Start = Box::new(move |group| {
                    tokio::spawn(async move {
                        let audience = Audience::Group(group.clone());
                        let end = op.execute(payload, document, &audience).await;
                        for member in groups_for_task.end(&group) {
                            member.finish(&end);
                        }
                    })
                });
                OpHandle::Shared(groups.join(key, member, start))
            }
            None => {
                let task = tokio::spawn(async move {
                    let audience = Audience::One(member);
                    let end = op.execute(payload, document, &audience).await;
                    if let Audience::One(member) = audience {
                        member.finish(&end);
                    }
                });
                OpHandle::Task(task.abort_handle())
            }
        };
        ops.insert(id, (generation, handle));
    }

    /// Resolves the payload's document (persisted queries, trusted documents) and applies the
    /// request limits, as over HTTP; gives the payload with its query text and the parsed
    /// document. A refusal (parse errors included) is queued as the operation's request error
    /// and gives `None`.
    pub async fn prepare(
        &self,
        id: &str,
        mut payload: OperationPayload,
    ) -> Option<(
        OperationPayload,
        async_graphql::parser::types::ExecutableDocument,
    )> {
        // Boxed: the lookup (APQ in Redis) is a large future, and held inline it would make
        // every idle connection's read loop that much larger.
        let prepared = Box::pin(self.documents.prepare(super::documents::DocumentRequest {
            query: Some(payload.query.as_str()),
            document_id: payload.document_id.as_deref(),
            extensions: payload.extensions.as_ref(),
            operation_name: payload.operation_name.as_deref(),
        }))
        .await;
        match prepared {
            Ok(prepared) => {
                payload.query = prepared.query;
                Some((payload, prepared.document))
            }
            Err(refusal) => {
                let error = serde_json::to_value(&refusal.error)
                    .unwrap_or_else(|_| json!({"message": refusal.error.message}));
                for m in self.protocol.request_error(id, &[error]) {
                    self.outbox.push_control(Some(id), m);
                }
                None
            }
        }
    }

    /// Queues an `error` refusing one operation (bad payload) without closing.
    pub fn refuse(&self, id: &str, message: &str, code: &str) {
        let error = json!({"message": message, "extensions": {"code": code}});
        self.outbox
            .push_control(Some(id), self.protocol.refusal(id, error));
    }
}

/// How an operation ended: the messages every recipient gets last.
enum End {
    /// The stream is over: `complete`.
    Complete,
    /// It failed before executing (parse, validation) or could not be serialized.
    RequestError(Vec<Value>),
}

/// Who receives an execution's results.
enum Audience {
    /// One subscription (queries, mutations, and every subscription without sharing).
    One(shared::Member),
    /// Every member of a shared execution.
    Group(Arc<shared::Group>),
}

impl Audience {
    fn deliver(&self, payload: &str) {
        match self {
            Audience::One(m) => m
                .outbox
                .push_result(&m.id, m.protocol.result(&m.id, payload).into()),
            Audience::Group(group) => group.deliver(payload),
        }
    }
}

impl shared::Member {
    /// Ends this subscription with `end`'s messages, unless it was stopped or replaced
    /// meanwhile. Deregistered before the last message is queued: once the client reads
    /// `complete` (or `error`) it may reuse the id at once.
    fn finish(&self, end: &End) {
        let removed = {
            let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
            let current = ops
                .get(&*self.id)
                .is_some_and(|(g, _)| *g == self.generation);
            if current {
                ops.remove(&*self.id)
            } else {
                None
            }
        };
        let Some((_, handle)) = removed else {
            return;
        };
        // The execution is over already; dropping the handle only deregisters it.
        drop(handle);
        let messages = match end {
            End::Complete => vec![self.protocol.complete(&self.id)],
            End::RequestError(errors) => self.protocol.request_error(&self.id, errors),
        };
        for m in messages {
            self.outbox.push_control(Some(&self.id), m);
        }
    }
}

/// What an execution needs from its connection.
struct RunningOp {
    engine: Engine,
    headers: Arc<HeaderMap>,
    init_payload: Option<Value>,
}

impl RunningOp {
    /// Runs the operation, serializing each result once for its audience; returns how it
    /// ended.
    async fn execute(
        self,
        payload: OperationPayload,
        document: async_graphql::parser::types::ExecutableDocument,
        audience: &Audience,
    ) -> End {
        let order = graphql_http::root_response_keys(&document, payload.operation_name.as_deref());
        let mut request = async_graphql::Request::new(payload.query).variables(
            payload
                .variables
                .map(Variables::from_json)
                .unwrap_or_default(),
        );
        if let Some(name) = &payload.operation_name {
            request = request.operation_name(name.clone());
        }
        request.set_parsed_query(document.clone());
        let mut stream =
            self.engine
                .execute_stream(request, &self.headers, self.init_payload.clone());
        let mut first = true;
        while let Some(mut response) = stream.next().await {
            let request_error = crate::engine::is_request_error(&response);
            if first && request_error {
                let errors: Vec<Value> = std::mem::take(&mut response.errors)
                    .into_iter()
                    .map(|e| with_code(e, codes::VALIDATION_FAILED))
                    .collect();
                return End::RequestError(errors);
            }
            first = false;
            graphql_http::order_root(&mut response, &order);
            if !response.errors.is_empty() {
                self.engine.propagate_nulls(
                    &mut response,
                    &document,
                    payload.operation_name.as_deref(),
                );
            }
            match serde_json::to_string(&response) {
                Ok(body) => audience.deliver(&body),
                Err(e) => {
                    tracing::error!(error = %e, "response serialization failed");
                    let error =
                        json!({"message": "internal error", "extensions": {"code": "INTERNAL"}});
                    return End::RequestError(vec![error]);
                }
            }
        }
        End::Complete
    }
}

/// A request-level error as JSON, with `extensions.code` set unless it has one.
fn with_code(error: ServerError, code: &str) -> Value {
    let error = graphql_http::with_code(error, code);
    serde_json::to_value(&error).unwrap_or_else(|_| json!({"message": error.message}))
}

/// `reason` cut to at most 123 bytes at a character boundary.
pub fn close_reason(reason: &str) -> String {
    truncate(reason, MAX_CLOSE_REASON)
}

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One queued outgoing message.
struct Entry {
    /// The operation it belongs to, if any.
    id: Option<Arc<str>>,
    /// A result (`next`/`data`) may be dropped for a slow client; protocol messages may not.
    droppable: bool,
    /// Reference-counted: a shared execution hands the same message to every subscriber
    /// with the same operation id without copying it.
    text: Utf8Bytes,
}

/// Protocol messages beyond the buffer allowed before the connection is closed (1008).
const CONTROL_SLACK: usize = 1024;

/// A connection's bounded outgoing queue (see the module docs for the overflow policy).
pub(crate) struct Outbox {
    state: Mutex<OutState>,
    notify: Notify,
    capacity: usize,
    protocol: Protocol,
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Entry>,
    /// Results dropped per operation, not yet reported.
    dropped: HashMap<Arc<str>, u64>,
    close: Option<(u16, String)>,
    closing: bool,
    finished: bool,
}

enum Next {
    Send(Vec<Utf8Bytes>),
    Close(u16, String),
    Done,
}

impl Outbox {
    fn new(capacity: usize, protocol: Protocol) -> Outbox {
        Outbox {
            state: Mutex::new(OutState::default()),
            notify: Notify::new(),
            capacity,
            protocol,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a result; when the buffer is full, the oldest queued result goes.
    pub fn push_result(&self, id: &Arc<str>, text: Utf8Bytes) {
        self.push(Entry {
            id: Some(id.clone()),
            droppable: true,
            text,
        });
    }

    /// Queues a protocol message (never dropped).
    pub fn push_control(&self, id: Option<&str>, text: String) {
        self.push(Entry {
            id: id.map(Arc::from),
            droppable: false,
            text: text.into(),
        });
    }

    fn push(&self, entry: Entry) {
        {
            let mut st = self.lock();
            if st.closing || st.finished {
                return;
            }
            if st.queue.len() >= self.capacity {
                match st.queue.iter().position(|e| e.droppable) {
                    Some(i) => {
                        if let Some(old) = st.queue.remove(i) {
                            if let Some(id) = old.id {
                                *st.dropped.entry(id).or_default() += 1;
                            }
                        }
                    }
                    None if entry.droppable => {
                        if let Some(id) = entry.id {
                            *st.dropped.entry(id).or_default() += 1;
                        }
                        return;
                    }
                    None if st.queue.len() >= self.capacity + CONTROL_SLACK => {
                        st.closing = true;
                        st.queue.clear();
                        st.close = Some((1008, "Send buffer overflow".into()));
                        drop(st);
                        self.notify.notify_one();
                        return;
                    }
                    None => {}
                }
            }
            st.queue.push_back(entry);
        }
        self.notify.notify_one();
    }

    /// Closes the connection with `code` and `reason` (cut to 123 bytes); queued messages are
    /// discarded.
    pub fn close(&self, code: u16, reason: &str) {
        {
            let mut st = self.lock();
            if st.closing || st.finished {
                return;
            }
            st.closing = true;
            st.queue.clear();
            st.close = Some((code, close_reason(reason)));
        }
        self.notify.notify_one();
    }

    /// The connection is over: the writer stops.
    fn finish(&self) {
        self.lock().finished = true;
        self.notify.notify_one();
    }

    async fn next(&self) -> Next {
        loop {
            {
                let mut st = self.lock();
                if let Some((code, reason)) = st.close.take() {
                    return Next::Close(code, reason);
                }
                if st.finished || st.closing {
                    return Next::Done;
                }
                if !st.queue.is_empty() {
                    let mut out = Vec::new();
                    while let Some(entry) = st.queue.pop_front() {
                        if let Some(id) = &entry.id {
                            if let Some(n) = st.dropped.remove(id) {
                                out.push(self.protocol.lag_notice(id, n).into());
                            }
                        }
                        out.push(entry.text);
                        if out.len() >= 32 {
                            break;
                        }
                    }
                    return Next::Send(out);
                }
            }
            self.notify.notified().await;
        }
    }
}

async fn write_loop(mut sink: SplitSink<WebSocket, Message>, outbox: Arc<Outbox>) {
    loop {
        match outbox.next().await {
            Next::Send(texts) => {
                for text in texts {
                    if sink.feed(Message::Text(text)).await.is_err() {
                        outbox.finish();
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    outbox.finish();
                    return;
                }
            }
            Next::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
            Next::Done => {
                let _ = sink.close().await;
                return;
            }
        }
    }
}

/// What both protocols' read loops share: the client's frames, the `connection_init`
/// deadline (close 4408) and, once the connection is initialised, the server's pings.
pub(crate) struct Reader<'s> {
    stream: &'s mut futures::stream::SplitStream<WebSocket>,
    init_deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    initialised: bool,
    pinger: Pinger,
    /// The protocol's ping message (`ping` or the legacy `ka`).
    ping: &'static str,
    /// `websocket.ping_interval`, for once the connection is initialised.
    ping_interval: Option<Duration>,
}

impl<'s> Reader<'s> {
    pub fn new(
        conn: &Conn,
        stream: &'s mut futures::stream::SplitStream<WebSocket>,
        ping: &'static str,
    ) -> Reader<'s> {
        Reader {
            stream,
            init_deadline: Box::pin(tokio::time::sleep(conn.settings.init_timeout)),
            initialised: false,
            pinger: Pinger::off(),
            ping,
            ping_interval: conn.settings.ping_interval,
        }
    }

    /// The next client frame (pings are sent meanwhile), or how the connection ended: the
    /// client left, or it sent no `connection_init` in time (closed 4408 here).
    pub async fn next(&mut self, conn: &Conn) -> Result<Message, Ended> {
        loop {
            let message = tokio::select! {
                _ = &mut self.init_deadline, if !self.initialised => {
                    conn.outbox.close(4408, "Connection initialisation timeout");
                    return Err(Ended::ServerClosed);
                }
                _ = self.pinger.tick() => {
                    conn.outbox.push_control(None, self.ping.into());
                    continue;
                }
                m = self.stream.next() => m,
            };
            return match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Err(Ended::ClientGone),
                Some(Ok(m)) => Ok(m),
            };
        }
    }

    pub fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// The connection is initialised: the deadline is off and pings start.
    pub fn initialised(&mut self) {
        self.initialised = true;
        self.pinger = Pinger::new(self.ping_interval);
    }
}

/// A ping timer that never fires when pings are off.
pub(crate) struct Pinger(Option<tokio::time::Interval>);

impl Pinger {
    pub fn new(period: Option<Duration>) -> Pinger {
        Pinger(period.map(|p| {
            let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            iv
        }))
    }

    pub fn off() -> Pinger {
        Pinger(None)
    }

    pub async fn tick(&mut self) {
        match &mut self.0 {
            Some(iv) => {
                iv.tick().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// The text of a client frame (binary frames are read as UTF-8 text, like the reference
/// servers do); `None` for control frames.
pub(crate) fn frame_text(message: &Message) -> Option<Result<&str, ()>> {
    match message {
        Message::Text(t) => Some(Ok(t.as_str())),
        Message::Binary(b) => Some(std::str::from_utf8(b).map_err(|_| ())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_keeps_its_own_copy_of_the_headers_without_the_handshake_ones() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZQ=="),
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.append("x-tenant", HeaderValue::from_static("a"));
        headers.append("x-tenant", HeaderValue::from_static("b"));
        let owned = owned_headers(&headers);
        assert_eq!(owned.len(), 3, "{owned:?}");
        assert_eq!(owned[header::AUTHORIZATION], "Bearer t");
        let tenants: Vec<_> = owned.get_all("x-tenant").iter().collect();
        assert_eq!(tenants, ["a", "b"]);
    }

    #[test]
    fn a_long_close_reason_is_cut_to_123_bytes_at_a_character_boundary() {
        let reason = format!("Subscriber for {} already exists", "é".repeat(200));
        let cut = close_reason(&reason);
        assert!(cut.len() <= MAX_CLOSE_REASON, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_result_and_reports_it() {
        let outbox = Outbox::new(2, Protocol::TransportWs);
        let a: Arc<str> = Arc::from("a");
        outbox.push_result(&a, "1".into());
        outbox.push_result(&a, "2".into());
        outbox.push_result(&a, "3".into());
        outbox.push_control(Some("a"), "done".into());
        let st = outbox.lock();
        let texts: Vec<&str> = st.queue.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["3", "done"]);
        assert_eq!(st.dropped.get("a"), Some(&2));
    }

    #[tokio::test]
    async fn the_next_message_of_an_operation_with_dropped_results_follows_a_notice() {
        let outbox = Outbox::new(1, Protocol::TransportWs);
        let a: Arc<str> = Arc::from("a");
        outbox.push_result(&a, "1".into());
        outbox.push_result(&a, "2".into());
        let Next::Send(texts) = outbox.next().await else {
            panic!("messages expected");
        };
        assert_eq!(texts.len(), 2, "{texts:?}");
        let notice: Value = serde_json::from_str(&texts[0]).expect("JSON");
        assert_eq!(notice["id"], "a");
        assert_eq!(notice["type"], "next");
        assert_eq!(
            notice["payload"]["errors"][0]["extensions"]["code"],
            EVENTS_DROPPED
        );
        assert_eq!(notice["payload"]["errors"][0]["extensions"]["dropped"], 1);
        assert_eq!(texts[1], "2");
    }
}
