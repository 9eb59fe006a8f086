//! A small TCP proxy for outage tests: Tributary connects to the proxy, the proxy to the real
//! database. Closing the proxy drops its listener and every live proxied connection (the
//! database "goes away"); reopening listens on the same port again (the database "returns").

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    port: u16,
    target: SocketAddr,
    running: Option<Running>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free local port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = bind(0).await.expect("proxy: bind a free port");
        let port = listener.local_addr().expect("proxy: local addr").port();
        let mut proxy = Proxy {
            port,
            target,
            running: None,
        };
        proxy.running = Some(serve(listener, target));
        proxy
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops listening and cuts every live connection; returns once all are closed.
    pub async fn close(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            tokio::time::timeout(Duration::from_secs(10), running.task)
                .await
                .expect("proxy: connections did not close within 10s")
                .expect("proxy: accept task panicked");
        }
    }

    /// Listens on the same port again (retrying briefly if the port is not free yet).
    pub async fn reopen(&mut self) {
        assert!(self.running.is_none(), "proxy: reopen while open");
        let mut last_error = None;
        for _ in 0..50 {
            match bind(self.port).await {
                Ok(listener) => {
                    self.running = Some(serve(listener, self.target));
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!(
            "proxy: cannot listen on port {} again: {last_error:?}",
            self.port
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            running.task.abort();
        }
    }
}

async fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(128)
}

fn serve(listener: TcpListener, target: SocketAddr) -> Running {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    connections.spawn(forward(client, target));
                }
                // Reap finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        // Aborting drops both sockets of every connection: the peers see them closed.
        connections.shutdown().await;
    });
    Running { stop, task }
}

async fn forward(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// `url` with its `host:port` replaced by `127.0.0.1:port` (user, password, path and query kept).
pub fn redirect_url(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).expect("url has a scheme");
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
    format!(
        "{}{}127.0.0.1:{port}{}",
        &url[..scheme_end],
        &authority[..host_start],
        &rest[authority_end..]
    )
}

/// The database address `url` names (`host:port`, port 5432 if absent), resolved.
pub fn target_of(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let scheme_end = url.find("://").map(|i| i + 3).expect("url has a scheme");
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = &authority[authority.rfind('@').map(|i| i + 1).unwrap_or(0)..];
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .to_socket_addrs()
        .expect("resolve database host")
        .find(SocketAddr::is_ipv4)
        .expect("an IPv4 address for the database host")
}

#[test]
fn redirect_url_keeps_credentials_path_and_query() {
    assert_eq!(
        redirect_url("postgres://u:p@db.example:5432/shop?sslmode=disable", 9999),
        "postgres://u:p@127.0.0.1:9999/shop?sslmode=disable"
    );
    assert_eq!(
        redirect_url("postgres://postgres@127.0.0.1/test", 1234),
        "postgres://postgres@127.0.0.1:1234/test"
    );
}
