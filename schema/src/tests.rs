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
        })
        .collect();
    assert_eq!(
        urls,
        vec![
            ("main", "sqlite://dev.db", Some(4)),
            ("other", "postgres://app:s3cret@db/app", None)
        ]
    );
    let SourceKind::Sql(main) = &bp.sources["main"].kind;
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
    let SourceKind::Sql(main) = &bp.sources["main"].kind;
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
    let bp = built("type Query { a: Int }\ntype Mutation { b: Int }\ntype Subscription { c: Int }");
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
