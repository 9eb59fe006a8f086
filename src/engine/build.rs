//! Start-up: connect the Blueprint's sources, prepare and check every statement against the
//! database, compile field plans and register the dynamic schema.
//!
//! Checks that need the database run here and are reported like static ones, at the
//! directive's `file:line:col`: a statement the database rejects, a batch key the statement
//! does not select, a `parent.x` the parent's statements do not select, a non-null field whose
//! column no statement producing its type selects.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, InputObject, InputValue, Interface, InterfaceField, Object, Scalar,
    Schema, Subscription, SubscriptionField, TypeRef as DynTypeRef, Union,
};
use async_graphql::{Name, ValidationMode};
use tributary_connectors::sql::{self, SqlBackend, SqlOptions, SqlSource, Statement};
use tributary_schema::{
    Blueprint, Diagnostic, Diagnostics, Expr, FieldDef, HttpResolver, ObjectDef, Pos, Resolver,
    Root, SourceKind, SqlResolver, Template, TemplatePart, TypeDef, TypeRef,
};

use super::caching::CachePolicy;
use super::http::{HttpBatchPlan, HttpPlan};
use super::live::{PublishPlan, SubscribePlan};
use super::plan::{
    BatchPlan, FieldPlan, Output, OutputKind, ParentKey, Plans, ResolverPlan, SqlPlan, StepPlan,
};
use super::template::Scope;
use super::{Engine, EngineInner};
use tributary_connectors::http::{HeaderName, HeaderValue, HttpOptions, HttpSource, Url};
use tributary_connectors::pubsub::{
    InProcessPubSub, PgListenerOptions, PgListenerSource, PubSub, RedisPubSub, RedisPubSubOptions,
};

/// Built-in scalars beyond GraphQL's own, usable without a declaration.
pub const EXTRA_SCALARS: [&str; 5] = ["DateTime", "JSON", "Date", "UUID", "Decimal"];
const SPEC_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

/// What the engine needs from the server settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub acquire_timeout: Duration,
    /// A folder with `sqlite/` and `postgres/` migration folders, applied to
    /// `migrations_source` at start-up; `None` applies nothing.
    pub migrations: Option<PathBuf>,
    pub migrations_source: String,
    pub introspection: bool,
    pub suggestions: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Default timeout of HTTP sources (a source's `timeout` overrides it).
    pub http_timeout: Duration,
    /// Default retries of HTTP sources for idempotent methods (a source's `retries` overrides).
    pub http_retries: u32,
    /// The server-wide switch for cross-request sharing (single-flight of upstream GETs).
    pub sharing: bool,
    /// Whether `@cache` fields use the cache.
    pub caching: bool,
    /// Redis for the cache (`REDIS_URL`); in-memory when `None`.
    pub redis_url: Option<String>,
    pub cache_prefix: String,
    pub cache_timeout: Duration,
    pub cache_max_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Problems in the schema found against the database, with positions.
    #[error("{0}")]
    Schema(Diagnostics),
    /// A source could not be opened (the message names it, never its password).
    #[error("{0}")]
    Source(String),
}

impl Engine {
    /// Connects, migrates, prepares, checks and builds. Every problem found is reported at
    /// once where possible.
    pub async fn build(bp: &Blueprint, options: &EngineOptions) -> Result<Engine, BuildError> {
        let mut sources: HashMap<String, Arc<dyn SqlSource>> = HashMap::new();
        let mut ordered = Vec::new();
        let mut http_sources: HashMap<String, Arc<dyn HttpSource>> = HashMap::new();
        let mut http_ordered = Vec::new();
        let mut forward_headers: Vec<String> = Vec::new();
        for source in bp.sources.values() {
            let def = match &source.kind {
                SourceKind::Sql(def) => def,
                SourceKind::Http(def) => {
                    let conn = open_http(bp, source, def, options)?;
                    for h in &def.forward_headers {
                        if !forward_headers.contains(h) {
                            forward_headers.push(h.clone());
                        }
                    }
                    http_sources.insert(source.name.clone(), conn.clone());
                    http_ordered.push((source.name.clone(), conn));
                    continue;
                }
            };
            let opts = SqlOptions {
                name: source.name.clone(),
                url: def.url.clone(),
                max_connections: def.pool_size.unwrap_or(options.pool_size),
                statement_timeout: def.statement_timeout.unwrap_or(options.statement_timeout),
                acquire_timeout: options.acquire_timeout,
            };
            let conn = sql::connect(opts).await.map_err(|e| {
                BuildError::Source(format!(
                    "{}:{}: cannot open source \"{}\" ({}): {}\n  hint: check that the database is running and the URL (DATABASE_URL?) is right",
                    bp.file,
                    source.pos,
                    source.name,
                    tributary_schema::redact_url(&def.url),
                    e
                ))
            })?;
            if let Some(dir) = &options.migrations {
                if source.name == options.migrations_source {
                    let sub = match conn.backend() {
                        SqlBackend::Sqlite => "sqlite",
                        SqlBackend::Postgres => "postgres",
                    };
                    let dir = dir.join(sub);
                    if dir.is_dir() {
                        conn.migrate(&dir).await.map_err(|e| {
                            BuildError::Source(format!(
                                "migrations in {} failed on source \"{}\": {e}",
                                dir.display(),
                                source.name
                            ))
                        })?;
                        tracing::info!(source = %source.name, dir = %dir.display(), "migrations applied");
                    }
                }
            }
            sources.insert(source.name.clone(), conn.clone());
            ordered.push((source.name.clone(), conn));
        }

        let (pubsub, listeners) = open_live(bp, options).await?;
        let mut builder = Builder {
            bp,
            pubsub: pubsub.clone(),
            listeners: &listeners,
            sources: &sources,
            http_sources: &http_sources,
            diagnostics: Vec::new(),
            next_id: 0,
            producers: HashMap::new(),
        };
        let plans = builder.compile().await;
        if !builder.diagnostics.is_empty() {
            return Err(BuildError::Schema(Diagnostics(builder.diagnostics)));
        }
        let redis = options.redis_url.as_ref().map(|url| {
            let mut o = tributary_connectors::cache::RedisCacheOptions::new(url.clone());
            o.prefix = options.cache_prefix.clone();
            o.timeout = options.cache_timeout;
            o
        });
        let memory = tributary_connectors::cache::MemoryCacheOptions {
            max_bytes: options.cache_max_bytes,
        };
        let cache = tributary_connectors::cache::connect(redis, memory)
            .await
            .map_err(|e| BuildError::Source(format!("cannot set up the cache: {e}")))?;
        let schema_error = |e: String| {
            BuildError::Schema(Diagnostics(vec![Diagnostic {
                file: bp.file.clone(),
                pos: Pos { line: 1, column: 1 },
                message: format!("the schema could not be built: {e}"),
                hint: None,
            }]))
        };
        let schema =
            register(bp, plans.clone(), options, ValidationMode::Strict).map_err(schema_error)?;
        // The same schema with async-graphql's fast validation (fragment cycles, depth and
        // complexity only), for requests whose document already passed full validation.
        let revalidating =
            register(bp, plans, options, ValidationMode::Fast).map_err(schema_error)?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                schema,
                revalidating,
                validated: super::validated_keys(),
                sql_sources: ordered,
                http_sources: http_ordered,
                forward_headers,
                types: super::nulls::TypeIndex::new(bp),
                policies: super::cache_control::PolicyIndex::new(bp),
                cache,
                caching: options.caching,
                pubsub,
                executions: Default::default(),
            }),
        })
    }
}

/// Opens an HTTP source. Default headers may forward client headers (`{{headers.x}}`), which
/// differ per request: those are added per call, the constant ones once here.
fn open_http(
    bp: &Blueprint,
    source: &tributary_schema::Source,
    def: &tributary_schema::HttpSourceDef,
    options: &EngineOptions,
) -> Result<Arc<dyn HttpSource>, BuildError> {
    let fail = |what: String| {
        BuildError::Source(format!(
            "{}:{}: cannot set up source \"{}\": {what}",
            bp.file, source.pos, source.name
        ))
    };
    let base = Url::parse(&def.base_url).map_err(|e| fail(format!("invalid base URL: {e}")))?;
    let mut opts = HttpOptions::new(source.name.clone(), base);
    opts.timeout = def.timeout.unwrap_or(options.http_timeout);
    opts.retries.max_retries = def.retries.unwrap_or(options.http_retries);
    opts.single_flight = def.single_flight && options.sharing;
    for (name, template) in &def.headers {
        if template
            .parts
            .iter()
            .all(|p| matches!(p, TemplatePart::Literal(_)))
        {
            let value = Scope::default().eval(template);
            let text = match value {
                async_graphql::Value::String(s) => s,
                other => other.to_string(),
            };
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| fail(format!("header {name}: {e}")))?;
            let mut value =
                HeaderValue::from_str(&text).map_err(|e| fail(format!("header {name}: {e}")))?;
            value.set_sensitive(true);
            opts.default_headers.insert(name, value);
        }
    }
    tributary_connectors::http::connect(opts).map_err(|e| fail(e.to_string()))
}

struct Builder<'a> {
    bp: &'a Blueprint,
    pubsub: Option<Arc<dyn PubSub>>,
    listeners: &'a HashMap<String, Arc<dyn PubSub>>,
    sources: &'a HashMap<String, Arc<dyn SqlSource>>,
    http_sources: &'a HashMap<String, Arc<dyn HttpSource>>,
    diagnostics: Vec<Diagnostic>,
    next_id: usize,
    /// Object type → the columns of each statement that produces it (with its position).
    producers: HashMap<String, Vec<(Pos, Vec<String>)>>,
}

impl Builder<'_> {
    fn error(&mut self, pos: Pos, message: String, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.bp.file.clone(),
            pos,
            message,
            hint,
        });
    }

    async fn prepare(
        &mut self,
        source: &Arc<dyn SqlSource>,
        query: &str,
        pos: Pos,
        field: &str,
    ) -> Option<Arc<Statement>> {
        match source.prepare(query).await {
            Ok(stmt) => Some(stmt),
            Err(e) => {
                let detail = match &e {
                    tributary_connectors::ConnectorError::Database { detail, .. } => detail.clone(),
                    other => other.to_string(),
                };
                self.error(
                    pos,
                    format!("the database rejects the statement of {field}: {detail}"),
                    Some("fix the SQL in the @sql directive (check table and column names)".into()),
                );
                None
            }
        }
    }

    async fn compile(&mut self) -> Arc<Plans> {
        let mut plans = Plans::default();
        // Pass 1: prepare every statement and record which columns produce which type.
        let mut sql_plans: Vec<(String, String, Arc<SqlPlan>)> = Vec::new();
        for ty in self.bp.types.values() {
            let TypeDef::Object(obj) = ty else { continue };
            for field in obj.fields.values() {
                let Resolver::Sql(r) = &field.resolver else {
                    continue;
                };
                if let Some(plan) = self.sql_plan(obj, field, r).await {
                    if plan.output.kind == OutputKind::Object {
                        let cols = plan.stmt.columns.iter().map(|c| c.name.clone()).collect();
                        self.producers
                            .entry(plan.output.type_name.clone())
                            .or_default()
                            .push((r.pos, cols));
                    }
                    sql_plans.push((obj.name.clone(), field.name.clone(), plan));
                }
            }
        }
        // Pass 2: checks that need every producer known.
        for (type_name, field_name, plan) in &sql_plans {
            let Some(TypeDef::Object(obj)) = self.bp.types.get(type_name) else {
                continue;
            };
            let Some(field) = obj.fields.get(field_name) else {
                continue;
            };
            let Resolver::Sql(r) = &field.resolver else {
                continue;
            };
            self.check_parent_refs(obj, r);
            if let Some(batch) = &r.batch {
                let cols: Vec<&str> = plan.stmt.columns.iter().map(|c| c.name.as_str()).collect();
                if !cols.contains(&batch.key.as_str()) {
                    self.error(
                        r.pos,
                        format!("the batch key \"{}\" is not among the columns the statement of {type_name}.{field_name} selects ({})", batch.key, cols.join(", ")),
                        Some(format!("add {} to the SELECT list", batch.key)),
                    );
                }
            }
        }
        self.check_columns();
        // Plans for every field.
        let mut by_field: HashMap<(String, String), Arc<SqlPlan>> =
            sql_plans.into_iter().map(|(t, f, p)| ((t, f), p)).collect();
        for ty in self.bp.types.values() {
            let (TypeDef::Object(obj) | TypeDef::Interface(obj)) = ty else {
                continue;
            };
            let mut fields = HashMap::new();
            for field in obj.fields.values() {
                let output = output_of(self.bp, &field.ty);
                let resolver = match &field.resolver {
                    Resolver::Parent => {
                        ResolverPlan::Parent(ParentKey::from_source_key(&field.source_key))
                    }
                    Resolver::Value(v) => ResolverPlan::Value(v.clone()),
                    Resolver::Subscribe(def) => match self.subscribe_plan(obj, field, def) {
                        Some(p) => ResolverPlan::Subscribe(p),
                        None => continue,
                    },
                    Resolver::Http(r) => match self.http_plan(
                        obj,
                        field,
                        r,
                        &http_source_headers(self.bp, &r.source),
                    ) {
                        Some(p) => ResolverPlan::Http(p),
                        None => continue,
                    },
                    Resolver::Sql(_) => {
                        match by_field.remove(&(obj.name.clone(), field.name.clone())) {
                            Some(p) => ResolverPlan::Sql(p),
                            None => continue,
                        }
                    }
                };
                let arg_defaults = field
                    .args
                    .values()
                    .filter_map(|a| a.default.clone().map(|d| (Name::new(&a.name), d)))
                    .collect();
                fields.insert(
                    field.name.clone(),
                    Arc::new(FieldPlan {
                        resolver,
                        output,
                        arg_defaults,
                        invalidate: field.invalidate.clone(),
                        publish: field
                            .publish
                            .iter()
                            .map(|p| PublishPlan {
                                topic: p.topic.clone(),
                                payload: p.payload.clone(),
                            })
                            .collect(),
                        nullable: !field.ty.is_non_null(),
                    }),
                );
            }
            plans.types.insert(obj.name.clone(), fields);
        }
        Arc::new(plans)
    }

    async fn sql_plan(
        &mut self,
        obj: &ObjectDef,
        field: &FieldDef,
        r: &SqlResolver,
    ) -> Option<Arc<SqlPlan>> {
        let Some(source) = self.sources.get(&r.source).cloned() else {
            self.error(r.pos, format!("unknown source \"{}\"", r.source), None);
            return None;
        };
        let name = format!("{}.{}", obj.name, field.name);
        let stmt = self.prepare(&source, &r.query, r.pos, &name).await;
        let mut steps = Vec::new();
        for step in &r.transaction {
            if let Some(s) = self.prepare(&source, &step.query, step.pos, &name).await {
                steps.push(StepPlan {
                    stmt: s,
                    params: step.params.clone(),
                    for_each: step.for_each.clone(),
                    name: step.name.clone(),
                });
            }
        }
        let stmt = stmt?;
        if steps.len() != r.transaction.len() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(Arc::new(SqlPlan {
            id,
            field: name,
            source_name: r.source.clone(),
            source,
            stmt,
            params: r.params.clone(),
            batch: r.batch.as_ref().map(|b| BatchPlan {
                key: Name::new(&b.key),
                parent_key: ParentKey::for_reference(&b.parent_key),
            }),
            steps,
            output: output_of(self.bp, &field.ty),
            cache: cache_policy(self.bp, field),
        }))
    }

    fn subscribe_plan(
        &mut self,
        obj: &ObjectDef,
        field: &FieldDef,
        def: &tributary_schema::SubscribeDef,
    ) -> Option<Arc<SubscribePlan>> {
        let (source, source_name) = match &def.source {
            Some(name) => match self.listeners.get(name) {
                Some(l) => (l.clone(), name.clone()),
                None => {
                    self.error(
                        def.pos,
                        format!("source \"{name}\" cannot LISTEN: it is not a PostgreSQL source"),
                        Some("LISTEN/NOTIFY needs a postgres:// source; use a pub/sub topic (no source:) otherwise".into()),
                    );
                    return None;
                }
            },
            None => (self.pubsub.clone()?, "pubsub".to_string()),
        };
        Some(Arc::new(SubscribePlan {
            field: format!("{}.{}", obj.name, field.name),
            topic: def.topic.clone(),
            source,
            source_name,
            filter: def
                .filter
                .iter()
                .map(|(k, t)| (Name::new(k), t.clone()))
                .collect(),
            output: output_of(self.bp, &field.ty),
        }))
    }

    fn http_plan(
        &mut self,
        obj: &ObjectDef,
        field: &FieldDef,
        r: &HttpResolver,
        source_headers: &[(String, Template)],
    ) -> Option<Arc<HttpPlan>> {
        let Some(source) = self.http_sources.get(&r.source).cloned() else {
            self.error(r.pos, format!("unknown HTTP source \"{}\"", r.source), None);
            return None;
        };
        let mut headers = Vec::new();
        // The source's per-request headers (those forwarding client headers) come first, so a
        // field's own header of the same name wins.
        for (name, template) in source_headers.iter().chain(r.headers.iter()) {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                self.error(
                    r.pos,
                    format!("\"{name}\" is not a valid HTTP header name"),
                    None,
                );
                return None;
            };
            headers.retain(|(n, _): &(HeaderName, Template)| *n != name);
            headers.push((name, template.clone()));
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(Arc::new(HttpPlan {
            id,
            field: format!("{}.{}", obj.name, field.name),
            source_name: r.source.clone(),
            source,
            method: super::http::method(r.method),
            path: r.path.clone(),
            query: r.query.clone(),
            headers,
            body: r.body.clone(),
            select: r.select.iter().map(Name::new).collect(),
            batch: r.batch.as_ref().map(|b| HttpBatchPlan {
                param: b.param.clone(),
                key: Name::new(&b.key),
                separator: b.separator.clone(),
            }),
            timeout: r.timeout,
            output: output_of(self.bp, &field.ty),
            cache: cache_policy(self.bp, field),
        }))
    }

    /// `parentKey` and `{{parent.x}}` must name a column every statement producing the parent
    /// type selects (or a field of the type, for types no statement produces).
    fn check_parent_refs(&mut self, obj: &ObjectDef, r: &SqlResolver) {
        let Some(producers) = self.producers.get(&obj.name).cloned() else {
            return;
        };
        let mut refs: Vec<String> = Vec::new();
        if let Some(b) = &r.batch {
            refs.push(b.parent_key.clone());
        }
        for t in &r.params {
            refs.extend(parent_refs(t));
        }
        for name in refs {
            let key = ParentKey::for_reference(&name);
            for (pos, cols) in &producers {
                if !cols.iter().any(|c| key_matches(&key, c)) {
                    self.error(
                        r.pos,
                        format!(
                            "parent.{name} is not a column of {}: the statement at {pos} that produces it selects {}",
                            obj.name,
                            cols.join(", ")
                        ),
                        Some(format!("select {name} in that statement, or name one of its columns")),
                    );
                }
            }
        }
    }

    /// Every non-null parent-resolved field of a SQL-produced type must find its column.
    fn check_columns(&mut self) {
        let producers = self.producers.clone();
        for (type_name, stmts) in &producers {
            let Some(TypeDef::Object(obj)) = self.bp.types.get(type_name) else {
                continue;
            };
            for field in obj.fields.values() {
                if !matches!(field.resolver, Resolver::Parent) || !field.ty.is_non_null() {
                    continue;
                }
                let key = ParentKey::from_source_key(&field.source_key);
                for (pos, cols) in stmts {
                    if !cols.iter().any(|c| key_matches(&key, c)) {
                        self.error(
                            *pos,
                            format!(
                                "{type_name}.{} is non-null but this statement selects no column for it (columns: {})",
                                field.name,
                                cols.join(", ")
                            ),
                            Some("select the column, rename it with AS, or map the field with @map(from: ...)".into()),
                        );
                    }
                }
            }
        }
    }
}

/// Opens the pub/sub (Redis when configured, else in-process) if the schema publishes or
/// subscribes, and a `LISTEN` connection per PostgreSQL source a `@subscribe` names.
async fn open_live(
    bp: &Blueprint,
    options: &EngineOptions,
) -> Result<(Option<Arc<dyn PubSub>>, HashMap<String, Arc<dyn PubSub>>), BuildError> {
    let mut uses_pubsub = false;
    let mut listen: Vec<String> = Vec::new();
    for ty in bp.types.values() {
        let TypeDef::Object(o) = ty else { continue };
        for f in o.fields.values() {
            if !f.publish.is_empty() {
                uses_pubsub = true;
            }
            if let Resolver::Subscribe(d) = &f.resolver {
                match &d.source {
                    Some(name) if !listen.contains(name) => listen.push(name.clone()),
                    Some(_) => {}
                    None => uses_pubsub = true,
                }
            }
        }
    }
    let pubsub: Option<Arc<dyn PubSub>> = if !uses_pubsub {
        None
    } else if let Some(url) = &options.redis_url {
        let mut o = RedisPubSubOptions::new(url.clone());
        o.prefix = options.cache_prefix.clone();
        let p = RedisPubSub::connect(o).await.map_err(|e| {
            BuildError::Source(format!("cannot open the Redis pub/sub (REDIS_URL): {e}\n  hint: check that Redis is running, or unset REDIS_URL to use in-process pub/sub"))
        })?;
        Some(Arc::new(p))
    } else {
        Some(Arc::new(InProcessPubSub::default()))
    };
    let mut listeners: HashMap<String, Arc<dyn PubSub>> = HashMap::new();
    for name in listen {
        let Some(source) = bp.sources.get(&name) else {
            continue;
        };
        let SourceKind::Sql(def) = &source.kind else {
            continue;
        };
        if !(def.url.starts_with("postgres:") || def.url.starts_with("postgresql:")) {
            continue;
        }
        let l = PgListenerSource::connect(PgListenerOptions::new(name.clone(), def.url.clone()))
            .await
            .map_err(|e| {
                BuildError::Source(format!(
                    "{}:{}: cannot LISTEN on source \"{name}\": {e}",
                    bp.file, source.pos
                ))
            })?;
        listeners.insert(name, Arc::new(l));
    }
    Ok((pubsub, listeners))
}

/// A field's `@cache` policy: its own, else its return type's (for fields with a resolver).
fn cache_policy(bp: &Blueprint, field: &FieldDef) -> Option<Arc<CachePolicy>> {
    let def = field
        .cache
        .as_ref()
        .or_else(|| match bp.types.get(field.ty.name()) {
            Some(TypeDef::Object(o)) => o.cache.as_ref(),
            _ => None,
        })?;
    Some(Arc::new(CachePolicy {
        ttl: def.ttl,
        scope: def.scope,
        tags: def.tags.clone(),
        stale_if_error: def.stale_if_error,
        public_with_credentials: def.public_with_credentials,
    }))
}

/// The headers of an HTTP source that forward client headers (evaluated per request).
fn http_source_headers(bp: &Blueprint, source: &str) -> Vec<(String, Template)> {
    match bp.sources.get(source).map(|s| &s.kind) {
        Some(SourceKind::Http(def)) => def
            .headers
            .iter()
            .filter(|(_, t)| t.parts.iter().any(|p| matches!(p, TemplatePart::Expr(_))))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

fn key_matches(key: &ParentKey, column: &str) -> bool {
    match key {
        ParentKey::Explicit(k) => k.as_str() == column,
        ParentKey::Rule { name, snake } => {
            name.as_str() == column || snake.as_ref().is_some_and(|s| s.as_str() == column)
        }
    }
}

fn parent_refs(t: &Template) -> Vec<String> {
    t.parts
        .iter()
        .filter_map(|p| match p {
            TemplatePart::Expr(Expr {
                root: Root::Parent,
                path,
            }) => path.first().cloned(),
            _ => None,
        })
        .collect()
}

fn output_of(bp: &Blueprint, ty: &TypeRef) -> Output {
    let type_name = ty.name().to_string();
    let kind = match bp.types.get(&type_name) {
        Some(TypeDef::Object(_)) => OutputKind::Object,
        Some(TypeDef::Interface(_)) | Some(TypeDef::Union(_)) => OutputKind::Abstract,
        Some(TypeDef::Enum(_)) => OutputKind::Enum,
        _ => OutputKind::Scalar,
    };
    let is_id = type_name == "ID";
    Output {
        list: ty.is_list(),
        kind,
        type_name,
        is_id,
    }
}

fn dyn_type(ty: &TypeRef) -> DynTypeRef {
    match ty {
        TypeRef::Named(n) => DynTypeRef::Named(n.clone().into()),
        TypeRef::NonNull(t) => DynTypeRef::NonNull(Box::new(dyn_type(t))),
        TypeRef::List(t) => DynTypeRef::List(Box::new(dyn_type(t))),
    }
}

fn input_value(arg: &tributary_schema::ArgDef) -> InputValue {
    let mut iv = InputValue::new(&arg.name, dyn_type(&arg.ty));
    if let Some(d) = &arg.description {
        iv = iv.description(d);
    }
    if let Some(d) = &arg.default {
        iv = iv.default_value(d.clone());
    }
    iv
}

/// Registers every Blueprint type in an async-graphql dynamic schema.
fn register(
    bp: &Blueprint,
    plans: Arc<Plans>,
    options: &EngineOptions,
    validation: ValidationMode,
) -> Result<Schema, String> {
    let mut builder = Schema::build(
        &bp.query,
        bp.mutation.as_deref(),
        bp.subscription.as_deref(),
    )
    .validation_mode(validation);
    let mut declared: HashSet<&str> = HashSet::new();
    for ty in bp.types.values() {
        match ty {
            TypeDef::Object(obj) if Some(&obj.name) == bp.subscription.as_ref() => {
                let mut sub = Subscription::new(&obj.name);
                if let Some(d) = &obj.description {
                    sub = sub.description(d);
                }
                for field in obj.fields.values() {
                    let Some(plan) = plans.field(&obj.name, &field.name) else {
                        continue;
                    };
                    let ResolverPlan::Subscribe(live) = &plan.resolver else {
                        continue;
                    };
                    let mut f = SubscriptionField::new(
                        &field.name,
                        dyn_type(&field.ty),
                        super::live::subscriber(live.clone()),
                    );
                    if let Some(d) = &field.description {
                        f = f.description(d);
                    }
                    for arg in field.args.values() {
                        f = f.argument(input_value(arg));
                    }
                    sub = sub.field(f);
                }
                builder = builder.register(sub);
            }
            TypeDef::Object(obj) => {
                let mut o = Object::new(&obj.name);
                if let Some(d) = &obj.description {
                    o = o.description(d);
                }
                for i in &obj.implements {
                    o = o.implement(i);
                }
                for field in obj.fields.values() {
                    let Some(plan) = plans.field(&obj.name, &field.name).cloned() else {
                        continue;
                    };
                    let mut f = Field::new(
                        &field.name,
                        dyn_type(&field.ty),
                        super::resolve::resolver(plan, plans.clone()),
                    );
                    if let Some(d) = &field.description {
                        f = f.description(d);
                    }
                    if let Some(reason) = &field.deprecation {
                        f = f.deprecation(Some(reason.as_str()));
                    }
                    for arg in field.args.values() {
                        f = f.argument(input_value(arg));
                    }
                    o = o.field(f);
                }
                builder = builder.register(o);
            }
            TypeDef::Interface(obj) => {
                let mut i = Interface::new(&obj.name);
                if let Some(d) = &obj.description {
                    i = i.description(d);
                }
                for field in obj.fields.values() {
                    let mut f = InterfaceField::new(&field.name, dyn_type(&field.ty));
                    for arg in field.args.values() {
                        f = f.argument(input_value(arg));
                    }
                    i = i.field(f);
                }
                builder = builder.register(i);
            }
            TypeDef::Union(u) => {
                let mut un = Union::new(&u.name);
                if let Some(d) = &u.description {
                    un = un.description(d);
                }
                for m in &u.members {
                    un = un.possible_type(m);
                }
                builder = builder.register(un);
            }
            TypeDef::Enum(e) => {
                let mut en = Enum::new(&e.name);
                if let Some(d) = &e.description {
                    en = en.description(d);
                }
                for v in &e.values {
                    let mut item = EnumItem::new(&v.name);
                    if let Some(d) = &v.description {
                        item = item.description(d);
                    }
                    if let Some(reason) = &v.deprecation {
                        item = item.deprecation(Some(reason.as_str()));
                    }
                    en = en.item(item);
                }
                builder = builder.register(en);
            }
            TypeDef::Input(input) => {
                let mut io = InputObject::new(&input.name);
                if let Some(d) = &input.description {
                    io = io.description(d);
                }
                for f in input.fields.values() {
                    io = io.field(input_value(f));
                }
                builder = builder.register(io);
            }
            TypeDef::Scalar(s) => {
                if SPEC_SCALARS.contains(&s.name.as_str()) {
                    continue;
                }
                declared.insert(&s.name);
                let mut sc = Scalar::new(&s.name);
                if let Some(d) = &s.description {
                    sc = sc.description(d);
                }
                builder = builder.register(sc);
            }
        }
    }
    for name in EXTRA_SCALARS {
        if !declared.contains(name) {
            builder = builder.register(Scalar::new(name));
        }
    }
    // Tributary checks these itself first (`limits`), with the same definitions; async-graphql's
    // checks stay as a backstop. 0 turns a limit off.
    if options.max_depth > 0 {
        builder = builder.limit_depth(options.max_depth);
    }
    if options.max_complexity > 0 {
        builder = builder.limit_complexity(options.max_complexity);
    }
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish().map_err(|e| e.to_string())
}
