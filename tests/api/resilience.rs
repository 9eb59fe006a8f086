//! Resilience: statement timeouts, the database going away and coming back, graceful shutdown
//! (in-process and with a real SIGTERM), and database passwords never reaching the output.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;

use crate::binary::{self, command, demo_migrations, temp_dir, write_file};
use crate::helpers::{backends, codes, repo_path, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::proxy::{redirect_url, target_of, Proxy};

/// A schema with one slow field, `slow(amount:)`: on PostgreSQL it sleeps `amount` seconds,
/// on SQLite it counts to `amount` with a recursive CTE (5 million take about a second).
/// `greet` needs no database, so partial results show.
fn slow_schema(backend: Backend, statement_timeout: &str, pool_size: u32) -> String {
    let (ty, query) = match backend {
        Backend::Postgres => ("Float", "SELECT pg_sleep($1) IS NULL AS slept"),
        Backend::Sqlite => (
            "Int",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) SELECT count(*) AS n FROM c",
        ),
    };
    let result = match backend {
        Backend::Postgres => "Boolean",
        Backend::Sqlite => "Int",
    };
    format!(
        r#"schema
  @source(name: "main", sql: "{{{{env.DATABASE_URL}}}}", statementTimeout: "{statement_timeout}", poolSize: {pool_size})
{{
  query: Query
}}

type Query {{
  slow(amount: {ty}!): {result}
    @sql(source: "main", query: "{query}", params: ["{{{{args.amount}}}}"])
  greet: String! @value(of: "hello")
}}
"#
    )
}

/// A slow `amount` (several seconds) and a quick one, per backend.
fn amounts(backend: Backend) -> (Value, Value) {
    match backend {
        Backend::Postgres => (json!(2.0), json!(0.0)),
        Backend::Sqlite => (json!(50_000_000), json!(10)),
    }
}

/// What the quick `slow` answers.
fn quick_answer(backend: Backend) -> Value {
    match backend {
        Backend::Postgres => json!(false),
        Backend::Sqlite => json!(10),
    }
}

const SLOW: &str = "query ($amount: Float!) { slow(amount: $amount) greet }";
const SLOW_INT: &str = "query ($amount: Int!) { slow(amount: $amount) greet }";

fn slow_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => SLOW,
        Backend::Sqlite => SLOW_INT,
    }
}

fn http() -> reqwest::Client {
    binary::client()
}

async fn post(client: &reqwest::Client, addr: &str, query: &str, variables: Value) -> (u16, Value) {
    let res = client
        .post(format!("{addr}/graphql"))
        .header("content-type", "application/json")
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

async fn readyz(client: &reqwest::Client, addr: &str) -> u16 {
    client
        .get(format!("{addr}/readyz"))
        .send()
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

/// Waits (at most 20s) until PostgreSQL runs a `pg_sleep` statement in `db_url`'s database:
/// the slow request is in flight.
async fn wait_for_pg_sleep(db_url: &str) {
    let mut conn = sqlx::postgres::PgConnection::connect(db_url)
        .await
        .expect("connect postgres");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%pg_sleep%'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if running > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow statement never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the slow request is running: on PostgreSQL until the database runs it; on
/// SQLite until the source has started one more statement.
async fn wait_until_in_flight(app: &TestApp, db: &TestDb, before: u64) {
    match db.backend {
        Backend::Postgres => wait_for_pg_sleep(&db.url).await,
        Backend::Sqlite => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while app.statements() <= before {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slow statement never started"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statement timeouts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_running_past_the_sources_statement_timeout_is_null_with_database_timeout() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let timeout = match backend {
            Backend::Postgres => "200ms",
            Backend::Sqlite => "100ms",
        };
        let app = spawn_app(Spawn::with_schema(&db, &slow_schema(backend, timeout, 10))).await;
        let (slow, quick) = amounts(backend);
        // SQLite: 5 million (about a second, ten times the timeout) is enough to pass the
        // timeout; the source interrupts it there (see the interruption test below).
        let slow = if backend == Backend::Sqlite {
            json!(5_000_000)
        } else {
            slow
        };

        let body = app
            .query(slow_query(backend), json!({"amount": slow}))
            .await;
        assert_eq!(
            body["data"],
            json!({"slow": null, "greet": "hello"}),
            "{backend:?}: {body}"
        );
        assert_eq!(codes(&body), ["DATABASE_TIMEOUT"], "{backend:?}: {body}");
        assert_eq!(
            body["errors"][0]["path"],
            json!(["slow"]),
            "{backend:?}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("pg_sleep")
                && !message.contains("RECURSIVE")
                && !message.contains("cancel"),
            "{backend:?}: database internals in the message: {message}"
        );

        // The source still serves statements that finish in time.
        let body = app
            .query(slow_query(backend), json!({"amount": quick}))
            .await;
        assert_eq!(
            body["data"],
            json!({"slow": quick_answer(backend), "greet": "hello"}),
            "{backend:?}: {body}"
        );
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");

        app.stop().await;
        db.drop_db().await;
    }
}

/// With one connection, the next request can only be served if the timed-out statement was
/// really stopped, not merely abandoned while the database keeps running it (a 2s sleep, a
/// 50-million-row CTE that runs for several seconds).
async fn assert_a_timed_out_statement_is_interrupted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(Spawn::with_schema(&db, &slow_schema(backend, "300ms", 1))).await;
    let (slow, quick) = amounts(backend);

    let body = app
        .query(slow_query(backend), json!({"amount": slow}))
        .await;
    assert_eq!(codes(&body), ["DATABASE_TIMEOUT"], "{backend:?}: {body}");

    let body = app
        .query(slow_query(backend), json!({"amount": quick}))
        .await;
    assert_eq!(
        body["data"],
        json!({"slow": quick_answer(backend), "greet": "hello"}),
        "{backend:?}: the only connection is still busy with the timed-out statement: {body}"
    );
    assert!(body.get("errors").is_none(), "{backend:?}: {body}");

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_postgres_statement_is_cancelled_so_its_connection_serves_the_next_request() {
    if backends().contains(&Backend::Postgres) {
        assert_a_timed_out_statement_is_interrupted(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_sqlite_statement_is_interrupted_so_its_connection_serves_the_next_request() {
    assert_a_timed_out_statement_is_interrupted(Backend::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------
// The database going away and coming back

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_goes_away_fields_fail_with_database_unavailable_and_recover_when_it_returns(
) {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let mut proxy = Proxy::start(target_of(&db.url)).await;
    // The cache off: `Category` is cached, and this test is about the database itself.
    let mut spawn = Spawn::demo(&db).settings(|s| {
        s.database.acquire_timeout = "1s".into();
        s.cache.enabled = false;
    });
    spawn
        .env
        .insert("DATABASE_URL".into(), redirect_url(&db.url, proxy.port()));
    let app = spawn_app(spawn).await;
    let client = http();
    let query = r#"{ greet category(id: 1) { name } }"#;

    // Up.
    let body = app.query(query, json!({})).await;
    assert_eq!(body["data"]["category"]["name"], "Coffee Beans", "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(readyz(&client, &app.addr).await, 200);

    // Down: listener closed and every live connection cut.
    proxy.close().await;
    for attempt in 1..=2 {
        let (status, body) = app.post(query, json!({})).await;
        assert_eq!(
            status, 200,
            "attempt {attempt}: partial results are still HTTP 200: {body}"
        );
        assert_eq!(
            body["data"]["greet"], "Welcome to the Tributary storefront",
            "attempt {attempt}: {body}"
        );
        assert_eq!(
            body["data"]["category"],
            Value::Null,
            "attempt {attempt}: {body}"
        );
        assert_eq!(
            codes(&body),
            ["DATABASE_UNAVAILABLE"],
            "attempt {attempt}: {body}"
        );
        assert_eq!(
            body["errors"][0]["path"],
            json!(["category"]),
            "attempt {attempt}: {body}"
        );
    }
    assert_eq!(readyz(&client, &app.addr).await, 503);
    let health = client
        .get(format!("{}/healthz", app.addr))
        .send()
        .await
        .expect("healthz");
    assert_eq!(
        health.status().as_u16(),
        200,
        "the process is alive while the database is down"
    );

    // Back: ready again within 10s, and queries succeed.
    proxy.reopen().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while readyz(&client, &app.addr).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz did not recover within 10s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = app.query(query, json!({})).await;
    assert_eq!(body["data"]["category"]["name"], "Coffee Beans", "{body}");
    assert!(body.get("errors").is_none(), "{body}");

    assert!(
        !app.handle.is_finished(),
        "the server stopped during the outage"
    );
    app.stop().await;
    drop(proxy);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_when_the_app_is_told_to_stop_still_completes_and_new_connections_are_refused(
) {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let mut app = spawn_app(Spawn::with_schema(&db, &slow_schema(backend, "30s", 10))).await;
        let amount = match backend {
            Backend::Postgres => json!(1.0),
            Backend::Sqlite => json!(5_000_000),
        };
        let expected = match backend {
            Backend::Postgres => json!(false),
            Backend::Sqlite => json!(5_000_000),
        };

        let before = app.statements();
        let client = http();
        let addr = app.addr.clone();
        let query = slow_query(backend);
        let in_flight =
            tokio::spawn(
                async move { post(&client, &addr, query, json!({"amount": amount})).await },
            );
        wait_until_in_flight(&app, &db, before).await;

        app.trigger_stop();

        // The listener closes right away, while the slow request is still being served.
        let socket = app.addr.trim_start_matches("http://").to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(&socket).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: still accepting connections 10s after stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let (status, body) = tokio::time::timeout(Duration::from_secs(30), in_flight)
            .await
            .expect("the in-flight request did not finish within 30s")
            .expect("request task");
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(
            body["data"],
            json!({"slow": expected, "greet": "hello"}),
            "{backend:?}: {body}"
        );
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");

        let result = tokio::time::timeout(Duration::from_secs(30), &mut app.handle)
            .await
            .expect("the server did not stop within 30s")
            .expect("server task");
        assert!(
            result.is_ok(),
            "{backend:?}: the server ended with {result:?}"
        );
        let refused = http().get(format!("{}/healthz", app.addr)).send().await;
        assert!(
            refused.is_err(),
            "{backend:?}: a new request was served after shutdown"
        );
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_binary_finish_a_request_in_flight_and_exit_successfully() {
    for backend in backends() {
        let dir = temp_dir("sigterm");
        let db = TestDb::new(backend).await;
        let schema = write_file(&dir, "slow.graphql", &slow_schema(backend, "30s", 10));
        let amount = match backend {
            Backend::Postgres => json!(1.0),
            Backend::Sqlite => json!(10_000_000),
        };
        let expected = match backend {
            Backend::Postgres => json!(false),
            Backend::Sqlite => json!(10_000_000),
        };
        let mut cmd = command(&dir);
        cmd.arg("--schema")
            .arg(&schema)
            .arg("--listen")
            .arg("127.0.0.1:0");
        cmd.env("DATABASE_URL", &db.url)
            .env("TRIBUTARY_DATABASE__MIGRATE", "false");
        let server = binary::start(cmd).await;

        let client = http();
        let addr = server.addr.clone();
        let query = slow_query(backend);
        let in_flight =
            tokio::spawn(
                async move { post(&client, &addr, query, json!({"amount": amount})).await },
            );
        match backend {
            Backend::Postgres => wait_for_pg_sleep(&db.url).await,
            // No window into another process's SQLite: give the request time to arrive (the
            // count itself takes about two seconds).
            Backend::Sqlite => tokio::time::sleep(Duration::from_millis(500)).await,
        }
        server.sigterm();

        let (status, body) = tokio::time::timeout(Duration::from_secs(30), in_flight)
            .await
            .expect("the in-flight request did not finish within 30s")
            .expect("request task");
        let finished = server.wait().await;
        assert_eq!(status, 200, "{backend:?}: {body}\n{}", finished.output());
        assert_eq!(
            body["data"],
            json!({"slow": expected, "greet": "hello"}),
            "{backend:?}: {body}"
        );
        assert!(
            finished.status.success(),
            "{backend:?}: exit {}:\n{}",
            finished.status,
            finished.output()
        );
        assert!(
            !finished.output().contains("panicked"),
            "{}",
            finished.output()
        );
        assert!(!dir.join("tributary.db").exists());
        db.drop_db().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// `url` with `password` as its password (for a trust-auth server any password works), unless
/// it already has one: then that one is the secret. Returns (url, password).
fn with_password(url: &str, password: &str) -> (String, String) {
    let scheme_end = url.find("://").map(|i| i + 3).expect("scheme");
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((_, existing)) if !existing.is_empty() => {
                    (url.to_string(), existing.to_string())
                }
                _ => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    let url = format!(
                        "{}{user}:{password}@{}",
                        &url[..scheme_end],
                        &rest[at + 1..]
                    );
                    (url, password.to_string())
                }
            }
        }
        None => (
            format!("{}postgres:{password}@{rest}", &url[..scheme_end]),
            password.to_string(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_never_appears_in_the_output_even_at_debug_level() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    for format in ["pretty", "json"] {
        let db = TestDb::new(Backend::Postgres).await;
        let (url, secret) = with_password(&db.url, "SuperSecret123");
        let dir = temp_dir("secrets");
        let mut cmd = command(&dir);
        cmd.arg("--schema")
            .arg(repo_path("schema.graphql"))
            .arg("--listen")
            .arg("127.0.0.1:0");
        cmd.env("DATABASE_URL", &url)
            .env("TRIBUTARY_LOG__LEVEL", "debug")
            .env("TRIBUTARY_LOG__FORMAT", format)
            .env("TRIBUTARY_DATABASE__MIGRATIONS", demo_migrations());
        let server = binary::start(cmd).await;
        let client = http();

        let (status, body) = post(
            &client,
            &server.addr,
            "{ products(first: 2) { name category { name } } }",
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["products"].as_array().map(Vec::len),
            Some(2),
            "{body}"
        );
        // Error paths log too: a bad argument and a rejected write.
        let (_, body) = post(
            &client,
            &server.addr,
            r#"{ product(id: "abc") { name } }"#,
            json!({}),
        )
        .await;
        assert!(body.get("errors").is_some(), "{body}");
        let (_, body) = post(
            &client,
            &server.addr,
            r#"mutation { placeOrder(input: {customerId: "999999", lines: [{productId: "1", quantity: 1}]}) { id } }"#,
            json!({}),
        )
        .await;
        assert!(body.get("errors").is_some(), "{body}");
        assert_eq!(readyz(&client, &server.addr).await, 200);

        server.sigterm();
        let finished = server.wait().await;
        let output = finished.output();
        assert!(
            finished.status.success(),
            "{format}: exit {}:\n{output}",
            finished.status
        );
        assert!(
            output.contains("tributary listening"),
            "{format}: the logs were not captured:\n{output}"
        );
        assert!(
            output.to_lowercase().contains("debug"),
            "{format}: not logging at debug level:\n{output}"
        );
        assert!(
            !output.contains(&secret),
            "{format}: the password is in the output:\n{output}"
        );
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_at_start_up_exits_non_zero_naming_the_source_without_the_password()
{
    let dir = temp_dir("unreachable");
    let mut cmd = command(&dir);
    cmd.arg("--schema")
        .arg(repo_path("schema.graphql"))
        .arg("--listen")
        .arg("127.0.0.1:0");
    cmd.env("DATABASE_URL", "postgres://u:SuperSecret123@127.0.0.1:1/x")
        .env("TRIBUTARY_LOG__LEVEL", "debug")
        .env("TRIBUTARY_DATABASE__MIGRATIONS", demo_migrations());
    let out = binary::run(cmd).await;
    let output = out.output();

    assert!(
        !out.status.success(),
        "started without its database:\n{output}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean exit code, not a crash:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        !output.contains("SuperSecret123"),
        "the password is in the output:\n{output}"
    );
    let schema = repo_path("schema.graphql").display().to_string();
    assert!(
        output.contains(&format!("{schema}:8:3")),
        "the message does not point at the @source:\n{output}"
    );
    assert!(
        output.contains("\"main\""),
        "the message does not name the source:\n{output}"
    );
    assert!(
        output.contains("127.0.0.1:1"),
        "the message does not say where it tried:\n{output}"
    );
}
