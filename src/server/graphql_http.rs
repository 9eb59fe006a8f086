//! GraphQL over HTTP (the GraphQL-over-HTTP spec), written here rather than taken from
//! async-graphql-axum, whose service always answers `application/graphql-response+json`,
//! answers 200 with `"data": null` for invalid documents, executes a POST with no content
//! type, and refuses nothing by size.
//!
//! - `Accept` picks `application/graphql-response+json` or `application/json` (406 if neither
//!   is acceptable; no `Accept` or `*/*` is `application/json`). Under graphql-response+json a request error (parse, validation) is a 400;
//!   under application/json it is a 200, as the spec says for legacy clients.
//! - A request error has no `data` key; an execution error keeps `data` (partial results).
//! - `GET` runs queries only: a mutation over GET is a 405 with `Allow: POST`.

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::to_bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, FutureExt, Shared};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::engine::cache_control::ResponsePolicy;

/// Stable codes for request-level errors (see the README's error table).
pub mod codes {
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from `Accept`, honouring q-values (the first listed wins a
/// tie). No `Accept`, `*/*` or `application/*` means `application/json`, as the spec says for
/// clients that do not name a type (they predate graphql-response+json and expect 200s).
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    if accept.trim().is_empty() {
        return Some(Media::Json);
    }
    let mut best: Option<(f32, Media)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let mime = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in pieces {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        let media = match mime.as_str() {
            GRAPHQL_RESPONSE_JSON => Media::GraphqlResponseJson,
            APPLICATION_JSON => Media::Json,
            "*/*" | "application/*" => Media::Json,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, media));
        }
    }
    best.map(|(_, m)| m)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GraphqlParams {
    pub(crate) query: Option<String>,
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "object_or_null")]
    extensions: Option<serde_json::Value>,
    /// A persisted document's id (trusted documents, APQ hashes); see `documents`.
    #[serde(default)]
    document_id: Option<String>,
}

/// A JSON object or `null` (`extensions`): anything else makes the request invalid (400).
fn object_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        v @ (None | Some(serde_json::Value::Object(_))) => Ok(v),
        Some(_) => Err(serde::de::Error::custom("extensions must be a JSON object")),
    }
}

/// Raw GET parameters: `variables` and `extensions` arrive as JSON text.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
    document_id: Option<String>,
}

pub(crate) fn error_body(message: &str, code: &str) -> serde_json::Value {
    json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

pub(crate) fn respond(status: StatusCode, media: Media, body: impl Into<bytes::Bytes>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    res
}

pub(crate) fn respond_json(status: StatusCode, media: Media, body: &serde_json::Value) -> Response {
    respond(status, media, serde_json::to_vec(body).unwrap_or_default())
}

/// A request error: no `data`, 400 under graphql-response+json, 200 under application/json.
fn request_error(media: Media, errors: Vec<ServerError>) -> Response {
    let status = match media {
        Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        Media::Json => StatusCode::OK,
    };
    respond_json(status, media, &json!({ "errors": errors }))
}

/// A refused document (persisted queries, trusted documents, limits, parse): never cached,
/// so that a CDN does not keep e.g. a `PERSISTED_QUERY_NOT_FOUND` for a GET.
fn refused(media: Media, refusal: super::documents::Refusal) -> Response {
    let mut res = match refusal.status {
        Some(status) => respond_json(status, media, &json!({ "errors": [refusal.error] })),
        None => request_error(media, vec![*refusal.error]),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `error` with `extensions.code` set to `code` unless it has a code already.
pub(crate) fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
}

pub async fn post_graphql(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Some(media) = negotiate(&headers) else {
        return respond_json(
            StatusCode::NOT_ACCEPTABLE,
            Media::Json,
            &error_body(
                "Accept must allow application/graphql-response+json or application/json",
                codes::NOT_ACCEPTABLE,
            ),
        );
    };
    if state.csrf_prevention && super::csrf::post_needs_refusal(&headers) {
        return respond_json(
            StatusCode::BAD_REQUEST,
            media,
            &error_body(super::csrf::MESSAGE, super::csrf::CSRF_PREVENTED),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(APPLICATION_JSON) {
        return respond_json(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            &error_body(
                "POST requests must have Content-Type: application/json",
                codes::UNSUPPORTED_MEDIA_TYPE,
            ),
        );
    }
    let bytes = match to_bytes(body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return respond_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                &json!({"errors": [{
                    "message": format!("the request body is larger than {} bytes", state.max_body_bytes),
                    "extensions": {"code": codes::LIMIT_EXCEEDED, "limit": "max_body_bytes"}
                }]}),
            );
        }
    };
    if let Some(kept) = state.constant.as_ref().and_then(|c| c.get(media, &bytes)) {
        return kept.respond(media);
    }
    if super::batch::is_batch(&bytes) {
        return super::batch::run(&state, &bytes, media, &headers).await;
    }
    let params: GraphqlParams = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return respond_json(
                StatusCode::BAD_REQUEST,
                media,
                &error_body(
                    &format!("the request body is not a valid GraphQL request: {e}"),
                    codes::BAD_REQUEST,
                ),
            );
        }
    };
    let keep_as = state
        .constant
        .as_ref()
        .is_some_and(|c| c.may_keep(&bytes))
        .then_some(bytes);
    execute(&state, params, false, media, &headers, keep_as).await
}

pub async fn get_graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(raw): Query<GetParams>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if state.playground && wants_html && raw.query.is_none() {
        return super::playground::page();
    }
    let Some(media) = negotiate(&headers) else {
        return respond_json(
            StatusCode::NOT_ACCEPTABLE,
            Media::Json,
            &error_body(
                "Accept must allow application/graphql-response+json or application/json",
                codes::NOT_ACCEPTABLE,
            ),
        );
    };
    // GET carries `variables` and `extensions` as JSON text.
    let mut parsed = [None, None];
    for (slot, (name, text)) in parsed.iter_mut().zip([
        ("variables", raw.variables.as_deref()),
        ("extensions", raw.extensions.as_deref()),
    ]) {
        match text.map(serde_json::from_str::<serde_json::Value>) {
            None => {}
            Some(Ok(v)) if v.is_object() || v.is_null() => *slot = Some(v),
            Some(_) => {
                return respond_json(
                    StatusCode::BAD_REQUEST,
                    media,
                    &error_body(&format!("{name} must be a JSON object"), codes::BAD_REQUEST),
                );
            }
        }
    }
    let [variables, extensions] = parsed;
    let params = GraphqlParams {
        query: raw.query,
        operation_name: raw.operation_name,
        variables,
        extensions,
        document_id: raw.document_id,
    };
    execute(&state, params, true, media, &headers, None).await
}

pub(crate) async fn execute(
    state: &AppState,
    params: GraphqlParams,
    is_get: bool,
    media: Media,
    headers: &HeaderMap,
    // The POST body, when a constant operation's response may be kept under it.
    keep_as: Option<bytes::Bytes>,
) -> Response {
    // Persisted queries, trusted documents and request limits (see `documents`).
    let prepared = state
        .documents
        .prepare(super::documents::DocumentRequest {
            query: params.query.as_deref(),
            document_id: params.document_id.as_deref(),
            extensions: params.extensions.as_ref(),
            operation_name: params.operation_name.as_deref(),
        })
        .await;
    let super::documents::Prepared { query, document } = match prepared {
        Ok(p) => p,
        Err(refusal) => return refused(media, refusal),
    };
    let variables_text = params
        .variables
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let variables = match params.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => Variables::from_json(v),
        Some(_) => {
            return respond_json(
                StatusCode::BAD_REQUEST,
                media,
                &error_body("variables must be a JSON object", codes::BAD_REQUEST),
            );
        }
    };
    let op_type = selected_operation_type(&document, params.operation_name.as_deref());
    if is_get
        && matches!(
            op_type,
            Some(OperationType::Mutation) | Some(OperationType::Subscription)
        )
    {
        let mut res = respond_json(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            &error_body(
                "only queries can be sent with GET; send mutations with POST",
                codes::METHOD_NOT_ALLOWED,
            ),
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return res;
    }
    let is_query = op_type == Some(OperationType::Query);
    let policy = state
        .engine
        .cache_policy(&document, params.operation_name.as_deref());
    let keep_as = keep_as.filter(|_| {
        state
            .engine
            .is_constant(&document, params.operation_name.as_deref())
    });
    let operation = Operation {
        query,
        document,
        variables,
        variables_text,
        operation_name: params.operation_name,
    };
    let outcome = if is_query && state.sharing {
        // Identical in-flight queries (same document, operation, variables and forwarded
        // headers) share one execution and one serialized response. Writes never do.
        let key = state.engine.sharing_key(
            &operation.query,
            operation.operation_name.as_deref(),
            &operation.variables_text,
            headers,
            None,
        );
        state
            .in_flight
            .run(key, state.engine.clone(), operation, headers.clone())
            .await
    } else {
        run_operation(&state.engine, operation, headers).await
    };
    let status = match (outcome.request_error, media) {
        (true, Media::GraphqlResponseJson) => StatusCode::BAD_REQUEST,
        _ => outcome.status,
    };
    let mut res = respond(status, media, outcome.body.clone());
    let cache_control = if outcome.has_errors {
        ResponsePolicy::NoStore.header_value()
    } else {
        policy.header_value()
    };
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        if let (Some(body), Some(kept), false, StatusCode::OK) =
            (keep_as, &state.constant, outcome.has_errors, status)
        {
            let constant = super::constant::Constant::new(outcome.body.clone(), v.clone());
            kept.insert(media, body, constant);
        }
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}

/// The type of the operation a request runs.
pub(crate) fn selected_operation_type(
    doc: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    crate::engine::selected_operation(doc, name).map(|op| op.ty)
}

/// A parsed request, ready to run.
pub struct Operation {
    query: String,
    document: async_graphql::parser::types::ExecutableDocument,
    variables: Variables,
    /// The variables as JSON text (part of the keys of sharing and of validated documents).
    variables_text: String,
    operation_name: Option<String>,
}

/// A run's result, serialized once (and shared by identical in-flight queries).
#[derive(Clone)]
pub struct Outcome {
    /// No execution happened (validation failed): 400 under graphql-response+json.
    request_error: bool,
    /// Any error at all: the response must not be cached.
    has_errors: bool,
    status: StatusCode,
    body: bytes::Bytes,
}

/// Identical in-flight queries: key → the shared run.
#[derive(Default)]
pub struct InFlight {
    runs: std::sync::Mutex<std::collections::HashMap<String, Shared<BoxFuture<'static, Outcome>>>>,
}

impl InFlight {
    async fn run(
        self: &std::sync::Arc<Self>,
        key: String,
        engine: crate::engine::Engine,
        operation: Operation,
        headers: HeaderMap,
    ) -> Outcome {
        let fut = {
            let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            match runs.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let this = self.clone();
                    let k = key.clone();
                    // The run removes itself when done, whoever polls it to completion.
                    let f = async move {
                        let out = run_operation(&engine, operation, &headers).await;
                        this.runs
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&k);
                        out
                    }
                    .boxed()
                    .shared();
                    runs.insert(key, f.clone());
                    f
                }
            }
        };
        fut.await
    }
}

async fn run_operation(
    engine: &crate::engine::Engine,
    operation: Operation,
    headers: &HeaderMap,
) -> Outcome {
    let Operation {
        query,
        document,
        variables,
        variables_text,
        operation_name,
    } = operation;
    // The key of validated documents; it starts with the query text, kept for the error path:
    // null propagation re-reads the document (rare, so the common path does not pay for a copy
    // of the parsed document).
    let query_len = query.len();
    let validated_key =
        crate::engine::operation_key(&query, operation_name.as_deref(), &variables_text);
    let mut request = async_graphql::Request::new(query).variables(variables);
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    let order = root_response_keys(&document, request.operation_name.as_deref());
    request.set_parsed_query(document);
    let mut response = engine
        .execute_validated(request, headers, &validated_key)
        .await;
    order_root(&mut response, &order);
    let is_request_error = crate::engine::is_request_error(&response);
    if !is_request_error && !response.errors.is_empty() {
        let query_text = validated_key.get(..query_len).unwrap_or("");
        if let Ok(doc) = async_graphql::parser::parse_query(query_text) {
            engine.propagate_nulls(&mut response, &doc, operation_name.as_deref());
        }
    }
    let has_errors = !response.errors.is_empty();
    let (request_error, body) = if is_request_error {
        let errors: Vec<ServerError> = response
            .errors
            .into_iter()
            .map(|e| with_code(e, codes::VALIDATION_FAILED))
            .collect();
        (true, serde_json::to_vec(&json!({ "errors": errors })))
    } else {
        (false, serde_json::to_vec(&response))
    };
    match body {
        Ok(body) => Outcome {
            request_error,
            has_errors,
            status: StatusCode::OK,
            body: body.into(),
        },
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            Outcome {
                request_error: false,
                has_errors: true,
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: serde_json::to_vec(&error_body("internal error", "INTERNAL"))
                    .unwrap_or_default()
                    .into(),
            }
        }
    }
}

/// Puts the root of `response.data` in the selection's order (`root_response_keys`):
/// async-graphql resolves root query fields concurrently and records them in completion order,
/// while the spec orders response keys as selected.
pub(crate) fn order_root(response: &mut async_graphql::Response, order: &[String]) {
    if let async_graphql::Value::Object(map) = &mut response.data {
        map.sort_by_cached_key(|k, _| {
            order
                .iter()
                .position(|o| o == k.as_str())
                .unwrap_or(usize::MAX)
        });
    }
}

/// The response keys of the operation's root selection, in document order (fragments
/// expanded), for ordering the root of the response.
pub(crate) fn root_response_keys(
    doc: &async_graphql::parser::types::ExecutableDocument,
    operation: Option<&str>,
) -> Vec<String> {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn walk(
        set: &SelectionSet,
        doc: &async_graphql::parser::types::ExecutableDocument,
        out: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.to_string();
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
                Selection::InlineFragment(fr) => {
                    walk(&fr.node.selection_set.node, doc, out, depth + 1)
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(fr) = doc.fragments.get(&sp.node.fragment_name.node) {
                        walk(&fr.node.selection_set.node, doc, out, depth + 1);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(op) = crate::engine::selected_operation(doc, operation) {
        walk(&op.selection_set.node, doc, &mut out, 0);
    }
    out
}
