//! The pub/sub connectors against real backends: Redis (when `TEST_REDIS_URL` is set) and
//! PostgreSQL `LISTEN`/`NOTIFY` (when `TEST_DATABASE_URL` is set). Without the variable a test
//! passes without doing anything, so `cargo test` stays green on a machine with no backends.
//!
//! Every test uses its own topic names, so tests can share the CI backends concurrently; the
//! Redis-restart test starts and kills its OWN `redis-server` on a free port, never the shared
//! one. Every wait is bounded by a tokio timeout: no test can hang.
//!
//! # Layout
//! - `pubsub::redis`: cross-instance delivery, one upstream `SUBSCRIBE` per topic, release,
//!   delivery after a Redis restart.
//! - `pubsub::postgres`: `NOTIFY` payloads (JSON and text), publish, delivery after the
//!   listener's connection is terminated.
//!
//! (The tests sit in a `pubsub` module so `cargo test -p tributary-connectors pubsub` runs
//! them along with the unit tests.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod pubsub {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::StreamExt;
    use tributary_connectors::pubsub::{Event, Subscription};
    use tributary_connectors::Value;

    /// Bound on any single wait for an event that should arrive.
    pub const WAIT: Duration = Duration::from_secs(5);
    /// Bound on a recovery (reconnect) loop.
    pub const RECOVERY: Duration = Duration::from_secs(30);

    pub async fn next(subscription: &mut Subscription) -> Event {
        tokio::time::timeout(WAIT, subscription.next())
            .await
            .expect("no event within the timeout")
            .expect("the subscription ended")
    }

    /// The next event if one comes within `wait`.
    pub async fn next_within(subscription: &mut Subscription, wait: Duration) -> Option<Event> {
        tokio::time::timeout(wait, subscription.next())
            .await
            .ok()
            .flatten()
    }

    pub fn json(event: Event) -> serde_json::Value {
        match event {
            Event::Payload(value) => Value::clone(&value).into_json().unwrap(),
            Event::Lagged(n) => panic!("unexpected Lagged({n})"),
        }
    }

    pub fn payload(value: serde_json::Value) -> Event {
        Event::Payload(Arc::new(Value::from_json(value).unwrap()))
    }

    pub fn unique(prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
    }

    mod redis {
        use std::net::TcpListener;
        use std::process::{Child, Command, Stdio};
        use std::time::{Duration, Instant};

        use serde_json::json;
        use tributary_connectors::pubsub::{PubSub, RedisPubSub, RedisPubSubOptions};
        use tributary_connectors::Value;

        use super::*;

        fn redis_url() -> Option<String> {
            let url = std::env::var("TEST_REDIS_URL").ok();
            if url.is_none() {
                eprintln!("TEST_REDIS_URL not set: skipped");
            }
            url
        }

        fn options(url: &str) -> RedisPubSubOptions {
            let mut options = RedisPubSubOptions::new(url);
            options.reconnect_max = Duration::from_millis(500);
            options.connect_timeout = Duration::from_secs(2);
            options
        }

        async fn numsub(url: &str, channel: &str) -> i64 {
            let client = ::redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let (_, count): (String, i64) = ::redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query_async(&mut conn)
                .await
                .unwrap();
            count
        }

        #[tokio::test]
        async fn a_subscriber_on_one_instance_receives_an_event_published_on_another() {
            let Some(url) = redis_url() else { return };
            let a = RedisPubSub::connect(options(&url)).await.unwrap();
            let b = RedisPubSub::connect(options(&url)).await.unwrap();
            let topic = unique("reviews");
            let mut subscription = a.subscribe(&topic).await.unwrap();

            b.publish(
                &topic,
                Value::from_json(json!({"id": 7, "stars": 5})).unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(
                json(next(&mut subscription).await),
                json!({"id": 7, "stars": 5})
            );

            // A foreign system publishing plain text on the prefixed channel is heard too.
            let client = ::redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let _: i64 = ::redis::cmd("PUBLISH")
                .arg(a.channel(&topic))
                .arg("hello")
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(json(next(&mut subscription).await), json!("hello"));
        }

        #[tokio::test]
        async fn three_local_subscribers_share_one_upstream_subscription_released_by_the_last() {
            let Some(url) = redis_url() else { return };
            let pubsub = RedisPubSub::connect(options(&url)).await.unwrap();
            let topic = unique("stock");
            let channel = pubsub.channel(&topic);
            let mut subscribers = Vec::new();
            for _ in 0..3 {
                subscribers.push(pubsub.subscribe(&topic).await.unwrap());
            }
            assert_eq!(numsub(&url, &channel).await, 1);

            for n in 0..10 {
                pubsub.publish(&topic, Value::from(n)).await.unwrap();
            }
            for subscriber in &mut subscribers {
                for n in 0..10 {
                    assert_eq!(next(subscriber).await, payload(json!(n)));
                }
            }

            subscribers.pop();
            subscribers.pop();
            assert_eq!(pubsub.active_topics(), vec![topic.clone()]);
            subscribers.clear();
            assert!(pubsub.active_topics().is_empty());
            // The UNSUBSCRIBE is asynchronous: poll for it, bounded.
            let deadline = Instant::now() + WAIT;
            while numsub(&url, &channel).await != 0 {
                assert!(
                    Instant::now() < deadline,
                    "upstream subscription not released"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        /// A `redis-server` of the test's own, killed on drop.
        struct OwnRedis {
            port: u16,
            child: Option<Child>,
        }

        impl OwnRedis {
            fn free_port() -> u16 {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            }

            async fn start(port: u16) -> OwnRedis {
                let child = Command::new("/usr/bin/redis-server")
                    .args(["--port", &port.to_string()])
                    .args(["--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server must be installed at /usr/bin/redis-server");
                let server = OwnRedis {
                    port,
                    child: Some(child),
                };
                let client = ::redis::Client::open(server.url()).unwrap();
                let deadline = Instant::now() + WAIT;
                loop {
                    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                        let pong: Result<String, _> =
                            ::redis::cmd("PING").query_async(&mut conn).await;
                        if pong.is_ok() {
                            return server;
                        }
                    }
                    assert!(Instant::now() < deadline, "redis-server did not start");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }

            fn url(&self) -> String {
                format!("redis://127.0.0.1:{}", self.port)
            }

            fn kill(&mut self) {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }

        impl Drop for OwnRedis {
            fn drop(&mut self) {
                self.kill();
            }
        }

        #[tokio::test]
        async fn delivery_resumes_for_an_existing_subscriber_after_redis_restarts() {
            // The shared Redis is not used, but the variable says Redis tests are wanted.
            let Some(_) = redis_url() else { return };
            let port = OwnRedis::free_port();
            let mut server = OwnRedis::start(port).await;
            let mut options = options(&server.url());
            options.subscribe_timeout = Duration::from_millis(300);
            let pubsub = RedisPubSub::connect(options).await.unwrap();
            let topic = unique("orders");
            let mut subscription = pubsub.subscribe(&topic).await.unwrap();
            pubsub.publish(&topic, Value::from(1)).await.unwrap();
            assert_eq!(next(&mut subscription).await, payload(json!(1)));

            server.kill();
            // While Redis is down, publishing fails fast with an upstream error.
            let started = Instant::now();
            let error = pubsub.publish(&topic, Value::from(2)).await.unwrap_err();
            assert!(
                matches!(
                    error.code().as_str(),
                    "UPSTREAM_UNREACHABLE" | "UPSTREAM_TIMEOUT"
                ),
                "{error:?}"
            );
            assert!(started.elapsed() < WAIT);
            // A new subscriber gets an error after the subscribe timeout, not a silent wait,
            // and its topic is released again.
            let other = unique("orders");
            let error = pubsub.subscribe(&other).await.unwrap_err();
            assert_eq!(error.code().as_str(), "UPSTREAM_UNREACHABLE", "{error:?}");
            assert_eq!(pubsub.active_topics(), vec![topic.clone()]);

            let _server = OwnRedis::start(port).await;
            // Publish until one event reaches the existing subscriber, bounded.
            let deadline = Instant::now() + RECOVERY;
            let mut attempt = 100;
            loop {
                attempt += 1;
                let _ = pubsub.publish(&topic, Value::from(attempt)).await;
                if let Some(event) =
                    next_within(&mut subscription, Duration::from_millis(200)).await
                {
                    // Possibly an earlier attempt's event arriving late: any payload will do.
                    assert!(matches!(event, Event::Payload(_)), "{event:?}");
                    break;
                }
                assert!(Instant::now() < deadline, "delivery did not resume");
            }
            // And it keeps working.
            pubsub.publish(&topic, Value::from(-1)).await.unwrap();
            assert_eq!(next(&mut subscription).await, payload(json!(-1)));
        }

        /// The ids of the server's clients in subscribed mode.
        async fn pubsub_client_ids(url: &str) -> Vec<String> {
            let client = ::redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let list: String = ::redis::cmd("CLIENT")
                .arg("LIST")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut conn)
                .await
                .unwrap();
            list.lines()
                .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
                .map(str::to_owned)
                .collect()
        }

        #[tokio::test]
        async fn one_subscriber_connection_multiplexes_every_topic_and_survives_its_pings() {
            let Some(_) = redis_url() else { return };
            let server = OwnRedis::start(OwnRedis::free_port()).await;
            let mut options = options(&server.url());
            options.ping_interval = Duration::from_millis(50);
            let pubsub = RedisPubSub::connect(options).await.unwrap();
            let mut subscriptions = Vec::new();
            for topic in ["a", "b", "c"] {
                subscriptions.push(pubsub.subscribe(topic).await.unwrap());
            }
            let ids = pubsub_client_ids(&server.url()).await;
            assert_eq!(ids.len(), 1, "{ids:?}");

            // Several pings later, the same connection still delivers every topic.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(pubsub_client_ids(&server.url()).await, ids);
            for (n, topic) in ["a", "b", "c"].into_iter().enumerate() {
                pubsub.publish(topic, Value::from(n as i64)).await.unwrap();
            }
            for (n, subscription) in subscriptions.iter_mut().enumerate() {
                assert_eq!(next(subscription).await, payload(json!(n)));
            }
        }

        #[tokio::test]
        async fn a_slow_subscriber_gets_lagged_while_a_fast_one_gets_every_redis_event_in_order() {
            let Some(url) = redis_url() else { return };
            let mut options = options(&url);
            options.capacity = 4;
            let pubsub = RedisPubSub::connect(options).await.unwrap();
            let topic = unique("stock");
            let mut slow = pubsub.subscribe(&topic).await.unwrap();
            let mut fast = pubsub.subscribe(&topic).await.unwrap();
            // Lockstep with the fast subscriber: counted, not timed.
            for n in 0..12 {
                pubsub.publish(&topic, Value::from(n)).await.unwrap();
                assert_eq!(next(&mut fast).await, payload(json!(n)));
            }
            assert_eq!(next(&mut slow).await, Event::Lagged(8));
            for n in 8..12 {
                assert_eq!(next(&mut slow).await, payload(json!(n)));
            }
        }

        #[tokio::test]
        async fn an_unreachable_redis_is_a_start_up_error_without_the_password() {
            let Some(_) = redis_url() else { return };
            let port = OwnRedis::free_port();
            let url = format!("redis://user:s3cr%40t@127.0.0.1:{port}");
            let error = RedisPubSub::connect(options(&url)).await.unwrap_err();
            let text = format!("{error} {error:?}");
            assert_eq!(error.code().as_str(), "UPSTREAM_UNREACHABLE", "{text}");
            assert!(!text.contains("s3cr"), "{text}");
        }
    }

    mod postgres {
        use std::time::{Duration, Instant};

        use serde_json::json;
        use sqlx::{Connection, PgConnection};
        use tributary_connectors::pubsub::{PgListenerOptions, PgListenerSource, PubSub};
        use tributary_connectors::Value;

        use super::*;

        fn database_url() -> Option<String> {
            let url = std::env::var("TEST_DATABASE_URL").ok();
            if url.is_none() {
                eprintln!("TEST_DATABASE_URL not set: skipped");
            }
            url
        }

        async fn source(url: &str) -> PgListenerSource {
            let mut options = PgListenerOptions::new("main", url);
            options.reconnect_max = Duration::from_millis(500);
            PgListenerSource::connect(options).await.unwrap()
        }

        #[tokio::test]
        async fn a_notify_with_a_json_payload_reaches_a_subscriber_as_an_object() {
            let Some(url) = database_url() else { return };
            let source = source(&url).await;
            let channel = unique("chan");
            let mut subscription = source.subscribe(&channel).await.unwrap();

            let mut conn = PgConnection::connect(&url).await.unwrap();
            sqlx::query(&format!(r#"NOTIFY {channel}, '{{"x":1}}'"#))
                .execute(&mut conn)
                .await
                .unwrap();
            assert_eq!(json(next(&mut subscription).await), json!({"x": 1}));

            sqlx::query(&format!("NOTIFY {channel}, 'plain text'"))
                .execute(&mut conn)
                .await
                .unwrap();
            assert_eq!(json(next(&mut subscription).await), json!("plain text"));
        }

        #[tokio::test]
        async fn publishing_through_the_source_reaches_every_subscriber_of_the_channel() {
            let Some(url) = database_url() else { return };
            let listening = source(&url).await;
            let publishing = source(&url).await;
            let channel = unique("chan");
            let mut first = listening.subscribe(&channel).await.unwrap();
            let mut second = listening.subscribe(&channel).await.unwrap();
            publishing
                .publish(&channel, Value::from_json(json!({"id": 3})).unwrap())
                .await
                .unwrap();
            assert_eq!(json(next(&mut first).await), json!({"id": 3}));
            assert_eq!(json(next(&mut second).await), json!({"id": 3}));
        }

        #[tokio::test]
        async fn notifications_resume_after_the_listener_connection_is_terminated() {
            let Some(url) = database_url() else { return };
            let source = source(&url).await;
            let channel = unique("chan");
            let mut subscription = source.subscribe(&channel).await.unwrap();
            let mut conn = PgConnection::connect(&url).await.unwrap();

            // The listener's backend is the one whose last statement was our LISTEN.
            let terminated: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE query = $1 AND pid <> pg_backend_pid()",
            )
            .bind(format!(r#"LISTEN "{channel}""#))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert_eq!(terminated, vec![(true,)]);

            let deadline = Instant::now() + RECOVERY;
            let mut attempt = 0;
            loop {
                attempt += 1;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(&channel)
                    .bind(attempt.to_string())
                    .execute(&mut conn)
                    .await
                    .unwrap();
                if let Some(event) =
                    next_within(&mut subscription, Duration::from_millis(200)).await
                {
                    assert!(matches!(event, Event::Payload(_)), "{event:?}");
                    break;
                }
                assert!(Instant::now() < deadline, "notifications did not resume");
            }
        }
    }
}
