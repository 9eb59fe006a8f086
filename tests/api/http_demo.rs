//! The demo storefront's HTTP side: products joined with the bundled reviews and inventory
//! services (started in-process by the development command), batched per request level, and
//! the `addReview` mutation.

use serde_json::{json, Value};

use crate::helpers::{backends, spawn_app, Spawn, TestDb};

const PRODUCTS: &str = "{ products(first: 20) { id sku reviews { productId rating } rating { average count } stock { sku available } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_show_reviews_ratings_and_stock_with_one_batched_call_per_field() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let reviews = app.http_source("reviews");
        let inventory = app.http_source("inventory");

        let body = app.query(PRODUCTS, json!({})).await;
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");
        let products = body["data"]["products"].as_array().expect("products");
        assert_eq!(products.len(), 20, "{backend:?}");
        let mut reviewed = 0;
        for product in products {
            let id = product["id"].as_str().expect("id");
            let list = product["reviews"].as_array().expect("reviews list");
            for review in list {
                assert_eq!(review["productId"], json!(id), "{product}");
                let stars = review["rating"].as_i64().expect("rating");
                assert!((1..=5).contains(&stars), "{review}");
            }
            assert_eq!(
                product["rating"]["count"].as_u64(),
                Some(list.len() as u64),
                "{product}"
            );
            if list.is_empty() {
                assert_eq!(product["rating"]["average"], Value::Null, "{product}");
            } else {
                reviewed += 1;
                let average = product["rating"]["average"].as_f64().expect("average");
                assert!((1.0..=5.0).contains(&average), "{product}");
            }
            assert_eq!(product["stock"]["sku"], product["sku"], "{product}");
            assert!(product["stock"]["available"].is_i64(), "{product}");
        }
        assert!(reviewed > 0, "some products have reviews");

        assert_eq!(
            reviews.calls_made(),
            2,
            "{backend:?}: /reviews and /ratings, batched"
        );
        assert_eq!(inventory.calls_made(), 1, "{backend:?}: /stock, batched");
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_review_posts_to_the_reviews_service_and_the_product_then_lists_it() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let app = spawn_app(Spawn::demo(&db)).await;
        let before = app
            .query(
                r#"{ product(id: "3") { reviews { id } rating { count } } }"#,
                json!({}),
            )
            .await;
        let count = before["data"]["product"]["reviews"]
            .as_array()
            .expect("reviews")
            .len();

        let added = app
            .query(
                "mutation ($input: ReviewInput!) { addReview(input: $input) { id productId rating title body author createdAt } }",
                json!({"input": {
                    "productId": "3",
                    "rating": 4,
                    "title": "Solid",
                    "body": "Grinds evenly, a little loud.",
                    "author": "Integration Test"
                }}),
            )
            .await;
        assert!(added.get("errors").is_none(), "{backend:?}: {added}");
        let review = &added["data"]["addReview"];
        assert_eq!(review["productId"], json!("3"), "{added}");
        assert_eq!(review["rating"], json!(4));
        assert_eq!(review["title"], json!("Solid"));
        assert_eq!(review["author"], json!("Integration Test"));
        let new_id = review["id"].as_str().expect("id").to_string();

        let after = app
            .query(
                r#"{ product(id: "3") { reviews { id rating body author } rating { count } } }"#,
                json!({}),
            )
            .await;
        assert!(after.get("errors").is_none(), "{backend:?}: {after}");
        let reviews = after["data"]["product"]["reviews"]
            .as_array()
            .expect("reviews");
        assert_eq!(reviews.len(), count + 1, "{after}");
        let mine = reviews
            .iter()
            .find(|r| r["id"] == json!(new_id))
            .unwrap_or_else(|| panic!("the new review is listed: {after}"));
        assert_eq!(mine["body"], json!("Grinds evenly, a little loud."));
        assert_eq!(mine["rating"], json!(4));
        assert_eq!(
            after["data"]["product"]["rating"]["count"],
            json!(count + 1),
            "{after}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}
