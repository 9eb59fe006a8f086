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
//! kept. Bounded by `server.constant_response_bytes` (keys plus bodies): when the next entry
//! would not fit, the map starts over, like the parsed-document cache, so junk cannot pin it.
//! Off when trusted documents are in `log_unknown` mode, whose log line must be written for
//! every request that sends an unknown document.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::graphql_http::{respond, Media};

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
    max_bytes: usize,
    map: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    /// One map per media type (the key is the body alone, so that a lookup borrows it).
    by_media: [HashMap<Bytes, Constant>; 2],
    bytes: usize,
}

fn slot(media: Media) -> usize {
    match media {
        Media::GraphqlResponseJson => 0,
        Media::Json => 1,
    }
}

impl ConstantResponses {
    /// `None` when `max_bytes` is 0 (off).
    pub fn new(max_bytes: usize) -> Option<ConstantResponses> {
        (max_bytes > 0).then(|| ConstantResponses {
            max_bytes,
            map: RwLock::new(Entries::default()),
        })
    }

    /// Whether a body of this size could be kept (so the caller need not check the operation).
    pub fn may_keep(&self, body: &[u8]) -> bool {
        body.len() <= MAX_KEY_BYTES
    }

    pub fn get(&self, media: Media, body: &[u8]) -> Option<Constant> {
        if body.len() > MAX_KEY_BYTES {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.by_media[slot(media)].get(body).cloned()
    }

    /// Keeps the response of a constant operation sent as `body`.
    pub fn insert(&self, media: Media, body: Bytes, constant: Constant) {
        let size = body.len() + constant.body.len();
        if body.len() > MAX_KEY_BYTES || size > self.max_bytes / 4 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.bytes + size > self.max_bytes {
            *map = Entries::default();
        }
        if map.by_media[slot(media)].insert(body, constant).is_none() {
            map.bytes += size;
        }
    }

    /// Kept responses (tests).
    pub fn len(&self) -> usize {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.by_media.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn a_kept_response_is_found_by_the_same_body_and_media_type_only() {
        let kept = ConstantResponses::new(1 << 20).expect("on");
        kept.insert(
            Media::Json,
            Bytes::from_static(b"{\"query\":\"{greet}\"}"),
            constant("a"),
        );
        assert!(kept.get(Media::Json, b"{\"query\":\"{greet}\"}").is_some());
        assert!(kept
            .get(Media::GraphqlResponseJson, b"{\"query\":\"{greet}\"}")
            .is_none());
        assert!(kept.get(Media::Json, b"{\"query\":\"{ greet}\"}").is_none());
    }

    #[test]
    fn the_map_starts_over_when_the_next_entry_would_not_fit() {
        let kept = ConstantResponses::new(64).expect("on");
        kept.insert(
            Media::Json,
            Bytes::from_static(b"0123456789"),
            constant("0123"),
        );
        kept.insert(
            Media::Json,
            Bytes::from_static(b"abcdefghij"),
            constant("0123"),
        );
        assert_eq!(kept.len(), 2);
        kept.insert(
            Media::Json,
            Bytes::from_static(b"ABCDEFGHIJ"),
            constant("0123"),
        );
        kept.insert(
            Media::Json,
            Bytes::from_static(b"KLMNOPQRST"),
            constant("0123"),
        );
        kept.insert(
            Media::Json,
            Bytes::from_static(b"UVWXYZ0123"),
            constant("0123"),
        );
        assert!(kept.len() <= 4, "{}", kept.len());
        assert!(kept.get(Media::Json, b"UVWXYZ0123").is_some());
        assert!(kept.get(Media::Json, b"0123456789").is_none());
    }

    #[test]
    fn zero_bytes_turns_it_off() {
        assert!(ConstantResponses::new(0).is_none());
    }
}
