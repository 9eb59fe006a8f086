//! Batching: one statement per level of a query, whatever the load, with rows grouped back to
//! the right parents, in order. Counted with the SQL connector's statement counter
//! (`app.statements()`), as a delta around each request.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::direct;
use crate::helpers::{backends, spawn_app, Spawn, TestApp, TestDb};

/// An `ID` from a response as an integer. IDs are serialized as strings (GraphQL spec: "ID is
/// serialized in the same way as a String"), also when they come from integer columns.
fn id(v: &Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("an ID is serialized as a string, got {v}"));
    s.parse()
        .unwrap_or_else(|_| panic!("an integer id, got {s:?}"))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list, got {list}"))
        .iter()
        .map(|item| id(&item["id"]))
        .collect()
}

/// Runs `query` and returns the body and the number of statements it cost.
async fn counted(app: &TestApp, query: &str) -> (Value, u64) {
    let before = app.statements();
    let body = app.query(query, Value::Null).await;
    let cost = app.statements() - before;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    (body, cost)
}

/// The demo storefront with `@cache` off: these tests count the statements each query costs.
fn uncached(db: &TestDb) -> Spawn {
    Spawn::demo(db).settings(|s| s.cache.enabled = false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_products_with_their_category_cost_two_statements() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(&app, "{ products(first: 20) { id category { name } } }").await;
        let products = body["data"]["products"].as_array().expect("products");
        assert_eq!(products.len(), 20, "{backend:?}");
        assert!(
            products.iter().all(|p| p["category"]["name"].is_string()),
            "{body}"
        );
        assert_eq!(
            cost, 2,
            "{backend:?}: one statement for products, one for all their categories"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_levels_with_new_keys_at_each_level_cost_four_statements() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(
            &app,
            "{ categories { products(limit: 2) { category { products(limit: 3) { id } } } } }",
        )
        .await;
        let categories = body["data"]["categories"].as_array().expect("categories");
        assert_eq!(categories.len(), 8);
        for c in categories {
            for p in c["products"].as_array().expect("products") {
                assert!(
                    p["category"]["products"]
                        .as_array()
                        .expect("inner products")
                        .len()
                        <= 3,
                    "{body}"
                );
            }
        }
        assert_eq!(cost, 4, "{backend:?}: one statement per level");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_category_products_category_costs_one_statement_per_level_reusing_loaded_categories(
) {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(
            &app,
            "{ products(first: 20) { id category { id products { id category { id } } } } }",
        )
        .await;
        let products = body["data"]["products"].as_array().expect("products");
        assert_eq!(products.len(), 20);
        for p in products {
            let category = &p["category"];
            for inner in category["products"].as_array().expect("inner products") {
                assert_eq!(inner["category"]["id"], category["id"], "{body}");
            }
        }
        // Levels: products, their categories, those categories' products, and those products'
        // categories. The fourth level asks Product.category for keys the second level already
        // loaded in this request (the same statement with the same keys): the request's loader
        // answers from those rows, so three statements run, never more than one per level.
        assert_eq!(cost, 3, "{backend:?}");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_with_their_products_and_their_category_cost_one_statement_per_level() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(
            &app,
            "{ categories { id products { id category { id name } } } }",
        )
        .await;
        let categories = body["data"]["categories"].as_array().expect("categories");
        assert_eq!(categories.len(), 8);
        let mut seen = 0;
        for c in categories {
            for p in c["products"].as_array().expect("products") {
                assert_eq!(p["category"]["id"], c["id"], "{body}");
                seen += 1;
            }
        }
        assert_eq!(seen, 60, "every product appears under its category");
        assert_eq!(
            cost, 3,
            "{backend:?}: categories, their products, those products' categories"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_cost_exactly_two_statements_each() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = std::sync::Arc::new(spawn_app(uncached(&db)).await);
        let before = app.statements();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let first = 10 + (i % 11);
                let body = app
                    .query(
                        // A distinct operation per request: identical documents would
                        // share one execution (operation-level sharing).
                        &format!(
                            "query Q{i} {{ products(first: {first}) {{ id category {{ name }} }} }}"
                        ),
                        Value::Null,
                    )
                    .await;
                assert!(body.get("errors").is_none(), "{body}");
                let products = body["data"]["products"]
                    .as_array()
                    .expect("products")
                    .clone();
                assert_eq!(products.len(), first);
                assert!(
                    products.iter().all(|p| p["category"]["name"].is_string()),
                    "{body}"
                );
            }));
        }
        for t in futures::future::join_all(tasks).await {
            t.expect("request task");
        }
        assert_eq!(
            app.statements() - before,
            2 * 50,
            "{backend:?}: batching does not split under load"
        );
        let app = std::sync::Arc::into_inner(app).expect("all tasks done");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_with_orders_lines_products_and_categories_costs_five_statements() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let query = |customer: i64| {
            format!(
                r#"{{ customer(id: "{customer}") {{ orders {{ id lines {{ quantity product {{ sku category {{ name }} }} }} }} }} }}"#
            )
        };
        let (body, cost) = counted(&app, &query(1)).await;
        assert_eq!(
            cost, 5,
            "{backend:?}: customer, orders, lines, products, categories"
        );
        let orders = body["data"]["customer"]["orders"]
            .as_array()
            .expect("orders");
        assert_eq!(ids(&body["data"]["customer"]["orders"]), vec![14], "{body}");
        assert!(
            orders
                .iter()
                .all(|o| !o["lines"].as_array().expect("lines").is_empty()),
            "{body}"
        );

        // Customer 7 has five orders, with many lines: still five statements.
        let (body, cost) = counted(&app, &query(7)).await;
        assert_eq!(cost, 5, "{backend:?}");
        assert_eq!(
            ids(&body["data"]["customer"]["orders"]),
            vec![17, 11, 9, 5, 3],
            "most recent first: {body}"
        );
        let lines: usize = body["data"]["customer"]["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["lines"].as_array().expect("lines").len())
            .sum();
        let expected = direct::count(
            &db,
            "order_lines WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 7)",
        )
        .await;
        assert_eq!(lines as i64, expected, "{body}");
        for order in body["data"]["customer"]["orders"]
            .as_array()
            .expect("orders")
        {
            for line in order["lines"].as_array().expect("lines") {
                assert!(
                    line["product"]["sku"].is_string()
                        && line["product"]["category"]["name"].is_string(),
                    "{body}"
                );
            }
        }
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batched_field_twice_with_the_same_arguments_runs_once_and_with_other_arguments_twice(
) {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(
            &app,
            "{ products(first: 10) { a: category { name } b: category { slug } } }",
        )
        .await;
        assert_eq!(cost, 2, "{backend:?}: identical loads share one statement");
        for p in body["data"]["products"].as_array().expect("products") {
            assert!(
                p["a"]["name"].is_string() && p["b"]["slug"].is_string(),
                "{body}"
            );
        }
        let (body, cost) = counted(
            &app,
            "{ categories { one: products(limit: 1) { id } two: products(limit: 2) { id } } }",
        )
        .await;
        assert_eq!(
            cost, 3,
            "{backend:?}: categories, then one statement per distinct argument set"
        );
        for c in body["data"]["categories"].as_array().expect("categories") {
            let one = ids(&c["one"]);
            let two = ids(&c["two"]);
            assert_eq!(one.len(), 1, "{body}");
            assert_eq!(two.len(), 2, "{body}");
            assert_eq!(
                one[0], two[0],
                "both start with the category's first product: {body}"
            );
        }
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_and_aliases_batch_like_plain_fields() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(
            &app,
            "{ products(first: 20) { ...P } }
             fragment P on Product { id ... on Product { kind: category { name } } }",
        )
        .await;
        assert_eq!(cost, 2, "{backend:?}");
        assert!(
            body["data"]["products"]
                .as_array()
                .expect("products")
                .iter()
                .all(|p| p["kind"]["name"].is_string()),
            "{body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_root_lists_share_the_load_of_their_common_keys() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        // Products 1..10 are all in category 1: whichever list looks ahead first loads it, the
        // other waits for that same load.
        let (body, cost) = counted(
            &app,
            "{ a: products(first: 5) { category { name } } b: products(first: 10) { category { name } } }",
        )
        .await;
        assert_eq!(
            cost, 3,
            "{backend:?}: two lists, one load of their categories"
        );
        assert_eq!(body["data"]["a"].as_array().expect("a").len(), 5);
        assert_eq!(
            body["data"]["b"][9]["category"]["name"], "Coffee Beans",
            "{body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_field_left_out_by_skip_or_include_costs_no_statement() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let query = "query($with: Boolean!) { products(first: 20) { id category @include(if: $with) { name } } }";
        for (with, expected) in [(false, 1), (true, 2)] {
            let before = app.statements();
            let body = app.query(query, json!({"with": with})).await;
            assert!(body.get("errors").is_none(), "{body}");
            assert_eq!(
                body["data"]["products"][0].get("category").is_some(),
                with,
                "{body}"
            );
            assert_eq!(
                app.statements() - before,
                expected,
                "{backend:?}: @include(if: {with})"
            );
        }
        let (_, cost) = counted(
            &app,
            "{ products(first: 20) { id category @skip(if: true) { name } } }",
        )
        .await;
        assert_eq!(cost, 1, "{backend:?}: @skip(if: true)");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_product_gets_its_own_category() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, _) = counted(&app, "{ products(first: 100) { id category { id } } }").await;
        let got: Vec<(i64, i64)> = body["data"]["products"]
            .as_array()
            .expect("products")
            .iter()
            .map(|p| (id(&p["id"]), id(&p["category"]["id"])))
            .collect();
        let expected =
            direct::int_pairs(&db, "SELECT id, category_id FROM products ORDER BY id").await;
        assert_eq!(expected.len(), 60);
        assert_eq!(
            got, expected,
            "{backend:?}: products in id order, each with its category"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_category_gets_its_own_products_in_id_order() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        let (body, cost) = counted(&app, "{ categories { id products(limit: 100) { id } } }").await;
        assert_eq!(cost, 2);
        let got: BTreeMap<i64, Vec<i64>> = body["data"]["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .map(|c| (id(&c["id"]), ids(&c["products"])))
            .collect();
        let mut expected: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for cat in direct::ints(&db, "SELECT id FROM categories ORDER BY id").await {
            expected.insert(cat, Vec::new());
        }
        for (product, category) in
            direct::int_pairs(&db, "SELECT id, category_id FROM products ORDER BY id").await
        {
            expected.get_mut(&category).expect("category").push(product);
        }
        assert_eq!(got, expected, "{backend:?}");
        let category_ids: Vec<i64> = body["data"]["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .map(|c| id(&c["id"]))
            .collect();
        assert_eq!(
            category_ids,
            (1..=8).collect::<Vec<_>>(),
            "categories in id order"
        );

        // A per-parent limit applies to each category separately.
        let (body, cost) = counted(&app, "{ categories { id products(limit: 2) { id } } }").await;
        assert_eq!(cost, 2);
        for c in body["data"]["categories"].as_array().expect("categories") {
            let all = &got[&id(&c["id"])];
            assert_eq!(
                ids(&c["products"]),
                all.iter().take(2).copied().collect::<Vec<_>>(),
                "{body}"
            );
        }
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_without_rows_get_an_empty_list() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        db.exec("INSERT INTO categories (id, name, slug, description) VALUES (100, 'Empty Shelf', 'empty-shelf', NULL)").await;
        db.exec("INSERT INTO customers (id, email, name) VALUES (100, 'no.orders@example.com', 'No Orders')").await;

        let (body, cost) =
            counted(&app, r#"{ category(id: "100") { name products { id } } }"#).await;
        assert_eq!(
            body["data"]["category"],
            json!({"name": "Empty Shelf", "products": []}),
            "{backend:?}"
        );
        assert_eq!(cost, 2);

        let (body, cost) = counted(
            &app,
            r#"{ customer(id: "100") { name orders { id lines { id } } } }"#,
        )
        .await;
        assert_eq!(
            body["data"]["customer"],
            json!({"name": "No Orders", "orders": []}),
            "{backend:?}"
        );
        assert_eq!(cost, 2, "no statement for the lines of no orders");

        // In a list, the empty category sits among full ones.
        let (body, cost) = counted(
            &app,
            "{ categories { id products { id category { id } } } }",
        )
        .await;
        let categories = body["data"]["categories"].as_array().expect("categories");
        assert_eq!(categories.len(), 9);
        assert_eq!(categories[8]["products"], json!([]), "{body}");
        assert!(
            categories[..8]
                .iter()
                .all(|c| !c["products"].as_array().expect("products").is_empty()),
            "{body}"
        );
        assert_eq!(cost, 3);

        // A missing single row is null, without an error.
        let (body, _) = counted(
            &app,
            r#"{ category(id: "9999") { id } product(id: "9999") { id } }"#,
        )
        .await;
        assert_eq!(body, json!({"data": {"category": null, "product": null}}));
        app.stop().await;
        db.drop_db().await;
    }
}

const NULLABLE_SDL: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query }

type Query {
  items: [Item!]! @sql(source: "main", query: "SELECT * FROM items ORDER BY id")
}

type Item {
  id: ID!
  name: String!
  shelf: Shelf
    @sql(source: "main", query: "SELECT * FROM shelves WHERE id IN ($keys)", key: "id", parentKey: "shelf_id")
}

type Shelf {
  id: ID!
  name: String!
  items: [Item!]!
    @sql(source: "main", query: "SELECT * FROM items WHERE shelf_id IN ($keys) ORDER BY id", key: "shelf_id", parentKey: "id")
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_or_dangling_parent_key_gives_null_and_the_others_still_resolve() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        db.exec(
            "CREATE TABLE shelves (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, shelf_id INTEGER);
             INSERT INTO shelves (id, name) VALUES (1, 'top'), (2, 'bottom');
             INSERT INTO items (id, name, shelf_id) VALUES
               (1, 'on top', 1), (2, 'nowhere', NULL), (3, 'lost', 77), (4, 'below', 2), (5, 'also on top', 1);",
        )
        .await;
        let app = spawn_app(Spawn::with_schema(&db, NULLABLE_SDL)).await;
        let (body, cost) = counted(&app, "{ items { id name shelf { name items { id } } } }").await;
        assert_eq!(
            body,
            json!({"data": {"items": [
                {"id": "1", "name": "on top", "shelf": {"name": "top", "items": [{"id": "1"}, {"id": "5"}]}},
                {"id": "2", "name": "nowhere", "shelf": null},
                {"id": "3", "name": "lost", "shelf": null},
                {"id": "4", "name": "below", "shelf": {"name": "bottom", "items": [{"id": "4"}]}},
                {"id": "5", "name": "also on top", "shelf": {"name": "top", "items": [{"id": "1"}, {"id": "5"}]}}
            ]}}),
            "{backend:?}"
        );
        assert_eq!(
            cost, 3,
            "{backend:?}: items, their shelves, the shelves' items"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

/// Adds 50 products (ids 1001..=1050) so there are more than the 100-row cap.
async fn add_fifty_products(db: &TestDb) {
    let rows: Vec<String> = (1001..=1050)
        .map(|i| format!("({i}, 'EXTRA-{i}', 'Extra {i}', 100, 1)"))
        .collect();
    db.exec(&format!(
        "INSERT INTO products (id, sku, name, price_cents, category_id) VALUES {}",
        rows.join(", ")
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_is_capped_at_one_hundred_and_at_zero() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        add_fifty_products(&db).await;
        assert_eq!(direct::count(&db, "products").await, 110);
        let all = direct::ints(&db, "SELECT id FROM products ORDER BY id").await;

        let (body, _) = counted(&app, "{ products(first: 1000) { id } }").await;
        assert_eq!(
            ids(&body["data"]["products"]),
            all[..100].to_vec(),
            "{backend:?}"
        );
        let (body, _) = counted(&app, "{ products { id } }").await;
        assert_eq!(
            ids(&body["data"]["products"]),
            all[..20].to_vec(),
            "the default page is 20"
        );
        let (body, _) = counted(&app, "{ products(first: 0) { id } }").await;
        assert_eq!(body["data"]["products"], json!([]));
        let (body, _) = counted(&app, "{ products(first: -5) { id } }").await;
        assert_eq!(body["data"]["products"], json!([]));
        // The per-category limit is capped too (category 1 has 10 + 50 products).
        let (body, _) = counted(
            &app,
            r#"{ category(id: "1") { products(limit: 1000) { id } } }"#,
        )
        .await;
        assert_eq!(
            body["data"]["category"]["products"]
                .as_array()
                .expect("products")
                .len(),
            60,
            "{backend:?}"
        );
        let (body, _) = counted(
            &app,
            r#"{ categories { id products(limit: 1000) { id } } }"#,
        )
        .await;
        let first = &body["data"]["categories"][0];
        assert_eq!(id(&first["id"]), 1);
        assert_eq!(first["products"].as_array().expect("products").len(), 60);
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_after_visits_every_product_once_in_id_order() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(uncached(&db)).await;
        add_fifty_products(&db).await;
        let expected = direct::ints(&db, "SELECT id FROM products ORDER BY id").await;
        let mut seen: Vec<i64> = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let query = match after {
                Some(a) => format!(r#"{{ products(first: 7, after: "{a}") {{ id }} }}"#),
                None => "{ products(first: 7) { id } }".to_string(),
            };
            let (body, cost) = counted(&app, &query).await;
            assert_eq!(cost, 1);
            let page = ids(&body["data"]["products"]);
            assert!(page.len() <= 7);
            if page.is_empty() {
                break;
            }
            after = page.last().copied();
            seen.extend(page);
            assert!(
                seen.len() <= expected.len(),
                "paging does not loop: {seen:?}"
            );
        }
        assert_eq!(seen, expected, "{backend:?}");

        // `after` is exclusive; a variable works like a literal.
        let body = app
            .query(
                "query($a: ID) { products(first: 3, after: $a) { id } }",
                json!({"a": "5"}),
            )
            .await;
        assert_eq!(ids(&body["data"]["products"]), vec![6, 7, 8], "{body}");
        app.stop().await;
        db.drop_db().await;
    }
}
