//! Conformance tests of the Store port: every test runs on SQLite, and on PostgreSQL too when
//! `AURORA_TEST_DATABASE_URL` points at a server (each test gets a database of its own).

mod accounts;
mod harness;
