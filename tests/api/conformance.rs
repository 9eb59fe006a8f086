//! GraphQL over HTTP conformance: graphql-http's `auditServer` (tests/js/audit.mjs) against
//! the demo server. Any MUST or SHOULD failure fails the test; the counts by requirement level
//! are printed (`cargo test --test api conformance -- --nocapture`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::{run_node, spawn_app, Backend, Spawn, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_http_audit_reports_no_must_or_should_failure() {
    // The HTTP layer does not depend on the database: SQLite is enough.
    let db = TestDb::new(Backend::Sqlite).await;
    let app = spawn_app(Spawn::demo(&db)).await;
    let url = format!("{}/graphql", app.addr);
    let (ok, stdout, stderr) = run_node("audit.mjs", &[&url]).await;
    app.stop().await;
    db.drop_db().await;
    assert!(ok, "the audit did not run:\n{stderr}\n{stdout}");
    let results: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the audit's output is not JSON ({e}):\n{stdout}"));
    assert!(!results.is_empty(), "the audit ran no check");

    // level → (passed, failed)
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for level in ["MUST", "SHOULD", "MAY"] {
        counts.insert(level.to_string(), (0, 0));
    }
    let mut failures = Vec::new();
    for result in &results {
        let level = result["level"].as_str().unwrap_or("?").to_string();
        let passed = result["status"] == "ok";
        let entry = counts.entry(level.clone()).or_default();
        if passed {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            // graphql-http grades a failed MUST as `error`, a failed SHOULD as `warn` and
            // anything else (MAY) as `notice`.
            if level == "MUST" || level == "SHOULD" {
                failures.push(format!(
                    "{} {} [{}]: {} (HTTP {}: {})",
                    result["id"].as_str().unwrap_or("?"),
                    result["name"].as_str().unwrap_or("?"),
                    result["status"].as_str().unwrap_or("?"),
                    result["reason"].as_str().unwrap_or("?"),
                    result["responseStatus"],
                    result["responseBody"].as_str().unwrap_or(""),
                ));
            }
        }
    }
    println!("graphql-http {} audit of Tributary:", results.len());
    for level in ["MUST", "SHOULD", "MAY"] {
        let (passed, failed) = counts.get(level).copied().unwrap_or_default();
        println!("  {level:<6} {passed} passed, {failed} failed");
    }
    for result in &results {
        if result["status"] != "ok" {
            println!(
                "  not passed: {} {} ({})",
                result["id"].as_str().unwrap_or("?"),
                result["name"].as_str().unwrap_or("?"),
                result["reason"].as_str().unwrap_or("?")
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} MUST/SHOULD audit failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
