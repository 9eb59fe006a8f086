//! The one integration-test harness: spawns Tributary on port 0 against a real database and
//! talks to it over real HTTP.
//!
//! Every SQL test runs on SQLite (a fresh file) and, when `TEST_DATABASE_URL` is set, on
//! PostgreSQL too, each test in its own freshly created database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tributary::config::{Environment, Overrides, Settings};
use tributary::engine::Engine;
use tributary::App;
use tributary_connectors::http::HttpSource;
use tributary_connectors::sql::SqlSource;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run SQL tests on: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        b.push(Backend::Postgres);
    }
    b
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    admin_url: Option<String>,
    name: String,
    file: Option<PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("tributary-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let name = unique("db");
                let file = dir.join(format!("{name}.db"));
                TestDb {
                    backend,
                    url: format!("sqlite://{}", file.display()),
                    admin_url: None,
                    name,
                    file: Some(file),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let name = unique("tributary_test");
                let mut conn = sqlx::postgres::PgConnection::connect_with_url(&admin).await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let url = replace_db_name(&admin, &name);
                TestDb {
                    backend,
                    url,
                    admin_url: Some(admin),
                    name,
                    file: None,
                }
            }
        }
    }

    /// Runs SQL directly against the database (fixtures, sabotage).
    pub async fn exec(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                use sqlx::ConnectOptions;
                let opts: sqlx::sqlite::SqliteConnectOptions = self
                    .url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .expect("url")
                    .create_if_missing(true);
                let mut conn = opts.connect().await.expect("connect sqlite");
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .expect("exec sqlite");
            }
            Backend::Postgres => {
                let mut conn = sqlx::postgres::PgConnection::connect_with_url(&self.url).await;
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .expect("exec postgres");
            }
        }
    }

    pub async fn drop_db(&self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some(admin) = &self.admin_url {
            let mut conn = sqlx::postgres::PgConnection::connect_with_url(admin).await;
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

trait ConnectUrl {
    async fn connect_with_url(url: &str) -> sqlx::postgres::PgConnection;
}

impl ConnectUrl for sqlx::postgres::PgConnection {
    async fn connect_with_url(url: &str) -> sqlx::postgres::PgConnection {
        use sqlx::Connection;
        sqlx::postgres::PgConnection::connect(url)
            .await
            .expect("connect postgres")
    }
}

fn replace_db_name(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut out = match path_start {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => format!("{base}/{db}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// How to spawn an app.
pub struct Spawn {
    /// The schema file (default: the demo `schema.graphql`).
    pub schema: PathBuf,
    /// Environment snapshot additions (e.g. `DATABASE_URL`).
    pub env: HashMap<String, String>,
    /// Settings overrides applied after defaults.
    pub settings: Box<dyn FnOnce(&mut Settings) + Send>,
}

impl Spawn {
    pub fn demo(db: &TestDb) -> Spawn {
        Spawn {
            schema: repo_path("schema.graphql"),
            env: HashMap::from([("DATABASE_URL".to_string(), db.url.clone())]),
            settings: Box::new(|_| {}),
        }
    }

    pub fn with_schema(db: &TestDb, sdl: &str) -> Spawn {
        let dir = std::env::temp_dir().join("tributary-tests");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{}.graphql", unique("schema")));
        std::fs::write(&path, sdl).expect("write schema");
        Spawn {
            schema: path,
            env: HashMap::from([("DATABASE_URL".to_string(), db.url.clone())]),
            settings: Box::new(|s| s.database.migrate = Some(false)),
        }
    }

    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + Send + 'static) -> Spawn {
        let prev = self.settings;
        self.settings = Box::new(move |s| {
            prev(s);
            f(s);
        });
        self
    }
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    /// The schema's first SQL source; `None` for a schema with HTTP sources only.
    pub sql: Option<Arc<dyn SqlSource>>,
    /// The running engine (its sources count statements and upstream calls).
    pub engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn settings_for(spawn: &Spawn) -> Settings {
    let env = Environment {
        vars: spawn.env.clone(),
    };
    let overrides = Overrides {
        schema: Some(spawn.schema.clone()),
        listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    Settings::load(&env, &overrides).expect("settings")
}

/// Builds the app; the error text if it does not start.
pub async fn try_spawn(spawn: Spawn) -> Result<TestApp, String> {
    let mut settings = settings_for(&spawn);
    if spawn.schema.starts_with(repo_path("")) {
        settings.database.migrations = Some(repo_path("demo/migrations"));
    }
    (spawn.settings)(&mut settings);
    let env = Environment {
        vars: spawn.env.clone(),
    };
    let app = App::build(settings, &env)
        .await
        .map_err(|e| e.to_string())?;
    let addr = format!("http://127.0.0.1:{}", app.port());
    let sql = app.engine().sql_sources().first().map(|(_, s)| s.clone());
    let engine = app.engine().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Ok(TestApp {
        addr,
        client: reqwest::Client::new(),
        sql,
        engine,
        stop: Some(tx),
        handle,
    })
}

pub async fn spawn_app(spawn: Spawn) -> TestApp {
    match try_spawn(spawn).await {
        Ok(app) => app,
        Err(e) => panic!("app did not start:\n{e}"),
    }
}

impl TestApp {
    /// POSTs a query; returns the status and the JSON body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/graphql", self.addr))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.expect("json body");
        (status, body)
    }

    /// POSTs `body` exactly as given (a JSON request), accepting `accept`.
    pub async fn post_body(&self, body: String, accept: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/graphql", self.addr))
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a query and returns the body, asserting HTTP 200.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "unexpected status, body: {body}");
        body
    }

    pub fn statements(&self) -> u64 {
        self.sql
            .as_ref()
            .expect("the schema has no SQL source")
            .statements_executed()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The HTTP source called `name` (it counts upstream attempts: `calls_made`).
    pub fn http_source(&self, name: &str) -> Arc<dyn HttpSource> {
        self.engine()
            .http_sources()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no HTTP source named {name}"))
    }

    /// Stops the server (as SIGTERM would) and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.handle).await;
    }

    pub fn trigger_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The error codes in a response, in order.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The Node tooling under `tests/js` (graphql-http, graphql-js, playwright-core), installed
/// once per test run with `npm ci` when `node_modules` is missing, so the README's test command
/// needs nothing but Node.js and npm on the machine. Returns the package directory.
///
/// Panics (failing the test) when Node.js or npm is missing or the install fails: these tests
/// are part of the suite, not optional.
pub fn js_tooling() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let dir = repo_path("tests/js");
        if dir.join("node_modules/.package-lock.json").exists() {
            return Ok(dir);
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("npm is needed for the JS-driven tests: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci in tests/js failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(dir)
    });
    match result {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Runs `node <script> <args…>` in `tests/js` and returns (success, stdout, stderr).
pub async fn run_node(script: &str, args: &[&str]) -> (bool, String, String) {
    let dir = js_tooling();
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
