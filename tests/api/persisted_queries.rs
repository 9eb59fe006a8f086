//! Automatic Persisted Queries (Apollo's protocol) over real HTTP: the not-found round trip
//! over POST and GET, hash mismatches, APQ turned off, the store shared by two instances on
//! one Redis, and a Redis that cannot be reached.

use serde_json::json;

use crate::cache_support::{test_redis_url, unique_prefix, with_redis, OwnRedis};
use crate::documents_support::{
    demo_app, get, persisted, post, sha256, APPLICATION_JSON, GRAPHQL_RESPONSE_JSON,
};
use crate::helpers::{spawn_app, Backend, Spawn, TestDb};

const QUERY: &str = "{ categories { name } }";

/// The keys matching `pattern` in the Redis at `url` (with redis-cli).
fn redis_keys(url: &str, pattern: &str) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", pattern])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_hash_alone_is_not_found_until_the_query_is_sent_with_it_then_the_hash_alone_runs_it_over_post(
) {
    let (app, db) = demo_app(|_| {}).await;
    let hash = sha256(QUERY);

    for accept in [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON] {
        let miss = post(&app, json!({"extensions": persisted(&hash)}), accept).await;
        assert_eq!(miss.status, 200, "{accept}: {:?}", miss);
        assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(miss.body["errors"][0]["message"], "PersistedQueryNotFound");
        assert!(miss.body.get("data").is_none(), "{}", miss.body);
        assert_eq!(miss.cache_control(), "no-store");
    }

    let full = post(
        &app,
        json!({"query": QUERY, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    full.assert_ok();

    // The store is written in the background, just after the answer.
    let mut hit = post(
        &app,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    for _ in 0..50 {
        if hit.status == 200 && hit.body.get("errors").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        hit = post(
            &app,
            json!({"extensions": persisted(&hash)}),
            GRAPHQL_RESPONSE_JSON,
        )
        .await;
    }
    hit.assert_ok();
    assert_eq!(hit.body["data"], full.body["data"]);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_round_trip_works_over_get_where_the_miss_is_never_cacheable_and_the_hit_is() {
    let (app, db) = demo_app(|_| {}).await;
    let hash = sha256(QUERY);
    let extensions = persisted(&hash).to_string();

    let miss = get(&app, &[("extensions", &extensions)], GRAPHQL_RESPONSE_JSON).await;
    assert_eq!(miss.status, 200, "{:?}", miss);
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(miss.cache_control(), "no-store");

    let full = get(
        &app,
        &[("query", QUERY), ("extensions", &extensions)],
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    full.assert_ok();

    let mut hit = get(&app, &[("extensions", &extensions)], GRAPHQL_RESPONSE_JSON).await;
    for _ in 0..50 {
        if hit.body.get("errors").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        hit = get(&app, &[("extensions", &extensions)], GRAPHQL_RESPONSE_JSON).await;
    }
    hit.assert_ok();
    assert_eq!(hit.body["data"], full.body["data"]);
    // `categories` is @cache(ttl: "60s"): the hit's GET is CDN-cacheable, as the full one is.
    assert_eq!(hit.cache_control(), full.cache_control());
    assert!(
        hit.cache_control().contains("max-age"),
        "{}",
        hit.cache_control()
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_hash_that_is_not_the_sha256_of_the_query_is_refused_with_400_and_nothing_is_stored() {
    let (app, db) = demo_app(|_| {}).await;
    let wrong = sha256("{ something { else } }");
    for accept in [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON] {
        let reply = post(
            &app,
            json!({"query": QUERY, "extensions": persisted(&wrong)}),
            accept,
        )
        .await;
        assert_eq!(reply.status, 400, "{accept}: {:?}", reply);
        assert_eq!(reply.code(), "PERSISTED_QUERY_HASH_MISMATCH");
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let reply = post(
        &app,
        json!({"extensions": persisted(&wrong)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    assert_eq!(reply.code(), "PERSISTED_QUERY_NOT_FOUND");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_malformed_persisted_query_extension_is_a_bad_request() {
    let (app, db) = demo_app(|_| {}).await;
    for extensions in [
        json!({"persistedQuery": {"version": 2, "sha256Hash": sha256(QUERY)}}),
        json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}),
        json!({"persistedQuery": {"version": 1}}),
    ] {
        let reply = post(
            &app,
            json!({"extensions": extensions}),
            GRAPHQL_RESPONSE_JSON,
        )
        .await;
        assert_eq!(reply.status, 400, "{extensions}: {:?}", reply);
        assert_eq!(reply.code(), "BAD_REQUEST");
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn with_apq_off_a_hash_alone_is_not_supported_and_a_query_with_its_hash_still_runs() {
    let (app, db) = demo_app(|s| s.apq.enabled = false).await;
    let hash = sha256(QUERY);
    let reply = post(
        &app,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply);
    assert_eq!(reply.code(), "PERSISTED_QUERY_NOT_SUPPORTED");
    post(
        &app,
        json!({"query": QUERY, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_persisted_queries() {
    let Some(url) = test_redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: skipped");
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = unique_prefix("apq");
    let a = spawn_app(with_redis(Spawn::demo(&db), &url, &prefix)).await;
    let b = spawn_app(with_redis(Spawn::demo(&db), &url, &prefix)).await;
    // A query no other test sends, so that only this test's request can have stored it.
    let query = format!(
        "query Shared{} {{ categories {{ name }} }}",
        uuid::Uuid::new_v4().simple()
    );
    let hash = sha256(&query);

    let miss = post(
        &b,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
    post(
        &a,
        json!({"query": query, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();

    let mut hit = post(
        &b,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    for _ in 0..50 {
        if hit.body.get("errors").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        hit = post(
            &b,
            json!({"extensions": persisted(&hash)}),
            GRAPHQL_RESPONSE_JSON,
        )
        .await;
    }
    hit.assert_ok();

    // Stored under the cache prefix, in the apq namespace.
    let keys = redis_keys(&url, &format!("{prefix}apq:*"));
    assert_eq!(keys.len(), 1, "{keys:?}");
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_gone_down_turns_persisted_query_lookups_into_misses_and_full_queries_still_run() {
    let mut redis = OwnRedis::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = unique_prefix("apq-down");
    let app = spawn_app(with_redis(Spawn::demo(&db), &redis.url(), &prefix)).await;
    let hash = sha256(QUERY);
    post(
        &app,
        json!({"query": QUERY, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    // Stored in this Redis (in the background, just after the answer).
    let mut stored = 0;
    for _ in 0..50 {
        stored = redis_keys(&redis.url(), &format!("{prefix}apq:*")).len();
        if stored > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stored, 1);
    redis.stop();
    let started = std::time::Instant::now();
    let miss = post(
        &app,
        json!({"extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await;
    assert_eq!(miss.status, 200, "{:?}", miss);
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
    post(
        &app,
        json!({"query": QUERY, "extensions": persisted(&hash)}),
        GRAPHQL_RESPONSE_JSON,
    )
    .await
    .assert_ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
    db.drop_db().await;
}
