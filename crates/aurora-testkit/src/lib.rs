//! Test support: [`spawn_app`] starts a real Aurora on a free port with a database of its own;
//! [`Browser`] drives Debian's headless Chromium through chromedriver; [`peers`] starts
//! Prometheus, Alertmanager, node_exporter and NATS; [`sns::TestSnsFetcher`] stands in for Amazon
//! SNS.
//!
//! Tests that need a real peer find it through an environment variable and say so when it is
//! missing: `AURORA_TEST_DATABASE_URL` (PostgreSQL), `AURORA_CHROMEDRIVER` and
//! `AURORA_CHROMIUM` (browser), `AURORA_PROMETHEUS`, `AURORA_ALERTMANAGER`,
//! `AURORA_NODE_EXPORTER` and `AURORA_NATS_SERVER` (see [`peers`]).

mod app;
mod browser;
pub mod llm;
pub mod peers;
pub mod sns;

pub use app::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, client, hidden_field, spawn_app, spawn_app_with,
};
pub use browser::Browser;

/// Environment variable naming a PostgreSQL server for tests (a database is created per test).
pub const DATABASE_URL_ENV: &str = "AURORA_TEST_DATABASE_URL";

/// Creates a database named after a fresh UUID on the server of `admin_url` and returns its URL.
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
