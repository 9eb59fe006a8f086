//! The Redis cache: shared by replicas (two Tributary instances on one Redis, when
//! `TEST_REDIS_URL` is set, each under a prefix of the test's own), and bypassed, never fatal,
//! while Redis is down (a `redis-server` the test starts, kills and restarts itself).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tributary_connectors::cache::CacheState;

use crate::cache_support::{
    pause_ms, read_ok, test_redis_url, unique_prefix, with_redis, OwnRedis,
};
use crate::helpers::{backends, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::Upstream;

/// `GET /thing` answers `{"name": <current name>, "call": n}`; `POST /thing {"name"}` renames.
fn router() -> Router {
    let name = Arc::new(Mutex::new("first".to_string()));
    let calls = Arc::new(AtomicU64::new(0));
    let read_name = name.clone();
    Router::new().route(
        "/thing",
        get(move || {
            let name = read_name.clone();
            let calls = calls.clone();
            async move {
                let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let name = name.lock().unwrap_or_else(|e| e.into_inner()).clone();
                Json(json!({"name": name, "call": call}))
            }
        })
        .post(move |Json(body): Json<Value>| {
            let name = name.clone();
            async move {
                let new = body["name"].as_str().unwrap_or("").to_string();
                *name.lock().unwrap_or_else(|e| e.into_inner()) = new.clone();
                Json(json!({"name": new, "call": 0}))
            }
        }),
    )
}

fn http_schema(api: &str) -> String {
    r#"schema @source(name: "api", http: "@API@", retries: 0) { query: Query mutation: Mutation }

type Query {
  thing: Thing @http(source: "api", path: "/thing") @cache(ttl: "30s", tags: ["thing"])
}

type Mutation {
  rename(name: String!): Thing
    @http(source: "api", method: POST, path: "/thing", body: {name: "{{args.name}}"})
    @invalidate(tags: ["thing"])
}

type Thing {
  name: String!
  call: Int!
}
"#
    .replace("@API@", api)
}

fn calls(app: &TestApp) -> u64 {
    app.http_source("api").calls_made()
}

const READ: &str = "{ thing { name call } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_http_entries_and_a_mutation_on_one_invalidates_for_the_other(
) {
    let Some(url) = test_redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: skipped");
        return;
    };
    let upstream = Upstream::start(router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = unique_prefix("replicas-http");
    let schema = http_schema(&upstream.url(""));
    let a = spawn_app(with_redis(Spawn::with_schema(&db, &schema), &url, &prefix)).await;
    let b = spawn_app(with_redis(Spawn::with_schema(&db, &schema), &url, &prefix)).await;

    let filled = read_ok(&a, READ, &[]).await;
    assert_eq!(filled["data"]["thing"], json!({"name": "first", "call": 1}));
    assert_eq!(calls(&a), 1);
    let on_b = read_ok(&b, READ, &[]).await;
    assert_eq!(on_b, filled, "B is served A's entry");
    assert_eq!(calls(&b), 0, "B did not call the upstream");

    let renamed = read_ok(&b, r#"mutation { rename(name: "second") { name } }"#, &[]).await;
    assert_eq!(renamed["data"]["rename"]["name"], json!("second"));
    assert_eq!(calls(&b), 1, "the mutation's call");

    let on_a = read_ok(&a, READ, &[]).await;
    assert_eq!(calls(&a), 2, "A's entry was invalidated by B's mutation");
    assert_eq!(on_a["data"]["thing"], json!({"name": "second", "call": 2}));
    let on_b = read_ok(&b, READ, &[]).await;
    assert_eq!(on_b, on_a, "B hits A's new entry");
    assert_eq!(calls(&b), 1);
    assert_eq!(upstream.hits.count_method("GET", "/thing"), 2);
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

const SQL_SCHEMA: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query mutation: Mutation }

type Query {
  item(id: ID!): Item
    @sql(source: "main", query: "SELECT id, name FROM items WHERE id = $1", params: ["{{args.id}}"])
    @cache(ttl: "30s", tags: ["item:{{args.id}}"])
}

type Mutation {
  renameItem(id: ID!, name: String!): Item
    @sql(source: "main", query: "UPDATE items SET name = $2 WHERE id = $1 RETURNING id, name",
         params: ["{{args.id}}", "{{args.name}}"])
    @invalidate(tags: ["item:{{args.id}}"])
}

type Item {
  id: Int!
  name: String!
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_sql_entries_and_a_mutation_on_one_invalidates_for_the_other(
) {
    let Some(url) = test_redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: skipped");
        return;
    };
    for backend in backends() {
        let db = TestDb::new(backend).await;
        db.exec(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two');",
        )
        .await;
        let prefix = unique_prefix("replicas-sql");
        let a = spawn_app(with_redis(
            Spawn::with_schema(&db, SQL_SCHEMA),
            &url,
            &prefix,
        ))
        .await;
        let b = spawn_app(with_redis(
            Spawn::with_schema(&db, SQL_SCHEMA),
            &url,
            &prefix,
        ))
        .await;
        let (a0, b0) = (a.statements(), b.statements());
        let read = "{ one: item(id: 1) { id name } two: item(id: 2) { id name } }";

        let filled = read_ok(&a, read, &[]).await;
        assert_eq!(filled["data"]["one"], json!({"id": 1, "name": "one"}));
        assert_eq!(a.statements() - a0, 2);
        assert_eq!(read_ok(&b, read, &[]).await, filled, "{backend:?}");
        assert_eq!(b.statements() - b0, 0, "B ran no statement ({backend:?})");

        read_ok(
            &b,
            r#"mutation { renameItem(id: 1, name: "uno") { id } }"#,
            &[],
        )
        .await;
        assert_eq!(b.statements() - b0, 1, "the mutation's statement");

        let on_a = read_ok(&a, read, &[]).await;
        assert_eq!(
            on_a["data"]["one"],
            json!({"id": 1, "name": "uno"}),
            "{backend:?}"
        );
        assert_eq!(on_a["data"]["two"], json!({"id": 2, "name": "two"}));
        assert_eq!(
            a.statements() - a0,
            3,
            "only item 1 was invalidated and read again ({backend:?})"
        );
        assert_eq!(read_ok(&b, read, &[]).await, on_a);
        assert_eq!(b.statements() - b0, 1, "{backend:?}");
        a.stop().await;
        b.stop().await;
        db.drop_db().await;
    }
}

/// Reads twice, until the second read no longer calls the upstream (caching works), at most
/// `rounds` times, 100 ms apart. Every read must succeed. Returns whether caching worked.
async fn caching_resumes(app: &TestApp, rounds: usize) -> bool {
    for _ in 0..rounds {
        read_ok(app, READ, &[]).await;
        let before = calls(app);
        read_ok(app, READ, &[]).await;
        if calls(app) == before {
            return true;
        }
        pause_ms(100).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_requests_are_answered_from_the_backend_and_caching_resumes_when_it_is_back(
) {
    let mut redis = OwnRedis::start().await;
    let upstream = Upstream::start(router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let spawn = Spawn::with_schema(&db, &http_schema(&upstream.url("")));
    let app = spawn_app(with_redis(spawn, &redis.url(), &unique_prefix("down"))).await;

    let filled = read_ok(&app, READ, &[]).await;
    assert_eq!(read_ok(&app, READ, &[]).await, filled);
    assert_eq!(calls(&app), 1, "cached in Redis");
    assert_eq!(app.engine().cache().state(), CacheState::Healthy);

    redis.stop();
    for n in 2..=4 {
        let body = read_ok(&app, READ, &[]).await;
        assert_eq!(
            body["data"]["thing"],
            json!({"name": "first", "call": n}),
            "answered by the upstream while Redis is down"
        );
    }
    assert_eq!(calls(&app), 4, "every read went to the upstream");
    assert_eq!(app.engine().cache().state(), CacheState::Degraded);
    let stats = app.engine().cache().stats();
    assert!(stats.errors + stats.bypassed > 0, "{stats:?}");

    redis.restart().await;
    assert!(
        caching_resumes(&app, 100).await,
        "caching resumed after Redis came back"
    );
    assert_eq!(app.engine().cache().state(), CacheState::Healthy);
    app.stop().await;
    db.drop_db().await;
}
