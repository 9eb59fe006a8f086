//! Constant responses: the serialized answers of operations that cannot differ between
//! requests, served again without parsing or executing anything.
//!
//! An operation is constant when it is a query whose every field is `@value`, read from a
//! constant parent, `__typename` or introspection ([`crate::engine::Engine::is_constant`]):
//! no source is asked and nothing of the request but the operation is read. Health checks,
//! feature flags and configuration served with `@value`, and introspection (GraphiQL and
//! codegen fetch it on every start) are such operations. Their successful responses are kept
//! under the exact POST body and the negotiated media type, so a repeat costs one hash lookup
//! instead of a JSON parse, document lookup, validation and execution (Tailcall's
//! constant-response cache does the same).
//!
//! Only POST bodies are keys (a GET is cacheable by any HTTP cache already, `Cache-Control`
//! permitting); batches, responses with errors and anything over the size caps are never
//! kept. Bounded by `server.constant_response_bytes` (keys plus bodies) in a
//! [`StartOverMap`], like the parsed documents, so junk cannot pin it.
//! Off when trusted documents are in `log_unknown` mode, whose log line must be written for
//! every request that sends an unknown document.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::graphql_http::{respond, Media};
use crate::bounded::StartOverMap;

/// Bodies (keys) larger than this are not kept: real constant operations are small.
const MAX_KEY_BYTES: usize = 4 << 10;

/// One kept response.
#[derive(Clone)]
pub struct Constant {
    body: Bytes,
    cache_control: HeaderValue,
}

impl Constant {
    pub fn new(body: Bytes, cache_control: HeaderValue) -> Constant {
        Constant {
            body,
            cache_control,
        }
    }

    /// The response, as the executed request was answered (200).
    pub fn respond(&self, media: Media) -> Response {
        let mut res = respond(StatusCode::OK, media, self.body.clone());
        res.headers_mut()
            .insert(header::CACHE_CONTROL, self.cache_control.clone());
        res
    }
}

/// The kept responses of one server, by media type and POST body.
pub struct ConstantResponses {
    kept: StartOverMap<(Media, Bytes), Constant>,
}

impl ConstantResponses {
    /// `None` when `max_bytes` is 0 (off). One entry may take a quarter of it.
    pub fn new(max_bytes: usize) -> Option<ConstantResponses> {
        (max_bytes > 0).then(|| ConstantResponses {
            kept: StartOverMap::new(usize::MAX, max_bytes, max_bytes / 4),
        })
    }

    /// Whether a body of this size could be kept (so the caller need not check the operation).
    pub fn may_keep(&self, body: &[u8]) -> bool {
        body.len() <= MAX_KEY_BYTES
    }

    /// The kept response for `body` (cloning `Bytes` to form the key is a reference count).
    pub fn get(&self, media: Media, body: &Bytes) -> Option<Constant> {
        if !self.may_keep(body) {
            return None;
        }
        self.kept.get(&(media, body.clone()))
    }

    /// Keeps the response of a constant operation sent as `body`; key and response count.
    pub fn insert(&self, media: Media, body: Bytes, constant: Constant) {
        if !self.may_keep(&body) {
            return;
        }
        let size = body.len() + constant.body.len();
        self.kept.insert((media, body), constant, size);
    }

    /// Kept responses (tests).
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(body: &'static str) -> Constant {
        Constant::new(
            Bytes::from_static(body.as_bytes()),
            HeaderValue::from_static("no-store"),
        )
    }

    fn body(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn a_kept_response_is_found_by_the_same_body_and_media_type_only() {
        let kept = ConstantResponses::new(1 << 20).expect("on");
        kept.insert(Media::Json, body(r#"{"query":"{greet}"}"#), constant("a"));
        assert!(kept
            .get(Media::Json, &body(r#"{"query":"{greet}"}"#))
            .is_some());
        assert!(kept
            .get(Media::GraphqlResponseJson, &body(r#"{"query":"{greet}"}"#))
            .is_none());
        assert!(kept
            .get(Media::Json, &body(r#"{"query":"{ greet}"}"#))
            .is_none());
    }

    #[test]
    fn the_map_starts_over_when_the_next_entry_would_not_fit() {
        let kept = ConstantResponses::new(64).expect("on");
        for key in ["0123456789", "abcdefghij"] {
            kept.insert(Media::Json, body(key), constant("0123"));
        }
        assert_eq!(kept.len(), 2);
        for key in ["ABCDEFGHIJ", "KLMNOPQRST", "UVWXYZ0123"] {
            kept.insert(Media::Json, body(key), constant("0123"));
        }
        assert!(kept.len() <= 4, "{}", kept.len());
        assert!(kept.get(Media::Json, &body("UVWXYZ0123")).is_some());
        assert!(kept.get(Media::Json, &body("0123456789")).is_none());
    }

    #[test]
    fn zero_bytes_turns_it_off() {
        assert!(ConstantResponses::new(0).is_none());
    }
}
