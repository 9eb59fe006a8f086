//! Building request URLs from templates without SSRF.
//!
//! A path template is split by the schema parser into [`PathPart`]s: literal text written by the
//! schema author (trusted) and values coming from arguments, parents, headers... (untrusted).
//! Values are percent-encoded so they can only ever be *data inside one path segment*: every
//! byte except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped, so `/`,
//! `?`, `#`, `@`, `:` and `%` lose their meaning. Values that are exactly `.` or `..` are
//! refused, because WHATWG parsers treat them (and `%2E%2E`) as dot-segments. Empty values are
//! refused too: `/users/{{args.id}}` with `id = ""` would otherwise address the collection
//! `/users/` instead of one user.
//!
//! Whatever the parts, [`build_url`] refuses an assembled path holding a dot-segment (which the
//! parser would resolve, moving the path), then *verifies* the parsed result: same scheme,
//! host, port and credentials as the base, and a path under the base path. A URL failing any check is refused with
//! `BadInput`, never sent.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use crate::{ConnectorError, Value};

/// Everything except RFC 3986 unreserved characters is escaped in a path value.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One piece of a path template.
#[derive(Debug, Clone, PartialEq)]
pub enum PathPart {
    /// Text written by the schema author, e.g. `/stock/`: inserted as is (the URL parser still
    /// escapes characters that cannot appear in a path).
    Literal(String),
    /// A template value, e.g. `{{parent.sku}}`: percent-encoded into (part of) one segment.
    Value(Value),
}

impl PathPart {
    pub fn literal(text: impl Into<String>) -> Self {
        PathPart::Literal(text.into())
    }

    pub fn value(value: impl Into<Value>) -> Self {
        PathPart::Value(value.into())
    }
}

/// Builds `base` + `path` + `query`, refusing anything that would leave the base URL.
///
/// - The base's path is a prefix: base `http://h/api` and path `/reviews` give
///   `http://h/api/reviews`. A path not starting with `/` gets one.
/// - Path values must be scalars (string, number, boolean, enum), not empty, not `.`/`..`.
/// - Query values: scalars become one pair; a list becomes one pair per item (`?id=1&id=2`,
///   the batch form); `null` omits the pair; objects are refused. Query keys and values are
///   form-encoded, so `&`, `=` and `#` in values stay data. The base's own query (e.g. an API
///   key) is kept, first.
pub fn build_url(
    base: &Url,
    path: &[PathPart],
    query: &[(String, Value)],
) -> Result<Url, ConnectorError> {
    if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
        return Err(bad_input("the source's base URL must be an http(s) URL"));
    }
    let base_path = base.path().trim_end_matches('/');
    let mut assembled = String::from(base_path);
    let mut relative = String::new();
    for part in path {
        match part {
            PathPart::Literal(text) => relative.push_str(text),
            PathPart::Value(value) => {
                let text = scalar_text(value).ok_or_else(|| {
                    bad_input("a value in a URL path must be a string, number, boolean or enum")
                })?;
                if text.is_empty() {
                    return Err(bad_input("a value in a URL path must not be empty"));
                }
                if text == "." || text == ".." {
                    return Err(bad_input("a value in a URL path must not be `.` or `..`"));
                }
                relative.extend(utf8_percent_encode(&text, PATH_VALUE));
            }
        }
    }
    if !relative.is_empty() && !relative.starts_with('/') {
        assembled.push('/');
    }
    assembled.push_str(&relative);
    if assembled.is_empty() {
        assembled.push('/');
    }

    // The parser would resolve dot-segments (and treats `\` as `/` in http URLs), silently
    // moving the path: refuse instead. Only literals can get here, values are checked above.
    if path_has_dot_segment(&assembled) {
        return Err(bad_input(
            "the URL path would be rewritten by normalisation",
        ));
    }

    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&assembled);
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (key, value) in query {
        match value {
            Value::Null => {}
            Value::List(items) => {
                for item in items {
                    match item {
                        Value::Null => {}
                        other => pairs.push((key, query_text(other)?)),
                    }
                }
            }
            other => pairs.push((key, query_text(other)?)),
        }
    }
    if !pairs.is_empty() {
        let mut serializer = url.query_pairs_mut();
        for (key, value) in &pairs {
            serializer.append_pair(key, value);
        }
    }

    ensure_under_base(base, &url)?;
    if path_has_dot_segment(url.path()) {
        return Err(bad_input(
            "the URL path would be rewritten by normalisation",
        ));
    }
    Ok(url)
}

/// Refuses `url` unless it has the base's scheme, credentials, host and port, and its path is
/// the base path or below it (segment-wise: base `/api` admits `/api/x`, not `/apix`).
pub fn ensure_under_base(base: &Url, url: &Url) -> Result<(), ConnectorError> {
    let same_origin = url.scheme() == base.scheme()
        && url.username() == base.username()
        && url.password() == base.password()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default();
    if !same_origin {
        return Err(bad_input("the URL would leave the source's base URL"));
    }
    let base_path = base.path().trim_end_matches('/');
    let path = url.path();
    let under = path == base_path
        || (path.starts_with(base_path) && path[base_path.len()..].starts_with('/'));
    if !under {
        return Err(bad_input("the URL path would leave the source's base path"));
    }
    Ok(())
}

/// Whether a serialised path still holds a segment that a later parser could resolve as a
/// dot-segment (`.`, `..`, or their `%2e` spellings).
fn path_has_dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|segment| {
        let lower = segment.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    })
}

/// The text of a scalar, as it goes into a URL.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Enum(name) => Some(name.to_string()),
        Value::Null | Value::List(_) | Value::Object(_) | Value::Binary(_) => None,
    }
}

fn query_text(value: &Value) -> Result<String, ConnectorError> {
    scalar_text(value)
        .ok_or_else(|| bad_input("a value in a URL query must be a scalar or a list of scalars"))
}

fn bad_input(message: &str) -> ConnectorError {
    ConnectorError::BadInput {
        message: message.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://api.internal:8080/v1").unwrap()
    }

    fn user_path(id: &str) -> Result<Url, ConnectorError> {
        build_url(
            &base(),
            &[PathPart::literal("/users/"), PathPart::value(id)],
            &[],
        )
    }

    fn assert_under_base(url: &Url) {
        assert_eq!(url.scheme(), "http");
        assert_eq!(url.host_str(), Some("api.internal"));
        assert_eq!(url.port(), Some(8080));
        assert!(url.path().starts_with("/v1/users/"), "{url}");
        assert_eq!(url.fragment(), None);
    }

    #[test]
    fn a_literal_path_is_appended_to_the_base_path() {
        let url = build_url(&base(), &[PathPart::literal("/reviews")], &[]).unwrap();
        assert_eq!(url.as_str(), "http://api.internal:8080/v1/reviews");
        let slash = Url::parse("http://h/api/").unwrap();
        let url = build_url(&slash, &[PathPart::literal("reviews")], &[]).unwrap();
        assert_eq!(url.as_str(), "http://h/api/reviews");
    }

    #[test]
    fn a_parent_traversal_value_stays_one_escaped_segment() {
        let url = user_path("../admin").unwrap();
        assert_eq!(url.path(), "/v1/users/..%2Fadmin");
        assert_under_base(&url);
    }

    #[test]
    fn an_already_encoded_traversal_is_encoded_again() {
        let url = user_path("%2e%2e/").unwrap();
        assert_eq!(url.path(), "/v1/users/%252e%252e%2F");
        assert_under_base(&url);
        let url = user_path("%2e%2e").unwrap();
        assert_eq!(url.path(), "/v1/users/%252e%252e");
    }

    #[test]
    fn dot_and_dot_dot_values_are_refused() {
        for value in [".", ".."] {
            let error = user_path(value).unwrap_err();
            assert!(matches!(error, ConnectorError::BadInput { .. }), "{value}");
        }
    }

    #[test]
    fn an_absolute_url_value_cannot_change_the_host() {
        let url = user_path("http://evil").unwrap();
        assert_eq!(url.path(), "/v1/users/http%3A%2F%2Fevil");
        assert_under_base(&url);
        let url = user_path("//evil.com").unwrap();
        assert_eq!(url.path(), "/v1/users/%2F%2Fevil.com");
        assert_under_base(&url);
    }

    #[test]
    fn an_at_sign_cannot_introduce_credentials_or_a_host() {
        let url = user_path("@evil").unwrap();
        assert_eq!(url.path(), "/v1/users/%40evil");
        assert_eq!(url.username(), "");
        assert_under_base(&url);
        // Also in first position, right after the base path.
        let url = build_url(&base(), &[PathPart::value("@evil.com")], &[]).unwrap();
        assert_eq!(url.as_str(), "http://api.internal:8080/v1/%40evil.com");
    }

    #[test]
    fn query_and_fragment_markers_in_a_path_value_stay_in_the_path() {
        let url = user_path("?x=1#frag").unwrap();
        assert_eq!(url.path(), "/v1/users/%3Fx%3D1%23frag");
        assert_eq!(url.query(), None);
        assert_under_base(&url);
    }

    #[test]
    fn unicode_and_backslashes_are_percent_encoded() {
        let url = user_path("ünï/ç\\..").unwrap();
        assert_eq!(url.path(), "/v1/users/%C3%BCn%C3%AF%2F%C3%A7%5C..");
        assert_under_base(&url);
    }

    #[test]
    fn empty_and_non_scalar_path_values_are_refused() {
        assert!(user_path("").is_err());
        for value in [
            Value::Null,
            Value::List(vec![Value::from(1)]),
            Value::Object(Default::default()),
        ] {
            let result = build_url(&base(), &[PathPart::Value(value)], &[]);
            assert!(matches!(result, Err(ConnectorError::BadInput { .. })));
        }
    }

    #[test]
    fn numbers_booleans_and_enums_are_written_as_text() {
        let url = build_url(
            &base(),
            &[
                PathPart::literal("/a/"),
                PathPart::value(42),
                PathPart::literal("/"),
                PathPart::value(true),
                PathPart::literal("/"),
                PathPart::Value(Value::Enum(crate::Name::new("RED"))),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(url.path(), "/v1/a/42/true/RED");
    }

    #[test]
    fn query_values_are_form_encoded_and_cannot_add_pairs() {
        let url = build_url(
            &base(),
            &[PathPart::literal("/search")],
            &[("q".into(), Value::from("a&admin=1#x y"))],
        )
        .unwrap();
        assert_eq!(url.query(), Some("q=a%26admin%3D1%23x+y"));
        let pairs: Vec<_> = url.query_pairs().collect();
        assert_eq!(pairs.len(), 1);
        assert_eq!(url.fragment(), None);
    }

    #[test]
    fn a_list_query_value_repeats_the_key_and_nulls_are_omitted() {
        let url = build_url(
            &base(),
            &[PathPart::literal("/users")],
            &[
                (
                    "id".into(),
                    Value::List(vec![Value::from(1), Value::Null, Value::from("2")]),
                ),
                ("after".into(), Value::Null),
            ],
        )
        .unwrap();
        assert_eq!(url.query(), Some("id=1&id=2"));
    }

    #[test]
    fn the_base_query_is_kept_and_its_fragment_dropped() {
        let base = Url::parse("https://h/api?key=k#top").unwrap();
        let url = build_url(
            &base,
            &[PathPart::literal("/x")],
            &[("a".into(), Value::from(1))],
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://h/api/x?key=k&a=1");
    }

    #[test]
    fn a_literal_that_normalises_away_is_refused() {
        // Literals are trusted, but what the parser would rewrite is still refused.
        for literal in [
            "/../admin",
            "/users/./x",
            "/users/%2E%2e/x",
            "/users/\\..\\admin",
        ] {
            let result = build_url(&base(), &[PathPart::literal(literal)], &[]);
            assert!(
                matches!(result, Err(ConnectorError::BadInput { .. })),
                "{literal}: {result:?}"
            );
        }
    }

    #[test]
    fn dotted_values_beside_dotted_literals_stay_data() {
        let url = build_url(
            &base(),
            &[PathPart::literal("/users/."), PathPart::value(".x/../..")],
            &[],
        )
        .unwrap();
        assert_eq!(url.path(), "/v1/users/..x%2F..%2F..");
        assert_under_base(&url);
    }

    #[test]
    fn a_url_on_another_origin_or_beside_the_base_path_is_not_under_the_base() {
        let base = base();
        for other in [
            "http://evil:8080/v1/x",
            "https://api.internal:8080/v1/x",
            "http://api.internal:9090/v1/x",
            "http://user@api.internal:8080/v1/x",
            "http://api.internal:8080/v1x",
            "http://api.internal:8080/admin",
        ] {
            let url = Url::parse(other).unwrap();
            assert!(ensure_under_base(&base, &url).is_err(), "{other}");
        }
        let url = Url::parse("http://api.internal:8080/v1/x/y").unwrap();
        assert!(ensure_under_base(&base, &url).is_ok());
    }
}
