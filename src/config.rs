//! Settings: one struct tree, layered as compiled defaults → `tributary.toml` (optional) →
//! `TRIBUTARY_SECTION__KEY` environment variables → command-line flags.
//!
//! This is the only module that reads the environment. It takes one snapshot, which also
//! feeds `{{env.X}}` templates in `schema.graphql`. Unknown keys, in the file or the
//! environment, are errors that name the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub schema: SchemaSettings,
    pub database: DatabaseSettings,
    pub graphql: GraphqlSettings,
    pub http: HttpSettings,
    pub cache: CacheSettings,
    pub redis: RedisSettings,
    pub demo: DemoSettings,
    pub log: LogSettings,
    pub websocket: WebsocketSettings,
    pub cors: CorsSettings,
    pub apq: ApqSettings,
    pub trusted_documents: TrustedDocumentsSettings,
    pub playground: PlaygroundSettings,
}

/// The self-hosted GraphiQL playground at `GET /` (see `server::playground`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundSettings {
    /// Serve it (default: on in development, off in production).
    pub enabled: Option<bool>,
}

/// Automatic Persisted Queries (Apollo's protocol): a client sends the sha256 of its query,
/// and the query itself only when the server does not know it yet. Stored in memory, or in
/// Redis under `{cache.prefix}apq:` when Redis is configured, so every replica shares them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApqSettings {
    pub enabled: bool,
    /// Bound of the in-memory store (used without Redis), in bytes: 16 MiB holds thousands of
    /// typical documents; past it the least used are evicted and their clients re-send them.
    pub max_bytes: u64,
    /// How long a stored query is kept (in memory and in Redis) after it was last sent in full.
    pub ttl: String,
}

impl Default for ApqSettings {
    fn default() -> Self {
        ApqSettings {
            enabled: true,
            max_bytes: 16 * 1024 * 1024,
            ttl: "24h".into(),
        }
    }
}

/// Trusted documents: the operations a client build may send, from a manifest in Apollo's
/// persisted-query manifest format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedDocumentsSettings {
    /// `off` (the manifest is not read), `allow_listed` (only manifest documents run, by id or
    /// by full text) or `log_unknown` (everything runs; unknown documents are logged).
    pub mode: TrustedDocumentsMode,
    /// The manifest (`{"format":"apollo-persisted-query-manifest","version":1,...}`),
    /// relative to the working directory.
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustedDocumentsMode {
    #[default]
    Off,
    AllowListed,
    LogUnknown,
}

/// GraphQL over WebSocket on `GET /graphql` (`graphql-transport-ws` and the legacy
/// `graphql-ws`); see `server::ws` for the protocol policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebsocketSettings {
    /// How long a client may take to send `connection_init` (then close 4408).
    pub init_timeout: String,
    /// Interval of the server's own pings (`ping` in graphql-transport-ws, `ka` in graphql-ws).
    pub ping_interval: String,
    /// Open WebSocket connections per instance; the next upgrade is refused with 503.
    pub max_connections: usize,
    /// Operations running at once on one connection; the next `subscribe` gets an `error`
    /// message (code `LIMIT_EXCEEDED`) and the connection stays open.
    pub max_subscriptions: usize,
    /// Outgoing messages queued per connection; when full, the oldest queued result is
    /// dropped and the client is told how many were dropped (code `EVENTS_DROPPED`).
    pub send_buffer: usize,
    /// Socket read buffer, bytes: what one read takes from the socket at most (a longer
    /// message is read in several). Clients send little (init, subscribe, pong), and every
    /// open connection holds this buffer, so it is small: 1 KiB. tungstenite's default of
    /// 128 KiB would cost ~128 KiB per idle subscriber; 4 KiB measured 3 KiB more per
    /// connection than 1 KiB (bench W1).
    pub read_buffer_bytes: usize,
    /// Socket write buffer, bytes (written out when reached or flushed).
    pub write_buffer_bytes: usize,
    /// Largest message accepted from a client, bytes.
    pub max_message_bytes: usize,
}

impl Default for WebsocketSettings {
    fn default() -> Self {
        WebsocketSettings {
            init_timeout: "3s".into(),
            ping_interval: "15s".into(),
            max_connections: 10_000,
            max_subscriptions: 100,
            send_buffer: 64,
            read_buffer_bytes: 1024,
            write_buffer_bytes: 4096,
            max_message_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Default time allowed for a whole upstream call, retries included (a source's
    /// `timeout` overrides it).
    pub timeout: String,
    /// Default retries for idempotent methods (a source's `retries` overrides it).
    pub retries: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: "5s".into(),
            retries: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Whether `@cache` fields are cached at all (responses still get `Cache-Control`).
    pub enabled: bool,
    /// Bound of the in-memory cache (used when no Redis is configured), in bytes.
    pub max_bytes: u64,
    /// Put before every Redis key, so that applications can share a Redis.
    pub prefix: String,
    /// Time allowed for each Redis cache call: a slow cache is bypassed, never waited for.
    pub timeout: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            max_bytes: 64 * 1024 * 1024,
            prefix: "tributary:".into(),
            timeout: "100ms".into(),
        }
    }
}

/// Redis: shared by the cache (and, later, pub/sub and persisted queries) when set. The
/// `REDIS_URL` environment variable sets `url` when the settings do not.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Start the demo's reviews and inventory services in-process on free loopback ports,
    /// their URLs becoming `REVIEWS_URL`/`INVENTORY_URL` unless those are set (default: on in
    /// development, off in production).
    pub services: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: String,
    /// Production mode: introspection, suggestions and demo migrations off, JSON logs.
    pub production: bool,
    /// How long in-flight requests may take to finish after SIGTERM/Ctrl-C.
    pub shutdown_timeout: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Cross-request sharing: identical in-flight upstream GETs share one call (and, later,
    /// identical in-flight operations one execution). A source's `singleFlight: false` turns
    /// it off for that source only.
    pub sharing: bool,
    /// Refuse POSTs a browser could send cross-site without a CORS preflight (a simple
    /// `Content-Type` — `text/plain`, `application/x-www-form-urlencoded`,
    /// `multipart/form-data` — or none) unless a header only a preflighted request can carry
    /// is present (`server::csrf`).
    pub csrf_prevention: bool,
    /// gzip and brotli response compression, negotiated by `Accept-Encoding`.
    pub compression: bool,
    /// Responses smaller than this many bytes are sent uncompressed.
    pub compression_min_bytes: u16,
    /// Memory for the responses of constant operations (`@value`-only queries,
    /// introspection), served again without execution (`server::constant`); 0 turns it off.
    pub constant_response_bytes: usize,
}

/// Cross-origin requests from browsers (`server::cors`). Nothing but the server's own origin
/// is allowed unless listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins (`scheme://host[:port]`) whose pages may call the API and open WebSockets.
    /// From the environment: a comma-separated list.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_origins: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true` to allowed origins (cookies and HTTP
    /// authentication on cross-origin requests).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer (`Access-Control-Max-Age`).
    pub max_age: String,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            max_age: "10m".into(),
        }
    }
}

/// A list of strings, or one comma-separated string (how environment variables carry lists).
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaSettings {
    /// The BFF's declaration.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Maximum connections per SQL source (a source's `poolSize` overrides it).
    pub pool_size: u32,
    /// Per-statement timeout (a source's `statementTimeout` overrides it).
    pub statement_timeout: String,
    /// How long a request waits for a pooled connection before `DATABASE_UNAVAILABLE`.
    pub acquire_timeout: String,
    /// Folder with `sqlite/` and `postgres/` migrations, relative to the schema file's folder.
    /// Default: the demo's migrations (`demo/migrations`) when present, except in production.
    pub migrations: Option<PathBuf>,
    /// Whether to apply migrations at start-up (default: on, off in production).
    pub migrate: Option<bool>,
    /// The source migrations apply to.
    pub migrations_source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlSettings {
    /// Introspection (default: on in development, off in production).
    pub introspection: Option<bool>,
    /// "Did you mean" suggestions in validation errors (default like introspection).
    pub suggestions: Option<bool>,
    /// Deepest field nesting (a root field is 1). GraphiQL's introspection query (graphql-js
    /// 16, every option on) is exactly 15 deep, so 15 is the floor for GraphiQL and codegen
    /// tools to fetch the schema; the demo's deepest screen is 5. It stops
    /// `product { category { products { category ...` recursion early.
    pub max_depth: usize,
    /// Fields selected, fragments expanded (each field costs 1 plus its children). 1000 is
    /// 4x GraphiQL's introspection query (230) and 50x the demo's richest screen (18).
    pub max_complexity: usize,
    /// Accept a JSON array of requests in one POST (each runs with its own result).
    pub batching: bool,
    /// Most requests in one batch; a larger batch is refused whole (`LIMIT_EXCEEDED`). 10 is
    /// Apollo Client's `BatchHttpLink` default (`batchMax`), so its batches always fit.
    pub max_batch_size: usize,
    /// Aliased fields, fragments expanded. Aliases are how one request asks for the same
    /// field many times (`p1: product(id: 1) p2: ...`, or brute-forcing a mutation); real
    /// screens alias a handful of fields (image sizes, a few lookups), so 50 leaves ample room.
    pub max_aliases: usize,
    /// Root fields of one operation: each fans out to backends in parallel. A screen's query
    /// has fewer than 10; 20 leaves room for dashboards.
    pub max_root_fields: usize,
    /// Lexical tokens, counted before parsing so that a huge document is refused cheaply
    /// (async-graphql's parser has no token limit). 15,000 is Apollo Router's default, which
    /// client tooling is already tuned to; GraphiQL's introspection query is 184.
    pub max_tokens: usize,
    /// Document size in bytes, checked first. 15,000 tokens of formatted GraphQL fit in about
    /// 100 KiB, so 128 KiB does not refuse what the token limit accepts, yet stops a document
    /// padded with comments or white space before it is scanned.
    pub max_document_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `pretty` or `json` (default: pretty in development, json in production).
    pub format: Option<String>,
    /// A tracing filter, e.g. `info` or `tributary=debug,info`.
    pub level: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8000".into(),
            production: false,
            shutdown_timeout: "30s".into(),
            max_body_bytes: 1024 * 1024,
            sharing: true,
            csrf_prevention: true,
            compression: true,
            compression_min_bytes: 1024,
            constant_response_bytes: 4 << 20,
        }
    }
}

impl Default for SchemaSettings {
    fn default() -> Self {
        SchemaSettings {
            path: PathBuf::from("schema.graphql"),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            pool_size: 10,
            statement_timeout: "5s".into(),
            acquire_timeout: "3s".into(),
            migrations: None,
            migrate: None,
            migrations_source: "main".into(),
        }
    }
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        GraphqlSettings {
            introspection: None,
            suggestions: None,
            max_depth: 15,
            max_complexity: 1000,
            batching: true,
            max_batch_size: 10,
            max_aliases: 50,
            max_root_fields: 20,
            max_tokens: 15_000,
            max_document_bytes: 128 * 1024,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: None,
            level: "info".into(),
        }
    }
}

/// A snapshot of the process environment, taken once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
}

impl Environment {
    pub fn capture() -> Self {
        Environment {
            vars: std::env::vars().collect(),
        }
    }
}

/// Command-line overrides (the last layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub schema: Option<PathBuf>,
    pub listen: Option<String>,
    pub production: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

const ENV_PREFIX: &str = "TRIBUTARY_";

impl Settings {
    /// Loads the layers. `TRIBUTARY_CONFIG` names the file when no flag does; a missing
    /// default `tributary.toml` is fine, a missing named one is an error.
    pub fn load(env: &Environment, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let named = overrides
            .config_file
            .clone()
            .or_else(|| env.vars.get("TRIBUTARY_CONFIG").map(PathBuf::from));
        let mut table = toml::Table::new();
        let (path, required) = match &named {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("tributary.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                table = text.parse::<toml::Table>().map_err(|e| {
                    ConfigError::Invalid(format!("{}: {}", path.display(), e.to_string().trim()))
                })?;
            }
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Invalid(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
            Err(_) => {}
        }
        let source_name = path.display().to_string();
        let mut keys: Vec<(&String, &String)> = env
            .vars
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        keys.sort();
        for (key, value) in keys {
            if key == "TRIBUTARY_CONFIG" || key == "TRIBUTARY_MODE" {
                continue;
            }
            let path: Vec<String> = key[ENV_PREFIX.len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if path.len() != 2 || path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "environment variable {key}: expected TRIBUTARY_SECTION__KEY (e.g. TRIBUTARY_SERVER__LISTEN)"
                )));
            }
            let section = table
                .entry(path[0].clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section) = section else {
                return Err(ConfigError::Invalid(format!(
                    "environment variable {key}: {} is not a section",
                    path[0]
                )));
            };
            section.insert(path[1].clone(), env_value(value));
        }
        let mut settings: Settings =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError::Invalid(format!(
                        "invalid settings (from {source_name} or TRIBUTARY_* variables): {}",
                        e.message()
                    ))
                })?;
        if settings.redis.url.is_none() {
            settings.redis.url = env.vars.get("REDIS_URL").filter(|u| !u.is_empty()).cloned();
        }
        if env
            .vars
            .get("TRIBUTARY_MODE")
            .is_some_and(|m| m.eq_ignore_ascii_case("production"))
        {
            settings.server.production = true;
        }
        if overrides.production {
            settings.server.production = true;
        }
        if let Some(s) = &overrides.schema {
            settings.schema.path = s.clone();
        }
        if let Some(l) = &overrides.listen {
            settings.server.listen = l.clone();
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("server.shutdown_timeout", &self.server.shutdown_timeout),
            (
                "database.statement_timeout",
                &self.database.statement_timeout,
            ),
            ("database.acquire_timeout", &self.database.acquire_timeout),
            ("http.timeout", &self.http.timeout),
            ("websocket.init_timeout", &self.websocket.init_timeout),
            ("websocket.ping_interval", &self.websocket.ping_interval),
            ("cache.timeout", &self.cache.timeout),
            ("cors.max_age", &self.cors.max_age),
            ("apq.ttl", &self.apq.ttl),
        ] {
            parse_duration(value).map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
        }
        for origin in &self.cors.allowed_origins {
            crate::server::cors::check_origin(origin)
                .map_err(|e| ConfigError::Invalid(format!("cors.allowed_origins: {e}")))?;
        }
        if self.graphql.max_batch_size == 0 {
            return Err(ConfigError::Invalid(
                "graphql.max_batch_size must be at least 1 (graphql.batching = false refuses batches)".into(),
            ));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if let Some(f) = &self.log.format {
            if f != "pretty" && f != "json" {
                return Err(ConfigError::Invalid(format!(
                    "log.format: expected \"pretty\" or \"json\", got \"{f}\""
                )));
            }
        }
        Ok(())
    }

    pub fn shutdown_timeout(&self) -> Duration {
        parse_duration(&self.server.shutdown_timeout).unwrap_or(Duration::from_secs(30))
    }

    pub fn introspection(&self) -> bool {
        self.graphql
            .introspection
            .unwrap_or(!self.server.production)
    }

    pub fn suggestions(&self) -> bool {
        self.graphql.suggestions.unwrap_or(!self.server.production)
    }

    /// The request limits of `[graphql]` (see [`GraphqlSettings`]).
    pub fn limits(&self) -> crate::engine::limits::Limits {
        let g = &self.graphql;
        crate::engine::limits::Limits {
            max_document_bytes: g.max_document_bytes,
            max_tokens: g.max_tokens,
            max_depth: g.max_depth,
            max_complexity: g.max_complexity,
            max_aliases: g.max_aliases,
            max_root_fields: g.max_root_fields,
        }
    }

    pub fn json_logs(&self) -> bool {
        match self.log.format.as_deref() {
            Some("json") => true,
            Some(_) => false,
            None => self.server.production,
        }
    }

    /// Whether to serve the playground (`playground.enabled`, default: not in production).
    pub fn playground(&self) -> bool {
        self.playground.enabled.unwrap_or(!self.server.production)
    }

    /// Whether to start the bundled demo services.
    pub fn demo_services(&self) -> bool {
        self.demo.services.unwrap_or(!self.server.production)
    }

    /// The migrations folder to apply, if any (see [`DatabaseSettings::migrations`]).
    pub fn migrations_dir(&self) -> Option<PathBuf> {
        let migrate = self.database.migrate.unwrap_or(!self.server.production);
        if !migrate {
            return None;
        }
        let base = self
            .schema
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let dir = match &self.database.migrations {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => base.join(d),
            None => base.join("demo").join("migrations"),
        };
        Some(dir)
    }

    pub fn engine_options(&self) -> crate::engine::EngineOptions {
        crate::engine::EngineOptions {
            pool_size: self.database.pool_size,
            statement_timeout: parse_duration(&self.database.statement_timeout)
                .unwrap_or(Duration::from_secs(5)),
            acquire_timeout: parse_duration(&self.database.acquire_timeout)
                .unwrap_or(Duration::from_secs(3)),
            migrations: self.migrations_dir(),
            migrations_source: self.database.migrations_source.clone(),
            introspection: self.introspection(),
            suggestions: self.suggestions(),
            max_depth: self.graphql.max_depth,
            max_complexity: self.graphql.max_complexity,
            http_timeout: parse_duration(&self.http.timeout).unwrap_or(Duration::from_secs(5)),
            http_retries: self.http.retries,
            sharing: self.server.sharing,
            caching: self.cache.enabled,
            redis_url: self.redis.url.clone(),
            cache_prefix: self.cache.prefix.clone(),
            cache_timeout: parse_duration(&self.cache.timeout)
                .unwrap_or(Duration::from_millis(100)),
            cache_max_bytes: self.cache.max_bytes,
        }
    }
}

/// An environment value as TOML: numbers and booleans typed, anything else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

/// `"250ms"`, `"5s"`, `"2m"`, `"1h"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    tributary_schema::parse_duration(text).ok_or_else(|| {
        format!("invalid duration \"{text}\": expected a number with ms, s, m or h (e.g. \"500ms\", \"5s\")")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn environment_variables_override_defaults() {
        let s = Settings::load(
            &env(&[
                ("TRIBUTARY_SERVER__LISTEN", "0.0.0.0:9000"),
                ("TRIBUTARY_DATABASE__POOL_SIZE", "3"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.database.pool_size, 3);
    }

    #[test]
    fn an_unknown_environment_key_is_an_error_naming_it() {
        let err = Settings::load(
            &env(&[("TRIBUTARY_SERVER__LISTN", "x")]),
            &Overrides::default(),
        )
        .expect_err("invalid settings");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn flags_override_environment() {
        let o = Overrides {
            listen: Some("127.0.0.1:0".into()),
            production: true,
            ..Overrides::default()
        };
        let s = Settings::load(&env(&[("TRIBUTARY_SERVER__LISTEN", "0.0.0.0:9000")]), &o)
            .expect("valid");
        assert_eq!(s.server.listen, "127.0.0.1:0");
        assert!(!s.introspection());
        assert!(s.migrations_dir().is_none());
    }

    #[test]
    fn a_bad_duration_is_reported_with_its_key() {
        let err = Settings::load(
            &env(&[("TRIBUTARY_DATABASE__STATEMENT_TIMEOUT", "soon")]),
            &Overrides::default(),
        )
        .expect_err("invalid settings");
        assert!(
            err.to_string().contains("database.statement_timeout"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("t.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n").expect("write");
        let o = Overrides {
            config_file: Some(file),
            ..Overrides::default()
        };
        let err = Settings::load(&env(&[]), &o).expect_err("invalid settings");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
