//! Runs the real `tributary` binary: one-shot commands (`check`, `print-schema`) and servers
//! that are stopped with a real SIGTERM. Each run gets its own temporary working directory, so
//! nothing (like `tributary.db`) is created in the repository, and a clean environment, so the
//! developer's own `TRIBUTARY_*` or `DATABASE_URL` cannot leak in.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::helpers::repo_path;

/// A fresh empty directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(prefix: &str) -> TempDir {
    let dir = std::env::temp_dir()
        .join("tributary-tests")
        .join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// The binary, with the working directory `dir` and an environment without `TRIBUTARY_*`,
/// `DATABASE_URL` or colours.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("TRIBUTARY_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The demo migrations, for `TRIBUTARY_DATABASE__MIGRATIONS`.
pub fn demo_migrations() -> String {
    repo_path("demo/migrations").display().to_string()
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Both streams, for messages and for "never printed" checks.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs a one-shot command to completion (at most 60s).
pub async fn run(mut cmd: Command) -> Finished {
    let child = cmd.spawn().expect("spawn tributary");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tributary did not exit within 60s")
        .expect("wait for tributary");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running server process; its output is collected as it is written.
pub struct Server {
    child: Child,
    pub addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts a server (the command must listen on `127.0.0.1:0`) and waits (at most 60s) for the
/// `tributary listening` log line with the bound address. Panics with the output if the
/// process exits or never says where it listens.
pub async fn start(mut cmd: Command) -> Server {
    let mut child = cmd.spawn().expect("spawn tributary");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let readers = vec![
        collect(child.stdout.take().expect("stdout"), stdout.clone()),
        collect(child.stderr.take().expect("stderr"), stderr.clone()),
    ];
    let mut server = Server {
        child,
        addr: String::new(),
        stdout,
        stderr,
        readers,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = server.output_so_far();
        if let Some(addr) = listening_addr(&text) {
            server.addr = format!("http://{addr}");
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "tributary exited ({status}) before listening:\n{}",
                server.output_so_far()
            );
        }
        if tokio::time::Instant::now() > deadline {
            panic!("tributary did not log its address within 60s:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = into.lock().expect("output lock");
            text.push_str(&line);
            text.push('\n');
        }
    })
}

/// The `addr` of the `tributary listening` log line, in the pretty or the JSON format.
pub fn listening_addr(output: &str) -> Option<String> {
    let line = output
        .lines()
        .map(strip_ansi)
        .find(|l| l.contains("tributary listening"))?;
    if line.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        let addr = v
            .get("addr")
            .or_else(|| v.get("fields").and_then(|f| f.get("addr")))?;
        return addr.as_str().map(String::from);
    }
    let at = line.find("addr=")? + "addr=".len();
    let addr: String = line[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some(addr.trim_matches('"').to_string())
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("process is running")
    }

    fn output_so_far(&self) -> String {
        let out = self.stdout.lock().expect("output lock").clone();
        let err = self.stderr.lock().expect("output lock").clone();
        format!("{out}{err}")
    }

    /// Sends a real SIGTERM.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits (at most 60s, then kills it) for the process to exit; the status and everything
    /// it wrote.
    pub async fn wait(mut self) -> Finished {
        let status = match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(status) => status.expect("wait for tributary"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!(
                    "tributary did not exit within 60s:\n{}",
                    self.output_so_far()
                );
            }
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
        }
        Finished {
            status,
            stdout: self.stdout.lock().expect("output lock").clone(),
            stderr: self.stderr.lock().expect("output lock").clone(),
        }
    }
}

/// A client with a bounded timeout, so no request can hang a test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

#[test]
fn listening_addr_is_found_in_pretty_and_json_logs() {
    let pretty = "2025-01-01T00:00:00Z  \u{1b}[32m INFO\u{1b}[0m tributary::server: tributary listening \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:4321\n";
    assert_eq!(listening_addr(pretty).as_deref(), Some("127.0.0.1:4321"));
    let json = r#"{"timestamp":"x","level":"INFO","message":"tributary listening","addr":"127.0.0.1:999"}"#;
    assert_eq!(listening_addr(json).as_deref(), Some("127.0.0.1:999"));
}
