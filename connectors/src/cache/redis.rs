//! [`RedisCache`]: the cache shared by every replica pointing at the same Redis.
//!
//! - Values: `SET {prefix}{key} <header><payload> PX <ttl + stale_for>`, the header being a
//!   version byte then `stored_at` and `fresh_until` as Unix milliseconds (17 bytes). Reads are
//!   one `MGET`; freshness is decided from the header against the reader's clock.
//! - Tags: a Redis set `{prefix}tag:{tag}` of the storage keys carrying it, whose expiry is
//!   only ever extended to cover its longest-lived member (`PEXPIRE NX` then `PEXPIRE GT`:
//!   Redis 7 or later). Writes go in one `MULTI` pipeline. Invalidation is one Lua script that
//!   unlinks the tag sets and their members atomically, so every replica sees it.
//! - Failures: every call runs under `timeout`. A failure or timeout makes the cache
//!   degraded (one warning); while degraded, one call per `probe_interval` goes to Redis as a
//!   probe and the others are bypassed at once (miss / no-op). A failed probe drops the
//!   connection and reconnects in the background; the first success makes it healthy again
//!   (one info line). Between failures, `ConnectionManager` reconnects by itself.
//! - Invalidations that cannot reach Redis (degraded, failed, timed out) are kept (up to
//!   10 000 tags) and replayed when it is back: other replicas may still reach the entries.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Cache, CacheEntry, CacheHit, CacheKey, CacheState, CacheStats, Counters, Freshness};
use crate::ConnectorError;

/// How to reach and use Redis (7.0 or later). Build with [`RedisCacheOptions::new`] and
/// adjust the fields. `Debug` hides the URL's password.
#[derive(Clone)]
pub struct RedisCacheOptions {
    /// `redis://[:password@]host:port/db` (or `rediss://`).
    pub url: String,
    /// Put before every key, so that several applications (or tests) can share a Redis.
    pub prefix: String,
    /// Time allowed for each cache call. Short: a slow cache must cost less than the backend
    /// it saves.
    pub timeout: Duration,
    /// Time allowed to open a connection (done in the background after the first attempt).
    pub connect_timeout: Duration,
    /// While degraded, how often one call may try Redis; the others bypass it.
    pub probe_interval: Duration,
}

impl RedisCacheOptions {
    /// Defaults: prefix `tributary:`, 100 ms call timeout, 1 s connect timeout, one probe per
    /// second while degraded.
    pub fn new(url: impl Into<String>) -> Self {
        RedisCacheOptions {
            url: url.into(),
            prefix: "tributary:".into(),
            timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for RedisCacheOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheOptions")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("probe_interval", &self.probe_interval)
            .finish()
    }
}

/// The URL with its password (if any) replaced, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<invalid URL>".to_string(),
    }
}

const HEADER_VERSION: u8 = 1;
const HEADER_LEN: usize = 17;
/// Tags kept for replay at most while degraded.
const MAX_PENDING_INVALIDATIONS: usize = 10_000;
/// Invalidation: for each tag set (`KEYS`), unlink its members (in chunks, as Lua's `unpack`
/// has a stack limit) and the set itself; returns the number of members. The members are not
/// declared in `KEYS`, which standalone Redis allows (Redis Cluster is not supported).
const INVALIDATE_SCRIPT: &str = r"
local removed = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for i = 1, #members, 512 do
    redis.call('UNLINK', unpack(members, i, math.min(i + 511, #members)))
  end
  redis.call('UNLINK', tag)
  removed = removed + #members
end
return removed
";

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The stored form: header (version, `stored_at`, `fresh_until`) then the payload.
fn encode(entry: &CacheEntry) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + entry.value.len());
    bytes.push(HEADER_VERSION);
    bytes.extend_from_slice(&unix_ms(entry.stored_at).to_be_bytes());
    bytes.extend_from_slice(&unix_ms(entry.fresh_until()).to_be_bytes());
    bytes.extend_from_slice(&entry.value);
    bytes
}

/// Reads the stored form back; `None` for anything else (another version, a foreign value).
fn decode(bytes: &[u8], now: SystemTime) -> Option<CacheHit> {
    if bytes.len() < HEADER_LEN || bytes[0] != HEADER_VERSION {
        return None;
    }
    let millis = |range: std::ops::Range<usize>| -> Option<SystemTime> {
        let raw: [u8; 8] = bytes.get(range)?.try_into().ok()?;
        Some(UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(raw)))
    };
    let stored_at = millis(1..9)?;
    let fresh_until = millis(9..17)?;
    Some(CacheHit {
        value: Arc::from(&bytes[HEADER_LEN..]),
        stored_at,
        fresh_until,
        freshness: Freshness::at(now, fresh_until),
    })
}

/// Milliseconds for `PX`/`PEXPIRE`, rounded up so that a live entry never gets 0.
fn ceil_ms(duration: Duration) -> u64 {
    let ms = duration.as_micros().div_ceil(1000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// What a call may do, by the health state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Healthy: go to Redis.
    Call,
    /// Degraded, and this call is the probe: go to Redis; its success ends the degraded state.
    Probe,
    /// Degraded: do not wait for Redis.
    Bypass,
}

/// Healthy or degraded, and when the next probe may go while degraded.
#[derive(Debug)]
struct Health {
    degraded: AtomicBool,
    /// Milliseconds since `epoch` before which no probe may start.
    next_probe_ms: AtomicU64,
    epoch: Instant,
    probe_interval: Duration,
}

impl Health {
    fn new(probe_interval: Duration) -> Self {
        Health {
            degraded: AtomicBool::new(false),
            next_probe_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            probe_interval,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn delay_probes(&self) {
        let next = self.now_ms() + ceil_ms(self.probe_interval);
        self.next_probe_ms.store(next, Ordering::Relaxed);
    }

    /// Whether a call may go to Redis: always when healthy; when degraded, one caller per
    /// probe interval (the one that moves the next probe time on).
    fn admit(&self) -> Admission {
        if !self.degraded.load(Ordering::Relaxed) {
            return Admission::Call;
        }
        let now = self.now_ms();
        let next = self.next_probe_ms.load(Ordering::Relaxed);
        let probe = now >= next
            && self
                .next_probe_ms
                .compare_exchange(
                    next,
                    now + ceil_ms(self.probe_interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if probe {
            Admission::Probe
        } else {
            Admission::Bypass
        }
    }

    /// Records a success; true when it ends the degraded state.
    fn succeeded(&self) -> bool {
        let recovered = self.degraded.swap(false, Ordering::Relaxed);
        if recovered {
            tracing::info!(
                backend = "redis",
                "cache backend recovered; caching resumed"
            );
        }
        recovered
    }

    fn failed(&self, operation: &'static str, error: &str) {
        self.delay_probes();
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backend = "redis",
                operation,
                error,
                "cache backend unavailable; bypassing the cache until it recovers"
            );
        } else {
            tracing::debug!(backend = "redis", operation, error, "cache probe failed");
        }
    }

    fn state(&self) -> CacheState {
        if self.degraded.load(Ordering::Relaxed) {
            CacheState::Degraded
        } else {
            CacheState::Healthy
        }
    }
}

struct Inner {
    client: redis::Client,
    options: RedisCacheOptions,
    /// `None` until connected, and after a failed probe (a fresh connection is then opened in
    /// the background).
    connection: Mutex<Option<ConnectionManager>>,
    connecting: AtomicBool,
    health: Health,
    /// Tags whose invalidation could not reach Redis, replayed when it is back: the entries
    /// they tag may still be there for the replicas that can reach it.
    pending_invalidations: Mutex<HashSet<String>>,
    counters: Counters,
}

/// The Redis cache. Cheap to clone (shared state).
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.inner.options.prefix)
            .field("state", &self.inner.health.state())
            .finish()
    }
}

impl Inner {
    fn connection(&self) -> MutexGuard<'_, Option<ConnectionManager>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a connection manager, within the connect timeout.
    async fn open(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.options.connect_timeout)
            .set_response_timeout(self.options.timeout)
            .set_number_of_retries(1)
            .set_max_delay(1000);
        let opening = self.client.get_connection_manager_with_config(config);
        match tokio::time::timeout(self.options.connect_timeout, opening).await {
            Ok(Ok(manager)) => Ok(manager),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("connection timed out".into()),
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashSet<String>> {
        self.pending_invalidations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl RedisCache {
    /// Opens the cache. Fails only on an invalid URL: if Redis cannot be reached now, the cache
    /// starts degraded (a warning) and connects later by itself.
    pub async fn connect(options: RedisCacheOptions) -> Result<Self, ConnectorError> {
        let client = redis::Client::open(options.url.as_str()).map_err(|error| {
            ConnectorError::Internal {
                detail: format!("invalid Redis URL for the cache: {error}"),
            }
        })?;
        let cache = RedisCache {
            inner: Arc::new(Inner {
                client,
                health: Health::new(options.probe_interval),
                options,
                connection: Mutex::new(None),
                connecting: AtomicBool::new(true),
                pending_invalidations: Mutex::default(),
                counters: Counters::default(),
            }),
        };
        cache.reconnect().await;
        Ok(cache)
    }

    pub fn options(&self) -> &RedisCacheOptions {
        &self.inner.options
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}tag:{tag}", self.inner.options.prefix)
    }

    /// Starts a background reconnection unless one is running.
    fn spawn_reconnect(&self) {
        if self
            .inner
            .connecting
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let cache = self.clone();
            tokio::spawn(async move { cache.reconnect().await });
        }
    }

    /// Connects and records the outcome in the health state.
    async fn reconnect(&self) {
        let inner = &self.inner;
        match inner.open().await {
            Ok(manager) => {
                *inner.connection() = Some(manager);
                self.recovered_if(inner.health.succeeded());
            }
            Err(error) => {
                Counters::add(&inner.counters.errors, 1);
                inner.health.failed("connect", &error);
            }
        }
        inner.connecting.store(false, Ordering::Release);
    }

    /// After the degraded state ends: replays the invalidations Redis missed, in the
    /// background.
    fn recovered_if(&self, recovered: bool) {
        if !recovered {
            return;
        }
        let tags: Vec<String> = self.inner.pending().drain().collect();
        if !tags.is_empty() {
            tracing::info!(
                backend = "redis",
                tags = tags.len(),
                "replaying cache invalidations missed while degraded"
            );
            let cache = self.clone();
            tokio::spawn(async move { cache.invalidate_tags(&tags).await });
        }
    }

    /// Keeps tags for replay, up to a bound (past it, their entries expire by TTL only).
    fn defer_invalidation(&self, tags: &[String]) {
        {
            let mut pending = self.inner.pending();
            for tag in tags {
                if pending.len() >= MAX_PENDING_INVALIDATIONS {
                    tracing::debug!(backend = "redis", "too many pending cache invalidations");
                    break;
                }
                pending.insert(tag.clone());
            }
        }
        // A probe may have ended the degraded state (and replayed) since this call failed:
        // then nothing else would replay these.
        if self.inner.health.state() == CacheState::Healthy {
            self.recovered_if(true);
        }
    }

    /// Runs one Redis call under the health rules: bypassed when degraded (but for probes),
    /// bounded by the timeout, outcome recorded. `None` means "behave as a miss / no-op".
    async fn call<T>(&self, operation: &'static str, pipeline: &redis::Pipeline) -> Option<T>
    where
        T: redis::FromRedisValue,
    {
        let inner = &self.inner;
        let admission = inner.health.admit();
        if admission == Admission::Bypass {
            Counters::add(&inner.counters.bypassed, 1);
            return None;
        }
        let connection = inner.connection().clone();
        let Some(mut connection) = connection else {
            Counters::add(&inner.counters.bypassed, 1);
            self.spawn_reconnect();
            return None;
        };
        let outcome = tokio::time::timeout(
            inner.options.timeout,
            pipeline.query_async::<T>(&mut connection),
        )
        .await;
        let error = match outcome {
            Ok(Ok(value)) => {
                // Only a probe ends the degraded state: a call admitted before the failure
                // that answers late proves little, and would make the state flap.
                if admission == Admission::Probe {
                    self.recovered_if(inner.health.succeeded());
                }
                return Some(value);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:?}", inner.options.timeout),
        };
        Counters::add(&inner.counters.errors, 1);
        inner.health.failed(operation, &error);
        if admission == Admission::Probe {
            // The probe failed too: start over with a fresh connection rather than wait on
            // the manager's own reconnection schedule.
            *inner.connection() = None;
            self.spawn_reconnect();
        }
        None
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Vec<Option<CacheHit>> {
        if keys.is_empty() {
            return Vec::new();
        }
        let prefix = &self.inner.options.prefix;
        let storage_keys: Vec<String> = keys.iter().map(|k| k.storage_key(prefix)).collect();
        let mut pipeline = redis::pipe();
        pipeline.cmd("MGET").arg(&storage_keys);
        let values: Option<(Vec<Option<Vec<u8>>>,)> = self.call("get", &pipeline).await;
        let now = SystemTime::now();
        let results: Vec<Option<CacheHit>> = match values {
            Some((values,)) if values.len() == keys.len() => values
                .iter()
                .map(|value| value.as_deref().and_then(|bytes| decode(bytes, now)))
                .collect(),
            _ => vec![None; keys.len()],
        };
        self.inner.counters.record_reads(&results);
        results
    }

    async fn set_many(&self, entries: Vec<(CacheKey, CacheEntry)>) {
        let now = SystemTime::now();
        let prefix = &self.inner.options.prefix;
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        let mut written = 0;
        for (key, entry) in &entries {
            let lifetime = entry.remaining_at(now);
            if lifetime.is_zero() {
                continue;
            }
            let ms = ceil_ms(lifetime);
            let storage_key = key.storage_key(prefix);
            pipeline
                .cmd("SET")
                .arg(&storage_key)
                .arg(encode(entry))
                .arg("PX")
                .arg(ms)
                .ignore();
            for tag in &entry.tags {
                let tag_key = self.tag_key(tag);
                pipeline
                    .cmd("SADD")
                    .arg(&tag_key)
                    .arg(&storage_key)
                    .ignore();
                // A new set gets this expiry; an existing one keeps the longer of the two.
                pipeline
                    .cmd("PEXPIRE")
                    .arg(&tag_key)
                    .arg(ms)
                    .arg("NX")
                    .ignore();
                pipeline
                    .cmd("PEXPIRE")
                    .arg(&tag_key)
                    .arg(ms)
                    .arg("GT")
                    .ignore();
            }
            written += 1;
        }
        if written == 0 {
            return;
        }
        if self.call::<()>("set", &pipeline).await.is_some() {
            Counters::add(&self.inner.counters.writes, written);
        }
    }

    async fn invalidate_tags(&self, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        // One script: atomic (a key tagged after it belongs to a later fill and keeps its
        // tag) and idempotent, so a call that failed or timed out (and may have run anyway)
        // is simply replayed later.
        let tag_keys: Vec<String> = tags.iter().map(|tag| self.tag_key(tag)).collect();
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("EVAL")
            .arg(INVALIDATE_SCRIPT)
            .arg(tag_keys.len())
            .arg(&tag_keys);
        if self.call::<(u64,)>("invalidate", &pipeline).await.is_none() {
            self.defer_invalidation(tags);
            return;
        }
        Counters::add(&self.inner.counters.invalidations, tags.len());
    }

    fn state(&self) -> CacheState {
        self.inner.health.state()
    }

    fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_value_decodes_to_its_payload_and_times() {
        let entry = CacheEntry::new(b"payload".to_vec(), Duration::from_secs(30));
        let hit = decode(&encode(&entry), entry.stored_at).unwrap_or_else(|| panic!("decodes"));
        assert_eq!(&*hit.value, b"payload");
        assert_eq!(unix_ms(hit.stored_at), unix_ms(entry.stored_at));
        assert_eq!(unix_ms(hit.fresh_until), unix_ms(entry.fresh_until()));
        assert_eq!(hit.freshness, Freshness::Fresh);
    }

    #[test]
    fn a_value_read_after_its_ttl_is_stale() {
        let entry = CacheEntry::new(Vec::new(), Duration::from_secs(1));
        let later = entry.stored_at + Duration::from_secs(2);
        let hit = decode(&encode(&entry), later).unwrap_or_else(|| panic!("decodes"));
        assert!(hit.is_stale());
        assert!(hit.value.is_empty());
    }

    #[test]
    fn foreign_or_truncated_values_are_misses() {
        let now = SystemTime::now();
        assert!(decode(b"", now).is_none());
        assert!(decode(b"hello world, not ours", now).is_none());
        let entry = CacheEntry::new(b"x".to_vec(), Duration::from_secs(1));
        assert!(decode(&encode(&entry)[..10], now).is_none());
    }

    #[test]
    fn options_never_show_the_redis_password() {
        let options = RedisCacheOptions::new("redis://user:s3cret@cache.internal:6379/0");
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("cache.internal"), "{shown}");
    }

    #[test]
    fn expiries_round_up_to_the_millisecond() {
        assert_eq!(ceil_ms(Duration::from_micros(1)), 1);
        assert_eq!(ceil_ms(Duration::from_millis(250)), 250);
    }

    #[test]
    fn while_degraded_one_caller_per_interval_probes() {
        let health = Health::new(Duration::from_secs(60));
        assert_eq!(health.admit(), Admission::Call, "healthy admits everyone");
        assert_eq!(health.admit(), Admission::Call);
        health.failed("get", "boom");
        assert_eq!(health.state(), CacheState::Degraded);
        assert_eq!(
            health.admit(),
            Admission::Bypass,
            "the failure delays the next probe"
        );
        health.next_probe_ms.store(0, Ordering::Relaxed);
        assert_eq!(
            health.admit(),
            Admission::Probe,
            "the first caller after the interval probes"
        );
        assert_eq!(health.admit(), Admission::Bypass, "and the others bypass");
        health.succeeded();
        assert_eq!(health.state(), CacheState::Healthy);
        assert_eq!(health.admit(), Admission::Call);
    }
}
