//! The reviews service: customer reviews and average ratings of storefront products.
//!
//! In the demo it stands for a separate team's HTTP service that Tributary stitches into the
//! SQL-backed `Product` type. Its endpoints come in single and batch forms so that the `@http`
//! connector's batching can be shown (and counted via `/_stats`):
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /reviews?productId=1` | reviews of product 1 (`[]` if none) |
//! | `GET /reviews?productId=1&productId=2` | reviews of all those products, one flat list |
//! | `GET /reviews/{id}` | one review, or 404 |
//! | `POST /reviews` | create a review: 201 + the review, or 400 |
//! | `GET /ratings?productId=1&productId=2` | `[{productId, average, count}]` per requested id |
//! | `GET /_stats` | `{"requests": n}` |
//!
//! Data is in memory, seeded deterministically (about 150 reviews; every seventh product has
//! none), so every run and every test sees the same reviews.

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{category_of, Lcg, PRODUCT_COUNT};
use crate::common::{finish, query_ids, ApiError, RequestCounter};

/// Longest accepted title, body and author, in characters: a demo service still should not let
/// one request grow its memory without bound.
const MAX_TITLE: usize = 120;
const MAX_BODY: usize = 2_000;
const MAX_AUTHOR: usize = 80;

/// One review, as the service answers it (camelCase JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    /// 1 to 5 stars.
    pub rating: u8,
    /// Optional, as on most shops: many people only write a body.
    pub title: Option<String>,
    pub body: String,
    pub author: String,
    /// RFC 3339, UTC, whole seconds (like the SQL seed's timestamps).
    pub created_at: String,
}

/// Average rating of one product. `average` is `null` when there are no reviews, because 0.0
/// would read as "rated zero stars".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    pub product_id: i64,
    /// Rounded to 2 decimals.
    pub average: Option<f64>,
    pub count: u64,
}

/// The body of `POST /reviews`. Numbers are read as `i64` so that an out-of-range rating or
/// product id gets a precise validation message instead of a generic deserialization error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewReview {
    /// A number or a numeric string: GraphQL `ID`s travel as strings.
    #[serde(deserialize_with = "id_number")]
    product_id: i64,
    rating: i64,
    #[serde(default)]
    title: Option<String>,
    body: String,
    author: String,
}

/// Reads an id given as a JSON number or as a string of digits.
fn id_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("productId must be an integer")),
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom("productId must be an integer")),
        _ => Err(serde::de::Error::custom("productId must be an integer")),
    }
}

/// A handle on the reviews service: its data and its request counter. Cloning shares both, so
/// a test can keep a handle while the router serves requests.
#[derive(Clone, Debug)]
pub struct Reviews {
    store: Arc<RwLock<Vec<Review>>>,
    counter: RequestCounter,
}

impl Default for Reviews {
    fn default() -> Self {
        Self::seeded()
    }
}

impl Reviews {
    /// A service holding the deterministic seed reviews.
    pub fn seeded() -> Self {
        Self {
            store: Arc::new(RwLock::new(seed())),
            counter: RequestCounter::default(),
        }
    }

    /// The axum router serving this service's endpoints (with `/_stats` and request counting).
    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/reviews", get(list_reviews).post(create_review))
            .route("/reviews/{id}", get(get_review))
            .route("/ratings", get(ratings))
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

    /// A copy of all reviews, in id order; for tests and diagnostics.
    pub fn all(&self) -> Vec<Review> {
        self.read().clone()
    }

    /// A panic in another handler must not take the service down, so a poisoned lock is used
    /// as is: every write leaves the vector consistent (a single push).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Review>> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET /reviews?productId=..`: reviews of the requested products in id order, one flat list;
/// each carries `productId`, which is how a batching client matches them back to products.
async fn list_reviews(
    State(service): State<Reviews>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Review>>, ApiError> {
    let ids = query_ids(query.as_deref(), "productId")?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "productId is required (repeat it for several products)",
        ));
    }
    let reviews = service
        .read()
        .iter()
        .filter(|review| ids.contains(&review.product_id))
        .cloned()
        .collect();
    Ok(Json(reviews))
}

/// `GET /reviews/{id}`. A non-numeric id names no review, so it is a 404 like an unknown one.
async fn get_review(
    State(service): State<Reviews>,
    Path(id): Path<String>,
) -> Result<Json<Review>, ApiError> {
    let found = id.parse::<i64>().ok().and_then(|id| {
        service
            .read()
            .iter()
            .find(|review| review.id == id)
            .cloned()
    });
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no review with id {id:?}")))
}

/// `POST /reviews`: validates, assigns the next id and the current time, stores, answers 201.
async fn create_review(
    State(service): State<Reviews>,
    body: Result<Json<NewReview>, JsonRejection>,
) -> Result<(StatusCode, Json<Review>), ApiError> {
    let Json(new) = body?;
    let rating = u8::try_from(new.rating)
        .ok()
        .filter(|rating| (1..=5).contains(rating))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "rating must be between 1 and 5, got {}",
                new.rating
            ))
        })?;
    if !(1..=PRODUCT_COUNT).contains(&new.product_id) {
        return Err(ApiError::bad_request(format!(
            "productId must be between 1 and {PRODUCT_COUNT}, got {}",
            new.product_id
        )));
    }
    let body = required_text("body", &new.body, MAX_BODY)?;
    let author = required_text("author", &new.author, MAX_AUTHOR)?;
    let title = match new.title.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(title) if title.chars().count() > MAX_TITLE => {
            return Err(ApiError::bad_request(format!(
                "title must be at most {MAX_TITLE} characters"
            )));
        }
        Some(title) => Some(title.to_owned()),
    };

    let review = {
        let mut store = service
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let review = Review {
            id: store.iter().map(|review| review.id).max().unwrap_or(0) + 1,
            product_id: new.product_id,
            rating,
            title,
            body,
            author,
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        store.push(review.clone());
        review
    };
    tracing::info!(
        review_id = review.id,
        product_id = review.product_id,
        rating = review.rating,
        "review created"
    );
    Ok((StatusCode::CREATED, Json(review)))
}

/// Trims `value` and checks it is non-empty and not longer than `max` characters.
fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// `GET /ratings?productId=..`: one entry per requested id, in request order, unknown products
/// included (count 0), so a batching client always finds an entry for each key it asked for.
async fn ratings(
    State(service): State<Reviews>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Rating>>, ApiError> {
    let ids = query_ids(query.as_deref(), "productId")?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "productId is required (repeat it for several products)",
        ));
    }
    let store = service.read();
    let ratings = ids
        .into_iter()
        .map(|product_id| {
            let (sum, count) = store
                .iter()
                .filter(|review| review.product_id == product_id)
                .fold((0u64, 0u64), |(sum, count), review| {
                    (sum + u64::from(review.rating), count + 1)
                });
            // Exact for the small integers involved; rounding to cents of a star keeps the
            // JSON stable and readable (4.33, not 4.333333333333333).
            let average = (count > 0).then(|| (sum as f64 / count as f64 * 100.0).round() / 100.0);
            Rating {
                product_id,
                average,
                count,
            }
        })
        .collect();
    Ok(Json(ratings))
}

/// Review texts per category: three positive (4–5 stars), one mixed (3), one negative (1–2).
type Text = (&'static str, &'static str);
const TEXTS: [[Text; 5]; 8] = [
    [
        (
            "Bright and sweet",
            "Lovely clarity as a pour-over; the fruit really comes through at 1:16.",
        ),
        (
            "My new daily coffee",
            "Roast date was a week before it arrived. Sweet, balanced and easy to dial in.",
        ),
        (
            "Worth the price",
            "Complex cup with a long finish. Tastes even better as it cools.",
        ),
        (
            "Good, not great",
            "Pleasant enough, but the tasting notes oversell it a little.",
        ),
        (
            "Stale on arrival",
            "Roasted two months before it reached me; flat and papery.",
        ),
    ],
    [
        (
            "Beautiful leaf",
            "Whole leaves, fragrant and clean. Holds up to a second and third steep.",
        ),
        (
            "Perfect morning cup",
            "Consistent and aromatic, and never bitter if you watch the time.",
        ),
        (
            "Reordering already",
            "Lovely aroma as soon as the pouch opens. Great value for the quality.",
        ),
        (
            "Fine for everyday",
            "Decent tea, though a bit dusty at the bottom of the pouch.",
        ),
        (
            "Lacks flavour",
            "Weak even at double the leaf; nothing like the description.",
        ),
    ],
    [
        (
            "Makes brewing a pleasure",
            "Well made and easy to clean. My coffee is noticeably more consistent.",
        ),
        (
            "Solid build",
            "Feels sturdy, pours cleanly and looks great on the counter.",
        ),
        (
            "Great for beginners",
            "Simple to use from day one, and the instructions actually help.",
        ),
        (
            "Does the job",
            "Brews well, but the lid fits loosely and it is fiddly to clean.",
        ),
        (
            "Cracked within a month",
            "Developed a crack near the handle after a few weeks of daily use.",
        ),
    ],
    [
        (
            "Huge upgrade",
            "The grind is far more even than my old one; no more muddy cups.",
        ),
        (
            "Precise and quiet",
            "Easy to switch between espresso and filter, with very low retention.",
        ),
        (
            "Built to last",
            "Heavy, solid and smooth to turn. Worth every cent.",
        ),
        (
            "Good grind, slow",
            "Consistent particles, but a full dose takes a while.",
        ),
        (
            "Too many fines",
            "Could not get a clean filter cup at any setting.",
        ),
    ],
    [
        (
            "Lovely to hold",
            "Nice weight, keeps the drink warm and survives the dishwasher.",
        ),
        (
            "A gift that landed",
            "Bought two as a present and ended up keeping one for myself.",
        ),
        (
            "Perfect size",
            "Holds a flat white exactly, with room for latte art.",
        ),
        (
            "Pretty but small",
            "Looks great, though smaller than the photos suggest.",
        ),
        (
            "Chipped quickly",
            "The rim chipped after a couple of weeks of gentle use.",
        ),
    ],
    [
        (
            "Does what it should",
            "Simple, well made, and it has earned its spot on the counter.",
        ),
        (
            "Small thing, big difference",
            "Makes my morning routine faster and tidier.",
        ),
        (
            "Great quality",
            "Feels premium and has held up to daily use.",
        ),
        ("Okay", "Works fine, but nothing special for the price."),
        (
            "Not as described",
            "Smaller and flimsier than expected; sent it back.",
        ),
    ],
    [
        (
            "Essential reading",
            "Clear, well illustrated and full of practical advice.",
        ),
        (
            "Learned a lot",
            "Changed how I think about extraction. I have reread several chapters.",
        ),
        (
            "Beautifully made",
            "A pleasure to read, and lovely on the coffee table.",
        ),
        (
            "Good primer",
            "Great for beginners, a bit basic if you already brew a lot.",
        ),
        (
            "Dated",
            "Much of the equipment advice feels several years out of date.",
        ),
    ],
    [
        (
            "Great fit",
            "Soft, true to size and still looks new after many washes.",
        ),
        (
            "Wear it constantly",
            "Comfortable and well made; people keep asking where it is from.",
        ),
        (
            "Quality fabric",
            "Heavier and nicer than I expected for the price.",
        ),
        ("Runs small", "Nice quality, but order a size up."),
        (
            "Shrank in the wash",
            "Lost a size after the first wash on a cool cycle.",
        ),
    ],
];

const AUTHORS: [&str; 20] = [
    "Maya R.",
    "Tom B.",
    "Aiko S.",
    "Lars P.",
    "Priya N.",
    "Diego M.",
    "Chloe W.",
    "Sam O.",
    "Fatima K.",
    "Ben H.",
    "Ines G.",
    "Jonas L.",
    "Grace T.",
    "Omar A.",
    "Lena F.",
    "Ravi D.",
    "Nora E.",
    "Hugo V.",
    "Zoe C.",
    "Felix J.",
];

/// Star ratings drawn from this table: mostly 4–5 like real shops, with a tail of poor ones.
const RATINGS: [u8; 12] = [5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 2, 1];

/// Builds the seed: products whose id is a multiple of 7 have no reviews (so the empty case is
/// always present); the others get 1–5 each. Reviews are shuffled before ids and timestamps are
/// assigned, so newer reviews are spread across products rather than grouped by id.
fn seed() -> Vec<Review> {
    let mut lcg = Lcg::new(0x7472_6962_7574_6172); // "tributar"
    let mut products: Vec<i64> = Vec::new();
    for product_id in 1..=PRODUCT_COUNT {
        if product_id % 7 != 0 {
            let count = 1 + lcg.below(5);
            for _ in 0..count {
                products.push(product_id);
            }
        }
    }
    for i in (1..products.len()).rev() {
        products.swap(i, lcg.below(i as u64 + 1) as usize);
    }

    // 2024-02-01T09:00:00Z: a couple of weeks after the last product was added in SQL.
    let mut at = DateTime::<Utc>::from_timestamp(1_706_778_000, 0).unwrap_or_default();
    products
        .into_iter()
        .zip(1..)
        .map(|(product_id, id)| {
            at += TimeDelta::hours(3 + lcg.below(45) as i64)
                + TimeDelta::minutes(lcg.below(60) as i64);
            let rating = RATINGS[lcg.below(RATINGS.len() as u64) as usize];
            let texts = &TEXTS[category_of(product_id)];
            let (title, body) = match rating {
                4..=5 => texts[lcg.below(3) as usize],
                3 => texts[3],
                _ => texts[4],
            };
            // About one review in eight has no title, as on real shops.
            let title = (lcg.below(8) != 0).then(|| title.to_owned());
            Review {
                id,
                product_id,
                rating,
                title,
                body: body.to_owned(),
                author: AUTHORS[lcg.below(AUTHORS.len() as u64) as usize].to_owned(),
                created_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_deterministic_and_about_150_reviews() {
        let (a, b) = (seed(), seed());
        assert_eq!(a, b);
        assert!((120..=180).contains(&a.len()), "{} reviews", a.len());
        assert!(a.iter().all(|review| (1..=5).contains(&review.rating)));
        assert!(a
            .iter()
            .all(|review| (1..=PRODUCT_COUNT).contains(&review.product_id)));
        assert!(a
            .windows(2)
            .all(|pair| pair[0].id + 1 == pair[1].id && pair[0].created_at < pair[1].created_at));
    }

    #[test]
    fn every_seventh_product_has_no_reviews_and_the_others_have_some() {
        let reviews = seed();
        for product_id in 1..=PRODUCT_COUNT {
            let has = reviews.iter().any(|review| review.product_id == product_id);
            assert_eq!(has, product_id % 7 != 0, "product {product_id}");
        }
    }
}
