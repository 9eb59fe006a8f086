//! Mistakes in `schema.graphql`: `tributary check` (no database) reports each at its exact
//! `file:line:col`, all at once; start-up reports what only the database can tell the same way.

use std::path::PathBuf;

use crate::binary::{command, run, temp_dir, write_file, Finished};
use crate::helpers::{backends, repo_path, try_spawn, Backend, Spawn, TestDb};

/// `line:col` (1-based) of the one occurrence of `needle` in `text`.
fn at(text: &str, needle: &str) -> String {
    let mut found = text.match_indices(needle);
    let (offset, _) = found
        .next()
        .unwrap_or_else(|| panic!("`{needle}` is not in the schema"));
    assert!(
        found.next().is_none(),
        "`{needle}` is in the schema more than once"
    );
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{column}")
}

/// Runs `tributary check` on `sdl` written to a fresh file; the file's path and the result.
async fn check(sdl: &str) -> (String, Finished) {
    check_with(sdl, &[]).await
}

async fn check_with(sdl: &str, env: &[(&str, &str)]) -> (String, Finished) {
    let dir = temp_dir("check");
    let file = write_file(&dir, "schema.graphql", sdl);
    let mut cmd = command(&dir);
    cmd.arg("check").arg(&file).envs(env.iter().copied());
    let out = run(cmd).await;
    (file.display().to_string(), out)
}

/// Asserts `check` fails and reports `message` at `file:{position}` as an error.
async fn assert_error(sdl: &str, position: &str, message: &str) {
    let (file, out) = check(sdl).await;
    assert!(
        !out.status.success(),
        "check accepted:\n{sdl}\n{}",
        out.output()
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let location = format!("{file}:{position}: error: ");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&location))
        .unwrap_or_else(|| {
            panic!(
                "no error at {position}; expected `{message}`, got:\n{}",
                out.stderr
            )
        });
    assert!(
        line.contains(message),
        "expected `{message}` at {position}, got:\n{}",
        out.stderr
    );
}

const HEAD: &str = r#"schema @source(name: "main", sql: "sqlite://shop.db") {
  query: Query
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_source_is_reported_at_the_source_argument_with_a_suggestion() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  categories: [Category!]! @sql(source: "mian", query: "SELECT * FROM categories")
}}

type Category {{
  id: ID!
}}
"#
    );
    assert_error(&sdl, &at(&sdl, r#""mian""#), r#"unknown source "mian""#).await;
    let (_, out) = check(&sdl).await;
    assert!(
        out.stderr.contains(r#"did you mean "main"?"#),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_naming_a_missing_argument_is_reported_at_its_braces() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  category(id: ID!): Category
    @sql(source: "main", query: "SELECT * FROM categories WHERE id = $1", params: ["{{{{args.idd}}}}"])
}}

type Category {{
  id: ID!
}}
"#
    );
    assert_error(
        &sdl,
        &at(&sdl, "{{args.idd}}"),
        "field Query.category has no argument `idd`",
    )
    .await;
    let (_, out) = check(&sdl).await;
    assert!(
        out.stderr.contains("did you mean"),
        "no suggestion for `id`:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_naming_a_missing_parent_field_is_reported_at_its_braces() {
    // Viewer's data comes from @value, so its keys are known without a database.
    let sdl = format!(
        r#"{HEAD}
type Query {{
  viewer: Viewer @value(of: {{id: 1, name: "Ada"}})
}}

type Viewer {{
  id: ID!
  name: String!
  orders: [Order!]!
    @sql(source: "main", query: "SELECT * FROM orders WHERE customer_id = $1", params: ["{{{{parent.idd}}}}"])
}}

type Order {{
  id: ID!
}}
"#
    );
    assert_error(
        &sdl,
        &at(&sdl, "{{parent.idd}}"),
        "Viewer has no field or key `idd`",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_key_the_statement_does_not_select_is_reported_at_the_query() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  products: [Product!]! @sql(source: "main", query: "SELECT * FROM products")
}}

type Product {{
  id: ID!
  category: Category
    @sql(source: "main", query: "SELECT name FROM categories WHERE id IN ($keys)", key: "id", parentKey: "category_id")
}}

type Category {{
  name: String!
}}
"#
    );
    assert_error(
        &sdl,
        &at(&sdl, r#""SELECT name FROM categories"#),
        "batch key not selected: the query's SELECT list has no column `id`",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_type_is_reported_where_it_is_used() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  products: [Product!]! @sql(source: "main", query: "SELECT * FROM products")
}}

type Product {{
  id: ID!
  tags: [Tagg!]!
}}
"#
    );
    assert_error(&sdl, &at(&sdl, "Tagg"), "unknown type Tagg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_defined_twice_is_reported_at_the_second_definition() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  products: [Product!]! @sql(source: "main", query: "SELECT * FROM products")
}}

type Product {{
  id: ID!
  name: String!
  sku: String!
  name: String
}}
"#
    );
    assert_error(
        &sdl,
        &at(&sdl, "name: String\n"),
        "field Product.name is defined twice",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directive_in_the_wrong_place_is_reported_at_the_directive() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  categories: [Category!]! @sql(source: "main", query: "SELECT * FROM categories")
}}

type Category @sql(source: "main", query: "SELECT * FROM categories") {{
  id: ID!
}}
"#
    );
    assert_error(
        &sdl,
        &at(
            &sdl,
            "@sql(source: \"main\", query: \"SELECT * FROM categories\") {",
        ),
        "@sql is not allowed on an object type",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_directive_argument_is_reported_at_the_value() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  category(id: ID!): Category
    @sql(source: "main", query: "SELECT * FROM categories WHERE id = $1", params: 3)
}}

type Category {{
  id: ID!
}}
"#
    );
    assert_error(
        &sdl,
        &at(&sdl, "3)"),
        "argument `params` of @sql must be a list of strings",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_mistakes_in_one_file_are_all_reported_at_once_in_file_order() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  categories: [Category!]! @sql(source: "mian", query: "SELECT * FROM categories")
  category(id: ID!): Category
    @sql(source: "main", query: "SELECT * FROM categories WHERE id = $1", params: ["{{{{args.idd}}}}"])
}}

type Category {{
  id: ID!
  id: Int
  tags: [Tagg!]!
}}
"#
    );
    let (file, out) = check(&sdl).await;
    assert!(!out.status.success(), "{}", out.output());
    let expected = [
        (at(&sdl, r#""mian""#), r#"unknown source "mian""#),
        (at(&sdl, "{{args.idd}}"), "has no argument `idd`"),
        (at(&sdl, "id: Int"), "field Category.id is defined twice"),
        (at(&sdl, "Tagg"), "unknown type Tagg"),
    ];
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert_eq!(
        errors.len(),
        expected.len(),
        "expected {} errors:\n{}",
        expected.len(),
        out.stderr
    );
    for ((position, message), line) in expected.iter().zip(&errors) {
        assert!(
            line.starts_with(&format!("{file}:{position}: error: ")) && line.contains(message),
            "expected `{message}` at {position}, got `{line}`:\n{}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_is_reported_at_its_line_and_column() {
    let sdl = format!(
        r#"{HEAD}
type Query {{
  category(id: ID!: Category
}}
"#
    );
    let (file, out) = check(&sdl).await;
    assert!(!out.status.success(), "{}", out.output());
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let position = at(&sdl, ": Category");
    assert!(
        out.stderr
            .starts_with(&format!("{file}:{position}: error: syntax error")),
        "expected a syntax error at {position}:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_file_passes_the_check() {
    let dir = temp_dir("check");
    let mut cmd = command(&dir);
    cmd.arg("check").arg(repo_path("schema.graphql"));
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "the demo schema fails the check:\n{}",
        out.output()
    );
    assert!(out.stderr.contains(": ok"), "{}", out.output());
    assert!(!out.stderr.contains("error"), "{}", out.output());
}

// ---------------------------------------------------------------------------------------------
// Start-up checks that need the database

/// Starts the app on `sdl` with the demo tables; the start-up error text.
async fn start_up_error(db: &TestDb, sdl: &str) -> (String, PathBuf) {
    let spawn = Spawn::with_schema(db, sdl).settings(|s| {
        s.database.migrate = Some(true);
        s.database.migrations = Some(repo_path("demo/migrations"));
    });
    let file = spawn.schema.clone();
    match try_spawn(spawn).await {
        Ok(app) => {
            app.stop().await;
            panic!(
                "{:?}: the app started with a broken schema:\n{sdl}",
                db.backend
            );
        }
        Err(e) => (e, file),
    }
}

/// The schema passes `tributary check`: only the database can find its mistake.
async fn assert_passes_static_check(sdl: &str) {
    let (_, out) = check_with(sdl, &[("DATABASE_URL", "sqlite://shop.db")]).await;
    assert!(
        out.status.success(),
        "the static check already fails:\n{}",
        out.output()
    );
}

const DB_HEAD: &str = r#"schema @source(name: "main", sql: "{{env.DATABASE_URL}}") {
  query: Query
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_the_database_rejects_stops_start_up_at_the_directive_with_the_databases_reason(
) {
    let sdl = format!(
        r#"{DB_HEAD}
type Query {{
  category(id: ID!): Category
    @sql(source: "main", query: "SELECT id, nme AS name FROM categories WHERE id = $1", params: ["{{{{args.id}}}}"])
}}

type Category {{
  id: ID!
  name: String!
}}
"#
    );
    assert_passes_static_check(&sdl).await;
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (error, file) = start_up_error(&db, &sdl).await;
        let location = format!("{}:{}", file.display(), at(&sdl, "@sql(source"));
        assert!(
            error.contains(&location),
            "{backend:?}: not at {location}:\n{error}"
        );
        assert!(
            error.contains("Query.category"),
            "{backend:?}: the field is not named:\n{error}"
        );
        let complaint = match backend {
            Backend::Sqlite => "no such column: nme",
            Backend::Postgres => r#"column "nme" does not exist"#,
        };
        assert!(
            error.contains(complaint),
            "{backend:?}: the database's reason is missing:\n{error}"
        );
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_key_only_the_database_can_see_is_missing_stops_start_up_at_the_directive() {
    // `SELECT *` from a subquery: the text cannot tell which columns come out.
    let sdl = format!(
        r#"{DB_HEAD}
type Query {{
  categories: [Category!]! @sql(source: "main", query: "SELECT * FROM categories")
}}

type Category {{
  id: ID!
  products: [Product!]!
    @sql(source: "main", query: "SELECT * FROM (SELECT id, name, category_id AS cat FROM products) p WHERE p.cat IN ($keys)", key: "category_id", parentKey: "id")
}}

type Product {{
  id: ID!
  name: String!
}}
"#
    );
    assert_passes_static_check(&sdl).await;
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (error, file) = start_up_error(&db, &sdl).await;
        let location = format!(
            "{}:{}",
            file.display(),
            at(
                &sdl,
                "@sql(source: \"main\", query: \"SELECT * FROM (SELECT"
            )
        );
        assert!(
            error.contains(&location),
            "{backend:?}: not at {location}:\n{error}"
        );
        assert!(
            error.contains(r#"the batch key "category_id" is not among the columns"#),
            "{backend:?}: unexpected message:\n{error}"
        );
        assert!(
            error.contains("id, name, cat"),
            "{backend:?}: the selected columns are not listed:\n{error}"
        );
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_template_naming_a_column_the_parents_statement_does_not_select_stops_start_up() {
    let sdl = format!(
        r#"{DB_HEAD}
type Query {{
  products: [Product!]! @sql(source: "main", query: "SELECT id, name FROM products")
}}

type Product {{
  id: ID!
  name: String!
  category: Category
    @sql(source: "main", query: "SELECT * FROM categories WHERE id = $1", params: ["{{{{parent.category_id}}}}"])
}}

type Category {{
  id: ID!
}}
"#
    );
    assert_passes_static_check(&sdl).await;
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (error, file) = start_up_error(&db, &sdl).await;
        let location = format!(
            "{}:{}",
            file.display(),
            at(
                &sdl,
                "@sql(source: \"main\", query: \"SELECT * FROM categories WHERE"
            )
        );
        assert!(
            error.contains(&location),
            "{backend:?}: not at {location}:\n{error}"
        );
        assert!(
            error.contains("parent.category_id is not a column of Product"),
            "{backend:?}: {error}"
        );
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_null_field_whose_column_no_statement_selects_stops_start_up() {
    let sdl = format!(
        r#"{DB_HEAD}
type Query {{
  categories: [Category!]! @sql(source: "main", query: "SELECT * FROM categories")
}}

type Category {{
  id: ID!
  name: String!
  tagline: String!
}}
"#
    );
    assert_passes_static_check(&sdl).await;
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (error, file) = start_up_error(&db, &sdl).await;
        let location = format!("{}:{}", file.display(), at(&sdl, "@sql"));
        assert!(
            error.contains(&location),
            "{backend:?}: not at {location}:\n{error}"
        );
        assert!(
            error.contains(
                "Category.tagline is non-null but this statement selects no column for it"
            ),
            "{backend:?}: {error}"
        );
        db.drop_db().await;
    }
}
