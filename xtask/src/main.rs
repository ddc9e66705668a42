//! Project automation. `cargo run -p xtask -- bench-serve` builds the release binary and prints
//! start-up time, memory, binary size and authenticated request throughput.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const BENCH_EMAIL: &str = "bench@example.com";
const BENCH_PASSWORD: &str = "benchmark password";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let outcome = match task.as_str() {
        "bench-serve" => bench_serve(),
        _ => Err("usage: cargo run -p xtask -- bench-serve".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn bench_serve() -> Result<()> {
    let binary = build_release()?;
    let data = std::env::temp_dir().join(format!("aurora-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let outcome = measure(&binary, &data);
    let _ = std::fs::remove_dir_all(&data);
    outcome
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

fn build_release() -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "aurora"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("release build failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    Ok(target.join("release/aurora"))
}

fn aurora(binary: &Path, data: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env("AURORA__DATA_DIR", data)
        .env("AURORA__LOG__LEVEL", "warn")
        .env_remove("AURORA_CONFIG")
        .env_remove("RUST_LOG");
    command
}

fn start(binary: &Path, data: &Path, port: u16) -> Result<(Child, Duration)> {
    let began = Instant::now();
    let mut child = aurora(binary, data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start aurora: {e}"))?;
    while began.elapsed() < Duration::from_secs(30) {
        if get_status(port, "/readyz") == Some(200) {
            return Ok((child, began.elapsed()));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("aurora exited early: {status}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    Err("aurora did not become ready within 30 s".into())
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn admin_token(binary: &Path, data: &Path) -> Result<String> {
    let mut create = aurora(binary, data)
        .args([
            "admin",
            "create-user",
            "--email",
            BENCH_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = create.stdin.take() {
        writeln!(stdin, "{BENCH_PASSWORD}").map_err(|e| e.to_string())?;
    }
    if !create.wait().map_err(|e| e.to_string())?.success() {
        return Err("aurora admin create-user failed".into());
    }
    let out = aurora(binary, data)
        .args([
            "admin",
            "create-token",
            "--email",
            BENCH_EMAIL,
            "--name",
            "bench",
        ])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if token.is_empty() {
        return Err("aurora admin create-token printed no token".into());
    }
    Ok(token)
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

fn get_status(port: u16, path: &str) -> Option<u16> {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

fn get_status_auth(port: u16, path: &str, token: &str) -> Option<u16> {
    request(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn request(port: u16, raw: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(raw.as_bytes()).ok()?;
    let mut first = String::new();
    std::io::BufReader::new(&mut stream)
        .read_line(&mut first)
        .ok()?;
    first.split_whitespace().nth(1)?.parse().ok()
}

fn rss_mib(pid: u32) -> Result<f64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or("no VmRSS in /proc status")?;
    Ok(kib / 1024.0)
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
