//! `schema.graphql` → a validated [`Blueprint`].
//!
//! A Tributary BFF is declared in one file: GraphQL SDL plus directives (`@source`, `@sql`,
//! `@http`, `@timeout`, `@value`, `@map`, `@cache`, `@invalidate`, `@subscribe`, `@publish`; see
//! `docs/directives.md`).
//! This crate turns that text into the [`Blueprint`] the engine builds its executable schema from, and reports every
//! problem it can find without a database or a network, each at `file:line:col` with a hint. It is pure: the caller
//! passes the file's text and an environment snapshot (only `{{env.X}}` reads it), so the same
//! input always gives the same result and tests need no files or environment.
//!
//! ```
//! use std::collections::HashMap;
//!
//! let sdl = r#"
//!     schema @source(name: "main", sql: "sqlite://app.db") { query: Query }
//!     type Query { greet: String! @value(of: "Hello World!") }
//! "#;
//! let bp = tributary_schema::build("schema.graphql", sdl, &HashMap::new()).map_err(|e| e.to_string())?;
//! assert_eq!(bp.query, "Query");
//! assert!(!tributary_schema::print_client_schema(&bp).contains("@value"));
//! # Ok::<(), String>(())
//! ```
//!
//! # Layout
//! - [`blueprint`]: the output types (shared with the engine).
//! - `build`: the passes from text to Blueprint: `collect` (types by name, extensions
//!   merged), `sources` (`@source`, SQL and HTTP), `types` (types, fields, arguments, values,
//!   interfaces), `fields` (resolver directives and their templates, checked against the
//!   field), `http` (`@http`/`@timeout`, and the header rules shared with HTTP sources),
//!   `cache` (`@cache` on fields and types, `@invalidate` on mutations, and their tags),
//!   `live` (`@subscribe` on subscription fields, `@publish` on mutations).
//! - `directives`: the directive vocabulary (names, places, argument types) and its generic
//!   checks.
//! - `template`: the `{{...}}` syntax; `sql_text`: placeholders and SELECT lists in SQL text.
//! - `source_map`: positions inside values and strings, finer than the parser's.
//! - `names`: snake_case and "did you mean" suggestions; `values`: values as GraphQL text;
//!   `duration`: `"500ms"`-style durations.
//! - `diagnostic`: [`Diagnostic`] and [`Diagnostics`].
//! - `print`: the client-facing SDL.

pub mod blueprint;
mod build;
mod diagnostic;
mod directives;
mod duration;
mod names;
mod print;
mod source_map;
mod sql_text;
mod template;
mod values;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use blueprint::*;
pub use diagnostic::{Diagnostic, Diagnostics};
/// Shared with the server settings, so both accept the same durations.
pub use duration::parse_duration;
/// The field-name rule's snake_case (`categoryId` → `category_id`), shared with the engine so
/// keys written by users (`parentKey`, `{{parent.x}}`) are read by the same rule.
pub use names::snake_case;

/// Parses and validates `schema.graphql`.
///
/// `file` is the path used in messages; `env` is the environment snapshot, read only by
/// `{{env.X}}` templates (which are resolved here, so the Blueprint holds final values). A
/// syntax error gives one diagnostic; otherwise every semantic error of the file is reported.
pub fn build(
    file: &str,
    sdl: &str,
    env: &HashMap<String, String>,
) -> Result<Blueprint, Diagnostics> {
    build::build(file, sdl, env)
}

/// The client-facing SDL: the schema with Tributary's directives and `@source` removed and
/// everything else kept (descriptions, deprecations, defaults). Scalars that were used without
/// being declared (`DateTime`, `JSON`, ...) are declared, so the result is a complete schema
/// that any GraphQL tool accepts.
pub fn print_client_schema(bp: &Blueprint) -> String {
    print::client_schema(bp)
}
