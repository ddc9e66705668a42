//! `bench-serve`: start-up, memory, size and authenticated throughput.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{
    DataDir, Result, admin_token, build_release, free_port, get_status_auth, ms, rss_mib, start,
    stop,
};

pub fn run() -> Result<()> {
    let binary = build_release()?;
    let data = DataDir::new("bench-serve");
    measure(&binary, &data.0)
}

fn measure(binary: &Path, data: &Path) -> Result<()> {
    let size = std::fs::metadata(binary).map_err(|e| e.to_string())?.len();
    println!(
        "release binary            {:>10.1} MiB  ({})",
        size as f64 / 1_048_576.0,
        binary.display()
    );

    // First start: creates the data directory, database, key file and schema.
    let port = free_port()?;
    let (mut server, first_ready) = start(binary, data, port)?;
    println!(
        "cold start to ready       {:>10.0} ms  (first run: new database and migrations)",
        ms(first_ready)
    );
    stop(&mut server);

    let (mut server, ready) = start(binary, data, port)?;
    println!(
        "cold start to ready       {:>10.0} ms  (existing data directory)",
        ms(ready)
    );
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "idle RSS after start      {:>10.1} MiB",
        rss_mib(server.id())?
    );
    stop(&mut server);

    let token = admin_token(binary, data)?;
    let (mut server, _) = start(binary, data, port)?;
    let result = load(port, &token);
    println!(
        "RSS after load            {:>10.1} MiB",
        rss_mib(server.id())?
    );
    stop(&mut server);
    result
}

/// `wrk` against `GET /api/v1/me` with the bearer token: 2 threads, 64 connections, 10 s.
fn load(port: u16, token: &str) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}/api/v1/me");
    if get_status_auth(port, "/api/v1/me", token) != Some(200) {
        return Err("GET /api/v1/me with the token did not answer 200".into());
    }
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c64",
            "-d10s",
            "--latency",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &url,
        ])
        .output()
        .map_err(|e| format!("cannot run wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().to_owned())
            .unwrap_or_default()
    };
    println!("GET /api/v1/me (bearer)   {}", find("Requests/sec:"));
    println!(
        "                          latency {} | {} | {}",
        find("50%"),
        find("99%"),
        find("Non-2xx")
    );
    Ok(())
}
