//! CSRF prevention (`server.csrf_prevention`, on by default): refuse a request a browser could
//! send from another site's page without asking the server first (a CORS preflight).
//!
//! A cross-site page can make the browser send, with the user's cookies and no preflight, a
//! GET or a POST whose `Content-Type` is `text/plain`, `application/x-www-form-urlencoded`,
//! `multipart/form-data` or absent, and with no header beyond the CORS-safelisted ones. CORS
//! keeps the *response* from the page, but the request has run by then. So:
//!
//! - a mutation over GET is refused with 405 (`METHOD_NOT_ALLOWED`, in `graphql_http`); GET
//!   queries run, since queries do not write and the page cannot read the answer;
//! - a POST with such a content type (or none, or one that cannot be read) is refused with
//!   **400 `CSRF_PREVENTED`** before its body is read, unless it carries a non-empty
//!   [`PREFLIGHT_HEADERS`] header, which only a preflighted request can. Such a request then
//!   still needs `Content-Type: application/json` to run (415 otherwise).
//!
//! A JSON POST is never refused here: `application/json` is not a simple content type, so a
//! browser preflights it cross-site and CORS ([`super::cors`]) decides.

use axum::http::{header, HeaderMap};

/// Error code of a refused request.
pub const CSRF_PREVENTED: &str = "CSRF_PREVENTED";

/// Headers whose presence shows the request was preflighted (any non-safelisted header
/// would; these are the ones clients send for this purpose): Apollo Client, iOS and Kotlin
/// send `x-apollo-operation-name` or `apollo-require-preflight`; `graphql-require-preflight`
/// is the GraphQL-over-HTTP community's neutral name.
pub const PREFLIGHT_HEADERS: [&str; 3] = [
    "x-apollo-operation-name",
    "apollo-require-preflight",
    "graphql-require-preflight",
];

/// The content types a browser sends cross-site without a preflight (the Fetch standard's
/// CORS-safelisted `Content-Type` essences).
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Whether a POST with these headers could have been sent cross-site without a preflight,
/// and so must be refused.
pub fn post_needs_refusal(headers: &HeaderMap) -> bool {
    let simple_content_type = match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => match value.to_str() {
            // Unreadable: refused too, rather than reasoning about what browsers would do.
            Err(_) => true,
            Ok(text) => {
                let essence = text.split(';').next().unwrap_or("").trim();
                essence.is_empty()
                    || SIMPLE_CONTENT_TYPES
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(essence))
            }
        },
    };
    simple_content_type && !has_preflight_header(headers)
}

fn has_preflight_header(headers: &HeaderMap) -> bool {
    PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
}

/// The refusal's message.
pub const MESSAGE: &str =
    "this request was refused as a possible cross-site request forgery (CSRF): \
send it with Content-Type: application/json, or add a non-empty graphql-require-preflight \
(or apollo-require-preflight, or x-apollo-operation-name) header";

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn simple_content_types_without_a_preflight_header_are_refused() {
        for ct in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "Application/X-WWW-Form-Urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ] {
            assert!(
                post_needs_refusal(&headers(&[("content-type", ct)])),
                "{ct}"
            );
        }
        assert!(post_needs_refusal(&HeaderMap::new()), "no content type");
    }

    #[test]
    fn json_or_a_preflight_header_is_not_refused() {
        assert!(!post_needs_refusal(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(!post_needs_refusal(&headers(&[(
            "content-type",
            "application/graphql-response+json"
        )])));
        for name in PREFLIGHT_HEADERS {
            assert!(!post_needs_refusal(&headers(&[
                ("content-type", "text/plain"),
                (name, "1")
            ])));
        }
        assert!(
            post_needs_refusal(&headers(&[
                ("content-type", "text/plain"),
                ("graphql-require-preflight", "")
            ])),
            "an empty header does not count"
        );
    }
}
