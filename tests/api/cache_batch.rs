//! Batched fields are cached per parent key: a batch whose keys are partly cached fetches only
//! the missing keys, and each entry carries its own parent's tags, so invalidating `item:3`
//! refetches key 3 alone. For a batched `@http` field (checked in the upstream's recorded
//! query strings) and a batched `@sql` field (checked by statement counts and by which rows
//! are served from the cache after the table changed behind it); in memory and, with
//! `TEST_REDIS_URL`, in Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::cache_support::{cache_backends, read_ok, spawn_cached};
use crate::helpers::{backends, Backend, Spawn, TestDb};
use crate::http_upstream::Upstream;

/// Item versions at the upstream: `global` for every item, unless `overrides` says otherwise.
#[derive(Default)]
struct Versions {
    global: AtomicU64,
    overrides: Mutex<HashMap<u64, u64>>,
}

impl Versions {
    fn of(&self, id: u64) -> u64 {
        let overrides = self.overrides.lock().unwrap_or_else(|e| e.into_inner());
        overrides
            .get(&id)
            .copied()
            .unwrap_or_else(|| self.global.load(Ordering::SeqCst))
    }
}

/// `/parents?upto=N` lists ids 1..=N; `/items?id=1&id=2` the items asked for with their
/// versions; `POST /touch/{id}` gives item `id` version 100.
fn router(versions: Arc<Versions>) -> Router {
    let touch = versions.clone();
    Router::new()
        .route(
            "/parents",
            get(|RawQuery(query): RawQuery| async move {
                let upto = query
                    .unwrap_or_default()
                    .strip_prefix("upto=")
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                Json(Value::Array(
                    (1..=upto).map(|id| json!({"id": id})).collect(),
                ))
            }),
        )
        .route(
            "/items",
            get(move |RawQuery(query): RawQuery| {
                let versions = versions.clone();
                async move {
                    let items: Vec<Value> = ids_in(query.as_deref())
                        .into_iter()
                        .map(|id| json!({"id": id, "version": versions.of(id)}))
                        .collect();
                    Json(Value::Array(items))
                }
            }),
        )
        .route(
            "/touch/{id}",
            post(move |Path(id): Path<u64>| {
                let versions = touch.clone();
                async move {
                    versions
                        .overrides
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, 100);
                    Json(json!({"id": id}))
                }
            }),
        )
}

/// The ids of a query string `id=1&id=2`, sorted.
fn ids_in(query: Option<&str>) -> Vec<u64> {
    let mut ids: Vec<u64> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("id="))
        .filter_map(|id| id.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

fn http_schema(api: &str) -> String {
    r#"schema @source(name: "api", http: "@API@", retries: 0) { query: Query mutation: Mutation }

type Query {
  parents(upto: Int!): [Parent!]! @http(source: "api", path: "/parents", query: {upto: "{{args.upto}}"})
}

type Mutation {
  touch(id: ID!): Parent
    @http(source: "api", method: POST, path: "/touch/{{args.id}}")
    @invalidate(tags: ["item:{{args.id}}"])
}

type Parent {
  id: Int!
  item: Item
    @http(source: "api", path: "/items", query: {id: "{{parent.id}}"}, batch: {param: "id", key: "id"})
    @cache(ttl: "30s", tags: ["item:{{parent.id}}"])
}

type Item {
  id: Int!
  version: Int!
}
"#
    .replace("@API@", api)
}

/// The item versions of a `parents` answer, by parent id.
fn versions_in(body: &Value) -> Vec<(u64, u64)> {
    body["data"]["parents"]
        .as_array()
        .expect("parents")
        .iter()
        .map(|p| {
            assert_eq!(
                p["id"], p["item"]["id"],
                "each parent has its own item: {p}"
            );
            (
                p["id"].as_u64().expect("id"),
                p["item"]["version"].as_u64().expect("version"),
            )
        })
        .collect()
}

fn expected(upto: u64, version: impl Fn(u64) -> u64) -> Vec<(u64, u64)> {
    (1..=upto).map(|id| (id, version(id))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_http_field_fetches_only_the_keys_not_cached_and_invalidates_per_key() {
    for cache in cache_backends() {
        let versions = Arc::new(Versions::default());
        versions.global.store(1, Ordering::SeqCst);
        let upstream = Upstream::start(router(versions.clone())).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let spawn = Spawn::with_schema(&db, &http_schema(&upstream.url("")));
        let app = spawn_cached(spawn, &cache, "batch-http").await;
        let read =
            |upto: u64| format!("{{ parents(upto: {upto}) {{ id item {{ id version }} }} }}");
        let batches = || -> Vec<Vec<u64>> {
            upstream
                .hits
                .of("/items")
                .iter()
                .map(|h| ids_in(h.query.as_deref()))
                .collect()
        };

        let body = read_ok(&app, &read(15), &[]).await;
        assert_eq!(versions_in(&body), expected(15, |_| 1));
        assert_eq!(batches(), vec![(1..=15).collect::<Vec<u64>>()], "{cache:?}");

        // The upstream moves on; cached keys keep their cached answers.
        versions.global.store(2, Ordering::SeqCst);
        let body = read_ok(&app, &read(20), &[]).await;
        assert_eq!(
            versions_in(&body),
            expected(20, |id| if id <= 15 { 1 } else { 2 }),
            "{cache:?}"
        );
        let calls = batches();
        assert_eq!(calls.len(), 2, "{cache:?}: {calls:?}");
        assert_eq!(
            calls[1],
            (16..=20).collect::<Vec<u64>>(),
            "only the missing keys"
        );

        // All cached: no batch call at all.
        read_ok(&app, &read(20), &[]).await;
        assert_eq!(batches().len(), 2, "{cache:?}");

        read_ok(&app, "mutation { touch(id: 3) { id } }", &[]).await;
        let body = read_ok(&app, &read(20), &[]).await;
        assert_eq!(
            versions_in(&body),
            expected(20, |id| match id {
                3 => 100,
                id if id <= 15 => 1,
                _ => 2,
            }),
            "{cache:?}"
        );
        let calls = batches();
        assert_eq!(calls.len(), 3, "{cache:?}: {calls:?}");
        assert_eq!(calls[2], vec![3], "only key 3 was invalidated");
        assert_eq!(upstream.hits.count("/parents"), 4);
        app.stop().await;
        db.drop_db().await;
    }
}

const SQL_SCHEMA: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query mutation: Mutation }

type Query {
  parents(upto: Int!): [Parent!]!
    @sql(source: "main", query: "SELECT id FROM parents WHERE id <= $1 ORDER BY id", params: ["{{args.upto}}"])
}

type Mutation {
  renameItem(id: ID!, name: String!): Item
    @sql(source: "main", query: "UPDATE items SET name = $2 WHERE id = $1 RETURNING id, name",
         params: ["{{args.id}}", "{{args.name}}"])
    @invalidate(tags: ["item:{{args.id}}"])
}

type Parent {
  id: Int!
  item: Item
    @sql(source: "main", query: "SELECT id, name FROM items WHERE id IN ($keys)", key: "id", parentKey: "id")
    @cache(ttl: "30s", tags: ["item:{{parent.id}}"])
}

type Item {
  id: Int!
  name: String!
}
"#;

fn names_in(body: &Value) -> Vec<(u64, String)> {
    body["data"]["parents"]
        .as_array()
        .expect("parents")
        .iter()
        .map(|p| {
            assert_eq!(
                p["id"], p["item"]["id"],
                "each parent has its own item: {p}"
            );
            (
                p["id"].as_u64().expect("id"),
                p["item"]["name"].as_str().expect("name").to_string(),
            )
        })
        .collect()
}

fn named(upto: u64, name: impl Fn(u64) -> &'static str) -> Vec<(u64, String)> {
    (1..=upto).map(|id| (id, name(id).to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_sql_field_fetches_only_the_keys_not_cached_and_invalidates_per_key() {
    for backend in backends() {
        for cache in cache_backends() {
            let db = TestDb::new(backend).await;
            let mut setup = String::from(
                "CREATE TABLE parents (id INTEGER PRIMARY KEY);
                 CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
            );
            for id in 1..=20 {
                setup.push_str(&format!(
                    "INSERT INTO parents (id) VALUES ({id}); INSERT INTO items (id, name) VALUES ({id}, 'v1');"
                ));
            }
            db.exec(&setup).await;
            let spawn = Spawn::with_schema(&db, SQL_SCHEMA);
            let app = spawn_cached(spawn, &cache, "batch-sql").await;
            let read =
                |upto: u64| format!("{{ parents(upto: {upto}) {{ id item {{ id name }} }} }}");
            let base = app.statements();

            let body = read_ok(&app, &read(15), &[]).await;
            assert_eq!(names_in(&body), named(15, |_| "v1"));
            assert_eq!(app.statements() - base, 2, "parents, then one batch");

            // The rows change behind the cache: only the keys fetched now show it.
            db.exec("UPDATE items SET name = 'v2'").await;
            let body = read_ok(&app, &read(20), &[]).await;
            assert_eq!(
                names_in(&body),
                named(20, |id| if id <= 15 { "v1" } else { "v2" }),
                "keys 1..15 from the cache, 16..20 fetched ({backend:?}, {cache:?})"
            );
            assert_eq!(
                app.statements() - base,
                4,
                "parents, then one batch of the missing"
            );

            // All cached: the batch statement does not run.
            read_ok(&app, &read(20), &[]).await;
            assert_eq!(
                app.statements() - base,
                5,
                "parents only ({backend:?}, {cache:?})"
            );

            read_ok(
                &app,
                r#"mutation { renameItem(id: 3, name: "v3") { id } }"#,
                &[],
            )
            .await;
            assert_eq!(app.statements() - base, 6);
            let body = read_ok(&app, &read(20), &[]).await;
            assert_eq!(
                names_in(&body),
                named(20, |id| match id {
                    3 => "v3",
                    id if id <= 15 => "v1",
                    _ => "v2",
                }),
                "only key 3 was refetched ({backend:?}, {cache:?})"
            );
            assert_eq!(app.statements() - base, 8);
            app.stop().await;
            db.drop_db().await;
        }
    }
}
