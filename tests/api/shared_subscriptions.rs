//! Shared subscriptions: identical subscriptions on one instance run one execution whose
//! serialized results go to every subscriber; different ones run apart; the last subscriber
//! out releases the topic. Executions are counted by the SQL statements an event's nested
//! `product` costs (the demo storefront with the cache off).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::subscriptions::{add_review, event};
use crate::websocket::{acknowledged, send, Socket};

const REVIEWS_OF_7: &str =
    "subscription { reviewAdded(productId: \"7\") { body product { name } } }";

async fn subscribe(app: &TestApp, query: &str) -> Socket {
    let mut socket = acknowledged(app).await;
    send(
        &mut socket,
        json!({"id": "s", "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
    socket
}

/// Posts reviews until every socket has received one (subscriptions start asynchronously),
/// then drains what is left, so that every subscription is known to be running.
async fn warm_up(app: &TestApp, sockets: &mut [Socket]) {
    let mut warm = vec![false; sockets.len()];
    for attempt in 0..40 {
        add_review(app, "7", &format!("warm-up {attempt}")).await;
        for (socket, warm) in sockets.iter_mut().zip(warm.iter_mut()) {
            while event(socket, "s", Duration::from_millis(150))
                .await
                .is_some()
            {
                *warm = true;
            }
        }
        if warm.iter().all(|w| *w) {
            return;
        }
    }
    panic!("not every subscriber received a warm-up event");
}

/// Statements one published review costs, the mutation included, once every socket has it.
async fn statements_per_event(app: &TestApp, sockets: &mut [Socket], body: &str) -> u64 {
    let before = app.statements();
    add_review(app, "7", body).await;
    for socket in sockets.iter_mut() {
        let payload = event(socket, "s", Duration::from_secs(5))
            .await
            .expect("every subscriber receives the event");
        assert_eq!(
            payload["data"]["reviewAdded"]["body"],
            json!(body),
            "{payload}"
        );
        assert_eq!(
            payload["data"]["reviewAdded"]["product"]["name"],
            json!("House Espresso Blend, 500 g"),
            "{payload}"
        );
    }
    app.statements() - before
}

async fn spawn(db: &TestDb, sharing: bool) -> TestApp {
    spawn_app(Spawn::demo(db).settings(move |s| {
        s.cache.enabled = false;
        s.server.sharing = sharing;
    }))
    .await
}

/// Statements one event costs with one subscriber, then with three identical ones (the first
/// plus two more), each subscriber receiving it.
async fn cost_of_one_and_of_three_identical(sharing: bool) -> (u64, u64) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, sharing).await;
    let mut one = vec![subscribe(&app, REVIEWS_OF_7).await];
    warm_up(&app, &mut one).await;
    let cost_one = statements_per_event(&app, &mut one, "for one").await;
    let mut three = vec![
        one.remove(0),
        subscribe(&app, REVIEWS_OF_7).await,
        subscribe(&app, REVIEWS_OF_7).await,
    ];
    warm_up(&app, &mut three).await;
    let cost_three = statements_per_event(&app, &mut three, "for three").await;
    drop(three);
    app.stop().await;
    db.drop_db().await;
    (cost_one, cost_three)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_identical_subscriptions_cost_what_one_costs_per_event_and_each_receives_it() {
    let (cost_one, cost_three) = cost_of_one_and_of_three_identical(true).await;
    // Each event loads its product afresh (not remembered from an earlier event).
    assert!(
        cost_one >= 1,
        "the event's product was not loaded for this event"
    );
    assert_eq!(
        cost_three, cost_one,
        "three identical subscriptions resolved the event more than once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sharing_off_each_subscription_resolves_the_event_itself() {
    let (cost_one, cost_three) = cost_of_one_and_of_three_identical(false).await;
    assert!(
        cost_one >= 1,
        "the event's product was not loaded for this event"
    );
    // Each extra subscription loads the event's product itself.
    assert!(cost_three >= cost_one + 2, "{cost_one} vs {cost_three}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_with_different_selections_run_apart_and_each_gets_its_own_shape() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, true).await;
    let mut sockets = vec![
        subscribe(&app, REVIEWS_OF_7).await,
        subscribe(
            &app,
            "subscription { reviewAdded(productId: \"7\") { body rating } }",
        )
        .await,
    ];
    warm_up(&app, &mut sockets).await;
    add_review(&app, "7", "shapes").await;
    let full = event(&mut sockets[0], "s", Duration::from_secs(5))
        .await
        .expect("event");
    let small = event(&mut sockets[1], "s", Duration::from_secs(5))
        .await
        .expect("event");
    assert_eq!(
        full["data"]["reviewAdded"],
        json!({"body": "shapes", "product": {"name": "House Espresso Blend, 500 g"}})
    );
    assert_eq!(
        small["data"]["reviewAdded"],
        json!({"body": "shapes", "rating": 4})
    );
    drop(sockets);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_leaving_a_shared_execution_leaves_the_others_running_and_the_last_releases_the_topic(
) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, true).await;
    let mut sockets = vec![
        subscribe(&app, REVIEWS_OF_7).await,
        subscribe(&app, REVIEWS_OF_7).await,
    ];
    warm_up(&app, &mut sockets).await;
    assert_eq!(app.engine().active_topics(), ["reviews:7"]);

    // The first completes its operation; the second still receives events.
    send(&mut sockets[0], json!({"id": "s", "type": "complete"})).await;
    add_review(&app, "7", "after one left").await;
    let payload = event(&mut sockets[1], "s", Duration::from_secs(5))
        .await
        .expect("the remaining subscriber still receives events");
    assert_eq!(
        payload["data"]["reviewAdded"]["body"],
        json!("after one left")
    );
    assert!(event(&mut sockets[0], "s", Duration::from_millis(300))
        .await
        .is_none());

    // The second disconnects: nobody is left, so the topic is released.
    drop(sockets);
    let mut released = false;
    for _ in 0..50 {
        if app.engine().active_topics().is_empty() {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        released,
        "topics still held: {:?}",
        app.engine().active_topics()
    );
    app.stop().await;
    db.drop_db().await;
}
