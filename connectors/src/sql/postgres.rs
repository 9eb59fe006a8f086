//! [`PostgresSource`]: a [`SqlSource`] over a native sqlx `PgPool`.
//!
//! # Connection set-up
//! Every pooled connection runs `SET statement_timeout` after connecting, so the server cancels
//! a runaway statement itself (SQLSTATE 57014 → `DATABASE_TIMEOUT`). Each statement also runs
//! under a client-side timeout, slightly longer than the server's ([`CLIENT_TIMEOUT_GRACE`]), as
//! a backstop for a server or network that stops answering: normally the server's cancellation
//! comes first and leaves the connection clean. `connect` opens the first connection at start-up
//! (an unreachable database is a start-up error naming the cause, never the URL's password).
//!
//! # Parameters
//! `prepare` describes the statement, so the server says what type it expects for each `$n`
//! and for the key array. Values are coerced to exactly those types and bound in binary with
//! that type's OID, which keeps the prepared statement's parameter types stable across calls:
//! - `INT2`/`INT4`/`INT8`: numbers and integer strings (`"42"` → 42); other text, fractions
//!   and out-of-range values are `BAD_USER_INPUT` (`expected an integer for $1, got "abc"`);
//! - `FLOAT4`/`FLOAT8`: numbers and numeric strings; `NUMERIC`: numbers and decimal strings
//!   (`"19.99"`, `"-1.5e3"`, `"NaN"`), exact at any precision (encoded here, not through
//!   `rust_decimal`, whose 28 digits would reject valid `NUMERIC` values);
//! - `BOOL`: booleans, `"true"`/`"false"`, `1`/`0`;
//! - text types (`TEXT`, `VARCHAR`, `CHAR(n)`, `NAME`, `citext`, enums): strings as they are,
//!   numbers and booleans as their text, lists and objects as JSON text;
//! - `UUID`: a UUID string; `TIMESTAMPTZ`/`TIMESTAMP`: RFC 3339 or `YYYY-MM-DD HH:MM:SS[.f]`
//!   (no offset means UTC; a `TIMESTAMP` gets the UTC wall time); `DATE`: `YYYY-MM-DD`;
//!   `TIME`: `HH:MM[:SS[.f]]`;
//! - `JSON`/`JSONB`: any value, as JSON (a string is a JSON string, not JSON text to parse);
//! - `BYTEA`: binary values, or base64 strings;
//! - arrays (including the key array of `= ANY($k)`): a list, each element coerced to the
//!   element type; `null` keys are dropped (they never match);
//! - domains as their base type; other types are bound as text, which suits types whose binary
//!   form is text (enums, `citext`); for the rest, cast in the statement (`$1::text::inet`).
//!
//! `null` binds a typed `NULL`.
//!
//! # Result values
//! By column type: `INT2/4/8`, `OID` → Int; `FLOAT4/8` → Float (NaN and infinities → null);
//! `NUMERIC` → String holding the exact decimal text (`"19.99"`, any precision, `"NaN"`);
//! `BOOL` → Boolean; text types and enums → String; `UUID` → hyphenated String;
//! `TIMESTAMPTZ` → RFC 3339 in UTC with `Z` and 0, 3, 6 or 9 fraction digits
//! (`2024-01-02T03:04:05.123456Z`); `TIMESTAMP` → `YYYY-MM-DDTHH:MM:SS[.f]` (no zone);
//! `DATE` → `YYYY-MM-DD`; `TIME` → `HH:MM:SS[.f]`; `±infinity` timestamps/dates →
//! `"infinity"`/`"-infinity"`; `JSON`/`JSONB` → the JSON value; `BYTEA` → base64 String
//! (standard alphabet, padded); arrays → lists; domains as their base type. Other types
//! (`INTERVAL`, `INET`, geometric types, ...) read as `null`, and `prepare` logs a warning
//! naming the column and suggesting a cast (`col::text`). Failing `prepare` instead would make
//! every `SELECT *` over such a table a start-up error even if the field is never exposed.
//!
//! Rows are decoded from PostgreSQL's binary format here rather than through sqlx's typed
//! decoders, so that `NUMERIC` keeps every digit (beyond `rust_decimal`'s 28) and the same code
//! decodes scalars and array elements.
//!
//! # Layout
//! This file holds the source (pool, prepare, query, transactions, errors); `codec` holds the
//! pure wire conversions (coercion, binary encoding and decoding) and their tests.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgDatabaseError, PgErrorPosition, PgPool,
    PgPoolOptions, PgRow, PgTypeInfo, PgTypeKind, Postgres,
};
use sqlx::{Arguments, Column as _, Connection, Either, Executor, Row as _, TypeInfo};

use super::rewrite::{rewrite, RewriteError};
use super::support::{check_arity, DbErrorKind, SourceContext};
use super::{Column, Row, SqlBackend, SqlOptions, SqlSource, SqlTransaction, Statement};
use crate::{ConnectorError, Name, Value};

mod codec;

use codec::{coerce, coerce_array, decode_cell, kind_of, readable, PgKind, PgParam};

/// How much longer than the server-side `statement_timeout` the client waits before giving
/// up on a statement itself.
pub const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_millis(500);

/// A PostgreSQL database behind a native sqlx pool.
#[derive(Debug)]
pub struct PostgresSource {
    pool: PgPool,
    shared: Arc<Shared>,
    /// For the dedicated migration connection.
    connect_options: PgConnectOptions,
}

/// What the pool wrapper and its transactions share.
#[derive(Debug)]
struct Shared {
    ctx: SourceContext,
    /// The described parameter types of each statement, by its (rewritten) text: the
    /// [`Statement`] only carries type names, and binding needs the OIDs (enums, domains and
    /// arrays of them have no fixed OID).
    described: Mutex<HashMap<String, Arc<[PgTypeInfo]>>>,
}

impl Shared {
    fn map_error(&self, error: sqlx::Error, sql: Option<&str>) -> ConnectorError {
        map_error(&self.ctx, error, sql)
    }

    fn cached_types(&self, sql: &str) -> Option<Arc<[PgTypeInfo]>> {
        self.described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
            .cloned()
    }

    fn remember_types(&self, sql: &str, types: Arc<[PgTypeInfo]>) {
        self.described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sql.to_owned(), types);
    }

    /// The parameter types of `stmt`: remembered from `prepare`, or described now on `conn`
    /// (a statement prepared on another source instance).
    async fn param_types(
        &self,
        conn: &mut PgConnection,
        stmt: &Statement,
    ) -> Result<Arc<[PgTypeInfo]>, ConnectorError> {
        if let Some(types) = self.cached_types(&stmt.sql) {
            return Ok(types);
        }
        let described = self
            .ctx
            .with_timeout(CLIENT_TIMEOUT_GRACE, async {
                conn.describe(&stmt.sql)
                    .await
                    .map_err(|e| self.map_error(e, Some(&stmt.sql)))
            })
            .await?;
        let types: Arc<[PgTypeInfo]> = match described.parameters() {
            Some(Either::Left(types)) => types.into(),
            _ => Arc::from(Vec::new()),
        };
        self.remember_types(&stmt.sql, types.clone());
        Ok(types)
    }
}

impl PostgresSource {
    /// Builds the pool and opens its first connection, so an unreachable database, a wrong
    /// password or a missing database is a start-up error.
    pub async fn connect(options: SqlOptions) -> Result<Self, ConnectorError> {
        let ctx = SourceContext::new(
            options.name.clone(),
            &options.url,
            options.statement_timeout,
            options.acquire_timeout,
        );
        let connect_options = PgConnectOptions::from_str(&options.url)
            .map_err(|e| ctx.unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let target = format!(
            "{}:{}/{}",
            connect_options.get_host(),
            connect_options.get_port(),
            connect_options.get_database().unwrap_or_default()
        );

        let timeout_ms = ctx.statement_timeout.map_or(0, |d| d.as_millis().max(1));
        let pool_result = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // A number we format ourselves: nothing user-controlled reaches this text.
                    conn.execute(format!("SET statement_timeout = {timeout_ms}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect_options.clone())
            .await;
        let pool = match pool_result {
            Ok(pool) => pool,
            Err(sqlx::Error::PoolTimedOut) => {
                // The pool retries refused connections until its deadline and then only says
                // it timed out: one direct attempt tells why.
                let cause = match tokio::time::timeout(
                    options.acquire_timeout,
                    PgConnection::connect_with(&connect_options),
                )
                .await
                {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                        format!("no connection within {:?}", options.acquire_timeout)
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {:?}", options.acquire_timeout),
                };
                return Err(ctx.unavailable(format!(
                    "could not connect to PostgreSQL at {target}: {cause}"
                )));
            }
            Err(e) => {
                return Err(
                    ctx.unavailable(format!("could not connect to PostgreSQL at {target}: {e}"))
                )
            }
        };
        tracing::debug!(source = %ctx.name, "PostgreSQL source connected");
        Ok(PostgresSource {
            pool,
            shared: Arc::new(Shared {
                ctx,
                described: Mutex::new(HashMap::new()),
            }),
            connect_options,
        })
    }

    async fn acquire(&self) -> Result<PoolConnection<Postgres>, ConnectorError> {
        self.pool
            .acquire()
            .await
            .map_err(|e| self.shared.map_error(e, None))
    }
}

/// SQLSTATEs: 57014 query_canceled (statement_timeout), 55P03 lock_not_available
/// (lock_timeout) → timeout; connection exceptions (08xxx), shutdown and start-up (57P0x),
/// too many connections (53300), missing database (3D000) → unavailable.
fn classify(error: &dyn DatabaseError) -> DbErrorKind {
    let code = error.code().unwrap_or_default();
    match code.as_ref() {
        "57014" | "55P03" => DbErrorKind::Timeout,
        "57P01" | "57P02" | "57P03" | "53300" | "3D000" => DbErrorKind::Unavailable,
        c if c.starts_with("08") => DbErrorKind::Unavailable,
        _ => DbErrorKind::Statement,
    }
}

/// The server's message, with its detail and hint, and where in the statement it points.
fn describe_error(error: &dyn DatabaseError, sql: Option<&str>) -> String {
    let mut text = error.message().to_owned();
    if let Some(pg) = error.try_downcast_ref::<PgDatabaseError>() {
        if let (Some(PgErrorPosition::Original(position)), Some(sql)) = (pg.position(), sql) {
            let near: String = sql
                .chars()
                .skip(position.saturating_sub(1))
                .take(40)
                .collect();
            let near = near.split_whitespace().collect::<Vec<_>>().join(" ");
            if !near.is_empty() {
                text.push_str(&format!(" (near \"{near}\")"));
            }
        }
        if let Some(detail) = pg.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = pg.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
    }
    text
}

fn map_error(ctx: &SourceContext, error: sqlx::Error, sql: Option<&str>) -> ConnectorError {
    ctx.map_error(error, classify, |db| describe_error(db, sql))
}

fn bad_statement(error: RewriteError) -> ConnectorError {
    ConnectorError::BadInput {
        message: format!("invalid SQL statement: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Binding

/// Coerces the parameters and keys to the described types and builds the arguments.
fn bind(
    ctx: &SourceContext,
    stmt: &Statement,
    types: &[PgTypeInfo],
    params: &[Value],
    keys: Option<&[Value]>,
) -> Result<PgArguments, ConnectorError> {
    check_arity(ctx, stmt, params, keys)?;
    let expected = params.len() + usize::from(keys.is_some());
    if types.len() != expected {
        return Err(ctx.internal(format!(
            "statement `{}` was described with {} parameter(s), expected {expected}",
            stmt.original,
            types.len()
        )));
    }
    let mut args = PgArguments::default();
    for (i, (value, ty)) in params.iter().zip(types).enumerate() {
        let data = coerce(value, &kind_of(ty), &format!("${}", i + 1))?;
        args.add(PgParam {
            ty: ty.clone(),
            data,
        })
        .map_err(|e| ctx.internal(format!("could not bind ${}: {e}", i + 1)))?;
    }
    if let (Some(keys), Some(ty)) = (keys, types.last()) {
        let data = match kind_of(ty) {
            PgKind::Array(elem, elem_oid) => coerce_array(
                keys.iter().filter(|k| !matches!(k, Value::Null)),
                &elem,
                elem_oid,
                "a key",
            )?,
            other => {
                return Err(ctx.internal(format!(
                    "the key list of `{}` was described as {} ({other:?}), not an array",
                    stmt.original,
                    ty.name()
                )))
            }
        };
        args.add(PgParam {
            ty: ty.clone(),
            data: Some(data),
        })
        .map_err(|e| ctx.internal(format!("could not bind the key list: {e}")))?;
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Results

/// Runs a bound statement on `conn` under the timeout and maps the rows.
async fn run(
    shared: &Shared,
    conn: &mut PgConnection,
    stmt: &Statement,
    args: PgArguments,
) -> Result<Vec<Row>, ConnectorError> {
    shared.ctx.count_statement();
    let rows = shared
        .ctx
        .with_timeout(CLIENT_TIMEOUT_GRACE, async {
            sqlx::query_with(&stmt.sql, args)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| shared.map_error(e, Some(&stmt.sql)))
        })
        .await?;
    rows_to_values(&shared.ctx, &rows)
}

fn rows_to_values(ctx: &SourceContext, rows: &[PgRow]) -> Result<Vec<Row>, ConnectorError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Vec<(Name, PgKind)> = first
        .columns()
        .iter()
        .map(|c| (Name::new(c.name()), kind_of(c.type_info())))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Row::with_capacity(columns.len());
        for (i, (name, kind)) in columns.iter().enumerate() {
            let raw = row
                .try_get_raw(i)
                .map_err(|e| ctx.internal(format!("reading column {name}: {e}")))?;
            let value = decode_cell(raw, kind)
                .map_err(|e| ctx.internal(format!("reading column {name}: {e}")))?;
            // With duplicate names (`SELECT a.id, b.id`), the first column wins.
            values.entry(name.clone()).or_insert(value);
        }
        out.push(values);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The source

#[async_trait]
impl SqlSource for PostgresSource {
    fn backend(&self) -> SqlBackend {
        SqlBackend::Postgres
    }

    async fn prepare(&self, sql: &str) -> Result<Arc<Statement>, ConnectorError> {
        let rewritten = rewrite(sql, SqlBackend::Postgres).map_err(bad_statement)?;
        let ctx = &self.shared.ctx;
        let described = ctx
            .with_timeout(ctx.acquire_timeout + CLIENT_TIMEOUT_GRACE, async {
                let mut conn = self.acquire().await?;
                conn.describe(&rewritten.sql)
                    .await
                    .map_err(|e| self.shared.map_error(e, Some(&rewritten.sql)))
            })
            .await?;
        let params: Vec<PgTypeInfo> = match described.parameters() {
            Some(Either::Left(types)) => types.to_vec(),
            _ => Vec::new(),
        };
        let expected = rewritten.param_count + usize::from(rewritten.batched);
        if params.len() != expected {
            return Err(ctx.database(format!(
                "the statement has {} parameter(s) but {expected} were expected",
                params.len()
            )));
        }
        let param_types = params[..rewritten.param_count]
            .iter()
            .map(|ty| Some(ty.name().to_owned()))
            .collect();
        let key_type = rewritten
            .key_index()
            .and_then(|k| params.get(k - 1))
            .map(|ty| match ty.kind() {
                PgTypeKind::Array(elem) => elem.name().to_owned(),
                _ => ty.name().to_owned(),
            });
        let columns: Vec<Column> = described
            .columns()
            .iter()
            .map(|column| Column {
                name: column.name().to_owned(),
                type_name: column.type_info().name().to_owned(),
            })
            .collect();
        for (column, info) in columns.iter().zip(described.columns()) {
            if !readable(&kind_of(info.type_info())) {
                tracing::warn!(
                    source = %ctx.name,
                    column = %column.name,
                    r#type = %column.type_name,
                    "values of this column type are read as null; cast it in the statement \
                     (e.g. `{}::text`)",
                    column.name
                );
            }
        }
        self.shared.remember_types(&rewritten.sql, params.into());
        Ok(Arc::new(Statement {
            original: sql.to_owned(),
            sql: rewritten.sql,
            batched: rewritten.batched,
            columns,
            param_types,
            key_type,
        }))
    }

    async fn query(
        &self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError> {
        check_arity(&self.shared.ctx, stmt, params, keys)?;
        // Coerce before taking a connection when the types are known (the usual case), so
        // bad input costs no pool slot.
        let (types, conn) = match self.shared.cached_types(&stmt.sql) {
            Some(types) => (types, None),
            None => {
                let mut conn = self.acquire().await?;
                let types = self.shared.param_types(&mut conn, stmt).await?;
                (types, Some(conn))
            }
        };
        let args = bind(&self.shared.ctx, stmt, &types, params, keys)?;
        let mut conn = match conn {
            Some(conn) => conn,
            None => self.acquire().await?,
        };
        run(&self.shared, &mut conn, stmt, args).await
    }

    async fn begin(&self) -> Result<Box<dyn SqlTransaction>, ConnectorError> {
        let ctx = &self.shared.ctx;
        let tx = ctx
            .with_timeout(ctx.acquire_timeout + CLIENT_TIMEOUT_GRACE, async {
                self.pool
                    .begin()
                    .await
                    .map_err(|e| self.shared.map_error(e, None))
            })
            .await?;
        Ok(Box::new(PostgresTransaction {
            tx,
            shared: self.shared.clone(),
        }))
    }

    async fn ping(&self) -> Result<(), ConnectorError> {
        let ctx = &self.shared.ctx;
        let check = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SELECT 1").execute(&mut *conn).await?;
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(ctx.acquire_timeout, check).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ctx.unavailable(e.to_string())),
            Err(_) => Err(ctx.unavailable(format!(
                "no answer to a ping within {:?}",
                ctx.acquire_timeout
            ))),
        }
    }

    fn statements_executed(&self) -> u64 {
        self.shared.ctx.statements_executed()
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self, dir: &std::path::Path) -> Result<(), ConnectorError> {
        let ctx = &self.shared.ctx;
        let migrator = Migrator::new(dir).await.map_err(|e| {
            ctx.database(format!(
                "could not read migrations from {}: {e}",
                dir.display()
            ))
        })?;
        // A connection of its own, without the pool's statement timeout: migrations may
        // legitimately run long (index builds, backfills).
        let mut conn = match tokio::time::timeout(
            ctx.acquire_timeout,
            PgConnection::connect_with(&self.connect_options),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(ctx.unavailable(format!("could not connect: {e}"))),
            Err(_) => {
                return Err(ctx.unavailable(format!(
                    "could not connect within {:?}",
                    ctx.acquire_timeout
                )))
            }
        };
        // `run_direct` is `run` without the `Acquire` indirection, whose higher-ranked
        // lifetimes make the future fail the `Send` check in an `async_trait` method.
        let result = migrator.run_direct(&mut conn).await;
        if let Err(error) = conn.close().await {
            tracing::debug!(source = %ctx.name, %error, "closing the migration connection");
        }
        result.map_err(|e| ctx.database(format!("migration failed: {e}")))
    }
}

/// A transaction on one pooled connection; sqlx rolls it back if dropped without `commit`.
struct PostgresTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
    shared: Arc<Shared>,
}

#[async_trait]
impl SqlTransaction for PostgresTransaction {
    async fn query(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        keys: Option<&[Value]>,
    ) -> Result<Vec<Row>, ConnectorError> {
        check_arity(&self.shared.ctx, stmt, params, keys)?;
        let types = self.shared.param_types(&mut self.tx, stmt).await?;
        let args = bind(&self.shared.ctx, stmt, &types, params, keys)?;
        run(&self.shared, &mut self.tx, stmt, args).await
    }

    async fn commit(self: Box<Self>) -> Result<(), ConnectorError> {
        let PostgresTransaction { tx, shared } = *self;
        shared
            .ctx
            .with_timeout(CLIENT_TIMEOUT_GRACE, async {
                tx.commit().await.map_err(|e| shared.map_error(e, None))
            })
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn n(v: i64) -> Value {
        Value::Number(v.into())
    }

    fn json(v: serde_json::Value) -> Value {
        Value::from_json(v).unwrap()
    }

    #[tokio::test]
    async fn unreachable_database_is_unavailable_without_the_password() {
        let started = std::time::Instant::now();
        let err = PostgresSource::connect(SqlOptions {
            name: "main".into(),
            url: "postgres://app:sekrit-pw@127.0.0.1:1/shop".into(),
            max_connections: 2,
            statement_timeout: Duration::from_secs(1),
            acquire_timeout: Duration::from_millis(500),
        })
        .await
        .unwrap_err();
        match &err {
            ConnectorError::DatabaseUnavailable {
                source_name,
                detail,
            } => {
                assert_eq!(source_name, "main");
                assert!(detail.contains("127.0.0.1:1/shop"), "{detail}");
                assert!(!detail.contains("sekrit"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{err:?} {err}").contains("sekrit"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    // -- Against a real database (TEST_DATABASE_URL) -----------------------------------------

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// A database of its own for one test, dropped afterwards (even if the test fails), so
    /// tests run in parallel.
    struct TestDb {
        admin_url: String,
        name: String,
        url: String,
    }

    impl TestDb {
        async fn create() -> Option<TestDb> {
            let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
                eprintln!("TEST_DATABASE_URL not set: skipping");
                return None;
            };
            let name = format!(
                "tributary_test_{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            );
            let mut admin = PgConnection::connect(&admin_url).await.unwrap();
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
            let url = with_database(&admin_url, &name);
            Some(TestDb {
                admin_url,
                name,
                url,
            })
        }

        fn options(&self) -> SqlOptions {
            SqlOptions {
                name: "main".into(),
                url: self.url.clone(),
                max_connections: 4,
                statement_timeout: Duration::from_secs(5),
                acquire_timeout: Duration::from_secs(5),
            }
        }

        async fn source(&self) -> PostgresSource {
            PostgresSource::connect(self.options()).await.unwrap()
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let admin_url = self.admin_url.clone();
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            // Drop runs inside the test's runtime: use a thread with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin.execute(sql.as_str()).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }

    /// `url` with its database replaced by `name`.
    fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (url, String::new()),
        };
        let authority = base.find("://").map_or(0, |i| i + 3);
        let path = base[authority..]
            .find('/')
            .map_or(base.len(), |i| authority + i);
        format!("{}/{name}{query}", &base[..path])
    }

    async fn exec(src: &PostgresSource, sql: &str) {
        sqlx::raw_sql(sql).execute(&src.pool).await.unwrap();
    }

    async fn seed(src: &PostgresSource) {
        exec(
            src,
            "CREATE TABLE categories (id SERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             CREATE TABLE products (
                 id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2),
                 category_id INT REFERENCES categories(id));
             INSERT INTO categories (name) VALUES ('Books'), ('Games'), ('Music');
             INSERT INTO products (name, price, category_id)
                 VALUES ('Dune', 9.50, 1), ('Chess', 20, 2), ('Go', 30.25, 2);",
        )
        .await;
    }

    #[test]
    fn database_url_rewriting() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[tokio::test]
    async fn type_round_trip() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
        exec(
            &src,
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE DOMAIN email AS TEXT CHECK (VALUE LIKE '%@%');
             CREATE TABLE things (
                 id BIGSERIAL PRIMARY KEY,
                 i2 SMALLINT, i4 INTEGER, i8 BIGINT, f4 REAL, f8 DOUBLE PRECISION,
                 price NUMERIC(10,2), big NUMERIC, ok BOOLEAN, t TEXT, vc VARCHAR(20),
                 ch CHAR(3), u UUID, at TIMESTAMPTZ, local TIMESTAMP, d DATE, tm TIME,
                 j JSON, jb JSONB, bin BYTEA, ints INT4[], tags TEXT[], m mood, e email,
                 iv INTERVAL DEFAULT '1 day', missing TEXT)",
        )
        .await;
        let insert = src
            .prepare(
                "INSERT INTO things (i2, i4, i8, f4, f8, price, big, ok, t, vc, ch, u, at, local,
                                     d, tm, j, jb, bin, ints, tags, m, e, missing)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                         $17, $18, $19, $20, $21, $22, $23, $24)
                 RETURNING id",
            )
            .await
            .unwrap();
        let types: Vec<_> = insert
            .param_types
            .iter()
            .map(|t| t.clone().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "INT2",
                "INT4",
                "INT8",
                "FLOAT4",
                "FLOAT8",
                "NUMERIC",
                "NUMERIC",
                "BOOL",
                "TEXT",
                "VARCHAR",
                "CHAR",
                "UUID",
                "TIMESTAMPTZ",
                "TIMESTAMP",
                "DATE",
                "TIME",
                "JSON",
                "JSONB",
                "BYTEA",
                "INT4[]",
                "TEXT[]",
                "mood",
                "email",
                "TEXT"
            ]
        );
        assert_eq!(insert.columns.len(), 1);
        assert_eq!(insert.columns[0].type_name, "INT8");

        let object = json(
            serde_json::json!({"name": "x", "list": [1, 2.5, "three", null], "nested": {"ok": true}}),
        );
        let params = [
            s("7"),
            s("42"),
            s("9007199254740993"),
            Value::from(1.5),
            s("2.25"),
            s("19.99"),
            s("123456789012345678901234567890.123456789"),
            Value::Boolean(true),
            s("héllo"),
            n(123),
            s("abc"),
            s("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            s("2024-01-02T03:04:05.123456+02:00"),
            s("2024-01-02T03:04:05.5"),
            s("2024-01-02"),
            s("13:14:15.25"),
            object.clone(),
            object.clone(),
            Value::Binary(vec![0u8, 1, 2, 255].into()),
            Value::List(vec![n(1), s("2"), Value::Null]),
            Value::List(vec![s("a"), s("b")]),
            s("happy"),
            s("a@b.c"),
            Value::Null,
        ];
        let rows = src.query(&insert, &params, None).await.unwrap();
        assert_eq!(rows[0]["id"], n(1));

        let stmt = src.prepare("SELECT * FROM things").await.unwrap();
        let types: Vec<_> = stmt.columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(
            types,
            [
                "INT8",
                "INT2",
                "INT4",
                "INT8",
                "FLOAT4",
                "FLOAT8",
                "NUMERIC",
                "NUMERIC",
                "BOOL",
                "TEXT",
                "VARCHAR",
                "CHAR",
                "UUID",
                "TIMESTAMPTZ",
                "TIMESTAMP",
                "DATE",
                "TIME",
                "JSON",
                "JSONB",
                "BYTEA",
                "INT4[]",
                "TEXT[]",
                "mood",
                "TEXT",
                "INTERVAL",
                "TEXT"
            ]
        );
        let row = &src.query(&stmt, &[], None).await.unwrap()[0];
        let expected = [
            ("id", n(1)),
            ("i2", n(7)),
            ("i4", n(42)),
            ("i8", n(9_007_199_254_740_993)),
            ("f4", Value::from(1.5)),
            ("f8", Value::from(2.25)),
            ("price", s("19.99")),
            ("big", s("123456789012345678901234567890.123456789")),
            ("ok", Value::Boolean(true)),
            ("t", s("héllo")),
            ("vc", s("123")),
            ("ch", s("abc")),
            ("u", s("67e55044-10b1-426f-9247-bb680e5fe0c8")),
            ("at", s("2024-01-02T01:04:05.123456Z")),
            ("local", s("2024-01-02T03:04:05.500")),
            ("d", s("2024-01-02")),
            ("tm", s("13:14:15.250")),
            ("j", object.clone()),
            ("jb", object.clone()),
            ("bin", s("AAEC/w==")),
            ("ints", Value::List(vec![n(1), n(2), Value::Null])),
            ("tags", Value::List(vec![s("a"), s("b")])),
            ("m", s("happy")),
            ("e", s("a@b.c")),
            ("iv", Value::Null),
            ("missing", Value::Null),
        ];
        let names: Vec<_> = row.keys().map(|k| k.as_str()).collect();
        let expected_names: Vec<_> = expected.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, expected_names);
        for (column, value) in expected {
            assert_eq!(row[column], value, "column {column}");
        }

        // Special values.
        let stmt = src
            .prepare(
                "SELECT 'NaN'::numeric AS nan, 0::numeric AS zero, -0.5::numeric AS neg,
                        1e-20::numeric AS tiny, 'infinity'::timestamptz AS inf,
                        '-infinity'::date AS ninf, 'NaN'::float8 AS fnan,
                        '2024-01-02 03:04:05+00'::timestamptz AS whole,
                        ARRAY[[1,2],[3,4]] AS grid, '{}'::text[] AS empty,
                        1::oid AS o, 'x'::name AS nm, NULL::int AS nothing",
            )
            .await
            .unwrap();
        let row = &src.query(&stmt, &[], None).await.unwrap()[0];
        assert_eq!(row["nan"], s("NaN"));
        assert_eq!(row["zero"], s("0"));
        assert_eq!(row["neg"], s("-0.5"));
        assert_eq!(row["tiny"], s("0.00000000000000000001"));
        assert_eq!(row["inf"], s("infinity"));
        assert_eq!(row["ninf"], s("-infinity"));
        assert_eq!(row["fnan"], Value::Null);
        assert_eq!(row["whole"], s("2024-01-02T03:04:05Z"));
        assert_eq!(
            row["grid"],
            Value::List(vec![
                Value::List(vec![n(1), n(2)]),
                Value::List(vec![n(3), n(4)])
            ])
        );
        assert_eq!(row["empty"], Value::List(vec![]));
        assert_eq!(row["o"], n(1));
        assert_eq!(row["nm"], s("x"));
        assert_eq!(row["nothing"], Value::Null);

        // Nulls of every parameter type bind as typed NULLs.
        let nulls = vec![Value::Null; 24];
        src.query(&insert, &nulls, None).await.unwrap();
    }

    #[tokio::test]
    async fn id_string_against_integer_column_and_bad_input() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT name, price FROM products WHERE id = $1")
            .await
            .unwrap();
        assert_eq!(stmt.param_types, vec![Some("INT8".to_owned())]);
        let rows = src.query(&stmt, &[s("2")], None).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["name"], s("Chess"));
        assert_eq!(rows[0]["price"], s("20.00"));
        let rows = src.query(&stmt, &[n(3)], None).await.unwrap();
        assert_eq!(rows[0]["name"], s("Go"));

        let before = src.statements_executed();
        let err = src.query(&stmt, &[s("abc")], None).await.unwrap_err();
        match &err {
            ConnectorError::BadInput { message } => {
                assert_eq!(message, r#"expected an integer for $1, got "abc""#)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.public_message(),
            r#"expected an integer for $1, got "abc""#
        );
        assert_eq!(
            src.statements_executed(),
            before,
            "bad input never reaches the database"
        );
    }

    #[tokio::test]
    async fn injection_attempt_is_just_data() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
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
    async fn batched_keys_return_matching_rows() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
        seed(&src).await;
        let stmt = src
            .prepare("SELECT * FROM categories WHERE id IN ($keys) ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            stmt.sql,
            "SELECT * FROM categories WHERE id = ANY($1) ORDER BY id"
        );
        assert!(stmt.batched);
        assert!(stmt.param_types.is_empty());
        assert_eq!(stmt.key_type.as_deref(), Some("INT4"));
        let rows = src
            .query(
                &stmt,
                &[],
                Some(&[s("2"), s("1"), n(2), Value::Null, n(99)]),
            )
            .await
            .unwrap();
        let names: Vec<_> = rows.iter().map(|r| r["name"].clone()).collect();
        assert_eq!(names, [s("Books"), s("Games")]);
        assert!(src.query(&stmt, &[], Some(&[])).await.unwrap().is_empty());
        let err = src.query(&stmt, &[], Some(&[s("x")])).await.unwrap_err();
        match err {
            ConnectorError::BadInput { message } => {
                assert_eq!(message, r#"expected an integer for a key, got "x""#)
            }
            other => panic!("{other:?}"),
        }

        // Keys after positional parameters, and NOT IN.
        let stmt = src
            .prepare(
                "SELECT id FROM products WHERE category_id IN ($keys) AND price > $1 ORDER BY id",
            )
            .await
            .unwrap();
        assert_eq!(stmt.param_types, vec![Some("NUMERIC".to_owned())]);
        assert_eq!(stmt.key_type.as_deref(), Some("INT4"));
        let rows = src
            .query(&stmt, &[s("10")], Some(&[s("1"), s("2")]))
            .await
            .unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [n(2), n(3)]);
        let stmt = src
            .prepare("SELECT name FROM categories WHERE id NOT IN ($keys) ORDER BY id")
            .await
            .unwrap();
        let rows = src.query(&stmt, &[], Some(&[n(1), n(3)])).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["name"], s("Games"));

        // Text, UUID and enum keys.
        exec(
            &src,
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE TABLE people (id UUID PRIMARY KEY, code TEXT, m mood);
             INSERT INTO people VALUES
                 ('67e55044-10b1-426f-9247-bb680e5fe0c8', '007', 'happy'),
                 ('00000000-0000-0000-0000-000000000001', '42', 'sad');",
        )
        .await;
        let by_id = src
            .prepare("SELECT code FROM people WHERE id IN ($keys)")
            .await
            .unwrap();
        assert_eq!(by_id.key_type.as_deref(), Some("UUID"));
        let rows = src
            .query(
                &by_id,
                &[],
                Some(&[s("67E55044-10B1-426F-9247-BB680E5FE0C8")]),
            )
            .await
            .unwrap();
        assert_eq!(rows[0]["code"], s("007"));
        let by_code = src
            .prepare("SELECT code FROM people WHERE code IN ($keys) ORDER BY code")
            .await
            .unwrap();
        let rows = src
            .query(&by_code, &[], Some(&[s("007"), n(42)]))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        let by_mood = src
            .prepare("SELECT code FROM people WHERE m IN ($keys)")
            .await
            .unwrap();
        assert_eq!(by_mood.key_type.as_deref(), Some("mood"));
        let rows = src.query(&by_mood, &[], Some(&[s("sad")])).await.unwrap();
        assert_eq!(rows[0]["code"], s("42"));
        let mood_param = src
            .prepare("SELECT code FROM people WHERE m = $1")
            .await
            .unwrap();
        let rows = src.query(&mood_param, &[s("happy")], None).await.unwrap();
        assert_eq!(rows[0]["code"], s("007"));
    }

    #[tokio::test]
    async fn statement_timeout_is_a_timeout() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let mut options = db.options();
        options.statement_timeout = Duration::from_millis(300);
        let src = PostgresSource::connect(options).await.unwrap();
        let stmt = src.prepare("SELECT pg_sleep($1)").await.unwrap();
        let started = std::time::Instant::now();
        let err = src.query(&stmt, &[n(3)], None).await.unwrap_err();
        assert!(
            matches!(err, ConnectorError::DatabaseTimeout { .. }),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The connection is fine afterwards.
        let ok = src.prepare("SELECT 1 AS one").await.unwrap();
        assert_eq!(src.query(&ok, &[], None).await.unwrap()[0]["one"], n(1));
        // In a transaction too.
        let mut tx = src.begin().await.unwrap();
        let err = tx.query(&stmt, &[n(3)], None).await.unwrap_err();
        assert!(
            matches!(err, ConnectorError::DatabaseTimeout { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn statement_counter_counts_queries_only() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
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
        tx.query(&stmt, &[], Some(&[n(2)])).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(src.statements_executed(), 3);
    }

    #[tokio::test]
    async fn transaction_rolls_back_on_drop_and_commits() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
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
        assert_eq!(
            tx.query(&count, &[s("Temp")], None).await.unwrap()[0]["n"],
            n(1)
        );
        drop(tx);
        assert_eq!(
            src.query(&count, &[s("Temp")], None).await.unwrap()[0]["n"],
            n(0)
        );

        let mut tx = src.begin().await.unwrap();
        tx.query(&insert, &[s("Kept")], None).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            src.query(&count, &[s("Kept")], None).await.unwrap()[0]["n"],
            n(1)
        );

        let mut tx = src.begin().await.unwrap();
        let err = tx.query(&insert, &[s("Kept")], None).await.unwrap_err();
        match err {
            ConnectorError::Database { detail, .. } => {
                assert!(detail.contains("duplicate key"), "{detail}");
                assert!(
                    detail.contains("Key (name)=(Kept) already exists"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn describe_error_is_database_with_the_message() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
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
                assert!(
                    detail.starts_with(r#"column "nme" does not exist"#),
                    "{detail}"
                );
                assert!(detail.contains(r#"near "nme FROM products"#), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let err = src.prepare("SELECT * FROM nope").await.unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"relation "nope" does not exist"#),
            "{err}"
        );
        let err = src.prepare("SELECT $1 + $1").await.unwrap_err();
        assert!(err.to_string().contains("operator is not unique"), "{err}");
        assert!(err.to_string().contains("hint:"), "{err}");
    }

    #[tokio::test]
    async fn statement_prepared_elsewhere_is_described_on_first_use() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let a = db.source().await;
        seed(&a).await;
        let b = db.source().await;
        let stmt = a
            .prepare("SELECT name FROM categories WHERE id IN ($keys) AND name <> $1")
            .await
            .unwrap();
        let rows = b.query(&stmt, &[s("x")], Some(&[s("1")])).await.unwrap();
        assert_eq!(rows[0]["name"], s("Books"));
        let mut tx = b.begin().await.unwrap();
        let rows = tx.query(&stmt, &[s("x")], Some(&[s("2")])).await.unwrap();
        assert_eq!(rows[0]["name"], s("Games"));
    }

    #[tokio::test]
    async fn missing_database_is_unavailable() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let mut options = db.options();
        options.url = with_database(&db.url, "tributary_no_such_db");
        let err = PostgresSource::connect(options).await.unwrap_err();
        match err {
            ConnectorError::DatabaseUnavailable { detail, .. } => {
                assert!(detail.contains("does not exist"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn ping_close_and_migrate() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let src = db.source().await;
        let dir = std::env::temp_dir().join(format!(
            "tributary-pg-migrations-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("0001_create.sql"),
            "CREATE TABLE widgets (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
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
        match src.migrate(&dir).await.unwrap_err() {
            ConnectorError::Database { detail, .. } => {
                assert!(detail.contains("migration"), "{detail}");
                assert!(detail.contains("syntax error"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();

        src.ping().await.unwrap();
        src.close().await;
        assert!(matches!(
            src.ping().await.unwrap_err(),
            ConnectorError::DatabaseUnavailable { .. }
        ));
    }
}
