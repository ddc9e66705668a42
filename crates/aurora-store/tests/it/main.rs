//! Conformance tests of the Store port: every test runs on SQLite, and on PostgreSQL too when
//! `AURORA_TEST_DATABASE_URL` points at a server (each test gets a database of its own).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod accounts;
mod blobs;
mod chat;
mod harness;
mod investigations;
mod jobs;
mod knowledge;
mod signals;
