//! The benchmark's SQL schema (`bench/sql.graphql`) answers the shared S1a–S1c scenarios
//! correctly and in exactly two statements per request, alone and under 50 concurrent requests.
//!
//! PostgreSQL only (the bench fixture and the schema's LATERAL joins are PostgreSQL SQL): skipped
//! unless `TEST_DATABASE_URL` is set. The fixture is a scaled-down copy of
//! `../shared/bench/sql/storefront.sql` (that folder is not part of the repository): the same
//! tables and the same deterministic formulas, with 1,000 products (20 per category) and 3,000
//! reviews (30 for each of products 1..100) instead of 10,000 and 100,000.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::{backends, repo_path, spawn_app, Backend, Spawn, TestApp, TestDb};

const FIXTURE: &str = r#"
SET client_min_messages = warning;
CREATE TABLE categories (
  id   serial PRIMARY KEY,
  name text NOT NULL
);
CREATE TABLE products (
  id          serial PRIMARY KEY,
  sku         text UNIQUE NOT NULL,
  name        text NOT NULL,
  price_cents int  NOT NULL,
  category_id int  NOT NULL REFERENCES categories,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE reviews (
  id         serial PRIMARY KEY,
  product_id int NOT NULL REFERENCES products,
  rating     int NOT NULL,
  body       text NOT NULL
);
CREATE INDEX products_category_id_idx ON products (category_id);
CREATE INDEX reviews_product_id_idx ON reviews (product_id);

INSERT INTO categories (id, name)
SELECT i, 'Category ' || lpad(i::text, 2, '0')
FROM generate_series(1, 50) AS i;

INSERT INTO products (id, sku, name, price_cents, category_id, created_at)
SELECT i,
       'SKU-' || lpad(i::text, 5, '0'),
       'Product ' || i,
       99 + (i * 7919) % 100000,
       1 + (i - 1) % 50,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 1000) AS i;

INSERT INTO reviews (id, product_id, rating, body)
SELECT i,
       1 + (i - 1) % 100,
       1 + ((i * 37) / 11) % 5,
       'Review ' || i || ': ' || md5(i::text)
FROM generate_series(1, 3000) AS i;

ANALYZE categories;
ANALYZE products;
ANALYZE reviews;
"#;

const S1A: &str = "{ products(first: 20) { id name priceCents category { name } } }";
const S1B: &str = "{ categories { name products(first: 10) { id name } } }";
const S1C: &str = "{ product(id: 1) { name reviews(first: 20) { rating body } } }";

fn category_name(c: i64) -> String {
    format!("Category {c:02}")
}

/// S1a: products 1..20 in id order, each with its price and its category's name.
fn expected_s1a() -> Value {
    let products: Vec<Value> = (1..=20i64)
        .map(|i| {
            json!({
                "id": i.to_string(),
                "name": format!("Product {i}"),
                "priceCents": 99 + (i * 7919) % 100_000,
                "category": {"name": category_name(1 + (i - 1) % 50)},
            })
        })
        .collect();
    json!({ "products": products })
}

/// S1b: the 50 categories in id order, each with its first 10 products by id (category c holds
/// products c, c + 50, c + 100, ...).
fn expected_s1b() -> Value {
    let categories: Vec<Value> = (1..=50i64)
        .map(|c| {
            let products: Vec<Value> = (0..10i64)
                .map(|k| c + 50 * k)
                .map(|i| json!({"id": i.to_string(), "name": format!("Product {i}")}))
                .collect();
            json!({"name": category_name(c), "products": products})
        })
        .collect();
    json!({ "categories": categories })
}

/// S1c: product 1's 20 most recent reviews, highest id first: of its reviews 1, 101, ..., 2901,
/// the ids 2901 down to 1001. Returns (rating, body prefix) pairs.
fn expected_s1c_reviews() -> Vec<(i64, String)> {
    (0..20i64)
        .map(|k| 2901 - 100 * k)
        .map(|i| (1 + ((i * 37) / 11) % 5, format!("Review {i}: ")))
        .collect()
}

fn assert_s1c(data: &Value) {
    let product = &data["product"];
    assert_eq!(product["name"], "Product 1", "{data}");
    let got: Vec<(i64, String)> = product["reviews"]
        .as_array()
        .unwrap_or_else(|| panic!("reviews: {data}"))
        .iter()
        .map(|r| {
            let body = r["body"].as_str().expect("body").to_string();
            let (prefix, hash) = body.split_at(body.find(": ").expect("'Review i: md5'") + 2);
            assert!(
                hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{body}"
            );
            (r["rating"].as_i64().expect("rating"), prefix.to_string())
        })
        .collect();
    assert_eq!(got, expected_s1c_reviews(), "{data}");
}

/// Checks one scenario's answer.
fn assert_answer(name: &str, data: &Value) {
    match name {
        "S1a" => assert_eq!(*data, expected_s1a()),
        "S1b" => assert_eq!(*data, expected_s1b()),
        "S1c" => assert_s1c(data),
        _ => unreachable!(),
    }
}

const SCENARIOS: [(&str, &str); 3] = [("S1a", S1A), ("S1b", S1B), ("S1c", S1C)];

/// The bench schema on `db`, as bench/run.sh starts it (sharing on or off).
fn bench_schema(db: &TestDb, sharing: bool) -> Spawn {
    Spawn {
        schema: repo_path("bench/sql.graphql"),
        env: [("BENCH_DATABASE_URL".to_string(), db.url.clone())].into(),
        settings: Box::new(move |s| {
            s.database.migrate = Some(false);
            s.server.sharing = sharing;
        }),
    }
}

async fn fixture_db() -> Option<TestDb> {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("skipped: the bench SQL schema needs PostgreSQL (set TEST_DATABASE_URL)");
        return None;
    }
    let db = TestDb::new(Backend::Postgres).await;
    db.exec(FIXTURE).await;
    Some(db)
}

/// Runs `query` and returns its data and the number of statements it cost.
async fn counted(app: &TestApp, query: &str) -> (Value, u64) {
    let before = app.statements();
    let body = app.query(query, Value::Null).await;
    let cost = app.statements() - before;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    (body["data"].clone(), cost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bench_sql_scenario_answers_correctly_in_two_statements() {
    let Some(db) = fixture_db().await else { return };
    let app = spawn_app(bench_schema(&db, true)).await;
    for (name, query) in SCENARIOS {
        let (data, cost) = counted(&app, query).await;
        assert_answer(name, &data);
        assert_eq!(
            cost, 2,
            "{name}: one statement for the root, one batched statement for the level below"
        );
    }
    app.stop().await;
    db.drop_db().await;
}

/// 50 requests at once, as in the benchmark (`wrk -c50`): with sharing on, each a distinct
/// operation (identical in-flight documents would share one execution); with sharing off,
/// the identical document the benchmark sends. Either way, exactly 2 statements each: the
/// batch of a level is collected before it is fetched, so it never splits under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_of_each_scenario_cost_exactly_two_statements_each() {
    let Some(db) = fixture_db().await else { return };
    for sharing in [true, false] {
        let app = Arc::new(spawn_app(bench_schema(&db, sharing)).await);
        for (name, query) in SCENARIOS {
            let before = app.statements();
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let app = app.clone();
                    let query = if sharing {
                        format!("query {name}_{i} {query}")
                    } else {
                        query.to_string()
                    };
                    tokio::spawn(async move {
                        let body = app.query(&query, Value::Null).await;
                        assert!(body.get("errors").is_none(), "{name}: {body}");
                        assert_answer(name, &body["data"]);
                    })
                })
                .collect();
            for t in futures::future::join_all(tasks).await {
                t.expect("request task");
            }
            assert_eq!(
                app.statements() - before,
                2 * 50,
                "{name}, sharing {sharing}: 50 concurrent requests, 2 statements each"
            );
        }
        let app = Arc::into_inner(app).expect("all tasks done");
        app.stop().await;
    }
    db.drop_db().await;
}
