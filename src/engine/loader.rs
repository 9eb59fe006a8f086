//! The per-request batch loader (a DataLoader without a timer).
//!
//! A batched field never fetches one parent at a time on purpose: when a list resolves, the
//! engine looks ahead at the list's selection and loads every batched child field for all the
//! list's items at once (`prefetch`), level after level, so each level costs one statement
//! whatever the load. async-graphql's DataLoader relies on a 1 ms window instead, which splits
//! batches under load because list items' resolvers start a couple per scheduler turn.
//!
//! Loads are keyed by (plan, argument-derived parameters, parent key). Identical keys in one
//! request share one load, including ones still in flight. Cached fields go through the
//! cache per key (see [`super::caching`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::Value;
use futures::future::{join_all, BoxFuture, FutureExt, Shared};
use tributary_connectors::cache::Cache;
use tributary_connectors::http::{HttpRequest, Method};
use tributary_connectors::sql::Row;
use tributary_connectors::ConnectorError;

use super::caching::{through_cache, CacheCtx, LoadKey};
use super::http::{Call, HttpPlan};
use super::plan::SqlPlan;
use super::template::key_text;

/// The rows of one batch, grouped by the key column's text.
pub type Groups = Arc<HashMap<String, Vec<Arc<Row>>>>;
pub type LoadResult = Result<Groups, Arc<ConnectorError>>;
type BatchFuture = Shared<BoxFuture<'static, LoadResult>>;

#[derive(Hash, PartialEq, Eq)]
struct SlotKey {
    plan: usize,
    /// The statement's other parameters (from arguments), as JSON text.
    params: String,
    key: String,
}

type HttpBatchFuture =
    Shared<BoxFuture<'static, Result<Arc<HashMap<String, Vec<Value>>>, Arc<ConnectorError>>>>;
/// A batched call still to send: its identity, its request without keys, its keys.
type PendingBatch = (String, HttpRequest, Vec<LoadKey>, Option<CacheCtx>);
type HttpCallFuture = Shared<BoxFuture<'static, HttpResult>>;
/// An HTTP field's answer for one parent, shared by every field and parent that reads it
/// (cloning it is a reference count, not a deep copy of the JSON).
pub type HttpResult = Result<Arc<Value>, Arc<ConnectorError>>;
/// (plan, key text) of loads answered by stale cache entries.
type StaleSet = Arc<Mutex<HashSet<(usize, String)>>>;

#[derive(Default)]
pub struct RequestLoader {
    slots: Mutex<HashMap<SlotKey, BatchFuture>>,
    /// Batched HTTP calls: (plan, call identity without the keys, key) → the batch's groups.
    http_batches: Mutex<HashMap<SlotKey, HttpBatchFuture>>,
    /// Single HTTP calls: (plan, call identity) → the selected answer.
    http_calls: Mutex<HashMap<(usize, String), HttpCallFuture>>,
    /// The engine's cache, for `@cache` fields.
    pub cache: Option<Arc<dyn Cache>>,
    /// The caller's identity for PRIVATE cache entries.
    pub identity: Option<String>,
    stale: StaleSet,
}

fn record_stale(set: &StaleSet, plan: usize, keys: HashSet<String>) {
    if !keys.is_empty() {
        let mut s = set.lock().unwrap_or_else(|e| e.into_inner());
        s.extend(keys.into_iter().map(|k| (plan, k)));
    }
}

impl RequestLoader {
    /// Forgets every load (not the cache or identity): a subscription calls it before each
    /// event, so an event's nested fields are loaded afresh instead of repeating what an
    /// earlier event loaded (a product's stock must not be the stock of the first event).
    /// Safe because a subscription resolves its events one after the other.
    pub fn forget(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.http_batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.http_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.stale.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Whether the load of `key` for `plan` was answered by a stale cache entry.
    pub fn was_stale(&self, plan: usize, key: &str) -> bool {
        let s = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        s.contains(&(plan, key.to_string()))
    }

    pub fn note_stale(&self, plan: usize, key: String) {
        record_stale(&self.stale, plan, HashSet::from([key]));
    }

    fn sql_ctx(&self, plan: &SqlPlan) -> Option<CacheCtx> {
        Some(CacheCtx {
            cache: self.cache.clone()?,
            policy: plan.cache.clone()?,
            source: plan.source_name.clone(),
            identity: self.identity.clone(),
        })
    }

    /// A non-batched statement through the cache (if the field is cached). Returns the rows
    /// and whether they came from a stale entry.
    pub async fn query_sql(
        &self,
        plan: &Arc<SqlPlan>,
        params: Vec<Value>,
        tags: Vec<String>,
    ) -> Result<(Vec<Arc<Row>>, bool), Arc<ConnectorError>> {
        let Some(ctx) = self.sql_ctx(plan) else {
            let rows = plan
                .source
                .query(&plan.stmt, &params, None)
                .await
                .map_err(Arc::new)?;
            return Ok((rows.into_iter().map(Arc::new).collect(), false));
        };
        let request = format!("{}\u{0}{}", plan.stmt.sql, Value::List(params.clone()));
        let key = LoadKey {
            text: String::new(),
            value: Value::Null,
            tags,
        };
        let (mut loaded, stale) = through_cache(Some(&ctx), &request, vec![key], |_| async {
            let rows = plan
                .source
                .query(&plan.stmt, &params, None)
                .await
                .map_err(Arc::new)?;
            Ok(HashMap::from([(
                String::new(),
                rows.into_iter().map(Value::Object).collect(),
            )]))
        })
        .await?;
        let rows = loaded
            .remove("")
            .unwrap_or_default()
            .into_iter()
            .filter_map(into_row)
            .collect();
        Ok((rows, !stale.is_empty()))
    }

    /// Loads the rows of `plan` for `keys`, one statement for all keys not already loaded
    /// or loading in this request (nor cached). Returns rows by key text.
    pub async fn load_many(
        &self,
        plan: &Arc<SqlPlan>,
        params: Vec<Value>,
        keys: Vec<LoadKey>,
    ) -> Result<HashMap<String, Vec<Arc<Row>>>, Arc<ConnectorError>> {
        let params_text = Value::List(params.clone()).to_string();
        let mut waits: Vec<(String, BatchFuture)> = Vec::with_capacity(keys.len());
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let mut missing: Vec<LoadKey> = Vec::new();
            for key in keys {
                let slot = SlotKey {
                    plan: plan.id,
                    params: params_text.clone(),
                    key: key.text.clone(),
                };
                if let Some(fut) = slots.get(&slot) {
                    waits.push((key.text, fut.clone()));
                } else if !missing.iter().any(|k| k.text == key.text) {
                    missing.push(key);
                }
            }
            if !missing.is_empty() {
                let texts: Vec<String> = missing.iter().map(|k| k.text.clone()).collect();
                let ctx = self.sql_ctx(plan);
                let fut = batch_future(plan.clone(), params, missing, ctx, self.stale.clone());
                for text in texts {
                    slots.insert(
                        SlotKey {
                            plan: plan.id,
                            params: params_text.clone(),
                            key: text.clone(),
                        },
                        fut.clone(),
                    );
                    waits.push((text, fut.clone()));
                }
            }
        }
        let mut out = HashMap::with_capacity(waits.len());
        // Most keys share one future: await each distinct batch once.
        let mut done: Vec<(BatchFuture, Groups)> = Vec::new();
        for (text, fut) in waits {
            let groups = match done.iter().find(|(f, _)| f.ptr_eq(&fut)) {
                Some((_, g)) => g.clone(),
                None => {
                    let g = fut.clone().await?;
                    done.push((fut, g.clone()));
                    g
                }
            };
            let rows = groups.get(&text).cloned().unwrap_or_default();
            out.insert(text, rows);
        }
        Ok(out)
    }

    /// Loads the answers of `calls` (one per parent) of an HTTP plan, aligned with `calls`.
    /// Batched plans send one call per distinct identity carrying every key not already
    /// loaded in this request (nor cached); other plans send each distinct call once,
    /// concurrently. A batched field's answer for a parent is its items (a list field) or the
    /// first one.
    pub async fn load_http(&self, plan: &Arc<HttpPlan>, calls: Vec<Call>) -> Vec<HttpResult> {
        let Some(_) = &plan.batch else {
            return self.load_http_single(plan, calls).await;
        };
        let mut waits: Vec<Option<(String, HttpBatchFuture)>> = Vec::with_capacity(calls.len());
        {
            let mut slots = self.http_batches.lock().unwrap_or_else(|e| e.into_inner());
            let mut missing: Vec<PendingBatch> = Vec::new();
            let mut pending: Vec<(usize, String, String)> = Vec::new();
            for (i, call) in calls.into_iter().enumerate() {
                let ctx = plan.cache_ctx(&call, self.cache.as_ref(), self.identity.as_ref());
                let Some((text, value)) = call.key else {
                    waits.push(None);
                    continue;
                };
                let slot = SlotKey {
                    plan: plan.id,
                    params: call.identity.clone(),
                    key: text.clone(),
                };
                if let Some(fut) = slots.get(&slot) {
                    waits.push(Some((text, fut.clone())));
                    continue;
                }
                waits.push(None);
                pending.push((i, call.identity.clone(), text.clone()));
                let key = LoadKey {
                    text: text.clone(),
                    value,
                    tags: call.tags,
                };
                match missing
                    .iter_mut()
                    .find(|(id, _, _, _)| *id == call.identity)
                {
                    Some((_, _, keys, _)) => {
                        if !keys.iter().any(|k| k.text == text) {
                            keys.push(key);
                        }
                    }
                    None => missing.push((call.identity, call.request, vec![key], ctx)),
                }
            }
            for (identity, request, keys, ctx) in missing {
                let texts: Vec<String> = keys.iter().map(|k| k.text.clone()).collect();
                let plan2 = plan.clone();
                let plan_id = plan.id;
                let stale_set = self.stale.clone();
                let id2 = identity.clone();
                let fut: HttpBatchFuture = async move {
                    // The entry holds this field's part of the answer (`select`, grouped by
                    // its `key`): fields sending the same request must not share it.
                    let request_text = format!("{}\u{0}{}", plan2.field, id2);
                    let fetch = |values: Vec<Value>| async move {
                        let request = plan2.with_keys(request, &values);
                        let response = plan2.source.send(request).await.map_err(Arc::new)?;
                        plan2.group(response.body).map_err(Arc::new)
                    };
                    let (groups, stale) =
                        through_cache(ctx.as_ref(), &request_text, keys, fetch).await?;
                    record_stale(&stale_set, plan_id, stale);
                    Ok(Arc::new(groups))
                }
                .boxed()
                .shared();
                for text in texts {
                    slots.insert(
                        SlotKey {
                            plan: plan.id,
                            params: identity.clone(),
                            key: text,
                        },
                        fut.clone(),
                    );
                }
            }
            for (i, identity, text) in pending {
                let slot = SlotKey {
                    plan: plan.id,
                    params: identity,
                    key: text.clone(),
                };
                if let Some(fut) = slots.get(&slot) {
                    waits[i] = Some((text, fut.clone()));
                }
            }
        }
        let list = plan.output.list;
        join_all(waits.into_iter().map(|w| async move {
            let Some((text, fut)) = w else {
                return Ok(Arc::new(if list {
                    Value::List(Vec::new())
                } else {
                    Value::Null
                }));
            };
            let groups = fut.await?;
            let items = groups.get(&text).cloned().unwrap_or_default();
            Ok(Arc::new(if list {
                Value::List(items)
            } else {
                items.into_iter().next().unwrap_or(Value::Null)
            }))
        }))
        .await
    }

    async fn load_http_single(&self, plan: &Arc<HttpPlan>, calls: Vec<Call>) -> Vec<HttpResult> {
        let stale_set = self.stale.clone();
        let send = |plan: Arc<HttpPlan>, call: Call, ctx: Option<CacheCtx>| -> HttpCallFuture {
            let stale_set = stale_set.clone();
            async move {
                let key = LoadKey {
                    text: call.identity.clone(),
                    value: Value::Null,
                    tags: call.tags,
                };
                let request = call.request;
                // The entry holds this field's part of the answer (`select`, checked against
                // its type): fields sending the same request must not share it.
                let field = plan.field.clone();
                let (mut loaded, stale) =
                    through_cache(ctx.as_ref(), &field, vec![key], |_| async {
                        let response = plan.source.send(request).await.map_err(Arc::new)?;
                        let value = plan.select(response.body);
                        // A 2xx of the wrong shape is UPSTREAM_INVALID_RESPONSE.
                        plan.check_shape(&value).map_err(Arc::new)?;
                        Ok(HashMap::from([(call.identity.clone(), vec![value])]))
                    })
                    .await?;
                record_stale(&stale_set, plan.id, stale);
                let value = loaded
                    .remove(&call.identity)
                    .and_then(|v| v.into_iter().next());
                Ok(Arc::new(value.unwrap_or(Value::Null)))
            }
            .boxed()
            .shared()
        };
        // Only reads are shared (and cached): two identical mutations in one request are two
        // calls.
        if plan.method != Method::GET {
            return join_all(calls.into_iter().map(|c| send(plan.clone(), c, None))).await;
        }
        let futures: Vec<HttpCallFuture> = {
            let mut slots = self.http_calls.lock().unwrap_or_else(|e| e.into_inner());
            calls
                .into_iter()
                .map(|call| {
                    let ctx = plan.cache_ctx(&call, self.cache.as_ref(), self.identity.as_ref());
                    slots
                        .entry((plan.id, call.identity.clone()))
                        .or_insert_with(|| send(plan.clone(), call, ctx))
                        .clone()
                })
                .collect()
        };
        join_all(futures).await
    }
}

fn into_row(value: Value) -> Option<Arc<Row>> {
    match value {
        Value::Object(map) => Some(Arc::new(map)),
        _ => None,
    }
}

fn batch_future(
    plan: Arc<SqlPlan>,
    params: Vec<Value>,
    keys: Vec<LoadKey>,
    ctx: Option<CacheCtx>,
    stale_set: StaleSet,
) -> BatchFuture {
    async move {
        let Some(batch) = &plan.batch else {
            return Err(Arc::new(ConnectorError::Internal {
                detail: "batched load without batch plan".into(),
            }));
        };
        let Some(ctx) = ctx else {
            let values: Vec<Value> = keys.into_iter().map(|k| k.value).collect();
            let rows = plan
                .source
                .query(&plan.stmt, &params, Some(&values))
                .await
                .map_err(Arc::new)?;
            let mut groups: HashMap<String, Vec<Arc<Row>>> = HashMap::new();
            for row in rows {
                if let Some(key) = row.get(&batch.key).and_then(key_text) {
                    groups.entry(key).or_default().push(Arc::new(row));
                }
            }
            return Ok(Arc::new(groups));
        };
        let request = format!("{}\u{0}{}", plan.stmt.sql, Value::List(params.clone()));
        let key_column = batch.key.clone();
        let plan2 = plan.clone();
        let fetch = |values: Vec<Value>| async move {
            let rows = plan2
                .source
                .query(&plan2.stmt, &params, Some(&values))
                .await
                .map_err(Arc::new)?;
            let mut groups: HashMap<String, Vec<Value>> = HashMap::new();
            for row in rows {
                if let Some(key) = row.get(&key_column).and_then(key_text) {
                    groups.entry(key).or_default().push(Value::Object(row));
                }
            }
            Ok(groups)
        };
        let (loaded, stale) = through_cache(Some(&ctx), &request, keys, fetch).await?;
        record_stale(&stale_set, plan.id, stale);
        Ok(Arc::new(
            loaded
                .into_iter()
                .map(|(k, items)| (k, items.into_iter().filter_map(into_row).collect()))
                .collect(),
        ))
    }
    .boxed()
    .shared()
}
