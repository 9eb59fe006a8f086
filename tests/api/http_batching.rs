//! `@http` call counts, measured at real loopback upstreams: batching under a list (with and
//! without a batch form, alone and under load), deduplication inside a request, single-flight
//! across requests, and forwarded client headers.

use std::time::Duration;

use axum::extract::{Path, RawQuery};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::Upstream;

const POSTS: u64 = 100;
const USERS: u64 = 10;

fn user(id: u64) -> Value {
    json!({"id": id, "name": format!("user {id}")})
}

/// The benchmark's shape: `/posts` (100 posts, `userId` 1..10), `/users/{id}` and the batch
/// form `/users?id=1&id=2`, plus `/slow` (answers after 300 ms) and `/whoami` (echoes headers).
fn posts_router() -> Router {
    Router::new()
        .route(
            "/posts",
            get(|| async {
                let posts: Vec<Value> = (1..=POSTS)
                    .map(|id| {
                        json!({"id": id, "userId": (id - 1) % USERS + 1, "title": format!("post {id}")})
                    })
                    .collect();
                Json(Value::Array(posts))
            }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<u64>| async move { Json(user(id)) }),
        )
        .route(
            "/users",
            get(|RawQuery(query): RawQuery| async move {
                let ids: Vec<Value> = query
                    .unwrap_or_default()
                    .split('&')
                    .filter_map(|pair| pair.strip_prefix("id="))
                    .filter_map(|id| id.parse::<u64>().ok())
                    .map(user)
                    .collect();
                Json(Value::Array(ids))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Json(json!({"message": "slow"}))
            }),
        )
        .route(
            "/todos",
            get(|RawQuery(query): RawQuery| async move {
                let query = query.unwrap_or_default();
                let limit = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("limit="))
                    .and_then(|l| l.parse::<u64>().ok())
                    .unwrap_or(1);
                let todos: Vec<Value> = query
                    .split('&')
                    .filter_map(|pair| pair.strip_prefix("userId="))
                    .filter_map(|id| id.parse::<u64>().ok())
                    .flat_map(|user| {
                        (1..=limit).map(move |n| json!({"id": user * 100 + n, "userId": user}))
                    })
                    .collect();
                Json(Value::Array(todos))
            }),
        )
        .route(
            "/notes",
            post(|Json(note): Json<Value>| async move { Json(json!({"message": note["text"]})) }),
        )
        .route(
            "/whoami",
            get(|headers: axum::http::HeaderMap| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                Json(json!({"message": auth}))
            }),
        )
}

/// `batched`: `Post.user` through the batch form; otherwise one call per distinct user.
fn schema(api: &str, batched: bool, single_flight: bool) -> String {
    let user = if batched {
        r#"@http(source: "api", path: "/users", query: {id: "{{parent.userId}}"}, batch: {param: "id", key: "id"})"#
    } else {
        r#"@http(source: "api", path: "/users/{{parent.userId}}")"#
    };
    r#"schema
  @source(name: "api", http: "@API@", singleFlight: @SF@)
{
  query: Query
}

type Query {
  posts: [Post!]! @http(source: "api", path: "/posts")
  user(id: ID!): User @http(source: "api", path: "/users/{{args.id}}")
  slow: Msg @http(source: "api", path: "/slow")
}

type Post {
  id: Int!
  userId: Int!
  title: String!
  user: User @USER@
  echo: Msg @http(source: "api", method: POST, path: "/notes", body: {text: "{{parent.title}}"})
}

type User {
  id: Int!
  name: String!
  todos(limit: Int = 1): [Todo!]!
    @http(source: "api", path: "/todos", query: {userId: "{{parent.id}}", limit: "{{args.limit}}"},
          batch: {param: "userId", key: "userId"})
}

type Todo {
  id: Int!
  userId: Int!
}

type Msg {
  message: String
}
"#
    .replace("@API@", api)
    .replace("@SF@", if single_flight { "true" } else { "false" })
    .replace("@USER@", user)
}

const Q1: &str = "{ posts { id userId user { id name } } }";

async fn spawn(db: &TestDb, sdl: &str) -> TestApp {
    spawn_app(Spawn::with_schema(db, sdl)).await
}

/// Every post is there and carries its own user.
fn assert_q1(body: &Value) {
    assert!(body.get("errors").is_none(), "no errors: {body}");
    let posts = body["data"]["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), POSTS as usize);
    for post in posts {
        let user_id = post["userId"].as_u64().expect("userId");
        assert_eq!(post["user"]["id"].as_u64(), Some(user_id), "{post}");
        assert_eq!(post["user"]["name"], json!(format!("user {user_id}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_posts_without_a_batch_form_costs_one_call_per_distinct_user() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), false, true)).await;

    let body = app.query(Q1, json!({})).await;
    assert_q1(&body);
    assert_eq!(upstream.hits.count("/posts"), 1);
    assert_eq!(upstream.hits.count_prefix("/users/"), USERS as usize);
    for id in 1..=USERS {
        assert_eq!(upstream.hits.count(&format!("/users/{id}")), 1, "user {id}");
    }
    assert_eq!(upstream.hits.total(), 1 + USERS);
    assert_eq!(app.http_source("api").calls_made(), 1 + USERS);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_posts_with_a_batch_form_costs_one_call_for_all_users() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), true, true)).await;

    let body = app.query(Q1, json!({})).await;
    assert_q1(&body);
    assert_eq!(upstream.hits.count("/posts"), 1);
    let batches = upstream.hits.of("/users");
    assert_eq!(batches.len(), 1, "one batch call");
    let query = batches[0].query.clone().unwrap_or_default();
    let mut ids: Vec<&str> = query.split('&').collect();
    ids.sort();
    let mut expected: Vec<String> = (1..=USERS).map(|id| format!("id={id}")).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every distinct user once, in the repeated form"
    );
    assert_eq!(upstream.hits.total(), 2);
    assert_eq!(app.http_source("api").calls_made(), 2);
    app.stop().await;
    db.drop_db().await;
}

/// 100 concurrent Q1 requests with single-flight off: each request keeps its own batches.
async fn concurrent_q1(batched: bool) -> (u64, u64) {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), batched, false)).await;

    // Distinct operation names: identical documents would share one execution.
    let docs: Vec<String> = (0..100).map(|i| format!("query Q{i} {Q1}")).collect();
    let bodies = join_all(docs.iter().map(|q| app.query(q, json!({})))).await;
    for body in &bodies {
        assert_q1(body);
    }
    let counts = (upstream.hits.total(), app.http_source("api").calls_made());
    app.stop().await;
    db.drop_db().await;
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_100_concurrent_requests_without_a_batch_form_each_request_costs_eleven_calls() {
    let (upstream_calls, calls_made) = concurrent_q1(false).await;
    assert_eq!(upstream_calls, 100 * (1 + USERS));
    assert_eq!(calls_made, 100 * (1 + USERS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_100_concurrent_requests_a_batch_form_never_splits_and_each_request_costs_two_calls()
{
    let (upstream_calls, calls_made) = concurrent_q1(true).await;
    assert_eq!(upstream_calls, 100 * 2);
    assert_eq!(calls_made, 100 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_gets_inside_one_request_run_once() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    // Single-flight off: only the per-request loader can merge these.
    let app = spawn(&db, &schema(&upstream.url(""), false, false)).await;

    let body = app
        .query(
            r#"{ a: user(id: "3") { id name } b: user(id: "3") { name } c: user(id: "4") { id } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["a"], json!({"id": 3, "name": "user 3"}));
    assert_eq!(body["data"]["b"], json!({"name": "user 3"}));
    assert_eq!(body["data"]["c"], json!({"id": 4}));
    assert_eq!(upstream.hits.count("/users/3"), 1);
    assert_eq!(upstream.hits.count("/users/4"), 1);
    assert_eq!(upstream.hits.total(), 2);
    app.stop().await;
    db.drop_db().await;
}

/// 50 concurrent requests for `slow` (300 ms upstream); the upstream calls made. With
/// `distinct`, each request is its own operation (named `Q{i}`), so only single-flight of the
/// upstream GET can merge them; otherwise the documents are identical, and operation-level
/// sharing merges whole executions.
async fn fifty_slow_requests(single_flight: bool, sharing: bool, distinct: bool) -> u64 {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let spawn = Spawn::with_schema(&db, &schema(&upstream.url(""), false, single_flight))
        .settings(move |s| s.server.sharing = sharing);
    let app = spawn_app(spawn).await;

    let docs: Vec<String> = (0..50)
        .map(|i| {
            if distinct {
                format!("query Q{i} {{ slow {{ message }} }}")
            } else {
                "{ slow { message } }".to_string()
            }
        })
        .collect();
    let bodies = join_all(docs.iter().map(|q| app.query(q, json!({})))).await;
    for body in &bodies {
        assert_eq!(body["data"]["slow"]["message"], json!("slow"), "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
    let calls = upstream.hits.count("/slow") as u64;
    assert_eq!(app.http_source("api").calls_made(), calls);
    app.stop().await;
    db.drop_db().await;
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_concurrent_requests_share_one_upstream_call_with_single_flight_on() {
    assert_eq!(fifty_slow_requests(true, true, true).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_concurrent_queries_share_one_execution_even_without_single_flight() {
    assert_eq!(fifty_slow_requests(false, true, false).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_concurrent_requests_make_fifty_calls_when_the_source_turns_single_flight_off(
) {
    assert_eq!(fifty_slow_requests(false, true, true).await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_concurrent_requests_make_fifty_calls_when_server_wide_sharing_is_off() {
    assert_eq!(fifty_slow_requests(true, false, false).await, 50);
}

const FORWARDING: &str = r#"schema
  @source(name: "api", http: "@API@", forwardHeaders: ["authorization"],
          headers: {authorization: "{{headers.authorization}}"})
{
  query: Query
}

type Query {
  whoami: Msg @http(source: "api", path: "/whoami")
}

type Msg {
  message: String
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_listed_client_header_reaches_the_upstream_and_no_other_does() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &FORWARDING.replace("@API@", &upstream.url(""))).await;

    let ask = |auth: &'static str| {
        app.client
            .post(format!("{}/graphql", app.addr))
            .header("content-type", "application/json")
            .header("authorization", auth)
            .header("cookie", "session=do-not-forward")
            .header("x-other", "do-not-forward")
            .json(&json!({"query": "{ whoami { message } }"}))
            .send()
    };
    for auth in ["Bearer alice", "Bearer bob"] {
        let res = ask(auth).await.expect("request");
        assert_eq!(res.status().as_u16(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["whoami"]["message"], json!(auth), "{body}");
    }

    let hits = upstream.hits.of("/whoami");
    assert_eq!(
        hits.len(),
        2,
        "different forwarded headers never share a call"
    );
    for (hit, auth) in hits.iter().zip(["Bearer alice", "Bearer bob"]) {
        assert_eq!(
            hit.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(auth)
        );
        assert!(hit.headers.get("cookie").is_none(), "{:?}", hit.headers);
        assert!(hit.headers.get("x-other").is_none(), "{:?}", hit.headers);
    }

    // Without the client header, nothing is sent in its place.
    let body = app.query("{ whoami { message } }", json!({})).await;
    assert_eq!(body["data"]["whoami"]["message"], Value::Null, "{body}");
    let last = upstream.hits.of("/whoami").pop().expect("a third call");
    assert!(last.headers.get("authorization").is_none());
    app.stop().await;
    db.drop_db().await;
}

const NOTES: &str = r#"schema
  @source(name: "api", http: "@API@")
{
  query: Query
  mutation: Mutation
}

type Query {
  user(id: ID!): User @http(source: "api", path: "/users/{{args.id}}")
}

type Mutation {
  addNote(text: String!): Msg
    @http(source: "api", method: POST, path: "/notes", body: {text: "{{args.text}}"})
}

type User {
  id: Int!
  name: String!
}

type Msg {
  message: String
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_post_mutations_in_one_request_are_each_sent() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &NOTES.replace("@API@", &upstream.url(""))).await;

    let body = app
        .query(
            r#"mutation { a: addNote(text: "hi") { message } b: addNote(text: "hi") { message } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["a"]["message"], json!("hi"));
    assert_eq!(body["data"]["b"]["message"], json!("hi"));
    assert_eq!(
        upstream.hits.count_method("POST", "/notes"),
        2,
        "a mutation is a side effect: two fields, two POSTs"
    );
    app.stop().await;
    db.drop_db().await;
}

/// Q1 written other ways: each must still cost one `/posts` call and one `/users` batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_and_variables_do_not_split_a_batch() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), true, false)).await;
    let shapes = [
        "{ posts { ...P } } fragment P on Post { id userId user { id name } }",
        "{ posts { id userId ... on Post { user { id name } } } }",
        "{ posts { id userId ... { user { ...U } } } } fragment U on User { id name }",
        "query ($yes: Boolean!) { posts { id userId user @include(if: $yes) { id name } } }",
    ];
    for (i, query) in shapes.iter().enumerate() {
        let body = app.query(query, json!({"yes": true})).await;
        assert_q1(&body);
        assert_eq!(upstream.hits.count("/posts"), i + 1, "{query}");
        assert_eq!(upstream.hits.count("/users"), i + 1, "{query}: one batch");
        assert_eq!(upstream.hits.total(), 2 * (i as u64 + 1), "{query}");
    }
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_batched_field_costs_no_call() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), true, false)).await;
    let body = app
        .query(
            "query ($no: Boolean!) { posts { id user @include(if: $no) { id } } }",
            json!({"no": false}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["posts"][0].get("user").is_none(), "{body}");
    assert_eq!(upstream.hits.count("/users"), 0, "skipped: not fetched");
    app.stop().await;
    db.drop_db().await;
}

/// Two levels of batched `@http` fields under a list, with arguments from literals, variables
/// and defaults: one call per level whatever the form of the arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_batched_fields_cost_one_call_per_level_whatever_the_argument_form() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), true, false)).await;
    let shapes = [
        (
            "{ posts { userId user { id todos(limit: 2) { id userId } } } }",
            2,
        ),
        (
            "query ($n: Int) { posts { userId user { id todos(limit: $n) { id userId } } } }",
            3,
        ),
        ("{ posts { userId user { id todos { id userId } } } }", 1),
    ];
    for (i, (query, per_user)) in shapes.iter().enumerate() {
        let body = app.query(query, json!({"n": 3})).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
        for post in body["data"]["posts"].as_array().expect("posts") {
            let user = post["userId"].as_u64().expect("userId");
            let todos = post["user"]["todos"].as_array().expect("todos");
            assert_eq!(todos.len(), *per_user, "{query}: {post}");
            for todo in todos {
                assert_eq!(todo["userId"].as_u64(), Some(user), "{post}");
            }
        }
        assert_eq!(
            upstream.hits.count("/todos"),
            i + 1,
            "{query}: one call for all users"
        );
        assert_eq!(upstream.hits.total(), 3 * (i as u64 + 1), "{query}");
    }
    app.stop().await;
    db.drop_db().await;
}

/// Single-flight must never hand one user's answer to another: identical concurrent GETs with
/// different forwarded headers are different calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_different_forwarded_headers_never_share_an_answer() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &FORWARDING.replace("@API@", &upstream.url(""))).await;

    let users: Vec<String> = (0..20).map(|i| format!("Bearer user-{}", i % 2)).collect();
    let bodies = join_all(users.iter().map(|auth| {
        let request = app
            .client
            .post(format!("{}/graphql", app.addr))
            .header("content-type", "application/json")
            .header("authorization", auth.as_str())
            .json(&json!({"query": "{ whoami { message } }"}))
            .send();
        async move {
            let res = request.await.expect("request");
            res.json::<Value>().await.expect("json")
        }
    }))
    .await;
    for (auth, body) in users.iter().zip(&bodies) {
        assert_eq!(body["data"]["whoami"]["message"], json!(auth), "{body}");
    }
    let hits = upstream.hits.of("/whoami");
    assert!(hits.len() >= 2, "one call per distinct header at least");
    for hit in &hits {
        let auth = hit
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert!(
            matches!(auth, Some("Bearer user-0") | Some("Bearer user-1")),
            "{auth:?}"
        );
    }
    app.stop().await;
    db.drop_db().await;
}

/// A non-GET field under a list: one request per parent, never more (the look-ahead and the
/// field's own resolver must not both send it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_field_under_a_list_is_sent_once_per_parent() {
    let upstream = Upstream::start(posts_router()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn(&db, &schema(&upstream.url(""), true, false)).await;
    let body = app
        .query("{ posts { title echo { message } } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    for post in body["data"]["posts"].as_array().expect("posts") {
        assert_eq!(post["echo"]["message"], post["title"], "{post}");
    }
    assert_eq!(upstream.hits.count_method("POST", "/notes"), POSTS as usize);
    app.stop().await;
    db.drop_db().await;
}
