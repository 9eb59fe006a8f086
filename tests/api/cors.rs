//! CORS (`[cors]`): nothing but the server's own origin by default, listed origins allowed
//! (requests and preflights), and the same list guarding WebSocket upgrades against
//! Cross-Site WebSocket Hijacking.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{codes, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::websocket::{TRANSPORT, WAIT};

const APP_ORIGIN: &str = "https://app.example.com";
const EVIL_ORIGIN: &str = "https://evil.example";

/// The `access-control-*` headers of a response.
fn cors_headers(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn post_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.addr))
        .header("origin", origin)
        .header("content-type", "application/json")
        .body(json!({"query": "{ greet }"}).to_string())
        .send()
        .await
        .expect("request")
}

async fn preflight_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.addr))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, graphql-require-preflight",
        )
        .send()
        .await
        .expect("request")
}

async fn listed_app(db: &TestDb) -> TestApp {
    spawn_app(Spawn::demo(db).settings(|s| {
        s.cors.allowed_origins = vec![APP_ORIGIN.to_string()];
        s.cors.allow_credentials = true;
        s.cors.max_age = "1h".into();
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_foreign_origin_gets_no_cors_header_and_its_preflight_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    // The request runs (CORS guards reading, not sending), but the browser may not read it.
    let res = post_from(&app, EVIL_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(cors_headers(res.headers()), Vec::<String>::new());
    let res = preflight_from(&app, EVIL_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(cors_headers(res.headers()), Vec::<String>::new());
    let body: Value = res.json().await.expect("json");
    assert_eq!(codes(&body), vec!["ORIGIN_NOT_ALLOWED"], "{body}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_gets_its_preflight_allowed_and_may_read_responses_with_credentials() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = listed_app(&db).await;
    let res = preflight_from(&app, APP_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 204);
    let h = res.headers();
    assert_eq!(
        header(h, "access-control-allow-origin").as_deref(),
        Some(APP_ORIGIN)
    );
    let methods = header(h, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = header(h, "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed.contains("content-type") && allowed.contains("graphql-require-preflight"),
        "{allowed}"
    );
    assert_eq!(header(h, "access-control-max-age").as_deref(), Some("3600"));
    assert_eq!(
        header(h, "access-control-allow-credentials").as_deref(),
        Some("true")
    );

    let res = post_from(&app, APP_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    assert_eq!(
        header(&h, "access-control-allow-origin").as_deref(),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        header(&h, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let vary: Vec<String> = h
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
        .collect();
    assert!(vary.iter().any(|v| v.contains("origin")), "{vary:?}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body,
        json!({"data": {"greet": "Welcome to the Tributary storefront"}})
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_list_an_origin_not_on_it_still_gets_no_cors_header() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = listed_app(&db).await;
    for origin in [EVIL_ORIGIN, "https://app.example.com.evil.example", "null"] {
        let res = post_from(&app, origin).await;
        assert_eq!(res.status().as_u16(), 200, "{origin}");
        assert_eq!(
            cors_headers(res.headers()),
            Vec::<String>::new(),
            "{origin}"
        );
        let res = preflight_from(&app, origin).await;
        assert_eq!(res.status().as_u16(), 403, "{origin}");
        assert_eq!(
            cors_headers(res.headers()),
            Vec::<String>::new(),
            "{origin}"
        );
    }
    app.stop().await;
    db.drop_db().await;
}

#[test]
fn an_allowed_origin_that_is_not_an_origin_is_a_settings_error_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("tributary-cors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("cors.toml");
    std::fs::write(
        &file,
        "[cors]\nallowed_origins = [\"https://app.example.com/\"]\n",
    )
    .expect("write");
    let err = tributary::config::Settings::load(
        &tributary::config::Environment::default(),
        &tributary::config::Overrides {
            config_file: Some(file),
            ..Default::default()
        },
    )
    .expect_err("a trailing slash is not an origin");
    assert!(err.to_string().contains("cors.allowed_origins"), "{err}");
    // From the environment, a comma-separated list.
    let env = tributary::config::Environment {
        vars: [(
            "TRIBUTARY_CORS__ALLOWED_ORIGINS".to_string(),
            "https://a.example, http://localhost:3000".to_string(),
        )]
        .into(),
    };
    let settings = tributary::config::Settings::load(&env, &Default::default()).expect("valid");
    assert_eq!(
        settings.cors.allowed_origins,
        vec!["https://a.example", "http://localhost:3000"]
    );
}

/// The HTTP status of a WebSocket upgrade sent with `origin` (none when `None`); on success
/// the connection is also initialised and acknowledged.
async fn upgrade_status(app: &TestApp, origin: Option<&str>) -> (u16, Value) {
    let url = format!("{}/graphql", app.addr.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", TRANSPORT.parse().expect("value"));
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert("origin", o.parse().expect("value"));
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade answers in time")
    {
        Ok((mut socket, response)) => {
            socket
                .send(Message::text(
                    json!({"type": "connection_init"}).to_string(),
                ))
                .await
                .expect("send");
            let ack = match tokio::time::timeout(WAIT, socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    serde_json::from_str(t.as_str()).unwrap_or(Value::Null)
                }
                _ => Value::Null,
            };
            (response.status().as_u16(), ack)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("the upgrade failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_from_a_foreign_page_is_refused_with_403_origin_not_allowed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = listed_app(&db).await;
    let (status, body) = upgrade_status(&app, Some(EVIL_ORIGIN)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(codes(&body), vec!["ORIGIN_NOT_ALLOWED"], "{body}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_without_origin_from_the_same_origin_or_a_listed_one_connects() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = listed_app(&db).await;
    let own = app.addr.clone();
    for origin in [None, Some(own.as_str()), Some(APP_ORIGIN)] {
        let (status, ack) = upgrade_status(&app, origin).await;
        assert_eq!(status, 101, "{origin:?}: {ack}");
        assert_eq!(ack, json!({"type": "connection_ack"}), "{origin:?}");
    }
    app.stop().await;
    db.drop_db().await;
}
