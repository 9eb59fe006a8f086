//! Response compression (`server.compression`): gzip and brotli by `Accept-Encoding`, decoded
//! here by hand (the tests' client never decompresses) and compared with the plain body.

use std::io::Read;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::websocket::{TRANSPORT, WAIT};

/// About 1.7 KB of JSON: above the 1 KiB minimum.
const BIG: &str = "{ products(first: 20) { id sku name priceCents } }";
const TINY: &str = "{ greet }";

/// POSTs `query`, asking for `encoding` (none when `None`); returns the
/// `Content-Encoding`, the `Vary` values and the raw body bytes.
async fn post(
    app: &TestApp,
    query: &str,
    encoding: Option<&str>,
) -> (Option<String>, Vec<String>, Vec<u8>) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.addr))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string());
    if let Some(e) = encoding {
        req = req.header("accept-encoding", e);
    }
    let res = req.send().await.expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let encoding = res
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let vary = vary_values(res.headers());
    let bytes = res.bytes().await.expect("body").to_vec();
    (encoding, vary, bytes)
}

/// Every `Vary` value, lower-case.
fn vary_values(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
        .collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_brotli_responses_decode_to_exactly_the_uncompressed_body() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let (encoding, _, plain) = post(&app, BIG, None).await;
    assert_eq!(encoding, None, "nothing asked, nothing compressed");
    assert!(plain.len() > 1024, "{} bytes", plain.len());
    let parsed: Value = serde_json::from_slice(&plain).expect("json");
    assert_eq!(
        parsed["data"]["products"].as_array().map(Vec::len),
        Some(20)
    );

    let (encoding, vary, gz) = post(&app, BIG, Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert!(
        vary.iter().any(|v| v.contains("accept-encoding")),
        "{vary:?}"
    );
    assert!(gz.len() < plain.len(), "{} vs {}", gz.len(), plain.len());
    assert_eq!(gunzip(&gz), plain);

    let (encoding, _, br) = post(&app, BIG, Some("br")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(br.len() < plain.len(), "{} vs {}", br.len(), plain.len());
    assert_eq!(unbrotli(&br), plain);

    // The client's preference (q-values) is honoured.
    let (encoding, _, body) = post(&app, BIG, Some("gzip;q=0.5, br;q=1")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert_eq!(unbrotli(&body), plain);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_without_accept_encoding_is_sent_plain_but_says_it_varies_by_encoding() {
    // A GET response may be stored by an HTTP cache, which must not hand this plain copy to
    // every client without knowing that the encoding was negotiated (POSTs skip this).
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let res = app
        .client
        .get(format!("{}/graphql", app.addr))
        .query(&[("query", BIG)])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("content-encoding").is_none());
    let vary = vary_values(res.headers());
    assert!(
        vary.iter().any(|v| v.contains("accept-encoding")),
        "{vary:?}"
    );
    let body: Value = res.json().await.expect("plain JSON");
    assert_eq!(body["data"]["products"].as_array().map(Vec::len), Some(20));
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_under_the_minimum_size_is_sent_uncompressed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let (encoding, _, body) = post(&app, TINY, Some("gzip, br")).await;
    assert_eq!(encoding, None);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("plain json"),
        json!({"data": {"greet": "Welcome to the Tributary storefront"}})
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_compression_off_nothing_is_compressed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db).settings(|s| s.server.compression = false)).await;
    let (encoding, _, body) = post(&app, BIG, Some("gzip, br")).await;
    assert_eq!(encoding, None);
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_asking_for_compression_is_never_compressed_and_works() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let url = format!("{}/graphql", app.addr.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", TRANSPORT.parse().expect("value"));
    headers.insert(
        "accept-encoding",
        "gzip, deflate, br".parse().expect("value"),
    );
    let (mut socket, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("in time")
            .expect("the upgrade succeeds");
    assert_eq!(response.status().as_u16(), 101);
    assert!(response.headers().get("content-encoding").is_none());
    socket
        .send(Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await
        .expect("send");
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": BIG}}).to_string(),
        ))
        .await
        .expect("send");
    let mut messages = Vec::new();
    while messages.len() < 3 {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("plain JSON message");
                if v["type"] != "ping" {
                    messages.push(v);
                }
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("the socket ended early: {other:?}"),
        }
    }
    assert_eq!(messages[0]["type"], "connection_ack");
    assert_eq!(messages[1]["type"], "next");
    assert_eq!(
        messages[1]["payload"]["data"]["products"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    assert_eq!(messages[2], json!({"id": "1", "type": "complete"}));
    app.stop().await;
    db.drop_db().await;
}
