//! The demo services over real loopback HTTP, as Tributary's `@http` connector sees them:
//! every endpoint in single and batch form, the error statuses and bodies, and the request
//! counters that tests and benchmarks use to count upstream calls.

use std::net::SocketAddr;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tributary_demo::{start, DemoServices};

async fn services() -> DemoServices {
    start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("demo services start on free ports")
}

async fn get(url: String) -> (StatusCode, Value) {
    let response = reqwest::get(&url).await.expect("request is answered");
    let status = response.status();
    (status, response.json().await.expect("body is JSON"))
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request is answered");
    let status = response.status();
    (status, response.json().await.expect("body is JSON"))
}

fn list(value: &Value) -> &Vec<Value> {
    value.as_array().expect("body is a JSON array")
}

#[tokio::test]
async fn reviews_of_one_product_all_carry_its_id_and_valid_fields() {
    let demo = services().await;
    let (status, body) = get(format!("{}/reviews?productId=1", demo.reviews_url)).await;
    assert_eq!(status, StatusCode::OK);
    let reviews = list(&body);
    assert!(!reviews.is_empty());
    for review in reviews {
        assert_eq!(review["productId"], 1);
        let rating = review["rating"].as_u64().expect("rating is a number");
        assert!((1..=5).contains(&rating));
        assert!(review["id"].is_i64());
        assert!(review["title"].is_string() || review["title"].is_null());
        assert!(!review["body"].as_str().expect("body is text").is_empty());
        assert!(review["author"].is_string());
        let created_at = review["createdAt"].as_str().expect("createdAt is text");
        assert!(chrono_like_rfc3339(created_at), "{created_at}");
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the shape the SQL seed uses too.
fn chrono_like_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20 && bytes[4] == b'-' && bytes[10] == b'T' && bytes[19] == b'Z'
}

#[tokio::test]
async fn a_product_without_reviews_gets_an_empty_list() {
    let demo = services().await;
    let (status, body) = get(format!("{}/reviews?productId=7", demo.reviews_url)).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    let (status, body) = get(format!("{}/reviews?productId=999", demo.reviews_url)).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn the_batch_form_returns_the_reviews_of_all_requested_products_in_one_flat_list() {
    let demo = services().await;
    let (_, one) = get(format!("{}/reviews?productId=1", demo.reviews_url)).await;
    let (_, two) = get(format!("{}/reviews?productId=2", demo.reviews_url)).await;
    let (status, batch) = get(format!(
        "{}/reviews?productId=1&productId=2&productId=7",
        demo.reviews_url
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let batch = list(&batch);
    assert_eq!(batch.len(), list(&one).len() + list(&two).len());
    assert!(batch
        .iter()
        .all(|review| review["productId"] == 1 || review["productId"] == 2));
    let (_, comma) = get(format!("{}/reviews?productId=1,2", demo.reviews_url)).await;
    assert_eq!(list(&comma), batch);
}

#[tokio::test]
async fn listing_reviews_needs_integer_product_ids() {
    let demo = services().await;
    let (status, body) = get(format!("{}/reviews", demo.reviews_url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
    let (status, body) = get(format!("{}/reviews?productId=abc", demo.reviews_url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .expect("error is text")
        .contains("abc"));
}

#[tokio::test]
async fn one_review_is_found_by_id_and_an_unknown_id_is_a_json_404() {
    let demo = services().await;
    let (status, body) = get(format!("{}/reviews/1", demo.reviews_url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], 1);
    for missing in ["100000", "not-a-number"] {
        let (status, body) = get(format!("{}/reviews/{missing}", demo.reviews_url)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn a_posted_review_is_created_with_a_new_id_and_then_listed_and_rated() {
    let demo = services().await;
    let client = Client::new();
    let (_, before) = get(format!("{}/ratings?productId=7", demo.reviews_url)).await;
    assert_eq!(
        before,
        json!([{ "productId": 7, "average": null, "count": 0 }])
    );

    let new = json!({ "productId": 7, "rating": 4, "body": "  Rich and smooth.  ", "author": "Test User" });
    let (status, created) = send(
        client
            .post(format!("{}/reviews", demo.reviews_url))
            .json(&new),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["productId"], 7);
    assert_eq!(created["rating"], 4);
    assert_eq!(created["title"], Value::Null);
    assert_eq!(created["body"], "Rich and smooth.");
    assert!(created["createdAt"].is_string());
    let max_seed_id = demo
        .reviews()
        .all()
        .iter()
        .map(|review| review.id)
        .filter(|id| *id != created["id"])
        .max();
    assert_eq!(created["id"].as_i64(), max_seed_id.map(|id| id + 1));

    let (_, by_id) = get(format!("{}/reviews/{}", demo.reviews_url, created["id"])).await;
    assert_eq!(by_id, created);
    let (_, listed) = get(format!("{}/reviews?productId=7", demo.reviews_url)).await;
    assert_eq!(listed, json!([created]));
    let (_, after) = get(format!("{}/ratings?productId=7", demo.reviews_url)).await;
    assert_eq!(
        after,
        json!([{ "productId": 7, "average": 4.0, "count": 1 }])
    );
}

#[tokio::test]
async fn invalid_posted_reviews_are_rejected_with_a_json_400_and_not_stored() {
    let demo = services().await;
    let client = Client::new();
    let before = demo.reviews().all().len();
    let invalid = [
        json!({ "productId": 1, "rating": 0, "body": "x", "author": "A" }),
        json!({ "productId": 1, "rating": 6, "body": "x", "author": "A" }),
        json!({ "productId": 0, "rating": 5, "body": "x", "author": "A" }),
        json!({ "productId": 61, "rating": 5, "body": "x", "author": "A" }),
        json!({ "productId": 1, "rating": 5, "body": "   ", "author": "A" }),
        json!({ "productId": 1, "rating": 5, "body": "x", "author": "" }),
        json!({ "productId": 1, "rating": 5, "author": "A" }),
        json!({ "productId": 1, "rating": "five", "body": "x", "author": "A" }),
    ];
    for body in invalid {
        let (status, answer) = send(
            client
                .post(format!("{}/reviews", demo.reviews_url))
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer["error"].is_string(), "{body}");
    }
    let not_json = client
        .post(format!("{}/reviews", demo.reviews_url))
        .header("content-type", "application/json")
        .body("{");
    assert_eq!(send(not_json).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(demo.reviews().all().len(), before);
}

#[tokio::test]
async fn ratings_answer_every_requested_product_in_order_with_a_rounded_average() {
    let demo = services().await;
    let (status, body) = get(format!(
        "{}/ratings?productId=2&productId=14&productId=1",
        demo.reviews_url
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let ratings = list(&body);
    let ids: Vec<&Value> = ratings.iter().map(|rating| &rating["productId"]).collect();
    assert_eq!(ids, [&json!(2), &json!(14), &json!(1)]);
    assert_eq!(
        ratings[1],
        json!({ "productId": 14, "average": null, "count": 0 })
    );

    let seed = demo.reviews().all();
    for rating in [&ratings[0], &ratings[2]] {
        let product_id = rating["productId"].as_i64();
        let stars: Vec<f64> = seed
            .iter()
            .filter(|review| Some(review.product_id) == product_id)
            .map(|review| f64::from(review.rating))
            .collect();
        assert_eq!(rating["count"].as_u64(), Some(stars.len() as u64));
        let expected = (stars.iter().sum::<f64>() / stars.len() as f64 * 100.0).round() / 100.0;
        assert_eq!(rating["average"].as_f64(), Some(expected));
    }
}

#[tokio::test]
async fn stock_of_a_known_sku_is_found_and_an_unknown_sku_is_a_json_404() {
    let demo = services().await;
    let (status, body) = get(format!("{}/stock/CB-ETH-YRG-250", demo.inventory_url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sku"], "CB-ETH-YRG-250");
    assert!(body["available"]
        .as_i64()
        .is_some_and(|available| available > 0));
    assert!(body["warehouse"].is_string());
    let (status, body) = get(format!("{}/stock/NOPE-1", demo.inventory_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn products_out_of_stock_in_sql_have_nothing_available() {
    let demo = services().await;
    let (_, body) = get(format!("{}/stock/CB-SUM-MAN-250", demo.inventory_url)).await;
    assert_eq!(body["available"], 0);
}

#[tokio::test]
async fn the_stock_batch_returns_known_skus_in_request_order_and_skips_unknown_ones() {
    let demo = services().await;
    let url = format!(
        "{}/stock?sku=TE-ROO-RED-200&sku=NOPE&sku=CB-ETH-YRG-250",
        demo.inventory_url
    );
    let (status, body) = get(url).await;
    assert_eq!(status, StatusCode::OK);
    let skus: Vec<&Value> = list(&body).iter().map(|record| &record["sku"]).collect();
    assert_eq!(skus, [&json!("TE-ROO-RED-200"), &json!("CB-ETH-YRG-250")]);
    let (status, body) = get(format!("{}/stock", demo.inventory_url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn putting_stock_updates_the_record_and_rejects_unknown_skus_and_bad_levels() {
    let demo = services().await;
    let client = Client::new();
    let url = format!("{}/stock/BK-LAT-ART", demo.inventory_url);
    let (status, body) = send(client.put(&url).json(&json!({ "available": 3 }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["available"], 3);
    assert_eq!(get(url.clone()).await.1, body);

    let (status, _) = send(
        client
            .put(format!("{}/stock/NOPE", demo.inventory_url))
            .json(&json!({ "available": 3 })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        json!({ "available": -1 }),
        json!({ "available": "lots" }),
        json!({}),
    ] {
        let (status, answer) = send(client.put(&url).json(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(
        demo.inventory()
            .get("BK-LAT-ART")
            .map(|record| record.available),
        Some(3)
    );
}

#[tokio::test]
async fn each_service_counts_the_requests_it_serves_but_not_stats_reads() {
    let demo = services().await;
    assert_eq!((demo.reviews_requests(), demo.inventory_requests()), (0, 0));
    get(format!(
        "{}/reviews?productId=1&productId=2",
        demo.reviews_url
    ))
    .await;
    get(format!("{}/ratings?productId=1", demo.reviews_url)).await;
    get(format!("{}/no-such-path", demo.reviews_url)).await;
    get(format!("{}/stock/CB-ETH-YRG-250", demo.inventory_url)).await;

    assert_eq!(demo.reviews_requests(), 3);
    assert_eq!(demo.inventory_requests(), 1);
    assert_eq!(
        get(format!("{}/_stats", demo.reviews_url)).await.1,
        json!({ "requests": 3 })
    );
    assert_eq!(
        get(format!("{}/_stats", demo.inventory_url)).await.1,
        json!({ "requests": 1 })
    );

    demo.reset_requests();
    assert_eq!(
        get(format!("{}/_stats", demo.reviews_url)).await.1,
        json!({ "requests": 0 })
    );
}

#[tokio::test]
async fn the_services_stop_on_shutdown_and_their_ports_refuse_connections() {
    let demo = services().await;
    let url = format!("{}/_stats", demo.reviews_url);
    let client = Client::new();
    assert!(client.get(&url).send().await.is_ok());
    demo.shutdown().await.expect("services stop cleanly");
    assert!(Client::new().get(&url).send().await.is_err());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_services_too() {
    let demo = services().await;
    let url = format!("{}/_stats", demo.inventory_url);
    drop(demo);
    let mut refused = false;
    for _ in 0..50 {
        if Client::new().get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "inventory still answers after the handle was dropped"
    );
}

#[tokio::test]
async fn routers_can_be_embedded_in_another_server() {
    let app = axum::Router::new()
        .nest_service("/reviews-svc", tributary_demo::reviews_router())
        .nest_service("/inventory-svc", tributary_demo::inventory_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = get(format!(
        "http://{addr}/inventory-svc/stock?sku=AP-TOT-CNV-01"
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list(&body).len(), 1);
    let (status, _) = get(format!("http://{addr}/reviews-svc/reviews?productId=1")).await;
    assert_eq!(status, StatusCode::OK);
    server.abort();
}

#[tokio::test]
async fn a_fixed_port_puts_inventory_on_the_next_port() {
    // Find a free port, release it, and reuse it: racy in theory, fine on a test machine.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = probe.local_addr().expect("bound address").port();
    drop(probe);
    if port == u16::MAX {
        return;
    }
    let Ok(demo) = start(SocketAddr::from(([127, 0, 0, 1], port))).await else {
        return; // the port or the next one was taken meanwhile; nothing to assert
    };
    assert_eq!(demo.reviews_addr.port(), port);
    assert_eq!(demo.inventory_addr.port(), port + 1);
    assert_eq!(demo.inventory_url, format!("http://127.0.0.1:{}", port + 1));
}
