//! The self-hosted playground: the page and every asset it needs come from Tributary, it is
//! off in production, odd asset paths are 404s, a headless Chromium with no network runs a
//! query, a header and a subscription through it, and its example operations validate against
//! `tributary print-schema` in graphql-js.

use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::binary::{command, run, temp_dir, write_file};
use crate::helpers::{repo_path, run_node, spawn_app, Backend, Spawn, TestApp, TestDb};
use crate::http_upstream::Upstream;

const CHROMIUM: &str = "/usr/bin/chromium";

async fn get_page(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.addr))
        .header("accept", accept)
        .send()
        .await
        .expect("request")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The values of every `src="…"` and `href="…"` attribute of the page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The `url(…)` references of a stylesheet that are not `data:` URLs.
fn css_urls(css: &str) -> Vec<String> {
    css.split("url(")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .map(|u| u.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|u| !u.starts_with("data:") && !u.starts_with('#'))
        .collect()
}

fn expected_content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("ttf") => "font/ttf",
        Some("woff2") => "font/woff2",
        Some("html") => "text/html",
        _ => "",
    }
}

async fn assert_served(app: &TestApp, url_path: &str) -> bytes::Bytes {
    let res = get_page(app, url_path, "*/*").await;
    assert_eq!(res.status().as_u16(), 200, "GET {url_path}");
    let ct = header(&res, "content-type").to_string();
    let want = expected_content_type(url_path);
    assert!(
        !want.is_empty() && ct.starts_with(want),
        "GET {url_path}: content type {ct:?}, expected {want:?}"
    );
    let cache = header(&res, "cache-control").to_string();
    assert!(
        cache.contains("max-age=31536000") && cache.contains("immutable"),
        "GET {url_path}: cache-control {cache:?}"
    );
    res.bytes().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_page_and_every_asset_it_references_are_served_by_tributary_itself() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;

    let res = get_page(&app, "/", "text/html").await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let csp = header(&res, "content-security-policy").to_string();
    assert!(csp.contains("script-src 'self'"), "CSP: {csp}");
    let html = res.text().await.expect("html");

    // Nothing on the page points at another host: not a script, a style or a link.
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "the page references another host:\n{html}"
    );
    let refs = references(&html);
    let local: Vec<&String> = refs.iter().filter(|r| !r.starts_with("data:")).collect();
    assert!(
        local.iter().any(|r| r.ends_with(".js")) && local.iter().any(|r| r.ends_with(".css")),
        "the page has no script or no stylesheet: {refs:?}"
    );
    let mut stylesheets = Vec::new();
    for r in &local {
        assert!(
            r.starts_with('/') && !r.starts_with("//"),
            "{r} is not a same-origin path"
        );
        let body = assert_served(&app, r).await;
        if r.ends_with(".css") {
            stylesheets.push((r.to_string(), body));
        }
    }
    // What the stylesheets load (fonts) is served too.
    for (css_path, css) in &stylesheets {
        let dir = css_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        for url in css_urls(&String::from_utf8_lossy(css)) {
            assert!(!url.contains("://"), "{css_path} loads {url}");
            let url = url.trim_start_matches("./");
            assert_served(&app, &format!("{dir}/{url}")).await;
        }
    }

    // Every file of the committed build is embedded and served byte for byte (the workers and
    // chunks the scripts load on demand included).
    let script = local.iter().find(|r| r.ends_with(".js")).expect("a script");
    let assets_base = script.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let dist = repo_path("playground/dist/assets");
    let mut files = 0;
    for entry in std::fs::read_dir(&dist).expect("playground/dist/assets") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let served = assert_served(&app, &format!("{assets_base}/{name}")).await;
        let on_disk = std::fs::read(&path).expect("read asset");
        assert!(
            served.as_ref() == on_disk.as_slice(),
            "{name}: the embedded copy differs from playground/dist (rebuild with cargo build)"
        );
        files += 1;
    }
    assert!(files >= 4, "only {files} files in playground/dist/assets");

    // A browser opening /graphql gets the same page; a GraphQL client still gets GraphQL.
    let res = get_page(
        &app,
        "/graphql",
        "text/html,application/xhtml+xml,*/*;q=0.8",
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert_eq!(res.text().await.expect("html"), html);
    let res = get_page(&app, "/graphql?query=%7Bgreet%7D", "application/json").await;
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["data"]["greet"],
        json!("Welcome to the Tributary storefront")
    );

    app.stop().await;
    db.drop_db().await;
}

const GREET: &str = r#"schema { query: Query }
type Query { greet: String! @value(of: "hello") }
"#;

/// Spawns the small schema with `production` and `playground.enabled` set.
async fn spawn_mode(db: &TestDb, production: bool, enabled: Option<bool>) -> TestApp {
    spawn_app(Spawn::with_schema(db, GREET).settings(move |s| {
        s.server.production = production;
        s.playground.enabled = enabled;
    }))
    .await
}

fn asset_url() -> String {
    format!(
        "/playground/{}/assets/index.js",
        tributary::server::playground::DIGEST
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_is_off_in_production_and_html_requests_to_graphql_get_graphql_answers() {
    let db = TestDb::new(Backend::Sqlite).await;

    let prod = spawn_mode(&db, true, None).await;
    assert_eq!(
        get_page(&prod, "/", "text/html").await.status().as_u16(),
        404
    );
    assert_eq!(
        get_page(&prod, &asset_url(), "*/*").await.status().as_u16(),
        404
    );
    let res = get_page(&prod, "/graphql", "text/html").await;
    assert_eq!(res.status().as_u16(), 406, "text/html only: not acceptable");
    assert!(!header(&res, "content-type").starts_with("text/html"));
    let res = get_page(&prod, "/graphql", "text/html,*/*;q=0.8").await;
    assert!(
        !header(&res, "content-type").starts_with("text/html"),
        "a browser's Accept gets GraphQL over HTTP, not the page"
    );
    prod.stop().await;

    // Each mode can be overridden.
    let prod_on = spawn_mode(&db, true, Some(true)).await;
    assert_eq!(
        get_page(&prod_on, "/", "text/html").await.status().as_u16(),
        200
    );
    assert_eq!(
        get_page(&prod_on, &asset_url(), "*/*")
            .await
            .status()
            .as_u16(),
        200
    );
    prod_on.stop().await;

    let dev_off = spawn_mode(&db, false, Some(false)).await;
    assert_eq!(
        get_page(&dev_off, "/", "text/html").await.status().as_u16(),
        404
    );
    assert_eq!(
        get_page(&dev_off, "/graphql", "text/html")
            .await
            .status()
            .as_u16(),
        406
    );
    dev_off.stop().await;

    let dev = spawn_mode(&db, false, None).await;
    assert_eq!(
        get_page(&dev, "/", "text/html").await.status().as_u16(),
        200
    );
    dev.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_paths_that_name_no_built_file_are_404_and_never_break_the_server() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_mode(&db, false, None).await;
    let digest = tributary::server::playground::DIGEST;
    let long = "a".repeat(10_000);
    let paths = [
        format!("/playground/{digest}/assets/"),
        format!("/playground/{digest}/assets/nope.js"),
        format!("/playground/{digest}/assets/%2e%2e/index.html"),
        format!("/playground/{digest}/assets/..%2f..%2fCargo.toml"),
        format!("/playground/{digest}/assets/%2e%2e%2f%2e%2e%2fCargo.toml"),
        format!("/playground/{digest}/assets/index.js%00.css"),
        format!("/playground/{digest}/assets/%ff%fe"),
        format!("/playground/{digest}/assets/%C3%A9t%C3%A9.js"),
        format!("/playground/{digest}/assets/index.js/"),
        format!("/playground/{digest}/assets//index.js"),
        format!("/playground/{digest}/assets/{long}"),
        "/playground/0000/assets/index.js".to_string(),
        format!("/playground/{long}/assets/index.js"),
        "/playground/assets/index.js".to_string(),
        "/playground/".to_string(),
        format!("/playground/{digest}/index.html"),
    ];
    for path in &paths {
        let res = get_page(&app, path, "*/*").await;
        let status = res.status().as_u16();
        assert!(
            status == 404 || status == 400,
            "GET {}: {status}",
            &path[..path.len().min(120)]
        );
    }
    // Still serving.
    assert_eq!(
        get_page(&app, "/", "text/html").await.status().as_u16(),
        200
    );
    assert_eq!(
        get_page(&app, &asset_url(), "*/*").await.status().as_u16(),
        200
    );
    app.stop().await;
    db.drop_db().await;
}

/// The demo schema plus `echo { header }`, a field whose upstream answers the
/// `x-playground-test` header it received (forwarded from the client by the source).
fn demo_schema_with_echo() -> String {
    let demo = std::fs::read_to_string(repo_path("schema.graphql")).expect("schema.graphql");
    let anchor = "  @source(name: \"inventory\",";
    assert!(
        demo.contains(anchor),
        "the demo schema has no inventory source"
    );
    let sdl = demo.replacen(
        anchor,
        &format!(
            "  @source(name: \"echo\", http: \"{{{{env.ECHO_URL}}}}\", forwardHeaders: [\"x-playground-test\"],\n          headers: {{x_playground_test: \"{{{{headers.x-playground-test}}}}\"}})\n{anchor}"
        ),
        1,
    );
    let sdl = sdl.replacen(
        "type Query {\n",
        "type Query {\n  echo: Echo @http(source: \"echo\", path: \"/echo\")\n",
        1,
    );
    format!("{sdl}\ntype Echo {{\n  header: String\n}}\n")
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_browser_with_no_network_runs_a_query_a_header_and_a_subscription_in_the_playground(
) {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("TRIBUTARY_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "{CHROMIUM} is missing and TRIBUTARY_REQUIRE_BROWSER=1 (apt-get install chromium)"
            );
        }
        eprintln!("SKIP playground browser test: {CHROMIUM} is missing (apt-get install chromium; TRIBUTARY_REQUIRE_BROWSER=1 makes this a failure)");
        return;
    }
    let echo = Upstream::start(Router::new().route(
        "/echo",
        get(|headers: HeaderMap| async move {
            let value = headers
                .get("x-playground-test")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            Json(json!({ "header": value }))
        }),
    ))
    .await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut spawn = Spawn::with_schema(&db, &demo_schema_with_echo()).settings(|s| {
        s.database.migrate = Some(true);
        s.database.migrations = Some(repo_path("demo/migrations"));
    });
    spawn.env.insert("ECHO_URL".into(), echo.url(""));
    let app = spawn_app(spawn).await;

    let screenshot = artifacts_dir().join("playground.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = screenshot.display().to_string();
    let (ok, stdout, stderr) = run_node("playground.mjs", &[&app.addr, &shot]).await;
    assert!(
        ok,
        "the playground browser test failed (screenshot: {shot}):\n{stdout}\n{stderr}"
    );
    println!("{}", stdout.trim());
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(result["ok"], json!(true));
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {shot}"
    );

    // The header typed into the headers editor reached the server (and, forwarded, the upstream).
    let hits = echo.hits.of("/echo");
    assert!(
        hits.iter().any(|h| h
            .headers
            .get("x-playground-test")
            .is_some_and(|v| v == "abc")),
        "the echo upstream never saw x-playground-test: abc ({} calls)",
        hits.len()
    );

    app.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_schema_output_loads_in_graphql_js_and_every_playground_example_validates_against_it()
{
    let dir = temp_dir("print-schema");
    let mut cmd = command(&dir);
    cmd.arg("print-schema").arg(repo_path("schema.graphql"));
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "print-schema failed:\n{}",
        out.output()
    );
    let sdl = write_file(&dir, "client.graphql", &out.stdout);
    let sdl = sdl.display().to_string();

    let (ok, stdout, stderr) = run_node("schema_check.mjs", &[&sdl]).await;
    assert!(
        ok,
        "the playground's examples do not validate against print-schema:\n{stderr}\n{stdout}"
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert!(
        summary["operations"].as_u64().unwrap_or(0) >= 6,
        "{summary}"
    );

    // And the check does catch an operation the schema cannot answer.
    let bad = write_file(
        &dir,
        "bad.graphql",
        "# tab: Bad\nquery Bad { products { noSuchField } }\n",
    );
    let (ok, _, stderr) = run_node("schema_check.mjs", &[&sdl, &bad.display().to_string()]).await;
    assert!(!ok && stderr.contains("noSuchField"), "{stderr}");
}
