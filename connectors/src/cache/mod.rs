//! Caching of connector results: the [`Cache`] capability trait and its two implementations,
//! [`MemoryCache`] (moka, the default) and [`RedisCache`] (shared by every replica that points
//! at the same Redis).
//!
//! The engine stores serialized connector results (SQL rows, HTTP bodies) as opaque bytes under
//! a [`CacheKey`] (a hash of the source, the exact request and, for PRIVATE data, the caller's
//! identity). Each [`CacheEntry`] is fresh for its `ttl` and may then be served for
//! `stale_for` more, but only when the backend fails (stale-if-error): a read says which with
//! [`Freshness`], and the engine decides.
//!
//! Batch-first: a batched field reads and fills one entry per parent key in one call
//! ([`Cache::get_many`], [`Cache::set_many`]), so a batch with some keys cached fetches only
//! the missing ones.
//!
//! A cache never fails a request: its methods return no errors. A backend in trouble (Redis
//! down or slow) turns reads into misses and writes into no-ops, shows in [`Cache::state`] and
//! in the counters of [`Cache::stats`], and recovers by itself.
//!
//! # Layout
//! - `key`: [`CacheKey`], the 128-bit request hash.
//! - `memory`: [`MemoryCache`]: moka bounded by bytes, per-entry expiry, in-process tag index.
//! - `redis`: [`RedisCache`]: `ConnectionManager`, compact values, tags as Redis sets, call
//!   timeouts and the healthy/degraded state with probing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::ConnectorError;

mod key;
mod memory;
mod redis;

pub use self::key::CacheKey;
pub use self::memory::{MemoryCache, MemoryCacheOptions};
pub use self::redis::{RedisCache, RedisCacheOptions};

/// What the engine stores: the serialized connector result and how long it may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The serialized result. Shared (`Arc`) so that a read from the in-memory cache does not
    /// copy the payload.
    pub value: Arc<[u8]>,
    /// When the result was fetched from the backend (wall clock, so that replicas sharing a
    /// Redis agree on ages).
    pub stored_at: SystemTime,
    /// Fresh for this long after `stored_at` (`@cache(ttl:)`).
    pub ttl: Duration,
    /// After expiry, how long the entry may still be served when the backend fails
    /// (`@cache(staleIfError:)`); zero for none. The entry is kept for `ttl + stale_for`.
    pub stale_for: Duration,
    /// Invalidation tags (`@cache(tags:)`, rendered), e.g. `product:42`.
    pub tags: Vec<String>,
}

impl CacheEntry {
    /// An entry stored now, fresh for `ttl`, with no stale window and no tags.
    pub fn new(value: impl Into<Arc<[u8]>>, ttl: Duration) -> Self {
        CacheEntry {
            value: value.into(),
            stored_at: SystemTime::now(),
            ttl,
            stale_for: Duration::ZERO,
            tags: Vec::new(),
        }
    }

    pub fn with_stale_for(mut self, stale_for: Duration) -> Self {
        self.stale_for = stale_for;
        self
    }

    pub fn with_tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The end of the fresh period.
    pub fn fresh_until(&self) -> SystemTime {
        self.stored_at + self.ttl
    }

    /// The end of the stale window: after this the entry is gone.
    pub fn serve_until(&self) -> SystemTime {
        self.fresh_until() + self.stale_for
    }

    /// How long the entry has left to live at `now` (fresh or stale); zero when it is past
    /// its stale window, and then it is not stored at all.
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.serve_until()
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }
}

/// Whether a cached value may be served as is, or only when the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within its TTL: serve it.
    Fresh,
    /// Past its TTL but within its stale window: serve it only if the backend fails.
    Stale,
}

impl Freshness {
    /// The freshness at `now` of an entry fresh until `fresh_until`.
    pub fn at(now: SystemTime, fresh_until: SystemTime) -> Freshness {
        if now < fresh_until {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }
}

/// A value read from the cache. Tags are not returned: they matter only for invalidation,
/// which the cache does itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHit {
    pub value: Arc<[u8]>,
    /// When the value was fetched from the backend (for an `Age` or an extension).
    pub stored_at: SystemTime,
    /// The end of its fresh period.
    pub fresh_until: SystemTime,
    pub freshness: Freshness,
}

impl CacheHit {
    pub fn is_stale(&self) -> bool {
        self.freshness == Freshness::Stale
    }
}

/// Whether the cache backend is working. The in-memory cache is always healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    Healthy,
    /// The backend failed or timed out: reads are misses and writes no-ops, except for one
    /// probe call at a time every probe interval; the first success makes it healthy again.
    Degraded,
}

/// Counters since start, for the metrics endpoint and tests. Each key of a batch counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Keys read and found fresh.
    pub hits: u64,
    /// Keys read and found stale (within their stale window).
    pub stale_hits: u64,
    /// Keys read and not found (or expired, or unreadable, or the backend failed).
    pub misses: u64,
    /// Entries written (or sent to the backend, for Redis).
    pub writes: u64,
    /// Tags invalidated.
    pub invalidations: u64,
    /// Backend calls that failed or timed out.
    pub errors: u64,
    /// Calls not sent to the backend because it is degraded.
    pub bypassed: u64,
}

/// A cache of connector results, in-process or shared.
///
/// No method returns an error: a cache in trouble behaves as an empty cache that stores
/// nothing, so requests are still answered from the backends.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The implementation's name (`memory`, `redis`), for logs and metrics labels.
    fn backend(&self) -> &'static str;

    /// Reads entries, in key order: fresh or stale-within-window values, `None` otherwise.
    async fn get_many(&self, keys: &[CacheKey]) -> Vec<Option<CacheHit>>;

    /// Reads one entry.
    async fn get(&self, key: &CacheKey) -> Option<CacheHit> {
        self.get_many(std::slice::from_ref(key))
            .await
            .pop()
            .flatten()
    }

    /// Stores entries (replacing any under the same keys) and tags them. Entries already past
    /// their stale window are skipped.
    async fn set_many(&self, entries: Vec<(CacheKey, CacheEntry)>);

    /// Stores one entry.
    async fn set(&self, key: CacheKey, entry: CacheEntry) {
        self.set_many(vec![(key, entry)]).await
    }

    /// Removes every entry carrying one of these tags (what a mutation's `@invalidate` does),
    /// so that the next read goes to the backend. With a shared backend the removal is seen by
    /// every replica.
    async fn invalidate_tags(&self, tags: &[String]);

    fn state(&self) -> CacheState;

    fn stats(&self) -> CacheStats;
}

/// Opens the cache the engine holds: Redis when configured (`REDIS_URL`), shared by the
/// replicas; in-memory otherwise. Fails only on an invalid Redis URL: an unreachable Redis
/// gives a degraded cache that connects later by itself.
pub async fn connect(
    redis: Option<RedisCacheOptions>,
    memory: MemoryCacheOptions,
) -> Result<Arc<dyn Cache>, ConnectorError> {
    Ok(match redis {
        Some(options) => Arc::new(RedisCache::connect(options).await?),
        None => Arc::new(MemoryCache::new(memory)),
    })
}

/// The counters behind [`CacheStats`], shared by the implementations.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    invalidations: AtomicU64,
    errors: AtomicU64,
    bypassed: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts the outcome of a read.
    fn record_reads(&self, results: &[Option<CacheHit>]) {
        for result in results {
            let counter = match result {
                Some(hit) if hit.is_stale() => &self.stale_hits,
                Some(_) => &self.hits,
                None => &self.misses,
            };
            Counters::add(counter, 1);
        }
    }

    fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            stale_hits: self.stale_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_kept_for_its_ttl_plus_its_stale_window() {
        let entry = CacheEntry::new(b"v".to_vec(), Duration::from_secs(10))
            .with_stale_for(Duration::from_secs(5));
        assert_eq!(entry.remaining_at(entry.stored_at), Duration::from_secs(15));
        assert_eq!(
            entry.remaining_at(entry.stored_at + Duration::from_secs(20)),
            Duration::ZERO
        );
    }

    #[test]
    fn freshness_turns_stale_at_the_end_of_the_ttl() {
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(
            Freshness::at(until - Duration::from_millis(1), until),
            Freshness::Fresh
        );
        assert_eq!(Freshness::at(until, until), Freshness::Stale);
    }
}
