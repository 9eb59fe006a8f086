//! The generic resolvers: one per resolver kind, driven by the field's plan.
//!
//! Parent data travels as `Arc<Row>` (rows from SQL, shared, never copied per field) or as a
//! `Value::Object` (nested JSON). Errors become field errors with a stable `extensions.code`;
//! details go to the logs only.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{ErrorExtensions, Name, SelectionField, Value};
use futures::future::{join_all, BoxFuture, FutureExt};
use indexmap::IndexMap;
use tributary_connectors::sql::Row;
use tributary_connectors::ConnectorError;

use super::caching::LoadKey;
use super::http::HttpPlan;
use super::loader::RequestLoader;
use super::plan::{FieldPlan, Output, OutputKind, Plans, ResolverPlan, SqlPlan};
use super::template::{bound, key_text, Scope};
use tributary_connectors::http::Method;

/// Per-request state, put into each request's data by the engine.
#[derive(Default)]
pub struct RequestState {
    pub loader: RequestLoader,
    /// The client's request headers that some HTTP source allow-lists (`forwardHeaders`), by
    /// lower-case name; nothing else from the client reaches templates.
    pub headers: HashMap<String, String>,
    /// The `connection_init` payload of the WebSocket connection the operation runs on
    /// (`None` over HTTP); it will carry the auth token.
    pub init_payload: Option<serde_json::Value>,
    /// Paths of fields answered from stale cache entries (stale-if-error).
    pub stale_paths: std::sync::Mutex<Vec<String>>,
    /// The pub/sub, for `@publish`.
    pub pubsub: Option<Arc<dyn tributary_connectors::pubsub::PubSub>>,
}

type Data = IndexMap<Name, Value>;

/// The message of the placeholder error a failed non-null field returns once its real error
/// is recorded at its path; `Engine::execute` removes these from responses.
pub(crate) const RECORDED: &str = "tributary: field error recorded at its path";

/// An object of an HTTP answer, as the parent of its fields: the answer (shared with the
/// request's loader and every other field reading it) and, for an item of a list, its index.
/// Fields read it where it is, instead of async-graphql's deep copy of every value.
pub struct SharedObject {
    answer: Arc<Value>,
    index: Option<usize>,
}

impl SharedObject {
    pub fn data(&self) -> Option<&Data> {
        match (&*self.answer, self.index) {
            (Value::Object(map), None) => Some(map),
            (Value::List(items), Some(i)) => items.get(i).and_then(as_object),
            _ => None,
        }
    }
}

/// The parent's source data, whichever form it travels in.
pub fn parent_data<'a>(parent: &'a FieldValue<'a>) -> Option<&'a Data> {
    if let Some(row) = parent.downcast_ref::<Arc<Row>>() {
        return Some(row);
    }
    if let Some(shared) = parent.downcast_ref::<SharedObject>() {
        return shared.data();
    }
    match parent.as_value() {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Builds the resolver function for one field.
pub fn resolver(
    plan: Arc<FieldPlan>,
    plans: Arc<Plans>,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    move |ctx: ResolverContext<'_>| {
        let plan = plan.clone();
        match &plan.resolver {
            ResolverPlan::Value(value) => FieldFuture::from_value(Some(value.clone())),
            // Subscription fields are registered with their own resolver (`live::subscriber`).
            ResolverPlan::Subscribe(_) => FieldFuture::Value(None),
            ResolverPlan::Parent(key) => {
                let value = parent_data(ctx.parent_value)
                    .and_then(|d| key.read(d))
                    .cloned();
                match plan.output.kind {
                    OutputKind::Scalar | OutputKind::Enum => {
                        let value = value.filter(|v| *v != Value::Null);
                        match value.map(|v| coerce_leaf(v, &plan.output)).transpose() {
                            Ok(value) => {
                                FieldFuture::Value(value.map(|v| leaf_or_list(v, plan.output.list)))
                            }
                            Err(e) => {
                                let nullable = plan.nullable;
                                FieldFuture::new(async move { record(ctx.ctx, e, nullable) })
                            }
                        }
                    }
                    OutputKind::Object | OutputKind::Abstract => {
                        let plans = plans.clone();
                        FieldFuture::new(async move {
                            let Some(value) = value.filter(|v| *v != Value::Null) else {
                                return Ok(None);
                            };
                            if plan.output.list && plan.output.kind == OutputKind::Object {
                                if let (Ok(state), Value::List(items)) =
                                    (ctx.data::<Arc<RequestState>>(), &value)
                                {
                                    let parents: Vec<&Data> =
                                        items.iter().filter_map(as_object).collect();
                                    prefetch(
                                        state,
                                        &plans,
                                        &plan.output.type_name,
                                        parents,
                                        ctx.field(),
                                    )
                                    .await;
                                }
                            }
                            Ok(Some(nested_value(value, &plan.output)))
                        })
                    }
                }
            }
            ResolverPlan::Sql(_) | ResolverPlan::Http(_) => {
                let plans = plans.clone();
                FieldFuture::new(async move {
                    let gql = ctx.ctx;
                    let nullable = plan.nullable;
                    let result = match &plan.resolver {
                        ResolverPlan::Sql(sql) => {
                            resolve_sql(ctx, plan.clone(), sql.clone(), plans).await
                        }
                        ResolverPlan::Http(http) => {
                            resolve_http(ctx, plan.clone(), http.clone(), plans).await
                        }
                        _ => Ok(None),
                    };
                    if result.is_ok() && !plan.invalidate.is_empty() {
                        invalidate(gql, &plan).await;
                    }
                    if let (Ok(value), false) = (&result, plan.publish.is_empty()) {
                        publish(gql, &plan, value.as_ref()).await;
                    }
                    match result {
                        Err(error) => record(gql, error, nullable),
                        ok => ok,
                    }
                })
            }
        }
    }
}

/// Records a field error at the field's path. async-graphql's dynamic schema reports a
/// resolver's error without a path and drops the field from its parent; so the error is added
/// here, and a nullable field resolves to null (GraphQL spec, "Handling Field Errors"), while a
/// non-null one fails with a placeholder error that `Engine::execute` removes (null
/// propagation then nulls the nearest nullable ancestor).
fn record(
    gql: &async_graphql::Context<'_>,
    error: async_graphql::Error,
    nullable: bool,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    gql.add_error(gql.set_error_path(error.into_server_error(gql.item.pos)));
    if nullable {
        Ok(None)
    } else {
        Err(async_graphql::Error::new(RECORDED))
    }
}

fn as_object(value: &Value) -> Option<&Data> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A nested value from parent data (JSON) as a field value of the output's shape.
pub(crate) fn nested_value(value: Value, output: &Output) -> FieldValue<'static> {
    match (output.kind, value) {
        (OutputKind::Abstract, Value::List(items)) => {
            FieldValue::list(items.into_iter().map(with_typename))
        }
        (OutputKind::Abstract, value) => with_typename(value),
        (_, value) => leaf_or_list(value, output.list),
    }
}

/// A value as a field value; a list field's list as a list of field values. async-graphql
/// resolves a `FieldValue::value(Value::List(..))` by deep-cloning every item first, while a
/// `FieldValue::list` hands it the items as they are (same result, no copy).
fn leaf_or_list(value: Value, list: bool) -> FieldValue<'static> {
    match value {
        Value::List(items) if list => FieldValue::list(items.into_iter().map(FieldValue::value)),
        value => FieldValue::value(value),
    }
}

/// The concrete type named by a value's `__typename` (empty when absent: async-graphql then
/// reports the field as an error).
fn typename_of(data: &Data) -> String {
    match data.get("__typename") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn with_typename(value: Value) -> FieldValue<'static> {
    let ty = match &value {
        Value::Object(map) => typename_of(map),
        _ => String::new(),
    };
    FieldValue::value(value).with_type(ty)
}

fn row_value(row: Arc<Row>, output: &Output) -> FieldValue<'static> {
    match output.kind {
        OutputKind::Object => FieldValue::owned_any(row),
        OutputKind::Abstract => {
            let ty = typename_of(&row);
            FieldValue::owned_any(row).with_type(ty)
        }
        OutputKind::Scalar | OutputKind::Enum => {
            let value = row.values().next().cloned().unwrap_or(Value::Null);
            FieldValue::value(if output.is_id { id_value(value) } else { value })
        }
    }
}

/// Result coercion of a built-in scalar read from parent data (GraphQL spec, "Scalars"):
/// `ID` and `String` accept numbers (serialized as text), `Float` accepts integers; anything
/// else of the wrong kind — an upstream breaking its contract — is an error, not data.
fn coerce_leaf(value: Value, output: &Output) -> Result<Value, async_graphql::Error> {
    let ok = match (output.type_name.as_str(), &value) {
        (_, Value::List(_)) if output.list => {
            return match value {
                Value::List(items) => {
                    let item = Output {
                        list: false,
                        ..output.clone()
                    };
                    items
                        .into_iter()
                        .map(|v| {
                            if v == Value::Null {
                                Ok(v)
                            } else {
                                coerce_leaf(v, &item)
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Value::List)
                }
                other => Ok(other),
            };
        }
        ("ID", Value::Number(_)) => return Ok(id_value(value)),
        ("ID" | "String", Value::String(_)) => true,
        ("String", Value::Number(_) | Value::Boolean(_)) => {
            return Ok(Value::String(value.to_string()))
        }
        ("Int", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("Float", Value::Number(_)) => true,
        ("Boolean", Value::Boolean(_)) => true,
        ("ID" | "String" | "Int" | "Float" | "Boolean", _) => false,
        _ => true,
    };
    if ok {
        Ok(value)
    } else {
        tracing::warn!(type_name = %output.type_name, "a value in the data does not fit its field type");
        Err(async_graphql::Error::new(format!(
            "the data for this field is not a valid {}",
            output.type_name
        ))
        .extend_with(|_, ext| ext.set("code", "UPSTREAM_INVALID_RESPONSE")))
    }
}

/// An `ID` value as the spec serializes it: a string (integer keys included).
fn id_value(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::List(items) => Value::List(items.into_iter().map(id_value).collect()),
        other => other,
    }
}

/// Rows → the field's value: a list, or the first row (scalars: the first column).
fn shape(rows: Vec<Arc<Row>>, output: &Output) -> Option<FieldValue<'static>> {
    if output.list {
        Some(FieldValue::list(
            rows.into_iter().map(|r| row_value(r, output)),
        ))
    } else {
        let first = rows.into_iter().next()?;
        if matches!(output.kind, OutputKind::Scalar | OutputKind::Enum)
            && first.values().next().is_none_or(|v| *v == Value::Null)
        {
            return None;
        }
        Some(row_value(first, output))
    }
}

/// Resolves an `@http` field: builds this parent's call, loads it through the request's
/// loader (already loaded when a list's look-ahead got there first), selects the field's part.
async fn resolve_http<'a>(
    ctx: ResolverContext<'a>,
    plan: Arc<FieldPlan>,
    http: Arc<HttpPlan>,
    plans: Arc<Plans>,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let state = ctx.data::<Arc<RequestState>>()?;
    let fail = |e: &ConnectorError| field_error(e, &http.field, &http.source_name);
    let scope = Scope {
        args: Some(ctx.args.as_index_map()),
        parent: parent_data(ctx.parent_value),
        headers: Some(&state.headers),
        ..Scope::default()
    };
    let call = http.call(&scope).map_err(|e| fail(&e))?;
    if http.batch.is_some() && call.key.is_none() {
        return Ok(if plan.output.list {
            Some(FieldValue::list(Vec::<FieldValue>::new()))
        } else {
            None
        });
    }
    let stale_key = match &call.key {
        Some((text, _)) => text.clone(),
        None => call.identity.clone(),
    };
    let result = state
        .loader
        .load_http(&http, vec![call])
        .await
        .into_iter()
        .next();
    if http.cache.is_some() && state.loader.was_stale(http.id, &stale_key) {
        note_stale(state, ctx.ctx);
    }
    let answer = match result {
        Some(Ok(answer)) => answer,
        Some(Err(e)) if e.status() == Some(404) && plan.nullable => return Ok(None),
        Some(Err(e)) if e.status() == Some(404) => {
            return Err(not_found(&http.field, &http.source_name));
        }
        Some(Err(e)) => return Err(fail(&e)),
        None => return Ok(None),
    };
    if plan.output.list && plan.output.kind == OutputKind::Object {
        if let Value::List(items) = &*answer {
            let parents: Vec<&Data> = items.iter().filter_map(as_object).collect();
            prefetch(state, &plans, &plan.output.type_name, parents, ctx.field()).await;
        }
    }
    Ok(shared_json_value(answer, &plan.output))
}

/// A shared HTTP answer as a field value: objects (alone or as list items) of an object type
/// stay in the shared answer ([`SharedObject`]); anything else is copied out as before.
fn shared_json_value(answer: Arc<Value>, output: &Output) -> Option<FieldValue<'static>> {
    if output.kind != OutputKind::Object || output.is_id {
        return json_value(Arc::unwrap_or_clone(answer), output);
    }
    match (&*answer, output.list) {
        (Value::Object(_), false) => Some(FieldValue::owned_any(SharedObject {
            answer,
            index: None,
        })),
        (Value::List(items), true) => {
            let items: Vec<FieldValue<'static>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(_) => FieldValue::owned_any(SharedObject {
                        answer: answer.clone(),
                        index: Some(i),
                    }),
                    other => FieldValue::value(other.clone()),
                })
                .collect();
            Some(FieldValue::list(items))
        }
        _ => json_value(Arc::unwrap_or_clone(answer), output),
    }
}

/// A JSON answer as a field value of the output's shape (`None` for null).
fn json_value(value: Value, output: &Output) -> Option<FieldValue<'static>> {
    match value {
        Value::Null => None,
        value if output.is_id => Some(leaf_or_list(id_value(value), output.list)),
        value => Some(nested_value(value, output)),
    }
}

fn not_found(field: &str, source: &str) -> async_graphql::Error {
    tracing::debug!(field, source, "upstream answered 404 for a non-null field");
    async_graphql::Error::new("the requested item does not exist")
        .extend_with(|_, ext| ext.set("code", "NOT_FOUND"))
}

/// The cache tags of one parent's entry, if the field is cached.
fn cache_tags(
    policy: &Option<Arc<super::caching::CachePolicy>>,
    args: &Data,
    parent: Option<&Data>,
) -> Vec<String> {
    match policy {
        Some(p) if !p.tags.is_empty() => {
            let scope = Scope {
                args: Some(args),
                parent,
                ..Scope::default()
            };
            super::caching::tags(&p.tags, &scope)
        }
        _ => Vec::new(),
    }
}

/// `@invalidate`: drops the tagged cache entries once a mutation field has succeeded, so the
/// next read is fresh on every replica sharing the cache.
async fn invalidate(gql: &async_graphql::Context<'_>, plan: &FieldPlan) {
    let Ok(state) = gql.data::<Arc<RequestState>>() else {
        return;
    };
    let Some(cache) = &state.loader.cache else {
        return;
    };
    let args: Data = gql
        .field()
        .arguments()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let scope = Scope {
        args: Some(&args),
        ..Scope::default()
    };
    let tags = super::caching::tags(&plan.invalidate, &scope);
    if !tags.is_empty() {
        cache.invalidate_tags(&tags).await;
    }
}

/// `@publish`: sends the mutation's result (or declared payloads) to its topics.
async fn publish(
    gql: &async_graphql::Context<'_>,
    plan: &FieldPlan,
    value: Option<&FieldValue<'_>>,
) {
    let Ok(state) = gql.data::<Arc<RequestState>>() else {
        return;
    };
    let Some(pubsub) = &state.pubsub else { return };
    let args: Data = gql
        .field()
        .arguments()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let data = value.map(super::live::field_data).unwrap_or(Value::Null);
    super::live::publish(pubsub, &plan.publish, &args, &data, gql.field().name()).await;
}

/// Records that this field was answered from a stale cache entry (stale-if-error), for the
/// response's `extensions.cache.stale`.
fn note_stale(state: &RequestState, ctx: &async_graphql::Context<'_>) {
    let path = ctx.path_node.map(|p| p.to_string()).unwrap_or_default();
    state
        .stale_paths
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path);
}

/// Turns a connector error into a field error: a fixed public message and a stable code; the
/// details are logged here, with the field and source.
pub fn field_error(error: &ConnectorError, field: &str, source: &str) -> async_graphql::Error {
    let code = error.code();
    match error {
        ConnectorError::BadInput { .. } => {
            tracing::debug!(field, source, code = code.as_str(), error = %error, "field rejected its input")
        }
        _ => {
            tracing::warn!(field, source, code = code.as_str(), error = %error, "field resolution failed")
        }
    }
    let status = error.status();
    async_graphql::Error::new(error.public_message()).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        if let Some(status) = status {
            ext.set("status", status);
        }
    })
}

async fn resolve_sql<'a>(
    ctx: ResolverContext<'a>,
    plan: Arc<FieldPlan>,
    sql: Arc<SqlPlan>,
    plans: Arc<Plans>,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let args = ctx.args.as_index_map();
    let parent = parent_data(ctx.parent_value);
    let state = ctx.data::<Arc<RequestState>>()?;
    let fail = |e: &ConnectorError| field_error(e, &sql.field, &sql.source_name);

    let rows: Vec<Arc<Row>> = if let Some(batch) = &sql.batch {
        let Some(key_value) = parent
            .and_then(|p| batch.parent_key.read(p))
            .filter(|v| **v != Value::Null)
        else {
            return Ok(if plan.output.list {
                Some(FieldValue::list(Vec::<FieldValue>::new()))
            } else {
                None
            });
        };
        let Some(text) = key_text(key_value) else {
            return Ok(None);
        };
        let scope = Scope {
            args: Some(args),
            ..Scope::default()
        };
        let params = sql.params.iter().map(|t| bound(scope.eval(t))).collect();
        let tags = cache_tags(&sql.cache, args, parent);
        let key = LoadKey {
            text: text.clone(),
            value: key_value.clone(),
            tags,
        };
        let mut loaded = state
            .loader
            .load_many(&sql, params, vec![key])
            .await
            .map_err(|e| fail(&e))?;
        if sql.cache.is_some() && state.loader.was_stale(sql.id, &text) {
            note_stale(state, ctx.ctx);
        }
        loaded.remove(&text).unwrap_or_default()
    } else if !sql.steps.is_empty() {
        run_transaction(&sql, args, parent)
            .await
            .map_err(|e| fail(&e))?
    } else {
        let scope = Scope {
            args: Some(args),
            parent,
            ..Scope::default()
        };
        let params: Vec<Value> = sql.params.iter().map(|t| bound(scope.eval(t))).collect();
        let tags = cache_tags(&sql.cache, args, parent);
        let (rows, stale) = state
            .loader
            .query_sql(&sql, params, tags)
            .await
            .map_err(|e| fail(&e))?;
        if stale {
            note_stale(state, ctx.ctx);
        }
        rows
    };

    if plan.output.list && plan.output.kind == OutputKind::Object && !rows.is_empty() {
        let parents: Vec<&Data> = rows.iter().map(|r| &**r).collect();
        prefetch(state, &plans, &plan.output.type_name, parents, ctx.field()).await;
    }
    Ok(shape(rows, &plan.output))
}

async fn run_transaction(
    sql: &SqlPlan,
    args: &Data,
    parent: Option<&Data>,
) -> Result<Vec<Arc<Row>>, ConnectorError> {
    let mut tx = sql.source.begin().await?;
    let mut steps: HashMap<String, Row> = HashMap::new();
    for step in &sql.steps {
        let mut first: Option<Row> = None;
        let items: Vec<Option<Value>> = match &step.for_each {
            Some(template) => {
                let scope = Scope {
                    args: Some(args),
                    parent,
                    steps: Some(&steps),
                    ..Scope::default()
                };
                match scope.eval(template) {
                    Value::List(items) => items.into_iter().map(Some).collect(),
                    Value::Null => Vec::new(),
                    other => vec![Some(other)],
                }
            }
            None => vec![None],
        };
        for item in &items {
            let scope = Scope {
                args: Some(args),
                parent,
                steps: Some(&steps),
                item: item.as_ref(),
                ..Scope::default()
            };
            let params: Vec<Value> = step.params.iter().map(|t| bound(scope.eval(t))).collect();
            let rows = tx.query(&step.stmt, &params, None).await?;
            if first.is_none() {
                first = rows.into_iter().next();
            }
        }
        if let Some(name) = &step.name {
            steps.insert(name.clone(), first.unwrap_or_default());
        }
    }
    let scope = Scope {
        args: Some(args),
        parent,
        steps: Some(&steps),
        ..Scope::default()
    };
    let params: Vec<Value> = sql.params.iter().map(|t| bound(scope.eval(t))).collect();
    let rows = tx.query(&sql.stmt, &params, None).await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(Arc::new).collect())
}

/// A looked-ahead field's arguments with the schema's defaults applied, as its resolver will
/// see them, so both compute the same batch group.
fn child_args(child: &SelectionField<'_>, plan: &FieldPlan) -> Data {
    let mut args: Data = child.arguments().unwrap_or_default().into_iter().collect();
    for (name, default) in &plan.arg_defaults {
        if !args.contains_key(name) {
            args.insert(name.clone(), default.clone());
        }
    }
    args
}

/// Look-ahead batching: for a list of `type_name` objects, loads every batched field selected
/// under it for all items at once, then recurses into what was loaded, so each level of the
/// query costs one statement per field. Failures are not reported here: the failed load is
/// cached, and each field that needs it reports the error at its own path.
pub fn prefetch<'a>(
    state: &'a RequestState,
    plans: &'a Plans,
    type_name: &'a str,
    parents: Vec<&'a Data>,
    selection: SelectionField<'a>,
) -> BoxFuture<'a, ()> {
    async move {
        if parents.is_empty() {
            return;
        }
        let mut work = Vec::new();
        for child in selection.selection_set() {
            let Some(plan) = plans.field(type_name, child.name()) else {
                continue;
            };
            let parents = &parents;
            match &plan.resolver {
                ResolverPlan::Sql(sql) if sql.batch.is_some() => {
                    work.push(
                        async move {
                            let Some(batch) = &sql.batch else { return };
                            let args = child_args(&child, plan);
                            let scope = Scope {
                                args: Some(&args),
                                ..Scope::default()
                            };
                            let params = sql.params.iter().map(|t| bound(scope.eval(t))).collect();
                            let keys: Vec<LoadKey> = parents
                                .iter()
                                .filter_map(|p| {
                                    let v = batch.parent_key.read(p)?;
                                    let text = key_text(v)?;
                                    let tags = cache_tags(&sql.cache, &args, Some(p));
                                    Some(LoadKey {
                                        text,
                                        value: v.clone(),
                                        tags,
                                    })
                                })
                                .collect();
                            if keys.is_empty() {
                                return;
                            }
                            let Ok(loaded) = state.loader.load_many(sql, params, keys).await else {
                                return;
                            };
                            if plan.output.kind == OutputKind::Object {
                                let rows: Vec<&Data> =
                                    loaded.values().flatten().map(|r| &**r).collect();
                                prefetch(state, plans, &plan.output.type_name, rows, child).await;
                            }
                        }
                        .boxed(),
                    );
                }
                // Only reads are sent ahead: a write runs when its own field resolves.
                ResolverPlan::Http(http) if http.method == Method::GET => {
                    work.push(
                        async move {
                            let args = child_args(&child, plan);
                            let calls: Vec<_> = parents
                                .iter()
                                .filter_map(|p| {
                                    let scope = Scope {
                                        args: Some(&args),
                                        parent: Some(p),
                                        headers: Some(&state.headers),
                                        ..Scope::default()
                                    };
                                    http.call(&scope).ok()
                                })
                                .filter(|c| http.batch.is_none() || c.key.is_some())
                                .collect();
                            if calls.is_empty() {
                                return;
                            }
                            let results = state.loader.load_http(http, calls).await;
                            if plan.output.kind == OutputKind::Object {
                                let mut nested: Vec<&Data> = Vec::new();
                                for value in results.iter().flatten() {
                                    match &**value {
                                        Value::Object(map) => nested.push(map),
                                        Value::List(items) => {
                                            nested.extend(items.iter().filter_map(as_object))
                                        }
                                        _ => {}
                                    }
                                }
                                prefetch(state, plans, &plan.output.type_name, nested, child).await;
                            }
                        }
                        .boxed(),
                    );
                }
                ResolverPlan::Parent(key) if plan.output.kind == OutputKind::Object => {
                    work.push(
                        async move {
                            let mut nested: Vec<&Data> = Vec::new();
                            for p in parents.iter() {
                                match key.read(p) {
                                    Some(Value::Object(map)) => nested.push(map),
                                    Some(Value::List(items)) => {
                                        nested.extend(items.iter().filter_map(as_object))
                                    }
                                    _ => {}
                                }
                            }
                            prefetch(state, plans, &plan.output.type_name, nested, child).await;
                        }
                        .boxed(),
                    );
                }
                _ => {}
            }
        }
        join_all(work).await;
    }
    .boxed()
}
