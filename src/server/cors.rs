//! CORS with an explicit origin allow-list (`[cors]`), and the Origin check of WebSocket
//! upgrades.
//!
//! Tributary's own middleware rather than tower-http's `CorsLayer`, which sends
//! `Access-Control-Allow-Methods`/`-Headers`/`-Credentials` to every origin (only
//! `Access-Control-Allow-Origin` depends on the list). Here an origin that is not listed gets
//! no CORS header at all:
//!
//! - **Listed origin**: a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered
//!   204 with `Access-Control-Allow-Origin` (the origin itself, never `*`),
//!   `-Allow-Methods: GET, POST`, `-Allow-Headers` (the requested ones), `-Max-Age`
//!   (`cors.max_age`) and, with `cors.allow_credentials`, `-Allow-Credentials: true`; other
//!   requests run and get `Access-Control-Allow-Origin` (and `-Allow-Credentials`).
//! - **Any other origin** (the default list is empty): requests run unchanged, so the browser
//!   keeps the response from the page; a preflight is refused with 403 `ORIGIN_NOT_ALLOWED`
//!   and no CORS header. Same-origin pages need no CORS at all.
//! - `Vary: Origin` is on every response once the list is not empty, so a shared cache never
//!   serves one origin's headers to another.
//!
//! CORS only decides what a page may *read*; writes are kept from cross-site pages by CSRF
//! prevention ([`super::csrf`]). Browsers apply neither to WebSockets: any page can open a
//! socket to any server, sending its cookies (Cross-Site WebSocket Hijacking). So the upgrade
//! handler checks `Origin` against the same list ([`Cors::websocket_allowed`]): no `Origin`
//! (not a browser), the server's own origin, or a listed one.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::{parse_duration, Settings};

/// Error code of a refused preflight or WebSocket upgrade.
pub const ORIGIN_NOT_ALLOWED: &str = "ORIGIN_NOT_ALLOWED";

/// The CORS policy of one server.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Serialized origins, lowercase, as browsers send them.
    allowed: Vec<String>,
    allow_credentials: bool,
    max_age: Duration,
}

impl Cors {
    pub fn new(settings: &Settings) -> Arc<Cors> {
        let c = &settings.cors;
        Arc::new(Cors {
            allowed: c
                .allowed_origins
                .iter()
                .map(|o| o.trim().to_ascii_lowercase())
                .collect(),
            allow_credentials: c.allow_credentials,
            max_age: parse_duration(&c.max_age).unwrap_or(Duration::from_secs(600)),
        })
    }

    /// Whether `origin` is on the allow-list.
    pub fn is_listed(&self, origin: &str) -> bool {
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
    }

    /// Whether a WebSocket upgrade with these headers may proceed: no `Origin` (not a
    /// browser), the server's own origin, or a listed one.
    pub fn websocket_allowed(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => origin
                .to_str()
                .is_ok_and(|o| self.is_listed(o) || is_same_origin(o, headers)),
        }
    }
}

/// Checks one `cors.allowed_origins` entry: a serialized origin, `http(s)://host[:port]`
/// with no path, query, user or trailing slash (what browsers send in `Origin`).
pub fn check_origin(origin: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "\"{origin}\" is not an origin ({why}); expected scheme://host[:port], e.g. \"https://app.example.com\""
        ))
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return bad("no scheme");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return bad("the scheme must be http or https");
    }
    if authority.is_empty() {
        return bad("no host");
    }
    if authority.contains(['/', '?', '#', '@', '*', ' ']) {
        return bad("an origin has no path, query, user, wildcard or trailing slash");
    }
    if let Some((_, port)) = authority.rsplit_once(':') {
        if !authority.ends_with(']') && port.parse::<u16>().is_err() {
            return bad("the port is not a number");
        }
    }
    Ok(())
}

/// Whether `origin` is the server's own, as the request addressed it: the origin's
/// `host[:port]` equals the request's `Host` (which a browser sets and a page cannot).
/// The scheme is not compared, since TLS may end at a proxy in front of Tributary.
pub fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host.trim().eq_ignore_ascii_case(authority))
}

fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The CORS layer around every route (see the module docs).
#[derive(Clone)]
pub struct CorsLayer(pub Arc<Cors>);

impl<S> tower::Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> CorsService<S> {
        CorsService {
            cors: self.0.clone(),
            inner,
        }
    }
}

/// [`CorsLayer`]'s service. A tower service of its own rather than `middleware::from_fn`: the
/// common request (no `Origin`, or an unlisted one, and an empty allow-list) passes straight
/// to the route's future, without the boxed future and service clone `from_fn` costs on every
/// request.
#[derive(Clone)]
pub struct CorsService<S> {
    cors: Arc<Cors>,
    inner: S,
}

type Answer = Result<Response, std::convert::Infallible>;

impl<S> tower::Service<Request> for CorsService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        futures::future::Ready<Answer>,
        futures::future::Either<S::Future, futures::future::BoxFuture<'static, Answer>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures::future::{ready, Either, FutureExt};
        let cors = &self.cors;
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .filter(|o| cors.is_listed(o))
            .and_then(|o| HeaderValue::from_str(o).ok());
        let vary = !cors.allowed.is_empty();
        if is_preflight(&request) {
            let mut response = match &origin {
                Some(origin) => preflight_answer(cors, origin, request.headers()),
                None => {
                    let body = json!({"errors": [{
                        "message": "this origin is not allowed to call the API (cors.allowed_origins)",
                        "extensions": {"code": ORIGIN_NOT_ALLOWED}
                    }]});
                    let mut res = (StatusCode::FORBIDDEN, body.to_string()).into_response();
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json; charset=utf-8"),
                    );
                    res
                }
            };
            if vary {
                add_vary(&mut response);
            }
            return Either::Left(ready(Ok(response)));
        }
        let future = self.inner.call(request);
        if origin.is_none() && !vary {
            return Either::Right(Either::Left(future));
        }
        let allow_credentials = cors.allow_credentials;
        Either::Right(Either::Right(
            future
                .map(move |answer| {
                    let mut res = match answer {
                        Ok(res) => res,
                        Err(never) => match never {},
                    };
                    let headers = res.headers_mut();
                    if let Some(origin) = origin {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                        if allow_credentials {
                            headers.insert(
                                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                                HeaderValue::from_static("true"),
                            );
                        }
                    }
                    if vary {
                        add_vary(&mut res);
                    }
                    Ok(res)
                })
                .boxed(),
        ))
    }
}

fn add_vary(response: &mut Response) {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
}

fn preflight_answer(cors: &Cors, origin: &HeaderValue, request: &HeaderMap) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    if let Some(requested) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&cors.max_age.as_secs().to_string()) {
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, v);
    }
    if cors.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    headers.append(
        header::VARY,
        HeaderValue::from_static("access-control-request-method, access-control-request-headers"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
            "http://[::1]",
        ] {
            assert!(check_origin(good).is_ok(), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://example.com",
            "https://*.example.com",
            "*",
            "null",
            "http://localhost:x",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn same_origin_compares_the_origin_authority_with_the_host_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert!(is_same_origin("http://127.0.0.1:8000", &headers));
        assert!(is_same_origin("https://127.0.0.1:8000", &headers));
        assert!(!is_same_origin("http://127.0.0.1:8001", &headers));
        assert!(!is_same_origin("http://evil.example", &headers));
        assert!(!is_same_origin("null", &headers));
    }
}
