//! The Blueprint: the validated, executable description of a BFF.
//!
//! It is what `schema.graphql` means once parsed and checked: every type, every field's resolver
//! with its templates parsed, every source with its settings resolved from the environment
//! snapshot. The engine builds its executable schema from this and nothing else, so everything
//! here is already known to be consistent (no dangling type or source names).

use std::time::Duration;

use indexmap::IndexMap;

/// The value type shared by the whole engine (GraphQL values, SQL rows, JSON bodies).
pub use async_graphql_value::ConstValue as Value;

/// A position in `schema.graphql`, 1-based, for error messages and start-up checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone)]
pub struct Blueprint {
    /// Path of the schema file, as given, for messages (`schema.graphql:12:5`).
    pub file: String,
    /// Data sources declared with `@source`, by name, in declaration order.
    pub sources: IndexMap<String, Source>,
    pub query: String,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
    /// Every user type (objects, interfaces, unions, enums, inputs, custom scalars), in file
    /// order, plus a `Scalar` entry (with a description) for each of `DateTime`, `JSON`, `Date`,
    /// `UUID` and `Decimal` that is used without being declared, so every scalar is listed.
    pub types: IndexMap<String, TypeDef>,
}

impl Blueprint {
    /// The object types that can stand for each interface (its implementations) and union
    /// (its members): what a selection on an abstract type may meet.
    pub fn possible_types(&self) -> std::collections::HashMap<String, Vec<String>> {
        let mut possible: std::collections::HashMap<String, Vec<String>> = Default::default();
        for ty in self.types.values() {
            match ty {
                TypeDef::Object(o) => {
                    for i in &o.implements {
                        possible.entry(i.clone()).or_default().push(o.name.clone());
                    }
                }
                TypeDef::Union(u) => {
                    possible.insert(u.name.clone(), u.members.clone());
                }
                _ => {}
            }
        }
        possible
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Sql(SqlSourceDef),
    Http(HttpSourceDef),
}

/// `@source(name:, http:, ...)`: a downstream HTTP service.
#[derive(Debug, Clone)]
pub struct HttpSourceDef {
    /// Base URL, resolved from the environment snapshot (`http://` or `https://`). Every
    /// request of the source stays under it: same scheme, host and port, path under its path.
    pub base_url: String,
    /// Per-request timeout (`timeout: "2s"`); `None` lets the server settings decide.
    pub timeout: Option<Duration>,
    /// Retries for idempotent methods (`retries: 1`); `None` lets the server settings decide.
    pub retries: Option<u32>,
    /// Headers sent on every request (`headers: {x_api_key: "{{env.KEY}}"}` — values may only
    /// use `env`, resolved already, or `headers` to forward a client header).
    pub headers: Vec<(String, Template)>,
    /// Client request headers (lower-case) that templates may read as `{{headers.name}}`.
    /// Nothing else from the client ever reaches an upstream.
    pub forward_headers: Vec<String>,
    /// Identical in-flight GETs across requests share one upstream call (`singleFlight`,
    /// default true; the server-wide sharing switch can still turn it off).
    pub single_flight: bool,
}

#[derive(Debug, Clone)]
pub struct SqlSourceDef {
    /// Connection URL, already resolved from the environment snapshot. May hold a password:
    /// never log it (use [`redact_url`]).
    pub url: String,
    /// Maximum pool connections; `None` lets the server settings decide.
    pub pool_size: Option<u32>,
    /// Per-statement timeout; `None` lets the server settings decide.
    pub statement_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum TypeDef {
    Object(ObjectDef),
    Interface(ObjectDef),
    Union(UnionDef),
    Enum(EnumDef),
    Input(InputDef),
    Scalar(ScalarDef),
}

impl TypeDef {
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Object(o) | TypeDef::Interface(o) => &o.name,
            TypeDef::Union(u) => &u.name,
            TypeDef::Enum(e) => &e.name,
            TypeDef::Input(i) => &i.name,
            TypeDef::Scalar(s) => &s.name,
        }
    }
}

/// An object type or an interface (same shape: interfaces just have no resolvers of their own).
#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub description: Option<String>,
    pub implements: Vec<String>,
    pub fields: IndexMap<String, FieldDef>,
    /// `@cache` on the type: the policy of every field returning this type that has no
    /// `@cache` of its own (Apollo's rule).
    pub cache: Option<CacheDef>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    pub args: IndexMap<String, ArgDef>,
    pub resolver: Resolver,
    /// Where a parent-resolved field reads its value in the parent data. The rule: the field
    /// name itself if the parent has that key, else its snake_case form (`categoryId` →
    /// `category_id`); `@map(from: "...")` overrides both (then only that key is read).
    pub source_key: SourceKey,
    pub deprecation: Option<String>,
    /// `@cache(...)` on the field.
    pub cache: Option<CacheDef>,
    /// `@invalidate(tags: [...])` (mutation fields): tags whose cached entries are dropped
    /// once the field has resolved successfully. Templates may read `args` and `result` is not
    /// available: tags are evaluated from the arguments.
    pub invalidate: Vec<Template>,
    /// `@publish(topic:, payload:)` (mutation fields, repeatable): events published once the
    /// field has resolved successfully.
    pub publish: Vec<PublishDef>,
    pub pos: Pos,
}

/// `@publish(topic: "reviews:{{args.input.productId}}")`: after the mutation field succeeds,
/// its result (the SQL row or HTTP answer, as the field's subscribers will resolve it) — or the
/// declared `payload` — is published to the topic.
#[derive(Debug, Clone)]
pub struct PublishDef {
    /// Templates over `args` (and `env`, resolved).
    pub topic: Template,
    /// A payload instead of the result (templates over `args`).
    pub payload: Option<BodyTemplate>,
    pub pos: Pos,
}

/// `@subscribe(topic: "reviews:{{args.productId}}")` on a Subscription field: streams the
/// events of the topic; each event is the field's value, and its nested fields resolve
/// through connectors like any query's. With `source:` naming a PostgreSQL source, the topic is
/// a `LISTEN` channel on that database (events are `NOTIFY` payloads, JSON objects).
#[derive(Debug, Clone)]
pub struct SubscribeDef {
    /// Templates over `args` (and `env`, resolved).
    pub topic: Template,
    /// A SQL source to `LISTEN` on instead of the pub/sub.
    pub source: Option<String>,
    /// Only events whose field equals the value are delivered (`filter: {orderId:
    /// "{{args.orderId}}"}`), compared by their text.
    pub filter: Vec<(String, Template)>,
    pub pos: Pos,
}

/// `@cache(ttl: "30s", scope: PUBLIC, tags: ["product:{{parent.id}}"], staleIfError: "10m")`.
#[derive(Debug, Clone)]
pub struct CacheDef {
    /// How long an entry is fresh (also the `max-age` this field contributes to the response's
    /// `Cache-Control`).
    pub ttl: Duration,
    pub scope: CacheScope,
    /// Tags of each entry (templates over `args` and `parent`; for a batched field evaluated
    /// per parent, so one entry per parent key carries that parent's tags).
    pub tags: Vec<Template>,
    /// How long after expiry an entry may still be served when the backend fails.
    pub stale_if_error: Option<Duration>,
    /// Explicit opt-in to fill a PUBLIC entry from a call that forwarded client credentials
    /// (`{{headers.authorization}}`/cookies) upstream (`publicWithCredentials: true`).
    pub public_with_credentials: bool,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// Shared by every caller.
    Public,
    /// Keyed by the caller's identity (a hash of the `authorization` header); never shared.
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKey {
    /// The name rule: `name`, then `snake_name` if different.
    Rule { name: String, snake: String },
    /// `@map(from: "...")`: exactly this key.
    Explicit(String),
}

#[derive(Debug, Clone)]
pub struct ArgDef {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    pub default: Option<Value>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct UnionDef {
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: String,
    pub description: Option<String>,
    pub values: Vec<EnumValueDef>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct EnumValueDef {
    pub name: String,
    pub description: Option<String>,
    pub deprecation: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InputDef {
    pub name: String,
    pub description: Option<String>,
    pub fields: IndexMap<String, ArgDef>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct ScalarDef {
    pub name: String,
    pub description: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Named(String),
    NonNull(Box<TypeRef>),
    List(Box<TypeRef>),
}

impl TypeRef {
    /// The innermost named type.
    pub fn name(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::NonNull(t) | TypeRef::List(t) => t.name(),
        }
    }
    /// Whether the value is a list (under any non-null wrapper).
    pub fn is_list(&self) -> bool {
        match self {
            TypeRef::Named(_) => false,
            TypeRef::NonNull(t) => t.is_list(),
            TypeRef::List(_) => true,
        }
    }
    pub fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
            TypeRef::List(t) => write!(f, "[{t}]"),
        }
    }
}

/// How a field gets its value.
#[derive(Debug, Clone)]
pub enum Resolver {
    /// From the parent's data by [`FieldDef::source_key`] (no directive).
    Parent,
    /// `@value(of: ...)`: a constant.
    Value(Value),
    /// `@sql(...)`.
    Sql(SqlResolver),
    /// `@http(...)`.
    Http(HttpResolver),
    /// `@subscribe(...)` (Subscription fields).
    Subscribe(SubscribeDef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// `@http(source:, method:, path:, query:, headers:, body:, select:, batch:)` and `@timeout`.
#[derive(Debug, Clone)]
pub struct HttpResolver {
    pub source: String,
    pub method: HttpMethod,
    /// Path under the source's base URL, e.g. `/users/{{parent.userId}}`. Literal text is the
    /// schema author's; template values are percent-encoded as one path segment each.
    pub path: Template,
    /// Query parameters in order; a value that evaluates to a list repeats the parameter, a
    /// null omits it.
    pub query: Vec<(String, Template)>,
    /// Request headers (values may read `args`, `parent`, `env`, and allow-listed `headers`).
    pub headers: Vec<(String, Template)>,
    /// JSON body (mutations): a template, or an object/list whose string leaves are templates.
    pub body: Option<BodyTemplate>,
    /// Path into the response JSON to the field's value (`select: "data.items"` → `["data",
    /// "items"]`); empty means the whole body.
    pub select: Vec<String>,
    /// Batched form: one call for all parents.
    pub batch: Option<HttpBatch>,
    /// `@timeout(ms:)` on the field: overrides the source's timeout for this field.
    pub timeout: Option<Duration>,
    pub pos: Pos,
}

/// `batch: {param: "id", key: "id", separator: ","}`: the query parameter `param` (one of
/// `query`'s, whose template gives each parent's key) carries every parent's key in one call —
/// repeated (`?id=1&id=2`) or joined by `separator` (`?ids=1,2`); each item of the response
/// (a list, after `select`) is matched to parents by its `key` field.
#[derive(Debug, Clone)]
pub struct HttpBatch {
    pub param: String,
    pub key: String,
    pub separator: Option<String>,
}

/// A JSON body whose string leaves are templates (a lone `"{{args.input}}"` keeps the value's
/// type, so an input object becomes a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyTemplate {
    Template(Template),
    List(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
    /// Numbers, booleans, null.
    Literal(Value),
}

#[derive(Debug, Clone)]
pub struct SqlResolver {
    pub source: String,
    /// The statement as written: `$1..$n` are `params`, `$keys` (batched form only) is the key list.
    pub query: String,
    pub params: Vec<Template>,
    /// Batched form: rows are matched to parents by `row[key] == parent[parent_key]`.
    pub batch: Option<SqlBatch>,
    /// Statements run first, in one transaction with `query` (mutations).
    pub transaction: Vec<SqlStep>,
    /// Where the `@sql` directive is, for start-up errors.
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct SqlBatch {
    /// Column of the result rows that holds the parent's key.
    pub key: String,
    /// Key in the parent's data (a field or a column, e.g. `category_id`).
    pub parent_key: String,
}

/// One statement of a `transaction: [...]` list.
#[derive(Debug, Clone)]
pub struct SqlStep {
    pub query: String,
    pub params: Vec<Template>,
    /// Runs the statement once per element of this list (`{{item.x}}` reads the element).
    pub for_each: Option<Template>,
    /// Name under which the step's first row is visible to later templates (`{{steps.NAME.col}}`).
    pub name: Option<String>,
    pub pos: Pos,
}

/// A parsed `{{...}}` template. A template that is exactly one expression produces that value
/// with its type (a number stays a number, an object stays an object); anything else renders
/// to a string. Values are never spliced into SQL: they are bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The text as written, for messages.
    pub text: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Literal(String),
    Expr(Expr),
}

/// `{{root.a.b}}`. `env` references are resolved while building the Blueprint, so they never
/// appear here.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub root: Root,
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The field's arguments.
    Args,
    /// The parent object's source data (row or JSON object).
    Parent,
    /// Earlier steps of a transaction, by name.
    Steps,
    /// The current element of a `forEach`.
    Item,
    /// Allow-listed client request headers (`forwardHeaders` of the HTTP source), by
    /// lower-case name.
    Headers,
}

impl Template {
    /// A constant template (no expression).
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        Template {
            parts: vec![TemplatePart::Literal(text.clone())],
            text,
        }
    }
}

/// Replaces a password in a URL by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[scheme_end + 3 + at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/app?x=1"),
            "postgres://bob:***@db:5432/app?x=1"
        );
        assert_eq!(redact_url("postgres://bob@db/app"), "postgres://bob@db/app");
        assert_eq!(redact_url("sqlite://tributary.db"), "sqlite://tributary.db");
    }
}
