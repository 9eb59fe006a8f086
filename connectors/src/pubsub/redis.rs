//! [`RedisPubSub`]: pub/sub across replicas through one shared Redis.
//!
//! # Connections
//! - **Subscribing**: ONE dedicated RESP2 pub/sub connection per instance, multiplexing every
//!   topic. A background task owns it: it `SUBSCRIBE`s a channel when its topic gains a first
//!   local subscriber and `UNSUBSCRIBE`s it when the last one leaves (reconciling the
//!   connection's channels with the hub's topics), and dispatches each message to the topic's
//!   local fan-out. It `PING`s on an interval, so a connection that silently died is noticed.
//! - **Publishing**: a separate `ConnectionManager` (a subscribed RESP2 connection accepts no
//!   `PUBLISH`), under a short timeout so a mutation never hangs on a lost Redis.
//!
//! # Reconnecting
//! redis-rs resubscribes by itself only over RESP3 with automatic resubscription, so the task
//! has its own loop: when the connection drops (Redis restarted, network cut), every topic is
//! marked unconfirmed, the task reconnects with exponential backoff and jitter, and re-
//! `SUBSCRIBE`s every active topic; existing [`Subscription`]s carry on and receive the
//! events published after that. Events published while it is away are lost (pub/sub keeps no
//! history). A new subscriber during the outage gets an error after
//! [`RedisPubSubOptions::subscribe_timeout`] rather than a subscription that silently waits.
//!
//! # Channels
//! A topic `t` is the Redis channel `{prefix}t` (default prefix `tributary:`), so Tributary's
//! channels do not collide with other users of the same Redis, and other systems can publish
//! to Tributary by using the prefix. Payloads are JSON text.
//!
//! # Errors
//! Redis is infrastructure, not a GraphQL source, so its failures use the upstream codes with
//! source name `redis`: unreachable (refused, reset, not subscribed) → `UPSTREAM_UNREACHABLE`,
//! no answer in time → `UPSTREAM_TIMEOUT`. The URL's password never reaches an error or log.
//!
//! # Layout
//! This file holds the options, the instance (publish, subscribe) and the subscriber task
//! (`run`, `session`, `reconcile`, `dispatch`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::hub::{Hub, Subscription};
use super::{encode_payload, Backoff, PubSub, Redactor, DEFAULT_CAPACITY};
use crate::{ConnectorError, Value};

/// The source name in errors and logs.
const SOURCE: &str = "redis";

/// How many `SUBSCRIBE`/`UNSUBSCRIBE` commands the task pipelines at once (after a reconnect
/// with thousands of topics, one round trip each would be slow).
const PIPELINE: usize = 256;

/// How to connect a [`RedisPubSub`]. Build with [`RedisPubSubOptions::new`] and adjust.
/// Its `Debug` output shows the URL with the password redacted.
#[derive(Clone)]
pub struct RedisPubSubOptions {
    /// `redis://[user:password@]host:port[/db]`. May hold a password: never logged.
    pub url: String,
    /// Prepended to every topic to make its channel name.
    pub prefix: String,
    /// Events a topic holds for a subscriber that has not read them yet.
    pub capacity: usize,
    /// Time allowed for one `PUBLISH` (connection included).
    pub publish_timeout: Duration,
    /// Time [`PubSub::subscribe`] waits for the upstream `SUBSCRIBE` to be confirmed.
    pub subscribe_timeout: Duration,
    /// Time allowed to open a connection, and for Redis to answer a command of the task.
    pub connect_timeout: Duration,
    /// First and largest wait between reconnect attempts of the subscriber connection.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How often the subscriber connection is checked with a `PING`.
    pub ping_interval: Duration,
}

impl RedisPubSubOptions {
    /// Defaults: prefix `tributary:`, [`DEFAULT_CAPACITY`], 1 s publish timeout, 5 s subscribe
    /// and connect timeouts, reconnects from 100 ms backing off to 5 s, a ping every 15 s.
    pub fn new(url: impl Into<String>) -> Self {
        RedisPubSubOptions {
            url: url.into(),
            prefix: "tributary:".into(),
            capacity: DEFAULT_CAPACITY,
            publish_timeout: Duration::from_secs(1),
            subscribe_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
        }
    }
}

impl std::fmt::Debug for RedisPubSubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPubSubOptions")
            .field("url", &Redactor::for_url(&self.url).redact(&self.url))
            .field("prefix", &self.prefix)
            .field("capacity", &self.capacity)
            .field("publish_timeout", &self.publish_timeout)
            .field("subscribe_timeout", &self.subscribe_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("ping_interval", &self.ping_interval)
            .finish()
    }
}

/// Publish/subscribe across instances through Redis pub/sub. See the module docs.
pub struct RedisPubSub {
    hub: Arc<Hub>,
    publisher: ConnectionManager,
    options: RedisPubSubOptions,
    redactor: Redactor,
    /// The subscriber task; aborted on drop.
    task: JoinHandle<()>,
}

/// What the subscriber task needs.
struct Shared {
    hub: Arc<Hub>,
    changed: Arc<Notify>,
    client: redis::Client,
    options: RedisPubSubOptions,
    redactor: Redactor,
}

impl RedisPubSub {
    /// Opens the publishing connection and the subscriber connection, so an unreachable Redis
    /// or a wrong password is a start-up error; later losses are handled by reconnecting.
    pub async fn connect(options: RedisPubSubOptions) -> Result<Self, ConnectorError> {
        let redactor = Redactor::for_url(&options.url);
        let client = redis::Client::open(options.url.as_str())
            .map_err(|e| unreachable(&redactor, format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(options.connect_timeout)
            .set_response_timeout(options.publish_timeout)
            .set_number_of_retries(1);
        let publisher = tokio::time::timeout(
            options.connect_timeout,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| timeout())?
        .map_err(|e| unreachable(&redactor, e))?;
        let first = tokio::time::timeout(options.connect_timeout, client.get_async_pubsub())
            .await
            .map_err(|_| timeout())?
            .map_err(|e| unreachable(&redactor, e))?;

        let (hub, changed) = Hub::with_upstream(options.capacity);
        let shared = Shared {
            hub: hub.clone(),
            changed,
            client,
            options: options.clone(),
            redactor: redactor.clone(),
        };
        let task = tokio::spawn(run(shared, first));
        Ok(RedisPubSub {
            hub,
            publisher,
            options,
            redactor,
            task,
        })
    }

    /// The Redis channel of `topic`.
    pub fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.options.prefix)
    }
}

impl std::fmt::Debug for RedisPubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the options: the URL may hold a password.
        f.debug_struct("RedisPubSub")
            .field("prefix", &self.options.prefix)
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisPubSub {
    fn drop(&mut self) {
        // Closing the subscriber connection releases every upstream subscription at once.
        self.task.abort();
        self.hub.close();
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    async fn publish(&self, topic: &str, payload: Value) -> Result<(), ConnectorError> {
        let text = encode_payload(&payload)?;
        let mut publisher = self.publisher.clone();
        let command = redis::cmd("PUBLISH")
            .arg(self.channel(topic))
            .arg(text)
            .to_owned();
        match tokio::time::timeout(
            self.options.publish_timeout,
            command.query_async::<i64>(&mut publisher),
        )
        .await
        {
            Ok(Ok(_receivers)) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(timeout()),
            Ok(Err(e)) => Err(unreachable(&self.redactor, e)),
            Err(_) => Err(timeout()),
        }
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, ConnectorError> {
        let wait = self.options.subscribe_timeout;
        self.hub
            .subscribe(topic, wait, || ConnectorError::UpstreamUnreachable {
                source_name: SOURCE.into(),
                detail: format!("SUBSCRIBE not confirmed within {wait:?}"),
            })
            .await
    }

    fn active_topics(&self) -> Vec<String> {
        self.hub.topics()
    }
}

fn unreachable(redactor: &Redactor, detail: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::UpstreamUnreachable {
        source_name: SOURCE.into(),
        detail: redactor.redact(detail),
    }
}

fn timeout() -> ConnectorError {
    ConnectorError::UpstreamTimeout {
        source_name: SOURCE.into(),
    }
}

/// The subscriber task: one connection at a time, reconnecting forever (until aborted).
async fn run(shared: Shared, first: redis::aio::PubSub) {
    let options = &shared.options;
    let mut backoff = Backoff::new(options.reconnect_min, options.reconnect_max);
    let mut connection = Some(first);
    loop {
        let pubsub = match connection.take() {
            Some(pubsub) => pubsub,
            None => {
                match tokio::time::timeout(
                    options.connect_timeout,
                    shared.client.get_async_pubsub(),
                )
                .await
                {
                    Ok(Ok(pubsub)) => pubsub,
                    Ok(Err(e)) => {
                        let error = shared.redactor.redact(e);
                        tracing::debug!(%error, "redis pub/sub reconnect failed");
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                    Err(_) => {
                        tracing::debug!("redis pub/sub reconnect timed out");
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                }
            }
        };
        let started = Instant::now();
        let reason = session(&shared, pubsub).await;
        shared.hub.mark_ready(None);
        let reason = shared.redactor.redact(reason);
        tracing::warn!(%reason, topics = shared.hub.topics().len(), "redis pub/sub connection lost; reconnecting");
        // A long-lived session earns an immediate retry; one that failed quickly (e.g. a
        // SUBSCRIBE refused) backs off, so a persistent fault cannot spin.
        if started.elapsed() >= options.reconnect_max {
            backoff.reset();
        } else {
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Serves one connection until it fails; returns why.
async fn session(shared: &Shared, pubsub: redis::aio::PubSub) -> String {
    let (mut sink, mut stream) = pubsub.split();
    let mut subscribed = HashSet::new();
    if let Err(reason) = reconcile(shared, &mut sink, &mut subscribed).await {
        return reason;
    }
    tracing::info!(
        topics = subscribed.len(),
        "redis pub/sub connection subscribed"
    );
    let mut ping = tokio::time::interval(shared.options.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => dispatch(shared, &message),
                None => return "connection closed".into(),
            },
            () = shared.changed.notified() => {
                if let Err(reason) = reconcile(shared, &mut sink, &mut subscribed).await {
                    return reason;
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(
                    shared.options.connect_timeout,
                    sink.ping::<redis::Value>(),
                ).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return format!("PING failed: {e}"),
                    Err(_) => return "no answer to PING in time".into(),
                }
            }
        }
    }
}

/// Brings the connection's channels in line with the hub's topics: `SUBSCRIBE` the new ones,
/// `UNSUBSCRIBE` the released ones, then confirm them to waiting subscribers. After a
/// reconnect `subscribed` is empty, so this re-subscribes every active topic.
async fn reconcile(
    shared: &Shared,
    sink: &mut PubSubSink,
    subscribed: &mut HashSet<String>,
) -> Result<(), String> {
    let wanted: HashSet<String> = shared.hub.topics().into_iter().collect();
    let to_add: Vec<String> = wanted.difference(subscribed).cloned().collect();
    let to_remove: Vec<String> = subscribed.difference(&wanted).cloned().collect();

    for (subscribe, topics) in [(true, to_add), (false, to_remove)] {
        for chunk in topics.chunks(PIPELINE) {
            // One channel per command: redis-rs pairs one reply with each command, and a
            // multi-channel SUBSCRIBE gets one reply per channel.
            let commands = chunk.iter().map(|topic| {
                let mut sink = sink.clone();
                let channel = format!("{}{topic}", shared.options.prefix);
                async move {
                    if subscribe {
                        sink.subscribe(channel).await
                    } else {
                        sink.unsubscribe(channel).await
                    }
                }
            });
            match tokio::time::timeout(
                shared.options.connect_timeout,
                futures::future::try_join_all(commands),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("SUBSCRIBE/UNSUBSCRIBE failed: {e}")),
                Err(_) => return Err("no answer to SUBSCRIBE/UNSUBSCRIBE in time".into()),
            }
            for topic in chunk {
                if subscribe {
                    subscribed.insert(topic.clone());
                } else {
                    subscribed.remove(topic);
                }
            }
        }
    }
    shared.hub.mark_ready(Some(subscribed));
    Ok(())
}

/// Hands one message to its topic's local subscribers.
fn dispatch(shared: &Shared, message: &redis::Msg) {
    let channel = message.get_channel_name();
    match channel.strip_prefix(shared.options.prefix.as_str()) {
        Some(topic) => shared
            .hub
            .deliver(topic, super::decode_payload(message.get_payload_bytes())),
        None => tracing::debug!(channel, "redis message on a foreign channel ignored"),
    }
}
