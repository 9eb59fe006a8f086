//! The local fan-out every [`PubSub`](super::PubSub) implementation shares.
//!
//! # Layout
//! - [`Hub`]: the topic table. Each topic has one bounded `broadcast` channel (the fan-out),
//!   a count of local subscribers (the refcount behind "one upstream subscription per topic")
//!   and a `watch` flag saying whether the upstream subscription is confirmed.
//! - [`Subscription`]: one subscriber's stream; dropping it gives its reference back.
//!
//! The hub never talks to a backend itself. An implementation with an upstream owns a task
//! that the hub wakes ([`Hub::changed`]) whenever the topic set changes; the task reconciles
//! its upstream subscriptions with [`Hub::topics`] and reports them with [`Hub::mark_ready`].
//! Reconciling against the current set (rather than replaying subscribe/unsubscribe
//! commands) makes a reconnect the same operation as a change: compare, then fix.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::{broadcast, watch, Notify};

use super::Event;
use crate::{ConnectorError, Value};

/// The topic table of one [`PubSub`](super::PubSub) instance.
pub(crate) struct Hub {
    capacity: usize,
    topics: Mutex<HashMap<String, Topic>>,
    /// Woken when a topic gains its first or loses its last subscriber; `None` when there is
    /// no upstream (in-process), where topics are ready as soon as they exist.
    changed: Option<Arc<Notify>>,
}

struct Topic {
    sender: broadcast::Sender<Arc<Value>>,
    subscribers: usize,
    /// Whether the upstream subscription for this topic is confirmed.
    ready: watch::Sender<bool>,
}

impl Hub {
    /// A hub whose topics need no upstream subscription.
    pub fn local(capacity: usize) -> Arc<Self> {
        Arc::new(Hub {
            capacity: capacity.max(1),
            topics: Mutex::new(HashMap::new()),
            changed: None,
        })
    }

    /// A hub whose topics are confirmed by an upstream task, woken through the returned
    /// `Notify`.
    pub fn with_upstream(capacity: usize) -> (Arc<Self>, Arc<Notify>) {
        let changed = Arc::new(Notify::new());
        let hub = Arc::new(Hub {
            capacity: capacity.max(1),
            topics: Mutex::new(HashMap::new()),
            changed: Some(changed.clone()),
        });
        (hub, changed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        // The table stays consistent even if a holder panicked: every update is one statement.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a local subscriber to `topic` (creating the topic and waking the upstream task if
    /// it is the first) and waits up to `wait` for the upstream subscription; `unconfirmed`
    /// builds the error when it does not come. The subscriber is released again on error.
    pub async fn subscribe(
        self: &Arc<Self>,
        topic: &str,
        wait: Duration,
        unconfirmed: impl FnOnce() -> ConnectorError,
    ) -> Result<Subscription, ConnectorError> {
        let (receiver, mut ready) = {
            let mut topics = self.lock();
            let entry = topics.entry(topic.to_owned()).or_insert_with(|| {
                let (sender, _) = broadcast::channel(self.capacity);
                let (ready, _) = watch::channel(self.changed.is_none());
                if let Some(changed) = &self.changed {
                    changed.notify_one();
                }
                Topic {
                    sender,
                    subscribers: 0,
                    ready,
                }
            });
            entry.subscribers += 1;
            (entry.sender.subscribe(), entry.ready.subscribe())
        };
        // From here on, dropping `subscription` (on error too) gives the reference back.
        let subscription = Subscription::new(self.clone(), topic.to_owned(), receiver);
        let confirmed = *ready.borrow_and_update()
            || matches!(
                tokio::time::timeout(wait, ready.wait_for(|ready| *ready)).await,
                Ok(Ok(_))
            );
        if confirmed {
            Ok(subscription)
        } else {
            Err(unconfirmed())
        }
    }

    fn release(&self, topic: &str) {
        let mut topics = self.lock();
        if let Some(entry) = topics.get_mut(topic) {
            entry.subscribers = entry.subscribers.saturating_sub(1);
            if entry.subscribers == 0 {
                topics.remove(topic);
                if let Some(changed) = &self.changed {
                    changed.notify_one();
                }
            }
        }
    }

    /// Hands `payload` to every local subscriber of `topic`; without subscribers it is dropped.
    /// Never waits: a full channel overwrites its oldest event (see the module docs).
    pub fn deliver(&self, topic: &str, payload: Value) {
        let sender = self.lock().get(topic).map(|entry| entry.sender.clone());
        if let Some(sender) = sender {
            // An error only means every receiver was dropped meanwhile.
            let _ = sender.send(Arc::new(payload));
        }
    }

    /// The topics with local subscribers, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.lock().keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Marks the topics in `subscribed` as confirmed upstream (waking their waiting
    /// subscribers), or, with `None`, every topic as unconfirmed (the connection is lost).
    pub fn mark_ready(&self, subscribed: Option<&HashSet<String>>) {
        for (name, entry) in self.lock().iter() {
            let ready = subscribed.is_some_and(|set| set.contains(name));
            entry.ready.send_if_modified(|current| {
                let changed = *current != ready;
                *current = ready;
                changed
            });
        }
    }

    /// Ends every subscription (their streams finish): the instance is going away.
    pub fn close(&self) {
        self.lock().clear();
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("capacity", &self.capacity)
            .field("topics", &self.lock().len())
            .finish()
    }
}

/// One subscriber's events for one topic: a `Stream` of [`Event`]s, in publish order, ending
/// only when the [`PubSub`](super::PubSub) instance is dropped. Dropping it unsubscribes; the
/// last subscriber of a topic to go releases the topic's upstream subscription.
pub struct Subscription {
    topic: String,
    events: BoxStream<'static, Event>,
    /// Gives the reference back on drop. Declared after `events` so the receiver is gone first.
    _guard: Guard,
}

struct Guard {
    hub: Arc<Hub>,
    topic: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.hub.release(&self.topic);
    }
}

impl Subscription {
    fn new(hub: Arc<Hub>, topic: String, receiver: broadcast::Receiver<Arc<Value>>) -> Self {
        let events = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(payload) => Some((Event::Payload(payload), receiver)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Some((Event::Lagged(missed), receiver))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed();
        Subscription {
            topic: topic.clone(),
            events,
            _guard: Guard { hub, topic },
        }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn unconfirmed() -> ConnectorError {
        ConnectorError::Internal {
            detail: "unconfirmed".into(),
        }
    }

    #[tokio::test]
    async fn a_first_subscriber_wakes_the_upstream_and_waits_for_its_confirmation() {
        let (hub, changed) = Hub::with_upstream(4);
        let upstream = {
            let hub = hub.clone();
            tokio::spawn(async move {
                changed.notified().await;
                let topics: HashSet<String> = hub.topics().into_iter().collect();
                hub.mark_ready(Some(&topics));
            })
        };
        let subscription = hub
            .subscribe("t", Duration::from_secs(5), unconfirmed)
            .await
            .unwrap();
        upstream.await.unwrap();
        // A second subscriber joins the confirmed topic without waiting.
        let second = hub.subscribe("t", Duration::ZERO, unconfirmed).await;
        assert!(second.is_ok());
        drop(subscription);
        assert_eq!(hub.topics(), vec!["t".to_owned()]);
    }

    #[tokio::test]
    async fn an_unconfirmed_subscriber_gets_an_error_and_releases_the_topic() {
        let (hub, changed) = Hub::with_upstream(4);
        let result = hub
            .subscribe("t", Duration::from_millis(20), unconfirmed)
            .await;
        assert!(result.is_err());
        assert!(hub.topics().is_empty());
        // Both changes (gained, lost) woke the upstream, coalesced into one permit.
        tokio::time::timeout(Duration::from_secs(1), changed.notified())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_lost_connection_unconfirms_every_topic_until_it_is_subscribed_again() {
        let (hub, _changed) = Hub::with_upstream(4);
        let all: HashSet<String> = ["t".to_owned()].into();
        let waiting = {
            let hub = hub.clone();
            tokio::spawn(async move {
                hub.subscribe("t", Duration::from_secs(5), unconfirmed)
                    .await
            })
        };
        while hub.topics().is_empty() {
            tokio::task::yield_now().await;
        }
        hub.mark_ready(Some(&all));
        let _first = waiting.await.unwrap().unwrap();
        hub.mark_ready(None);
        let late = hub
            .subscribe("t", Duration::from_millis(20), unconfirmed)
            .await;
        assert!(late.is_err());
        hub.mark_ready(Some(&all));
        assert!(hub
            .subscribe("t", Duration::ZERO, unconfirmed)
            .await
            .is_ok());
    }
}
