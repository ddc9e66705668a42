//! One fresh store per backend for each test.

use std::future::Future;

use aurora_store::{DatabaseConfig, SqlStore};

pub const DATABASE_URL_ENV: &str = "AURORA_TEST_DATABASE_URL";

/// Runs `test` against a migrated, empty SQLite store and, when configured, PostgreSQL store.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
    test(connect(&url).await).await;

    match std::env::var(DATABASE_URL_ENV) {
        Ok(admin_url) => {
            let url = fresh_postgres_database(&admin_url).await;
            test(connect(&url).await).await;
        }
        Err(_) => eprintln!("{DATABASE_URL_ENV} is not set: PostgreSQL conformance skipped"),
    }
}

async fn connect(url: &str) -> SqlStore {
    let store = SqlStore::connect(url, &DatabaseConfig::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// Creates a database named after a fresh UUID on the server of `admin_url`; returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("aurora_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to AURORA_TEST_DATABASE_URL");
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await
    .expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}
