//! [`SqliteSource`]: a [`SqlSource`] over a native sqlx `SqlitePool`.
//!
//! # Connection set-up
//! The database file is created if missing; every connection uses WAL journaling (readers do
//! not block the writer), `synchronous = NORMAL` (the usual WAL pairing: durable across crashes
//! of the process, may lose the last commits on power loss), foreign keys on, and a busy timeout
//! equal to the statement timeout so a writer waits for the lock rather than failing at once.
//! `sqlite::memory:` databases are shared by the pool's connections (sqlx names them), and the
//! pool keeps one connection open so the database outlives idle periods.
//!
//! # Parameters
//! SQLite is dynamically typed, so values bind by their own kind: integers as `INTEGER`,
//! other numbers as `REAL`, strings as `TEXT`, booleans as `1`/`0`, binary as `BLOB`, lists and
//! objects as JSON text, `null` as `NULL`. Column affinity does the rest: `"42"` compared with
//! or stored into an `INTEGER` column becomes 42.
//!
//! The key list of a batched statement is bound as one JSON array for
//! `IN (SELECT value FROM json_each(?k))`, with every key kept as its own JSON kind. Keys are
//! *not* coerced (a string `"1"` stays a string): `json_each` yields the JSON string as
//! `TEXT` without affinity, and SQLite then applies the *column's* affinity to it when
//! comparing, so `["1", "2"]` matches an `INTEGER` `id` (tested below), while `["007"]` still
//! matches a `TEXT` code `'007'`, which turning canonical-integer strings into numbers would
//! break (`'42'` in a `TEXT` column does not match the JSON number 42). The one case affinity
//! cannot cover is a left-hand side that is an expression without affinity
//! (`id + 0 IN ($keys)`): write `CAST(expr AS INTEGER) IN ($keys)` there.
//!
//! # Result values
//! Each cell maps by the column's *declared* type where that decides the GraphQL value, and by
//! the value's storage class otherwise (expressions have no declared type):
//! - declared `BOOLEAN`/`BOOL`: `0`/`1` → `false`/`true`;
//! - declared `JSON`/`JSONB` holding text: parsed to the JSON value (kept as a string if the
//!   text is not JSON);
//! - declared `DATETIME`/`TIMESTAMP` holding text in a format SQLite's date functions write
//!   (`YYYY-MM-DD HH:MM:SS[.SSS]`, optionally with `T` and an offset): normalized to RFC 3339
//!   in UTC with `Z` (`2024-01-02T03:04:05Z`), the same form PostgreSQL `TIMESTAMPTZ` columns
//!   produce, so a schema behaves the same on both backends. Text without an offset is taken
//!   as UTC (SQLite's `CURRENT_TIMESTAMP` and `datetime('now')` are UTC); other text and
//!   numbers pass through unchanged;
//! - otherwise `INTEGER` → Int, `REAL` → Float (NaN → null), `TEXT` → String, `BLOB` →
//!   base64 String (standard alphabet, padded), `NULL` → null.
//!
//! Declared `DECIMAL`/`NUMERIC` columns are stored by SQLite as `INTEGER`/`REAL` and come back
//! as numbers: SQLite has no exact decimal type (keep money in integer cents or `TEXT`).
//!
//! # Prepare
//! `prepare` compiles the statement (so a mistake like `no such column: nme` is a start-up
//! error) without running it, and reports each column's declared type as
//! [`Column::type_name`] (`INTEGER`, `JSON`, `BOOLEAN`, `DECIMAL(10,2)`...; `""` for an
//! expression, which has none). sqlx only reports declared types whose names it knows (`JSON`
//! is not one), so they are read from `PRAGMA table_info` of a temporary view over the
//! statement (placeholders replaced by `NULL`), created inside a transaction that is rolled
//! back. An `INSERT`/`REPLACE`/`UPDATE`/`DELETE ... RETURNING list` cannot be a view, so the
//! view is over `SELECT list FROM target_table` instead, which has the same columns with the
//! same declared types (the `RETURNING` list can only refer to the target table). Statements
//! neither way covers (`WITH ... INSERT ... RETURNING`) fall back to what sqlx knows. sqlx's
//! own `describe` is not used: for a read-only statement it *runs* the query
//! once to guess expression types, which for an aggregate means the whole query at start-up.
//! [`Statement::param_types`] holds one `None` per `$n` (SQLite does not type parameters) and
//! [`Statement::key_type`] is `None`.
//!
//! # Timeouts
//! SQLite has no server-side statement timeout. Before each statement a progress handler is
//! installed on its connection (`sqlite3_progress_handler`, through sqlx's safe
//! `LockedSqliteHandle`) that checks the deadline every thousand virtual-machine instructions
//! and, once it has passed, interrupts the statement (`SQLITE_INTERRUPT`): the caller gets
//! `DATABASE_TIMEOUT` and the connection is free again at once, rather than busy (holding a
//! core and a pool slot) until the statement finishes. A client-side `tokio::time::timeout` a
//! little longer than the statement timeout remains as a backstop for waits the handler does
//! not see. The handler is removed when the connection goes back to the pool.
//!
//! An interrupted write inside a transaction makes SQLite roll back the whole transaction, so
//! after a timeout a transaction refuses further statements and `commit`, and is rolled back.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous, SqliteTransactionManager, SqliteValueRef,
};
use sqlx::{
    Arguments, Column as _, Connection, Decode, Executor, Row as _, Statement as _,
    TransactionManager, TypeInfo, ValueRef,
};

use super::rewrite::{rewrite, rewrite_sqlite_for_describe};
use super::support::{
    base64_encode, check_arity, float_value, to_json, DbErrorKind, SourceContext,
};
use super::{Column, Row, SqlBackend, SqlOptions, SqlSource, SqlTransaction, Statement};
use crate::{ConnectorError, Name, Value};

/// Busy timeout when the statement timeout is disabled (zero): waiting forever for a lock
/// would hang requests, failing at once would make concurrent writes flaky.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many SQLite virtual-machine instructions run between two checks of a statement's
/// deadline (each check is an atomic load and a clock read: noise next to the instructions).
const PROGRESS_OPS: i32 = 1_000;

/// How much longer than the statement timeout a statement is awaited before it is abandoned.
/// Its [`Watchdog`] interrupts it at the timeout; this covers waits the progress handler does
/// not see (the busy handler waiting for a lock, one long instruction such as a sort).
const INTERRUPT_GRACE: Duration = Duration::from_millis(250);

/// The temporary view [`SqliteSource::declared_types`] creates (inside a rolled-back
/// transaction).
const DESCRIBE_VIEW: &str = "_tributary_describe";

/// A SQLite database behind a native sqlx pool.
#[derive(Debug)]
pub struct SqliteSource {
    pool: SqlitePool,
    ctx: Arc<SourceContext>,
    /// For the dedicated migration connection.
    connect_options: SqliteConnectOptions,
}

impl SqliteSource {
    /// Opens (creating it if missing) the database `options.url` names and checks that a
    /// connection can be had, so a bad path or permissions fail at start-up.
    pub async fn connect(options: SqlOptions) -> Result<Self, ConnectorError> {
        let ctx = Arc::new(SourceContext::new(
            options.name.clone(),
            &options.url,
            options.statement_timeout,
            options.acquire_timeout,
        ));
        let parsed = SqliteConnectOptions::from_str(&options.url)
            .map_err(|e| ctx.unavailable(format!("invalid SQLite URL: {e}")))?;
        let connect_options = parsed
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(ctx.statement_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT));

        let mut pool_options = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .after_release(|conn, _meta| Box::pin(reset_released(conn)));
        if is_in_memory(&options.url) {
            // The shared in-memory database lives as long as one connection to it.
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool_options
            .connect_with(connect_options.clone())
            .await
            .map_err(|e| {
                let detail = format!("could not open the SQLite database: {e}");
                ctx.unavailable(detail)
            })?;
        tracing::debug!(source = %ctx.name, "SQLite source connected");
        Ok(SqliteSource {
            pool,
            ctx,
            connect_options,
        })
    }

    fn map_error(&self, error: sqlx::Error) -> ConnectorError {
        map_error(&self.ctx, error)
    }

    async fn acquire(&self) -> Result<PoolConnection<Sqlite>, ConnectorError> {
        self.pool.acquire().await.map_err(|e| self.map_error(e))
    }

    /// The declared type of each result column (`JSON`, `BOOLEAN`, `DATETIME`, ... or `""`
    /// for an expression), learned from `PRAGMA table_info` of a temporary view over the
    /// statement (for `INSERT`/`UPDATE`/`DELETE ... RETURNING`, over the `SELECT` of
    /// [`returning_as_select`]), created and dropped inside a transaction that is rolled
    /// back. Best effort: empty for any other statement, or when the view cannot be made.
    async fn declared_types(&self, sql: &str) -> Vec<String> {
        let Ok(described) = rewrite_sqlite_for_describe(sql) else {
            return Vec::new();
        };
        let statement = described.sql.trim().trim_end_matches(';').trim_end();
        let head = statement
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default();
        let body = if ["SELECT", "WITH", "VALUES"]
            .iter()
            .any(|kw| head.eq_ignore_ascii_case(kw))
        {
            statement.to_owned()
        } else if let Some(select) = returning_as_select(statement) {
            select
        } else {
            return Vec::new();
        };
        let result: Result<Vec<String>, sqlx::Error> = async {
            let mut tx = self.pool.begin().await?;
            tx.execute(format!("DROP VIEW IF EXISTS temp.{DESCRIBE_VIEW}").as_str())
                .await?;
            sqlx::query(&format!("CREATE TEMP VIEW {DESCRIBE_VIEW} AS {body}"))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
            let rows: Vec<(String,)> = sqlx::query_as(&format!(
                "SELECT type FROM pragma_table_info('{DESCRIBE_VIEW}', 'temp') ORDER BY cid"
            ))
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
            tx.rollback().await?;
            Ok(rows.into_iter().map(|(ty,)| ty).collect())
        }
        .await;
        result.unwrap_or_else(|error| {
            tracing::debug!(source = %self.ctx.name, %error, "declared column types unavailable");
            Vec::new()
        })
    }
}

/// For `INSERT`/`REPLACE`/`UPDATE`/`DELETE ... RETURNING list`, a `SELECT list FROM table`:
/// the `RETURNING` list is evaluated over rows of the target table and may only refer to its
/// columns (by the table's own name, not an `AS` alias), so this `SELECT` has the same result
/// columns with the same declared types (`*` included), and a view over it tells them.
/// `None` for any other statement, or a shape this does not follow (a `WITH` prefix).
fn returning_as_select(sql: &str) -> Option<String> {
    let tokens = top_level_tokens(sql);
    let word = |i: usize, kw: &str| {
        tokens
            .get(i)
            .is_some_and(|t| !t.quoted && sql[t.start..t.end].eq_ignore_ascii_case(kw))
    };
    let mut i = if word(0, "INSERT") || word(0, "REPLACE") {
        let mut i = 1;
        if word(i, "OR") {
            i += 2;
        }
        if !word(i, "INTO") {
            return None;
        }
        i + 1
    } else if word(0, "UPDATE") {
        if word(1, "OR") {
            3
        } else {
            1
        }
    } else if word(0, "DELETE") && word(1, "FROM") {
        2
    } else {
        return None;
    };
    // `[schema.]table`, as written (quotes and all).
    let first = tokens.get(i)?;
    let mut last = first;
    if tokens
        .get(i + 1)
        .is_some_and(|t| &sql[t.start..t.end] == ".")
    {
        last = tokens.get(i + 2)?;
        i += 2;
    }
    i += 1;
    let from = &sql[first.start..last.end];
    let returning = (i..tokens.len()).rev().find(|&j| word(j, "RETURNING"))?;
    let list = sql[tokens[returning].end..].trim();
    if list.is_empty() {
        return None;
    }
    Some(format!("SELECT {list} FROM {from}"))
}

/// A token outside any parentheses: a word, a quoted identifier or string, or one character.
#[derive(Debug)]
struct Token {
    start: usize,
    end: usize,
    /// A quoted identifier or a string literal (never a keyword).
    quoted: bool,
}

/// The tokens of `sql` at parenthesis depth 0; comments, whitespace and anything inside
/// parentheses are skipped.
fn top_level_tokens(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let mut quoted = false;
        match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'(' => {
                depth += 1;
                i += 1;
                continue;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                quoted = true;
                i += 1;
                loop {
                    match b.get(i) {
                        None => break,
                        // A doubled quote is an escaped one.
                        Some(&x) if x == close && close != b']' && b.get(i + 1) == Some(&close) => {
                            i += 2
                        }
                        Some(&x) if x == close => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                while b.get(i).is_some_and(|&x| {
                    x.is_ascii_alphanumeric() || x == b'_' || x == b'$' || x >= 0x80
                }) {
                    i += 1;
                }
            }
            _ => {
                // One ASCII punctuation character (multi-byte characters went above).
                i += 1;
            }
        }
        if depth == 0 {
            tokens.push(Token {
                start,
                end: i,
                quoted,
            });
        }
    }
    tokens
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// SQLite result codes that mean "waited too long" (`SQLITE_BUSY` after the busy timeout,
/// `SQLITE_INTERRUPT`) or "cannot get at the database" (`SQLITE_CANTOPEN`, `SQLITE_IOERR`...).
fn classify(error: &dyn DatabaseError) -> DbErrorKind {
    let primary = error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .map(|code| code & 0xff);
    match primary {
        Some(5 | 6 | 9) => DbErrorKind::Timeout, // BUSY, LOCKED, INTERRUPT
        Some(10 | 14 | 26) => DbErrorKind::Unavailable, // IOERR, CANTOPEN, NOTADB
        _ => DbErrorKind::Statement,
    }
}

fn map_error(ctx: &SourceContext, error: sqlx::Error) -> ConnectorError {
    ctx.map_error(error, classify, |db| db.message().to_owned())
}

fn bad_statement(error: super::rewrite::RewriteError) -> ConnectorError {
    ConnectorError::BadInput {
        message: format!("invalid SQL statement: {error}"),
    }
}

/// Builds the arguments: `$1..$n`, then the key list as a JSON array.
fn bind(
    ctx: &SourceContext,
    stmt: &Statement,
    params: &[Value],
    keys: Option<&[Value]>,
) -> Result<SqliteArguments<'static>, ConnectorError> {
    check_arity(ctx, stmt, params, keys)?;
    let mut args = SqliteArguments::default();
    for value in params {
        add_value(ctx, &mut args, value)?;
    }
    if let Some(keys) = keys {
        let list: Vec<serde_json::Value> = keys
            .iter()
            .filter(|key| !matches!(key, Value::Null))
            .map(to_json)
            .collect();
        let text = serde_json::Value::Array(list).to_string();
        args.add(text).map_err(|e| ctx.internal(e.to_string()))?;
    }
    Ok(args)
}

fn add_value(
    ctx: &SourceContext,
    args: &mut SqliteArguments<'static>,
    value: &Value,
) -> Result<(), ConnectorError> {
    let result = match value {
        Value::Null => args.add(None::<i64>),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                args.add(i)
            } else if n.is_u64() {
                // Above i64::MAX: SQLite integers can't hold it; keep every digit as text.
                args.add(n.to_string())
            } else {
                args.add(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => args.add(s.clone()),
        Value::Boolean(b) => args.add(i64::from(*b)),
        Value::Enum(name) => args.add(name.to_string()),
        Value::Binary(bytes) => args.add(bytes.to_vec()),
        Value::List(_) | Value::Object(_) => args.add(to_json(value).to_string()),
    };
    result.map_err(|e| ctx.internal(format!("could not bind a parameter: {e}")))
}

/// How a column's cells map, decided once per result from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Bool,
    Json,
    DateTime,
    Plain,
}

fn plan(declared: &str) -> Plan {
    let upper = declared.trim().to_ascii_uppercase();
    if upper.contains("BOOL") {
        Plan::Bool
    } else if upper.starts_with("JSON") {
        Plan::Json
    } else if upper.starts_with("DATETIME") || upper.starts_with("TIMESTAMP") {
        Plan::DateTime
    } else {
        Plan::Plain
    }
}

/// Runs a bound statement on `conn` under the statement timeout and maps the rows.
async fn run(
    ctx: &SourceContext,
    conn: &mut SqliteConnection,
    stmt: &Statement,
    args: SqliteArguments<'static>,
) -> Result<Vec<Row>, ConnectorError> {
    ctx.count_statement();
    let rows = ctx
        .with_timeout(INTERRUPT_GRACE, async {
            let watchdog = match ctx.statement_timeout {
                Some(limit) => Some(
                    Watchdog::arm(conn, Instant::now() + limit)
                        .await
                        .map_err(|e| map_error(ctx, e))?,
                ),
                None => None,
            };
            let result = sqlx::query_with(&stmt.sql, args)
                .fetch_all(&mut *conn)
                .await;
            if let Some(watchdog) = watchdog {
                watchdog.disarm();
            }
            result.map_err(|e| map_error(ctx, e))
        })
        .await?;
    rows_to_values(ctx, stmt, &rows)
}

/// Interrupts the statement about to run on a connection once its deadline passes: a SQLite
/// progress handler, called every [`PROGRESS_OPS`] virtual-machine instructions, that returns
/// `false` (→ `SQLITE_INTERRUPT`, a `DATABASE_TIMEOUT`) after the deadline. It fires at most
/// once and does nothing after [`Watchdog::disarm`]. A handler left armed by a future dropped
/// mid-statement stays until the next watchdog replaces it or [`reset_released`] removes it
/// when the connection goes back to the pool (a dropped transaction only runs its tiny
/// `ROLLBACK` in between, too short to reach the handler).
struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    async fn arm(conn: &mut SqliteConnection, deadline: Instant) -> Result<Self, sqlx::Error> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let mut handle = conn.lock_handle().await?;
        handle.set_progress_handler(PROGRESS_OPS, move || {
            if flag.load(Ordering::Relaxed) || Instant::now() < deadline {
                return true;
            }
            flag.store(true, Ordering::Relaxed);
            false
        });
        Ok(Watchdog { done })
    }

    /// The statement has finished: the handler no longer interrupts anything. (Deliberately
    /// not on drop: a statement abandoned by a dropped future must still be stopped.)
    fn disarm(self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// `after_release` hook: every connection goes back to the pool clean. Locking the handle
/// waits for whatever the connection still runs (an abandoned statement, which its watchdog
/// interrupts at its deadline, a queued `ROLLBACK`), then removes the progress handler.
///
/// An interrupted write inside a transaction makes SQLite roll the whole transaction back on
/// its own; sqlx does not know, its `ROLLBACK` when the transaction is dropped then fails and
/// its transaction depth stays at 1, which would turn the next `BEGIN IMMEDIATE` on this
/// connection into an error. A depth above zero here can only mean that, so a transaction is
/// reopened (if SQLite has none) and rolled back through sqlx, which brings both to zero.
async fn reset_released(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    conn.lock_handle().await?.remove_progress_handler();
    if SqliteTransactionManager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    // Fails harmlessly ("cannot start a transaction within a transaction") if one is open.
    let _ = conn.execute("BEGIN").await;
    while SqliteTransactionManager::get_transaction_depth(conn) > 0 {
        if let Err(error) = SqliteTransactionManager::rollback(conn).await {
            tracing::warn!(%error, "could not reset a SQLite connection's transaction; closing it");
            return Ok(false);
        }
    }
    Ok(true)
}

fn rows_to_values(
    ctx: &SourceContext,
    stmt: &Statement,
    rows: &[SqliteRow],
) -> Result<Vec<Row>, ConnectorError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    // Column names and plans once per result. The prepared statement's declared types are
    // used when they describe the same columns (they may not if the schema changed since).
    let columns: Vec<(Name, Plan)> = first
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let declared = match stmt.columns.get(i) {
                Some(prepared) if prepared.name == column.name() => prepared.type_name.as_str(),
                _ => column.type_info().name(),
            };
            (Name::new(column.name()), plan(declared))
        })
        .collect();

    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Row::with_capacity(columns.len());
        for (i, (name, plan)) in columns.iter().enumerate() {
            let raw = row
                .try_get_raw(i)
                .map_err(|e| ctx.internal(format!("reading column {name}: {e}")))?;
            let value = decode(raw, *plan)
                .map_err(|e| ctx.internal(format!("reading column {name}: {e}")))?;
            // With duplicate names (`SELECT a.id, b.id`), the first column wins.
            values.entry(name.clone()).or_insert(value);
        }
        out.push(values);
    }
    Ok(out)
}

fn decode(raw: SqliteValueRef<'_>, plan: Plan) -> Result<Value, sqlx::error::BoxDynError> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    // For a non-null value this is its storage class, whatever the column declares.
    let storage = raw.type_info().name().to_owned();
    Ok(match storage.as_str() {
        "INTEGER" => {
            let i = <i64 as Decode<Sqlite>>::decode(raw)?;
            if plan == Plan::Bool {
                Value::Boolean(i != 0)
            } else {
                Value::Number(i.into())
            }
        }
        "REAL" => {
            let f = <f64 as Decode<Sqlite>>::decode(raw)?;
            if plan == Plan::Bool {
                Value::Boolean(f != 0.0)
            } else {
                float_value(f)
            }
        }
        "BLOB" => Value::String(base64_encode(<&[u8] as Decode<Sqlite>>::decode(raw)?)),
        _ => {
            let text = <&str as Decode<Sqlite>>::decode(raw)?;
            match plan {
                Plan::Json => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(json) => Value::from_json(json)?,
                    Err(_) => Value::String(text.to_owned()),
                },
                Plan::DateTime => {
                    Value::String(normalize_datetime(text).unwrap_or_else(|| text.to_owned()))
                }
                Plan::Bool | Plan::Plain => Value::String(text.to_owned()),
            }
        }
    })
}

/// `YYYY-MM-DD HH:MM[:SS[.fff]]` (space or `T`, optional offset or `Z`) → RFC 3339 in UTC with
/// `Z` and as many fraction digits as needed (0, 3, 6 or 9). No offset means UTC.
fn normalize_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    let utc = if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        dt.with_timezone(&Utc)
    } else if let Some(dt) = ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
    {
        dt.with_timezone(&Utc)
    } else {
        let naive = [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), f).ok())?;
        naive.and_utc()
    };
    Some(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[async_trait]
impl SqlSource for SqliteSource {
    fn backend(&self) -> SqlBackend {
        SqlBackend::Sqlite
    }

    async fn prepare(&self, sql: &str) -> Result<Arc<Statement>, ConnectorError> {
        let rewritten = rewrite(sql, SqlBackend::Sqlite).map_err(bad_statement)?;
        // `prepare`, not `describe`: sqlx's SQLite `describe` steps a read-only statement
        // once to guess expression types, which runs the whole query for an aggregate.
        // Preparing compiles it (so mistakes are reported now) without running it.
        let prepared = self
            .ctx
            .with_timeout(self.ctx.acquire_timeout, async {
                let mut conn = self.acquire().await?;
                let prepared = conn
                    .prepare(&rewritten.sql)
                    .await
                    .map_err(|e| self.map_error(e))?;
                Ok(prepared
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_owned(), c.type_info().name().to_owned()))
                    .collect::<Vec<_>>())
            })
            .await?;
        let declared = self.declared_types(sql).await;
        let columns = prepared
            .into_iter()
            .enumerate()
            .map(|(i, (name, sqlx_type))| Column {
                name,
                // The declared type; "" for an expression (sqlx says "NULL" there, which
                // reads like a type).
                type_name: declared
                    .get(i)
                    .filter(|ty| !ty.is_empty())
                    .cloned()
                    .unwrap_or(if sqlx_type == "NULL" {
                        String::new()
                    } else {
                        sqlx_type
                    }),
            })
            .collect();
        Ok(Arc::new(Statement {
            original: sql.to_owned(),
            sql: rewritten.sql,
            batched: rewritten.batched,
            columns,
            param_types: vec![None; rewritten.param_count],
            key_type: None,
        }))
    }

    async fn query(
        &self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError> {
        let args = bind(&self.ctx, stmt, params, keys)?;
        let mut conn = self.acquire().await?;
        run(&self.ctx, &mut conn, stmt, args).await
    }

    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, ConnectorError> {
        // IMMEDIATE takes the write lock up front: transactions here are for mutations, and a
        // deferred transaction that reads and then writes can fail with SQLITE_BUSY on the lock
        // upgrade without waiting for the busy timeout.
        let tx = self
            .ctx
            .with_timeout(self.ctx.acquire_timeout, async {
                self.pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| self.map_error(e))
            })
            .await?;
        Ok(Box::new(SqliteTransaction {
            tx,
            ctx: self.ctx.clone(),
            timed_out: false,
        }))
    }

    async fn ping(&self) -> Result<(), ConnectorError> {
        let check = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SELECT 1").execute(&mut *conn).await?;
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(self.ctx.acquire_timeout, check).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.ctx.unavailable(e.to_string())),
            Err(_) => Err(self.ctx.unavailable(format!(
                "no answer to a ping within {:?}",
                self.ctx.acquire_timeout
            ))),
        }
    }

    fn statements_executed(&self) -> u64 {
        self.ctx.statements_executed()
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self, dir: &std::path::Path) -> Result<(), ConnectorError> {
        let migrator = Migrator::new(dir).await.map_err(|e| {
            self.ctx.database(format!(
                "could not read migrations from {}: {e}",
                dir.display()
            ))
        })?;
        let mut conn = SqliteConnection::connect_with(&self.connect_options)
            .await
            .map_err(|e| {
                self.ctx
                    .unavailable(format!("could not open the SQLite database: {e}"))
            })?;
        // `run_direct` is `run` without the `Acquire` indirection, whose higher-ranked
        // lifetimes make the future fail the `Send` check in an `async_trait` method.
        let result = migrator.run_direct(&mut conn).await;
        if let Err(error) = conn.close().await {
            tracing::debug!(source = %self.ctx.name, %error, "closing the migration connection");
        }
        result.map_err(|e| self.ctx.database(format!("migration failed: {e}")))
    }
}

/// A transaction on one pooled connection; sqlx rolls it back if dropped without `commit`.
///
/// After a statement in it times out the transaction is done for: an interrupted write makes
/// SQLite roll it back on its own, and later statements would then run outside any
/// transaction. So whatever the statement was, further statements and `commit` fail, and the
/// transaction is rolled back when dropped (see [`reset_released`] for the bookkeeping).
struct SqliteTransaction {
    tx: sqlx::Transaction<'static, Sqlite>,
    ctx: Arc<SourceContext>,
    timed_out: bool,
}

impl SqliteTransaction {
    fn check_usable(&self) -> Result<(), ConnectorError> {
        if self.timed_out {
            return Err(self
                .ctx
                .database("the transaction was rolled back: a statement in it timed out"));
        }
        Ok(())
    }
}

#[async_trait]
impl SqlTransaction for SqliteTransaction {
    async fn query(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError> {
        self.check_usable()?;
        let args = bind(&self.ctx, stmt, params, keys)?;
        let result = run(&self.ctx, &mut self.tx, stmt, args).await;
        if matches!(result, Err(ConnectorError::DatabaseTimeout { .. })) {
            self.timed_out = true;
        }
        result
    }

    async fn commit(self: Box<Self>) -> Result<(), ConnectorError> {
        self.check_usable()?;
        let SqliteTransaction { tx, ctx, .. } = *self;
        ctx.with_timeout(Duration::ZERO, async {
            tx.commit().await.map_err(|e| map_error(&ctx, e))
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// A fresh database file under the temp dir, removed (with its WAL files) on drop.
    struct TempDb {
        path: std::path::PathBuf,
    }

    impl TempDb {
        fn new() -> Self {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path = std::env::temp_dir().join(format!(
                "tributary-sqlite-test-{}-{n}-{nanos}.db",
                std::process::id()
            ));
            TempDb { path }
        }

        fn url(&self) -> String {
            format!("sqlite://{}", self.path.display())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    fn options(url: String) -> SqlOptions {
        SqlOptions {
            name: "main".into(),
            url,
            max_connections: 4,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }

    async fn source(db: &TempDb) -> SqliteSource {
        SqliteSource::connect(options(db.url())).await.unwrap()
    }

    async fn exec(src: &SqliteSource, sql: &str) {
        sqlx::raw_sql(sql).execute(&src.pool).await.unwrap();
    }

    async fn seed(src: &SqliteSource) {
        exec(
            src,
            "CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE products (
                 id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL,
                 category_id INTEGER REFERENCES categories(id));
             INSERT INTO categories VALUES (1, 'Books'), (2, 'Games'), (3, 'Music');
             INSERT INTO products VALUES (1, 'Dune', 9.5, 1), (2, 'Chess', 20.0, 2),
                                         (3, 'Go', 30.25, 2);",
        )
        .await;
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn n(v: i64) -> Value {
        Value::Number(v.into())
    }

    #[tokio::test]
    async fn creates_the_file_and_sets_pragmas() {
        let db = TempDb::new();
        assert!(!db.path.exists());
        let src = source(&db).await;
        assert!(db.path.exists());
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&src.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&src.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        src.ping().await.unwrap();
        assert_eq!(src.statements_executed(), 0);
        src.close().await;
        assert!(src.ping().await.is_err());
    }

    #[tokio::test]
    async fn unopenable_path_is_unavailable_at_connect() {
        let err = SqliteSource::connect(options(
            "sqlite:///nonexistent-dir-tributary/sub/x.db".into(),
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::DatabaseUnavailable { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn connect_dispatches_on_the_scheme() {
        let db = TempDb::new();
        let src = super::super::connect(options(db.url())).await.unwrap();
        assert_eq!(src.backend(), SqlBackend::Sqlite);
        let err = super::super::connect(options("mysql://x".into()))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ConnectorError::BadInput { .. }));
    }

    #[tokio::test]
    async fn in_memory_database_is_shared_by_the_pool() {
        let src = SqliteSource::connect(options("sqlite::memory:".into()))
            .await
            .unwrap();
        exec(&src, "CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
        // Hold several connections at once: all of them see the table.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = src.pool.acquire().await.unwrap();
            let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(count, 0);
            held.push(conn);
        }
    }

    #[tokio::test]
    async fn single_statement_with_parameters() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT id, name, price FROM products WHERE id = $1")
            .await
            .unwrap();
        assert_eq!(
            stmt.sql,
            "SELECT id, name, price FROM products WHERE id = ?1"
        );
        assert_eq!(stmt.param_types, vec![None]);
        assert_eq!(stmt.key_type, None);
        assert!(!stmt.batched);
        let names: Vec<_> = stmt.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "price"]);
        let types: Vec<_> = stmt.columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(types, ["INTEGER", "TEXT", "REAL"]);

        let rows = src.query(&stmt, &[n(1)], None).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["id"], n(1));
        assert_eq!(rows[0]["name"], s("Dune"));
        assert_eq!(rows[0]["price"], Value::from(9.5));
        let keys: Vec<_> = rows[0].keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["id", "name", "price"]);
    }

    #[tokio::test]
    async fn id_string_against_integer_column() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT name FROM products WHERE id = $1")
            .await
            .unwrap();
        let rows = src.query(&stmt, &[s("2")], None).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["name"], s("Chess"));
        // Inserting "42" into an INTEGER column stores 42.
        let insert = src
            .prepare(
                "INSERT INTO categories (id, name) VALUES ($1, $2) RETURNING id, typeof(id) AS t",
            )
            .await
            .unwrap();
        let rows = src
            .query(&insert, &[s("42"), s("Toys")], None)
            .await
            .unwrap();
        assert_eq!(rows[0]["id"], n(42));
        assert_eq!(rows[0]["t"], s("integer"));
    }

    #[tokio::test]
    async fn batched_keys_return_matching_rows() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT * FROM categories WHERE id IN ($keys) ORDER BY id")
            .await
            .unwrap();
        assert!(stmt.batched);
        assert_eq!(stmt.key_type, None);
        assert!(stmt.param_types.is_empty());

        let rows = src
            .query(&stmt, &[], Some(&[n(2), n(1), n(2), Value::Null, n(99)]))
            .await
            .unwrap();
        let names: Vec<_> = rows.iter().map(|r| r["name"].clone()).collect();
        assert_eq!(names, [s("Books"), s("Games")]);

        // ID strings against the INTEGER primary key: affinity converts them.
        let rows = src
            .query(&stmt, &[], Some(&[s("1"), s("2")]))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["id"], n(1));
        assert_eq!(rows[1]["id"], n(2));

        // No keys: no rows.
        assert!(src.query(&stmt, &[], Some(&[])).await.unwrap().is_empty());

        // Keys plus positional parameters.
        let stmt = src
            .prepare("SELECT id, category_id FROM products WHERE category_id IN ($keys) AND price > $1 ORDER BY id")
            .await
            .unwrap();
        assert_eq!(stmt.param_types.len(), 1);
        let rows = src
            .query(&stmt, &[n(10)], Some(&[s("1"), s("2")]))
            .await
            .unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [n(2), n(3)]);
    }

    #[tokio::test]
    async fn string_keys_against_text_column() {
        let db = TempDb::new();
        let src = source(&db).await;
        exec(
            &src,
            "CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
             INSERT INTO codes VALUES ('007', 'bond'), ('42', 'answer');",
        )
        .await;
        let stmt = src
            .prepare("SELECT label FROM codes WHERE code IN ($keys) ORDER BY label")
            .await
            .unwrap();
        let rows = src
            .query(&stmt, &[], Some(&[s("007"), s("42")]))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
    }

    #[tokio::test]
    async fn injection_attempt_is_just_data() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let evil = s("'; DROP TABLE products; --");
        let stmt = src
            .prepare("SELECT * FROM products WHERE name = $1")
            .await
            .unwrap();
        assert!(src
            .query(&stmt, std::slice::from_ref(&evil), None)
            .await
            .unwrap()
            .is_empty());
        let batched = src
            .prepare("SELECT * FROM products WHERE name IN ($keys)")
            .await
            .unwrap();
        assert!(src
            .query(&batched, &[], Some(std::slice::from_ref(&evil)))
            .await
            .unwrap()
            .is_empty());
        let insert = src
            .prepare("INSERT INTO categories (name) VALUES ($1) RETURNING name")
            .await
            .unwrap();
        let rows = src
            .query(&insert, std::slice::from_ref(&evil), None)
            .await
            .unwrap();
        assert_eq!(rows[0]["name"], evil);
        let count = src
            .prepare("SELECT count(*) AS n FROM products")
            .await
            .unwrap();
        assert_eq!(src.query(&count, &[], None).await.unwrap()[0]["n"], n(3));
    }

    #[tokio::test]
    async fn type_round_trip() {
        let db = TempDb::new();
        let src = source(&db).await;
        exec(
            &src,
            "CREATE TABLE things (
                 id INTEGER PRIMARY KEY, i BIGINT, r REAL, t TEXT, b BOOLEAN, flag BOOL,
                 j JSON, created DATETIME, ts TIMESTAMP, d DATE, blob BLOB, price DECIMAL(10,2),
                 u TEXT, missing TEXT)",
        )
        .await;
        let insert = src
            .prepare(
                "INSERT INTO things (id, i, r, t, b, flag, j, created, ts, d, blob, price, u, missing)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .await
            .unwrap();
        let object =
            Value::from_json(serde_json::json!({"a": [1, 2.5, "x"], "b": {"c": null}})).unwrap();
        let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let params = [
            n(1),
            Value::Number(9_007_199_254_740_993_i64.into()),
            Value::from(2.5),
            s("héllo"),
            Value::Boolean(true),
            Value::Boolean(false),
            object.clone(),
            s("2024-01-02 03:04:05"),
            s("2024-01-02T03:04:05.123+02:00"),
            s("2024-01-02"),
            Value::Binary(vec![0u8, 1, 2, 255].into()),
            s("19.99"),
            s(uuid),
            Value::Null,
        ];
        assert!(src.query(&insert, &params, None).await.unwrap().is_empty());

        let stmt = src.prepare("SELECT * FROM things").await.unwrap();
        let types: Vec<_> = stmt.columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(
            types,
            [
                "INTEGER",
                "BIGINT",
                "REAL",
                "TEXT",
                "BOOLEAN",
                "BOOL",
                "JSON",
                "DATETIME",
                "TIMESTAMP",
                "DATE",
                "BLOB",
                "DECIMAL(10,2)",
                "TEXT",
                "TEXT"
            ]
        );
        let rows = src.query(&stmt, &[], None).await.unwrap();
        let row = &rows[0];
        assert_eq!(row["id"], n(1));
        assert_eq!(row["i"], Value::Number(9_007_199_254_740_993_i64.into()));
        assert_eq!(row["r"], Value::from(2.5));
        assert_eq!(row["t"], s("héllo"));
        assert_eq!(row["b"], Value::Boolean(true));
        assert_eq!(row["flag"], Value::Boolean(false));
        assert_eq!(row["j"], object);
        assert_eq!(row["created"], s("2024-01-02T03:04:05Z"));
        assert_eq!(row["ts"], s("2024-01-02T01:04:05.123Z"));
        assert_eq!(row["d"], s("2024-01-02"));
        assert_eq!(row["blob"], s("AAEC/w=="));
        assert_eq!(row["price"], Value::from(19.99));
        assert_eq!(row["u"], s(uuid));
        assert_eq!(row["missing"], Value::Null);

        // Expressions have no declared type: the storage class decides.
        let stmt = src
            .prepare("SELECT 1 + 1 AS two, 0.5 AS half, 'x' || 'y' AS xy, NULL AS nul, x'0102' AS bytes, json_object('k', 1) AS obj")
            .await
            .unwrap();
        let row = &src.query(&stmt, &[], None).await.unwrap()[0];
        assert_eq!(row["two"], n(2));
        assert_eq!(row["half"], Value::from(0.5));
        assert_eq!(row["xy"], s("xy"));
        assert_eq!(row["nul"], Value::Null);
        assert_eq!(row["bytes"], s("AQI="));
        assert_eq!(row["obj"], s(r#"{"k":1}"#));

        // Declared types reach through aliases and joins; JSON text that isn't JSON stays text.
        exec(
            &src,
            "UPDATE things SET j = 'not json', created = 'whenever'",
        )
        .await;
        let stmt = src
            .prepare("SELECT t1.j AS data, t1.b AS yes, t1.created AS at FROM things t1 JOIN things t2 ON t1.id = t2.id")
            .await
            .unwrap();
        let row = &src.query(&stmt, &[], None).await.unwrap()[0];
        assert_eq!(row["data"], s("not json"));
        assert_eq!(row["yes"], Value::Boolean(true));
        assert_eq!(row["at"], s("whenever"));
    }

    #[tokio::test]
    async fn statement_counter_counts_queries_only() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT * FROM categories WHERE id IN ($keys)")
            .await
            .unwrap();
        src.ping().await.unwrap();
        assert_eq!(src.statements_executed(), 0);
        src.query(&stmt, &[], Some(&[n(1), n(2), n(3)]))
            .await
            .unwrap();
        assert_eq!(src.statements_executed(), 1);
        let mut tx = src.begin().await.unwrap();
        tx.query(&stmt, &[], Some(&[n(1)])).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(src.statements_executed(), 2);
        // A failing coercion never reaches the database.
        assert!(src.query(&stmt, &[n(1)], Some(&[])).await.is_err());
        assert_eq!(src.statements_executed(), 2);
    }

    #[tokio::test]
    async fn transaction_rolls_back_on_drop_and_commits() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let insert = src
            .prepare("INSERT INTO categories (name) VALUES ($1) RETURNING id")
            .await
            .unwrap();
        let count = src
            .prepare("SELECT count(*) AS n FROM categories WHERE name = $1")
            .await
            .unwrap();

        let mut tx = src.begin().await.unwrap();
        let rows = tx.query(&insert, &[s("Temp")], None).await.unwrap();
        assert_eq!(rows[0]["id"], n(4));
        let inside = tx.query(&count, &[s("Temp")], None).await.unwrap();
        assert_eq!(inside[0]["n"], n(1));
        drop(tx);
        let after = src.query(&count, &[s("Temp")], None).await.unwrap();
        assert_eq!(after[0]["n"], n(0));

        let mut tx = src.begin().await.unwrap();
        tx.query(&insert, &[s("Kept")], None).await.unwrap();
        tx.commit().await.unwrap();
        let after = src.query(&count, &[s("Kept")], None).await.unwrap();
        assert_eq!(after[0]["n"], n(1));

        // A failed statement inside a transaction is a Database error (foreign key).
        let bad = src
            .prepare("INSERT INTO products (name, category_id) VALUES ($1, $2)")
            .await
            .unwrap();
        let mut tx = src.begin().await.unwrap();
        let err = tx.query(&bad, &[s("x"), n(999)], None).await.unwrap_err();
        match err {
            ConnectorError::Database { detail, .. } => {
                assert!(detail.contains("FOREIGN KEY"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn describe_error_is_database_with_the_message() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let err = src
            .prepare("SELECT nme FROM products WHERE id = $1")
            .await
            .unwrap_err();
        match err {
            ConnectorError::Database {
                source_name,
                detail,
            } => {
                assert_eq!(source_name, "main");
                assert_eq!(detail, "no such column: nme");
            }
            other => panic!("{other:?}"),
        }
        let err = src.prepare("SELECT * FROM nope").await.unwrap_err();
        assert!(err.to_string().contains("no such table: nope"), "{err}");
        let err = src
            .prepare("SELECT * FROM products WHERE id = $keys")
            .await
            .unwrap_err();
        match err {
            ConnectorError::BadInput { message } => {
                assert!(message.contains("IN ($keys)"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn arity_mismatch_is_internal() {
        let db = TempDb::new();
        let src = source(&db).await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT * FROM products WHERE id = $1")
            .await
            .unwrap();
        let err = src.query(&stmt, &[], None).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Internal { .. }), "{err:?}");
        let err = src.query(&stmt, &[n(1)], Some(&[])).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Internal { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn slow_statement_times_out() {
        let db = TempDb::new();
        let mut opts = options(db.url());
        opts.statement_timeout = Duration::from_millis(200);
        let src = SqliteSource::connect(opts).await.unwrap();
        // A recursive CTE that runs for a long time before producing its row.
        let stmt = src
            .prepare(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000)
                 SELECT max(x) AS m FROM c",
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let err = src.query(&stmt, &[], None).await.unwrap_err();
        assert!(
            matches!(err, ConnectorError::DatabaseTimeout { .. }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn lock_wait_past_busy_timeout_is_a_timeout() {
        let db = TempDb::new();
        let mut opts = options(db.url());
        opts.statement_timeout = Duration::from_millis(300);
        let src = SqliteSource::connect(opts).await.unwrap();
        seed(&src).await;
        let holder = src.begin().await.unwrap();
        let err = src.begin().await.err().unwrap();
        assert!(
            matches!(err, ConnectorError::DatabaseTimeout { .. }),
            "{err:?}"
        );
        drop(holder);
    }

    /// A statement that runs for minutes before producing its row (a billion-row CTE).
    const ENDLESS: &str =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)
                           SELECT max(x) AS m FROM c";

    async fn one_connection(db: &TempDb, timeout: Duration) -> SqliteSource {
        let mut opts = options(db.url());
        opts.statement_timeout = timeout;
        opts.acquire_timeout = Duration::from_secs(2);
        opts.max_connections = 1;
        SqliteSource::connect(opts).await.unwrap()
    }

    #[tokio::test]
    async fn timed_out_statement_is_interrupted_and_frees_its_connection() {
        let db = TempDb::new();
        let src = one_connection(&db, Duration::from_millis(200)).await;
        seed(&src).await;
        let slow = src.prepare(ENDLESS).await.unwrap();
        let quick = src
            .prepare("SELECT name FROM categories WHERE id = $1")
            .await
            .unwrap();
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let err = src.query(&slow, &[], None).await.unwrap_err();
            assert!(
                matches!(err, ConnectorError::DatabaseTimeout { .. }),
                "{err:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{started:?}");
            // The only connection is free again: the statement was stopped, not abandoned.
            let rows = src.query(&quick, &[n(2)], None).await.unwrap();
            assert_eq!(rows[0]["name"], s("Games"));
        }
        // The handler is gone once the statement is over: a statement that runs longer than
        // the earlier deadlines, but not than its own, is not interrupted.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let rows = src.query(&quick, &[n(1)], None).await.unwrap();
        assert_eq!(rows[0]["name"], s("Books"));
        let err = src.prepare("SELECT * FROM nope").await.unwrap_err();
        assert!(err.to_string().contains("no such table"), "{err}");
    }

    #[tokio::test]
    async fn timed_out_write_rolls_back_its_transaction_and_the_connection_recovers() {
        let db = TempDb::new();
        let src = one_connection(&db, Duration::from_millis(200)).await;
        seed(&src).await;
        let insert = src
            .prepare("INSERT INTO categories (name) VALUES ($1) RETURNING id")
            .await
            .unwrap();
        let slow_write = src
            .prepare(
                "INSERT INTO categories (name)
                 SELECT 'n' || x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT x FROM c)",
            )
            .await
            .unwrap();
        let slow_read = src.prepare(ENDLESS).await.unwrap();
        let count = src
            .prepare("SELECT count(*) AS n FROM categories")
            .await
            .unwrap();

        for slow in [&slow_write, &slow_read] {
            let mut tx = src.begin().await.unwrap();
            tx.query(&insert, &[s("Temp")], None).await.unwrap();
            let err = tx.query(slow, &[], None).await.unwrap_err();
            assert!(
                matches!(err, ConnectorError::DatabaseTimeout { .. }),
                "{err:?}"
            );
            // Done for: no statement runs outside the (rolled back) transaction.
            let err = tx.query(&insert, &[s("Stray")], None).await.unwrap_err();
            assert!(err.to_string().contains("rolled back"), "{err}");
            let err = tx.commit().await.unwrap_err();
            assert!(err.to_string().contains("rolled back"), "{err}");

            // The one connection is clean: transactions begin and commit again.
            let rows = src.query(&count, &[], None).await.unwrap();
            assert_eq!(rows[0]["n"], n(3));
            let mut tx = src.begin().await.unwrap();
            tx.query(&insert, &[s("Kept")], None).await.unwrap();
            tx.commit().await.unwrap();
            let rows = src.query(&count, &[], None).await.unwrap();
            assert_eq!(rows[0]["n"], n(4));
            exec(&src, "DELETE FROM categories WHERE name = 'Kept'").await;
        }

        // A transaction abandoned mid-statement (its future dropped) is cleaned up too.
        let mut tx = src.begin().await.unwrap();
        tx.query(&insert, &[s("Temp")], None).await.unwrap();
        let abandoned =
            tokio::time::timeout(Duration::from_millis(50), tx.query(&slow_write, &[], None)).await;
        assert!(abandoned.is_err());
        drop(tx);
        let mut tx = src.begin().await.unwrap();
        tx.query(&insert, &[s("Kept")], None).await.unwrap();
        tx.commit().await.unwrap();
        let rows = src.query(&count, &[], None).await.unwrap();
        assert_eq!(rows[0]["n"], n(4));
    }

    #[tokio::test]
    async fn returning_columns_have_their_declared_types() {
        let db = TempDb::new();
        let src = source(&db).await;
        exec(
            &src,
            "CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON, flag BOOLEAN, at DATETIME, note TEXT)",
        )
        .await;
        let doc = Value::from_json(serde_json::json!({"a": [1, "x"], "b": null})).unwrap();
        let insert = src
            .prepare(
                "INSERT INTO docs (id, doc, flag, at, note) VALUES ($1, $2, $3, $4, $5)
                 RETURNING *",
            )
            .await
            .unwrap();
        let types: Vec<_> = insert
            .columns
            .iter()
            .map(|c| c.type_name.as_str())
            .collect();
        assert_eq!(types, ["INTEGER", "JSON", "BOOLEAN", "DATETIME", "TEXT"]);
        let params = [
            n(1),
            doc.clone(),
            Value::Boolean(true),
            s("2024-01-02 03:04:05"),
            s("[1]"),
        ];
        let rows = src.query(&insert, &params, None).await.unwrap();
        assert_eq!(rows[0]["doc"], doc);
        assert_eq!(rows[0]["flag"], Value::Boolean(true));
        assert_eq!(rows[0]["at"], s("2024-01-02T03:04:05Z"));
        assert_eq!(rows[0]["note"], s("[1]"));

        // Aliases, expressions, an upsert, a table alias, quoting, comments.
        let upsert = src
            .prepare(
                "insert or replace into \"docs\" as d (id, doc, flag) values ($1, $2, $3)
                 -- returning nothing here
                 on conflict (id) do update set flag = excluded.flag
                 returning docs.doc as \"data\", flag, id + 1 as next, (select count(*) from docs) as total;",
            )
            .await
            .unwrap();
        let types: Vec<_> = upsert
            .columns
            .iter()
            .map(|c| c.type_name.as_str())
            .collect();
        assert_eq!(types, ["JSON", "BOOLEAN", "", ""]);
        let rows = src
            .query(&upsert, &[n(2), doc.clone(), Value::Boolean(false)], None)
            .await
            .unwrap();
        assert_eq!(rows[0]["data"], doc);
        assert_eq!(rows[0]["flag"], Value::Boolean(false));
        assert_eq!(rows[0]["next"], n(3));

        let update = src
            .prepare(
                "UPDATE OR ABORT main.docs SET flag = NOT flag WHERE id = $1 RETURNING doc, flag",
            )
            .await
            .unwrap();
        let rows = src.query(&update, &[n(1)], None).await.unwrap();
        assert_eq!(rows[0]["doc"], doc);
        assert_eq!(rows[0]["flag"], Value::Boolean(false));

        let delete = src
            .prepare("DELETE FROM docs WHERE id IN ($keys) RETURNING id, doc")
            .await
            .unwrap();
        let rows = src.query(&delete, &[], Some(&[n(1), n(2)])).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|row| row["doc"] == doc), "{rows:?}");

        // Without RETURNING there are no columns to type.
        let plain = src
            .prepare("INSERT INTO docs (doc) VALUES ($1)")
            .await
            .unwrap();
        assert!(plain.columns.is_empty());
    }

    #[test]
    fn returning_lists_become_selects() {
        let cases = [
            (
                "INSERT INTO t (a, b) VALUES (1, 2) RETURNING *",
                Some("SELECT * FROM t"),
            ),
            (
                "insert or ignore into s.\"T t\" as x select * from u returning x.a, b AS c",
                Some("SELECT x.a, b AS c FROM s.\"T t\""),
            ),
            (
                "REPLACE INTO t VALUES ('returning') RETURNING a",
                Some("SELECT a FROM t"),
            ),
            (
                "UPDATE t SET a = (SELECT 1 RETURNING) WHERE b = ')' RETURNING a",
                Some("SELECT a FROM t"),
            ),
            (
                "UPDATE OR REPLACE [t] AS y SET a = 1 RETURNING t.a",
                Some("SELECT t.a FROM [t]"),
            ),
            (
                "DELETE FROM t /* RETURNING */ RETURNING  id ",
                Some("SELECT id FROM t"),
            ),
            ("DELETE FROM t WHERE a = 1", None),
            (
                "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x RETURNING a",
                None,
            ),
            ("SELECT 1", None),
            ("INSERT INTO t VALUES (1) RETURNING", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(returning_as_select(sql).as_deref(), expected, "{sql}");
        }
    }

    #[tokio::test]
    async fn migrations_run_once() {
        let db = TempDb::new();
        let src = source(&db).await;
        let dir = std::env::temp_dir().join(format!(
            "tributary-migrations-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("0001_create.sql"),
            "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        )
        .unwrap();
        std::fs::write(
            dir.join("0002_seed.sql"),
            "INSERT INTO widgets (name) VALUES ('a'), ('b');",
        )
        .unwrap();
        src.migrate(&dir).await.unwrap();
        src.migrate(&dir).await.unwrap();
        let stmt = src
            .prepare("SELECT count(*) AS n FROM widgets")
            .await
            .unwrap();
        assert_eq!(src.query(&stmt, &[], None).await.unwrap()[0]["n"], n(2));

        std::fs::write(dir.join("0003_broken.sql"), "CREAT TABLE oops (id INT);").unwrap();
        let err = src.migrate(&dir).await.unwrap_err();
        match err {
            ConnectorError::Database { detail, .. } => {
                assert!(detail.contains("migration"), "{detail}");
                assert!(detail.contains("syntax error"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let err = src.migrate(&dir.join("missing")).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Database { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datetime_normalization() {
        let cases = [
            ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z"),
            ("2024-01-02T03:04:05", "2024-01-02T03:04:05Z"),
            ("2024-01-02 03:04:05.5", "2024-01-02T03:04:05.500Z"),
            ("2024-01-02 03:04:05.123456", "2024-01-02T03:04:05.123456Z"),
            ("2024-01-02 03:04", "2024-01-02T03:04:00Z"),
            ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
            ("2024-01-02T03:04:05+01:00", "2024-01-02T02:04:05Z"),
            ("2024-01-02 03:04:05-0130", "2024-01-02T04:34:05Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_datetime(input).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        assert_eq!(normalize_datetime("yesterday"), None);
        assert_eq!(normalize_datetime("2024-01-02"), None);
    }

    #[test]
    fn plans_from_declared_types() {
        assert_eq!(plan("BOOLEAN"), Plan::Bool);
        assert_eq!(plan("bool"), Plan::Bool);
        assert_eq!(plan("json"), Plan::Json);
        assert_eq!(plan("JSONB"), Plan::Json);
        assert_eq!(plan("DATETIME"), Plan::DateTime);
        assert_eq!(plan("timestamp"), Plan::DateTime);
        assert_eq!(plan("INTEGER"), Plan::Plain);
        assert_eq!(plan(""), Plan::Plain);
    }
}
