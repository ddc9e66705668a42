//! Black-box tests of the running application over HTTP, through the CLI binary, and in a
//! headless browser. Each test starts its own Aurora (see `aurora_testkit::spawn_app`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod accounts;
mod browser;
mod chat;
mod cli;
mod cloudwatch;
mod crash;
mod demo;
mod http;
mod incidents;
mod investigations;
mod jobs;
mod knowledge;
mod openapi;
mod peers;
mod signals;
mod ui;
