//! Real loopback upstreams for the `@http` tests: small axum apps on `127.0.0.1:0` that record
//! every request they receive (method, raw path, query, headers, arrival time), and raw TCP
//! servers that misbehave below HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub at: Instant,
}

/// Everything an upstream received.
#[derive(Default)]
pub struct Hits {
    total: AtomicU64,
    log: Mutex<Vec<Hit>>,
}

impl Hits {
    fn record(&self, request: &Request) {
        let hit = Hit {
            method: request.method().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().map(String::from),
            headers: request.headers().clone(),
            at: Instant::now(),
        };
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(hit);
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    /// Requests received, whatever their path.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    pub fn all(&self) -> Vec<Hit> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests for exactly `path`, any method.
    pub fn count(&self, path: &str) -> usize {
        self.all().iter().filter(|h| h.path == path).count()
    }

    /// Requests for exactly `method path`.
    pub fn count_method(&self, method: &str, path: &str) -> usize {
        self.all()
            .iter()
            .filter(|h| h.method == method && h.path == path)
            .count()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.all()
            .iter()
            .filter(|h| h.path.starts_with(prefix))
            .count()
    }

    /// The requests for exactly `path`, in arrival order.
    pub fn of(&self, path: &str) -> Vec<Hit> {
        self.all().into_iter().filter(|h| h.path == path).collect()
    }
}

async fn record(State(hits): State<Arc<Hits>>, request: Request, next: Next) -> Response {
    hits.record(&request);
    next.run(request).await
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such route").into_response()
}

/// A running upstream; stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<Hits>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Serves `router` on a free loopback port, recording every request (unmatched ones too:
    /// a router without a fallback gets one answering 404).
    pub async fn start(router: Router) -> Upstream {
        let hits = Arc::new(Hits::default());
        let router = router
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(hits.clone(), record));
        Upstream::serve(router, hits).await
    }

    /// Like [`start`](Self::start) for a router that already has its own fallback.
    pub async fn start_with_fallback(router: Router) -> Upstream {
        let hits = Arc::new(Hits::default());
        let router = router.layer(middleware::from_fn_with_state(hits.clone(), record));
        Upstream::serve(router, hits).await
    }

    async fn serve(router: Router, hits: Arc<Hits>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Upstream { addr, hits, task }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    port
}

/// A raw TCP server that answers every request with a 200 JSON head promising 100 bytes,
/// sends 11 of them, then closes the connection. Returns its address and a connection count.
pub struct CutServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl CutServer {
    pub async fn start() -> CutServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicU64::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(b"{\"message\":").await;
                    let _ = stream.flush().await;
                    // Dropping the stream closes the connection 89 bytes short.
                });
            }
        });
        CutServer {
            addr,
            connections,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CutServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The error of `body` whose `path` is `path`.
pub fn error_at<'a>(body: &'a Value, path: &[Value]) -> Option<&'a Value> {
    body["errors"]
        .as_array()?
        .iter()
        .find(|e| e["path"].as_array().is_some_and(|p| p.as_slice() == path))
}

/// Decodes `%XX` escapes (the upstream sees path segments percent-encoded).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
