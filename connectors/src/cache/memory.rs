//! [`MemoryCache`]: the in-process cache (moka), the default when no Redis is configured.
//!
//! - Bounded by bytes: each entry weighs its payload, tags and a fixed overhead, and moka
//!   evicts the least useful entries (TinyLFU) past `max_bytes`.
//! - Each entry lives for `ttl + stale_for` (moka's per-entry [`Expiry`]); reads also check
//!   the wall clock, so an entry moka has not swept yet is never served past its window.
//! - Tags: an index `tag → {key → generation}` beside moka. Invalidation takes a tag's keys
//!   out of the index and removes them from moka. moka's eviction listener removes an evicted
//!   entry from the index, but only for the generation it was stored with, so that replacing
//!   an entry does not untag its successor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::Expiry;

use super::{Cache, CacheEntry, CacheHit, CacheKey, CacheState, CacheStats, Counters, Freshness};

/// How to build a [`MemoryCache`].
#[derive(Debug, Clone)]
pub struct MemoryCacheOptions {
    /// The bound on the total weight of the entries (payloads, tags and overhead), in bytes.
    pub max_bytes: u64,
}

impl Default for MemoryCacheOptions {
    /// 64 MiB.
    fn default() -> Self {
        MemoryCacheOptions {
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Bytes counted per entry on top of its payload and tags: the key, the timestamps and moka's
/// own bookkeeping, roughly. It keeps many tiny entries from slipping under the bound.
const ENTRY_OVERHEAD: usize = 96;

/// An entry as held by moka.
#[derive(Debug)]
struct Stored {
    value: Arc<[u8]>,
    stored_at: SystemTime,
    fresh_until: SystemTime,
    serve_until: SystemTime,
    tags: Vec<String>,
    /// Which write stored it: the tag index entries it owns carry the same number.
    generation: u64,
}

/// The tag index: tag → the keys stored with it, and the generation of that write.
type TagIndex = HashMap<String, HashMap<CacheKey, u64>>;

/// moka's per-entry expiry: until the end of the stale window, from the wall clock.
struct UntilServeEnd;

impl UntilServeEnd {
    fn remaining(value: &Stored) -> Option<Duration> {
        Some(
            value
                .serve_until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

impl Expiry<CacheKey, Arc<Stored>> for UntilServeEnd {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Stored>,
        _created_at: Instant,
    ) -> Option<Duration> {
        UntilServeEnd::remaining(value)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<Stored>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        UntilServeEnd::remaining(value)
    }
}

/// The in-process cache. Cheap to share behind an `Arc`; always [`CacheState::Healthy`].
pub struct MemoryCache {
    entries: moka::future::Cache<CacheKey, Arc<Stored>>,
    tags: Arc<Mutex<TagIndex>>,
    next_generation: AtomicU64,
    counters: Counters,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .field("weighted_size", &self.entries.weighted_size())
            .finish()
    }
}

fn lock(tags: &Mutex<TagIndex>) -> MutexGuard<'_, TagIndex> {
    // The index stays consistent whatever panicked while holding it: every update is a
    // single insert or removal.
    tags.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes `key` from the index under each of `tags`, if it is still there for `generation`;
/// drops tags left with no keys.
fn untag(index: &mut TagIndex, key: &CacheKey, tags: &[String], generation: u64) {
    for tag in tags {
        if let Some(keys) = index.get_mut(tag) {
            if keys.get(key) == Some(&generation) {
                keys.remove(key);
            }
            if keys.is_empty() {
                index.remove(tag);
            }
        }
    }
}

impl MemoryCache {
    pub fn new(options: MemoryCacheOptions) -> Self {
        let tags: Arc<Mutex<TagIndex>> = Arc::default();
        let listener_tags = Arc::clone(&tags);
        let entries = moka::future::Cache::builder()
            .max_capacity(options.max_bytes)
            .weigher(|_key: &CacheKey, value: &Arc<Stored>| {
                let tags: usize = value.tags.iter().map(String::len).sum();
                let weight = value.value.len() + tags + ENTRY_OVERHEAD;
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .expire_after(UntilServeEnd)
            .eviction_listener(
                move |key: Arc<CacheKey>, value: Arc<Stored>, _cause: RemovalCause| {
                    if !value.tags.is_empty() {
                        let mut index = lock(&listener_tags);
                        untag(&mut index, &key, &value.tags, value.generation);
                    }
                },
            )
            .build();
        MemoryCache {
            entries,
            tags,
            next_generation: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// Applies moka's pending work now (evictions past the bound, expirations, listener
    /// calls), which it otherwise does a little at a time as the cache is used. For tests, and
    /// before reading [`MemoryCache::weighted_size`].
    pub async fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks().await;
    }

    /// The number of entries held (approximate until pending tasks have run).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// The total weight held, in bytes (approximate until pending tasks have run).
    pub fn weighted_size(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// The number of tags in the index (tests use it to check that the index is cleaned up).
    pub fn tag_count(&self) -> usize {
        lock(&self.tags).len()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new(MemoryCacheOptions::default())
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Vec<Option<CacheHit>> {
        let now = SystemTime::now();
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            let hit = self
                .entries
                .get(key)
                .await
                .filter(|stored| now < stored.serve_until)
                .map(|stored| CacheHit {
                    value: Arc::clone(&stored.value),
                    stored_at: stored.stored_at,
                    fresh_until: stored.fresh_until,
                    freshness: Freshness::at(now, stored.fresh_until),
                });
            results.push(hit);
        }
        self.counters.record_reads(&results);
        results
    }

    async fn set_many(&self, entries: Vec<(CacheKey, CacheEntry)>) {
        let now = SystemTime::now();
        for (key, entry) in entries {
            if entry.remaining_at(now).is_zero() {
                continue;
            }
            let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
            // Tag first, store second: an invalidation that runs after the store always finds
            // the key in the index.
            if !entry.tags.is_empty() {
                let mut index = lock(&self.tags);
                for tag in &entry.tags {
                    index
                        .entry(tag.clone())
                        .or_default()
                        .insert(key, generation);
                }
            }
            let stored = Stored {
                fresh_until: entry.fresh_until(),
                serve_until: entry.serve_until(),
                value: entry.value,
                stored_at: entry.stored_at,
                tags: entry.tags,
                generation,
            };
            self.entries.insert(key, Arc::new(stored)).await;
            Counters::add(&self.counters.writes, 1);
        }
    }

    async fn invalidate_tags(&self, tags: &[String]) {
        let keys: Vec<CacheKey> = {
            let mut index = lock(&self.tags);
            tags.iter()
                .filter_map(|tag| index.remove(tag))
                .flat_map(|keys| keys.into_keys())
                .collect()
        };
        for key in &keys {
            // The eviction listener removes the key from the entry's other tags.
            self.entries.invalidate(key).await;
        }
        Counters::add(&self.counters.invalidations, tags.len());
    }

    fn state(&self) -> CacheState {
        CacheState::Healthy
    }

    fn stats(&self) -> CacheStats {
        self.counters.snapshot()
    }
}
