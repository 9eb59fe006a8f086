//! What both sqlx sources share: error mapping (with secret redaction), timeouts, the statement
//! counter, value helpers and a small base64 codec for binary columns.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::error::DatabaseError;

use super::Statement;
use crate::{ConnectorError, Value};

/// How a backend classifies one of its database errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbErrorKind {
    /// The statement was cancelled for running too long (or waited too long for a lock).
    Timeout,
    /// The connection is gone or the server refuses work.
    Unavailable,
    /// An ordinary error in the statement or the data.
    Statement,
}

/// Per-source state shared by the pool wrapper and its transactions.
#[derive(Debug)]
pub(crate) struct SourceContext {
    pub name: String,
    /// Strings that must never appear in an error or a log line (the URL's password).
    secrets: Vec<String>,
    /// `None` when the statement timeout is disabled (configured as zero).
    pub statement_timeout: Option<Duration>,
    pub acquire_timeout: Duration,
    statements: AtomicU64,
}

impl SourceContext {
    pub fn new(
        name: String,
        url: &str,
        statement_timeout: Duration,
        acquire_timeout: Duration,
    ) -> Self {
        SourceContext {
            name,
            secrets: url_secrets(url),
            statement_timeout: (!statement_timeout.is_zero()).then_some(statement_timeout),
            acquire_timeout,
            statements: AtomicU64::new(0),
        }
    }

    /// Counts one statement sent to the database.
    pub fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Removes every secret from `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }

    pub fn timeout(&self) -> ConnectorError {
        ConnectorError::DatabaseTimeout {
            source_name: self.name.clone(),
        }
    }

    pub fn unavailable(&self, detail: impl AsRef<str>) -> ConnectorError {
        ConnectorError::DatabaseUnavailable {
            source_name: self.name.clone(),
            detail: self.redact(detail.as_ref()),
        }
    }

    pub fn database(&self, detail: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Database {
            source_name: self.name.clone(),
            detail: self.redact(detail.as_ref()),
        }
    }

    pub fn internal(&self, detail: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Internal {
            detail: format!("source {}: {}", self.name, self.redact(detail.as_ref())),
        }
    }

    /// Maps a sqlx error. `classify` sorts the backend's database errors; `describe` renders
    /// one for the `detail` (message plus whatever helps: hint, position).
    pub fn map_error(
        &self,
        error: sqlx::Error,
        classify: impl Fn(&dyn DatabaseError) -> DbErrorKind,
        describe: impl Fn(&dyn DatabaseError) -> String,
    ) -> ConnectorError {
        match error {
            sqlx::Error::Database(db) => match classify(db.as_ref()) {
                DbErrorKind::Timeout => self.timeout(),
                DbErrorKind::Unavailable => self.unavailable(describe(db.as_ref())),
                DbErrorKind::Statement => self.database(describe(db.as_ref())),
            },
            sqlx::Error::PoolTimedOut => self.unavailable(format!(
                "no connection could be had within {:?} (pool exhausted or database unreachable)",
                self.acquire_timeout
            )),
            error @ (sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Configuration(_)) => self.unavailable(error.to_string()),
            error => self.internal(error.to_string()),
        }
    }

    /// Runs `fut` under the statement timeout (plus `grace`); elapsing is `DatabaseTimeout`.
    pub async fn with_timeout<T>(
        &self,
        grace: Duration,
        fut: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        match self.statement_timeout {
            Some(limit) => match tokio::time::timeout(limit + grace, fut).await {
                Ok(result) => result,
                Err(_) => Err(self.timeout()),
            },
            None => fut.await,
        }
    }
}

/// The password in a connection URL, raw and percent-decoded, and any `password=` query
/// parameter, so they can be scrubbed from every message. Errors from drivers should not
/// contain them, but a leaked credential in a log is expensive enough to check anyway.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut add = |raw: &str| {
        if raw.is_empty() {
            return;
        }
        let decoded = percent_decode(raw);
        if decoded != raw && !decoded.is_empty() {
            secrets.push(decoded);
        }
        secrets.push(raw.to_owned());
    };
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            if let Some((_, password)) = authority[..at].split_once(':') {
                add(password);
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if key.eq_ignore_ascii_case("password") {
                    add(value);
                }
            }
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The engine binds what the directive says; a mismatch is a bug there, caught before SQLite
/// would silently bind `NULL` for a missing parameter.
pub(crate) fn check_arity(
    ctx: &SourceContext,
    stmt: &Statement,
    params: &[Value],
    keys: Option<&[Value]>,
) -> Result<(), ConnectorError> {
    if params.len() != stmt.param_types.len() {
        return Err(ctx.internal(format!(
            "statement `{}` takes {} parameter(s), got {}",
            stmt.original,
            stmt.param_types.len(),
            params.len()
        )));
    }
    if stmt.batched != keys.is_some() {
        return Err(ctx.internal(format!(
            "statement `{}` {} a key list",
            stmt.original,
            if stmt.batched {
                "needs"
            } else {
                "does not take"
            }
        )));
    }
    Ok(())
}

/// A GraphQL value as JSON; binary becomes base64 text, enums their name.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Number(n) => serde_json::Value::Number(n.clone()),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        Value::Enum(name) => serde_json::Value::String(name.to_string()),
        Value::Binary(bytes) => serde_json::Value::String(base64_encode(bytes)),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(fields) => serde_json::Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// A float as a GraphQL number; NaN and infinities have no JSON form and become `null`.
pub(crate) fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A short human description of a value for `BadInput` messages (`"abc"`, `42`, `an object`).
pub(crate) fn describe_value(value: &Value) -> String {
    const MAX: usize = 40;
    match value {
        Value::String(s) => {
            if s.chars().count() > MAX {
                let short: String = s.chars().take(MAX).collect();
                format!("{:?}", format!("{short}..."))
            } else {
                format!("{s:?}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Enum(name) => name.to_string(),
        Value::Binary(_) => "binary data".into(),
        Value::List(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, padded): how binary columns (`BYTEA`, `BLOB`) travel in JSON.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(BASE64_ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Decodes standard base64 (padding optional, whitespace not allowed). `None` if invalid.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // 6 leftover bits can't be a valid encoding (one sextet is less than a byte).
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, encoded) in cases {
            assert_eq!(base64_encode(raw), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), raw);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert!(base64_decode("not base64!").is_none());
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zg===").is_none());
    }

    #[test]
    fn secrets_are_found_and_redacted() {
        let url = "postgres://app:s3cr%40t@db.example.com:5432/shop?sslmode=require&password=other";
        let secrets = url_secrets(url);
        assert!(secrets.contains(&"s3cr%40t".to_string()));
        assert!(secrets.contains(&"s3cr@t".to_string()));
        assert!(secrets.contains(&"other".to_string()));
        let ctx = SourceContext::new(
            "main".into(),
            url,
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let redacted = ctx.redact("failed for s3cr@t and s3cr%40t and other");
        assert_eq!(redacted, "failed for *** and *** and ***");
        assert!(url_secrets("postgres://app@localhost/db").is_empty());
        assert!(url_secrets("sqlite://tributary.db").is_empty());
        assert!(url_secrets("postgres://app:@localhost/db").is_empty());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("%é%"), "%é%");
    }

    #[test]
    fn describing_values() {
        assert_eq!(describe_value(&Value::String("abc".into())), "\"abc\"");
        assert_eq!(describe_value(&Value::Number(42.into())), "42");
        let long = "x".repeat(100);
        assert!(describe_value(&Value::String(long)).ends_with("...\""));
        assert_eq!(float_value(f64::NAN), Value::Null);
    }

    #[test]
    fn zero_statement_timeout_disables_it() {
        let ctx = SourceContext::new(
            "s".into(),
            "sqlite::memory:",
            Duration::ZERO,
            Duration::ZERO,
        );
        assert!(ctx.statement_timeout.is_none());
    }
}
