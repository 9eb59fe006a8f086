//! Fields: their resolver directives (`@sql`, `@value`, `@map`; `@http` and `@timeout` are in
//! [`super::http`], `@subscribe` and `@publish` in [`super::live`]) and the templates inside them, checked against the field they are on (its
//! arguments, its parent type, whether it is a root field, the transaction steps around the
//! template, the client headers its source forwards).

use std::time::Duration;

use async_graphql_parser::types::{BaseType, FieldDefinition, Type};
use async_graphql_parser::Positioned;
use async_graphql_value::ConstValue;

use crate::blueprint::{
    Expr, FieldDef, Pos, Resolver, Root, SourceKey, SourceKind, SqlBatch, SqlResolver, SqlStep,
    Template, TemplatePart, Value,
};
use crate::directives::{self, Checked, Location, RESOLVERS};
use crate::names;
use crate::source_map::Val;
use crate::sql_text::{self, Placeholder};
use crate::template::{self, RawExpr, RawPart, RawRoot};

use super::collect::{RawKind, RawType};
use super::types::deprecation;
use super::{Builder, Kind, Usage};

/// What a template may refer to where it is written.
#[derive(Debug, Clone, Default)]
pub(super) struct TemplateContext<'a> {
    /// Only `{{env.X}}` (the source URL, read before any request).
    pub(super) env_only: bool,
    /// The field the template belongs to: its parent type and definition. `None` (and not
    /// `env_only`) for an HTTP source's headers: `env` and `headers` only.
    pub(super) field: Option<(&'a str, &'a FieldDefinition)>,
    /// Why `{{parent...}}` cannot be used here, if it cannot.
    pub(super) parent_forbidden: Option<String>,
    /// In a transaction: the steps named before this point, and all step names.
    pub(super) steps: Option<(Vec<String>, Vec<String>)>,
    /// In a `forEach` step: the element type, when known from `{{args...}}`.
    pub(super) item: Option<Option<&'a Type>>,
    /// Whether `{{headers.X}}` may be read here, and which.
    pub(super) headers: HeaderAccess,
}

impl TemplateContext<'_> {
    pub(super) fn env_only() -> Self {
        TemplateContext {
            env_only: true,
            ..Default::default()
        }
    }

    /// The headers of HTTP source `source`: `env` and its forwarded client headers.
    pub(super) fn source_headers(source: &str, forward: &[String]) -> Self {
        TemplateContext {
            headers: HeaderAccess::Forward {
                source: source.to_string(),
                names: forward.to_vec(),
            },
            ..Default::default()
        }
    }
}

/// Which client headers a template may read with `{{headers.X}}`.
#[derive(Debug, Clone, Default)]
pub(super) enum HeaderAccess {
    /// None: `@sql` templates (not supported there yet).
    #[default]
    NotAvailable,
    /// Those the HTTP source forwards (`forwardHeaders`, lower-case).
    Forward { source: String, names: Vec<String> },
    /// Any: the source is unknown or not usable (reported already).
    Unchecked,
    /// None, because of where the template is (`@cache`/`@invalidate` tags): `place` names it
    /// in the message ("@cache tags"), `why` is the hint.
    Forbidden {
        place: &'static str,
        why: &'static str,
    },
}

/// Which kind of source a resolver directive needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SourceUse {
    Sql,
    Http,
}

impl<'a> Builder<'a> {
    pub(super) fn field(
        &mut self,
        t: &RawType<'a>,
        f: &'a Positioned<FieldDefinition>,
    ) -> FieldDef {
        let def = &f.node;
        let name = def.name.node.as_str();
        self.reserved_name(name, def.name.pos.into());
        let owner = format!("{}.{name}", t.name);
        let ty = self.type_ref(&def.ty, Usage::Output, &format!("field {owner}"));
        let arg_defs: Vec<_> = def.arguments.iter().collect();
        let args = self.input_values(
            &arg_defs,
            &format!("field {owner}"),
            "argument",
            Location::Argument,
        );
        let location = if t.kind == RawKind::Interface {
            Location::InterfaceField
        } else {
            Location::ObjectField
        };
        let dirs = directives::check(&mut self.sink, self.map, &def.directives, location);

        let mut resolver = Resolver::Parent;
        let mut resolver_dir: Option<&Checked<'a>> = None;
        for d in dirs.iter().filter(|d| RESOLVERS.contains(&d.name)) {
            if let Some(first) = resolver_dir {
                self.sink.error_hint(
                    d.pos,
                    format!(
                        "field {owner} has two resolvers: @{} and @{}",
                        first.name, d.name
                    ),
                    "a field gets its value one way: keep one of them",
                );
                continue;
            }
            resolver_dir = Some(d);
            resolver = match d.name {
                "sql" => Resolver::Sql(self.sql(t, def, d)),
                "http" => Resolver::Http(self.http(t, def, d)),
                "subscribe" => Resolver::Subscribe(self.subscribe(t, def, d)),
                _ => Resolver::Value(self.value(def, d)),
            };
        }
        if self.roots.subscription.as_deref() == Some(t.name) {
            self.subscription_resolver(&owner, def, &dirs, resolver_dir);
        }
        if let Some(tm) = dirs.iter().find(|d| d.name == "timeout") {
            let ms = tm.arg("ms").and_then(|v| match v.value {
                ConstValue::Number(n) => match n.as_u64().filter(|ms| *ms > 0) {
                    Some(ms) => Some(ms),
                    None => {
                        self.sink.error_hint(
                            v.pos(),
                            format!("@timeout(ms:) must be more than zero, found {n}"),
                            "give the field's time limit in milliseconds, e.g. @timeout(ms: 500)",
                        );
                        None
                    }
                },
                _ => None,
            });
            match &mut resolver {
                Resolver::Http(h) => h.timeout = ms.map(Duration::from_millis),
                _ => self.sink.error_hint(
                    tm.pos,
                    format!("@timeout applies to @http fields, and {owner} has no @http"),
                    "it bounds the field's HTTP call; SQL statements are bounded by their source's \
                     statementTimeout",
                ),
            }
        }

        let snake = names::snake_case(name);
        let mut source_key = SourceKey::Rule {
            name: name.to_string(),
            snake,
        };
        if let Some(m) = dirs.iter().find(|d| d.name == "map") {
            if let Some(r) = resolver_dir {
                self.sink.error_hint(
                    m.pos,
                    format!("@map cannot be combined with @{} on field {owner}", r.name),
                    if r.name == "sql" {
                        "@map names the key read from the parent's data, but this field gets its value from \
                         its own statement: to rename a column, use AS in the query"
                    } else if r.name == "http" {
                        "@map names the key read from the parent's data, but this field gets its value from \
                         its own HTTP call: to pick part of the response, use select"
                    } else if r.name == "subscribe" {
                        "@map names the key read from the parent's data, but this field's values are the \
                         events of its topic (@subscribe): remove @map"
                    } else {
                        "@map names the key read from the parent's data, but this field's value is given by \
                         @value: remove one of them"
                    },
                );
            }
            if let Some((from, v)) = m.string("from") {
                if from.is_empty() {
                    self.sink.error(v.pos(), "@map(from:) cannot be empty");
                }
                source_key = SourceKey::Explicit(from.to_string());
            }
        }

        let cache = dirs
            .iter()
            .find(|d| d.name == "cache")
            .and_then(|c| self.field_cache(t, def, c, &resolver));
        let invalidate = dirs
            .iter()
            .find(|d| d.name == "invalidate")
            .map(|d| self.invalidate(t, def, d))
            .unwrap_or_default();
        let publish = dirs
            .iter()
            .filter(|d| d.name == "publish")
            .filter_map(|d| self.publish(t, def, d, &resolver))
            .collect();

        FieldDef {
            name: name.to_string(),
            description: def.description.as_ref().map(|d| d.node.clone()),
            ty,
            args,
            resolver,
            source_key,
            deprecation: deprecation(&dirs),
            cache,
            invalidate,
            publish,
            pos: def.name.pos.into(),
        }
    }

    fn value(&mut self, def: &'a FieldDefinition, d: &Checked<'a>) -> Value {
        let Some(of) = d.arg("of") else {
            return Value::Null;
        };
        if let Err(problem) = self.fits(of.value, &def.ty.node, Usage::Output) {
            self.sink.error(
                of.pos(),
                format!(
                    "@value(of:) does not fit the field's type {}: {problem}",
                    def.ty.node
                ),
            );
        }
        of.value.clone()
    }

    fn sql(&mut self, t: &RawType<'a>, def: &'a FieldDefinition, d: &Checked<'a>) -> SqlResolver {
        let owner = format!("{}.{}", t.name, def.name.node);
        let root = self.is_root(t.name);
        let parent_type = t.name;

        let source = match d.string("source") {
            Some((name, v)) => {
                self.check_source(name, v, SourceUse::Sql);
                name.to_string()
            }
            None => String::new(),
        };

        let key = d.string("key");
        let parent_key = d.string("parentKey");
        let batch = match (key, parent_key) {
            (Some((key, _)), Some((parent_key, pk_val))) => {
                if root {
                    self.sink.error_hint(
                        pk_val.pos(),
                        format!("the batched form (key/parentKey) on root field {owner}: root fields have no parent"),
                        "remove key and parentKey, and bind the arguments with params",
                    );
                } else {
                    self.check_parent_key(
                        parent_type,
                        parent_key,
                        pk_val.pos(),
                        &format!("parentKey \"{parent_key}\""),
                    );
                }
                Some(SqlBatch {
                    key: key.to_string(),
                    parent_key: parent_key.to_string(),
                })
            }
            (Some((_, v)), None) => {
                self.sink.error_hint(
                    v.pos(),
                    "@sql has `key` but no `parentKey`",
                    "the batched form needs both: rows are matched to parents by row[key] == parent[parentKey]; \
                     add parentKey: \"...\" or remove key",
                );
                None
            }
            (None, Some((_, v))) => {
                self.sink.error_hint(
                    v.pos(),
                    "@sql has `parentKey` but no `key`",
                    "the batched form needs both: rows are matched to parents by row[key] == parent[parentKey]; \
                     add key: \"...\" (the result column) or remove parentKey",
                );
                None
            }
            (None, None) => None,
        };
        let batched = batch.is_some() || key.is_some() || parent_key.is_some();

        let root_reason =
            root.then(|| format!("{owner} is a root field: root fields have no parent"));

        // Transaction steps, in order, each seeing the names of the steps before it.
        let mut transaction = Vec::new();
        let mut step_names: Vec<String> = Vec::new();
        if let Some(tx) = d.arg("transaction") {
            if self.roots.mutation.as_deref() != Some(t.name) {
                let hint = if t.name == "Mutation" {
                    "type Mutation is not the mutation root: add `mutation: Mutation` to the schema definition"
                        .to_string()
                } else {
                    "transactions change data: put this field on the Mutation type".to_string()
                };
                self.sink.error_hint(
                    tx.pos(),
                    format!("`transaction` on {owner}: only Mutation fields may have one"),
                    hint,
                );
            }
            let all_names: Vec<String> = as_list(tx)
                .iter()
                .filter_map(|s| match s.value {
                    ConstValue::Object(o) => match o.get("as") {
                        Some(ConstValue::String(n)) => Some(n.clone()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            for (i, step) in as_list(tx).iter().enumerate() {
                let fields = directives::check_step(&mut self.sink, step, i);
                let for_each = fields.get("forEach").and_then(|v| {
                    let text = as_str(v)?;
                    let cx = TemplateContext {
                        field: Some((parent_type, def)),
                        parent_forbidden: root_reason.clone(),
                        steps: Some((step_names.clone(), all_names.clone())),
                        ..Default::default()
                    };
                    let tpl = self.template(v, text, &cx)?;
                    Some((tpl, self.for_each_element(def, v, text)))
                });
                // `{{item}}` is available whenever forEach is written, even if it has errors
                // itself (already reported), so its mistakes are not reported twice.
                let has_for_each = step.entries().iter().any(|(n, _, _)| *n == "forEach");
                let cx = TemplateContext {
                    field: Some((parent_type, def)),
                    parent_forbidden: root_reason.clone(),
                    steps: Some((step_names.clone(), all_names.clone())),
                    item: has_for_each.then(|| for_each.as_ref().and_then(|(_, element)| *element)),
                    ..Default::default()
                };
                let params = self.params(fields.get("params"), &cx);
                let query = match fields.get("query").and_then(|v| Some((as_str(v)?, v))) {
                    Some((text, v)) => {
                        self.check_statement(v, text, fields.get("params"), StatementKind::Step);
                        text.to_string()
                    }
                    None => String::new(),
                };
                let name = fields
                    .get("as")
                    .and_then(|v| Some((as_str(v)?, v)))
                    .map(|(n, v)| {
                        if !is_identifier(n) {
                            self.sink.error_hint(
                                v.pos(),
                                format!("step name \"{n}\" is not a name"),
                                "use letters, digits and _ (it is written {{steps.NAME.column}})",
                            );
                        } else if step_names.iter().any(|x| x == n) {
                            self.sink
                                .error(v.pos(), format!("two transaction steps are named \"{n}\""));
                        }
                        step_names.push(n.to_string());
                        n.to_string()
                    });
                transaction.push(SqlStep {
                    query,
                    params,
                    for_each: for_each.map(|(tpl, _)| tpl),
                    name,
                    pos: step.pos(),
                });
            }
        }

        let cx = TemplateContext {
            field: Some((parent_type, def)),
            parent_forbidden: if batched {
                Some(
                    "in the batched form (key/parentKey), params bind only args and env; the parents' keys \
                     go to IN ($keys) through parentKey"
                        .to_string(),
                )
            } else {
                root_reason
            },
            steps: d
                .arg("transaction")
                .map(|_| (step_names.clone(), step_names.clone())),
            ..Default::default()
        };
        let params = self.params(d.arg("params"), &cx);
        let query = match d.string("query") {
            Some((text, v)) => {
                let kind = if batched {
                    StatementKind::Batched
                } else {
                    StatementKind::Single
                };
                self.check_statement(v, text, d.arg("params"), kind);
                if let Some(b) = &batch {
                    if !sql_text::selects_column(text, &b.key) {
                        self.sink.error_hint(
                            v.pos(),
                            format!("batch key not selected: the query's SELECT list has no column `{}`", b.key),
                            format!(
                                "rows are matched to parents by `{}`: select it (SELECT *, or add {} to the list)",
                                b.key, b.key
                            ),
                        );
                    }
                }
                text.to_string()
            }
            None => String::new(),
        };

        SqlResolver {
            source,
            query,
            params,
            batch,
            transaction,
            pos: d.pos,
        }
    }

    /// Reports a source that is unknown or of the wrong kind for `want`.
    pub(super) fn check_source(&mut self, name: &str, v: &Val<'a>, want: SourceUse) {
        match (self.sources.get(name).map(|s| &s.kind), want) {
            (Some(SourceKind::Sql(_)), SourceUse::Sql)
            | (Some(SourceKind::Http(_)), SourceUse::Http) => {}
            (Some(SourceKind::Http(_)), SourceUse::Sql) => {
                self.sink.error_hint(
                    v.pos(),
                    format!("source \"{name}\" is an HTTP source, not a SQL source"),
                    "use @http with an HTTP source, or name a source declared with sql:"
                        .to_string(),
                );
            }
            (Some(SourceKind::Sql(_)), SourceUse::Http) => {
                self.sink.error_hint(
                    v.pos(),
                    format!("source \"{name}\" is a SQL source, not an HTTP source"),
                    "use @sql with a SQL source, or name a source declared with http:".to_string(),
                );
            }
            // Declared, but its settings had errors (already reported).
            (None, _) if self.declared_sources.contains_key(name) => {}
            (None, _) => {
                let declared: Vec<&str> =
                    self.declared_sources.keys().map(String::as_str).collect();
                let hint = if declared.is_empty() {
                    "no sources are declared: add one to the schema definition, e.g. \
                     schema @source(name: \"main\", sql: \"sqlite://app.db\") { query: Query }"
                        .to_string()
                } else {
                    let mut sorted = declared.clone();
                    sorted.sort_unstable();
                    match names::closest(name, declared.iter().copied()) {
                        Some(c) => format!(
                            "did you mean \"{c}\"? declared sources are: {}",
                            sorted.join(", ")
                        ),
                        None => format!("declared sources are: {}", sorted.join(", ")),
                    }
                };
                self.sink
                    .error_hint(v.pos(), format!("unknown source \"{name}\""), hint);
            }
        }
    }

    /// The element type of a `forEach` list, when it is an argument path whose type is known;
    /// reports a `forEach` that is not a single `{{...}}` or not a list.
    fn for_each_element(
        &mut self,
        def: &'a FieldDefinition,
        v: &Val<'a>,
        text: &str,
    ) -> Option<&'a Type> {
        let parts = template::parse(text).ok()?;
        let [RawPart::Expr(e)] = parts.as_slice() else {
            self.sink.error_hint(
                v.pos(),
                format!("forEach \"{text}\" is not a single template"),
                "forEach runs the step once per element of a list: write it as one template, \
                 e.g. forEach: \"{{args.input.lines}}\"",
            );
            return None;
        };
        if e.root != RawRoot::Args || e.path.is_empty() {
            return None;
        }
        let arg = def
            .arguments
            .iter()
            .find(|a| a.node.name.node == e.path[0])?;
        let ty = self
            .walk(
                &arg.node.ty.node,
                &e.path[1..],
                &format!("args.{}", e.path[0]),
            )
            .ok()
            .flatten()?;
        match &ty.base {
            BaseType::List(item) => Some(item),
            // A value of unknown shape may well be a list: the engine checks it per request.
            BaseType::Named(n)
                if n.as_str() == "JSON" || matches!(self.kind(n), Some(Kind::Scalar) | None) =>
            {
                None
            }
            BaseType::Named(n) => {
                self.sink.error_hint(
                    v.pos_in_string(e.offset),
                    format!("forEach needs a list, but `{}` is {n}", e.text),
                    "point it at a list argument or input field, e.g. {{args.input.lines}}",
                );
                None
            }
        }
    }

    fn params(&mut self, params: Option<&Val<'a>>, cx: &TemplateContext<'a>) -> Vec<Template> {
        let Some(params) = params else {
            return Vec::new();
        };
        as_list(params)
            .iter()
            .filter_map(|p| {
                let text = as_str(p)?;
                self.template(p, text, cx)
            })
            .collect()
    }

    /// Placeholders of a statement against its params, `$keys` against its form, and no
    /// templates in the text (values are only ever bound, never spliced).
    fn check_statement(
        &mut self,
        query: &Val<'a>,
        text: &str,
        params: Option<&Val<'a>>,
        kind: StatementKind,
    ) {
        if let Some(at) = sql_text::template_in_text(text) {
            self.sink.error_hint(
                query.pos_in_string(at),
                "templates are not allowed in SQL text",
                "values are bound, never spliced: write $1 in the query and put the template in params, \
                 e.g. params: [\"{{args.id}}\"]",
            );
            return;
        }
        let params: Vec<Val<'a>> = params.map(as_list).unwrap_or_default();
        let found = sql_text::placeholders(text);
        let mut used = vec![false; params.len()];
        let mut reported_range = false;
        let mut keys_seen = false;
        for (offset, p) in &found {
            let pos = query.pos_in_string(*offset);
            match p {
                Placeholder::Numbered(0) => self.sink.error(pos, "placeholders start at $1, not $0"),
                Placeholder::Numbered(n) if *n <= params.len() => used[n - 1] = true,
                Placeholder::Numbered(n) => {
                    if !reported_range {
                        reported_range = true;
                        let have = match params.len() {
                            0 => "@sql has no params".to_string(),
                            1 => "params has only 1 value".to_string(),
                            k => format!("params has only {k} values"),
                        };
                        self.sink.error_hint(
                            pos,
                            format!("the query uses ${n} but {have}"),
                            format!("$N is bound to the N-th entry of params: add entries up to ${n}, or renumber"),
                        );
                    }
                }
                Placeholder::Keys { in_list } => {
                    keys_seen = true;
                    match kind {
                        StatementKind::Batched if *in_list => {}
                        StatementKind::Batched => self.sink.error_hint(
                            pos,
                            "$keys must be written as IN ($keys)",
                            "write `WHERE column IN ($keys)`: each backend rewrites that exact form",
                        ),
                        StatementKind::Single => self.sink.error_hint(
                            pos,
                            "the query uses $keys, but @sql has no key/parentKey",
                            "$keys is the batched form's key list: add key: \"column\" and parentKey: \"parent key\", \
                             or bind a value with $1 and params",
                        ),
                        StatementKind::Step => self.sink.error_hint(
                            pos,
                            "$keys cannot be used in a transaction step",
                            "bind values with $1..$n and params",
                        ),
                    }
                }
                Placeholder::Unknown(name) => self.sink.error_hint(
                    pos,
                    format!("unknown placeholder ${name}"),
                    "placeholders are $1..$n, bound in order from params (and IN ($keys) in the batched form)",
                ),
            }
        }
        if kind == StatementKind::Batched && !keys_seen {
            self.sink.error_hint(
                query.pos(),
                "the batched form (key/parentKey) needs IN ($keys) in its query",
                "e.g. \"SELECT * FROM categories WHERE id IN ($keys)\": $keys receives the parents' parentKey values",
            );
        }
        for (i, p) in params.iter().enumerate() {
            if !used[i] {
                let n = i + 1;
                self.sink.error_hint(
                    p.pos(),
                    format!("param {n} is never used: the query has no ${n}"),
                    format!("reference it as ${n} in the query, or remove it"),
                );
            }
        }
    }

    /// Parses and checks a template, resolving `{{env...}}` from the snapshot. `None` when it
    /// has errors (reported).
    pub(super) fn template(
        &mut self,
        val: &Val<'a>,
        text: &str,
        cx: &TemplateContext<'a>,
    ) -> Option<Template> {
        let raw = match template::parse(text) {
            Ok(raw) => raw,
            Err(e) => {
                self.sink
                    .error_opt(val.pos_in_string(e.offset), e.message, e.hint);
                return None;
            }
        };
        let mut parts: Vec<TemplatePart> = Vec::new();
        let mut ok = true;
        for part in raw {
            let part = match part {
                RawPart::Literal(l) => TemplatePart::Literal(l),
                RawPart::Expr(e) => match self.expr(&e, val.pos_in_string(e.offset), cx) {
                    Some(p) => p,
                    None => {
                        ok = false;
                        continue;
                    }
                },
            };
            // Adjacent literals (text around a resolved env value) become one.
            match (parts.last_mut(), part) {
                (Some(TemplatePart::Literal(prev)), TemplatePart::Literal(l)) => prev.push_str(&l),
                (_, part) => parts.push(part),
            }
        }
        ok.then(|| Template {
            text: text.to_string(),
            parts,
        })
    }

    fn expr(&mut self, e: &RawExpr, pos: Pos, cx: &TemplateContext<'a>) -> Option<TemplatePart> {
        if e.root == RawRoot::Env {
            let var = e.path.first().map(String::as_str).unwrap_or_default();
            return match (self.env.get(var), &e.default) {
                (Some(value), _) => Some(TemplatePart::Literal(value.clone())),
                (None, Some(default)) => Some(TemplatePart::Literal(default.clone())),
                (None, None) => {
                    self.sink.error_hint(
                        pos,
                        format!(
                            "environment variable {var} is not set (used by `{}`)",
                            e.text
                        ),
                        format!(
                            "set {var}, or give a fallback: {{{{env.{var} | default: '...'}}}}"
                        ),
                    );
                    None
                }
            };
        }
        if cx.env_only {
            self.sink.error_hint(
                pos,
                format!(
                    "`{}` cannot be used here: only {{{{env.NAME}}}} can",
                    e.text
                ),
                "the source settings are read once at start-up, before any request",
            );
            return None;
        }
        if e.root == RawRoot::Headers {
            return self.header_expr(e, pos, cx);
        }
        let Some((parent_type, def)) = cx.field else {
            self.sink.error_hint(
                pos,
                format!(
                    "`{}` cannot be used here: only {{{{env.NAME}}}} and {{{{headers.NAME}}}} can",
                    e.text
                ),
                "a source's headers are the same for every request of the source: they cannot read \
                 args or parent (set such headers in @http(headers:))",
            );
            return None;
        };
        let owner = format!("{parent_type}.{}", def.name.node);
        let root = match e.root {
            RawRoot::Args => {
                self.check_args_path(def, &owner, e, pos)?;
                Root::Args
            }
            RawRoot::Parent => {
                if let Some(why) = &cx.parent_forbidden {
                    self.sink.error_hint(
                        pos,
                        format!("`{}` cannot be used here", e.text),
                        why.clone(),
                    );
                    return None;
                }
                if let Some(first) = e.path.first() {
                    if !self.check_parent_key(parent_type, first, pos, &e.text) {
                        return None;
                    }
                }
                Root::Parent
            }
            RawRoot::Steps => {
                let name = e.path.first().map(String::as_str).unwrap_or_default();
                let Some((earlier, all)) = &cx.steps else {
                    self.sink.error_hint(
                        pos,
                        format!("`{}`: there are no transaction steps here", e.text),
                        "{{steps.NAME.column}} reads an earlier step of @sql(transaction: [...]) named with `as`",
                    );
                    return None;
                };
                if !earlier.iter().any(|s| s == name) {
                    let hint = if all.iter().any(|s| s == name) {
                        format!("step \"{name}\" runs after this one; a step can only read earlier steps")
                    } else {
                        let dym = names::did_you_mean(name, earlier.iter().map(String::as_str));
                        match (dym, earlier.is_empty()) {
                            (Some(d), _) => d,
                            (None, true) => {
                                "no earlier step has a name: add as: \"NAME\" to one".to_string()
                            }
                            (None, false) => format!("earlier steps are: {}", earlier.join(", ")),
                        }
                    };
                    self.sink.error_hint(
                        pos,
                        format!("`{}`: no earlier step is named \"{name}\"", e.text),
                        hint,
                    );
                    return None;
                }
                Root::Steps
            }
            RawRoot::Item => {
                let Some(element) = cx.item else {
                    self.sink.error_hint(
                        pos,
                        format!("`{}` is only available in a transaction step with forEach", e.text),
                        "add forEach: \"{{args.input.list}}\" to the step to run it once per element",
                    );
                    return None;
                };
                if let Some(ty) = element {
                    if let Err((message, hint)) = self.walk(ty, &e.path, "item") {
                        self.sink
                            .error_opt(pos, format!("`{}`: {message}", e.text), hint);
                        return None;
                    }
                }
                Root::Item
            }
            RawRoot::Env | RawRoot::Headers => return None, // handled above
        };
        Some(TemplatePart::Expr(Expr {
            root,
            path: e.path.clone(),
        }))
    }

    /// `{{headers.name}}`: a client header the source forwards, by lower-case name.
    fn header_expr(
        &mut self,
        e: &RawExpr,
        pos: Pos,
        cx: &TemplateContext<'a>,
    ) -> Option<TemplatePart> {
        let name = e
            .path
            .first()
            .map(|h| h.to_ascii_lowercase())
            .unwrap_or_default();
        match &cx.headers {
            HeaderAccess::NotAvailable => {
                self.sink.error_hint(
                    pos,
                    format!("`{}` cannot be used in @sql", e.text),
                    "client headers can be read by @http templates and HTTP @source headers only; \
                     @sql does not support them yet",
                );
                return None;
            }
            HeaderAccess::Forbidden { place, why } => {
                self.sink
                    .error_hint(pos, format!("`{}` cannot be used in {place}", e.text), *why);
                return None;
            }
            HeaderAccess::Forward { source, names } if !names.contains(&name) => {
                self.sink.error_hint(
                    pos,
                    format!(
                        "`{}`: header {name} is not forwarded by source \"{source}\"",
                        e.text
                    ),
                    format!(
                        "add it to forwardHeaders: @source(name: \"{source}\", ..., forwardHeaders: [\"{name}\"]); \
                         only the client headers listed there are readable"
                    ),
                );
                return None;
            }
            _ => {}
        }
        Some(TemplatePart::Expr(Expr {
            root: Root::Headers,
            path: vec![name],
        }))
    }

    fn check_args_path(
        &mut self,
        def: &'a FieldDefinition,
        owner: &str,
        e: &RawExpr,
        pos: Pos,
    ) -> Option<()> {
        let Some(first) = e.path.first() else {
            return Some(());
        };
        let Some(arg) = def.arguments.iter().find(|a| a.node.name.node == *first) else {
            let names: Vec<&str> = def
                .arguments
                .iter()
                .map(|a| a.node.name.node.as_str())
                .collect();
            let hint = names::did_you_mean(first, names.iter().copied()).unwrap_or_else(|| {
                if names.is_empty() {
                    format!(
                        "{owner} has no arguments; declare it: {}({first}: ...)",
                        def.name.node
                    )
                } else {
                    format!("{owner} has arguments: {}", names.join(", "))
                }
            });
            self.sink.error_hint(
                pos,
                format!("`{}`: field {owner} has no argument `{first}`", e.text),
                hint,
            );
            return None;
        };
        match self.walk(&arg.node.ty.node, &e.path[1..], &format!("args.{first}")) {
            Ok(_) => Some(()),
            Err((message, hint)) => {
                self.sink
                    .error_opt(pos, format!("`{}`: {message}", e.text), hint);
                None
            }
        }
    }

    /// Follows a path of names (input fields) and indexes (lists) from an input type. `Ok(None)`
    /// when the path enters a value of unknown shape (JSON, custom scalars), where anything goes.
    fn walk(
        &self,
        ty: &'a Type,
        path: &[String],
        label: &str,
    ) -> Result<Option<&'a Type>, PathError> {
        let mut ty = ty;
        let mut label = label.to_string();
        for seg in path {
            match &ty.base {
                BaseType::List(item) => {
                    if seg.parse::<usize>().is_err() {
                        return Err((
                            format!("`{label}` is a list ({ty}); `{seg}` is not an index"),
                            Some("use an index like .0, or run a transaction step per element with forEach".to_string()),
                        ));
                    }
                    ty = item;
                }
                BaseType::Named(name) => match self.kind(name) {
                    Some(Kind::Input) => {
                        let Some(t) = self.types.get(name.as_str()) else {
                            return Ok(None);
                        };
                        let Some(f) = t.input_field(seg) else {
                            let fields: Vec<&str> = t
                                .input_fields
                                .iter()
                                .map(|f| f.node.name.node.as_str())
                                .collect();
                            let hint = names::did_you_mean(seg, fields.iter().copied())
                                .unwrap_or_else(|| {
                                    format!("input {name} has fields: {}", names::list(fields))
                                });
                            return Err((
                                format!("input {name} (at `{label}`) has no field `{seg}`"),
                                Some(hint),
                            ));
                        };
                        ty = &f.ty.node;
                    }
                    Some(Kind::Scalar) | None => return Ok(None),
                    Some(Kind::WellKnown) if name.as_str() == "JSON" => return Ok(None),
                    Some(_) => {
                        return Err((
                            format!("`{label}` is {name}, which has no field `{seg}`"),
                            None,
                        ));
                    }
                },
            }
            label = format!("{label}.{seg}");
        }
        Ok(Some(ty))
    }

    /// Whether `key` may be read from the parent's data (see `Builder::resolver_produced`);
    /// reports it if not.
    pub(super) fn check_parent_key(
        &mut self,
        parent_type: &str,
        key: &str,
        pos: Pos,
        what: &str,
    ) -> bool {
        let Some(t) = self.types.get(parent_type) else {
            return true;
        };
        let mut keys: Vec<String> = Vec::new();
        for f in &t.fields {
            let name = f.node.name.node.as_str();
            keys.push(name.to_string());
            keys.push(names::snake_case(name));
            let mapped = f
                .node
                .directives
                .iter()
                .filter(|d| d.node.name.node == "map")
                .flat_map(|d| {
                    d.node.arguments.iter().filter_map(|(n, v)| match &v.node {
                        ConstValue::String(s) if n.node == "from" => Some(s.clone()),
                        _ => None,
                    })
                });
            keys.extend(mapped);
        }
        if keys.iter().any(|k| k == key) || self.resolver_produced.contains(parent_type) {
            return true;
        }
        keys.dedup();
        let fields: Vec<&str> = t.fields.iter().map(|f| f.node.name.node.as_str()).collect();
        let mut hint = names::did_you_mean(key, keys.iter().map(String::as_str))
            .map(|d| d + " ")
            .unwrap_or_default();
        hint.push_str(&format!(
            "{parent_type}'s data does not come from @sql or @http, so its keys are its fields ({}), their snake_case forms \
             and @map(from:) names",
            names::list(fields)
        ));
        self.sink.error_hint(
            pos,
            format!("`{what}`: {parent_type} has no field or key `{key}`"),
            hint,
        );
        false
    }
}

/// Why a template path does not exist: message and hint.
type PathError = (String, Option<String>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatementKind {
    /// `@sql(query:)` without key/parentKey.
    Single,
    /// `@sql(query:)` with key/parentKey: `IN ($keys)` required.
    Batched,
    /// A transaction step.
    Step,
}

/// A list value's elements, or the value itself (GraphQL coerces a single value to a list).
pub(super) fn as_list<'a>(v: &Val<'a>) -> Vec<Val<'a>> {
    match v.value {
        ConstValue::List(_) => v.items(),
        _ => vec![v.clone()],
    }
}

fn as_str<'a>(v: &Val<'a>) -> Option<&'a str> {
    match v.value {
        ConstValue::String(s) => Some(s.as_str()),
        _ => None,
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
