//! Shared pieces of the persisted query, trusted document and request limit tests: raw POST
//! and GET requests with any parameters, and the demo app with settings.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tributary::config::Settings;

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const APPLICATION_JSON: &str = "application/json";

/// A response as the client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> String {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_string()
    }

    pub fn cache_control(&self) -> String {
        self.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string()
    }

    /// Asserts a successful answer (200, data, no errors).
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "status, body: {}", self.body);
        assert!(self.body.get("errors").is_none(), "errors: {}", self.body);
        assert!(self.body.get("data").is_some(), "data: {}", self.body);
    }
}

/// POSTs `body` (any JSON) accepting `accept`.
pub async fn post(app: &TestApp, body: Value, accept: &str) -> Reply {
    let res = app
        .client
        .post(format!("{}/graphql", app.addr))
        .header("content-type", "application/json")
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("request");
    reply(res).await
}

/// GETs `/graphql` with `params` accepting `accept`.
pub async fn get(app: &TestApp, params: &[(&str, &str)], accept: &str) -> Reply {
    let res = app
        .client
        .get(format!("{}/graphql", app.addr))
        .query(params)
        .header("accept", accept)
        .send()
        .await
        .expect("request");
    reply(res).await
}

async fn reply(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    Reply {
        status,
        headers,
        body,
    }
}

/// `extensions` of an APQ request.
pub fn persisted(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

pub fn sha256(text: &str) -> String {
    tributary::server::documents::sha256_hex(text)
}

/// The demo storefront on SQLite with `settings` applied; keep the database alive with it.
pub async fn demo_app(settings: impl FnOnce(&mut Settings) + Send + 'static) -> (TestApp, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut spawn = Spawn::demo(&db).settings(settings);
    spawn.env.remove("REDIS_URL");
    let app = spawn_app(spawn).await;
    (app, db)
}

/// A file under the temp dir with `text`, named uniquely.
pub fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("tributary-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).expect("write temp file");
    path
}
