//! The inventory service: units available per sku and the warehouse holding them.
//!
//! In the demo it stands for a warehouse system keyed by sku (not by product id, as a separate
//! system would be), which Tributary joins onto SQL products through their `sku` column:
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /stock/{sku}` | `{sku, available, warehouse}`, or 404 |
//! | `GET /stock?sku=A&sku=B` | the records of the known skus, in request order |
//! | `PUT /stock/{sku}` with `{"available": n}` | the updated record (404 if unknown, 400 if invalid) |
//! | `GET /_stats` | `{"requests": n}` |
//!
//! Data is in memory, seeded deterministically from the 60 skus of the SQL seed; products that
//! are `in_stock = FALSE` there have 0 available here, so the two sources agree.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::catalog::{Lcg, OUT_OF_STOCK, SKUS};
use crate::common::{finish, query_values, ApiError, RequestCounter};

/// Largest stock level `PUT` accepts: beyond it a value is surely a typo, not a stock count.
pub const MAX_AVAILABLE: i64 = 1_000_000;

/// The demo's warehouses; each sku is stocked in one of them.
const WAREHOUSES: [&str; 3] = ["AMS-1", "LDN-2", "BER-1"];

/// Stock of one sku.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StockRecord {
    pub sku: String,
    /// Units available to sell; 0 means out of stock.
    pub available: i64,
    pub warehouse: String,
}

/// The body of `PUT /stock/{sku}`.
#[derive(Debug, Deserialize)]
struct StockUpdate {
    available: i64,
}

/// A handle on the inventory service: its data and its request counter. Cloning shares both.
#[derive(Clone, Debug)]
pub struct Inventory {
    store: Arc<RwLock<HashMap<String, StockRecord>>>,
    counter: RequestCounter,
}

impl Default for Inventory {
    fn default() -> Self {
        Self::seeded()
    }
}

impl Inventory {
    /// A service holding the deterministic seed stock for all 60 skus.
    pub fn seeded() -> Self {
        let records = seed()
            .into_iter()
            .map(|record| (record.sku.clone(), record))
            .collect();
        Self {
            store: Arc::new(RwLock::new(records)),
            counter: RequestCounter::default(),
        }
    }

    /// The axum router serving this service's endpoints (with `/_stats` and request counting).
    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/stock", get(batch_stock))
            .route("/stock/{sku}", get(get_stock).put(put_stock))
            .with_state(self.clone());
        finish(routes, &self.counter)
    }

    /// Requests served so far (`/_stats` excluded).
    pub fn requests(&self) -> u64 {
        self.counter.get()
    }

    /// Sets the request count back to zero.
    pub fn reset_requests(&self) {
        self.counter.reset();
    }

    /// The current record of `sku`, if known; for tests and diagnostics.
    pub fn get(&self, sku: &str) -> Option<StockRecord> {
        self.read().get(sku).cloned()
    }

    /// A poisoned lock is used as is: every write replaces one integer, so the map is always
    /// consistent, and a panic elsewhere must not take the service down.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, StockRecord>> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET /stock/{sku}`.
async fn get_stock(
    State(service): State<Inventory>,
    Path(sku): Path<String>,
) -> Result<Json<StockRecord>, ApiError> {
    service
        .get(&sku)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no stock record for sku {sku:?}")))
}

/// `GET /stock?sku=A&sku=B`: the known skus' records in request order. Unknown skus are left
/// out rather than failing the batch, so one bad key does not cost a client the others; the
/// client sees the gap by matching on `sku`.
async fn batch_stock(
    State(service): State<Inventory>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<StockRecord>>, ApiError> {
    let skus = query_values(query.as_deref(), "sku");
    if skus.is_empty() {
        return Err(ApiError::bad_request(
            "sku is required (repeat it for several skus)",
        ));
    }
    let store = service.read();
    Ok(Json(
        skus.iter()
            .filter_map(|sku| store.get(sku).cloned())
            .collect(),
    ))
}

/// `PUT /stock/{sku}` with `{"available": n}`: sets the level (for the mutation demo).
async fn put_stock(
    State(service): State<Inventory>,
    Path(sku): Path<String>,
    body: Result<Json<StockUpdate>, JsonRejection>,
) -> Result<Json<StockRecord>, ApiError> {
    let Json(update) = body?;
    if !(0..=MAX_AVAILABLE).contains(&update.available) {
        return Err(ApiError::bad_request(format!(
            "available must be between 0 and {MAX_AVAILABLE}, got {}",
            update.available
        )));
    }
    let record = {
        let mut store = service
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let record = store
            .get_mut(&sku)
            .ok_or_else(|| ApiError::not_found(format!("no stock record for sku {sku:?}")))?;
        record.available = update.available;
        record.clone()
    };
    tracing::info!(sku = %record.sku, available = record.available, "stock updated");
    Ok(Json(record))
}

/// One record per sku, in product-id order: 0 for the products out of stock in SQL, otherwise
/// 1–120 units (a few low ones, so "only 2 left" can be shown too).
fn seed() -> Vec<StockRecord> {
    let mut lcg = Lcg::new(0x7374_6f63_6b21); // "stock!"
    SKUS.iter()
        .zip(1i64..)
        .map(|(sku, product_id)| {
            let available = if OUT_OF_STOCK.contains(&product_id) {
                0
            } else if lcg.below(6) == 0 {
                1 + lcg.below(3) as i64
            } else {
                5 + lcg.below(116) as i64
            };
            StockRecord {
                sku: (*sku).to_owned(),
                available,
                warehouse: WAREHOUSES[lcg.below(WAREHOUSES.len() as u64) as usize].to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_covers_every_sku_and_agrees_with_the_sql_in_stock_flag() {
        let records = seed();
        assert_eq!(records, seed());
        assert_eq!(records.len(), SKUS.len());
        for (record, product_id) in records.iter().zip(1i64..) {
            assert_eq!(
                record.available == 0,
                OUT_OF_STOCK.contains(&product_id),
                "{}",
                record.sku
            );
        }
    }
}
