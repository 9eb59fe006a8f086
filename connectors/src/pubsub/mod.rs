//! Publish/subscribe: the [`PubSub`] capability trait and its implementations, the in-process
//! [`InProcessPubSub`] (the default), [`RedisPubSub`] (replicas sharing one Redis) and
//! [`PgListenerSource`] (PostgreSQL `LISTEN`/`NOTIFY`).
//!
//! # Fan-out
//! Every implementation shares one local fan-out (`hub`): an instance holds ONE upstream
//! subscription per topic however many local subscribers it has (a Redis `SUBSCRIBE`, a
//! PostgreSQL `LISTEN`), and fans each event out to them through one bounded
//! `tokio::sync::broadcast` channel per topic. Topics are reference-counted: the first local
//! subscriber of a topic takes the upstream subscription, and when the last one's
//! [`Subscription`] is dropped the upstream subscription is released.
//!
//! # Slow subscribers: drop oldest
//! Publishing never waits for subscribers, so a slow subscriber cannot delay the others or the
//! publisher. Each topic's channel keeps the last `capacity` events
//! ([`DEFAULT_CAPACITY`] unless configured; rounded up to a power of two, the size of tokio's
//! broadcast ring, so 1000 holds 1024). A subscriber that falls more than `capacity`
//! events behind loses the *oldest* events it has not read yet — only that subscriber — and
//! its stream yields one [`Event::Lagged`]`(n)` with the number of events it missed, then
//! resumes with the oldest event still held. Every event it does receive is in publish order.
//! What to do about the gap (tell the client, close its connection with a code) is the
//! caller's policy; the connector only reports it.
//!
//! # Delivery guarantees
//! At most once, while subscribed: [`PubSub::subscribe`] returns once the upstream
//! subscription is confirmed, so an event published after it returns is delivered (barring
//! overflow). Events published while an upstream connection is down are lost (Redis pub/sub and
//! `NOTIFY` keep no history); delivery resumes once the connection is back. Payloads travel as
//! JSON text; a received payload that is not JSON arrives as a `String`.
//!
//! # Layout
//! - `hub`: the local fan-out shared by all implementations (topic table, refcounts, bounded
//!   broadcast channels, upstream readiness) and the [`Subscription`] stream.
//! - `local`: [`InProcessPubSub`], the fan-out alone.
//! - `redis`: [`RedisPubSub`]: one dedicated subscriber connection multiplexing all topics, a
//!   reconnect loop that re-`SUBSCRIBE`s every active topic, `PUBLISH` over a
//!   `ConnectionManager`.
//! - `postgres`: [`PgListenerSource`]: sqlx `PgListener` on one connection, `LISTEN` per
//!   channel, rebuilt after connection loss; `pg_notify` to publish.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{ConnectorError, Value};

mod hub;
mod local;
mod postgres;
mod redis;

pub use hub::Subscription;
pub use local::InProcessPubSub;
pub use postgres::{PgListenerOptions, PgListenerSource};
pub use redis::{RedisPubSub, RedisPubSubOptions};

/// Events a topic's channel holds for a subscriber that has not read them yet, by default.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One published payload. Shared, not copied, between the subscribers of the topic: at
    /// thousands of subscribers a deep copy per subscriber would dominate the fan-out cost.
    Payload(Arc<Value>),
    /// This subscriber fell more than the channel capacity behind and missed this many events
    /// (the oldest ones it had not read). The stream continues after it.
    Lagged(u64),
}

/// Topic-based publish/subscribe, as the engine holds it (`Arc<dyn PubSub>`).
#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    /// Publishes `payload` (sent as JSON text) to every subscriber of `topic`, on every
    /// instance sharing the backend. Returns once the backend accepted it; a topic without
    /// subscribers is not an error.
    async fn publish(&self, topic: &str, payload: Value) -> Result<(), ConnectorError>;

    /// Subscribes to `topic`. Returns once the upstream subscription is in place, so every
    /// event published after this returns is delivered. Dropping the [`Subscription`]
    /// unsubscribes.
    async fn subscribe(&self, topic: &str) -> Result<Subscription, ConnectorError>;

    /// The topics this instance currently has local subscribers for (each holds one upstream
    /// subscription), sorted. For tests, metrics and `/readyz`.
    fn active_topics(&self) -> Vec<String>;
}

/// Decodes a received payload: JSON text to its value, anything else (not JSON, or JSON that
/// is no GraphQL value) to a `String`, so a foreign publisher's plain text still arrives.
pub(crate) fn decode_payload(bytes: &[u8]) -> Value {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Ok(value) = Value::from_json(json) {
            return value;
        }
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// Encodes a payload for the wire as JSON text.
pub(crate) fn encode_payload(payload: &Value) -> Result<String, ConnectorError> {
    serde_json::to_string(payload).map_err(|e| ConnectorError::Internal {
        detail: format!("pub/sub payload is not serialisable as JSON: {e}"),
    })
}

/// Exponential reconnect backoff with "equal jitter" (half fixed, half random), so replicas
/// reconnecting to a restarted backend do not all arrive at once.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            current: min,
        }
    }

    /// The next wait; doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay / 2 + delay.mul_f64(random_unit() / 2.0)
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

/// A uniform number in [0, 1) for jitter. Not cryptographic: `RandomState` is randomly keyed
/// per instance, which is all jitter needs, and it avoids a dependency.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The password of a connection URL (raw and percent-decoded), to scrub from every error and
/// log line: drivers should not print it, but a leaked credential is expensive enough to check.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(..)")
    }
}

impl Redactor {
    pub fn for_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Ok(parsed) = url::Url::parse(url) {
            if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
                let decoded = percent_encoding::percent_decode_str(password)
                    .decode_utf8_lossy()
                    .into_owned();
                if decoded != password && !decoded.is_empty() {
                    secrets.push(decoded);
                }
                secrets.push(password.to_owned());
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn redact(&self, text: impl std::fmt::Display) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn json_payloads_decode_to_values_and_other_text_to_strings() {
        let object = decode_payload(br#"{"x":1}"#);
        assert_eq!(object.into_json().unwrap(), serde_json::json!({"x": 1}));
        assert_eq!(decode_payload(b"hello"), Value::String("hello".into()));
        assert_eq!(decode_payload(b"42"), Value::from(42));
    }

    #[test]
    fn passwords_are_redacted_raw_and_decoded() {
        let redactor = Redactor::for_url("redis://user:p%40ss@host:6379/0");
        assert_eq!(redactor.redact("bad p@ss and p%40ss"), "bad *** and ***");
        assert_eq!(Redactor::for_url("redis://host").redact("p@ss"), "p@ss");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let _ = backoff.next_delay();
        for _ in 0..5 {
            assert!(backoff.next_delay() <= Duration::from_millis(400));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
