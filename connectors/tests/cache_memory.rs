//! The in-memory cache (moka): hits and misses, TTLs and stale windows with millisecond
//! durations and short waits (moka runs on the real clock), the size bound and tag
//! invalidation, all through the `Cache` trait object the engine holds.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tributary_connectors::cache::{
    self, Cache, CacheEntry, CacheKey, CacheState, Freshness, MemoryCache, MemoryCacheOptions,
};

fn key(n: usize) -> CacheKey {
    CacheKey::public("main", &format!("SELECT * FROM products WHERE id = {n}"))
}

fn entry(value: &str, ttl_ms: u64) -> CacheEntry {
    CacheEntry::new(value.as_bytes().to_vec(), Duration::from_millis(ttl_ms))
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|t| t.to_string()).collect()
}

async fn value_of(cache: &dyn Cache, key: &CacheKey) -> Option<String> {
    let hit = cache.get(key).await?;
    Some(String::from_utf8(hit.value.to_vec()).unwrap())
}

#[tokio::test]
async fn a_stored_value_is_a_fresh_hit_and_an_unknown_key_a_miss() {
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::default());
    cache.set(key(1), entry("one", 60_000)).await;

    let hit = cache.get(&key(1)).await.unwrap();
    assert_eq!(&*hit.value, b"one");
    assert_eq!(hit.freshness, Freshness::Fresh);
    assert!(hit.fresh_until > SystemTime::now());
    assert!(cache.get(&key(2)).await.is_none());

    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 1));
    assert_eq!(cache.state(), CacheState::Healthy);
    assert_eq!(cache.backend(), "memory");
}

#[tokio::test]
async fn a_batch_read_answers_in_key_order_with_misses_in_place() {
    let cache = MemoryCache::default();
    cache
        .set_many(vec![
            (key(1), entry("one", 60_000)),
            (key(3), entry("three", 60_000)),
        ])
        .await;

    let results = cache.get_many(&[key(3), key(2), key(1)]).await;
    let values: Vec<Option<&[u8]>> = results
        .iter()
        .map(|hit| hit.as_ref().map(|h| &*h.value))
        .collect();
    assert_eq!(values, vec![Some(&b"three"[..]), None, Some(&b"one"[..])]);
    assert!(cache.get_many(&[]).await.is_empty());
}

#[tokio::test]
async fn a_private_entry_is_not_seen_under_another_identity_or_as_public() {
    let cache = MemoryCache::default();
    let alice = CacheKey::private("accounts", "GET /me", "alice");
    cache.set(alice, entry("alice's orders", 60_000)).await;

    assert!(cache.get(&alice).await.is_some());
    assert!(cache
        .get(&CacheKey::private("accounts", "GET /me", "bob"))
        .await
        .is_none());
    assert!(cache
        .get(&CacheKey::public("accounts", "GET /me"))
        .await
        .is_none());
}

#[tokio::test]
async fn storing_again_under_a_key_replaces_the_value() {
    let cache = MemoryCache::default();
    cache.set(key(1), entry("old", 60_000)).await;
    cache.set(key(1), entry("new", 60_000)).await;
    assert_eq!(value_of(&cache, &key(1)).await.as_deref(), Some("new"));
}

#[tokio::test]
async fn an_entry_without_a_stale_window_is_gone_after_its_ttl() {
    let cache = MemoryCache::default();
    cache.set(key(1), entry("one", 100)).await;
    assert!(cache.get(&key(1)).await.is_some());

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(cache.get(&key(1)).await.is_none());
}

#[tokio::test]
async fn an_expired_entry_is_served_as_stale_within_its_window_and_gone_after_it() {
    let cache = MemoryCache::default();
    let stale_for = Duration::from_millis(400);
    cache
        .set(key(1), entry("one", 200).with_stale_for(stale_for))
        .await;
    assert_eq!(
        cache.get(&key(1)).await.unwrap().freshness,
        Freshness::Fresh
    );

    // 300 ms: past the 200 ms TTL, within the 600 ms window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hit = cache.get(&key(1)).await.unwrap();
    assert!(hit.is_stale());
    assert_eq!(&*hit.value, b"one");

    // 800 ms: past the window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cache.get(&key(1)).await.is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.stale_hits, stats.misses), (1, 1, 1));
}

#[tokio::test]
async fn an_entry_already_past_its_window_is_not_stored() {
    let cache = MemoryCache::default();
    let mut old = entry("old", 1_000);
    old.stored_at = SystemTime::now() - Duration::from_secs(10);
    cache.set(key(1), old).await;
    assert!(cache.get(&key(1)).await.is_none());
    assert_eq!(cache.stats().writes, 0);
}

#[tokio::test]
async fn the_size_bound_evicts_entries_beyond_it() {
    let cache = MemoryCache::new(MemoryCacheOptions {
        max_bytes: 16 * 1024,
    });
    let payload = vec![b'x'; 1024];
    for n in 0..100 {
        let entry = CacheEntry::new(payload.clone(), Duration::from_secs(60));
        cache.set(key(n), entry).await;
    }
    cache.run_pending_tasks().await;

    assert!(
        cache.weighted_size() <= 16 * 1024,
        "{}",
        cache.weighted_size()
    );
    let keys: Vec<CacheKey> = (0..100).map(key).collect();
    let held = cache
        .get_many(&keys)
        .await
        .iter()
        .filter(|hit| hit.is_some())
        .count();
    assert!((1..=16).contains(&held), "{held} entries of 1 KiB held");
}

#[tokio::test]
async fn invalidating_a_tag_removes_its_entries_and_only_them() {
    let cache = MemoryCache::default();
    cache
        .set_many(vec![
            (
                key(1),
                entry("one", 60_000).with_tags(tags(&["product:1", "list"])),
            ),
            (key(2), entry("two", 60_000).with_tags(tags(&["product:2"]))),
            (key(3), entry("three", 60_000)),
        ])
        .await;

    cache
        .invalidate_tags(&tags(&["product:1", "unknown"]))
        .await;
    assert!(cache.get(&key(1)).await.is_none());
    assert!(cache.get(&key(2)).await.is_some());
    assert!(cache.get(&key(3)).await.is_some());

    // The entry's other tag ("list") went with it: only product:2 is left in the index.
    cache.run_pending_tasks().await;
    assert_eq!(cache.tag_count(), 1);
    assert_eq!(cache.stats().invalidations, 2);
}

#[tokio::test]
async fn a_replaced_entry_is_still_invalidated_by_the_tags_it_was_stored_with() {
    let cache = MemoryCache::default();
    let tagged = |value: &str| entry(value, 60_000).with_tags(tags(&["product:1"]));
    cache.set(key(1), tagged("old")).await;
    cache.set(key(1), tagged("new")).await;
    // The replacement's removal notice (for "old") must not untag "new".
    cache.run_pending_tasks().await;

    cache.invalidate_tags(&tags(&["product:1"])).await;
    assert!(cache.get(&key(1)).await.is_none());
}

#[tokio::test]
async fn expired_entries_leave_the_tag_index() {
    let cache = MemoryCache::default();
    cache
        .set(key(1), entry("one", 50).with_tags(tags(&["product:1"])))
        .await;
    assert_eq!(cache.tag_count(), 1);

    // moka sweeps expired entries on a timer wheel of about one-second slots: poll for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cache.tag_count() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cache.run_pending_tasks().await;
    }
    assert_eq!(cache.tag_count(), 0);
}

#[tokio::test]
async fn without_redis_the_engine_gets_the_in_memory_cache() {
    let cache = cache::connect(None, MemoryCacheOptions::default())
        .await
        .unwrap();
    assert_eq!(cache.backend(), "memory");
}
