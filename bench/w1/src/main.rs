//! W1, WebSocket fan-out (see `../shared/bench/README.md`): N `graphql-transport-ws`
//! subscribers on one topic (`stockChanged(productId: "1")`), one event published by an
//! `updateStock` mutation over HTTP. Prints the delivery time of that event to every subscriber
//! (p50, p99, max, measured from just before the POST), how many received it, and the server's
//! RSS per subscriber (`VmRSS` of `--server-pid`, after all are subscribed minus before any
//! connected, divided by N).
//!
//! ```text
//! tributary-bench-w1 --url http://127.0.0.1:8800 --subscribers 10000 --server-pid 1234
//! ```
//!
//! How it goes:
//! 1. Raises its own `RLIMIT_NOFILE` soft limit towards the hard one (one descriptor per socket).
//! 2. Opens N connections with at most `--handshakes` (100) in flight at once, so the server's
//!    listen backlog never overflows: upgrade, `connection_init`, `connection_ack`, `subscribe`.
//! 3. A subscription starts asynchronously after its `subscribe` message, so it publishes
//!    warm-up events until every subscriber has received one; only then is everyone known to be
//!    listening. After a short settle the server's RSS is read.
//! 4. Publishes the measured event (a distinct `available` value) and waits for all N `next`s.
//!
//! `--connect-only` stops after step 2 without subscribing and prints the server's RSS per idle
//! (acknowledged) connection, to tell the connection's share from the subscription's.
//!
//! The last line is machine-readable for `bench/run.sh`:
//! `RESULT <n> <subscribed> <received> <p50 ms> <p99 ms> <max ms> <KiB per subscriber>`.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn Error + Send + Sync>;

const SUBSCRIPTION: &str =
    "subscription($p: ID!) { stockChanged(productId: $p) { sku available } }";
const MUTATION: &str = "mutation($p: ID!, $s: String!, $a: Int!) { updateStock(productId: $p, sku: $s, available: $a) { sku available } }";
/// The value of `available` in the measured event (the demo inventory allows 0..=1,000,000);
/// warm-up events use 1, 2, ...
const MEASURED: i64 = 999_999;

struct Args {
    url: String,
    subscribers: usize,
    server_pid: Option<u32>,
    product_id: String,
    sku: String,
    handshakes: usize,
    timeout: Duration,
    /// Only connect (init → ack), no subscription: the server's memory per idle connection.
    connect_only: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: tributary-bench-w1 --url http://127.0.0.1:PORT --subscribers N [--server-pid PID]\n\
         \x20      [--product-id 1] [--sku CB-ETH-YRG-250] [--handshakes 100] [--timeout-secs 60] [--connect-only]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        subscribers: 0,
        server_pid: None,
        product_id: "1".into(),
        sku: "CB-ETH-YRG-250".into(),
        handshakes: 100,
        timeout: Duration::from_secs(60),
        connect_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--connect-only" {
            args.connect_only = true;
            continue;
        }
        let Some(value) = it.next() else { usage() };
        match flag.as_str() {
            "--url" => args.url = value.trim_end_matches('/').to_string(),
            "--subscribers" => args.subscribers = value.parse().unwrap_or_else(|_| usage()),
            "--server-pid" => args.server_pid = Some(value.parse().unwrap_or_else(|_| usage())),
            "--product-id" => args.product_id = value,
            "--sku" => args.sku = value,
            "--handshakes" => args.handshakes = value.parse().unwrap_or_else(|_| usage()),
            "--timeout-secs" => {
                args.timeout = Duration::from_secs(value.parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    if args.url.is_empty() || args.subscribers == 0 || args.handshakes == 0 {
        usage()
    }
    args
}

/// Raises the soft `RLIMIT_NOFILE` to what `needed` descriptors require, within the hard limit.
fn raise_nofile(needed: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= needed {
        return;
    }
    let target = limit
        .maximum
        .map_or(needed, |max| max.min(needed.max(current)));
    limit.current = Some(target);
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) if target >= needed => {}
        Ok(()) => eprintln!(
            "w1: RLIMIT_NOFILE raised to its hard limit {target}, below the {needed} needed"
        ),
        Err(e) => eprintln!("w1: could not raise RLIMIT_NOFILE from {current}: {e}"),
    }
}

/// The `VmRSS` of a process, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) a process has used, in milliseconds (`/proc/{pid}/stat`, in clock
/// ticks of 10 ms), to show how the fan-out's work splits between server and client.
fn cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

/// A graphql-transport-ws message from the server: its type (the rest is skipped).
#[derive(serde::Deserialize)]
struct ServerMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

/// A `next` message, as far as this client reads it (a payload with only `errors` has no
/// `data`).
#[derive(serde::Deserialize)]
struct NextMessage {
    payload: NextPayload,
}

#[derive(serde::Deserialize)]
struct NextPayload {
    data: Option<StockData>,
}

#[derive(serde::Deserialize)]
struct StockData {
    #[serde(rename = "stockChanged")]
    stock_changed: Option<Stock>,
}

#[derive(serde::Deserialize)]
struct Stock {
    available: i64,
}

enum Event {
    Subscribed,
    Failed(usize, String),
    Next {
        idx: usize,
        available: i64,
        at: Instant,
    },
}

async fn subscriber(
    idx: usize,
    ws_url: String,
    product_id: Option<String>,
    handshakes: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Event>,
) {
    let permit = handshakes.acquire_owned().await;
    let socket = match open(&ws_url, product_id.as_deref()).await {
        Ok(socket) => socket,
        Err(e) => {
            let _ = tx.send(Event::Failed(idx, e.to_string()));
            return;
        }
    };
    drop(permit);
    let _ = tx.send(Event::Subscribed);
    let (mut sink, mut stream) = socket.split();
    while let Some(message) = stream.next().await {
        let at = Instant::now();
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                let _ = tx.send(Event::Failed(
                    idx,
                    format!("closed by the server: {frame:?}"),
                ));
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(Event::Failed(idx, e.to_string()));
                return;
            }
        };
        // Typed and borrowed: only what is needed, without building a JSON tree per message
        // (this client shares the two cores with the server it measures).
        let Ok(message) = serde_json::from_str::<ServerMessage>(text.as_str()) else {
            continue;
        };
        match message.kind {
            "next" => {
                let available = serde_json::from_str::<NextMessage>(text.as_str())
                    .ok()
                    .and_then(|m| m.payload.data)
                    .and_then(|d| d.stock_changed)
                    .map_or(-1, |s| s.available);
                let _ = tx.send(Event::Next { idx, available, at });
            }
            "ping" => {
                let _ = sink.send(Message::text(r#"{"type":"pong"}"#)).await;
            }
            "error" | "complete" => {
                let _ = tx.send(Event::Failed(idx, format!("subscription ended: {text}")));
                return;
            }
            _ => {}
        }
    }
    let _ = tx.send(Event::Failed(idx, "connection ended".into()));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Upgrade (retried a few times: a full backlog refuses), `connection_init` → ack, `subscribe`
/// (unless `product_id` is `None`).
async fn open(ws_url: &str, product_id: Option<&str>) -> Result<Socket, BoxError> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut attempt = 0;
    let mut socket = loop {
        let mut request = ws_url.into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        match tokio::time::timeout(Duration::from_secs(30), connect).await {
            Ok(Ok((socket, _))) => break socket,
            Ok(Err(e)) if attempt >= 5 => return Err(e.into()),
            Err(_) if attempt >= 5 => return Err("upgrade timed out".into()),
            _ => {}
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
    };
    socket
        .send(Message::text(r#"{"type":"connection_init","payload":{}}"#))
        .await?;
    let ack = async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                if text.contains("connection_ack") {
                    return Ok(());
                }
            }
        }
        Err::<(), BoxError>("closed before connection_ack".into())
    };
    tokio::time::timeout(Duration::from_secs(30), ack)
        .await
        .map_err(|_| "no connection_ack in 30 s")??;
    let Some(product_id) = product_id else {
        return Ok(socket);
    };
    let subscribe = json!({
        "id": "w1",
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "variables": {"p": product_id}},
    });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

async fn publish(
    client: &reqwest::Client,
    url: &str,
    args: &Args,
    available: i64,
) -> Result<(), BoxError> {
    let body = json!({
        "query": MUTATION,
        "variables": {"p": args.product_id, "s": args.sku, "a": available},
    });
    let response: Value = client.post(url).json(&body).send().await?.json().await?;
    if response.get("errors").is_some_and(|e| !e.is_null()) {
        return Err(format!("updateStock failed: {response}").into());
    }
    Ok(())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args();
    let n = args.subscribers;
    raise_nofile(n as u64 + 256);
    let http_url = format!("{}/graphql", args.url);
    let ws_url = http_url
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    let client = reqwest::Client::new();
    let rss = |pid: Option<u32>| pid.and_then(rss_kib);
    let rss_before = rss(args.server_pid);

    // 1. Connect and subscribe everyone.
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handshakes = Arc::new(Semaphore::new(args.handshakes));
    for idx in 0..n {
        tokio::spawn(subscriber(
            idx,
            ws_url.clone(),
            (!args.connect_only).then(|| args.product_id.clone()),
            handshakes.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut failures = Failures {
        alive: vec![true; n],
        failed: 0,
        first: None,
    };
    let mut subscribed = 0usize;
    let deadline = tokio::time::Instant::now() + args.timeout.max(Duration::from_secs(120));
    while subscribed + failures.failed < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Subscribed)) => subscribed += 1,
            Ok(Some(Event::Failed(idx, why))) => failures.note(idx, why),
            Ok(Some(Event::Next { .. })) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!("w1: {subscribed}/{n} subscribed in {connect_secs:.1} s");
    if args.connect_only {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let per_conn = match (rss_before, rss(args.server_pid)) {
            (Some(b), Some(a)) => (a as f64 - b as f64) / n as f64,
            _ => f64::NAN,
        };
        println!(
            "W1 connect-only: {subscribed}/{n} connections acknowledged in {connect_secs:.1} s"
        );
        println!("  RSS per connection    {per_conn:.1} KiB");
        std::process::exit(if subscribed == n { 0 } else { 1 })
    }

    // 2. Warm up: publish until every live subscriber has received an event.
    let mut warmed = vec![false; n];
    let mut warmed_count = 0usize;
    let mut rounds = 0;
    while warmed_count < n - failures.failed && rounds < 40 {
        rounds += 1;
        if let Err(e) = publish(&client, &http_url, &args, rounds).await {
            eprintln!("w1: warm-up publish: {e}");
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(event)) = tokio::time::timeout_at(until, rx.recv()).await {
            match event {
                Event::Next { idx, .. } if !warmed[idx] => {
                    warmed[idx] = true;
                    warmed_count += 1;
                }
                Event::Failed(idx, why) => failures.note(idx, why),
                _ => {}
            }
        }
    }
    eprintln!("w1: {warmed_count} subscribers warm after {rounds} warm-up events");
    // Settle: let the last warm-up deliveries finish, then read the server's memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(event) = rx.try_recv() {
        if let Event::Failed(idx, why) = event {
            failures.note(idx, why);
        }
    }
    let rss_subscribed = rss(args.server_pid);

    // 3. The measured event.
    let live = n - failures.failed;
    let mut got = vec![false; n];
    let mut latencies = Vec::with_capacity(n);
    let server_pid = args.server_pid.map(|p| p.to_string());
    let cpu_before = (server_pid.as_deref().and_then(cpu_ms), cpu_ms("self"));
    let t0 = Instant::now();
    publish(&client, &http_url, &args, MEASURED).await?;
    let post_ms = t0.elapsed().as_secs_f64() * 1e3;
    let deadline = tokio::time::Instant::now() + args.timeout;
    while latencies.len() < live {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Next {
                idx,
                available: MEASURED,
                at,
            })) if !got[idx] => {
                got[idx] = true;
                latencies.push(at.duration_since(t0).as_secs_f64() * 1e3);
            }
            Ok(Some(Event::Failed(idx, why))) => failures.note(idx, why),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let cpu_after = (server_pid.as_deref().and_then(cpu_ms), cpu_ms("self"));
    let rss_after = rss(args.server_pid);
    latencies.sort_by(f64::total_cmp);
    let received = latencies.len();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let max = latencies.last().copied().unwrap_or(f64::NAN);
    let per_sub = match (rss_before, rss_subscribed) {
        (Some(b), Some(a)) => (a as f64 - b as f64) / n as f64,
        _ => f64::NAN,
    };
    let show = |v: Option<u64>| v.map_or("-".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));

    println!(
        "W1 fan-out, {n} subscribers on stockChanged(productId: {:?})",
        args.product_id
    );
    println!(
        "  connected+subscribed  {subscribed}/{n} in {connect_secs:.1} s ({} failed)",
        failures.failed
    );
    if let Some(why) = &failures.first {
        println!("  first failure         {why}");
    }
    println!("  warm-up events        {rounds} (until {warmed_count} had one)");
    println!("  received              {received}/{n}");
    println!("  delivery p50/p99/max  {p50:.1} / {p99:.1} / {max:.1} ms (POST answered in {post_ms:.1} ms)");
    println!(
        "  server RSS MiB        {} before, {} subscribed, {} after the event",
        show(rss_before),
        show(rss_subscribed),
        show(rss_after)
    );
    println!("  RSS per subscriber    {per_sub:.1} KiB");
    let spent = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.0}", b - a),
        _ => "-".to_string(),
    };
    println!(
        "  CPU ms in the event   server {}, client {} (10 ms ticks)",
        spent(cpu_before.0, cpu_after.0),
        spent(cpu_before.1, cpu_after.1)
    );
    println!("RESULT {n} {subscribed} {received} {p50:.1} {p99:.1} {max:.1} {per_sub:.1}");
    // Exit without closing 10,000 sockets one by one.
    std::process::exit(if received == n { 0 } else { 1 })
}

/// Subscribers whose connection failed or ended, and the first reason.
struct Failures {
    alive: Vec<bool>,
    failed: usize,
    first: Option<String>,
}

impl Failures {
    fn note(&mut self, idx: usize, why: String) {
        if std::mem::replace(&mut self.alive[idx], false) {
            self.failed += 1;
            self.first.get_or_insert(why);
        }
    }
}
