//! Reading the test database directly (not through Tributary), to check what the server did.

use std::str::FromStr;

use sqlx::Connection;

use crate::helpers::{Backend, TestDb};

/// Runs `sql` (one integer column per row) directly against the database.
pub async fn ints(db: &TestDb, sql: &str) -> Vec<i64> {
    match db.backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).expect("sqlite url");
            let mut conn = sqlx::SqliteConnection::connect_with(&opts)
                .await
                .expect("connect sqlite");
            let rows: Vec<i64> = sqlx::query_scalar(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query sqlite");
            let _ = conn.close().await;
            rows
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("connect postgres");
            let rows: Vec<i64> = sqlx::query_scalar(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query postgres");
            let _ = conn.close().await;
            rows
        }
    }
}

/// Runs `sql` (two integer columns per row) directly against the database.
pub async fn int_pairs(db: &TestDb, sql: &str) -> Vec<(i64, i64)> {
    match db.backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).expect("sqlite url");
            let mut conn = sqlx::SqliteConnection::connect_with(&opts)
                .await
                .expect("connect sqlite");
            let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query sqlite");
            let _ = conn.close().await;
            rows
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("connect postgres");
            let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query postgres");
            let _ = conn.close().await;
            rows
        }
    }
}

/// `SELECT COUNT(*) FROM table`, read directly.
pub async fn count(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
    ints(db, &sql).await[0]
}
