//! Which document a request runs: Automatic Persisted Queries, trusted documents and the
//! request limits, between the request's parameters and the parsed document.
//!
//! [`Documents::prepare`] turns `query` / `documentId` / `extensions.persistedQuery` into the
//! query text and its parsed document, for GraphQL over HTTP (`GET` and `POST`) and for the
//! WebSocket `subscribe`/`start` payloads alike:
//!
//! 1. **Which text.** A full `query` runs as sent; with a hash beside it (APQ's
//!    `extensions.persistedQuery.sha256Hash`, or a `documentId` of the form `sha256:<hex>` or
//!    64 hex digits) the hash must be the query's sha256 (`PERSISTED_QUERY_HASH_MISMATCH`,
//!    400). A hash alone is looked up: in the trusted documents manifest, then in the APQ
//!    store; a miss is `PERSISTED_QUERY_NOT_FOUND` (the Apollo clients' cue to send the query
//!    with its hash, which stores it), always with status 200 as Apollo Router answers, and
//!    `Cache-Control: no-store` so that a CDN never keeps the miss. With APQ off a hash alone is
//!    `PERSISTED_QUERY_NOT_SUPPORTED` (200), the cue to stop sending hashes.
//! 2. **Trusted documents** (`[trusted_documents]`). `allow_listed`: only documents of the
//!    manifest run, referenced by id or sent in full (matched by their sha256); anything else
//!    is `UNTRUSTED_DOCUMENT` (400), and is never stored as a persisted query.
//!    `log_unknown`: everything runs; an unknown document logs a warning with its hash and
//!    operation name.
//! 3. **Limits** ([`crate::engine::limits`]): size and tokens on the text, then parse
//!    (`GRAPHQL_PARSE_FAILED`), then depth, complexity, aliases and root fields on the
//!    document (`LIMIT_EXCEEDED`).
//!
//! Only a document that passed all three is stored as a persisted query (in the background:
//! a slow or failed store costs the request nothing). The store is the cache connector: in
//! memory (moka, bounded by `apq.max_bytes`), or Redis under `{cache.prefix}apq:` when Redis
//! is configured, so that every replica knows every hash; a Redis in trouble turns lookups
//! into misses (the client re-sends the query), never into failed requests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{ErrorExtensionValues, ServerError};
use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tributary_connectors::cache::{
    Cache, CacheEntry, CacheKey, MemoryCache, MemoryCacheOptions, RedisCache, RedisCacheOptions,
};

use crate::bounded::StartOverMap;
use crate::config::{parse_duration, Settings, TrustedDocumentsMode};
use crate::engine::limits::{DocumentRefusal, Limits};

/// Stable codes of this module's refusals (see the README's error table).
pub mod codes {
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    pub const UNTRUSTED_DOCUMENT: &str = "UNTRUSTED_DOCUMENT";
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
}

/// What a request says about its document.
#[derive(Debug, Default, Clone, Copy)]
pub struct DocumentRequest<'a> {
    pub query: Option<&'a str>,
    /// `documentId` (GraphQL over HTTP's persisted documents; Relay and Apollo manifests).
    pub document_id: Option<&'a str>,
    pub extensions: Option<&'a Value>,
    pub operation_name: Option<&'a str>,
}

/// The document to run.
pub struct Prepared {
    pub query: String,
    pub document: ExecutableDocument,
}

/// A refused request: one GraphQL error (with `extensions.code`) and, when it differs from the
/// request-error rule (400 under graphql-response+json, 200 under application/json), the status.
#[derive(Debug)]
pub struct Refusal {
    pub error: Box<ServerError>,
    pub status: Option<StatusCode>,
}

impl Refusal {
    fn new(message: impl Into<String>, code: &str, status: Option<StatusCode>) -> Refusal {
        let mut error = ServerError::new(message, None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", code);
        error.extensions = Some(ext);
        Refusal {
            error: Box::new(error),
            status,
        }
    }

    /// The refusal's code.
    pub fn code(&self) -> Option<String> {
        let ext = self.error.extensions.as_ref()?;
        match ext.get("code") {
            Some(async_graphql::Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

/// A start-up problem with the trusted documents settings or manifest.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DocumentsError(String);

const HINT: &str = "hint: point trusted_documents.manifest at the file your client tooling generates (e.g. @apollo/generate-persisted-query-manifest), or set trusted_documents.mode = \"off\"";

/// The trusted documents of a manifest.
struct Manifest {
    mode: TrustedDocumentsMode,
    /// Operation id → body.
    by_id: HashMap<String, Arc<str>>,
    /// sha256 (lowercase hex) of each body → body.
    by_hash: HashMap<String, Arc<str>>,
}

impl Manifest {
    fn lookup(&self, id: &str) -> Option<Arc<str>> {
        self.by_id
            .get(id)
            .or_else(|| sha256_of_id(id).and_then(|h| self.by_hash.get(&h)))
            .cloned()
    }
}

/// The APQ store.
struct Apq {
    cache: Arc<dyn Cache>,
    ttl: Duration,
}

impl Apq {
    fn key(hash: &str) -> CacheKey {
        CacheKey::public("apq", hash)
    }

    /// The stored query for `hash`, checked against it (a foreign or damaged value is a miss).
    async fn get(&self, hash: &str) -> Option<String> {
        let hit = self.cache.get(&Apq::key(hash)).await?;
        let text = std::str::from_utf8(&hit.value).ok()?;
        (sha256_hex(text) == hash).then(|| text.to_string())
    }

    fn put(&self, hash: String, query: &str) {
        let cache = self.cache.clone();
        let entry = CacheEntry::new(query.as_bytes().to_vec(), self.ttl);
        tokio::spawn(async move { cache.set(Apq::key(&hash), entry).await });
    }
}

/// Persisted queries, trusted documents and request limits of one server.
pub struct Documents {
    limits: Limits,
    /// `graphql.introspection` (off in production by default): when off, `__schema` and
    /// `__type` are refused here with `INTROSPECTION_DISABLED` rather than left to
    /// async-graphql's "unknown field" error.
    introspection: bool,
    apq: Option<Apq>,
    trusted: Option<Manifest>,
    /// Parsed documents that passed the limits, by text: parsing is a quarter of a small
    /// query's cost, and clients send the same few documents again and again. At most 512
    /// documents and 256 KiB of text (a parsed document takes some 20 to 50 times its text).
    parsed: StartOverMap<String, ExecutableDocument>,
}

const PARSED_TEXT_BYTES: usize = 256 << 10;

/// Where a request's text came from, for the trusted documents check.
#[derive(PartialEq, Eq)]
enum Origin {
    /// From the manifest (by id): trusted.
    Manifest,
    /// Sent in full, or from the APQ store: trusted only if its hash is in the manifest.
    Other,
}

impl Documents {
    /// Reads the settings (and the manifest, when trusted documents are on) and opens the
    /// APQ store: Redis under `{cache.prefix}apq:` when Redis is configured, memory otherwise.
    pub async fn from_settings(settings: &Settings) -> Result<Documents, DocumentsError> {
        let trusted = match settings.trusted_documents.mode {
            TrustedDocumentsMode::Off => None,
            mode => {
                let Some(path) = &settings.trusted_documents.manifest else {
                    return Err(DocumentsError(format!(
                        "trusted_documents.mode is \"{}\" but no manifest is set\n  {HINT}",
                        mode_name(mode)
                    )));
                };
                Some(load_manifest(path, mode)?)
            }
        };
        let apq = if settings.apq.enabled {
            let ttl = parse_duration(&settings.apq.ttl).unwrap_or(Duration::from_secs(86_400));
            let cache: Arc<dyn Cache> = match &settings.redis.url {
                Some(url) => {
                    let mut options = RedisCacheOptions::new(url.clone());
                    options.prefix = format!("{}apq:", settings.cache.prefix);
                    options.timeout = parse_duration(&settings.cache.timeout)
                        .unwrap_or(Duration::from_millis(100));
                    Arc::new(RedisCache::connect(options).await.map_err(|e| {
                        DocumentsError(format!("persisted queries (apq) cannot use Redis: {e}"))
                    })?)
                }
                None => Arc::new(MemoryCache::new(MemoryCacheOptions {
                    max_bytes: settings.apq.max_bytes,
                })),
            };
            Some(Apq { cache, ttl })
        } else {
            None
        };
        Ok(Documents {
            limits: settings.limits(),
            introspection: settings.introspection(),
            apq,
            trusted,
            parsed: StartOverMap::new(512, PARSED_TEXT_BYTES, PARSED_TEXT_BYTES / 8),
        })
    }

    /// The APQ store's backend (`memory`, `redis`), `None` when APQ is off.
    pub fn apq_backend(&self) -> Option<&'static str> {
        self.apq.as_ref().map(|a| a.cache.backend())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Resolves, checks and parses a request's document (see the module docs).
    pub async fn prepare(&self, request: DocumentRequest<'_>) -> Result<Prepared, Refusal> {
        let persisted = persisted_query_hash(request.extensions)?;
        let document_id = request.document_id.filter(|id| !id.is_empty());
        let query = request.query.filter(|q| !q.trim().is_empty());
        let mut store_as: Option<String> = None;
        let (text, origin): (String, Origin) = match (query, document_id, &persisted) {
            (Some(q), _, _) => {
                // The hash sent with the query must be the query's.
                let claimed = persisted
                    .clone()
                    .or_else(|| document_id.and_then(sha256_of_id));
                if let Some(hash) = claimed {
                    let actual = sha256_hex(q);
                    if actual != hash {
                        return Err(Refusal::new(
                            "provided sha does not match query",
                            codes::PERSISTED_QUERY_HASH_MISMATCH,
                            Some(StatusCode::BAD_REQUEST),
                        ));
                    }
                    if persisted.is_some() {
                        store_as = Some(actual);
                    }
                }
                (q.to_string(), Origin::Other)
            }
            (None, Some(id), _) => self.lookup(id, persisted.is_some()).await?,
            (None, None, Some(hash)) => self.lookup(hash, true).await?,
            (None, None, None) => {
                return Err(Refusal::new(
                    "the request has no query",
                    crate::server::graphql_http::codes::BAD_REQUEST,
                    Some(StatusCode::BAD_REQUEST),
                ));
            }
        };
        let mut unknown: Option<String> = None;
        if let (Some(manifest), Origin::Other) = (&self.trusted, &origin) {
            let hash = sha256_hex(&text);
            if !manifest.by_hash.contains_key(&hash) {
                if manifest.mode == TrustedDocumentsMode::AllowListed {
                    return Err(untrusted(&hash));
                }
                unknown = Some(hash);
            }
        }
        // A document seen before passed the checks below already (they depend on its text
        // alone): its parse is reused.
        let cached = self.parsed.get(&text);
        let is_cached = cached.is_some();
        let document = match cached {
            Some(document) => Ok(document),
            None => {
                if let Err(e) = self.limits.check_source(&text) {
                    return Err(Refusal {
                        error: Box::new(e.to_server_error()),
                        status: None,
                    });
                }
                async_graphql::parser::parse_query(&text)
            }
        };
        if let Some(hash) = unknown {
            let name = request.operation_name.map(str::to_string).or_else(|| {
                document
                    .as_ref()
                    .ok()
                    .and_then(single_operation_name)
                    .map(str::to_string)
            });
            tracing::warn!(
                document.hash = %hash,
                operation = name.as_deref().unwrap_or(""),
                "document not in the trusted documents manifest"
            );
        }
        let document = match document {
            Ok(d) => d,
            Err(e) => {
                let mut error: ServerError = e.into();
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", crate::server::graphql_http::codes::PARSE_FAILED);
                return Err(Refusal {
                    error: Box::new(error),
                    status: None,
                });
            }
        };
        if !is_cached {
            self.check_document(&document)?;
            self.parsed
                .insert(text.as_str(), document.clone(), text.len());
        }
        if let (Some(apq), Some(hash)) = (&self.apq, store_as) {
            apq.put(hash, &text);
        }
        Ok(Prepared {
            query: text,
            document,
        })
    }

    /// The checks of a parsed document (limits, fragment cycles, introspection when off); they
    /// depend on its text alone, so a document kept in `parsed` passed them already.
    fn check_document(&self, document: &ExecutableDocument) -> Result<(), Refusal> {
        match self.limits.check_document(document) {
            Ok(()) => {}
            Err(DocumentRefusal::Limit(e)) => {
                return Err(Refusal {
                    error: Box::new(e.to_server_error()),
                    status: None,
                });
            }
            Err(DocumentRefusal::FragmentCycle(name)) => {
                return Err(Refusal::new(
                    format!("cannot spread fragment \"{name}\" within itself"),
                    crate::server::graphql_http::codes::VALIDATION_FAILED,
                    None,
                ));
            }
        }
        if !self.introspection && selects_introspection(document) {
            return Err(Refusal::new(
                "introspection is disabled on this server (production mode); set graphql.introspection = true to allow it",
                codes::INTROSPECTION_DISABLED,
                None,
            ));
        }
        Ok(())
    }

    /// The text for an id (no query sent): the manifest first, then the APQ store.
    async fn lookup(&self, id: &str, apq_protocol: bool) -> Result<(String, Origin), Refusal> {
        if let Some(manifest) = &self.trusted {
            if let Some(body) = manifest.lookup(id) {
                return Ok((body.to_string(), Origin::Manifest));
            }
            if manifest.mode == TrustedDocumentsMode::AllowListed {
                return Err(untrusted(id));
            }
        }
        let Some(apq) = &self.apq else {
            if apq_protocol {
                return Err(Refusal::new(
                    "PersistedQueryNotSupported",
                    codes::PERSISTED_QUERY_NOT_SUPPORTED,
                    Some(StatusCode::OK),
                ));
            }
            return Err(not_found());
        };
        match sha256_of_id(id) {
            Some(hash) => match apq.get(&hash).await {
                Some(text) => Ok((text, Origin::Other)),
                None => Err(not_found()),
            },
            None => Err(not_found()),
        }
    }
}

fn not_found() -> Refusal {
    Refusal::new(
        "PersistedQueryNotFound",
        codes::PERSISTED_QUERY_NOT_FOUND,
        Some(StatusCode::OK),
    )
}

fn untrusted(id: &str) -> Refusal {
    let shown: String = id.chars().take(80).collect();
    Refusal::new(
        format!("the document {shown} is not in the trusted documents manifest: only trusted documents may run here"),
        codes::UNTRUSTED_DOCUMENT,
        Some(StatusCode::BAD_REQUEST),
    )
}

fn mode_name(mode: TrustedDocumentsMode) -> &'static str {
    match mode {
        TrustedDocumentsMode::Off => "off",
        TrustedDocumentsMode::AllowListed => "allow_listed",
        TrustedDocumentsMode::LogUnknown => "log_unknown",
    }
}

/// Whether an operation selects `__schema` or `__type` at its root (fragments expanded).
fn selects_introspection(doc: &ExecutableDocument) -> bool {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn walk<'a>(
        set: &'a SelectionSet,
        doc: &'a ExecutableDocument,
        seen: &mut Vec<&'a str>,
    ) -> bool {
        set.items.iter().any(|sel| match &sel.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
            Selection::InlineFragment(fr) => walk(&fr.node.selection_set.node, doc, seen),
            Selection::FragmentSpread(sp) => {
                match doc.fragments.get_key_value(&sp.node.fragment_name.node) {
                    Some((name, fr)) if !seen.contains(&name.as_str()) => {
                        seen.push(name.as_str());
                        walk(&fr.node.selection_set.node, doc, seen)
                    }
                    _ => false,
                }
            }
        })
    }
    let mut seen = Vec::new();
    doc.operations
        .iter()
        .any(|(_, op)| walk(&op.node.selection_set.node, doc, &mut seen))
}

/// The operation's name when the document has exactly one.
fn single_operation_name(doc: &ExecutableDocument) -> Option<&str> {
    match &doc.operations {
        DocumentOperations::Single(_) => None,
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            ops.keys().next().map(|n| n.as_str())
        }
        DocumentOperations::Multiple(_) => None,
    }
}

/// `extensions.persistedQuery`'s hash (lowercase), if the request uses APQ.
fn persisted_query_hash(extensions: Option<&Value>) -> Result<Option<String>, Refusal> {
    let bad = |message: &str| {
        Refusal::new(
            message,
            crate::server::graphql_http::codes::BAD_REQUEST,
            Some(StatusCode::BAD_REQUEST),
        )
    };
    let Some(pq) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    if pq.is_null() {
        return Ok(None);
    }
    if pq.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(bad(
            "extensions.persistedQuery.version must be 1 (the only version of the protocol)",
        ));
    }
    match pq.get("sha256Hash").and_then(Value::as_str) {
        Some(h) if is_sha256_hex(h) => Ok(Some(h.to_ascii_lowercase())),
        _ => Err(bad(
            "extensions.persistedQuery.sha256Hash must be a sha256 hash (64 hexadecimal digits)",
        )),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 an id names: `sha256:<hex>` or bare hex (lowercased); `None` for other ids.
fn sha256_of_id(id: &str) -> Option<String> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    is_sha256_hex(hex).then(|| hex.to_ascii_lowercase())
}

/// The sha256 of `text`, as 64 lowercase hex digits.
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[derive(serde::Deserialize)]
struct ManifestFile {
    format: Option<String>,
    version: Option<i64>,
    operations: Option<Vec<Value>>,
}

/// Reads and checks a manifest; every problem names the file (and the JSON line:column, or
/// the operation's index and name).
fn load_manifest(path: &Path, mode: TrustedDocumentsMode) -> Result<Manifest, DocumentsError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        DocumentsError(format!(
            "cannot read the trusted documents manifest {shown}: {e}\n  {HINT}"
        ))
    })?;
    let file: ManifestFile = serde_json::from_str(&text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "is not a persisted-query manifest",
            _ => "is not valid JSON",
        };
        DocumentsError(format!(
            "{shown}:{}:{}: the trusted documents manifest {what}: {e}\n  {HINT}",
            e.line(),
            e.column()
        ))
    })?;
    if file.format.as_deref() != Some("apollo-persisted-query-manifest") || file.version != Some(1)
    {
        return Err(DocumentsError(format!(
            "{shown}: the trusted documents manifest must have \"format\": \"apollo-persisted-query-manifest\" and \"version\": 1\n  {HINT}"
        )));
    }
    let mut manifest = Manifest {
        mode,
        by_id: HashMap::new(),
        by_hash: HashMap::new(),
    };
    for (i, op) in file.operations.unwrap_or_default().iter().enumerate() {
        let name = op.get("name").and_then(Value::as_str).unwrap_or("");
        let at = if name.is_empty() {
            format!("{shown}: operations[{i}]")
        } else {
            format!("{shown}: operations[{i}] ({name})")
        };
        let (Some(id), Some(body)) = (
            op.get("id").and_then(Value::as_str),
            op.get("body").and_then(Value::as_str),
        ) else {
            return Err(DocumentsError(format!(
                "{at}: each operation needs a string \"id\" and a string \"body\"\n  {HINT}"
            )));
        };
        if let Err(e) = async_graphql::parser::parse_query(body) {
            return Err(DocumentsError(format!(
                "{at}: the body is not a GraphQL document: {e}\n  hint: regenerate the manifest from the client's operations"
            )));
        }
        let body: Arc<str> = Arc::from(body);
        if let Some(previous) = manifest.by_id.insert(id.to_string(), body.clone()) {
            if previous != body {
                return Err(DocumentsError(format!(
                    "{at}: the id {id} is used by two different bodies\n  hint: regenerate the manifest from the client's operations"
                )));
            }
        }
        manifest.by_hash.insert(sha256_hex(&body), body);
    }
    tracing::info!(
        manifest = %shown,
        documents = manifest.by_id.len(),
        mode = mode_name(mode),
        "trusted documents loaded"
    );
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha256_of_a_query_is_lowercase_hex() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[test]
    fn a_document_id_names_a_sha256_with_or_without_its_prefix() {
        let h = "7F56E67DD21AB3F30D1FF8B7BED08893F0A0DB86449836189B361DD1E56DDB4B";
        assert_eq!(sha256_of_id(h), Some(h.to_ascii_lowercase()));
        assert_eq!(
            sha256_of_id(&format!("sha256:{h}")),
            Some(h.to_ascii_lowercase())
        );
        assert_eq!(sha256_of_id("GetProducts-v2"), None);
    }

    #[test]
    fn a_persisted_query_extension_needs_version_1_and_a_hash() {
        let ok =
            serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": "a".repeat(64)}});
        assert_eq!(
            persisted_query_hash(Some(&ok)).expect("valid"),
            Some("a".repeat(64))
        );
        let v2 =
            serde_json::json!({"persistedQuery": {"version": 2, "sha256Hash": "a".repeat(64)}});
        assert!(persisted_query_hash(Some(&v2)).is_err());
        let short = serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}});
        assert!(persisted_query_hash(Some(&short)).is_err());
        assert_eq!(persisted_query_hash(None).expect("none"), None);
    }
}
