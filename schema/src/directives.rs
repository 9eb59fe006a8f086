//! The directive language's vocabulary: which directives exist, where they may go, which
//! arguments they take and of what type. Checking a directive against this table is generic
//! (unknown directive or argument, wrong place, missing or mistyped argument); what the
//! arguments mean is checked by the builder.

use async_graphql_parser::types::ConstDirective;
use async_graphql_parser::Positioned;
use async_graphql_value::ConstValue;
use indexmap::IndexMap;

use crate::blueprint::Pos;
use crate::diagnostic::Sink;
use crate::names;
use crate::source_map::{SourceMap, Val};

/// Where a directive is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Schema,
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    EnumValue,
    Input,
    InputField,
    /// A field of an object type (where resolvers go).
    ObjectField,
    /// A field of an interface (no resolvers: the implementing objects' fields resolve).
    InterfaceField,
    Argument,
}

impl Location {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Location::Schema => "the schema definition",
            Location::Scalar => "a scalar",
            Location::Object => "an object type",
            Location::Interface => "an interface",
            Location::Union => "a union",
            Location::Enum => "an enum",
            Location::EnumValue => "an enum value",
            Location::Input => "an input type",
            Location::InputField => "an input field",
            Location::ObjectField => "a field",
            Location::InterfaceField => "an interface field",
            Location::Argument => "an argument",
        }
    }
}

/// The type a directive argument must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgType {
    String,
    Int,
    /// `[String!]` (a single string is accepted too, per GraphQL input coercion).
    StringList,
    /// `[{query, params, forEach, as}]` (a single object is accepted too).
    Steps,
    Boolean,
    /// An object whose values are strings: `{name: "{{args.x}}"}`.
    StringMap,
    /// An object (its keys are checked later, like steps').
    Object,
    /// An HTTP method: an enum value `GET` or the string `"GET"` (checked later).
    Method,
    /// A cache scope: an enum value `PUBLIC` or the string `"PUBLIC"` (checked later).
    Scope,
    /// Any constant value (`@value(of:)`).
    Any,
}

impl ArgType {
    fn describe(self) -> &'static str {
        match self {
            ArgType::String => "a string",
            ArgType::Int => "an integer",
            ArgType::StringList => "a list of strings",
            ArgType::Steps => "a list of steps like {query: \"...\", params: [\"...\"]}",
            ArgType::Boolean => "a boolean",
            ArgType::StringMap => "an object of strings like {name: \"{{args.name}}\"}",
            ArgType::Object => "an object like {name: \"...\"}",
            ArgType::Method => "an HTTP method (GET, POST, PUT, PATCH or DELETE)",
            ArgType::Scope => "a cache scope (PUBLIC or PRIVATE)",
            ArgType::Any => "a value",
        }
    }

    /// Whether `v` has this type (list elements included; steps' own keys are checked later).
    fn accepts(self, v: &ConstValue) -> bool {
        match self {
            ArgType::String => matches!(v, ConstValue::String(_)),
            ArgType::Int => matches!(v, ConstValue::Number(n) if n.is_i64() || n.is_u64()),
            ArgType::StringList => match v {
                ConstValue::List(items) => items.iter().all(|i| matches!(i, ConstValue::String(_))),
                ConstValue::String(_) => true,
                _ => false,
            },
            ArgType::Steps => match v {
                ConstValue::List(items) => items.iter().all(|i| matches!(i, ConstValue::Object(_))),
                ConstValue::Object(_) => true,
                _ => false,
            },
            ArgType::Boolean => matches!(v, ConstValue::Boolean(_)),
            ArgType::StringMap => match v {
                ConstValue::Object(o) => o.values().all(|i| matches!(i, ConstValue::String(_))),
                _ => false,
            },
            ArgType::Object => matches!(v, ConstValue::Object(_)),
            ArgType::Method | ArgType::Scope => {
                matches!(v, ConstValue::Enum(_) | ConstValue::String(_))
            }
            ArgType::Any => true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ArgSpec {
    pub name: &'static str,
    pub ty: ArgType,
    pub required: bool,
}

const fn arg(name: &'static str, ty: ArgType, required: bool) -> ArgSpec {
    ArgSpec { name, ty, required }
}

#[derive(Debug)]
pub(crate) struct DirectiveSpec {
    pub name: &'static str,
    pub locations: &'static [Location],
    pub repeatable: bool,
    pub args: &'static [ArgSpec],
    /// Where it goes, for the wrong-place hint.
    pub usage: &'static str,
}

/// Every directive a schema may use: Tributary's and the standard ones that make sense in SDL.
pub(crate) const DIRECTIVES: &[DirectiveSpec] = &[
    DirectiveSpec {
        name: "source",
        locations: &[Location::Schema],
        repeatable: true,
        args: &[
            arg("name", ArgType::String, true),
            arg("sql", ArgType::String, false),
            arg("http", ArgType::String, false),
            arg("poolSize", ArgType::Int, false),
            arg("statementTimeout", ArgType::String, false),
            arg("timeout", ArgType::String, false),
            arg("retries", ArgType::Int, false),
            arg("headers", ArgType::StringMap, false),
            arg("forwardHeaders", ArgType::StringList, false),
            arg("singleFlight", ArgType::Boolean, false),
        ],
        usage: "@source goes on the schema definition: schema @source(name: \"main\", sql: \"...\") { query: Query } \
                (or http: \"...\" for an HTTP service)",
    },
    DirectiveSpec {
        name: "http",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[
            arg("source", ArgType::String, true),
            arg("method", ArgType::Method, false),
            arg("path", ArgType::String, true),
            arg("query", ArgType::StringMap, false),
            arg("headers", ArgType::StringMap, false),
            arg("body", ArgType::Any, false),
            arg("select", ArgType::String, false),
            arg("batch", ArgType::Object, false),
        ],
        usage: "@http goes on fields of object types",
    },
    DirectiveSpec {
        name: "timeout",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[arg("ms", ArgType::Int, true)],
        usage: "@timeout goes on fields of object types that have @http",
    },
    DirectiveSpec {
        name: "sql",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[
            arg("source", ArgType::String, true),
            arg("query", ArgType::String, true),
            arg("params", ArgType::StringList, false),
            arg("key", ArgType::String, false),
            arg("parentKey", ArgType::String, false),
            arg("transaction", ArgType::Steps, false),
        ],
        usage: "@sql goes on fields of object types",
    },
    DirectiveSpec {
        name: "value",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[arg("of", ArgType::Any, true)],
        usage: "@value goes on fields of object types",
    },
    DirectiveSpec {
        name: "map",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[arg("from", ArgType::String, true)],
        usage: "@map goes on fields of object types",
    },
    DirectiveSpec {
        name: "cache",
        locations: &[Location::ObjectField, Location::Object],
        repeatable: false,
        args: &[
            arg("ttl", ArgType::String, true),
            arg("scope", ArgType::Scope, false),
            arg("tags", ArgType::StringList, false),
            arg("staleIfError", ArgType::String, false),
            arg("publicWithCredentials", ArgType::Boolean, false),
        ],
        usage: "@cache goes on fields of object types (price: Int @cache(ttl: \"30s\")) and on object types \
                (type Product @cache(ttl: \"60s\") { ... })",
    },
    DirectiveSpec {
        name: "invalidate",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[arg("tags", ArgType::StringList, true)],
        usage: "@invalidate goes on fields of the Mutation type: \
                placeOrder(...): Order @invalidate(tags: [\"catalogue\"])",
    },
    DirectiveSpec {
        name: "subscribe",
        locations: &[Location::ObjectField],
        repeatable: false,
        args: &[
            arg("topic", ArgType::String, true),
            arg("source", ArgType::String, false),
            arg("filter", ArgType::StringMap, false),
        ],
        usage: "@subscribe goes on fields of the Subscription type: \
                reviewAdded(productId: ID!): Review @subscribe(topic: \"reviews:{{args.productId}}\")",
    },
    DirectiveSpec {
        name: "publish",
        locations: &[Location::ObjectField],
        repeatable: true,
        args: &[
            arg("topic", ArgType::String, true),
            arg("payload", ArgType::Any, false),
        ],
        usage: "@publish goes on fields of the Mutation type: \
                postReview(...): Review @http(...) @publish(topic: \"reviews:{{args.input.productId}}\")",
    },
    DirectiveSpec {
        name: "deprecated",
        locations: &[Location::ObjectField, Location::InterfaceField, Location::EnumValue],
        repeatable: false,
        args: &[arg("reason", ArgType::String, false)],
        usage: "@deprecated goes on fields and enum values",
    },
    DirectiveSpec {
        name: "specifiedBy",
        locations: &[Location::Scalar],
        repeatable: false,
        args: &[arg("url", ArgType::String, true)],
        usage: "@specifiedBy goes on scalars",
    },
];

/// The fields of one `transaction` step object.
pub(crate) const STEP_FIELDS: &[ArgSpec] = &[
    arg("query", ArgType::String, true),
    arg("params", ArgType::StringList, false),
    arg("forEach", ArgType::String, false),
    arg("as", ArgType::String, false),
];

/// The fields of `@http(batch:)`.
pub(crate) const BATCH_FIELDS: &[ArgSpec] = &[
    arg("param", ArgType::String, true),
    arg("key", ArgType::String, true),
    arg("separator", ArgType::String, false),
];

/// The directives that decide how a field is resolved (at most one per field).
pub(crate) const RESOLVERS: &[&str] = &["sql", "value", "http", "subscribe"];

fn spec(name: &str) -> Option<&'static DirectiveSpec> {
    DIRECTIVES.iter().find(|d| d.name == name)
}

/// A directive that passed the generic checks: known, in a valid place, not repeated when it
/// may not be. `args` holds the arguments that are known and well-typed.
#[derive(Debug, Clone)]
pub(crate) struct Checked<'a> {
    pub name: &'a str,
    pub pos: Pos,
    pub args: IndexMap<&'a str, Val<'a>>,
    /// The known arguments written, well-typed or not (so a mistyped one is not also reported
    /// as missing by a later check).
    pub written: Vec<&'a str>,
}

impl<'a> Checked<'a> {
    pub(crate) fn arg(&self, name: &str) -> Option<&Val<'a>> {
        self.args.get(name)
    }

    pub(crate) fn string(&self, name: &str) -> Option<(&'a str, &Val<'a>)> {
        let v = self.args.get(name)?;
        match v.value {
            ConstValue::String(s) => Some((s.as_str(), v)),
            _ => None,
        }
    }
}

/// Checks the directives written at one place; reports what is wrong and returns the
/// directives that are usable.
pub(crate) fn check<'a>(
    sink: &mut Sink,
    map: &'a SourceMap<'a>,
    directives: &'a [Positioned<ConstDirective>],
    location: Location,
) -> Vec<Checked<'a>> {
    let mut out: Vec<Checked<'a>> = Vec::new();
    for d in directives {
        let name = d.node.name.node.as_str();
        let Some(spec) = spec(name) else {
            let known = DIRECTIVES.iter().map(|d| d.name);
            let hint = match names::closest(name, known) {
                Some(c) => format!("did you mean @{c}?"),
                None => format!(
                    "the directives are: {}",
                    DIRECTIVES
                        .iter()
                        .map(|d| format!("@{}", d.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            sink.error_hint(d.pos, format!("unknown directive @{name}"), hint);
            continue;
        };
        if !spec.locations.contains(&location) {
            let hint = match (name, location) {
                ("sql" | "value" | "map" | "http" | "timeout" | "subscribe", Location::InterfaceField) => {
                    "interfaces have no resolvers: put it on the field of each implementing object type"
                        .to_string()
                }
                ("cache", Location::InterfaceField | Location::Interface) => {
                    "put @cache on the fields of each implementing object type, or on those object types"
                        .to_string()
                }
                ("deprecated", Location::Argument | Location::InputField) => {
                    "Tributary supports @deprecated on fields and enum values only".to_string()
                }
                _ => spec.usage.to_string(),
            };
            sink.error_hint(
                d.pos,
                format!("@{name} is not allowed on {}", location.describe()),
                hint,
            );
            continue;
        }
        if !spec.repeatable && out.iter().any(|c| c.name == name) {
            sink.error(
                d.pos,
                format!("@{name} is written twice here; it may appear once"),
            );
            continue;
        }
        let args = check_args(
            sink,
            map,
            &format!("@{name}"),
            d.pos.into(),
            &d.node.arguments,
            spec.args,
        );
        let written = d
            .node
            .arguments
            .iter()
            .map(|(n, _)| n.node.as_str())
            .filter(|n| spec.args.iter().any(|s| s.name == *n))
            .collect();
        out.push(Checked {
            name,
            pos: d.pos.into(),
            args,
            written,
        });
    }
    out
}

fn check_args<'a>(
    sink: &mut Sink,
    map: &'a SourceMap<'a>,
    owner: &str,
    owner_pos: Pos,
    given: &'a [(
        Positioned<async_graphql_value::Name>,
        Positioned<ConstValue>,
    )],
    specs: &'static [ArgSpec],
) -> IndexMap<&'a str, Val<'a>> {
    let mut args: IndexMap<&'a str, Val<'a>> = IndexMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in given {
        let arg_name = name.node.as_str();
        let Some(spec) = specs.iter().find(|s| s.name == arg_name) else {
            let valid = specs.iter().map(|s| s.name);
            let hint = names::did_you_mean(arg_name, valid.clone())
                .unwrap_or_else(|| format!("{owner} takes: {}", names::list(valid)));
            sink.error_hint(
                name.pos,
                format!("unknown argument `{arg_name}` on {owner}"),
                hint,
            );
            continue;
        };
        if seen.contains(&arg_name) {
            sink.error(
                name.pos,
                format!("argument `{arg_name}` of {owner} is given twice"),
            );
            continue;
        }
        seen.push(arg_name);
        let val = Val::new(&value.node, value.pos, map);
        if !spec.ty.accepts(&value.node) {
            report_type(sink, owner, arg_name, spec.ty, &val);
            continue;
        }
        args.insert(arg_name, val);
    }
    for spec in specs.iter().filter(|s| s.required) {
        if !seen.contains(&spec.name) {
            sink.error_hint(
                owner_pos,
                format!("{owner} is missing its required argument `{}`", spec.name),
                format!("add `{}:` ({})", spec.name, spec.ty.describe()),
            );
        }
    }
    args
}

/// Reports a mistyped argument at the offending element when it is inside a list.
fn report_type(sink: &mut Sink, owner: &str, arg_name: &str, ty: ArgType, val: &Val<'_>) {
    let culprit = val
        .items()
        .into_iter()
        .chain(val.entries().into_iter().map(|(_, _, v)| v))
        .find(|item| match ty {
            ArgType::StringList | ArgType::StringMap => {
                !matches!(item.value, ConstValue::String(_))
            }
            ArgType::Steps => !matches!(item.value, ConstValue::Object(_)),
            _ => false,
        })
        .unwrap_or_else(|| val.clone());
    let hint = match ty {
        ArgType::StringList => Some("quote each entry: params: [\"{{args.id}}\"]".to_string()),
        ArgType::StringMap => Some("quote each value: {name: \"{{args.name}}\"}".to_string()),
        ArgType::Int if matches!(val.value, ConstValue::String(_)) => {
            Some("write the number without quotes".to_string())
        }
        _ => None,
    };
    sink.error_opt(
        culprit.pos(),
        format!(
            "argument `{arg_name}` of {owner} must be {}, found {}",
            ty.describe(),
            crate::values::describe(culprit.value)
        ),
        hint,
    );
}

/// Checks one `transaction` step object like a directive's arguments.
pub(crate) fn check_step<'a>(
    sink: &mut Sink,
    step: &Val<'a>,
    index: usize,
) -> IndexMap<&'a str, Val<'a>> {
    check_object(
        sink,
        step,
        &format!("transaction step {}", index + 1),
        "a step",
        STEP_FIELDS,
    )
}

/// Checks an object value (a step, `@http(batch:)`) like a directive's arguments: `owner`
/// names it in messages, `noun` in the list of valid keys.
pub(crate) fn check_object<'a>(
    sink: &mut Sink,
    object: &Val<'a>,
    owner: &str,
    noun: &str,
    fields: &'static [ArgSpec],
) -> IndexMap<&'a str, Val<'a>> {
    let mut args: IndexMap<&'a str, Val<'a>> = IndexMap::new();
    let entries = object.entries();
    for (name, name_pos, val) in entries {
        let Some(spec) = fields.iter().find(|s| s.name == name) else {
            let valid = fields.iter().map(|s| s.name);
            let hint = names::did_you_mean(name, valid.clone())
                .unwrap_or_else(|| format!("{noun} takes: {}", names::list(valid)));
            sink.error_hint(name_pos, format!("unknown key `{name}` in {owner}"), hint);
            continue;
        };
        if !spec.ty.accepts(val.value) {
            report_type(sink, owner, name, spec.ty, &val);
            continue;
        }
        args.insert(name, val);
    }
    for spec in fields.iter().filter(|s| s.required) {
        if !object.entries().iter().any(|(n, _, _)| *n == spec.name) {
            sink.error_hint(
                object.pos(),
                format!("{owner} is missing `{}`", spec.name),
                format!("add `{}:` ({})", spec.name, spec.ty.describe()),
            );
        }
    }
    args
}
