//! Project automation: benchmarks that build the release binary, run it, and print figures.
//!
//! - `cargo run -p xtask -- bench-serve`: start-up time, memory, binary size, authenticated
//!   request throughput (with `wrk`).
//! - `cargo run -p xtask -- bench-ingest`: Alertmanager deliveries per second, latency at a
//!   fixed request rate, memory, and a count check. Set `AURORA_BENCH_DATABASE_URL` to run it
//!   on PostgreSQL instead of SQLite.
//! - `cargo run -p xtask -- bench-investigate`: from an alert's arrival to the start of its
//!   incident's investigation.
//! - `cargo run -p xtask -- bench-kb-ingest [--pages N] [--model-dir DIR]`: `aurora kb add` over
//!   generated PDF, DOCX, Markdown and HTML documents; pages/s, chunks/s and peak RSS.
//! - `cargo run -p xtask -- bench-chat [--sessions N] [--rounds R]`: N concurrent chat
//!   WebSocket sessions against a scripted streaming model: memory per idle session, added
//!   latency to the first token (p50/p95/p99/max), and a cross-talk check.

mod bench_kb_ingest;
mod chat;
mod common;
mod http;
mod ingest;
mod investigate;
mod serve;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo run -p xtask -- bench-serve | bench-ingest | bench-investigate | bench-kb-ingest | bench-chat";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let outcome = match task.as_str() {
        "bench-serve" => serve::run(),
        "bench-ingest" => ingest::run(),
        "bench-investigate" => investigate::run(),
        "bench-kb-ingest" => bench_kb_ingest::run(),
        "bench-chat" => chat::run(),
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
