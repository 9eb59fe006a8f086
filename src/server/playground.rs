//! The self-hosted GraphiQL playground: `playground/dist` (built from `playground/` with
//! Vite and committed) embedded in the binary by `build.rs`, so it needs neither Node.js nor
//! the internet.
//!
//! - `GET /` (and `GET /graphql` asking for `text/html` without a `query`) answers the page.
//! - `GET /playground/{digest}/assets/{file}` answers the scripts, styles, fonts and Monaco's
//!   workers. The digest covers the whole build, so a new build has new URLs and the assets
//!   can be cached for a year (`immutable`); the page itself is `no-cache`. A wrong digest or
//!   an unknown file is a 404.
//! - The page carries a Content-Security-Policy that allows scripts, styles, fonts and
//!   workers from this origin only.
//!
//! `playground.enabled` turns it all off (the default in production): then `/` and the assets
//! are 404 and `GET /graphql` is plain GraphQL over HTTP whatever `Accept` says.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));
}

pub use embedded::DIGEST;

/// Where the page's relative `./assets/…` references point.
pub fn assets_base() -> String {
    format!("/playground/{DIGEST}/assets/")
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; \
     connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

/// The page with its asset references made absolute (it is served at `/` and `/graphql`).
static INDEX: LazyLock<Option<String>> = LazyLock::new(|| {
    let html = file("index.html")?;
    let html = std::str::from_utf8(html).ok()?;
    let base = assets_base();
    Some(
        html.replace("\"./assets/", &format!("\"{base}"))
            .replace("'./assets/", &format!("'{base}")),
    )
});

fn file(path: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .binary_search_by(|(p, _)| (*p).cmp(path))
        .ok()
        .and_then(|i| embedded::ASSETS.get(i))
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ttf" => "font/ttf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The playground page, or 404 when the build is missing.
pub fn page() -> Response {
    let Some(html) = INDEX.as_deref() else {
        return not_found();
    };
    let mut res = html.to_owned().into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `GET /`: the page when the playground is enabled.
pub async fn index(State(state): State<AppState>) -> Response {
    if state.playground {
        page()
    } else {
        not_found()
    }
}

/// `GET /playground/{digest}/assets/{*file}`.
pub async fn asset(
    State(state): State<AppState>,
    Path((digest, file_path)): Path<(String, String)>,
) -> Response {
    if !state.playground || digest != DIGEST {
        return not_found();
    }
    let path = format!("assets/{file_path}");
    let Some(bytes) = file(&path) else {
        return not_found();
    };
    let mut res = bytes.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_is_sorted_so_lookups_find_every_file() {
        for (path, bytes) in embedded::ASSETS {
            assert_eq!(file(path).map(<[u8]>::len), Some(bytes.len()), "{path}");
        }
        assert!(file("../Cargo.toml").is_none());
        assert!(file("").is_none());
    }

    #[test]
    fn the_page_references_its_assets_under_the_digest() {
        let html = INDEX.as_deref().unwrap_or_default();
        assert!(html.contains(&assets_base()), "{html}");
        assert!(!html.contains("./assets/"), "{html}");
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("assets/index.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/index.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("assets/codicon.ttf"), "font/ttf");
        assert_eq!(content_type("assets/noext"), "application/octet-stream");
    }
}
