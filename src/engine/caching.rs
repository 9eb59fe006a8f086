//! `@cache` in the engine: connector results (SQL rows, HTTP answers) read from and written
//! to the cache around every load, per key for batched fields.
//!
//! A batch of 20 parents with 15 cached keys fetches only the 5 missing ones. Entries are keyed
//! by source, the exact request (statement and bound values, or the call's method, URL,
//! headers and body) and, for PRIVATE fields, the caller's identity (a hash of the client's
//! `authorization`/`cookie` headers). A PUBLIC field whose call forwards the client's
//! credentials upstream is neither read from nor written to the cache unless the schema says
//! `publicWithCredentials: true`. When the backend fails and the policy has `staleIfError`, an
//! expired entry still within that window answers, and the loader remembers it so the field
//! can say so in the response's extensions.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Value;
use tributary_connectors::cache::{Cache, CacheEntry, CacheKey};
use tributary_connectors::ConnectorError;
use tributary_schema::{CacheScope, Template};

/// A field's `@cache` policy, compiled.
pub struct CachePolicy {
    pub ttl: Duration,
    pub scope: CacheScope,
    pub tags: Vec<Template>,
    pub stale_if_error: Option<Duration>,
    pub public_with_credentials: bool,
}

/// Everything a load needs to use the cache (owned: loads run in shared `'static` futures).
#[derive(Clone)]
pub struct CacheCtx {
    pub cache: Arc<dyn Cache>,
    pub policy: Arc<CachePolicy>,
    pub source: String,
    /// The caller's identity for PRIVATE entries (`None`: anonymous).
    pub identity: Option<String>,
}

impl CacheCtx {
    fn key(&self, request: &str, key: &str) -> CacheKey {
        let request = format!("{request}\u{0}{key}");
        match self.policy.scope {
            CacheScope::Public => CacheKey::public(&self.source, &request),
            CacheScope::Private => CacheKey::private(
                &self.source,
                &request,
                self.identity.as_deref().unwrap_or("anonymous"),
            ),
        }
    }
}

/// One key of a load: its text, the value bound for it, and its entry's tags.
#[derive(Clone)]
pub struct LoadKey {
    pub text: String,
    pub value: Value,
    pub tags: Vec<String>,
}

/// Items loaded per key, and the keys answered by stale entries.
pub type Loaded = (HashMap<String, Vec<Value>>, HashSet<String>);

/// Loads `keys` through the cache: fresh hits answer from it, the rest come from one `fetch`
/// of the missing keys, and what was fetched is stored per key with its tags. If `fetch`
/// fails and the policy allows, stale entries answer (reported in the returned set);
/// otherwise the error is returned. Without a cache context this is just `fetch`.
pub async fn through_cache<F, Fut>(
    ctx: Option<&CacheCtx>,
    request: &str,
    keys: Vec<LoadKey>,
    fetch: F,
) -> Result<Loaded, Arc<ConnectorError>>
where
    F: FnOnce(Vec<Value>) -> Fut,
    Fut: Future<Output = Result<HashMap<String, Vec<Value>>, Arc<ConnectorError>>>,
{
    let Some(ctx) = ctx else {
        let values = keys.into_iter().map(|k| k.value).collect();
        return fetch(values).await.map(|groups| (groups, HashSet::new()));
    };
    let cache_keys: Vec<CacheKey> = keys.iter().map(|k| ctx.key(request, &k.text)).collect();
    let hits = ctx.cache.get_many(&cache_keys).await;
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    let mut stale_hits: HashMap<String, Vec<Value>> = HashMap::new();
    let mut missing: Vec<(LoadKey, CacheKey)> = Vec::new();
    for ((key, cache_key), hit) in keys.into_iter().zip(cache_keys).zip(hits) {
        let decoded = hit
            .as_ref()
            .and_then(|h| decode(&h.value).map(|v| (h.is_stale(), v)));
        match decoded {
            Some((false, items)) => {
                out.insert(key.text, items);
            }
            Some((true, items)) => {
                stale_hits.insert(key.text.clone(), items);
                missing.push((key, cache_key));
            }
            None => missing.push((key, cache_key)),
        }
    }
    let mut stale = HashSet::new();
    if missing.is_empty() {
        return Ok((out, stale));
    }
    let values = missing.iter().map(|(k, _)| k.value.clone()).collect();
    match fetch(values).await {
        Ok(mut fetched) => {
            let mut entries = Vec::with_capacity(missing.len());
            for (key, cache_key) in missing {
                let items = fetched.remove(&key.text).unwrap_or_default();
                let mut entry = CacheEntry::new(encode(&items), ctx.policy.ttl).with_tags(key.tags);
                if let Some(window) = ctx.policy.stale_if_error {
                    entry = entry.with_stale_for(window);
                }
                entries.push((cache_key, entry));
                out.insert(key.text, items);
            }
            ctx.cache.set_many(entries).await;
            Ok((out, stale))
        }
        Err(error) => {
            if ctx.policy.stale_if_error.is_none() {
                return Err(error);
            }
            for (key, _) in &missing {
                match stale_hits.remove(&key.text) {
                    Some(items) => {
                        stale.insert(key.text.clone());
                        out.insert(key.text.clone(), items);
                    }
                    None => return Err(error),
                }
            }
            tracing::warn!(source = %ctx.source, error = %error, "backend failed, serving stale cache entries");
            Ok((out, stale))
        }
    }
}

fn encode(items: &[Value]) -> Vec<u8> {
    serde_json::to_vec(items).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Option<Vec<Value>> {
    serde_json::from_slice(bytes).ok()
}

/// Evaluates tag templates for one parent (empty results dropped).
pub fn tags(templates: &[Template], scope: &super::template::Scope<'_>) -> Vec<String> {
    templates
        .iter()
        .filter_map(|t| match scope.eval(t) {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
        .collect()
}

/// A stable identity for PRIVATE entries from the client's credentials: a hash, so the
/// credentials themselves are never stored or logged.
pub fn identity_of(authorization: Option<&str>, cookie: Option<&str>) -> Option<String> {
    if authorization.is_none() && cookie.is_none() {
        return None;
    }
    let text = format!(
        "{}\u{0}{}",
        authorization.unwrap_or(""),
        cookie.unwrap_or("")
    );
    Some(CacheKey::public("identity", &text).to_string())
}
