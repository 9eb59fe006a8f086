//! The connector error vocabulary. Variants are chosen by what the caller does next; each maps
//! to a stable public code (`extensions.code`). The `detail` strings are for logs only: the
//! engine never sends them to clients.

use std::fmt;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The statement ran past its timeout. → `DATABASE_TIMEOUT`
    #[error("database statement timed out on source {source_name}")]
    DatabaseTimeout { source_name: String },
    /// No connection could be had (down, refused, pool exhausted). → `DATABASE_UNAVAILABLE`
    #[error("database unavailable on source {source_name}: {detail}")]
    DatabaseUnavailable { source_name: String, detail: String },
    /// The database answered with an error. → `DATABASE_ERROR`
    #[error("database error on source {source_name}: {detail}")]
    Database { source_name: String, detail: String },
    /// A bound value cannot be converted to the type the statement expects (e.g. `"abc"` for
    /// an integer column). Safe to show to clients. → `BAD_USER_INPUT`
    #[error("{message}")]
    BadInput { message: String },
    /// Anything else. → `INTERNAL`
    #[error("internal error: {detail}")]
    Internal { detail: String },
    /// A downstream HTTP service answered with a non-2xx status. The status is public (the
    /// engine may turn a 404 into `null`); the body, kept in `detail` (truncated), is for logs.
    /// → `UPSTREAM_HTTP_ERROR` with `status`
    #[error("upstream {source_name} answered HTTP {status}: {detail}")]
    UpstreamHttp {
        source_name: String,
        status: u16,
        detail: String,
    },
    /// A downstream HTTP service did not answer (headers and body) within the time allowed.
    /// → `UPSTREAM_TIMEOUT`
    #[error("upstream {source_name} timed out")]
    UpstreamTimeout { source_name: String },
    /// No exchange could be completed: connection refused, DNS failure, connection reset
    /// (also mid-body). → `UPSTREAM_UNREACHABLE`
    #[error("upstream {source_name} unreachable: {detail}")]
    UpstreamUnreachable { source_name: String, detail: String },
    /// The service answered 2xx but not with JSON (wrong content type, malformed or too large
    /// body). → `UPSTREAM_INVALID_RESPONSE`
    #[error("upstream {source_name} sent an invalid response: {detail}")]
    UpstreamInvalidResponse { source_name: String, detail: String },
    /// The source's circuit breaker is open: the call failed fast, upstream was not called.
    /// → `CIRCUIT_OPEN`
    #[error("circuit open on upstream {source_name}")]
    CircuitOpen { source_name: String },
}

/// Stable public error codes (`extensions.code`), documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadUserInput,
    DatabaseError,
    DatabaseTimeout,
    DatabaseUnavailable,
    NotFound,
    Internal,
    UpstreamHttpError,
    UpstreamTimeout,
    UpstreamUnreachable,
    UpstreamInvalidResponse,
    CircuitOpen,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::DatabaseError => "DATABASE_ERROR",
            ErrorCode::DatabaseTimeout => "DATABASE_TIMEOUT",
            ErrorCode::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::UpstreamHttpError => "UPSTREAM_HTTP_ERROR",
            ErrorCode::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorCode::UpstreamUnreachable => "UPSTREAM_UNREACHABLE",
            ErrorCode::UpstreamInvalidResponse => "UPSTREAM_INVALID_RESPONSE",
            ErrorCode::CircuitOpen => "CIRCUIT_OPEN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ConnectorError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ConnectorError::DatabaseTimeout { .. } => ErrorCode::DatabaseTimeout,
            ConnectorError::DatabaseUnavailable { .. } => ErrorCode::DatabaseUnavailable,
            ConnectorError::Database { .. } => ErrorCode::DatabaseError,
            ConnectorError::BadInput { .. } => ErrorCode::BadUserInput,
            ConnectorError::Internal { .. } => ErrorCode::Internal,
            ConnectorError::UpstreamHttp { .. } => ErrorCode::UpstreamHttpError,
            ConnectorError::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            ConnectorError::UpstreamUnreachable { .. } => ErrorCode::UpstreamUnreachable,
            ConnectorError::UpstreamInvalidResponse { .. } => ErrorCode::UpstreamInvalidResponse,
            ConnectorError::CircuitOpen { .. } => ErrorCode::CircuitOpen,
        }
    }

    /// The upstream HTTP status, for the public `extensions.status` of `UPSTREAM_HTTP_ERROR`.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectorError::UpstreamHttp { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The message a client may see: fixed per code, except for bad input, which describes
    /// the client's own value.
    pub fn public_message(&self) -> String {
        match self {
            ConnectorError::DatabaseTimeout { .. } => "the database did not answer in time".into(),
            ConnectorError::DatabaseUnavailable { .. } => "the database is unavailable".into(),
            ConnectorError::Database { .. } => "the database could not run this request".into(),
            ConnectorError::BadInput { message } => message.clone(),
            ConnectorError::Internal { .. } => "internal error".into(),
            ConnectorError::UpstreamHttp { .. } => {
                "an upstream service answered with an error".into()
            }
            ConnectorError::UpstreamTimeout { .. } => {
                "an upstream service did not answer in time".into()
            }
            ConnectorError::UpstreamUnreachable { .. } => {
                "an upstream service is unreachable".into()
            }
            ConnectorError::UpstreamInvalidResponse { .. } => {
                "an upstream service sent an invalid response".into()
            }
            ConnectorError::CircuitOpen { .. } => {
                "an upstream service is failing; calls are paused for a moment".into()
            }
        }
    }
}
