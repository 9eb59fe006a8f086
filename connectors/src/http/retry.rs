//! Retry policy: which attempts may be repeated, how long to wait, and the budget that stops
//! retries from multiplying the load on a service that is already failing.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;

/// How a source retries failed attempts.
///
/// Only idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) are retried, and only for failures
/// a second attempt can fix: the service was unreachable (refused, reset), or it answered 408,
/// 429, 500, 502, 503 or 504. A timeout is not retried: the time allowed covers the whole call,
/// retries included, so none is left.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The share of calls that may be retried over time: each call deposits this many tokens in
    /// the budget and each retry withdraws one (0.2: at most one retry per five calls).
    pub budget_ratio: f64,
    /// Tokens the budget starts with and can hold at most: retries possible before any deposit,
    /// and the burst allowed after a quiet period. Under constant failure, retries stay within
    /// `budget_burst + budget_ratio × calls`.
    pub budget_burst: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            budget_ratio: 0.2,
            budget_burst: 10.0,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1-based): "equal jitter", half of the capped
    /// exponential delay fixed and half random, so retries from many callers spread out without
    /// ever retrying immediately.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let capped = self
            .base_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = capped / 2;
        half + half.mul_f64(random_unit())
    }
}

/// Whether a method may be sent twice without changing the outcome (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Whether a status is worth retrying: the service may answer differently in a moment.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means no wait; an unparseable value is ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A token bucket shared by all calls of a source: each call deposits `ratio` tokens (up to
/// `burst`), each retry needs one whole token. When the upstream fails constantly, retries are
/// bounded to a fixed share of calls instead of `max_retries` times every call.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    burst: f64,
    tokens: Mutex<f64>,
}

impl RetryBudget {
    pub fn new(policy: &RetryPolicy) -> Self {
        let ratio = policy.budget_ratio.max(0.0);
        let burst = policy.budget_burst.max(0.0);
        RetryBudget {
            ratio,
            burst,
            tokens: Mutex::new(burst),
        }
    }

    /// Called once per call (not per attempt).
    pub fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.ratio).min(self.burst.max(1.0));
    }

    /// Takes one token for a retry; false when the budget is spent.
    pub fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A uniform number in [0, 1) for jitter. Not cryptographic: `RandomState` is randomly keyed
/// per instance, which is all jitter needs, and it avoids a dependency.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = policy.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let tenth = policy.backoff(10);
            assert!(tenth >= Duration::from_millis(150) && tenth <= Duration::from_millis(300));
        }
        assert!(policy.backoff(u32::MAX) <= Duration::from_millis(300));
    }

    #[test]
    fn only_idempotent_methods_are_retryable() {
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(is_idempotent(&method), "{method}");
        }
        for method in [Method::POST, Method::PATCH] {
            assert!(!is_idempotent(&method), "{method}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));

        let later = now + Duration::from_secs(120);
        let date = httpdate::fmt_http_date(later);
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let wait = retry_after(&headers, now).unwrap();
        assert!(wait > Duration::from_secs(118) && wait <= Duration::from_secs(120));

        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn the_budget_allows_the_burst_then_the_ratio_of_calls() {
        let budget = RetryBudget::new(&RetryPolicy {
            budget_ratio: 0.25,
            budget_burst: 2.0,
            ..RetryPolicy::default()
        });
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
        let mut granted = 0;
        for _ in 0..100 {
            budget.deposit();
            if budget.withdraw() {
                granted += 1;
            }
        }
        assert_eq!(granted, 25);
    }
}
