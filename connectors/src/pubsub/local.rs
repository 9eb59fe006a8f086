//! [`InProcessPubSub`]: the default pub/sub, for a single instance: the local fan-out alone.
//!
//! # Layout
//! This file holds the implementation and the fan-out's tests (ordering, release, overflow),
//! which hold for every implementation since they all share the same hub.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::hub::{Hub, Subscription};
use super::{PubSub, DEFAULT_CAPACITY};
use crate::{ConnectorError, Value};

/// Publish/subscribe within one process: what a single instance (and every test) needs, with
/// no backend. Events do not cross instances; use [`RedisPubSub`](super::RedisPubSub) for that.
#[derive(Debug)]
pub struct InProcessPubSub {
    hub: Arc<Hub>,
}

impl InProcessPubSub {
    /// `capacity`: the events a topic holds for a subscriber that has not read them yet (see
    /// the module docs of [`pubsub`](super) for what happens beyond it).
    pub fn new(capacity: usize) -> Self {
        InProcessPubSub {
            hub: Hub::local(capacity),
        }
    }
}

impl Default for InProcessPubSub {
    fn default() -> Self {
        InProcessPubSub::new(DEFAULT_CAPACITY)
    }
}

impl Drop for InProcessPubSub {
    fn drop(&mut self) {
        self.hub.close();
    }
}

#[async_trait]
impl PubSub for InProcessPubSub {
    async fn publish(&self, topic: &str, payload: Value) -> Result<(), ConnectorError> {
        self.hub.deliver(topic, payload);
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, ConnectorError> {
        // Local topics are ready on creation: this never waits.
        self.hub
            .subscribe(topic, Duration::ZERO, || ConnectorError::Internal {
                detail: "in-process topic not ready".into(),
            })
            .await
    }

    fn active_topics(&self) -> Vec<String> {
        self.hub.topics()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::pubsub::Event;

    const WAIT: Duration = Duration::from_secs(5);

    async fn next(subscription: &mut Subscription) -> Event {
        tokio::time::timeout(WAIT, subscription.next())
            .await
            .expect("no event within the timeout")
            .expect("the subscription ended")
    }

    fn payload(n: i64) -> Event {
        Event::Payload(Arc::new(Value::from(n)))
    }

    #[tokio::test]
    async fn several_subscribers_each_receive_every_event_in_order() {
        let pubsub = InProcessPubSub::default();
        let mut subscribers = Vec::new();
        for _ in 0..3 {
            subscribers.push(pubsub.subscribe("orders").await.unwrap());
        }
        for n in 0..50 {
            pubsub.publish("orders", Value::from(n)).await.unwrap();
        }
        for subscriber in &mut subscribers {
            for n in 0..50 {
                assert_eq!(next(subscriber).await, payload(n));
            }
        }
    }

    #[tokio::test]
    async fn events_reach_only_the_subscribers_of_their_topic() {
        let pubsub = InProcessPubSub::default();
        let mut a = pubsub.subscribe("a").await.unwrap();
        let mut b = pubsub.subscribe("b").await.unwrap();
        pubsub.publish("a", Value::from(1)).await.unwrap();
        pubsub.publish("b", Value::from(2)).await.unwrap();
        assert_eq!(next(&mut a).await, payload(1));
        assert_eq!(next(&mut b).await, payload(2));
    }

    #[tokio::test]
    async fn dropping_the_last_subscriber_releases_the_topic() {
        let pubsub = InProcessPubSub::default();
        let first = pubsub.subscribe("reviews:1").await.unwrap();
        let second = pubsub.subscribe("reviews:1").await.unwrap();
        assert_eq!(pubsub.active_topics(), vec!["reviews:1".to_owned()]);
        drop(first);
        assert_eq!(pubsub.active_topics(), vec!["reviews:1".to_owned()]);
        drop(second);
        assert!(pubsub.active_topics().is_empty());
        // Publishing to a released topic is not an error.
        pubsub.publish("reviews:1", Value::Null).await.unwrap();
    }

    #[tokio::test]
    async fn a_subscriber_that_stops_reading_gets_lagged_while_a_fast_one_gets_every_event() {
        const CAPACITY: usize = 8;
        const EVENTS: i64 = 30;
        let pubsub = InProcessPubSub::new(CAPACITY);
        let mut slow = pubsub.subscribe("stock").await.unwrap();
        let mut fast = pubsub.subscribe("stock").await.unwrap();

        // Lockstep: the fast subscriber reads each event before the next is published, so the
        // outcome is counted, not timed.
        for n in 0..EVENTS {
            pubsub.publish("stock", Value::from(n)).await.unwrap();
            assert_eq!(next(&mut fast).await, payload(n));
        }

        // The slow one lost the oldest events beyond the capacity, then gets the newest
        // CAPACITY events in order.
        let missed = EVENTS as u64 - CAPACITY as u64;
        assert_eq!(next(&mut slow).await, Event::Lagged(missed));
        for n in (EVENTS - CAPACITY as i64)..EVENTS {
            assert_eq!(next(&mut slow).await, payload(n));
        }
        // Once caught up, it receives new events normally.
        pubsub.publish("stock", Value::from(99)).await.unwrap();
        assert_eq!(next(&mut slow).await, payload(99));
        assert_eq!(next(&mut fast).await, payload(99));
    }

    #[tokio::test]
    async fn subscriptions_end_when_the_pubsub_is_dropped() {
        let pubsub = InProcessPubSub::default();
        let mut subscription = pubsub.subscribe("t").await.unwrap();
        drop(pubsub);
        let end = tokio::time::timeout(WAIT, subscription.next())
            .await
            .unwrap();
        assert_eq!(end, None);
    }

    #[tokio::test]
    async fn the_trait_is_object_safe() {
        let pubsub: Arc<dyn PubSub> = Arc::new(InProcessPubSub::default());
        let mut subscription = pubsub.subscribe("t").await.unwrap();
        assert_eq!(subscription.topic(), "t");
        pubsub.publish("t", Value::from(true)).await.unwrap();
        assert_eq!(
            next(&mut subscription).await,
            Event::Payload(Arc::new(Value::from(true)))
        );
    }
}
