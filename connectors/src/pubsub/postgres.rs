//! [`PgListenerSource`]: PostgreSQL `LISTEN`/`NOTIFY` as a pub/sub, so a row change made by
//! another system (a trigger calling `pg_notify`) reaches subscribers.
//!
//! # Connection
//! One sqlx `PgListener` per source, on its own small pool (one connection listening, one for
//! `pg_notify`). A background task owns the listener: it `LISTEN`s a channel when its topic
//! gains a first local subscriber and `UNLISTEN`s it when the last one leaves, and fans each
//! notification out locally. Topics are channel names as they are (case-sensitive: they are
//! quoted in `LISTEN`, so `NOTIFY chan` matches the topic `chan`).
//!
//! # Reconnecting
//! `PgListener` reconnects by itself when `try_recv` sees the connection end (EOF, reset,
//! broken pipe) and re-`LISTEN`s its channels — verified by the tests, which terminate the
//! listener's backend with `pg_terminate_backend`. For every other error (the reconnect itself
//! failing, an error kind sqlx does not treat as a lost connection) the task drops the
//! listener, marks every topic unconfirmed, and builds a new one with backoff, `LISTEN`ing
//! every active topic again. Notifications sent while no connection listens are lost
//! (`NOTIFY` keeps no history).
//!
//! # Payloads
//! A JSON payload arrives as its value (`{"x":1}` → an object); any other text as a `String`.
//! `publish` sends JSON text through `pg_notify`, limited by PostgreSQL to 8000 bytes.
//!
//! # Layout
//! This file holds the options, the source (publish, subscribe) and the listener task (`run`,
//! `reconcile`).

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::hub::{Hub, Subscription};
use super::{decode_payload, encode_payload, Backoff, PubSub, Redactor, DEFAULT_CAPACITY};
use crate::{ConnectorError, Value};

/// How to open a [`PgListenerSource`]. Build with [`PgListenerOptions::new`] and adjust.
/// Its `Debug` output shows the URL with the password redacted.
#[derive(Clone)]
pub struct PgListenerOptions {
    /// The SQL source's name, for errors and logs.
    pub name: String,
    /// `postgres://...`. May hold a password: never logged.
    pub url: String,
    /// Events a topic holds for a subscriber that has not read them yet.
    pub capacity: usize,
    /// Time allowed to get a connection, and for `LISTEN`/`pg_notify` to answer.
    pub timeout: Duration,
    /// First and largest wait between attempts to rebuild a failed listener.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl PgListenerOptions {
    /// Defaults: [`DEFAULT_CAPACITY`], 5 s timeout, rebuilds from 100 ms backing off to 5 s.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        PgListenerOptions {
            name: name.into(),
            url: url.into(),
            capacity: DEFAULT_CAPACITY,
            timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for PgListenerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgListenerOptions")
            .field("name", &self.name)
            .field("url", &Redactor::for_url(&self.url).redact(&self.url))
            .field("capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// PostgreSQL `LISTEN`/`NOTIFY` behind the [`PubSub`] trait. See the module docs.
#[derive(Debug)]
pub struct PgListenerSource {
    hub: Arc<Hub>,
    pool: PgPool,
    options: PgListenerOptions,
    redactor: Redactor,
    /// The listener task; aborted on drop.
    task: JoinHandle<()>,
}

/// What the listener task needs.
struct Shared {
    hub: Arc<Hub>,
    changed: Arc<Notify>,
    pool: PgPool,
    options: PgListenerOptions,
    redactor: Redactor,
}

impl PgListenerSource {
    /// Opens the pool and the listening connection, so an unreachable database or a wrong
    /// password is a start-up error; later losses are handled by reconnecting.
    pub async fn connect(options: PgListenerOptions) -> Result<Self, ConnectorError> {
        let redactor = Redactor::for_url(&options.url);
        let unavailable = |detail: String| ConnectorError::DatabaseUnavailable {
            source_name: options.name.clone(),
            detail: redactor.redact(detail),
        };
        let connect_options = PgConnectOptions::from_str(&options.url)
            .map_err(|e| unavailable(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("tributary-listener");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(options.timeout)
            .connect_with(connect_options)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| unavailable(e.to_string()))?;

        let (hub, changed) = Hub::with_upstream(options.capacity);
        let shared = Shared {
            hub: hub.clone(),
            changed,
            pool: pool.clone(),
            options: options.clone(),
            redactor: redactor.clone(),
        };
        let task = tokio::spawn(run(shared, listener));
        Ok(PgListenerSource {
            hub,
            pool,
            options,
            redactor,
            task,
        })
    }

    fn map_error(&self, error: sqlx::Error) -> ConnectorError {
        let source_name = self.options.name.clone();
        match error {
            sqlx::Error::Database(db) => ConnectorError::Database {
                source_name,
                detail: self.redactor.redact(db.message()),
            },
            other => ConnectorError::DatabaseUnavailable {
                source_name,
                detail: self.redactor.redact(other),
            },
        }
    }
}

impl Drop for PgListenerSource {
    fn drop(&mut self) {
        self.task.abort();
        self.hub.close();
    }
}

#[async_trait]
impl PubSub for PgListenerSource {
    /// `SELECT pg_notify(topic, json)`: delivered to every listener of the channel, on any
    /// instance (and to other systems listening), when the statement commits.
    async fn publish(&self, topic: &str, payload: Value) -> Result<(), ConnectorError> {
        let text = encode_payload(&payload)?;
        let statement = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(topic)
            .bind(text)
            .execute(&self.pool);
        match tokio::time::timeout(self.options.timeout, statement).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.map_error(e)),
            Err(_) => Err(ConnectorError::DatabaseTimeout {
                source_name: self.options.name.clone(),
            }),
        }
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, ConnectorError> {
        let wait = self.options.timeout;
        let source_name = self.options.name.clone();
        self.hub
            .subscribe(topic, wait, || ConnectorError::DatabaseUnavailable {
                source_name,
                detail: format!("LISTEN not confirmed within {wait:?}"),
            })
            .await
    }

    fn active_topics(&self) -> Vec<String> {
        self.hub.topics()
    }
}

/// What ended one wait of the listener task.
enum Wake {
    Notification(String, String),
    /// The connection was lost and sqlx reconnected (and re-`LISTEN`ed) already.
    Reconnected,
    Failed(sqlx::Error),
    TopicsChanged,
}

/// The listener task: reconcile, wait, repeat; rebuilds the listener after a failure.
async fn run(shared: Shared, first: PgListener) {
    let options = &shared.options;
    let mut backoff = Backoff::new(options.reconnect_min, options.reconnect_max);
    let mut listener = Some(first);
    let mut listening: HashSet<String> = HashSet::new();
    loop {
        let current = match listener.as_mut() {
            Some(current) => current,
            None => match PgListener::connect_with(&shared.pool).await {
                Ok(fresh) => {
                    listening.clear();
                    listener.insert(fresh)
                }
                Err(e) => {
                    let error = shared.redactor.redact(e);
                    tracing::debug!(source = %options.name, %error, "postgres listener reconnect failed");
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            },
        };
        if let Err(e) = reconcile(&shared, current, &mut listening).await {
            let error = shared.redactor.redact(e);
            tracing::warn!(source = %options.name, %error, "postgres LISTEN failed; reconnecting");
            listener = None;
            shared.hub.mark_ready(None);
            tokio::time::sleep(backoff.next_delay()).await;
            continue;
        }
        let wake = tokio::select! {
            // Cancel-safe: sqlx only consumes a message from its buffer once it is complete.
            received = current.try_recv() => match received {
                Ok(Some(notification)) => Wake::Notification(
                    notification.channel().to_owned(),
                    notification.payload().to_owned(),
                ),
                Ok(None) => Wake::Reconnected,
                Err(e) => Wake::Failed(e),
            },
            () = shared.changed.notified() => Wake::TopicsChanged,
        };
        match wake {
            Wake::Notification(channel, payload) => {
                backoff.reset();
                shared
                    .hub
                    .deliver(&channel, decode_payload(payload.as_bytes()));
            }
            Wake::Reconnected => {
                tracing::warn!(source = %options.name, "postgres listener connection lost; reconnected");
            }
            Wake::Failed(e) => {
                let error = shared.redactor.redact(e);
                tracing::warn!(source = %options.name, %error, "postgres listener failed; reconnecting");
                listener = None;
                shared.hub.mark_ready(None);
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Wake::TopicsChanged => {}
        }
    }
}

/// Brings the listener's channels in line with the hub's topics, then confirms them to
/// waiting subscribers.
async fn reconcile(
    shared: &Shared,
    listener: &mut PgListener,
    listening: &mut HashSet<String>,
) -> Result<(), String> {
    let wanted: HashSet<String> = shared.hub.topics().into_iter().collect();
    let limit = shared.options.timeout;
    for channel in wanted.difference(listening).cloned().collect::<Vec<_>>() {
        match tokio::time::timeout(limit, listener.listen(&channel)).await {
            Ok(Ok(())) => {
                listening.insert(channel);
            }
            Ok(Err(e)) => return Err(format!("LISTEN failed: {e}")),
            Err(_) => return Err("no answer to LISTEN in time".into()),
        }
    }
    for channel in listening.difference(&wanted).cloned().collect::<Vec<_>>() {
        match tokio::time::timeout(limit, listener.unlisten(&channel)).await {
            Ok(Ok(())) => {
                listening.remove(&channel);
            }
            Ok(Err(e)) => return Err(format!("UNLISTEN failed: {e}")),
            Err(_) => return Err("no answer to UNLISTEN in time".into()),
        }
    }
    shared.hub.mark_ready(Some(listening));
    Ok(())
}
