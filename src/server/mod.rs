//! The HTTP server: axum routes for GraphQL, health and the playground, and the application
//! lifecycle (`App::build` → `port()` → `run_until_stopped()`), with graceful shutdown.
//!
//! # Layout
//! - [`graphql_http`]: `POST`/`GET /graphql` per the GraphQL over HTTP spec.
//! - [`health`]: `/healthz` (alive) and `/readyz` (sources reachable).
//! - [`batch`]: a JSON array of requests in one POST.
//! - [`csrf`], [`cors`]: what browsers may send and read cross-origin; around every route,
//!   with response compression ([`browser_layers`]).
//! - [`documents`]: persisted queries, trusted documents and request limits: request
//!   parameters → the document to run (HTTP and WebSocket).
//! - [`playground`]: the embedded GraphiQL at `/` and its assets.

pub mod batch;
pub mod compression;
pub mod constant;
pub mod cors;
pub mod csrf;
pub mod documents;
pub mod graphql_http;
pub mod health;
pub mod playground;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::{Environment, Settings};
use crate::engine::{BuildError, Engine};

/// Why the application could not start; each message names what and where.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read schema file {path}: {reason}\n  hint: pass the file with --schema or set schema.path")]
    SchemaFile { path: String, reason: String },
    #[error("{0}")]
    Schema(#[from] tributary_schema::Diagnostics),
    #[error("{0}")]
    Build(#[from] BuildError),
    #[error("{0}")]
    Documents(#[from] documents::DocumentsError),
    #[error("cannot listen on {addr}: {reason}\n  hint: choose another address with --listen or server.listen")]
    Listen { addr: String, reason: String },
}

/// Shared state of the HTTP handlers: one reference-counted pointer, because axum clones the
/// state for every request (a struct of many `Arc`s cost measurably on tiny requests).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Handlers>);

impl std::ops::Deref for AppState {
    type Target = Handlers;

    fn deref(&self) -> &Handlers {
        &self.0
    }
}

/// What every handler reads (see [`AppState`]).
pub struct Handlers {
    pub engine: Engine,
    pub max_body_bytes: usize,
    /// Operation-level sharing of identical in-flight queries (`server.sharing`).
    pub sharing: bool,
    pub in_flight: std::sync::Arc<graphql_http::InFlight>,
    /// Refuse POSTs that could be cross-site request forgeries (`server.csrf_prevention`).
    pub csrf_prevention: bool,
    /// Most requests in one batched POST; `None`: batching is off (`graphql.batching`).
    pub max_batch_size: Option<usize>,
    /// Persisted queries, trusted documents and request limits.
    pub documents: std::sync::Arc<documents::Documents>,
    /// Serve the playground (`playground.enabled`).
    pub playground: bool,
    /// Kept responses of constant operations; `None` when off.
    pub constant: Option<constant::ConstantResponses>,
    /// WebSocket limits, timings and connection count.
    pub ws: std::sync::Arc<ws::WsState>,
    /// Allowed origins (the WebSocket upgrade checks `Origin` against them).
    pub cors: std::sync::Arc<cors::Cors>,
}

pub struct App {
    listener: TcpListener,
    router: Router,
    engine: Engine,
    shutdown_timeout: Duration,
    /// Kept alive while the app runs (dropping it stops the demo services).
    _demo: Option<tributary_demo::DemoServices>,
}

impl App {
    /// Reads and checks the schema, connects and checks sources, binds the listener.
    pub async fn build(settings: Settings, env: &Environment) -> Result<App, StartError> {
        let path = settings.schema.path.display().to_string();
        let sdl =
            std::fs::read_to_string(&settings.schema.path).map_err(|e| StartError::SchemaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        // The demo's services, in-process on free loopback ports: their addresses become the
        // defaults of REVIEWS_URL / INVENTORY_URL (set variables win).
        let mut env = env.clone();
        let demo = if settings.demo_services() {
            let services = tributary_demo::start(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(|e| StartError::Listen {
                    addr: "127.0.0.1:0 (demo services)".into(),
                    reason: e.to_string(),
                })?;
            env.vars
                .entry("REVIEWS_URL".into())
                .or_insert_with(|| services.reviews_url.clone());
            env.vars
                .entry("INVENTORY_URL".into())
                .or_insert_with(|| services.inventory_url.clone());
            tracing::info!(
                reviews = %services.reviews_url,
                inventory = %services.inventory_url,
                "demo services started"
            );
            Some(services)
        } else {
            None
        };
        let blueprint = tributary_schema::build(&path, &sdl, &env.vars)?;
        let engine = Engine::build(&blueprint, &settings.engine_options()).await?;
        let documents = std::sync::Arc::new(documents::Documents::from_settings(&settings).await?);
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .map_err(|e| StartError::Listen {
                addr: settings.server.listen.clone(),
                reason: e.to_string(),
            })?;
        let cors = cors::Cors::new(&settings);
        let state = AppState(std::sync::Arc::new(Handlers {
            engine: engine.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            sharing: settings.server.sharing,
            in_flight: Default::default(),
            csrf_prevention: settings.server.csrf_prevention,
            max_batch_size: settings
                .graphql
                .batching
                .then_some(settings.graphql.max_batch_size),
            constant: (settings.trusted_documents.mode
                != crate::config::TrustedDocumentsMode::LogUnknown)
                .then(|| constant::ConstantResponses::new(settings.server.constant_response_bytes))
                .flatten(),
            documents,
            playground: settings.playground(),
            ws: ws::WsState::new(&settings),
            cors: cors.clone(),
        }));
        let router = browser_layers(router(state), cors, &settings);
        Ok(App {
            listener,
            router,
            engine,
            shutdown_timeout: settings.shutdown_timeout(),
            _demo: demo,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until SIGTERM or Ctrl-C, then drains.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes; then stops accepting, lets in-flight requests finish
    /// within the shutdown timeout, and closes the sources.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let signal = async move {
            stop.await;
            tracing::info!("shutdown requested, draining in-flight requests");
            let _ = stopping_tx.send(true);
        };
        let addr = self.local_addr();
        tracing::info!(%addr, "tributary listening");
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(signal);
        let deadline = async move {
            let _ = stopping_rx.wait_for(|s| *s).await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result?,
            _ = deadline => tracing::warn!("shutdown timeout reached, dropping remaining requests"),
        }
        self.engine.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(ws::get_graphql).post(graphql_http::post_graphql),
        )
        .route("/", get(playground::index))
        .route(
            "/playground/{digest}/assets/{*file}",
            get(playground::asset),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Around every route: CORS (and its policy for the WebSocket Origin check) and, when
/// `server.compression` is on, gzip/brotli compression of responses of at least
/// `server.compression_min_bytes` (never a WebSocket upgrade, images or event streams).
pub fn browser_layers(router: Router, policy: Arc<cors::Cors>, settings: &Settings) -> Router {
    let router = router.layer(cors::CorsLayer(policy));
    if !settings.server.compression {
        return router;
    }
    router.layer(compression::CompressionLayer {
        min_bytes: settings.server.compression_min_bytes,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
