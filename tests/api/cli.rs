//! The command line: `print-schema`, and settings errors that stop `serve` before it starts.

use crate::binary::{command, run, temp_dir, write_file};
use crate::helpers::repo_path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_schema_prints_the_client_sdl_without_tributary_directives() {
    let dir = temp_dir("cli");
    let mut cmd = command(&dir);
    cmd.arg("print-schema").arg(repo_path("schema.graphql"));
    let out = run(cmd).await;

    assert!(
        out.status.success(),
        "print-schema failed ({}):\n{}",
        out.status,
        out.output()
    );
    let sdl = &out.stdout;
    for directive in ["@sql", "@source", "@value", "@map"] {
        assert!(
            !sdl.contains(directive),
            "{directive} in the client schema:\n{sdl}"
        );
    }
    assert!(
        sdl.lines().any(|l| l.trim() == "scalar DateTime"),
        "no `scalar DateTime`:\n{sdl}"
    );
    for expected in [
        "type Query",
        "type Mutation",
        "type Product",
        "enum OrderStatus",
        "input PlaceOrderInput",
    ] {
        assert!(
            sdl.contains(expected),
            "`{expected}` missing from the client schema:\n{sdl}"
        );
    }
    assert!(
        !dir.join("tributary.db").exists(),
        "print-schema must not open the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_in_the_config_file_stops_serve_with_a_message_naming_it() {
    let dir = temp_dir("cli");
    let config = write_file(
        &dir,
        "bad.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeot = \"5s\"\n",
    );
    let mut cmd = command(&dir);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--schema")
        .arg(repo_path("schema.graphql"));
    let out = run(cmd).await;

    assert!(
        !out.status.success(),
        "serve started with a bad config file:\n{}",
        out.output()
    );
    assert!(
        out.stderr.contains("shutdown_timeot"),
        "the message does not name the key:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        !dir.join("tributary.db").exists(),
        "serve went on to open the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_settings_environment_variable_stops_serve_with_a_message_naming_the_key() {
    let dir = temp_dir("cli");
    let mut cmd = command(&dir);
    cmd.arg("--schema")
        .arg(repo_path("schema.graphql"))
        .arg("--listen")
        .arg("127.0.0.1:0");
    cmd.env("TRIBUTARY_SERVER__LISTN", "x");
    let out = run(cmd).await;

    assert!(
        !out.status.success(),
        "serve started with TRIBUTARY_SERVER__LISTN:\n{}",
        out.output()
    );
    assert!(
        out.stderr.contains("listn"),
        "the message does not name the key:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        !dir.join("tributary.db").exists(),
        "serve went on to open the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_config_file_that_does_not_exist_stops_serve_with_its_path() {
    let dir = temp_dir("cli");
    let mut cmd = command(&dir);
    cmd.arg("--config")
        .arg("missing.toml")
        .arg("--schema")
        .arg(repo_path("schema.graphql"));
    let out = run(cmd).await;

    assert!(
        !out.status.success(),
        "serve started without its config file:\n{}",
        out.output()
    );
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
}
