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
        }
    }
}
