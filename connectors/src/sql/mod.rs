//! SQL sources: the [`SqlSource`] capability trait and its sqlx implementations.
//!
//! Statements are written once, portably, in `schema.graphql`: `$1..$n` are positional bound
//! parameters and `IN ($keys)` is the key list of a batched statement. Each backend rewrites
//! them to its own form when the statement is prepared at start-up (PostgreSQL: `= ANY($n)`
//! with a typed array; SQLite: `?n` and `IN (SELECT value FROM json_each(?n))`), and describes
//! it, so parameters are coerced to the types the database expects and columns are known
//! before the first request.
//!
//! # Layout
//! - `rewrite`: the portable placeholder syntax → each backend's syntax.
//! - `sqlite`, `postgres`: native pools (not `AnyPool`) so every column type maps to a
//!   proper GraphQL value.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;

use crate::{ConnectorError, Name, Value};

pub mod postgres;
pub mod rewrite;
pub mod sqlite;
mod support;

/// One result row: column name → value, in select order.
pub type Row = IndexMap<Name, Value>;

/// Which database a source talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlBackend {
    Sqlite,
    Postgres,
}

/// How to open a source.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// The source's name, for errors and logs.
    pub name: String,
    /// `sqlite://path` or `postgres://...`. May hold a password: never logged.
    pub url: String,
    pub max_connections: u32,
    pub statement_timeout: Duration,
    /// How long to wait for a connection from the pool before `DATABASE_UNAVAILABLE`.
    pub acquire_timeout: Duration,
}

/// A statement prepared at start-up: rewritten for the backend and described.
#[derive(Debug)]
pub struct Statement {
    /// As written in the schema (for messages).
    pub original: String,
    /// In the backend's own placeholder syntax.
    pub sql: String,
    /// Whether the statement has a `$keys` list (bound after the positional parameters).
    pub batched: bool,
    /// Result columns, in order.
    pub columns: Vec<Column>,
    /// The type the database expects for each positional parameter `$1..$n`, where it says.
    pub param_types: Vec<Option<String>>,
    /// The element type the database expects for `$keys`, where it says.
    pub key_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The database's type name (`INT8`, `TIMESTAMPTZ`, `INTEGER`, `TEXT`, ...).
    pub type_name: String,
}

/// A SQL database, batch-first: the engine sends one statement for all parents' keys.
#[async_trait]
pub trait SqlSource: Send + Sync + 'static {
    fn backend(&self) -> SqlBackend;

    /// Rewrites and describes `sql` (the portable form). Errors here are start-up errors,
    /// reported at the directive's location by the caller.
    async fn prepare(&self, sql: &str) -> Result<Arc<Statement>, ConnectorError>;

    /// Runs a statement with its positional parameters and, for a batched statement, the key
    /// list. Values are coerced to the described parameter types (`"42"` for an integer column
    /// binds as 42; a value that does not convert is `BadInput`).
    async fn query(
        &self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError>;

    /// Opens a transaction. Dropping it without `commit` rolls back.
    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, ConnectorError>;

    /// Checks that a connection can be had and answers (`SELECT 1`), for `/readyz`.
    async fn ping(&self) -> Result<(), ConnectorError>;

    /// Statements executed so far (queries and transaction statements, not pings or prepares).
    /// Tests and benchmarks use it to prove batching.
    fn statements_executed(&self) -> u64;

    /// Closes the pool (graceful shutdown).
    async fn close(&self);

    /// Applies the migrations in `dir` (plain `NNNN_name.sql` files, run in version order
    /// with sqlx's migrator, which records them in `_sqlx_migrations`), on a connection of its
    /// own without the statement timeout. A failure is `Database` naming the migration.
    ///
    /// The default implementation (for sources that cannot migrate, like test doubles)
    /// reports that it is unsupported.
    async fn migrate(&self, dir: &std::path::Path) -> Result<(), ConnectorError> {
        let _ = dir;
        Err(ConnectorError::Internal {
            detail: "this source does not support migrations".into(),
        })
    }
}

/// An open transaction on one connection.
#[async_trait]
pub trait SqlTransaction: Send {
    async fn query(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError>;
    async fn commit(self: Box<Self>) -> Result<(), ConnectorError>;
}

/// Opens the source `url` names: `sqlite:` or `postgres:`/`postgresql:`.
pub async fn connect(options: SqlOptions) -> Result<Arc<dyn SqlSource>, ConnectorError> {
    if options.url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteSource::connect(options).await?))
    } else if options.url.starts_with("postgres:") || options.url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresSource::connect(options).await?))
    } else {
        Err(ConnectorError::BadInput {
            message: format!(
                "source {}: unsupported SQL URL scheme (expected sqlite: or postgres:)",
                options.name
            ),
        })
    }
}
