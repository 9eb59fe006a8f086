//! The Redis cache against real servers: the shared Redis of `TEST_REDIS_URL` (tests skip
//! without it; each test uses its own key prefix so that parallel tests never collide), a
//! redis-server of the test's own on a free port (stopped and restarted mid-test; the shared
//! one is never touched), a pausable TCP proxy (a Redis that stops answering), and closed
//! ports.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tributary_connectors::cache::{
    self, Cache, CacheEntry, CacheKey, CacheState, Freshness, RedisCache, RedisCacheOptions,
};

/// The shared Redis, when the environment provides one.
fn shared_redis() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("TEST_REDIS_URL is not set: skipping a Redis test");
            None
        }
    }
}

/// Options with a prefix of this test's own, a 100 ms call timeout and fast probes.
fn options(url: &str) -> RedisCacheOptions {
    let mut options = RedisCacheOptions::new(url);
    options.prefix = format!("tributary-test:{}:", uuid::Uuid::new_v4().simple());
    options.timeout = Duration::from_millis(100);
    options.connect_timeout = Duration::from_millis(500);
    options.probe_interval = Duration::from_millis(100);
    options
}

async fn connect(options: RedisCacheOptions) -> RedisCache {
    RedisCache::connect(options).await.unwrap()
}

fn key(n: usize) -> CacheKey {
    CacheKey::public("reviews", &format!("GET /reviews?productId={n}"))
}

fn entry(value: &str, ttl_ms: u64) -> CacheEntry {
    CacheEntry::new(value.as_bytes().to_vec(), Duration::from_millis(ttl_ms))
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|t| t.to_string()).collect()
}

/// A raw connection, to look at what the cache stored.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A loopback port that nothing listens on (at the time of the call).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server of the test's own, killed when dropped.
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    /// Starts `redis-server` on `port` and waits until it answers; `None` when there is no
    /// redis-server to run.
    async fn start(port: u16) -> Option<OwnRedis> {
        let binary = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(child) = child else {
            eprintln!("no redis-server to run: skipping");
            return None;
        };
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = redis::Client::open(url.as_str()).unwrap();
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    return Some(OwnRedis { child });
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A TCP proxy in front of a Redis that can stop forwarding (a Redis that hangs: bytes are
/// held, as TCP would) or cut the network (connections reset, new ones refused).
#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
    pumps: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            paused: Arc::default(),
            cut: Arc::default(),
            pumps: Arc::default(),
        };
        let state = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if state.cut.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let paused = &state.paused;
                let up = tokio::spawn(Proxy::pump(client_read, server_write, Arc::clone(paused)));
                let down = tokio::spawn(Proxy::pump(server_read, client_write, Arc::clone(paused)));
                let mut pumps = state.pumps.lock().unwrap();
                pumps.push(up.abort_handle());
                pumps.push(down.abort_handle());
            }
        });
        proxy
    }

    /// Copies bytes one way, holding them while paused.
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        paused: Arc<AtomicBool>,
    ) {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            while paused.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if to.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Cuts (closes every connection, refuses new ones) or restores the network.
    fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for pump in self.pumps.lock().unwrap().drain(..) {
                pump.abort();
            }
        }
    }
}

/// The log lines of this crate (level and message) emitted on the test's thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl Logs {
    fn count(&self, level: tracing::Level, starting: &str) -> usize {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .filter(|(l, message)| *l == level && message.starts_with(starting))
            .count()
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if !event
            .metadata()
            .target()
            .starts_with("tributary_connectors")
        {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let level = *event.metadata().level();
        self.0.lock().unwrap().push((level, message.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Polls until a value written through `cache` reads back and the cache is healthy.
async fn wait_until_caching_works(cache: &RedisCache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        cache.set(key(99), entry("back", 60_000)).await;
        if cache.get(&key(99)).await.is_some() && cache.state() == CacheState::Healthy {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "caching did not resume: {:?}",
            cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_value_stored_in_redis_is_a_fresh_hit_and_an_unknown_key_a_miss() {
    let Some(url) = shared_redis() else { return };
    let cache: Arc<dyn Cache> = Arc::new(connect(options(&url)).await);
    assert_eq!(cache.state(), CacheState::Healthy);
    assert_eq!(cache.backend(), "redis");

    let stored = entry("one", 60_000);
    cache.set(key(1), stored.clone()).await;
    let hit = cache.get(&key(1)).await.unwrap();
    assert_eq!(&*hit.value, b"one");
    assert_eq!(hit.freshness, Freshness::Fresh);
    let millis = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(
        millis(hit.fresh_until).as_millis(),
        millis(stored.fresh_until()).as_millis()
    );
    assert!(cache.get(&key(2)).await.is_none());

    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 1));
    assert_eq!((stats.errors, stats.bypassed), (0, 0));
}

#[tokio::test]
async fn values_are_stored_compactly_under_the_prefix_with_their_lifetime() {
    let Some(url) = shared_redis() else { return };
    let options = options(&url);
    let prefix = options.prefix.clone();
    let cache = connect(options).await;
    cache
        .set(
            key(1),
            entry("one", 10_000).with_stale_for(Duration::from_secs(20)),
        )
        .await;

    let mut raw = raw(&url).await;
    let stored_key = key(1).storage_key(&prefix);
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(&stored_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(bytes.len(), 17 + 3, "a 17-byte header, then the payload");
    assert!(bytes.ends_with(b"one"));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&stored_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        (25_000..=30_000).contains(&pttl),
        "kept for ttl + stale: {pttl}"
    );
}

#[tokio::test]
async fn a_batch_read_from_redis_answers_in_key_order_with_misses_in_place() {
    let Some(url) = shared_redis() else { return };
    let cache = connect(options(&url)).await;
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
async fn a_redis_entry_without_a_stale_window_is_gone_after_its_ttl() {
    let Some(url) = shared_redis() else { return };
    let cache = connect(options(&url)).await;
    cache.set(key(1), entry("one", 100)).await;
    assert!(cache.get(&key(1)).await.is_some());

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(cache.get(&key(1)).await.is_none());
}

#[tokio::test]
async fn an_expired_redis_entry_is_served_as_stale_within_its_window_and_gone_after_it() {
    let Some(url) = shared_redis() else { return };
    let cache = connect(options(&url)).await;
    cache
        .set(
            key(1),
            entry("one", 200).with_stale_for(Duration::from_millis(400)),
        )
        .await;
    assert!(!cache.get(&key(1)).await.unwrap().is_stale());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let hit = cache.get(&key(1)).await.unwrap();
    assert!(hit.is_stale());
    assert_eq!(&*hit.value, b"one");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cache.get(&key(1)).await.is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.stale_hits, stats.misses), (1, 1, 1));
}

#[tokio::test]
async fn invalidating_a_tag_in_redis_removes_its_entries_and_the_tag_set() {
    let Some(url) = shared_redis() else { return };
    let options = options(&url);
    let tag_key = format!("{}tag:product:1", options.prefix);
    let cache = connect(options).await;
    cache
        .set_many(vec![
            (key(1), entry("one", 60_000).with_tags(tags(&["product:1"]))),
            (
                key(2),
                entry("two", 5_000).with_tags(tags(&["product:1", "p2"])),
            ),
            (key(3), entry("three", 60_000).with_tags(tags(&["p3"]))),
        ])
        .await;

    // The tag set lives as long as its longest-lived member, whatever the order of writes.
    let mut raw = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&tag_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((55_000..=60_000).contains(&pttl), "tag set PTTL {pttl}");

    cache
        .invalidate_tags(&tags(&["product:1", "unknown"]))
        .await;
    assert!(cache.get(&key(1)).await.is_none());
    assert!(cache.get(&key(2)).await.is_none());
    assert!(cache.get(&key(3)).await.is_some());
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&tag_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(cache.stats().invalidations, 2);
}

#[tokio::test]
async fn a_value_set_by_one_replica_is_a_hit_on_another_and_invalidation_on_either_reaches_both() {
    let Some(url) = shared_redis() else { return };
    let options_a = options(&url);
    let mut options_b = RedisCacheOptions::new(&url);
    options_b.prefix = options_a.prefix.clone();
    let a = connect(options_a).await;
    let b = connect(options_b).await;

    a.set(
        key(1),
        entry("from a", 60_000).with_tags(tags(&["product:1"])),
    )
    .await;
    assert_eq!(&*b.get(&key(1)).await.unwrap().value, b"from a");

    b.invalidate_tags(&tags(&["product:1"])).await;
    assert!(a.get(&key(1)).await.is_none());
    assert!(b.get(&key(1)).await.is_none());
}

#[tokio::test]
async fn when_its_redis_stops_the_cache_answers_misses_quickly_and_resumes_when_redis_is_back() {
    if shared_redis().is_none() {
        return;
    }
    let port = free_port();
    let Some(server) = OwnRedis::start(port).await else {
        return;
    };
    // The test runs on one thread (tokio's current-thread runtime), the cache's background
    // reconnections included.
    let logs = Logs::default();
    let _logging = tracing::subscriber::set_default(logs.clone());
    let cache = connect(options(&format!("redis://127.0.0.1:{port}"))).await;
    cache.set(key(1), entry("one", 60_000)).await;
    assert!(cache.get(&key(1)).await.is_some());

    server.stop().await;
    for _ in 0..5 {
        let started = Instant::now();
        assert!(cache.get(&key(1)).await.is_none());
        cache.set(key(2), entry("two", 60_000)).await;
        cache.invalidate_tags(&tags(&["product:1"])).await;
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(600), "took {elapsed:?}");
    }
    assert_eq!(cache.state(), CacheState::Degraded);
    let stats = cache.stats();
    assert!(stats.errors >= 1, "{stats:?}");
    assert!(stats.bypassed >= 1, "{stats:?}");

    let _server = OwnRedis::start(port).await.unwrap();
    wait_until_caching_works(&cache).await;

    // One warning when it went down, one line when it came back, whatever the calls between.
    let warn = logs.count(tracing::Level::WARN, "cache backend unavailable");
    let info = logs.count(tracing::Level::INFO, "cache backend recovered");
    assert_eq!((warn, info), (1, 1), "{:?}", logs.0.lock().unwrap());
}

#[tokio::test]
async fn a_redis_that_stops_answering_costs_at_most_the_timeout_then_is_bypassed() {
    let Some(url) = shared_redis() else { return };
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = Proxy::start(upstream.to_string()).await;
    let mut options = options(&proxy.url());
    // Long enough that the second call below cannot be a probe, even on a busy machine.
    options.probe_interval = Duration::from_millis(500);
    let cache = connect(options).await;
    cache.set(key(1), entry("one", 60_000)).await;
    assert!(cache.get(&key(1)).await.is_some());

    proxy.pause(true);
    let started = Instant::now();
    assert!(cache.get(&key(1)).await.is_none());
    let first = started.elapsed();
    assert!(
        first >= Duration::from_millis(90),
        "waited the timeout: {first:?}"
    );
    assert!(
        first < Duration::from_millis(600),
        "but not more: {first:?}"
    );
    assert_eq!(cache.state(), CacheState::Degraded);

    // Degraded: the next calls do not wait for Redis.
    let started = Instant::now();
    assert!(cache.get(&key(1)).await.is_none());
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(cache.stats().bypassed >= 1);

    proxy.pause(false);
    wait_until_caching_works(&cache).await;
    assert_eq!(&*cache.get(&key(1)).await.unwrap().value, b"one");
}

#[tokio::test]
async fn a_redis_unreachable_at_start_up_gives_a_degraded_cache_not_an_error() {
    let port = free_port();
    let started = Instant::now();
    let cache = RedisCache::connect(options(&format!("redis://127.0.0.1:{port}")))
        .await
        .unwrap();
    assert_eq!(cache.state(), CacheState::Degraded);

    cache.set(key(1), entry("one", 60_000)).await;
    assert!(cache.get(&key(1)).await.is_none());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(cache.stats().errors >= 1);
}

#[tokio::test]
async fn an_invalid_redis_url_is_an_error() {
    assert!(RedisCache::connect(RedisCacheOptions::new("not a url"))
        .await
        .is_err());
}

#[tokio::test]
async fn with_redis_configured_the_engine_gets_the_redis_cache() {
    let Some(url) = shared_redis() else { return };
    let cache = cache::connect(Some(options(&url)), Default::default())
        .await
        .unwrap();
    assert_eq!(cache.backend(), "redis");
    assert_eq!(cache.state(), CacheState::Healthy);
}

#[tokio::test]
async fn an_invalidation_that_could_not_reach_redis_is_replayed_when_it_is_back() {
    let Some(url) = shared_redis() else { return };
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = Proxy::start(upstream.to_string()).await;
    // Replica A reaches Redis through the proxy, replica B directly.
    let options_a = options(&proxy.url());
    let mut options_b = options(&url);
    options_b.prefix = options_a.prefix.clone();
    let a = connect(options_a).await;
    let b = connect(options_b).await;
    b.set(key(1), entry("old", 60_000).with_tags(tags(&["product:1"])))
        .await;

    // A mutation on A while A cannot reach Redis: its invalidation fails, B still has the
    // entry.
    proxy.cut(true);
    a.invalidate_tags(&tags(&["product:1"])).await;
    assert_eq!(a.state(), CacheState::Degraded);
    assert!(b.get(&key(1)).await.is_some());

    // Once A reaches Redis again, it replays the invalidation and B's entry goes.
    proxy.cut(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.get(&key(1)).await.is_some() {
        assert!(Instant::now() < deadline, "not replayed: {:?}", a.stats());
        a.get(&key(2)).await; // traffic on A, which probes Redis
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.state(), CacheState::Healthy);
}
