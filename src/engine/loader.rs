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

#[derive(Default)]
pub struct RequestLoader {
    slots: Mutex<HashMap<SlotKey, BatchFuture>>,
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
