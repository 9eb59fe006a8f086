//! [`StartOverMap`]: the in-memory map behind the per-request shortcuts (parsed documents,
//! validated requests, constant responses).
//!
//! Those maps must stay bounded, but need no eviction order: clients send the same few
//! documents again and again, so when the next entry would not fit the map simply starts
//! over. The hot entries are back after one request each, and junk sent to fill the map can
//! never pin its memory.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

/// A map bounded by entries and bytes that starts over when the next entry would not fit.
pub struct StartOverMap<K, V> {
    entries: RwLock<Entries<K, V>>,
    max_entries: usize,
    max_bytes: usize,
    /// An entry larger than this is not kept at all (one entry cannot empty the map alone).
    max_entry_bytes: usize,
}

struct Entries<K, V> {
    map: HashMap<K, V>,
    /// What the kept entries were counted as (see [`StartOverMap::insert`]).
    bytes: usize,
}

impl<K: Hash + Eq, V: Clone> StartOverMap<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize, max_entry_bytes: usize) -> Self {
        StartOverMap {
            entries: RwLock::new(Entries {
                map: HashMap::new(),
                bytes: 0,
            }),
            max_entries,
            max_bytes,
            max_entry_bytes,
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.map.get(key).cloned()
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.map.contains_key(key)
    }

    /// Keeps `value` under `key`, counted as `bytes` against the bound (the key is only made
    /// owned once the entry is known to be kept). Replacing an entry counts nothing more.
    pub fn insert(&self, key: impl Into<K>, value: V, bytes: usize) {
        if bytes > self.max_entry_bytes {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.map.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
            entries.map.clear();
            entries.bytes = 0;
        }
        if entries.map.insert(key.into(), value).is_none() {
            entries.bytes += bytes;
        }
    }

    /// Kept entries.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_over_its_own_cap_is_not_kept() {
        let map: StartOverMap<String, ()> = StartOverMap::new(10, 100, 10);
        map.insert("0123456789x", (), 11);
        assert!(map.is_empty());
        map.insert("0123456789", (), 10);
        assert!(map.contains("0123456789"));
    }

    #[test]
    fn the_map_starts_over_when_the_next_entry_would_exceed_the_bytes_or_the_entries() {
        let map: StartOverMap<String, u32> = StartOverMap::new(3, 25, 10);
        map.insert("a", 1, 10);
        map.insert("b", 2, 10);
        assert_eq!(map.len(), 2);
        map.insert("c", 3, 10); // 30 > 25 bytes: starts over
        assert_eq!((map.len(), map.get("c"), map.get("a")), (1, Some(3), None));
        let by_count: StartOverMap<String, u32> = StartOverMap::new(2, 1000, 10);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            by_count.insert(key, i as u32, 1);
        }
        assert_eq!((by_count.len(), by_count.get("c")), (1, Some(2)));
    }

    #[test]
    fn replacing_an_entry_counts_its_bytes_once() {
        let map: StartOverMap<String, u32> = StartOverMap::new(10, 20, 10);
        map.insert("a", 1, 10);
        map.insert("a", 2, 10);
        map.insert("b", 3, 10);
        assert_eq!(
            (map.len(), map.get("a"), map.get("b")),
            (2, Some(2), Some(3))
        );
    }
}
