//! Shared pieces of the `@cache` tests: the cache backends to run on (in memory always, the
//! real Redis of `TEST_REDIS_URL` too when set), requests with client headers, and a Redis
//! server of a test's own that it can stop and restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Spawn, TestApp};

/// Where `@cache` entries live for a run.
#[derive(Clone, Debug)]
pub enum CacheBackend {
    Memory,
    Redis(String),
}

/// The cache backends to run on: in memory always, Redis when `TEST_REDIS_URL` is set.
pub fn cache_backends() -> Vec<CacheBackend> {
    let mut out = vec![CacheBackend::Memory];
    if let Some(url) = test_redis_url() {
        out.push(CacheBackend::Redis(url));
    }
    out
}

pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A key prefix no other test (or run) uses, so that tests sharing a Redis never collide.
pub fn unique_prefix(test: &str) -> String {
    format!("tributary-test:{test}:{}:", uuid::Uuid::new_v4().simple())
}

/// `spawn` using `backend` for the cache, under `prefix` in Redis.
pub fn on_cache(mut spawn: Spawn, backend: &CacheBackend, prefix: &str) -> Spawn {
    spawn.env.remove("REDIS_URL");
    if let CacheBackend::Redis(url) = backend {
        spawn.env.insert("REDIS_URL".to_string(), url.clone());
    }
    let prefix = prefix.to_string();
    spawn.settings(move |s| s.cache.prefix = prefix)
}

/// Spawns `spawn` with its cache on `backend` (under a fresh prefix named after `test`), and
/// checks the app really uses that backend.
pub async fn spawn_cached(spawn: Spawn, backend: &CacheBackend, test: &str) -> TestApp {
    let app = spawn_app(on_cache(spawn, backend, &unique_prefix(test))).await;
    let expected = match backend {
        CacheBackend::Memory => "memory",
        CacheBackend::Redis(_) => "redis",
    };
    assert_eq!(app.engine().cache().backend(), expected);
    app
}

/// `spawn` with its cache in the Redis at `url`, under `prefix`.
pub fn with_redis(spawn: Spawn, url: &str, prefix: &str) -> Spawn {
    on_cache(spawn, &CacheBackend::Redis(url.to_string()), prefix)
}

/// A response as the client sees it.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn cache_control(&self) -> String {
        self.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string()
    }
}

/// POSTs `query` with the client headers `headers`.
pub async fn send(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.addr))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": query}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json::<Value>().await.expect("json body");
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs `query` with `headers` and returns its body, asserting HTTP 200 and no errors.
pub async fn read_ok(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Value {
    let reply = send(app, query, headers).await;
    assert_eq!(reply.status, 200, "status, body: {}", reply.body);
    assert!(
        reply.body.get("errors").is_none(),
        "no errors: {}",
        reply.body
    );
    reply.body
}

pub async fn pause_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A `redis-server` of the test's own on a free loopback port (no persistence), which the
/// test may stop and start again on the same port. Killed when dropped.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> OwnRedis {
        let port = crate::http_upstream::closed_port().await;
        let mut redis = OwnRedis { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("/usr/bin/redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/redis-server");
        self.child = Some(child);
        for _ in 0..100 {
            if self.ping().await {
                return;
            }
            pause_ms(20).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server (this test's own child only) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await,
            Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")
        )
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
