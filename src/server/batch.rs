//! Batched requests: a POST whose body is a JSON array of GraphQL requests (Apollo Client's
//! `BatchHttpLink`, Relay's batching network layers). Settings: `graphql.batching` (on) and
//! `graphql.max_batch_size` (10).
//!
//! - Each entry runs as if it had been POSTed alone (same limits, persisted queries, sharing,
//!   error codes) and has its own result; the answer is a JSON array of the results in the
//!   entries' order, with status **200** whatever the entries' outcomes: a failed entry's
//!   result carries its errors (and codes), as its own response would have.
//! - Queries run concurrently. A mutation is a barrier: it starts once every entry before it
//!   has finished and the entries after it start once it has, so writes happen in the
//!   order the client sent them and a read after a write sees it. An entry whose operation
//!   type cannot be told from its text (a persisted-query hash without a query) counts as a
//!   mutation.
//! - Refused whole, before anything runs: an empty array (400 `BAD_REQUEST`), more than
//!   `max_batch_size` entries (413 `LIMIT_EXCEEDED`, `extensions.limit` =
//!   `graphql.max_batch_size`), and any array when batching is off (400 `BAD_REQUEST`).
//!   An entry that is not a request object is answered with a `BAD_REQUEST` result of its own.
//! - `Cache-Control`: the entries' common value, or `no-store` when they differ.

use axum::body::to_bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::graphql_http::{
    codes, error_body, execute, respond, respond_json, GraphqlParams, Media,
};
use super::AppState;

/// Whether a request body is a batch (a JSON array).
pub fn is_batch(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[')
}

/// Runs a batch body (see the module documentation).
pub async fn run(state: &AppState, body: &[u8], media: Media, headers: &HeaderMap) -> Response {
    if state.max_batch_size.is_none() {
        return respond_json(
            StatusCode::BAD_REQUEST,
            media,
            &error_body(
                "batched requests (a JSON array) are turned off (graphql.batching); send one request per POST",
                codes::BAD_REQUEST,
            ),
        );
    }
    let max = state.max_batch_size.unwrap_or(1);
    let entries: Vec<serde_json::Value> = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return respond_json(
                StatusCode::BAD_REQUEST,
                media,
                &error_body(
                    &format!("the request body is not a valid GraphQL batch: {e}"),
                    codes::BAD_REQUEST,
                ),
            );
        }
    };
    if entries.is_empty() {
        return respond_json(
            StatusCode::BAD_REQUEST,
            media,
            &error_body(
                "the batch is empty: send at least one request",
                codes::BAD_REQUEST,
            ),
        );
    }
    if entries.len() > max {
        return respond_json(
            StatusCode::PAYLOAD_TOO_LARGE,
            media,
            &json!({"errors": [{
                "message": format!(
                    "the batch has {} requests; at most {max} are allowed",
                    entries.len()
                ),
                "extensions": {
                    "code": codes::LIMIT_EXCEEDED,
                    "limit": "graphql.max_batch_size",
                    "max": max,
                }
            }]}),
        );
    }
    // Each entry: a request to run, or the result that replaces it.
    let entries: Vec<Result<GraphqlParams, Vec<u8>>> = entries
        .into_iter()
        .map(|v| {
            serde_json::from_value::<GraphqlParams>(v).map_err(|e| {
                serde_json::to_vec(&error_body(
                    &format!("this batch entry is not a valid GraphQL request: {e}"),
                    codes::BAD_REQUEST,
                ))
                .unwrap_or_default()
            })
        })
        .collect();
    let mut results: Vec<(Vec<u8>, Option<HeaderValue>)> = Vec::with_capacity(entries.len());
    let mut group: Vec<GraphqlParams> = Vec::new();
    let mut slots: Vec<Option<Vec<u8>>> = Vec::new();
    for entry in entries {
        match entry {
            Err(refusal) => slots.push(Some(refusal)),
            Ok(params) => {
                if may_write(&params) {
                    // Everything before the write finishes first, then the write alone.
                    flush(state, media, headers, &mut group, &mut slots, &mut results).await;
                    group.push(params);
                    slots.push(None);
                    flush(state, media, headers, &mut group, &mut slots, &mut results).await;
                } else {
                    group.push(params);
                    slots.push(None);
                }
            }
        }
    }
    flush(state, media, headers, &mut group, &mut slots, &mut results).await;

    let mut out = Vec::with_capacity(results.iter().map(|(b, _)| b.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, (body, _)) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(body);
    }
    out.push(b']');
    let mut res = respond(StatusCode::OK, media, out);
    let first = results.first().and_then(|(_, c)| c.clone());
    let cache_control = match first {
        Some(c) if results.iter().all(|(_, o)| o.as_ref() == Some(&c)) => c,
        _ => HeaderValue::from_static("no-store"),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, cache_control);
    res
}

/// Runs the pending entries of `group` concurrently, then appends every pending slot's
/// result (refusals in place) to `results`, in order.
async fn flush(
    state: &AppState,
    media: Media,
    headers: &HeaderMap,
    group: &mut Vec<GraphqlParams>,
    slots: &mut Vec<Option<Vec<u8>>>,
    results: &mut Vec<(Vec<u8>, Option<HeaderValue>)>,
) {
    let runs = futures::future::join_all(
        group
            .drain(..)
            .map(|params| entry_result(state, params, media, headers)),
    )
    .await;
    let mut runs = runs.into_iter();
    for slot in slots.drain(..) {
        match slot {
            Some(refusal) => results.push((refusal, None)),
            None => results.push(runs.next().unwrap_or_else(|| (internal_error(), None))),
        }
    }
}

/// One entry's result body (a JSON object) and `Cache-Control`.
async fn entry_result(
    state: &AppState,
    params: GraphqlParams,
    media: Media,
    headers: &HeaderMap,
) -> (Vec<u8>, Option<HeaderValue>) {
    let response = execute(state, params, false, media, headers, None).await;
    let cache_control = response.headers().get(header::CACHE_CONTROL).cloned();
    match to_bytes(response.into_body(), usize::MAX).await {
        // Every answer of `execute` is one JSON object; anything else would corrupt the array.
        Ok(body) if body.first() == Some(&b'{') => (body.to_vec(), cache_control),
        _ => (internal_error(), None),
    }
}

fn internal_error() -> Vec<u8> {
    serde_json::to_vec(&error_body("internal error", "INTERNAL")).unwrap_or_default()
}

/// Whether an entry may write: its document defines a mutation, or it has no query text to
/// tell (a persisted-query hash).
fn may_write(params: &GraphqlParams) -> bool {
    match params.query.as_deref() {
        Some(q) if !q.trim().is_empty() => defines_mutation(q),
        _ => true,
    }
}

/// Whether a GraphQL document defines a `mutation` operation, by a scan of its top-level
/// definitions (strings, block strings and comments skipped). It does not parse, so a
/// document refused later by the limits costs nothing here; a malformed document is answered
/// with its parse error when it runs.
pub(crate) fn defines_mutation(doc: &str) -> bool {
    let bytes = doc.as_bytes();
    let mut i = 0;
    let mut depth: usize = 0;
    // At depth 0, whether the next name starts a definition.
    let mut at_definition = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i..].starts_with(b"\\\"\"\"") {
                            4
                        } else {
                            1
                        };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                continue;
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && b == b'}' {
                    at_definition = true;
                }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if depth == 0 && at_definition {
                    if &bytes[start..i] == b"mutation" {
                        return true;
                    }
                    at_definition = false;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_found_among_the_top_level_definitions_only() {
        assert!(defines_mutation("mutation { a }"));
        assert!(defines_mutation(
            "  # comment\n mutation M($x: Int) { a(x: $x) }"
        ));
        assert!(defines_mutation("query Q { a } mutation M { b }"));
        assert!(defines_mutation(
            "fragment F on Query { a } mutation { b { ...F } }"
        ));
        assert!(!defines_mutation("{ mutation }"));
        assert!(!defines_mutation("query mutation { a }"));
        assert!(!defines_mutation("query Q { a(s: \"mutation {\") }"));
        assert!(!defines_mutation(
            "query Q { a(s: \"\"\"\nmutation\n\"\"\") }"
        ));
        assert!(!defines_mutation("# mutation { a }\n{ a }"));
        assert!(!defines_mutation("fragment mutation on Query { a } { a }"));
        assert!(!defines_mutation("subscription { a }"));
    }

    #[test]
    fn a_batch_is_a_body_starting_with_a_bracket() {
        assert!(is_batch(b"  \n[{}]"));
        assert!(!is_batch(b"{\"query\": \"[\"}"));
        assert!(!is_batch(b""));
    }
}
