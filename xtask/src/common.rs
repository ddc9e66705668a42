//! What every benchmark needs: the release binary, a server on a free port with its own data
//! directory, an admin token, and process measurements.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

const BENCH_EMAIL: &str = "bench@example.com";
const BENCH_PASSWORD: &str = "benchmark password";

/// A temporary data directory, removed when dropped.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("aurora-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The release binary to measure: `AURORA_BENCH_BINARY` when set (a build kept aside), else a
/// fresh `cargo build --release -p aurora`.
pub fn build_release() -> Result<PathBuf> {
    if let Some(binary) = std::env::var_os("AURORA_BENCH_BINARY") {
        return Ok(PathBuf::from(binary));
    }
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

/// `aurora` with its data in `data`, and the settings in `data/aurora.toml` when a benchmark
/// wrote one (for instance to point it at PostgreSQL).
pub fn aurora(binary: &Path, data: &Path) -> Command {
    let mut command = Command::new(binary);
    let config = data.join("aurora.toml");
    if config.exists() {
        command.arg("--config").arg(config);
    }
    command
        .env("AURORA__DATA_DIR", data)
        .env("AURORA__LOG__LEVEL", "warn")
        .env_remove("AURORA_CONFIG")
        .env_remove("RUST_LOG");
    command
}

pub fn start(binary: &Path, data: &Path, port: u16) -> Result<(Child, Duration)> {
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

pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Creates the benchmark's admin with `command`, an `aurora` invocation ready for arguments.
pub fn create_admin(mut command: Command) -> Result<()> {
    let mut create = command
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
    Ok(())
}

pub fn admin_token(binary: &Path, data: &Path) -> Result<String> {
    create_admin(aurora(binary, data))?;
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

pub fn get_status(port: u16, path: &str) -> Option<u16> {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

pub fn get_status_auth(port: u16, path: &str, token: &str) -> Option<u16> {
    request(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
}

pub fn request(port: u16, raw: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(raw.as_bytes()).ok()?;
    let mut first = String::new();
    std::io::BufReader::new(&mut stream)
        .read_line(&mut first)
        .ok()?;
    first.split_whitespace().nth(1)?.parse().ok()
}

pub fn rss_mib(pid: u32) -> Result<f64> {
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

pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
