//! Behaviour of `build` and `print_client_schema` on whole schemas: one test per error kind
//! (with the exact position it is reported at), a complete valid schema, and the client SDL.

use std::collections::HashMap;

use crate::*;

/// The `schema` line most tests start with (line 1), declaring source "main".
const HEAD: &str = "schema @source(name: \"main\", sql: \"sqlite://t.db\") { query: Query }\n";

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

thread_local! {
    /// The last schema given to `errors`, to show failing positions in context.
    static LAST_SDL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn errors_with_env(sdl: &str, env: &HashMap<String, String>) -> Vec<Diagnostic> {
    LAST_SDL.with(|s| *s.borrow_mut() = sdl.to_string());
    match build("schema.graphql", sdl, env) {
        Ok(_) => panic!("expected errors, but the schema built:\n{sdl}"),
        Err(d) => d.0,
    }
}

fn errors(sdl: &str) -> Vec<Diagnostic> {
    errors_with_env(sdl, &no_env())
}

fn built(sdl: &str) -> Blueprint {
    match build("schema.graphql", sdl, &no_env()) {
        Ok(bp) => bp,
        Err(d) => panic!("expected the schema to build, got:\n{d}"),
    }
}

/// Asserts one of the errors is at `at` (`line:col`) and its message contains `message`;
/// returns it for further checks.
#[track_caller]
fn expect_error(errors: &[Diagnostic], at: &str, message: &str) -> Diagnostic {
    match errors
        .iter()
        .find(|d| d.pos.to_string() == at && d.message.contains(message))
    {
        Some(d) => d.clone(),
        None => panic!(
            "no error at {at} containing {message:?}; got:\n{}",
            errors.iter().map(in_context).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// A diagnostic with its source line and a caret under its column.
fn in_context(d: &Diagnostic) -> String {
    let line = LAST_SDL.with(|s| {
        s.borrow()
            .lines()
            .nth(d.pos.line.saturating_sub(1))
            .unwrap_or("")
            .to_string()
    });
    format!(
        "{d}\n    | {line}\n    | {}^",
        " ".repeat(d.pos.column.saturating_sub(1))
    )
}

#[track_caller]
fn expect_hint(d: &Diagnostic, hint: &str) {
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains(hint)),
        "hint of `{}` should contain {hint:?}, got {:?}",
        d.message,
        d.hint
    );
}

fn resolver<'b>(bp: &'b Blueprint, ty: &str, field: &str) -> &'b FieldDef {
    match bp.types.get(ty) {
        Some(TypeDef::Object(o)) => match o.fields.get(field) {
            Some(f) => f,
            None => panic!("{ty} has no field {field}"),
        },
        _ => panic!("{ty} is not an object type"),
    }
}

fn sql<'b>(bp: &'b Blueprint, ty: &str, field: &str) -> &'b SqlResolver {
    match &resolver(bp, ty, field).resolver {
        Resolver::Sql(s) => s,
        other => panic!("{ty}.{field} is not @sql: {other:?}"),
    }
}

fn expr(root: Root, path: &[&str]) -> TemplatePart {
    TemplatePart::Expr(Expr {
        root,
        path: path.iter().map(|s| s.to_string()).collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Diagnostics output

#[test]
fn a_diagnostic_displays_as_file_line_col_message_and_hint() {
    let d = Diagnostic {
        file: "schema.graphql".into(),
        pos: Pos {
            line: 12,
            column: 5,
        },
        message: "unknown source \"mian\"".into(),
        hint: Some("did you mean \"main\"?".into()),
    };
    assert_eq!(
        d.to_string(),
        "schema.graphql:12:5: error: unknown source \"mian\"\n  hint: did you mean \"main\"?"
    );
    let both = Diagnostics(vec![d.clone(), Diagnostic { hint: None, ..d }]);
    assert_eq!(
        both.to_string(),
        "schema.graphql:12:5: error: unknown source \"mian\"\n  hint: did you mean \"main\"?\n\n\
         schema.graphql:12:5: error: unknown source \"mian\""
    );
}

// ---------------------------------------------------------------------------------------------
// Syntax

#[test]
fn a_syntax_error_is_one_diagnostic_at_the_parsers_position() {
    let errs = errors("type Query {\n  a: String\n  b(: Int\n}\n type X {");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].pos, Pos { line: 3, column: 5 });
    assert!(
        errs[0].message.starts_with("syntax error: expected"),
        "{}",
        errs[0].message
    );
    assert!(
        !errs[0].message.contains("-->"),
        "the pest excerpt is not repeated: {}",
        errs[0].message
    );
}

#[test]
fn an_empty_schema_is_a_syntax_error_with_a_hint() {
    let errs = errors("  \n");
    assert_eq!(errs.len(), 1);
    expect_hint(&errs[0], "type Query");
}

// ---------------------------------------------------------------------------------------------
// Sources

#[test]
fn unknown_source_is_reported_at_the_source_argument() {
    let sdl =
        format!("{HEAD}type Query {{\n  n: Int @sql(source: \"mian\", query: \"SELECT 1\")\n}}\n");
    let d = expect_error(&errors(&sdl), "3:23", "unknown source \"mian\"");
    expect_hint(&d, "did you mean \"main\"?");
    expect_hint(&d, "declared sources are: main");
}

#[test]
fn an_unknown_source_without_sources_hints_how_to_declare_one() {
    let d = expect_error(
        &errors("type Query { n: Int @sql(source: \"db\", query: \"SELECT 1\") }"),
        "1:34",
        "unknown source \"db\"",
    );
    expect_hint(&d, "schema @source(name:");
}

#[test]
fn a_duplicate_source_name_is_reported_at_the_second_name() {
    let sdl = "schema\n  @source(name: \"main\", sql: \"sqlite://a.db\")\n  @source(name: \"main\", sql: \"sqlite://b.db\")\n{ query: Query }\ntype Query { a: Int }";
    let d = expect_error(&errors(sdl), "3:17", "duplicate source \"main\"");
    expect_hint(&d, "already declared at 2:3");
}

#[test]
fn source_settings_are_checked_at_their_values() {
    let sdl = "schema @source(name: \"main\", sql: \"mysql://x\", poolSize: 0, statementTimeout: \"5 sec\") { query: Query }\ntype Query { a: Int }";
    let errs = errors(sdl);
    expect_error(&errs, "1:35", "unsupported database URL");
    expect_error(&errs, "1:58", "poolSize must be a positive number");
    let d = expect_error(
        &errs,
        "1:79",
        "statementTimeout \"5 sec\" is not a duration",
    );
    expect_hint(&d, "\"500ms\"");
    let zero = "schema @source(name: \"main\", sql: \"sqlite://t.db\", statementTimeout: \"0s\") { query: Query }\ntype Query { a: Int }";
    expect_error(
        &errors(zero),
        "1:70",
        "statementTimeout must be more than zero",
    );
}

#[test]
fn a_source_url_may_only_use_env_templates() {
    let sdl = "schema @source(name: \"main\", sql: \"sqlite://{{args.x}}.db\") { query: Query }\ntype Query { a: Int }";
    expect_error(&errors(sdl), "1:45", "only {{env.NAME}} can");
}

#[test]
fn the_source_url_and_settings_are_resolved_from_the_environment_snapshot() {
    let sdl = "schema\n  @source(name: \"main\", sql: \"{{env.DATABASE_URL | default: 'sqlite://dev.db'}}\", poolSize: 4, statementTimeout: \"500ms\")\n  @source(name: \"other\", sql: \"postgres://app:{{ env.PW }}@db/app\")\n{ query: Query }\ntype Query { a: Int }";
    let env: HashMap<String, String> = [("PW".to_string(), "s3cret".to_string())].into();
    let bp = match build("schema.graphql", sdl, &env) {
        Ok(bp) => bp,
        Err(d) => panic!("{d}"),
    };
    let urls: Vec<(&str, &str, Option<u32>)> = bp
        .sources
        .values()
        .map(|s| match &s.kind {
            SourceKind::Sql(def) => (s.name.as_str(), def.url.as_str(), def.pool_size),
            SourceKind::Http(_) => panic!("{} is not a SQL source", s.name),
        })
        .collect();
    assert_eq!(
        urls,
        vec![
            ("main", "sqlite://dev.db", Some(4)),
            ("other", "postgres://app:s3cret@db/app", None)
        ]
    );
    let SourceKind::Sql(main) = &bp.sources["main"].kind else {
        panic!("main is not a SQL source")
    };
    assert_eq!(
        main.statement_timeout,
        Some(std::time::Duration::from_millis(500))
    );
    assert_eq!(bp.sources["main"].pos, Pos { line: 2, column: 3 });
}

#[test]
fn a_missing_environment_variable_without_default_is_an_error_with_a_hint() {
    let sdl = "schema @source(name: \"main\", sql: \"{{env.DATABASE_URL}}\") { query: Query }\ntype Query { a: Int }";
    let d = expect_error(
        &errors(sdl),
        "1:36",
        "environment variable DATABASE_URL is not set",
    );
    expect_hint(
        &d,
        "set DATABASE_URL, or give a fallback: {{env.DATABASE_URL | default: '...'}}",
    );
}

// ---------------------------------------------------------------------------------------------
// Directives, generically

#[test]
fn a_missing_required_directive_argument_is_reported_at_the_directive() {
    let sdl = format!("{HEAD}type Query {{\n  n: Int @sql(source: \"main\")\n}}\n");
    let d = expect_error(
        &errors(&sdl),
        "3:10",
        "@sql is missing its required argument `query`",
    );
    expect_hint(&d, "add `query:`");
}

#[test]
fn an_unknown_directive_argument_is_reported_at_its_name_with_a_suggestion() {
    let sdl =
        format!("{HEAD}type Query {{\n  n: Int @sql(source: \"main\", qurey: \"SELECT 1\")\n}}\n");
    let errs = errors(&sdl);
    let d = expect_error(&errs, "3:31", "unknown argument `qurey` on @sql");
    expect_hint(&d, "did you mean \"query\"?");
}

#[test]
fn a_wrongly_typed_argument_is_reported_at_its_value() {
    let sdl = format!("{HEAD}type Query {{\n  n(id: ID!): Int @sql(source: \"main\", query: \"SELECT 1\", params: 3)\n}}\n");
    let d = expect_error(
        &errors(&sdl),
        "3:67",
        "argument `params` of @sql must be a list of strings, found 3 (an integer)",
    );
    expect_hint(&d, "quote each entry");
}

#[test]
fn a_wrongly_typed_list_element_is_reported_at_the_element() {
    let sdl = format!(
        "{HEAD}type Query {{\n  n(id: ID!): Int @sql(source: \"main\", query: \"SELECT $1\",\n    params: [\"{{{{args.id}}}}\", 2])\n}}\n"
    );
    expect_error(&errors(&sdl), "4:29", "found 2 (an integer)");
}

#[test]
fn an_unknown_directive_suggests_the_closest_one() {
    let sdl =
        format!("{HEAD}type Query {{\n  n: Int @sqll(source: \"main\", query: \"SELECT 1\")\n}}\n");
    let d = expect_error(&errors(&sdl), "3:10", "unknown directive @sqll");
    expect_hint(&d, "did you mean @sql?");
}

#[test]
fn sql_on_a_type_is_not_allowed() {
    let sdl =
        format!("{HEAD}type Query @sql(source: \"main\", query: \"SELECT 1\") {{ n: Int }}\n");
    let d = expect_error(
        &errors(&sdl),
        "2:12",
        "@sql is not allowed on an object type",
    );
    expect_hint(&d, "@sql goes on fields");
}

#[test]
fn sql_on_an_argument_is_not_allowed() {
    let sdl = format!(
        "{HEAD}type Query {{\n  n(id: ID @sql(source: \"main\", query: \"SELECT 1\")): Int\n}}\n"
    );
    expect_error(&errors(&sdl), "3:12", "@sql is not allowed on an argument");
}

#[test]
fn source_on_a_field_is_not_allowed() {
    let sdl = "type Query {\n  n: Int @source(name: \"main\", sql: \"sqlite://x.db\")\n}\n";
    let d = expect_error(&errors(sdl), "2:10", "@source is not allowed on a field");
    expect_hint(&d, "@source goes on the schema definition");
}

#[test]
fn resolver_directives_on_interface_fields_point_to_the_implementations() {
    let sdl = format!(
        "{HEAD}interface Node {{\n  id: ID! @sql(source: \"main\", query: \"SELECT 1\")\n}}\ntype Query {{ a: Int }}\n"
    );
    let d = expect_error(
        &errors(&sdl),
        "3:11",
        "@sql is not allowed on an interface field",
    );
    expect_hint(&d, "implementing object type");
}

#[test]
fn map_together_with_sql_is_reported_at_map() {
    let sdl = format!(
        "{HEAD}type Query {{\n  n: Int @sql(source: \"main\", query: \"SELECT 1\") @map(from: \"x\")\n}}\n"
    );
    let d = expect_error(&errors(&sdl), "3:50", "@map cannot be combined with @sql");
    expect_hint(&d, "AS");
}

#[test]
fn two_resolver_directives_on_one_field_are_reported_at_the_second() {
    let sdl = format!(
        "{HEAD}type Query {{\n  n: Int @value(of: 1) @sql(source: \"main\", query: \"SELECT 1\")\n}}\n"
    );
    expect_error(
        &errors(&sdl),
        "3:24",
        "field Query.n has two resolvers: @value and @sql",
    );
}

#[test]
fn a_directive_written_twice_is_reported() {
    let sdl = "type Query {\n  n: Int @map(from: \"a\") @map(from: \"b\")\n}\n";
    expect_error(&errors(sdl), "2:26", "@map is written twice");
}

#[test]
fn deprecated_on_an_argument_is_not_supported() {
    let d = expect_error(
        &errors("type Query {\n  a(x: Int @deprecated): Int\n}"),
        "2:12",
        "@deprecated is not allowed on an argument",
    );
    expect_hint(&d, "fields and enum values only");
}

#[test]
fn custom_directive_definitions_are_rejected_but_copies_of_tributarys_are_fine() {
    let sdl = "directive @sql(source: String!) on FIELD_DEFINITION\ndirective @auth on FIELD_DEFINITION\ntype Query { a: Int }";
    let errs = errors(sdl);
    assert_eq!(errs.len(), 1, "{errs:?}");
    expect_error(&errs, "2:1", "custom directive @auth is not supported");
}

// ---------------------------------------------------------------------------------------------
// Types

#[test]
fn an_unknown_field_type_suggests_a_known_type() {
    let sdl = "type Query {\n  product: [Prodct!]!\n}\ntype Product { id: ID! }";
    let d = expect_error(
        &errors(sdl),
        "2:13",
        "unknown type Prodct in field Query.product",
    );
    expect_hint(&d, "did you mean \"Product\"?");
}

#[test]
fn an_unknown_argument_type_is_reported_at_the_type() {
    let sdl = "type Query {\n  product(id: Strng): Int\n}";
    let d = expect_error(
        &errors(sdl),
        "2:15",
        "unknown type Strng in argument `id` of field Query.product",
    );
    expect_hint(&d, "did you mean \"String\"?");
}

#[test]
fn unknown_implemented_interfaces_and_union_members_are_reported() {
    let sdl = "type Query { a: Int }\ntype Book implements Nod { id: ID }\ninterface Node { id: ID }\nunion Item = Book | Movie";
    let errs = errors(sdl);
    let d = expect_error(&errs, "2:22", "unknown interface Nod");
    expect_hint(&d, "did you mean \"Node\"?");
    expect_error(&errs, "4:21", "unknown type Movie in union Item");
}

#[test]
fn an_unknown_input_field_type_is_reported() {
    let sdl = "type Query { a(f: Filter): Int }\ninput Filter {\n  since: Datetime\n}";
    let d = expect_error(
        &errors(sdl),
        "3:10",
        "unknown type Datetime in field `since` of input Filter",
    );
    expect_hint(&d, "did you mean \"DateTime\"?");
}

#[test]
fn an_object_type_cannot_be_an_argument_or_input_field_type() {
    let sdl =
        "type Query { a(p: Product): Int }\ntype Product { id: ID }\ninput I { p: [Product] }";
    let errs = errors(sdl);
    let d = expect_error(
        &errs,
        "1:19",
        "argument `p` of field Query.a has type Product, which is an object type",
    );
    expect_hint(&d, "input ProductInput");
    expect_error(
        &errs,
        "3:15",
        "field `p` of input I has type Product, which is an object type",
    );
}

#[test]
fn an_input_type_cannot_be_a_field_type() {
    let sdl = "type Query { a: Filter }\ninput Filter { q: String }";
    expect_error(
        &errors(sdl),
        "1:17",
        "field Query.a returns Filter, which is an input type",
    );
}

#[test]
fn duplicate_types_fields_arguments_and_enum_values_are_reported_at_the_second() {
    let sdl = "type Query {\n  a(x: Int, x: Int): Int\n  a: Int\n}\ntype Query { b: Int }\nenum E { A B A }\ninput I { f: Int f: Int }";
    let errs = errors(sdl);
    expect_error(
        &errs,
        "2:13",
        "argument `x` of field Query.a is defined twice",
    );
    let d = expect_error(&errs, "3:3", "field Query.a is defined twice");
    expect_hint(&d, "first defined at 2:3");
    let d = expect_error(&errs, "5:6", "type Query is defined twice");
    expect_hint(&d, "extend type Query");
    expect_error(&errs, "6:14", "enum value E.A is defined twice");
    expect_error(&errs, "7:18", "field `f` of input I is defined twice");
}

#[test]
fn an_interface_field_missing_from_an_implementation_is_reported_at_implements() {
    let sdl = "type Query { a: Int }\ninterface Node { id: ID! name: String }\ntype Book implements Node { name: String }\ntype Film implements Node { id: String, name: String }";
    let errs = errors(sdl);
    let d = expect_error(
        &errs,
        "3:22",
        "Book implements Node but lacks its field `id`",
    );
    expect_hint(&d, "add `id: ID!` to Book");
    expect_error(
        &errs,
        "4:29",
        "field Film.id has type String, but interface Node declares ID!",
    );
}

#[test]
fn the_query_type_is_required() {
    let errs = errors("type Foo { a: Int }");
    let d = expect_error(&errs, "1:1", "the schema has no Query type");
    expect_hint(&d, "type Query");
    let errs = errors("schema { query: Root }\ntype Query { a: Int }");
    expect_error(&errs, "1:17", "unknown query root type Root");
}

#[test]
fn a_default_value_must_fit_its_type() {
    let sdl = "type Query {\n  a(limit: Int = \"ten\", status: Status = \"OPEN\", s: Status = CLOSED): Int\n}\nenum Status { OPEN }";
    let errs = errors(sdl);
    expect_error(&errs, "2:18", "default value of argument `limit` of field Query.a does not fit Int: expected Int, found \"ten\"");
    expect_error(&errs, "2:42", "enum values are written without quotes");
    expect_error(&errs, "2:62", "CLOSED is not a value of enum Status");
}

#[test]
fn extending_an_unknown_type_is_reported() {
    let d = expect_error(
        &errors("type Query { a: Int }\nextend type Querry { b: Int }"),
        "2:13",
        "cannot extend unknown type Querry",
    );
    expect_hint(&d, "did you mean \"Query\"?");
}

// ---------------------------------------------------------------------------------------------
// Templates

/// A Query field with one argument `id` and an `@sql` whose single param is `param`.
fn query_with_param(param: &str) -> String {
    format!("{HEAD}type Query {{\n  p(id: ID!): Int @sql(source: \"main\", query: \"SELECT $1\", params: [\"{param}\"])\n}}\n")
}

// In `query_with_param`, the param string's opening quote is at 3:69, so its text starts at 3:70.

#[test]
fn an_unclosed_template_is_reported_at_its_opening_braces() {
    let d = expect_error(
        &errors(&query_with_param("x {{args.id")),
        "3:72",
        "unclosed template `{{args.id`",
    );
    expect_hint(&d, "{{args.id}}");
}

#[test]
fn an_empty_template_is_reported() {
    expect_error(
        &errors(&query_with_param("{{ }}")),
        "3:70",
        "empty template",
    );
}

#[test]
fn an_unknown_template_root_suggests_the_closest_root() {
    let d = expect_error(
        &errors(&query_with_param("{{arg.id}}")),
        "3:70",
        "unknown template root `arg`",
    );
    expect_hint(&d, "did you mean \"args\"?");
}

#[test]
fn an_args_template_must_name_an_argument_of_the_field() {
    let d = expect_error(
        &errors(&query_with_param("{{args.ident}}")),
        "3:70",
        "field Query.p has no argument `ident`",
    );
    expect_hint(&d, "Query.p has arguments: id");
}

#[test]
fn an_args_template_path_must_exist_in_the_input_type() {
    let sdl = "schema @source(name: \"main\", sql: \"sqlite://t.db\") { query: Query, mutation: Mutation }\n\
               type Query { a: Int }\n\
               input PlaceOrderInput { customerId: ID! }\n\
               type Mutation {\n  place(input: PlaceOrderInput!): Int\n    @sql(source: \"main\", query: \"SELECT $1\", params: [\"{{args.input.customer}}\"])\n}\n";
    let d = expect_error(
        &errors(sdl),
        "6:56",
        "input PlaceOrderInput (at `args.input`) has no field `customer`",
    );
    expect_hint(&d, "did you mean \"customerId\"?");
}

#[test]
fn an_args_template_cannot_reach_into_a_scalar() {
    expect_error(
        &errors(&query_with_param("{{args.id.value}}")),
        "3:70",
        "`args.id` is ID, which has no field `value`",
    );
}

#[test]
fn parent_in_a_root_field_is_an_error() {
    let d = expect_error(
        &errors(&query_with_param("{{parent.id}}")),
        "3:70",
        "`{{parent.id}}` cannot be used here",
    );
    expect_hint(&d, "root field");
}

/// A `Product` with a `reviews` field whose single param is `param`. Product values come
/// from a `@value`, not from `@sql`, unless `sql_parent`.
fn product_with_param(param: &str, sql_parent: bool) -> String {
    let produce = if sql_parent {
        "@sql(source: \"main\", query: \"SELECT * FROM products\")"
    } else {
        "@value(of: [{id: 1}])"
    };
    format!(
        "{HEAD}type Query {{ products: [Product!]! {produce} }}\n\
         type Product {{\n  id: ID!\n  categoryId: Int\n  label: String @map(from: \"name\")\n  \
         reviews: [Int!]! @sql(source: \"main\", query: \"SELECT $1\", params: [\"{param}\"])\n}}\n"
    )
}

#[test]
fn a_parent_template_must_name_a_parent_field_when_the_parent_is_not_from_sql() {
    let d = expect_error(
        &errors(&product_with_param("{{parent.category}}", false)),
        "7:71",
        "Product has no field or key `category`",
    );
    expect_hint(&d, "does not come from @sql");
}

#[test]
fn a_parent_template_accepts_field_names_snake_case_forms_and_map_keys() {
    for key in ["categoryId", "category_id", "name", "id"] {
        built(&product_with_param(&format!("{{{{parent.{key}}}}}"), false));
    }
}

#[test]
fn a_parent_template_accepts_any_column_when_the_parent_comes_from_sql() {
    built(&product_with_param("{{parent.supplier_id}}", true));
}

#[test]
fn a_missing_env_variable_in_params_is_reported_at_the_template() {
    let d = expect_error(
        &errors(&query_with_param("{{args.id}} {{env.TENANT}}")),
        "3:82",
        "environment variable TENANT is not set",
    );
    expect_hint(&d, "| default: '...'");
}

#[test]
fn env_templates_in_params_become_literals_from_the_snapshot_or_the_default() {
    let sdl = format!(
        "{HEAD}type Query {{\n  p: Int @sql(source: \"main\", query: \"SELECT $1, $2\", params: [\"t-{{{{env.TENANT}}}}\", \"{{{{env.LIMIT | default: \\\"10\\\"}}}}\"])\n}}\n"
    );
    let env: HashMap<String, String> = [("TENANT".to_string(), "acme".to_string())].into();
    let bp = match build("schema.graphql", &sdl, &env) {
        Ok(bp) => bp,
        Err(d) => panic!("{d}"),
    };
    let params = &sql(&bp, "Query", "p").params;
    assert_eq!(
        params[0].parts,
        vec![TemplatePart::Literal("t-acme".into())]
    );
    assert_eq!(params[0].text, "t-{{env.TENANT}}");
    assert_eq!(params[1].parts, vec![TemplatePart::Literal("10".into())]);
}

#[test]
fn steps_and_item_templates_are_only_valid_in_transactions() {
    let errs = errors(&query_with_param("{{steps.order.id}}"));
    expect_error(&errs, "3:70", "there are no transaction steps here");
    let errs = errors(&query_with_param("{{item.id}}"));
    expect_error(
        &errs,
        "3:70",
        "only available in a transaction step with forEach",
    );
}

/// A mutation with a two-step transaction; `{step1}`/`{step2}` are the steps' param lists.
fn transaction(step1_params: &str, step2: &str, final_params: &str) -> String {
    format!(
        "schema @source(name: \"main\", sql: \"sqlite://t.db\") {{ query: Query, mutation: Mutation }}\n\
         type Query {{ a: Int }}\n\
         input LineInput {{ productId: ID!, quantity: Int! = 1 }}\n\
         input PlaceOrderInput {{ customerId: ID!, lines: [LineInput!]! }}\n\
         type Order {{ id: ID! }}\n\
         type Mutation {{\n  placeOrder(input: PlaceOrderInput!): Order @sql(source: \"main\", transaction: [\n\
         {{query: \"INSERT INTO orders (customer_id) VALUES ($1) RETURNING id\", params: [{step1_params}], as: \"order\"}},\n\
         {step2}\n\
         ], query: \"SELECT * FROM orders WHERE id = $1\", params: [{final_params}])\n}}\n"
    )
}

const STEP2_OK: &str = "{query: \"INSERT INTO order_lines (order_id, product_id, quantity) VALUES ($1, $2, $3)\", params: [\"{{steps.order.id}}\", \"{{item.productId}}\", \"{{item.quantity}}\"], forEach: \"{{args.input.lines}}\"}";

#[test]
fn a_steps_template_must_name_an_earlier_step() {
    let sdl = transaction("\"{{steps.order.id}}\"", STEP2_OK, "\"{{steps.ordr.id}}\"");
    let errs = errors(&sdl);
    let d = expect_error(&errs, "8:80", "no earlier step is named \"order\"");
    expect_hint(&d, "runs after this one");
    let d = expect_error(&errs, "10:59", "no earlier step is named \"ordr\"");
    expect_hint(&d, "did you mean \"order\"?");
}

#[test]
fn an_item_template_needs_for_each_and_must_exist_in_the_element_type() {
    let step2 = "{query: \"SELECT $1\", params: [\"{{item.productId}}\"]}";
    let errs = errors(&transaction(
        "\"{{args.input.customerId}}\"",
        step2,
        "\"{{steps.order.id}}\"",
    ));
    expect_error(
        &errs,
        "9:32",
        "only available in a transaction step with forEach",
    );
    let step2 =
        "{query: \"SELECT $1\", params: [\"{{item.product}}\"], forEach: \"{{args.input.lines}}\"}";
    let errs = errors(&transaction(
        "\"{{args.input.customerId}}\"",
        step2,
        "\"{{steps.order.id}}\"",
    ));
    let d = expect_error(
        &errs,
        "9:32",
        "input LineInput (at `item`) has no field `product`",
    );
    expect_hint(&d, "did you mean \"productId\"?");
}

#[test]
fn for_each_must_be_a_list() {
    let step2 =
        "{query: \"SELECT $1\", params: [\"{{item}}\"], forEach: \"{{args.input.customerId}}\"}";
    let errs = errors(&transaction(
        "\"{{args.input.customerId}}\"",
        step2,
        "\"{{steps.order.id}}\"",
    ));
    expect_error(
        &errs,
        "9:54",
        "forEach needs a list, but `{{args.input.customerId}}` is ID",
    );
}

// ---------------------------------------------------------------------------------------------
// @sql specifics

/// A `Product.category` field with the given `@sql` arguments (after `source`).
fn category_field(args: &str) -> String {
    format!(
        "{HEAD}type Query {{ products: [Product!]! @sql(source: \"main\", query: \"SELECT * FROM products\") }}\n\
         type Category {{ id: ID! }}\n\
         type Product {{\n  id: ID!\n  category: Category @sql(source: \"main\", {args})\n}}\n"
    )
}

#[test]
fn key_without_parent_key_and_parent_key_without_key_are_reported() {
    let errs = errors(&category_field(
        "query: \"SELECT * FROM categories WHERE id IN ($keys)\", key: \"id\"",
    ));
    let d = expect_error(&errs, "6:103", "@sql has `key` but no `parentKey`");
    expect_hint(&d, "add parentKey");
    let errs = errors(&category_field(
        "query: \"SELECT * FROM categories WHERE id IN ($keys)\", parentKey: \"category_id\"",
    ));
    expect_error(&errs, "6:109", "@sql has `parentKey` but no `key`");
}

#[test]
fn a_batched_query_needs_in_keys() {
    let errs = errors(&category_field(
        "query: \"SELECT * FROM categories WHERE id = 1\", key: \"id\", parentKey: \"category_id\"",
    ));
    let d = expect_error(&errs, "6:50", "needs IN ($keys) in its query");
    expect_hint(&d, "IN ($keys)");
    let errs = errors(&category_field("query: \"SELECT * FROM categories WHERE id = ANY($keys)\", key: \"id\", parentKey: \"category_id\""));
    expect_error(&errs, "6:91", "$keys must be written as IN ($keys)");
}

#[test]
fn a_non_batched_query_cannot_use_keys() {
    let errs = errors(&category_field(
        "query: \"SELECT * FROM categories WHERE id IN ($keys)\"",
    ));
    let d = expect_error(
        &errs,
        "6:89",
        "the query uses $keys, but @sql has no key/parentKey",
    );
    expect_hint(&d, "add key:");
}

#[test]
fn batched_params_cannot_use_parent() {
    let errs = errors(&category_field(
        "query: \"SELECT * FROM categories WHERE id IN ($keys) AND x = $1\", key: \"id\", parentKey: \"category_id\", params: [\"{{parent.id}}\"]",
    ));
    let d = expect_error(&errs, "6:156", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "params bind only args and env");
}

#[test]
fn placeholders_must_match_params() {
    let sdl = format!(
        "{HEAD}type Query {{\n  p(a: Int, b: Int): Int @sql(source: \"main\", query: \"SELECT $1 + $3\", params: [\"{{{{args.a}}}}\", \"{{{{args.b}}}}\"])\n}}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "3:67",
        "the query uses $3 but params has only 2 values",
    );
    expect_hint(&d, "add entries up to $3");
    let d = expect_error(&errs, "3:95", "param 2 is never used: the query has no $2");
    expect_hint(&d, "reference it as $2");
}

#[test]
fn a_query_with_placeholders_but_no_params_is_reported() {
    expect_error(
        &errors(&format!(
            "{HEAD}type Query {{ p: Int @sql(source: \"main\", query: \"SELECT $1\") }}\n"
        )),
        "2:57",
        "the query uses $1 but @sql has no params",
    );
}

#[test]
fn placeholders_are_numbered_from_one_and_only_keys_has_a_name() {
    let sdl = format!(
        "{HEAD}type Query {{ p: Int @sql(source: \"main\", query: \"SELECT $0, $id, '$9'\") }}\n"
    );
    let errs = errors(&sdl);
    expect_error(&errs, "2:57", "placeholders start at $1, not $0");
    let d = expect_error(&errs, "2:61", "unknown placeholder $id");
    expect_hint(&d, "$1..$n");
    assert_eq!(
        errs.len(),
        2,
        "a $ inside a SQL string is not a placeholder: {errs:?}"
    );
}

#[test]
fn templates_inside_sql_text_are_rejected() {
    let sdl = format!("{HEAD}type Query {{ p(id: ID): Int @sql(source: \"main\", query: \"SELECT * FROM t WHERE id = {{{{args.id}}}}\") }}\n");
    let d = expect_error(
        &errs_of(&sdl),
        "2:85",
        "templates are not allowed in SQL text",
    );
    expect_hint(&d, "write $1 in the query");
}

fn errs_of(sdl: &str) -> Vec<Diagnostic> {
    errors(sdl)
}

#[test]
fn a_batched_query_must_select_its_key() {
    let errs = errors(&category_field(
        "query: \"SELECT name FROM categories WHERE id IN ($keys)\", key: \"id\", parentKey: \"category_id\"",
    ));
    let d = expect_error(
        &errs,
        "6:50",
        "batch key not selected: the query's SELECT list has no column `id`",
    );
    expect_hint(&d, "select it");
    built(&category_field(
        "query: \"SELECT c.*, 1 AS x FROM categories c WHERE id IN ($keys)\", key: \"id\", parentKey: \"category_id\"",
    ));
}

#[test]
fn parent_key_is_checked_like_a_parent_reference() {
    // Product values here come from @value, so only its fields (and their snake_case) are keys.
    let sdl = format!(
        "{HEAD}type Query {{ products: [Product!]! @value(of: []) }}\n\
         type Category {{ id: ID! }}\n\
         type Product {{\n  categoryId: ID!\n  category: Category @sql(source: \"main\", query: \"SELECT * FROM c WHERE id IN ($keys)\",\n    key: \"id\", parentKey: \"categoryid\")\n}}\n"
    );
    let d = expect_error(
        &errors(&sdl),
        "7:27",
        "`parentKey \"categoryid\"`: Product has no field or key `categoryid`",
    );
    expect_hint(&d, "did you mean \"categoryId\"?");
    built(&sdl.replace("parentKey: \"categoryid\"", "parentKey: \"category_id\""));
}

#[test]
fn a_transaction_is_only_allowed_on_mutation_fields() {
    let sdl = format!(
        "{HEAD}type Query {{\n  p: Int @sql(source: \"main\", query: \"SELECT 1\", transaction: [{{query: \"DELETE FROM t\"}}])\n}}\n"
    );
    let d = expect_error(
        &errors(&sdl),
        "3:63",
        "`transaction` on Query.p: only Mutation fields may have one",
    );
    expect_hint(&d, "Mutation type");
}

#[test]
fn transaction_steps_are_checked_like_directive_arguments() {
    let step2 = "{qurey: \"SELECT 1\", as: \"order\"}";
    let errs = errors(&transaction(
        "\"{{args.input.customerId}}\"",
        step2,
        "\"{{steps.order.id}}\"",
    ));
    let d = expect_error(&errs, "9:2", "unknown key `qurey` in transaction step 2");
    expect_hint(&d, "did you mean \"query\"?");
    expect_error(&errs, "9:1", "transaction step 2 is missing `query`");
    expect_error(&errs, "9:25", "two transaction steps are named \"order\"");
}

// ---------------------------------------------------------------------------------------------
// @value

#[test]
fn a_value_must_fit_a_scalar_or_enum_field_type() {
    let sdl = "type Query {\n  a: Int! @value(of: \"one\")\n  b: Status @value(of: CLOSED)\n  c: [String!] @value(of: [\"x\", null])\n  d: String @value(of: \"ok\")\n}\nenum Status { OPEN }";
    let errs = errors(sdl);
    expect_error(
        &errs,
        "2:22",
        "@value(of:) does not fit the field's type Int!: expected Int, found \"one\"",
    );
    expect_error(&errs, "3:24", "CLOSED is not a value of enum Status");
    expect_error(&errs, "4:27", "element 1: null is not allowed for String!");
    assert_eq!(errs.len(), 3, "{errs:?}");
}

// ---------------------------------------------------------------------------------------------
// All at once

#[test]
fn several_semantic_errors_are_all_reported_at_once_in_file_order() {
    let sdl = format!(
        "{HEAD}type Query {{\n  a: Prodct\n  b: Int @sql(source: \"mian\", query: \"SELECT 1\")\n  c: Int @sqll\n  d(x: Int): Int @sql(source: \"main\", query: \"SELECT $1\", params: [\"{{{{args.y}}}}\"])\n}}\n"
    );
    let errs = errors(&sdl);
    assert_eq!(errs.len(), 4, "{}", Diagnostics(errs.clone()));
    let positions: Vec<String> = errs.iter().map(|d| d.pos.to_string()).collect();
    assert_eq!(positions, ["3:6", "4:23", "5:10", "6:69"]);
    let text = Diagnostics(errs).to_string();
    assert!(
        text.contains("schema.graphql:4:23: error: unknown source \"mian\""),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// A complete schema

const SHOP: &str = r#"schema
  @source(name: "main", sql: "{{env.DATABASE_URL | default: 'sqlite://shop.db'}}", poolSize: 5)
{ query: Query, mutation: Mutation }

"Something with an id."
interface Node { id: ID! }

enum OrderStatus {
  PLACED
  "Left the warehouse."
  SHIPPED
  CANCELLED @deprecated(reason: "Use REFUNDED.")
  REFUNDED
}

type Category implements Node {
  id: ID!
  name: String!
  products(first: Int = 10): [Product!]!
    @sql(source: "main", query: "SELECT * FROM products WHERE category_id IN ($keys) LIMIT $1",
         params: ["{{args.first}}"], key: "category_id", parentKey: "id")
}

"""
A product.
Prices are in cents.
"""
type Product implements Node {
  id: ID!
  name: String!
  label: String! @map(from: "name")
  priceCents: Int!
  createdAt: DateTime
  oldPrice: Float @deprecated
  category: Category
    @sql(source: "main", query: "SELECT * FROM categories WHERE id IN ($keys)", key: "id", parentKey: "category_id")
}

type Book { id: ID! title: String! }
type Film { id: ID! title: String! }
union SearchResult = Book | Film

input LineInput { productId: ID!, quantity: Int! = 1 }
input PlaceOrderInput {
  customerId: ID!
  "What to order."
  lines: [LineInput!]!
  note: String = "none"
}

type Order { id: ID! status: OrderStatus! meta: JSON }

type Query {
  greet: String! @value(of: "Hello World!")
  product(id: ID!): Product
    @sql(source: "main", query: "SELECT * FROM products WHERE id = $1", params: ["{{args.id}}"])
  products(status: [OrderStatus!] = [PLACED], first: Int = 20): [Product!]!
    @sql(source: "main", query: "SELECT * FROM products LIMIT $1", params: ["{{args.first}}"])
  search(q: String!): [SearchResult!]!
    @sql(source: "main", query: "SELECT 'Book' AS __typename, * FROM books WHERE title LIKE $1", params: ["%{{args.q}}%"])
  node(id: ID!): Node
}

extend type Query {
  categories: [Category!]! @sql(source: "main", query: "SELECT * FROM categories")
}

type Mutation {
  placeOrder(input: PlaceOrderInput!): Order
    @sql(source: "main",
         transaction: [
           {query: "INSERT INTO orders (customer_id, status) VALUES ($1, 'PLACED') RETURNING id",
            params: ["{{args.input.customerId}}"], as: "order"},
           {query: "INSERT INTO order_lines (order_id, product_id, quantity) VALUES ($1, $2, $3)",
            params: ["{{steps.order.id}}", "{{item.productId}}", "{{item.quantity}}"],
            forEach: "{{args.input.lines}}"}
         ],
         query: "SELECT * FROM orders WHERE id = $1", params: ["{{steps.order.id}}"])
}
"#;

#[test]
fn a_complete_schema_builds_into_the_expected_blueprint() {
    let bp = built(SHOP);
    assert_eq!(bp.file, "schema.graphql");
    assert_eq!(bp.query, "Query");
    assert_eq!(bp.mutation.as_deref(), Some("Mutation"));
    assert_eq!(bp.subscription, None);
    let SourceKind::Sql(main) = &bp.sources["main"].kind else {
        panic!("main is not a SQL source")
    };
    assert_eq!(main.url, "sqlite://shop.db");
    assert_eq!(main.pool_size, Some(5));
    assert_eq!(main.statement_timeout, None);

    // Types in declaration order, used-but-undeclared scalars last.
    let names: Vec<&str> = bp.types.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "Node",
            "OrderStatus",
            "Category",
            "Product",
            "Book",
            "Film",
            "SearchResult",
            "LineInput",
            "PlaceOrderInput",
            "Order",
            "Query",
            "Mutation",
            "DateTime",
            "JSON"
        ]
    );

    // A single statement with an argument.
    let product = sql(&bp, "Query", "product");
    assert_eq!(product.source, "main");
    assert_eq!(product.query, "SELECT * FROM products WHERE id = $1");
    assert_eq!(product.params[0].parts, vec![expr(Root::Args, &["id"])]);
    assert!(product.batch.is_none() && product.transaction.is_empty());
    assert_eq!(
        product.pos,
        Pos {
            line: 56,
            column: 5
        }
    );

    // Mixed text renders to a string: literal parts around the expression.
    let search = sql(&bp, "Query", "search");
    assert_eq!(
        search.params[0].parts,
        vec![
            TemplatePart::Literal("%".into()),
            expr(Root::Args, &["q"]),
            TemplatePart::Literal("%".into())
        ]
    );

    // Batched, with and without params.
    let category = sql(&bp, "Product", "category");
    let batch = category
        .batch
        .as_ref()
        .map(|b| (b.key.as_str(), b.parent_key.as_str()));
    assert_eq!(batch, Some(("id", "category_id")));
    let products = sql(&bp, "Category", "products");
    assert_eq!(products.params[0].parts, vec![expr(Root::Args, &["first"])]);

    // The transaction.
    let place = sql(&bp, "Mutation", "placeOrder");
    assert_eq!(place.transaction.len(), 2);
    assert_eq!(place.transaction[0].name.as_deref(), Some("order"));
    assert_eq!(
        place.transaction[0].params[0].parts,
        vec![expr(Root::Args, &["input", "customerId"])]
    );
    assert_eq!(
        place.transaction[0].pos,
        Pos {
            line: 72,
            column: 12
        }
    );
    let lines = &place.transaction[1];
    assert_eq!(
        lines.for_each.as_ref().map(|t| t.parts.clone()),
        Some(vec![expr(Root::Args, &["input", "lines"])])
    );
    assert_eq!(
        lines
            .params
            .iter()
            .map(|p| p.parts[0].clone())
            .collect::<Vec<_>>(),
        vec![
            expr(Root::Steps, &["order", "id"]),
            expr(Root::Item, &["productId"]),
            expr(Root::Item, &["quantity"])
        ]
    );
    assert_eq!(
        place.params[0].parts,
        vec![expr(Root::Steps, &["order", "id"])]
    );

    // Values, parent fields and keys.
    let greet = resolver(&bp, "Query", "greet");
    assert!(matches!(&greet.resolver, Resolver::Value(Value::String(s)) if s == "Hello World!"));
    let price = resolver(&bp, "Product", "priceCents");
    assert!(matches!(price.resolver, Resolver::Parent));
    assert_eq!(
        price.source_key,
        SourceKey::Rule {
            name: "priceCents".into(),
            snake: "price_cents".into()
        }
    );
    assert_eq!(
        resolver(&bp, "Product", "label").source_key,
        SourceKey::Explicit("name".into())
    );
    assert_eq!(
        resolver(&bp, "Product", "oldPrice").deprecation.as_deref(),
        Some("No longer supported")
    );
    assert_eq!(
        resolver(&bp, "Product", "createdAt").ty,
        TypeRef::Named("DateTime".into())
    );

    // `extend type` merged its field into Query.
    assert!(matches!(
        resolver(&bp, "Query", "categories").resolver,
        Resolver::Sql(_)
    ));

    // Arguments, defaults, inputs, enums, unions, interfaces.
    let products_field = resolver(&bp, "Query", "products");
    let status = &products_field.args["status"];
    assert_eq!(status.ty.to_string(), "[OrderStatus!]");
    assert_eq!(
        status.default.as_ref().map(|d| d.to_string()),
        Some("[PLACED]".to_string())
    );
    let Some(TypeDef::Input(input)) = bp.types.get("PlaceOrderInput") else {
        panic!("PlaceOrderInput")
    };
    assert_eq!(input.fields["lines"].ty.to_string(), "[LineInput!]!");
    assert_eq!(
        input.fields["lines"].description.as_deref(),
        Some("What to order.")
    );
    assert_eq!(
        input.fields["note"].default,
        Some(Value::String("none".into()))
    );
    let Some(TypeDef::Enum(status_enum)) = bp.types.get("OrderStatus") else {
        panic!("OrderStatus")
    };
    assert_eq!(
        status_enum.values[2].deprecation.as_deref(),
        Some("Use REFUNDED.")
    );
    assert_eq!(
        status_enum.values[1].description.as_deref(),
        Some("Left the warehouse.")
    );
    let Some(TypeDef::Union(union)) = bp.types.get("SearchResult") else {
        panic!("SearchResult")
    };
    assert_eq!(union.members, ["Book", "Film"]);
    let Some(TypeDef::Object(product_type)) = bp.types.get("Product") else {
        panic!("Product")
    };
    assert_eq!(product_type.implements, ["Node"]);
    assert_eq!(
        product_type.description.as_deref(),
        Some("A product.\nPrices are in cents.")
    );
    assert_eq!(
        product_type.pos,
        Pos {
            line: 28,
            column: 6
        }
    );
    assert!(matches!(bp.types.get("Node"), Some(TypeDef::Interface(_))));
}

#[test]
fn roots_default_to_query_mutation_and_subscription_without_a_schema_definition() {
    let bp = built(
        "type Query { a: Int }\ntype Mutation { b: Int }\ntype Subscription { c: Int @subscribe(topic: \"c\") }",
    );
    assert_eq!(bp.query, "Query");
    assert_eq!(bp.mutation.as_deref(), Some("Mutation"));
    assert_eq!(bp.subscription.as_deref(), Some("Subscription"));
    let bp = built("schema { query: Root }\ntype Root { a: Int }\ntype Mutation { b: Int }");
    assert_eq!(bp.query, "Root");
    assert_eq!(bp.mutation, None, "a schema definition lists all roots");
}

#[test]
fn scalars_can_be_declared_and_custom_scalars_are_allowed() {
    let bp = built("\"When.\"\nscalar DateTime\nscalar Money\ntype Query { at: DateTime, price: Money, id: UUID }");
    let names: Vec<&str> = bp.types.keys().map(String::as_str).collect();
    assert_eq!(names, ["DateTime", "Money", "Query", "UUID"]);
    let Some(TypeDef::Scalar(dt)) = bp.types.get("DateTime") else {
        panic!("DateTime")
    };
    assert_eq!(dt.description.as_deref(), Some("When."));
}

// ---------------------------------------------------------------------------------------------
// The client SDL

#[test]
fn the_client_schema_strips_directives_and_declares_used_scalars() {
    let printed = print_client_schema(&built(SHOP));
    for gone in [
        "@sql", "@source", "@map", "@value", "schema", "{{", "SELECT",
    ] {
        assert!(
            !printed.contains(gone),
            "{gone} should not be in:\n{printed}"
        );
    }
    for kept in [
        "\"Something with an id.\"\ninterface Node {\n  id: ID!\n}",
        "  \"Left the warehouse.\"\n  SHIPPED\n",
        "  CANCELLED @deprecated(reason: \"Use REFUNDED.\")\n",
        "  oldPrice: Float @deprecated(reason: \"No longer supported\")\n",
        "\"\"\"\nA product.\nPrices are in cents.\n\"\"\"\ntype Product implements Node {",
        "  products(status: [OrderStatus!] = [PLACED], first: Int = 20): [Product!]!\n",
        "union SearchResult = Book | Film\n",
        "input LineInput {\n  productId: ID!\n  quantity: Int! = 1\n}",
        "  \"What to order.\"\n  lines: [LineInput!]!\n  note: String = \"none\"\n",
        "  categories: [Category!]!\n",
        "scalar DateTime\n",
        "scalar JSON\n",
    ] {
        assert!(printed.contains(kept), "{kept:?} should be in:\n{printed}");
    }
}

#[test]
fn the_client_schema_parses_and_builds_to_the_same_client_schema() {
    let printed = print_client_schema(&built(SHOP));
    let again = built(&printed);
    assert_eq!(print_client_schema(&again), printed);
}

#[test]
fn the_client_schema_writes_a_schema_block_only_for_non_default_roots() {
    let printed = print_client_schema(&built(
        "schema { query: Root }\ntype Root { a: Int }\ntype Mutation { b: Int }",
    ));
    assert!(
        printed.starts_with("schema {\n  query: Root\n}\n"),
        "{printed}"
    );
    let printed = print_client_schema(&built("type Query { a: Int }"));
    assert_eq!(printed, "type Query {\n  a: Int\n}\n");
}

// ---------------------------------------------------------------------------------------------
// HTTP sources

/// A schema with a SQL source "main" (line 2), an HTTP source "users" (line 3) forwarding
/// `authorization` and `x-trace`, and Query/Mutation roots; user types start on line 5.
const HTTP_HEAD: &str = "schema\n  @source(name: \"main\", sql: \"sqlite://t.db\")\n  @source(name: \"users\", http: \"http://users.local\", forwardHeaders: [\"authorization\", \"X-Trace\"])\n{ query: Query, mutation: Mutation }\n";

/// One `@source(...)` with the given arguments (line 1) and a trivial Query.
fn source_with(args: &str) -> String {
    format!("schema @source({args}) {{ query: Query }}\ntype Query {{ a: Int }}\n")
}

fn http_source<'b>(bp: &'b Blueprint, name: &str) -> &'b HttpSourceDef {
    match &bp.sources[name].kind {
        SourceKind::Http(h) => h,
        SourceKind::Sql(_) => panic!("{name} is not an HTTP source"),
    }
}

fn http<'b>(bp: &'b Blueprint, ty: &str, field: &str) -> &'b HttpResolver {
    match &resolver(bp, ty, field).resolver {
        Resolver::Http(h) => h,
        other => panic!("{ty}.{field} is not @http: {other:?}"),
    }
}

#[test]
fn a_source_needs_exactly_one_of_sql_and_http() {
    let both = source_with("name: \"x\", sql: \"sqlite://t.db\", http: \"http://h\"");
    let d = expect_error(
        &errors(&both),
        "1:55",
        "source \"x\" has both sql: and http:",
    );
    expect_hint(&d, "declare two sources");
    let neither = source_with("name: \"x\"");
    let d = expect_error(
        &errors(&neither),
        "1:8",
        "source \"x\" has neither sql: nor http:",
    );
    expect_hint(&d, "http: \"http://127.0.0.1:4001\"");
}

#[test]
fn http_source_settings_are_checked_at_their_values() {
    let sdl = source_with(
        "name: \"x\", http: \"ftp://h\", timeout: \"0s\", retries: 11, forwardHeaders: [\"ok\", \"x trace\"]",
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "1:33",
        "source \"x\": base URL \"ftp://h\" is not an http:// or https:// URL",
    );
    expect_hint(&d, "e.g. http://127.0.0.1:4001");
    expect_error(&errs, "1:53", "timeout must be more than zero");
    let d = expect_error(&errs, "1:68", "retries must be between 0 and 10, found 11");
    expect_hint(&d, "0 turns them off");
    let d = expect_error(
        &errs,
        "1:95",
        "forwardHeaders: \"x trace\" is not a header name",
    );
    expect_hint(&d, "x-request-id");
    assert_eq!(errs.len(), 4, "{errs:?}");

    let no_host = source_with("name: \"x\", http: \"http://:80/api\", timeout: \"soon\"");
    let errs = errors(&no_host);
    expect_error(&errs, "1:33", "base URL \"http://:80/api\" has no host");
    let d = expect_error(&errs, "1:60", "timeout \"soon\" is not a duration");
    expect_hint(&d, "\"500ms\"");
}

#[test]
fn settings_of_the_other_kind_of_source_are_errors() {
    let sdl = source_with("name: \"x\", http: \"http://h\", poolSize: 3, statementTimeout: \"1s\"");
    let errs = errors(&sdl);
    let d = expect_error(&errs, "1:55", "`poolSize` applies to SQL sources only");
    expect_hint(
        &d,
        "source \"x\" is an HTTP source (http:): remove poolSize",
    );
    let d = expect_error(
        &errs,
        "1:76",
        "`statementTimeout` applies to SQL sources only",
    );
    expect_hint(&d, "requests are bounded by timeout");
    let sdl = source_with(
        "name: \"x\", sql: \"sqlite://t.db\", timeout: \"1s\", retries: 1, headers: {a: \"b\"}, forwardHeaders: [\"a\"], singleFlight: false",
    );
    let errs = errors(&sdl);
    let d = expect_error(&errs, "1:58", "`timeout` applies to HTTP sources only");
    expect_hint(&d, "statements are bounded by statementTimeout");
    expect_error(&errs, "1:73", "`retries` applies to HTTP sources only");
    expect_error(&errs, "1:85", "`headers` applies to HTTP sources only");
    expect_error(
        &errs,
        "1:111",
        "`forwardHeaders` applies to HTTP sources only",
    );
    expect_error(
        &errs,
        "1:132",
        "`singleFlight` applies to HTTP sources only",
    );
    assert_eq!(errs.len(), 5, "{errs:?}");
}

#[test]
fn source_headers_may_read_env_and_forwarded_client_headers_only() {
    let sdl = source_with(
        "name: \"x\", http: \"http://h\", forwardHeaders: [\"authorization\"], headers: {cookie: \"{{headers.cookie}}\", x_user: \"{{args.user}}\"}",
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "1:99",
        "`{{headers.cookie}}`: header cookie is not forwarded by source \"x\"",
    );
    expect_hint(&d, "add it to forwardHeaders");
    let d = expect_error(
        &errs,
        "1:129",
        "`{{args.user}}` cannot be used here: only {{env.NAME}} and {{headers.NAME}} can",
    );
    expect_hint(&d, "@http(headers:)");
}

#[test]
fn reserved_and_repeated_header_names_are_reported_at_their_keys() {
    let sdl = source_with(
        "name: \"x\", http: \"http://h\", headers: {host: \"evil\", x_key: \"a\", X_KEY: \"b\", x_line: \"a\\nb\"}",
    );
    let errs = errors(&sdl);
    let d = expect_error(&errs, "1:55", "header `host` cannot be set here");
    expect_hint(&d, "sets host itself");
    let d = expect_error(&errs, "1:81", "header `x-key` is set twice");
    expect_hint(&d, "x_api_key and X_API_KEY are both x-api-key");
    expect_error(
        &errs,
        "1:101",
        "the value of header `x-line` contains a line break",
    );
}

#[test]
fn a_source_base_url_may_only_use_env_templates() {
    let sdl = source_with("name: \"x\", http: \"http://{{headers.host}}\"");
    expect_error(&errors(&sdl), "1:41", "only {{env.NAME}} can");
}

// ---------------------------------------------------------------------------------------------
// @http

/// A `Query.user(id: ID!, q: String)` field with the given `@http` arguments (line 7).
fn http_query_field(args: &str) -> String {
    format!("{HTTP_HEAD}type User {{ id: ID! name: String }}\ntype Query {{\n  user(id: ID!, q: String): User @http({args})\n}}\ntype Mutation {{ m: Int }}\n")
}

// In `http_query_field`, the arguments of @http start at 7:40.

#[test]
fn http_needs_an_http_source_and_sql_an_sql_source() {
    let d = expect_error(
        &errors(&http_query_field("source: \"main\", path: \"/u\"")),
        "7:48",
        "source \"main\" is a SQL source, not an HTTP source",
    );
    expect_hint(&d, "use @sql with a SQL source");
    let sdl = format!("{HTTP_HEAD}type Query {{ a: Int @sql(source: \"users\", query: \"SELECT 1\") }}\ntype Mutation {{ m: Int }}\n");
    let d = expect_error(
        &errors(&sdl),
        "5:34",
        "source \"users\" is an HTTP source, not a SQL source",
    );
    expect_hint(&d, "use @http");
    let d = expect_error(
        &errors(&http_query_field("source: \"user\", path: \"/u\"")),
        "7:48",
        "unknown source \"user\"",
    );
    expect_hint(&d, "did you mean \"users\"?");
}

#[test]
fn an_unknown_http_method_suggests_the_closest_one() {
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", method: get, path: \"/u\"",
        )),
        "7:65",
        "unknown HTTP method `get`",
    );
    expect_hint(&d, "did you mean \"GET\"?");
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", method: \"FETCH\", path: \"/u\"",
        )),
        "7:65",
        "unknown HTTP method `FETCH`",
    );
    expect_hint(&d, "GET, POST, PUT, PATCH and DELETE");
}

#[test]
fn the_path_starts_with_a_slash_and_holds_no_query_string() {
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", path: \"users/{{args.id}}\"",
        )),
        "7:63",
        "path \"users/{{args.id}}\" must start with /",
    );
    expect_hint(&d, "write \"/users/{{args.id}}\"");
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", path: \"/users?id={{args.id}}\"",
        )),
        "7:70",
        "the path cannot hold a query string or a fragment",
    );
    expect_hint(&d, "put query parameters in query:");
}

#[test]
fn http_templates_are_checked_against_the_field_and_the_source() {
    let sdl = http_query_field(
        "source: \"users\", path: \"/u/{{args.ident}}\", query: {x: \"{{parent.id}}\"}, headers: {x_trace: \"{{headers.x-trace}}\", cookie: \"{{headers.cookie}}\"}",
    );
    let errs = errors(&sdl);
    let d = expect_error(&errs, "7:67", "field Query.user has no argument `ident`");
    expect_hint(&d, "Query.user has arguments: id, q");
    let d = expect_error(&errs, "7:96", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "root field");
    let d = expect_error(
        &errs,
        "7:164",
        "`{{headers.cookie}}`: header cookie is not forwarded by source \"users\"",
    );
    expect_hint(
        &d,
        "add it to forwardHeaders: @source(name: \"users\", ..., forwardHeaders: [\"cookie\"])",
    );
    assert_eq!(
        errs.len(),
        3,
        "x-trace is forwarded (X-Trace, lower-cased): {errs:?}"
    );
}

#[test]
fn a_malformed_header_template_is_reported() {
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", path: \"/u\", headers: {a: \"{{args.x-y}}\"}",
        )),
        "7:83",
        "malformed template `{{args.x-y}}`",
    );
    expect_hint(&d, "headers");
}

#[test]
fn headers_templates_are_not_supported_in_sql() {
    let d = expect_error(
        &errors(&query_with_param("{{headers.authorization}}")),
        "3:70",
        "`{{headers.authorization}}` cannot be used in @sql",
    );
    expect_hint(&d, "@sql does not support them yet");
}

/// A `Product.reviews` field with the given `@http` arguments (line 8); Product values come
/// from `@value` unless `http_parent`, when they come from `@http`.
fn product_reviews(args: &str, http_parent: bool) -> String {
    let produce = if http_parent {
        "@http(source: \"users\", path: \"/products\")"
    } else {
        "@value(of: [{id: 1}])"
    };
    format!(
        "{HTTP_HEAD}type Query {{ products: [Product!]! {produce} }}\n\
         type Mutation {{ m: Int }}\n\
         type Review {{ id: ID! }}\n\
         type Product {{\n  id: ID!\n  sku: String @map(from: \"stock_keeping_unit\")\n  \
         reviews(first: Int): [Review!]! @http({args})\n}}\n"
    )
}

// In `product_reviews`, the arguments of @http start at 11:41.

#[test]
fn a_parent_template_in_http_must_name_a_parent_key_unless_the_parent_comes_from_a_resolver() {
    let args = "source: \"users\", path: \"/reviews/{{parent.productId}}\"";
    let d = expect_error(
        &errors(&product_reviews(args, false)),
        "11:74",
        "Product has no field or key `productId`",
    );
    expect_hint(&d, "does not come from @sql or @http");
    built(&product_reviews(args, true));
    built(&product_reviews(
        "source: \"users\", path: \"/r/{{parent.stock_keeping_unit}}/{{parent.id}}\"",
        false,
    ));
}

#[test]
fn a_body_is_only_allowed_with_post_put_and_patch() {
    let sdl = format!(
        "{HTTP_HEAD}type Query {{ a: Int }}\ntype Mutation {{\n  del(id: ID!): Int @http(source: \"users\", method: DELETE, path: \"/u\", body: {{id: \"{{{{args.id}}}}\"}})\n}}\n"
    );
    let d = expect_error(
        &errors(&sdl),
        "7:78",
        "@http body is not allowed with method DELETE",
    );
    expect_hint(&d, "use POST, PUT or PATCH");
    let sdl = format!(
        "{HTTP_HEAD}type Query {{ a: Int }}\ntype Mutation {{\n  post(id: ID!): Int @http(source: \"users\", method: POST, path: \"/u\", body: {{id: \"{{{{args.ident}}}}\", n: [1, \"{{{{args.x}}}}\"]}})\n}}\n"
    );
    let errs = errors(&sdl);
    expect_error(&errs, "7:83", "field Mutation.post has no argument `ident`");
    expect_error(&errs, "7:108", "field Mutation.post has no argument `x`");
}

#[test]
fn select_must_be_a_dot_path() {
    let d = expect_error(
        &errors(&http_query_field(
            "source: \"users\", path: \"/u\", select: \"data..items\"",
        )),
        "7:77",
        "select \"data..items\" is not a dot path",
    );
    expect_hint(&d, "\"data.items\"");
}

#[test]
fn the_batch_param_must_be_a_query_parameter_that_reads_the_parent() {
    let errs = errors(&product_reviews(
        "source: \"users\", path: \"/reviews\", query: {productId: \"{{parent.id}}\"}, batch: {param: \"productID\", key: \"productId\"}",
        false,
    ));
    let d = expect_error(
        &errs,
        "11:128",
        "batch param \"productID\" is not one of the query parameters",
    );
    expect_hint(&d, "did you mean \"productId\"?");
    let errs = errors(&product_reviews(
        "source: \"users\", path: \"/reviews\", query: {productId: \"{{args.first}}\"}, batch: {param: \"productId\", key: \"\", separator: \"\"}",
        false,
    ));
    let d = expect_error(
        &errs,
        "11:129",
        "batch param \"productId\" must carry each parent's key, but its query value \"{{args.first}}\" does not read {{parent...}}",
    );
    expect_hint(&d, "query: {productId: \"{{parent.id}}\"}");
    expect_error(&errs, "11:147", "batch key cannot be empty");
    let d = expect_error(&errs, "11:162", "batch separator cannot be empty");
    expect_hint(&d, "?id=1&id=2");
}

#[test]
fn in_the_batched_form_other_templates_may_read_the_parent_and_batch_keys_are_checked() {
    let args = "source: \"users\", path: \"/p/{{parent.id}}/reviews\", query: {productId: \"{{parent.id}}\"}, batch: {param: \"productId\", key: \"productId\"";
    built(&product_reviews(&format!("{args}}}"), false));
    let errs = errors(&product_reviews(&format!("{args}, sise: 3}}"), false));
    let d = expect_error(&errs, "11:175", "unknown key `sise` in @http batch");
    expect_hint(&d, "batch takes: param, key, separator");
    assert_eq!(errs.len(), 1, "{errs:?}");
}

#[test]
fn batch_is_not_allowed_on_root_fields_and_needs_param_and_key() {
    let errs = errors(&http_query_field(
        "source: \"users\", path: \"/u\", query: {id: \"{{args.id}}\"}, batch: {param: \"id\"}",
    ));
    let d = expect_error(
        &errs,
        "7:104",
        "batch on root field Query.user: root fields have no parent",
    );
    expect_hint(&d, "remove batch");
    let d = expect_error(&errs, "7:104", "@http batch is missing `key`");
    expect_hint(&d, "add `key:`");
}

#[test]
fn sql_and_http_on_one_field_are_two_resolvers() {
    let sdl = http_query_field(
        "source: \"users\", path: \"/u\") @sql(source: \"main\", query: \"SELECT 1\"",
    );
    expect_error(
        &errors(&sdl),
        "7:69",
        "field Query.user has two resolvers: @http and @sql",
    );
}

#[test]
fn map_together_with_http_is_reported_at_map() {
    let sdl = http_query_field("source: \"users\", path: \"/u\") @map(from: \"x\"");
    let d = expect_error(&errors(&sdl), "7:69", "@map cannot be combined with @http");
    expect_hint(&d, "use select");
}

// ---------------------------------------------------------------------------------------------
// @timeout

#[test]
fn timeout_applies_to_http_fields_only_and_must_be_positive() {
    let sdl = format!("{HEAD}type Query {{\n  n: Int @sql(source: \"main\", query: \"SELECT 1\") @timeout(ms: 100)\n}}\n");
    let d = expect_error(
        &errors(&sdl),
        "3:50",
        "@timeout applies to @http fields, and Query.n has no @http",
    );
    expect_hint(&d, "statementTimeout");
    let sdl = http_query_field("source: \"users\", path: \"/u\") @timeout(ms: 0");
    let d = expect_error(
        &errors(&sdl),
        "7:82",
        "@timeout(ms:) must be more than zero, found 0",
    );
    expect_hint(&d, "@timeout(ms: 500)");
    let sdl = format!("{HEAD}interface I {{ n: Int @timeout(ms: 5) }}\ntype Query {{ a: Int }}\n");
    expect_error(
        &errors(&sdl),
        "2:22",
        "@timeout is not allowed on an interface field",
    );
}

// ---------------------------------------------------------------------------------------------
// A complete HTTP schema

const STOREFRONT: &str = r#"schema
  @source(name: "main", sql: "sqlite://shop.db")
  @source(name: "reviews", http: "{{env.REVIEWS_URL | default: 'http://127.0.0.1:4001'}}", timeout: "2s", retries: 1,
          headers: {x_api_key: "{{env.API_KEY}}", authorization: "{{headers.authorization}}"},
          forwardHeaders: ["Authorization", "x-trace"], singleFlight: false)
  @source(name: "inventory", http: "http://inventory.local/v1")
{ query: Query, mutation: Mutation }

type Query {
  products(first: Int = 10): [Product!]!
    @sql(source: "main", query: "SELECT * FROM products LIMIT $1", params: ["{{args.first}}"])
  review(id: ID!): Review @http(source: "reviews", path: "/reviews/{{args.id}}")
}

type Product {
  id: ID!
  name: String!
  reviews(first: Int = 5): [Review!]!
    @http(source: "reviews", method: GET, path: "/reviews",
          query: {productId: "{{parent.id}}", limit: "{{args.first}}"},
          headers: {x_trace: "{{headers.x-trace}}"},
          select: "data.items",
          batch: {param: "productId", key: "productId", separator: ","})
    @timeout(ms: 250)
  stock: Stock @http(source: "inventory", path: "/stock/{{parent.sku}}")
}

type Review {
  id: ID!
  productId: ID!
  rating: Int!
  text: String
  author: User @http(source: "reviews", path: "/users/{{parent.authorId}}")
}
type Stock { available: Int! }
type User { id: ID! name: String }

input ReviewInput { productId: ID!, rating: Int!, text: String }

type Mutation {
  postReview(input: ReviewInput!): Review
    @http(source: "reviews", method: "POST", path: "/reviews",
          body: {productId: "{{args.input.productId}}", rating: "{{args.input.rating}}",
                 text: "{{args.input.text}}", tags: ["new", 1, true, null]})
  replaceReview(id: ID!, input: ReviewInput!): Review
    @http(source: "reviews", method: PUT, path: "/reviews/{{args.id}}", body: "{{args.input}}")
}
"#;

fn storefront() -> Blueprint {
    let env: HashMap<String, String> = [("API_KEY".to_string(), "k3y".to_string())].into();
    match build("schema.graphql", STOREFRONT, &env) {
        Ok(bp) => bp,
        Err(d) => panic!("expected the storefront to build, got:\n{d}"),
    }
}

fn parts(t: &Template) -> Vec<TemplatePart> {
    t.parts.clone()
}

#[test]
fn an_http_schema_builds_into_the_expected_blueprint() {
    let bp = storefront();

    // Sources: the env default, settings, header names with `_` as `-`, lower-cased forwards.
    let reviews = http_source(&bp, "reviews");
    assert_eq!(reviews.base_url, "http://127.0.0.1:4001");
    assert_eq!(reviews.timeout, Some(std::time::Duration::from_secs(2)));
    assert_eq!(reviews.retries, Some(1));
    let headers: Vec<(&str, Vec<TemplatePart>)> = reviews
        .headers
        .iter()
        .map(|(n, t)| (n.as_str(), parts(t)))
        .collect();
    assert_eq!(
        headers,
        vec![
            ("x-api-key", vec![TemplatePart::Literal("k3y".into())]),
            (
                "authorization",
                vec![expr(Root::Headers, &["authorization"])]
            ),
        ]
    );
    assert_eq!(reviews.forward_headers, ["authorization", "x-trace"]);
    assert!(!reviews.single_flight);
    assert_eq!(bp.sources["reviews"].pos, Pos { line: 3, column: 3 });
    let inventory = http_source(&bp, "inventory");
    assert_eq!(inventory.base_url, "http://inventory.local/v1");
    assert_eq!(inventory.timeout, None);
    assert_eq!(inventory.retries, None);
    assert!(inventory.headers.is_empty() && inventory.forward_headers.is_empty());
    assert!(inventory.single_flight, "singleFlight defaults to true");

    // A root GET with an argument in the path.
    let review = http(&bp, "Query", "review");
    assert_eq!(review.source, "reviews");
    assert_eq!(review.method, HttpMethod::Get);
    assert_eq!(
        parts(&review.path),
        vec![
            TemplatePart::Literal("/reviews/".into()),
            expr(Root::Args, &["id"])
        ]
    );
    assert!(review.query.is_empty() && review.headers.is_empty());
    assert!(review.body.is_none() && review.batch.is_none() && review.timeout.is_none());
    assert!(review.select.is_empty());

    // The batched form, with select, a forwarded header and @timeout.
    let batched = http(&bp, "Product", "reviews");
    assert_eq!(batched.source, "reviews");
    assert_eq!(batched.method, HttpMethod::Get);
    assert_eq!(batched.path, Template::literal("/reviews"));
    let query: Vec<(&str, Vec<TemplatePart>)> = batched
        .query
        .iter()
        .map(|(n, t)| (n.as_str(), parts(t)))
        .collect();
    assert_eq!(
        query,
        vec![
            ("productId", vec![expr(Root::Parent, &["id"])]),
            ("limit", vec![expr(Root::Args, &["first"])]),
        ]
    );
    let headers: Vec<(&str, Vec<TemplatePart>)> = batched
        .headers
        .iter()
        .map(|(n, t)| (n.as_str(), parts(t)))
        .collect();
    assert_eq!(
        headers,
        vec![("x-trace", vec![expr(Root::Headers, &["x-trace"])])]
    );
    assert!(batched.body.is_none());
    assert_eq!(batched.select, ["data", "items"]);
    let batch = batched
        .batch
        .as_ref()
        .map(|b| (b.param.as_str(), b.key.as_str(), b.separator.as_deref()));
    assert_eq!(batch, Some(("productId", "productId", Some(","))));
    assert_eq!(batched.timeout, Some(std::time::Duration::from_millis(250)));
    assert_eq!(
        batched.pos,
        Pos {
            line: 19,
            column: 5
        }
    );

    // Parent keys that are not fields are accepted when the parent comes from @sql or @http.
    let stock = http(&bp, "Product", "stock");
    assert_eq!(stock.source, "inventory");
    assert_eq!(stock.path.parts[1], expr(Root::Parent, &["sku"]));
    let author = http(&bp, "Review", "author");
    assert_eq!(author.path.parts[1], expr(Root::Parent, &["authorId"]));

    // Mutations with a body: an object of templates and literals, and a whole input.
    let post = http(&bp, "Mutation", "postReview");
    assert_eq!(
        post.method,
        HttpMethod::Post,
        "the string form \"POST\" is accepted"
    );
    let tpl = |root: Root, path: &[&str], text: &str| {
        BodyTemplate::Template(Template {
            text: text.to_string(),
            parts: vec![expr(root, path)],
        })
    };
    assert_eq!(
        post.body,
        Some(BodyTemplate::Object(vec![
            (
                "productId".into(),
                tpl(
                    Root::Args,
                    &["input", "productId"],
                    "{{args.input.productId}}"
                )
            ),
            (
                "rating".into(),
                tpl(Root::Args, &["input", "rating"], "{{args.input.rating}}")
            ),
            (
                "text".into(),
                tpl(Root::Args, &["input", "text"], "{{args.input.text}}")
            ),
            (
                "tags".into(),
                BodyTemplate::List(vec![
                    BodyTemplate::Template(Template::literal("new")),
                    BodyTemplate::Literal(Value::from(1)),
                    BodyTemplate::Literal(Value::Boolean(true)),
                    BodyTemplate::Literal(Value::Null),
                ])
            ),
        ]))
    );
    let replace = http(&bp, "Mutation", "replaceReview");
    assert_eq!(replace.method, HttpMethod::Put);
    assert_eq!(
        replace.body,
        Some(tpl(Root::Args, &["input"], "{{args.input}}"))
    );
}

#[test]
fn the_client_schema_strips_http_and_timeout() {
    let printed = print_client_schema(&storefront());
    for gone in ["@http", "@timeout", "@source", "@sql", "{{", "reviews\""] {
        assert!(
            !printed.contains(gone),
            "{gone} should not be in:\n{printed}"
        );
    }
    assert!(
        printed.contains("  reviews(first: Int = 5): [Review!]!\n"),
        "{printed}"
    );
    assert_eq!(print_client_schema(&built(&printed)), printed);
}

// ---------------------------------------------------------------------------------------------
// @cache and @invalidate

/// HTTP_HEAD (lines 1-4), then `Query.products` (line 6, an @sql field) with `@cache({args})`.
fn cached_products(args: &str) -> String {
    format!(
        "{HTTP_HEAD}type Query {{\n  products(first: Int): [Product!]! @sql(source: \"main\", query: \"SELECT * FROM p\") @cache({args})\n}}\n\
         type Product {{ id: ID! name: String }}\ntype Mutation {{ m: Int }}\n"
    )
}

// In `cached_products`, @cache is at 6:84 and its arguments start at 6:91.

#[test]
fn a_cache_ttl_is_required_and_must_be_a_positive_duration() {
    let d = expect_error(
        &errors(&cached_products("ttl: \"soon\"")),
        "6:96",
        "ttl \"soon\" is not a duration",
    );
    expect_hint(&d, "\"30s\"");
    let d = expect_error(
        &errors(&cached_products("ttl: \"0s\"")),
        "6:96",
        "@cache(ttl:) must be more than zero",
    );
    expect_hint(&d, "to not cache, remove @cache");
    let d = expect_error(
        &errors(&cached_products("scope: PUBLIC")),
        "6:84",
        "@cache is missing its required argument `ttl`",
    );
    expect_hint(&d, "add `ttl:`");
    let d = expect_error(
        &errors(&cached_products("ttl: 30")),
        "6:96",
        "argument `ttl` of @cache must be a string",
    );
    assert!(d.hint.is_none(), "{d}");
}

#[test]
fn stale_if_error_must_be_a_positive_duration() {
    let errs = errors(&cached_products("ttl: \"30s\", staleIfError: \"1.5m\""));
    expect_error(&errs, "6:117", "staleIfError \"1.5m\" is not a duration");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = expect_error(
        &errors(&cached_products("ttl: \"30s\", staleIfError: \"0ms\"")),
        "6:117",
        "@cache(staleIfError:) must be more than zero",
    );
    expect_hint(&d, "omit staleIfError");
}

#[test]
fn an_unknown_cache_scope_suggests_the_closest_one() {
    let d = expect_error(
        &errors(&cached_products("ttl: \"30s\", scope: PUBLC")),
        "6:110",
        "unknown cache scope `PUBLC`",
    );
    expect_hint(&d, "did you mean \"PUBLIC\"?");
    let d = expect_error(
        &errors(&cached_products("ttl: \"30s\", scope: \"private\"")),
        "6:110",
        "unknown cache scope `private`",
    );
    expect_hint(&d, "did you mean \"PRIVATE\"?");
    let d = expect_error(
        &errors(&cached_products("ttl: \"30s\", scope: SHARED")),
        "6:110",
        "unknown cache scope `SHARED`",
    );
    expect_hint(&d, "PUBLIC (shared by every caller) and PRIVATE");
    let d = expect_error(
        &errors(&cached_products("ttl: \"30s\", scope: 1")),
        "6:110",
        "argument `scope` of @cache must be a cache scope (PUBLIC or PRIVATE), found",
    );
    assert!(d.hint.is_none(), "{d}");
    // The string form is accepted too.
    let bp = built(&cached_products("ttl: \"30s\", scope: \"PRIVATE\""));
    let cache = resolver(&bp, "Query", "products").cache.clone();
    assert_eq!(cache.map(|c| c.scope), Some(CacheScope::Private));
}

#[test]
fn public_with_credentials_is_for_public_entries_only() {
    let d = expect_error(
        &errors(&cached_products(
            "ttl: \"30s\", scope: PRIVATE, publicWithCredentials: true",
        )),
        "6:142",
        "publicWithCredentials applies to PUBLIC entries, and this @cache is PRIVATE",
    );
    expect_hint(&d, "remove publicWithCredentials");
    built(&cached_products(
        "ttl: \"30s\", scope: PRIVATE, publicWithCredentials: false",
    ));
}

#[test]
fn cache_tags_are_checked_against_the_fields_arguments_and_its_place() {
    let sdl = cached_products(
        "ttl: \"30s\", tags: [\"p:{{args.frist}}\", \"{{parent.id}}\", \"u:{{headers.authorization}}\", \"{{steps.a.id}}\", \"\"]",
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "6:113",
        "field Query.products has no argument `frist`",
    );
    expect_hint(&d, "did you mean \"first\"?");
    let d = expect_error(&errs, "6:131", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "root field");
    let d = expect_error(
        &errs,
        "6:150",
        "`{{headers.authorization}}` cannot be used in @cache tags",
    );
    expect_hint(&d, "scope: PRIVATE");
    expect_error(&errs, "6:179", "there are no transaction steps here");
    let d = expect_error(&errs, "6:196", "a tag cannot be empty");
    expect_hint(&d, "\"catalogue\"");
    assert_eq!(errs.len(), 5, "{errs:?}");
}

#[test]
fn parent_templates_in_cache_tags_are_checked_like_http_ones() {
    let args =
        "source: \"users\", path: \"/r\") @cache(ttl: \"1m\", tags: [\"p:{{parent.productId}}\"]";
    let d = expect_error(
        &errors(&product_reviews(args, false)),
        "11:98",
        "Product has no field or key `productId`",
    );
    expect_hint(&d, "does not come from @sql or @http");
    built(&product_reviews(args, true));
    let bp = built(&product_reviews(
        "source: \"users\", path: \"/r\") @cache(ttl: \"1m\", tags: \"p:{{parent.stock_keeping_unit}}\"",
        false,
    ));
    let tags = resolver(&bp, "Product", "reviews")
        .cache
        .as_ref()
        .map(|c| c.tags.clone());
    assert_eq!(
        tags,
        Some(vec![Template {
            text: "p:{{parent.stock_keeping_unit}}".into(),
            parts: vec![
                TemplatePart::Literal("p:".into()),
                expr(Root::Parent, &["stock_keeping_unit"]),
            ],
        }])
    );
}

#[test]
fn cache_on_a_mutation_field_is_an_error_that_points_to_invalidate() {
    let sdl = format!(
        "{HTTP_HEAD}type Query {{ a: Int }}\ntype Mutation {{\n  m: Int @sql(source: \"main\", query: \"SELECT 1\") @cache(ttl: \"1m\")\n}}\n"
    );
    let d = expect_error(
        &errors(&sdl),
        "7:50",
        "@cache on mutation field Mutation.m: mutations are never cached",
    );
    expect_hint(&d, "use @invalidate(tags:");
}

#[test]
fn cache_on_a_subscription_field_is_an_error() {
    let sdl = "schema @source(name: \"main\", sql: \"sqlite://t.db\") { query: Query, subscription: Subscription }\n\
         type Query { a: Int }\ntype Subscription {\n  ticks: Int @cache(ttl: \"1s\")\n}\n";
    let d = expect_error(
        &errors(sdl),
        "4:14",
        "@cache on subscription field Subscription.ticks: subscriptions are never cached",
    );
    expect_hint(&d, "remove @cache");
}

#[test]
fn tags_stale_if_error_and_public_with_credentials_have_no_effect_without_a_resolver() {
    let sdl = format!(
        "{HEAD}type Query {{\n  a: Int @value(of: 1) @cache(ttl: \"1m\", tags: [\"x\"])\n  p: P @value(of: {{n: 1}})\n}}\n\
         type P {{ n: Int @cache(ttl: \"1m\", scope: PRIVATE, staleIfError: \"1h\", publicWithCredentials: false) }}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "3:48",
        "`tags` has no effect on Query.a: its value is a constant (@value), nothing is stored for it",
    );
    expect_hint(&d, "only sets the response's Cache-Control (ttl and scope)");
    expect_error(
        &errs,
        "6:65",
        "`staleIfError` has no effect on P.n: it reads its value from its parent's data",
    );
    expect_error(
        &errs,
        "6:94",
        "`publicWithCredentials` has no effect on P.n",
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
    // ttl and scope alone are fine there: they set the response's Cache-Control.
    let sdl = format!(
        "{HEAD}type Query {{\n  p: P @value(of: {{n: 1}}) @cache(ttl: \"1m\")\n}}\ntype P {{ n: Int @cache(ttl: \"5s\", scope: PRIVATE) }}\n"
    );
    let bp = built(&sdl);
    let n = resolver(&bp, "P", "n").cache.clone();
    assert_eq!(
        n.map(|c| (c.ttl, c.scope, c.tags.len())),
        Some((std::time::Duration::from_secs(5), CacheScope::Private, 0))
    );
}

#[test]
fn a_types_cache_tags_are_plain_text_or_env() {
    let sdl = format!(
        "{HEAD}type Query {{ p(id: ID): P @sql(source: \"main\", query: \"SELECT 1\") }}\n\
         type P @cache(ttl: \"1m\", tags: [\"p:{{{{parent.id}}}}\", \"{{{{args.id}}}}\", \"r:{{{{env.REGION}}}}\"]) {{ id: ID }}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "3:36",
        "`{{parent.id}}` cannot be used in the tags of a type's @cache",
    );
    expect_hint(&d, "put @cache(tags: [...]) on those fields");
    expect_error(
        &errs,
        "3:53",
        "`{{args.id}}` cannot be used in the tags of a type's @cache",
    );
    expect_error(&errs, "3:70", "environment variable REGION is not set");
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn cache_on_a_root_type_is_an_error() {
    let sdl = format!(
        "{HTTP_HEAD}type Query @cache(ttl: \"1m\") {{ a: Int }}\ntype Mutation @cache(ttl: \"1m\") {{ m: Int }}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "5:12",
        "@cache on query root Query would never apply",
    );
    expect_hint(&d, "put @cache on its fields");
    let d = expect_error(
        &errs,
        "6:15",
        "@cache on mutation root Mutation: mutations are never cached",
    );
    expect_hint(&d, "@invalidate");
}

#[test]
fn cache_goes_on_object_types_and_their_fields_only() {
    let sdl = format!(
        "{HEAD}type Query {{ a: Int }}\ninterface I @cache(ttl: \"1m\") {{ n: Int @cache(ttl: \"1m\") }}\n\
         input In @cache(ttl: \"1m\") {{ x: Int }}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(&errs, "3:13", "@cache is not allowed on an interface");
    expect_hint(&d, "implementing object type");
    let d = expect_error(&errs, "3:40", "@cache is not allowed on an interface field");
    expect_hint(&d, "implementing object type");
    let d = expect_error(&errs, "4:10", "@cache is not allowed on an input type");
    expect_hint(&d, "type Product @cache(ttl: \"60s\")");
}

#[test]
fn cache_written_on_a_type_and_its_extension_is_reported_at_the_second() {
    let sdl = format!(
        "{HEAD}type Query {{ p: P @value(of: {{n: 1}}) }}\ntype P @cache(ttl: \"1m\") {{ n: Int }}\nextend type P @cache(ttl: \"2m\")\n"
    );
    let d = expect_error(&errors(&sdl), "4:15", "@cache is written twice on type P");
    expect_hint(&d, "it is also at 3:8");
}

/// HTTP_HEAD (lines 1-4), then `Mutation.review` (line 8) with `@invalidate({args})`.
fn invalidating(args: &str) -> String {
    format!(
        "{HTTP_HEAD}input In {{ productId: ID!, tags: [String!] }}\ntype Query {{ a: Int }}\ntype Mutation {{\n  \
         review(id: ID!, input: In!): Int @http(source: \"users\", method: POST, path: \"/r\") @invalidate({args})\n}}\n"
    )
}

#[test]
fn invalidate_goes_on_mutation_fields_only() {
    let sdl = format!(
        "{HEAD}type Query {{\n  a: Int @value(of: 1) @invalidate(tags: \"x\")\n}}\ntype Mutation @invalidate(tags: \"x\") {{ m: Int }}\n"
    );
    let errs = errors(&sdl);
    let d = expect_error(
        &errs,
        "3:24",
        "@invalidate on Query.a: only Mutation fields may have one",
    );
    expect_hint(&d, "to cache this field, use @cache(ttl:");
    let d = expect_error(
        &errs,
        "5:15",
        "@invalidate is not allowed on an object type",
    );
    expect_hint(&d, "@invalidate goes on fields of the Mutation type");
    // A type named Mutation that is not the mutation root.
    let sdl = "schema @source(name: \"main\", sql: \"sqlite://t.db\") { query: Query }\ntype Query { a: Int }\n\
         type Mutation { m: Int @invalidate(tags: \"x\") }\n";
    let d = expect_error(
        &errors(sdl),
        "3:24",
        "@invalidate on Mutation.m: only Mutation fields may have one",
    );
    expect_hint(&d, "add `mutation: Mutation` to the schema definition");
}

#[test]
fn invalidate_tags_read_the_mutations_arguments_only() {
    let errs = errors(&invalidating(
        "tags: [\"p:{{args.input.productID}}\", \"{{parent.id}}\", \"{{headers.authorization}}\", \"{{item.x}}\"]",
    ));
    let d = expect_error(
        &errs,
        "8:107",
        "input In (at `args.input`) has no field `productID`",
    );
    expect_hint(&d, "did you mean \"productId\"?");
    let d = expect_error(&errs, "8:135", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "evaluated from the mutation's arguments");
    let d = expect_error(
        &errs,
        "8:152",
        "`{{headers.authorization}}` cannot be used in @invalidate tags",
    );
    expect_hint(&d, "arguments only");
    expect_error(
        &errs,
        "8:181",
        "only available in a transaction step with forEach",
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn invalidate_needs_at_least_one_tag() {
    let d = expect_error(
        &errors(&invalidating("tags: []")),
        "8:103",
        "@invalidate on Mutation.review has no tags",
    );
    expect_hint(&d, "or remove @invalidate");
    let d = expect_error(
        &errors(&invalidating("").replace("@invalidate()", "@invalidate")),
        "8:85",
        "@invalidate is missing its required argument `tags`",
    );
    expect_hint(&d, "a list of strings");
    expect_error(
        &errors(&invalidating("tags: \" \"")),
        "8:103",
        "a tag cannot be empty",
    );
}

const CACHED_SHOP: &str = r#"schema
  @source(name: "main", sql: "sqlite://shop.db")
  @source(name: "reviews", http: "http://127.0.0.1:4001", forwardHeaders: ["authorization"])
{ query: Query, mutation: Mutation }

type Query {
  products(first: Int = 10): [Product!]!
    @sql(source: "main", query: "SELECT * FROM products LIMIT $1", params: ["{{args.first}}"])
    @cache(ttl: "30s", tags: ["catalogue", "products:{{args.first}}"], staleIfError: "10m")
  me: Customer
    @http(source: "reviews", path: "/me", headers: {authorization: "{{headers.authorization}}"})
    @cache(ttl: "5s", scope: PRIVATE)
  product(id: ID!): Product @sql(source: "main", query: "SELECT * FROM products WHERE id = $1", params: ["{{args.id}}"])
}

"A product."
type Product @cache(ttl: "60s", tags: ["catalogue", "region:{{env.REGION | default: 'eu'}}"], publicWithCredentials: true) {
  id: ID!
  name: String! @cache(ttl: "1h")
  reviews: [Review!]!
    @http(source: "reviews", path: "/reviews", query: {productId: "{{parent.id}}"},
          batch: {param: "productId", key: "productId"})
    @cache(ttl: "2m", scope: "PRIVATE", tags: ["product:{{parent.id}}", "reviews"], staleIfError: "1h")
}

type Review { id: ID! productId: ID! rating: Int! }
type Customer { id: ID! name: String }

input ReviewInput { productId: ID!, rating: Int! }

type Mutation {
  postReview(input: ReviewInput!): Review
    @http(source: "reviews", method: POST, path: "/reviews", body: "{{args.input}}")
    @invalidate(tags: ["product:{{args.input.productId}}", "reviews", "{{env.REGION | default: 'eu'}}"])
}
"#;

#[test]
fn cache_and_invalidate_build_into_the_expected_blueprint() {
    use std::time::Duration;

    let bp = built(CACHED_SHOP);
    let cache = |ty: &str, field: &str| resolver(&bp, ty, field).cache.clone();

    let Some(products) = cache("Query", "products") else {
        panic!("Query.products has no cache")
    };
    assert_eq!(products.ttl, Duration::from_secs(30));
    assert_eq!(products.scope, CacheScope::Public);
    assert_eq!(products.stale_if_error, Some(Duration::from_secs(600)));
    assert!(!products.public_with_credentials);
    assert_eq!(products.pos, Pos { line: 9, column: 5 });
    assert_eq!(
        products.tags,
        vec![
            Template::literal("catalogue"),
            Template {
                text: "products:{{args.first}}".into(),
                parts: vec![
                    TemplatePart::Literal("products:".into()),
                    expr(Root::Args, &["first"]),
                ],
            },
        ]
    );

    let Some(me) = cache("Query", "me") else {
        panic!("Query.me has no cache")
    };
    assert_eq!(
        (me.ttl, me.scope, me.tags.len(), me.stale_if_error),
        (Duration::from_secs(5), CacheScope::Private, 0, None)
    );
    assert!(cache("Query", "product").is_none());

    // The parent-resolved field: only a Cache-Control policy.
    let name = cache("Product", "name").map(|c| (c.ttl, c.scope, c.tags.len()));
    assert_eq!(
        name,
        Some((Duration::from_secs(3600), CacheScope::Public, 0))
    );

    let Some(reviews) = cache("Product", "reviews") else {
        panic!("Product.reviews has no cache")
    };
    assert_eq!(reviews.ttl, Duration::from_secs(120));
    assert_eq!(reviews.scope, CacheScope::Private);
    assert_eq!(reviews.stale_if_error, Some(Duration::from_secs(3600)));
    assert_eq!(
        reviews.tags,
        vec![
            Template {
                text: "product:{{parent.id}}".into(),
                parts: vec![
                    TemplatePart::Literal("product:".into()),
                    expr(Root::Parent, &["id"]),
                ],
            },
            Template::literal("reviews"),
        ]
    );

    // The type-level policy, with env resolved into plain text.
    let Some(TypeDef::Object(product)) = bp.types.get("Product") else {
        panic!("Product is not an object type")
    };
    let Some(policy) = &product.cache else {
        panic!("Product has no type-level cache")
    };
    assert_eq!(
        (policy.ttl, policy.scope, policy.stale_if_error),
        (Duration::from_secs(60), CacheScope::Public, None)
    );
    assert!(policy.public_with_credentials);
    assert_eq!(
        policy.pos,
        Pos {
            line: 17,
            column: 14
        }
    );
    assert_eq!(
        policy.tags,
        vec![
            Template::literal("catalogue"),
            Template {
                text: "region:{{env.REGION | default: 'eu'}}".into(),
                parts: vec![TemplatePart::Literal("region:eu".into())],
            },
        ]
    );
    for other in ["Review", "Customer", "Query", "Mutation"] {
        let Some(TypeDef::Object(o)) = bp.types.get(other) else {
            panic!("{other} is not an object type")
        };
        assert!(o.cache.is_none(), "{other}");
    }

    // Invalidation on the mutation, nothing elsewhere.
    let post = resolver(&bp, "Mutation", "postReview");
    assert!(post.cache.is_none());
    assert_eq!(
        post.invalidate,
        vec![
            Template {
                text: "product:{{args.input.productId}}".into(),
                parts: vec![
                    TemplatePart::Literal("product:".into()),
                    expr(Root::Args, &["input", "productId"]),
                ],
            },
            Template::literal("reviews"),
            Template {
                text: "{{env.REGION | default: 'eu'}}".into(),
                parts: vec![TemplatePart::Literal("eu".into())],
            },
        ]
    );
    assert!(resolver(&bp, "Query", "products").invalidate.is_empty());
}

#[test]
fn the_client_schema_strips_cache_and_invalidate_from_fields_and_types() {
    let printed = print_client_schema(&built(CACHED_SHOP));
    for gone in ["@cache", "@invalidate", "ttl", "{{", "catalogue"] {
        assert!(
            !printed.contains(gone),
            "{gone} should not be in:\n{printed}"
        );
    }
    assert!(
        printed.contains("\"A product.\"\ntype Product {\n  id: ID!\n  name: String!\n"),
        "{printed}"
    );
    assert!(
        printed.contains("  postReview(input: ReviewInput!): Review\n"),
        "{printed}"
    );
    assert_eq!(print_client_schema(&built(&printed)), printed);
}

// ---------------------------------------------------------------------------------------------
// Live updates: @subscribe and @publish

/// A SQL source "main" (line 2), an HTTP source "users" (line 3) and all three roots (line 4);
/// user types start on line 5.
const LIVE_HEAD: &str = "schema\n  @source(name: \"main\", sql: \"postgres://db/app\")\n  @source(name: \"users\", http: \"http://users.local\")\n{ query: Query, mutation: Mutation, subscription: Subscription }\n";

/// LIVE_HEAD, then `types`, then the roots `types` does not declare (after them, so the lines
/// of `types` are known).
fn live(types: &str) -> String {
    let mut sdl = [LIVE_HEAD, types].concat();
    if !types.contains("type Mutation") {
        sdl.push_str("type Mutation { x: Int @sql(source: \"main\", query: \"SELECT 1\") }\n");
    }
    if !types.contains("type Subscription") {
        sdl.push_str("type Subscription { x: Int @subscribe(topic: \"x\") }\n");
    }
    sdl
}

#[test]
fn subscribe_goes_on_subscription_fields_only() {
    let errs = errors(&live(
        r#"type Query {
  a: Int @subscribe(topic: "a")
}
type Mutation { m: Int @subscribe(topic: "m") }
type Subscription { s: Int @subscribe(topic: "s") }
interface I { i: Int @subscribe(topic: "i") }
"#,
    ));
    let d = expect_error(
        &errs,
        "6:10",
        "@subscribe on Query.a: only Subscription fields may have one",
    );
    expect_hint(&d, "put it on a field of the Subscription type");
    let d = expect_error(
        &errs,
        "8:24",
        "@subscribe on Mutation.m: only Subscription fields may have one",
    );
    expect_hint(&d, "a mutation sends events with @publish");
    let d = expect_error(
        &errs,
        "10:22",
        "@subscribe is not allowed on an interface field",
    );
    expect_hint(&d, "interfaces have no resolvers");
    assert_eq!(errs.len(), 3, "{errs:?}");
    // A type named Subscription that is not the subscription root.
    let sdl = "schema { query: Query }\ntype Query { a: Int }\ntype Subscription { s: Int @subscribe(topic: \"s\") }\n";
    let d = expect_error(
        &errors(sdl),
        "3:28",
        "@subscribe on Subscription.s: only Subscription fields may have one",
    );
    expect_hint(
        &d,
        "add `subscription: Subscription` to the schema definition",
    );
}

#[test]
fn a_subscription_field_needs_subscribe_and_no_other_resolver() {
    let errs = errors(&live(
        r#"type Query { a: Int }
type Subscription {
  ticks: Int
  rows: Int @sql(source: "main", query: "SELECT 1")
  both: Int @subscribe(topic: "t") @value(of: 1)
  cached: Int @subscribe(topic: "t") @cache(ttl: "1s")
}
"#,
    ));
    let d = expect_error(
        &errs,
        "7:3",
        "subscription field Subscription.ticks has no @subscribe: subscription fields need @subscribe",
    );
    expect_hint(&d, "add @subscribe(topic: \"...\")");
    let d = expect_error(
        &errs,
        "8:13",
        "@sql on subscription field Subscription.rows: subscription fields need @subscribe",
    );
    expect_hint(&d, "replace @sql with @subscribe(topic: \"...\")");
    let d = expect_error(
        &errs,
        "9:36",
        "field Subscription.both has two resolvers: @subscribe and @value",
    );
    expect_hint(&d, "keep one of them");
    expect_error(
        &errs,
        "10:38",
        "@cache on subscription field Subscription.cached: subscriptions are never cached",
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn a_subscribe_topic_is_required_and_cannot_be_empty() {
    let errs = errors(&live(
        r#"type Query { a: Int }
type Subscription {
  a: Int @subscribe
  b: Int @subscribe(topic: " ")
}
"#,
    ));
    let d = expect_error(
        &errs,
        "7:10",
        "@subscribe is missing its required argument `topic`",
    );
    expect_hint(&d, "add `topic:` (a string)");
    let d = expect_error(&errs, "8:28", "@subscribe topic cannot be empty");
    expect_hint(&d, "reviews:{{args.productId}}");
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn subscribe_templates_read_the_fields_arguments_and_env_only() {
    let errs = errors(&live(
        r#"input F { productId: ID! }
type Query { a: Int }
type Subscription {
  s(productId: ID!, f: F): Int @subscribe(topic: "{{args.productID}}:{{args.f.product}}:{{parent.id}}:{{headers.authorization}}:{{steps.a.b}}:{{item.x}}:{{env.NOPE}}")
}
"#,
    ));
    let d = expect_error(
        &errs,
        "8:51",
        "`{{args.productID}}`: field Subscription.s has no argument `productID`",
    );
    expect_hint(&d, "did you mean \"productId\"?");
    let d = expect_error(
        &errs,
        "8:70",
        "input F (at `args.f`) has no field `product`",
    );
    expect_hint(&d, "did you mean \"productId\"?");
    let d = expect_error(&errs, "8:89", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "Subscription.s is a root field and has no parent");
    let d = expect_error(
        &errs,
        "8:103",
        "`{{headers.authorization}}` cannot be used in @subscribe",
    );
    expect_hint(&d, "from the subscription's arguments only");
    expect_error(&errs, "8:129", "there are no transaction steps here");
    expect_error(
        &errs,
        "8:143",
        "only available in a transaction step with forEach",
    );
    expect_error(&errs, "8:154", "environment variable NOPE is not set");
    assert_eq!(errs.len(), 7, "{errs:?}");
}

#[test]
fn subscribe_source_must_name_a_sql_source() {
    let errs = errors(&live(
        r#"type Query { a: Int }
type Subscription {
  a: Int @subscribe(source: "mian", topic: "t")
  b: Int @subscribe(source: "users", topic: "t")
}
"#,
    ));
    let d = expect_error(&errs, "7:29", "unknown source \"mian\"");
    expect_hint(&d, "did you mean \"main\"?");
    let d = expect_error(
        &errs,
        "8:29",
        "source \"users\" is an HTTP source: @subscribe can only LISTEN on a SQL source",
    );
    expect_hint(&d, "without source, events come from the pub/sub");
    assert_eq!(errs.len(), 2, "{errs:?}");
    // A did-you-mean among the SQL sources for an HTTP source's name.
    let sdl = "schema @source(name: \"orders\", sql: \"postgres://db/app\") @source(name: \"order\", http: \"http://o.local\")\n\
               { query: Query, subscription: Subscription }\ntype Query { a: Int }\n\
               type Subscription { s: Int @subscribe(source: \"order\", topic: \"t\") }\n";
    let d = expect_error(&errors(sdl), "4:47", "is an HTTP source");
    expect_hint(&d, "did you mean \"orders\"?");
}

#[test]
fn subscribe_filter_values_are_templates_over_the_arguments() {
    let errs = errors(&live(
        r#"type Query { a: Int }
type Subscription {
  a(orderId: ID!): Int @subscribe(topic: "t", filter: {id: "{{args.orderID}}", by: "{{parent.x}}"})
  b(orderId: ID!): Int @subscribe(topic: "t", filter: {id: 1})
}
"#,
    ));
    let d = expect_error(
        &errs,
        "7:61",
        "field Subscription.a has no argument `orderID`",
    );
    expect_hint(&d, "did you mean \"orderId\"?");
    expect_error(&errs, "7:85", "`{{parent.x}}` cannot be used here");
    let d = expect_error(
        &errs,
        "8:60",
        "argument `filter` of @subscribe must be an object of strings",
    );
    expect_hint(&d, "quote each value");
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn publish_goes_on_mutation_fields_only() {
    let errs = errors(&live(
        r#"type Query {
  a: Int @sql(source: "main", query: "SELECT 1") @publish(topic: "a")
}
type Subscription { s: Int @subscribe(topic: "s") @publish(topic: "s") }
type Mutation @publish(topic: "m") { m: Int @sql(source: "main", query: "SELECT 1") }
"#,
    ));
    let d = expect_error(
        &errs,
        "6:50",
        "@publish on Query.a: only Mutation fields may have one",
    );
    expect_hint(&d, "put it on a Mutation field");
    let d = expect_error(
        &errs,
        "8:51",
        "@publish on Subscription.s: only Mutation fields may have one",
    );
    expect_hint(&d, "subscription fields receive events with @subscribe");
    let d = expect_error(&errs, "9:15", "@publish is not allowed on an object type");
    expect_hint(&d, "@publish goes on fields of the Mutation type");
    assert_eq!(errs.len(), 3, "{errs:?}");
    // A type named Mutation that is not the mutation root.
    let sdl = "schema @source(name: \"main\", sql: \"sqlite://t.db\") { query: Query }\ntype Query { a: Int }\n\
               type Mutation { m: Int @sql(source: \"main\", query: \"SELECT 1\") @publish(topic: \"m\") }\n";
    let d = expect_error(
        &errors(sdl),
        "3:64",
        "@publish on Mutation.m: only Mutation fields may have one",
    );
    expect_hint(&d, "add `mutation: Mutation` to the schema definition");
}

#[test]
fn publish_needs_a_resolver_with_something_to_publish() {
    let errs = errors(&live(
        r#"type Query { a: Int }
type Mutation {
  m: Int @publish(topic: "m")
  v: Int @value(of: 1) @publish(topic: "v", payload: {n: 1})
}
"#,
    ));
    let d = expect_error(
        &errs,
        "7:10",
        "@publish on Mutation.m: nothing to publish, it has no @sql or @http",
    );
    expect_hint(&d, "give the field one of them");
    expect_error(
        &errs,
        "8:24",
        "@publish on Mutation.v: nothing to publish, its value is a constant (@value)",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn publish_topics_and_payloads_read_the_mutations_arguments_only() {
    let errs = errors(&live(
        r#"input ReviewInput { productId: ID!, rating: Int! }
type Query { a: Int }
type Mutation {
  post(input: ReviewInput!): Int @sql(source: "main", query: "SELECT 1")
    @publish(topic: "reviews:{{args.input.productID}}", payload: {id: "{{parent.id}}", by: ["{{headers.authorization}}"], n: 1})
    @publish(topic: "", payload: "{{args.nope}}")
}
"#,
    ));
    let d = expect_error(
        &errs,
        "9:30",
        "input ReviewInput (at `args.input`) has no field `productID`",
    );
    expect_hint(&d, "did you mean \"productId\"?");
    let d = expect_error(&errs, "9:72", "`{{parent.id}}` cannot be used here");
    expect_hint(&d, "Mutation.post is a root field and has no parent");
    let d = expect_error(
        &errs,
        "9:94",
        "`{{headers.authorization}}` cannot be used in @publish",
    );
    expect_hint(&d, "from the mutation's arguments only");
    expect_error(&errs, "10:21", "@publish topic cannot be empty");
    let d = expect_error(
        &errs,
        "10:35",
        "`{{args.nope}}`: field Mutation.post has no argument `nope`",
    );
    expect_hint(&d, "Mutation.post has arguments: input");
    assert_eq!(errs.len(), 5, "{errs:?}");
}

const LIVE_SHOP: &str = r#"schema @source(name: "main", sql: "postgres://shop@db/shop") { query: Query, mutation: Mutation, subscription: Subscription }

type Query {
  product(id: ID!): Product @sql(source: "main", query: "SELECT * FROM products WHERE id = $1", params: ["{{args.id}}"])
}

type Product { id: ID! name: String! }

type Review {
  id: ID!
  rating: Int!
  product: Product @sql(source: "main", query: "SELECT * FROM products WHERE id = $1", params: ["{{parent.product_id}}"])
}

type OrderStatus { id: ID! status: String! }

input ReviewInput { productId: ID!, rating: Int! }

type Mutation {
  postReview(input: ReviewInput!): Review
    @sql(source: "main", query: "INSERT INTO reviews (product_id, rating) VALUES ($1, $2) RETURNING *",
         params: ["{{args.input.productId}}", "{{args.input.rating}}"])
    @publish(topic: "reviews:{{args.input.productId}}")
  shipOrder(id: ID!): OrderStatus
    @sql(source: "main", query: "UPDATE orders SET status = 'SHIPPED' WHERE id = $1 RETURNING id, status",
         params: ["{{args.id}}"])
    @publish(topic: "orders", payload: {id: "{{args.id}}", status: "SHIPPED", urgent: true})
    @publish(topic: "order:{{args.id}}", payload: "{{args.id}}")
}

type Subscription {
  reviewAdded(productId: ID!): Review @subscribe(topic: "reviews:{{args.productId}}")
  orderStatusChanged(orderId: ID!): OrderStatus
    @subscribe(source: "main", topic: "order_status", filter: {id: "{{args.orderId}}"})
  stockChanged: Int @subscribe(topic: "stock:{{env.REGION | default: 'eu'}}")
}
"#;

fn subscribe_def<'b>(bp: &'b Blueprint, field: &str) -> &'b SubscribeDef {
    match &resolver(bp, "Subscription", field).resolver {
        Resolver::Subscribe(s) => s,
        other => panic!("Subscription.{field} is not @subscribe: {other:?}"),
    }
}

#[test]
fn subscribe_and_publish_build_into_the_expected_blueprint() {
    let bp = built(LIVE_SHOP);
    assert_eq!(bp.subscription.as_deref(), Some("Subscription"));
    assert_eq!(bp.mutation.as_deref(), Some("Mutation"));

    let review_added = subscribe_def(&bp, "reviewAdded");
    assert_eq!(
        review_added.topic,
        Template {
            text: "reviews:{{args.productId}}".into(),
            parts: vec![
                TemplatePart::Literal("reviews:".into()),
                expr(Root::Args, &["productId"]),
            ],
        }
    );
    assert_eq!(review_added.source, None);
    assert!(review_added.filter.is_empty());
    assert_eq!(
        review_added.pos,
        Pos {
            line: 32,
            column: 39
        }
    );

    let status = subscribe_def(&bp, "orderStatusChanged");
    assert_eq!(status.topic, Template::literal("order_status"));
    assert_eq!(status.source.as_deref(), Some("main"));
    assert_eq!(
        status.filter,
        vec![(
            "id".to_string(),
            Template {
                text: "{{args.orderId}}".into(),
                parts: vec![expr(Root::Args, &["orderId"])],
            }
        )]
    );
    assert_eq!(
        status.pos,
        Pos {
            line: 34,
            column: 5
        }
    );

    // env is resolved into the text.
    let stock = subscribe_def(&bp, "stockChanged");
    assert_eq!(
        stock.topic,
        Template {
            text: "stock:{{env.REGION | default: 'eu'}}".into(),
            parts: vec![TemplatePart::Literal("stock:eu".into())],
        }
    );

    // The event types are resolver-produced: `{{parent.product_id}}` was accepted on Review.
    assert!(matches!(
        resolver(&bp, "Review", "product").resolver,
        Resolver::Sql(_)
    ));

    let post = &resolver(&bp, "Mutation", "postReview").publish;
    assert_eq!(post.len(), 1);
    assert_eq!(
        post[0].topic,
        Template {
            text: "reviews:{{args.input.productId}}".into(),
            parts: vec![
                TemplatePart::Literal("reviews:".into()),
                expr(Root::Args, &["input", "productId"]),
            ],
        }
    );
    assert_eq!(post[0].payload, None);
    assert_eq!(
        post[0].pos,
        Pos {
            line: 23,
            column: 5
        }
    );

    let ship = &resolver(&bp, "Mutation", "shipOrder").publish;
    assert_eq!(ship.len(), 2);
    assert_eq!(ship[0].topic, Template::literal("orders"));
    assert_eq!(
        ship[0].payload,
        Some(BodyTemplate::Object(vec![
            (
                "id".into(),
                BodyTemplate::Template(Template {
                    text: "{{args.id}}".into(),
                    parts: vec![expr(Root::Args, &["id"])],
                })
            ),
            (
                "status".into(),
                BodyTemplate::Template(Template::literal("SHIPPED"))
            ),
            ("urgent".into(), BodyTemplate::Literal(Value::Boolean(true))),
        ]))
    );
    assert_eq!(ship[1].topic.parts.len(), 2);
    assert_eq!(
        ship[1].payload,
        Some(BodyTemplate::Template(Template {
            text: "{{args.id}}".into(),
            parts: vec![expr(Root::Args, &["id"])],
        }))
    );
    assert_eq!(
        ship.iter().map(|p| p.pos.line).collect::<Vec<_>>(),
        [27, 28]
    );

    // Nothing elsewhere.
    assert!(resolver(&bp, "Query", "product").publish.is_empty());
    assert!(resolver(&bp, "Subscription", "reviewAdded")
        .publish
        .is_empty());
}

#[test]
fn the_client_schema_strips_subscribe_and_publish_and_keeps_the_subscription_root() {
    let printed = print_client_schema(&built(LIVE_SHOP));
    for gone in [
        "@subscribe",
        "@publish",
        "topic",
        "order_status",
        "payload",
        "{{",
    ] {
        assert!(
            !printed.contains(gone),
            "{gone} should not be in:\n{printed}"
        );
    }
    for kept in [
        "type Subscription {\n  reviewAdded(productId: ID!): Review\n  orderStatusChanged(orderId: ID!): OrderStatus\n  stockChanged: Int\n}\n",
        "  postReview(input: ReviewInput!): Review\n  shipOrder(id: ID!): OrderStatus\n}\n",
    ] {
        assert!(printed.contains(kept), "{kept:?} should be in:\n{printed}");
    }
    // Default root names need no schema block; other names are listed in one.
    assert!(!printed.contains("schema {"), "{printed}");
    let printed = print_client_schema(&built(
        "schema { query: Query, subscription: Live }\ntype Query { a: Int }\n\
         type Live { ticks: Int @subscribe(topic: \"ticks\") }\n",
    ));
    assert!(
        printed.starts_with("schema {\n  query: Query\n  subscription: Live\n}\n"),
        "{printed}"
    );
    assert!(
        printed.contains("type Live {\n  ticks: Int\n}\n"),
        "{printed}"
    );
}
