//! Who may see a cached value: PRIVATE entries are per caller (the engine hashes the client's
//! `authorization` and `cookie` into the entry's identity), and a PUBLIC field is never filled
//! from a call that forwarded the caller's credentials upstream unless the schema says
//! `publicWithCredentials: true`. Counted at a loopback upstream that answers with the
//! `authorization` it received; in memory and, with `TEST_REDIS_URL`, in Redis.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::cache_support::{cache_backends, read_ok, spawn_cached, CacheBackend};
use crate::helpers::{Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::Upstream;

/// `/me` and `/shared` answer `{"user": <authorization received>, "call": n}`, n
/// counting all calls.
fn router() -> Router {
    let n = Arc::new(AtomicU64::new(0));
    let answer = move |headers: HeaderMap| {
        let n = n.clone();
        async move {
            let user = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let call = n.fetch_add(1, Ordering::SeqCst) + 1;
            Json(json!({"user": user, "call": call}))
        }
    };
    Router::new()
        .route("/me", get(answer.clone()))
        .route("/shared", get(answer))
}

/// `me` is PRIVATE; `shared` is PUBLIC, with `publicWithCredentials` when `shared_with_creds`;
/// both forward the client's `authorization`.
fn schema(api: &str, shared_with_creds: bool) -> String {
    r#"schema
  @source(name: "api", http: "@API@", retries: 0, forwardHeaders: ["authorization"],
          headers: {authorization: "{{headers.authorization}}"})
{ query: Query }

type Query {
  me: Answer @http(source: "api", path: "/me") @cache(ttl: "30s", scope: PRIVATE)
  shared: Answer @http(source: "api", path: "/shared") @cache(ttl: "30s"@CREDS@)
}

type Answer {
  user: String
  call: Int!
}
"#
    .replace("@API@", api)
    .replace(
        "@CREDS@",
        if shared_with_creds {
            ", publicWithCredentials: true"
        } else {
            ""
        },
    )
}

async fn spawn(upstream: &Upstream, db: &TestDb, cache: &CacheBackend, creds: bool) -> TestApp {
    let spawn = Spawn::with_schema(db, &schema(&upstream.url(""), creds));
    spawn_cached(spawn, cache, "scope").await
}

const ALICE: &[(&str, &str)] = &[("authorization", "Bearer alice")];
const BOB: &[(&str, &str)] = &[("authorization", "Bearer bob")];

/// The upstream calls that carried `authorization: auth` (or none, for `None`).
fn calls_as(upstream: &Upstream, path: &str, auth: Option<&str>) -> usize {
    upstream
        .hits
        .of(path)
        .iter()
        .filter(|h| h.headers.get("authorization").and_then(|v| v.to_str().ok()) == auth)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_entries_are_kept_per_caller_and_never_shown_to_another() {
    for cache in cache_backends() {
        let upstream = Upstream::start(router()).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let app = spawn(&upstream, &db, &cache, false).await;
        let query = "{ me { user call } }";

        let alice = read_ok(&app, query, ALICE).await;
        assert_eq!(
            alice["data"]["me"]["user"],
            json!("Bearer alice"),
            "{cache:?}"
        );
        let bob = read_ok(&app, query, BOB).await;
        assert_eq!(
            bob["data"]["me"]["user"],
            json!("Bearer bob"),
            "{cache:?}: {bob}"
        );
        let alice_again = read_ok(&app, query, ALICE).await;
        assert_eq!(alice_again, alice, "Alice's own entry ({cache:?})");
        let bob_again = read_ok(&app, query, BOB).await;
        assert_eq!(bob_again, bob, "Bob's own entry ({cache:?})");
        // An anonymous caller sees neither.
        let anonymous = read_ok(&app, query, &[]).await;
        assert_eq!(anonymous["data"]["me"]["user"], Value::Null, "{anonymous}");

        assert_eq!(
            calls_as(&upstream, "/me", Some("Bearer alice")),
            1,
            "{cache:?}"
        );
        assert_eq!(
            calls_as(&upstream, "/me", Some("Bearer bob")),
            1,
            "{cache:?}"
        );
        assert_eq!(calls_as(&upstream, "/me", None), 1, "{cache:?}");
        assert_eq!(upstream.hits.total(), 3);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_entries_are_also_kept_apart_by_cookie() {
    // Same `authorization`, different cookies: two callers.
    for cache in cache_backends() {
        let upstream = Upstream::start(router()).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let app = spawn(&upstream, &db, &cache, false).await;
        let query = "{ me { user call } }";
        let one = [("authorization", "Bearer same"), ("cookie", "session=one")];
        let two = [("authorization", "Bearer same"), ("cookie", "session=two")];

        let first = read_ok(&app, query, &one).await;
        let second = read_ok(&app, query, &two).await;
        assert_ne!(
            first, second,
            "the second caller is not served the first's entry"
        );
        assert_eq!(read_ok(&app, query, &one).await, first);
        assert_eq!(read_ok(&app, query, &two).await, second);
        assert_eq!(upstream.hits.count("/me"), 2, "{cache:?}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_field_is_not_filled_from_a_call_that_forwarded_credentials() {
    for cache in cache_backends() {
        let upstream = Upstream::start(router()).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let app = spawn(&upstream, &db, &cache, false).await;
        let query = "{ shared { user call } }";

        let alice = read_ok(&app, query, ALICE).await;
        assert_eq!(alice["data"]["shared"]["user"], json!("Bearer alice"));
        let bob = read_ok(&app, query, BOB).await;
        assert_eq!(
            bob["data"]["shared"]["user"],
            json!("Bearer bob"),
            "Bob is not served Alice's answer ({cache:?})"
        );
        let alice_again = read_ok(&app, query, ALICE).await;
        assert_eq!(
            alice_again["data"]["shared"]["call"],
            json!(3),
            "not cached"
        );
        assert_eq!(
            upstream.hits.count("/shared"),
            3,
            "no sharing through the cache"
        );
        let stats = app.engine().cache().stats();
        assert_eq!(stats.writes, 0, "nothing was cached ({cache:?}): {stats:?}");

        // Without credentials the same PUBLIC field is cached as usual.
        let anonymous = read_ok(&app, query, &[]).await;
        assert_eq!(read_ok(&app, query, &[]).await, anonymous);
        assert_eq!(upstream.hits.count("/shared"), 4, "{cache:?}");
        assert_eq!(app.engine().cache().stats().writes, 1, "{cache:?}");
        app.stop().await;
        db.drop_db().await;
    }
}

/// `publicWithCredentials: true` lets a credentialed call fill the PUBLIC entry. The entry's key
/// is the exact request, forwarded headers included (docs/directives.md, "What is cached"), so
/// a caller sending the same credentials hits it and one sending others gets an entry of its
/// own: the answers of two callers are still never mixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_field_with_public_with_credentials_is_filled_from_a_credentialed_call() {
    for cache in cache_backends() {
        let upstream = Upstream::start(router()).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let app = spawn(&upstream, &db, &cache, true).await;
        let query = "{ shared { user call } }";

        let alice = read_ok(&app, query, ALICE).await;
        assert_eq!(alice["data"]["shared"]["call"], json!(1));
        assert_eq!(app.engine().cache().stats().writes, 1, "filled ({cache:?})");
        assert_eq!(
            read_ok(&app, query, ALICE).await,
            alice,
            "a hit ({cache:?})"
        );
        assert_eq!(upstream.hits.count("/shared"), 1, "{cache:?}");

        let bob = read_ok(&app, query, BOB).await;
        assert_eq!(
            bob["data"]["shared"]["user"],
            json!("Bearer bob"),
            "{cache:?}"
        );
        assert_eq!(read_ok(&app, query, BOB).await, bob, "a hit ({cache:?})");
        assert_eq!(upstream.hits.count("/shared"), 2, "{cache:?}");
        assert_eq!(read_ok(&app, query, ALICE).await, alice, "{cache:?}");
        app.stop().await;
        db.drop_db().await;
    }
}
