//! The per-request batch loader (a DataLoader without a timer).
//!
//! A batched field never fetches one parent at a time on purpose: when a list resolves, the
//! engine looks ahead at the list's selection and loads every batched child field for all the
//! list's items at once (`prefetch`), level after level, so each level costs one statement
//! whatever the load. async-graphql's DataLoader relies on a 1 ms window instead, which splits
//! batches under load because list items' resolvers start a couple per scheduler turn.
//!
//! Loads are keyed by (plan, argument-derived parameters, parent key). Identical keys in one
//! request share one load, including ones still in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Name, Value};
use futures::future::{BoxFuture, FutureExt, Shared};
use tributary_connectors::sql::Row;
use tributary_connectors::ConnectorError;

use futures::future::join_all;
use tributary_connectors::http::{HttpRequest, Method};

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
/// A batched call still to send: its identity, its request without keys, the keys.
type PendingBatch = (String, HttpRequest, Vec<(String, Value)>);
type HttpCallFuture = Shared<BoxFuture<'static, Result<Value, Arc<ConnectorError>>>>;

#[derive(Default)]
pub struct RequestLoader {
    slots: Mutex<HashMap<SlotKey, BatchFuture>>,
    /// Batched HTTP calls: (plan, call identity without the keys, key) → the batch's groups.
    http_batches: Mutex<HashMap<SlotKey, HttpBatchFuture>>,
    /// Single HTTP calls: (plan, call identity) → the selected answer.
    http_calls: Mutex<HashMap<(usize, String), HttpCallFuture>>,
}

impl RequestLoader {
    /// Loads the rows of `plan` for `keys` (key text and the value to bind), one statement for
    /// all keys not already loaded or loading in this request. Returns rows by key text.
    pub async fn load_many(
        &self,
        plan: &Arc<SqlPlan>,
        params: Vec<Value>,
        keys: Vec<(String, Value)>,
    ) -> Result<HashMap<String, Vec<Arc<Row>>>, Arc<ConnectorError>> {
        let params_text = Value::List(params.clone()).to_string();
        let mut waits: Vec<(String, BatchFuture)> = Vec::with_capacity(keys.len());
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let mut missing: Vec<(String, Value)> = Vec::new();
            for (text, value) in keys {
                let slot = SlotKey {
                    plan: plan.id,
                    params: params_text.clone(),
                    key: text.clone(),
                };
                if let Some(fut) = slots.get(&slot) {
                    waits.push((text, fut.clone()));
                } else if !missing.iter().any(|(t, _)| *t == text) {
                    missing.push((text, value));
                }
            }
            if !missing.is_empty() {
                let fut = batch_future(
                    plan.clone(),
                    params,
                    missing.iter().map(|(_, v)| v.clone()).collect(),
                );
                for (text, _) in missing {
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
}

impl RequestLoader {
    /// Loads the answers of `calls` (one per parent) of an HTTP plan, aligned with `calls`.
    /// Batched plans send one call per distinct identity carrying every key not already
    /// loaded in this request; other plans send each distinct call once, concurrently.
    /// A batched field's answer for a parent is its items (a list field) or the first one.
    pub async fn load_http(
        &self,
        plan: &Arc<HttpPlan>,
        calls: Vec<Call>,
    ) -> Vec<Result<Value, Arc<ConnectorError>>> {
        let Some(_) = &plan.batch else {
            return self.load_http_single(plan, calls).await;
        };
        let mut waits: Vec<Option<(String, HttpBatchFuture)>> = Vec::with_capacity(calls.len());
        {
            let mut slots = self.http_batches.lock().unwrap_or_else(|e| e.into_inner());
            // identity → (request, keys to fetch)
            let mut missing: Vec<PendingBatch> = Vec::new();
            let mut pending: Vec<(usize, String, String)> = Vec::new();
            for (i, call) in calls.into_iter().enumerate() {
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
                match missing.iter_mut().find(|(id, _, _)| *id == call.identity) {
                    Some((_, _, keys)) => {
                        if !keys.iter().any(|(t, _)| *t == text) {
                            keys.push((text, value));
                        }
                    }
                    None => missing.push((call.identity, call.request, vec![(text, value)])),
                }
            }
            for (identity, request, keys) in missing {
                let key_values: Vec<Value> = keys.iter().map(|(_, v)| v.clone()).collect();
                let request = plan.with_keys(request, &key_values);
                let plan2 = plan.clone();
                let fut: HttpBatchFuture = async move {
                    let response = plan2.source.send(request).await.map_err(Arc::new)?;
                    plan2.group(response.body).map(Arc::new).map_err(Arc::new)
                }
                .boxed()
                .shared();
                for (text, _) in keys {
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
                return Ok(if list {
                    Value::List(Vec::new())
                } else {
                    Value::Null
                });
            };
            let groups = fut.await?;
            let items = groups.get(&text).cloned().unwrap_or_default();
            Ok(if list {
                Value::List(items)
            } else {
                items.into_iter().next().unwrap_or(Value::Null)
            })
        }))
        .await
    }

    async fn load_http_single(
        &self,
        plan: &Arc<HttpPlan>,
        calls: Vec<Call>,
    ) -> Vec<Result<Value, Arc<ConnectorError>>> {
        let send = |plan: Arc<HttpPlan>, request: HttpRequest| -> HttpCallFuture {
            async move {
                let response = plan.source.send(request).await.map_err(Arc::new)?;
                let value = plan.select(response.body);
                // A 2xx of the wrong shape is UPSTREAM_INVALID_RESPONSE.
                plan.check_shape(&value).map_err(Arc::new)?;
                Ok(value)
            }
            .boxed()
            .shared()
        };
        // Only reads are shared: two identical mutations in one request are two calls.
        if plan.method != Method::GET {
            return join_all(calls.into_iter().map(|c| send(plan.clone(), c.request))).await;
        }
        let futures: Vec<HttpCallFuture> = {
            let mut slots = self.http_calls.lock().unwrap_or_else(|e| e.into_inner());
            calls
                .into_iter()
                .map(|call| {
                    slots
                        .entry((plan.id, call.identity))
                        .or_insert_with(|| send(plan.clone(), call.request))
                        .clone()
                })
                .collect()
        };
        join_all(futures).await
    }
}

fn batch_future(plan: Arc<SqlPlan>, params: Vec<Value>, keys: Vec<Value>) -> BatchFuture {
    async move {
        let rows = plan
            .source
            .query(&plan.stmt, &params, Some(&keys))
            .await
            .map_err(Arc::new)?;
        let Some(batch) = &plan.batch else {
            return Err(Arc::new(ConnectorError::Internal {
                detail: "batched load without batch plan".into(),
            }));
        };
        let mut groups: HashMap<String, Vec<Arc<Row>>> = HashMap::new();
        for row in rows {
            if let Some(key) = row.get(&batch.key).and_then(key_text) {
                groups.entry(key).or_default().push(Arc::new(row));
            }
        }
        Ok(Arc::new(groups))
    }
    .boxed()
    .shared()
}

/// Shorthand used by resolvers: the name type of row keys.
pub type RowName = Name;
