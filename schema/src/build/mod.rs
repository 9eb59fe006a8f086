//! Building a [`Blueprint`] from the schema text, in passes:
//!
//! 1. parse (a syntax error stops here: nothing after it can be trusted);
//! 2. [`collect`]: definitions by type name, extensions merged, duplicates reported;
//! 3. [`sources`]: `@source` on the schema definition (SQL and HTTP), resolved from the
//!    environment snapshot;
//! 4. roots (`schema { query: ... }` or the default names);
//! 5. [`types`]: every type, field, argument and value, with [`fields`] checking resolver
//!    directives and their templates against the field they are on, [`cache`] the
//!    `@cache` and `@invalidate` policies of fields and types, and [`live`] `@subscribe` on
//!    subscription fields and `@publish` on mutations.
//!
//! Every pass reports into one [`Sink`] and carries on, so a run lists all the errors of the
//! file; the Blueprint is only returned when there are none.

mod cache;
mod collect;
mod fields;
mod http;
mod live;
mod sources;
mod types;

use std::collections::{HashMap, HashSet};

use async_graphql_parser::types::{BaseType, Type};
use async_graphql_parser::Positioned;
use async_graphql_value::Name;
use indexmap::IndexMap;

use crate::blueprint::{Blueprint, Pos, ScalarDef, Source, TypeDef, TypeRef};
use crate::diagnostic::{Diagnostic, Diagnostics, Sink};
use crate::names;
use crate::source_map::SourceMap;

use collect::{RawKind, RawType};

/// GraphQL's own scalars: always available, never declared.
pub(crate) const BUILTIN_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

/// Tributary's extra scalars: usable without declaring them (and declarable as `scalar X`).
/// The description is what clients see when the scalar was not declared by the user.
pub(crate) const WELL_KNOWN_SCALARS: [(&str, &str); 5] = [
    (
        "DateTime",
        "A date and time as an RFC 3339 string, e.g. `2024-05-01T12:00:00Z`.",
    ),
    ("JSON", "Any JSON value."),
    ("Date", "A calendar date as a `YYYY-MM-DD` string."),
    ("UUID", "A UUID as a string."),
    (
        "Decimal",
        "A decimal number as a string, so no precision is lost.",
    ),
];

pub(crate) fn build(
    file: &str,
    sdl: &str,
    env: &HashMap<String, String>,
) -> Result<Blueprint, Diagnostics> {
    let doc = match async_graphql_parser::parse_schema(sdl) {
        Ok(doc) => doc,
        Err(e) => return Err(Diagnostics(vec![syntax_error(file, sdl, &e)])),
    };
    let map = SourceMap::new(sdl);
    let mut sink = Sink::new(file);
    let collected = collect::collect(&mut sink, &doc);
    let mut b = Builder {
        sink,
        map: &map,
        env,
        types: collected.types,
        declared_sources: HashMap::new(),
        sources: IndexMap::new(),
        roots: Roots::default(),
        resolver_produced: HashSet::new(),
        used_scalars: IndexMap::new(),
    };
    b.sources(&collected.schemas);
    b.roots(&collected.schemas);
    b.find_resolver_produced();
    let mut types = b.build_types();
    for (name, pos) in std::mem::take(&mut b.used_scalars) {
        let description = WELL_KNOWN_SCALARS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.to_string());
        types.insert(
            name.to_string(),
            TypeDef::Scalar(ScalarDef {
                name: name.to_string(),
                description,
                pos,
            }),
        );
    }
    if b.sink.has_errors() {
        return Err(b.sink.finish());
    }
    Ok(Blueprint {
        file: file.to_string(),
        sources: b.sources,
        query: b.roots.query.unwrap_or_default(),
        mutation: b.roots.mutation,
        subscription: b.roots.subscription,
        types,
    })
}

/// The parser's error as one diagnostic at its position, worded for people (pest names its
/// grammar rules, like `type_` or `const_value`, in the message).
fn syntax_error(file: &str, sdl: &str, e: &async_graphql_parser::Error) -> Diagnostic {
    let pos = e
        .positions()
        .next()
        .map_or(Pos { line: 1, column: 1 }, |p| Pos {
            line: p.line,
            column: p.column,
        });
    let message = match e {
        async_graphql_parser::Error::Syntax { message, .. } => {
            let expected = message
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("= "))
                .unwrap_or(message.as_str())
                .trim();
            format!("syntax error: {}", humanize_rules(expected))
        }
        other => other.to_string(),
    };
    let hint = if sdl.trim().is_empty() {
        Some("the schema is empty: it needs at least `type Query { ... }`".to_string())
    } else {
        None
    };
    Diagnostic {
        file: file.to_string(),
        pos,
        message,
        hint,
    }
}

fn humanize_rules(text: &str) -> String {
    const RULES: [(&str, &str); 14] = [
        (
            "type_system_definition",
            "a type, schema or directive definition",
        ),
        ("operation_type_definition", "a root like `query: Query`"),
        (
            "input_value_definition",
            "an argument or input field like `id: ID!`",
        ),
        ("enum_value_definition", "an enum value"),
        ("field_definition", "a field like `name: String`"),
        ("const_directives", "a directive"),
        ("const_directive", "a directive"),
        ("const_arguments", "directive arguments"),
        ("const_value", "a value"),
        ("default_value", "a default value"),
        ("type_", "a type"),
        ("string", "a string"),
        ("name", "a name"),
        ("EOI", "end of file"),
    ];
    text.split_inclusive([' ', ','])
        .map(|word| {
            let bare = word.trim_end_matches([' ', ',']);
            let rest = &word[bare.len()..];
            match RULES.iter().find(|(rule, _)| *rule == bare) {
                Some((_, human)) => format!("{human}{rest}"),
                None => word.to_string(),
            }
        })
        .collect()
}

/// The root operation types.
#[derive(Debug, Default)]
struct Roots {
    query: Option<String>,
    mutation: Option<String>,
    subscription: Option<String>,
}

/// What a type name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Int`, `Float`, `String`, `Boolean`, `ID`.
    Builtin,
    /// `DateTime`, `JSON`, `Date`, `UUID`, `Decimal` (declared or not).
    WellKnown,
    /// A user-declared custom scalar.
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    Input,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Builtin | Kind::WellKnown | Kind::Scalar => "a scalar",
            Kind::Object => "an object type",
            Kind::Interface => "an interface",
            Kind::Union => "a union",
            Kind::Enum => "an enum",
            Kind::Input => "an input type",
        }
    }
}

/// Whether a type is used for output (fields) or input (arguments, input fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Output,
    Input,
}

struct Builder<'a> {
    sink: Sink,
    map: &'a SourceMap<'a>,
    env: &'a HashMap<String, String>,
    types: IndexMap<&'a str, RawType<'a>>,
    /// Every `@source` name written, with its position, including sources whose settings had
    /// errors (so a field using them gets no second, misleading "unknown source" error).
    declared_sources: HashMap<String, Pos>,
    sources: IndexMap<String, Source>,
    roots: Roots,
    /// Types whose data may come from a resolver: SQL rows, JSON from an HTTP service or events
    /// (the type of an `@sql`, `@http` or `@subscribe` field, and the implementations/members
    /// when that is an interface/union). Rows and JSON objects can hold keys that are not fields, so
    /// `{{parent.x}}` on these types is accepted here and only found missing per request.
    resolver_produced: HashSet<&'a str>,
    /// Well-known scalars used but not declared, with their first use.
    used_scalars: IndexMap<&'static str, Pos>,
}

impl<'a> Builder<'a> {
    fn kind(&self, name: &str) -> Option<Kind> {
        if BUILTIN_SCALARS.contains(&name) {
            return Some(Kind::Builtin);
        }
        let well_known = WELL_KNOWN_SCALARS.iter().any(|(n, _)| *n == name);
        match self.types.get(name).map(|t| t.kind) {
            Some(RawKind::Scalar) if well_known => Some(Kind::WellKnown),
            Some(RawKind::Scalar) => Some(Kind::Scalar),
            Some(RawKind::Object) => Some(Kind::Object),
            Some(RawKind::Interface) => Some(Kind::Interface),
            Some(RawKind::Union) => Some(Kind::Union),
            Some(RawKind::Enum) => Some(Kind::Enum),
            Some(RawKind::Input) => Some(Kind::Input),
            None if well_known => Some(Kind::WellKnown),
            None => None,
        }
    }

    fn is_root(&self, type_name: &str) -> bool {
        [
            &self.roots.query,
            &self.roots.mutation,
            &self.roots.subscription,
        ]
        .iter()
        .any(|r| r.as_deref() == Some(type_name))
    }

    /// Every type name a reference may use, for suggestions.
    fn all_type_names(&self) -> Vec<&str> {
        let mut all: Vec<&str> = BUILTIN_SCALARS.to_vec();
        all.extend(WELL_KNOWN_SCALARS.iter().map(|(n, _)| *n));
        all.extend(self.types.keys().copied());
        all
    }

    /// Resolves a type reference and checks the named type exists and suits the usage.
    /// `what` names the referring thing for messages (`field Query.product`).
    fn type_ref(&mut self, ty: &Positioned<Type>, usage: Usage, what: &str) -> TypeRef {
        let (tr, depth) = convert_type(&ty.node);
        let name = tr.name().to_string();
        // The name follows the `[`s of list types (type references have no inner spaces).
        let pos = Pos {
            line: ty.pos.line,
            column: ty.pos.column + depth,
        };
        match self.kind(&name) {
            None => {
                let hint = names::did_you_mean(&name, self.all_type_names()).unwrap_or_else(|| {
                    let keyword = if usage == Usage::Input {
                        "input"
                    } else {
                        "type"
                    };
                    format!("declare it (`{keyword} {name} {{ ... }}` or `scalar {name}`)")
                });
                self.sink
                    .error_hint(pos, format!("unknown type {name} in {what}"), hint);
            }
            Some(kind) => {
                if kind == Kind::WellKnown && !self.types.contains_key(name.as_str()) {
                    if let Some((n, _)) = WELL_KNOWN_SCALARS.iter().find(|(n, _)| *n == name) {
                        self.used_scalars.entry(n).or_insert(pos);
                    }
                }
                match (usage, kind) {
                    (Usage::Output, Kind::Input) => self.sink.error_hint(
                        pos,
                        format!("{what} returns {name}, which is an input type"),
                        "fields return object types, interfaces, unions, enums or scalars; \
                         input types are for arguments",
                    ),
                    (Usage::Input, Kind::Object | Kind::Interface | Kind::Union) => {
                        self.sink.error_hint(
                            pos,
                            format!("{what} has type {name}, which is {}", kind.describe()),
                            format!(
                                "arguments and input fields take input types, enums or scalars; \
                             declare `input {name}Input {{ ... }}`"
                            ),
                        )
                    }
                    _ => {}
                }
            }
        }
        tr
    }

    fn roots(&mut self, schemas: &[&'a Positioned<async_graphql_parser::types::SchemaDefinition>]) {
        let mut defined: Option<Pos> = None;
        let mut query: Option<&'a Positioned<Name>> = None;
        let mut mutation: Option<&'a Positioned<Name>> = None;
        let mut subscription: Option<&'a Positioned<Name>> = None;
        let mut any_root = false;
        for s in schemas {
            if !s.node.extend {
                if let Some(first) = defined {
                    self.sink.error_hint(
                        s.pos,
                        "the schema definition is written twice",
                        format!("first written at {first}; merge them, or use `extend schema`"),
                    );
                    continue;
                }
                defined = Some(s.pos.into());
            }
            for (slot, given) in [
                (&mut query, &s.node.query),
                (&mut mutation, &s.node.mutation),
                (&mut subscription, &s.node.subscription),
            ] {
                if let Some(given) = given {
                    any_root = true;
                    slot.get_or_insert(given);
                }
            }
        }
        if !any_root {
            // No root operation types written: GraphQL's default names.
            for (slot, name) in [
                (&mut self.roots.query, "Query"),
                (&mut self.roots.mutation, "Mutation"),
                (&mut self.roots.subscription, "Subscription"),
            ] {
                if self
                    .types
                    .get(name)
                    .is_some_and(|t| t.kind == RawKind::Object)
                {
                    *slot = Some(name.to_string());
                }
            }
            if self.roots.query.is_none() {
                let (pos, message) = match self.types.get("Query") {
                    Some(t) => (
                        t.pos,
                        format!("Query must be an object type, not {}", t.kind.describe()),
                    ),
                    None => (
                        Pos { line: 1, column: 1 },
                        "the schema has no Query type".to_string(),
                    ),
                };
                self.sink
                    .error_hint(pos, message, "every GraphQL API needs `type Query { ... }`");
            }
            return;
        }
        let Some(query) = query else {
            let pos = defined
                .or_else(|| schemas.first().map(|s| s.pos.into()))
                .unwrap_or_default();
            self.sink.error_hint(
                pos,
                "the schema definition has no query root",
                "add `query: Query`",
            );
            return;
        };
        let mut checked = |slot: Option<&Positioned<Name>>, op: &str| -> Option<String> {
            let name = slot?;
            match self.types.get(name.node.as_str()) {
                Some(t) if t.kind == RawKind::Object => Some(name.node.to_string()),
                Some(t) => {
                    self.sink.error(
                        name.pos,
                        format!(
                            "the {op} root {} must be an object type, not {}",
                            name.node,
                            t.kind.describe()
                        ),
                    );
                    None
                }
                None => {
                    let hint = names::did_you_mean(&name.node, self.types.keys().copied())
                        .unwrap_or_else(|| format!("declare `type {} {{ ... }}`", name.node));
                    self.sink.error_hint(
                        name.pos,
                        format!("unknown {op} root type {}", name.node),
                        hint,
                    );
                    None
                }
            }
        };
        self.roots.query = checked(Some(query), "query");
        self.roots.mutation = checked(mutation, "mutation");
        self.roots.subscription = checked(subscription, "subscription");
    }

    fn find_resolver_produced(&mut self) {
        let mut produced: Vec<&'a str> = Vec::new();
        for t in self.types.values() {
            for f in &t.fields {
                if f.node
                    .directives
                    .iter()
                    .any(|d| matches!(d.node.name.node.as_str(), "sql" | "http" | "subscribe"))
                {
                    produced.push(base_name(&f.node.ty.node));
                }
            }
        }
        let mut expanded = produced.clone();
        for name in &produced {
            let Some(t) = self.types.get(name) else {
                continue;
            };
            match t.kind {
                RawKind::Union => expanded.extend(t.members.iter().map(|m| m.node.as_str())),
                RawKind::Interface => expanded.extend(
                    self.types
                        .values()
                        .filter(|o| o.implements.iter().any(|i| i.node == *name))
                        .map(|o| o.name),
                ),
                _ => {}
            }
        }
        self.resolver_produced = expanded.into_iter().collect();
    }
}

/// The AST type as a [`TypeRef`], and how many list levels wrap the name.
fn convert_type(ty: &Type) -> (TypeRef, usize) {
    let (inner, depth) = match &ty.base {
        BaseType::Named(n) => (TypeRef::Named(n.to_string()), 0),
        BaseType::List(item) => {
            let (item, depth) = convert_type(item);
            (TypeRef::List(Box::new(item)), depth + 1)
        }
    };
    if ty.nullable {
        (inner, depth)
    } else {
        (TypeRef::NonNull(Box::new(inner)), depth)
    }
}

/// The innermost named type of an AST type.
fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(item) => base_name(item),
    }
}
