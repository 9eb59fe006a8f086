//! The storefront's demo HTTP services, `reviews` and `inventory`.
//!
//! Tributary's demo schema joins SQL products with two "downstream teams' services" over HTTP.
//! This crate provides those services as small axum apps with in-memory, deterministically
//! seeded data, so the demo (and the `@http` connector's tests and benchmarks) need nothing
//! outside the repository:
//!
//! - [`start`] / [`start_pair`] bind both on loopback and serve them on the current tokio
//!   runtime; the development command uses this to give `REVIEWS_URL`/`INVENTORY_URL` defaults.
//! - [`reviews_router`] / [`inventory_router`] (or [`Reviews::router`] / [`Inventory::router`]
//!   to keep a handle on the data and counter) embed them in another server.
//! - The `tributary-demo` binary runs them standalone.
//!
//! Each service counts the requests it serves (`GET /_stats` → `{"requests": n}`, or
//! [`DemoServices::reviews_requests`]), which is how tests count Tributary's upstream calls.

mod catalog;
mod common;
pub mod inventory;
pub mod reviews;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use catalog::{PRODUCT_COUNT, SKUS};
pub use common::RequestCounter;
pub use inventory::{Inventory, StockRecord};
pub use reviews::{Rating, Review, Reviews};

/// How long [`DemoServices::shutdown`] waits for open connections to finish before aborting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A freshly seeded reviews service, ready to nest or serve.
pub fn reviews_router() -> Router {
    Reviews::seeded().router()
}

/// A freshly seeded inventory service, ready to nest or serve.
pub fn inventory_router() -> Router {
    Inventory::seeded().router()
}

/// Both services, running. Dropping this stops them (the shutdown signal is the drop of a
/// channel sender), so a test cannot leak servers; [`shutdown`](Self::shutdown) also waits for
/// them to finish.
#[derive(Debug)]
pub struct DemoServices {
    /// Base URL of the reviews service, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub reviews_url: String,
    /// Base URL of the inventory service.
    pub inventory_url: String,
    pub reviews_addr: SocketAddr,
    pub inventory_addr: SocketAddr,
    reviews: Reviews,
    inventory: Inventory,
    stop: watch::Sender<()>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
}

impl DemoServices {
    /// The running reviews service's handle (data and counter).
    pub fn reviews(&self) -> &Reviews {
        &self.reviews
    }

    /// The running inventory service's handle (data and counter).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Requests the reviews service has served (`/_stats` excluded).
    pub fn reviews_requests(&self) -> u64 {
        self.reviews.requests()
    }

    /// Requests the inventory service has served (`/_stats` excluded).
    pub fn inventory_requests(&self) -> u64 {
        self.inventory.requests()
    }

    /// Sets both request counters back to zero, e.g. after warm-up.
    pub fn reset_requests(&self) {
        self.reviews.reset_requests();
        self.inventory.reset_requests();
    }

    /// Stops both services gracefully and waits for them (at most a few seconds, then aborts
    /// them, so a client holding a connection open cannot hang the caller).
    pub async fn shutdown(self) -> io::Result<()> {
        let Self { stop, tasks, .. } = self;
        drop(stop);
        for mut task in tasks {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(result)) => result?,
                Ok(Err(join_error)) => return Err(io::Error::other(join_error)),
                Err(_elapsed) => task.abort(),
            }
        }
        Ok(())
    }
}

/// Starts both services on `addr`'s IP. With port 0 each gets a free port (the usual choice
/// for tests and the development command); with port `p`, reviews gets `p` and inventory
/// `p + 1`. Must be called inside a tokio runtime, whose tasks then serve the requests.
pub async fn start(addr: SocketAddr) -> io::Result<DemoServices> {
    let inventory_addr = if addr.port() == 0 {
        addr
    } else {
        let port = addr.port().checked_add(1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "no port after 65535 for the inventory service",
            )
        })?;
        SocketAddr::new(addr.ip(), port)
    };
    start_pair(addr, inventory_addr).await
}

/// Starts the reviews service on `reviews_addr` and the inventory service on `inventory_addr`
/// (port 0 = a free port), both freshly seeded.
pub async fn start_pair(
    reviews_addr: SocketAddr,
    inventory_addr: SocketAddr,
) -> io::Result<DemoServices> {
    let reviews_listener = TcpListener::bind(reviews_addr).await?;
    let inventory_listener = TcpListener::bind(inventory_addr).await?;
    let reviews_addr = reviews_listener.local_addr()?;
    let inventory_addr = inventory_listener.local_addr()?;

    let (reviews, inventory) = (Reviews::seeded(), Inventory::seeded());
    let (stop, stopped) = watch::channel(());
    let tasks = vec![
        serve(reviews_listener, reviews.router(), stopped.clone()),
        serve(inventory_listener, inventory.router(), stopped),
    ];
    tracing::info!(%reviews_addr, %inventory_addr, "demo services listening");

    Ok(DemoServices {
        reviews_url: format!("http://{reviews_addr}"),
        inventory_url: format!("http://{inventory_addr}"),
        reviews_addr,
        inventory_addr,
        reviews,
        inventory,
        stop,
        tasks,
    })
}

/// Serves `router` until the stop sender is dropped (`changed` then fails) or signalled.
fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<()>,
) -> JoinHandle<io::Result<()>> {
    let signal = async move {
        let _ = stopped.changed().await;
    };
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(signal)
            .await
    })
}
