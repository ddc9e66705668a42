//! A self-contained Prometheus + node_exporter launcher: node_exporter serves a textfile
//! collector gauge the test writes, Prometheus scrapes it every second and evaluates one
//! alerting rule on it. Both listen on free 127.0.0.1 ports and are killed on drop.
//!
//! Binaries come from `AURORA_PROMETHEUS` and `AURORA_NODE_EXPORTER` (Debian's
//! `/usr/bin/prometheus` and `/usr/bin/prometheus-node-exporter`).
//!
//! [`Alertmanager`] runs a lone Alertmanager (`AURORA_ALERTMANAGER`, Debian's
//! `/usr/bin/prometheus-alertmanager`) with a receiver that sends nothing; tests post alerts to
//! it themselves.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PROMETHEUS_ENV: &str = "AURORA_PROMETHEUS";
pub const NODE_EXPORTER_ENV: &str = "AURORA_NODE_EXPORTER";
pub const ALERTMANAGER_ENV: &str = "AURORA_ALERTMANAGER";
/// The alert the rule raises while `aurora_test_condition > 0`.
pub const ALERT_NAME: &str = "AuroraTestCondition";

fn binary(var: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{var} is not set"))?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{var}={} is not a file", path.display()))
    }
}

/// The binaries, or why the test skips.
pub fn binaries() -> Result<(PathBuf, PathBuf), String> {
    Ok((binary(PROMETHEUS_ENV)?, binary(NODE_EXPORTER_ENV)?))
}

/// The Alertmanager binary, or why the test skips.
pub fn alertmanager_binary() -> Result<PathBuf, String> {
    binary(ALERTMANAGER_ENV)
}

struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, dir: &Path, command: &mut Command) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// node_exporter and Prometheus, running.
pub struct Stack {
    pub url: String,
    textfile_dir: PathBuf,
    // Dropped (killed) before the directory is removed.
    prometheus: Process,
    node_exporter: Process,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Stack {
    /// Starts both (condition 0, latency 0.1) and waits until Prometheus has scraped the gauge.
    pub async fn start(prometheus: &Path, node_exporter: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let textfile_dir = root.join("textfile");
        std::fs::create_dir_all(&textfile_dir).expect("textfile dir");
        write_metrics(&textfile_dir, 0.0, 0.1, 10.0);

        let ne_port = free_port();
        let node_exporter = Process::spawn(
            "node_exporter",
            &root,
            Command::new(node_exporter).args([
                format!("--web.listen-address=127.0.0.1:{ne_port}"),
                "--collector.disable-defaults".to_owned(),
                "--collector.textfile".to_owned(),
                "--collector.loadavg".to_owned(),
                "--collector.meminfo".to_owned(),
                format!("--collector.textfile.directory={}", textfile_dir.display()),
            ]),
        );

        std::fs::write(root.join("rules.yml"), RULES).expect("write rules");
        std::fs::write(root.join("prometheus.yml"), prometheus_config(ne_port))
            .expect("write config");
        let prom_port = free_port();
        let prometheus = Process::spawn(
            "prometheus",
            &root,
            Command::new(prometheus).current_dir(&root).args([
                format!("--config.file={}", root.join("prometheus.yml").display()),
                format!("--storage.tsdb.path={}", root.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ]),
        );
        let stack = Self {
            url: format!("http://127.0.0.1:{prom_port}"),
            textfile_dir,
            prometheus,
            node_exporter,
            _dir: dir,
        };
        stack
            .wait_for(
                "prometheus to scrape aurora_test_condition",
                Duration::from_secs(30),
                |body| body.contains("aurora_test_condition"),
                "api/v1/query?query=aurora_test_condition",
            )
            .await;
        stack
    }

    /// Rewrites the textfile gauges.
    pub fn set(&self, condition: f64, latency: f64, requests: f64) {
        write_metrics(&self.textfile_dir, condition, latency, requests);
    }

    /// Polls `path` until `done(body)`, or panics with both logs.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
        path: &str,
    ) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        let url = format!("{}/{path}", self.url);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && let Ok(body) = response.text().await
                && done(&body)
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn logs(&self) -> String {
        [&self.node_exporter, &self.prometheus]
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn write_metrics(dir: &Path, condition: f64, latency: f64, requests: f64) {
    let text = format!(
        "# HELP aurora_test_condition The test's condition.\n\
         # TYPE aurora_test_condition gauge\n\
         aurora_test_condition{{service=\"checkout\"}} {condition}\n\
         # HELP checkout_request_latency_seconds Mean request latency.\n\
         # TYPE checkout_request_latency_seconds gauge\n\
         checkout_request_latency_seconds{{service=\"checkout\"}} {latency}\n\
         # HELP checkout_requests_total Requests served.\n\
         # TYPE checkout_requests_total counter\n\
         checkout_requests_total{{service=\"checkout\"}} {requests}\n"
    );
    // Written aside and renamed, so node_exporter never reads half a file.
    let tmp = dir.join("aurora.prom.tmp");
    std::fs::write(&tmp, text).expect("write textfile");
    std::fs::rename(&tmp, dir.join("aurora.prom")).expect("rename textfile");
}

const RULES: &str = r#"groups:
  - name: aurora-test
    interval: 1s
    rules:
      - alert: AuroraTestCondition
        expr: aurora_test_condition > 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: the test condition holds
      - record: checkout:latency:max
        expr: max(checkout_request_latency_seconds)
"#;

fn prometheus_config(node_exporter_port: u16) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{node_exporter_port}"]
"#
    )
}

/// A lone Alertmanager on a free loopback port, no clustering, routing everything to a receiver
/// that notifies nobody. Killed on drop.
pub struct Alertmanager {
    pub url: String,
    // Dropped (killed) before the directory is removed.
    process: Process,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it and waits until `/-/ready` answers.
    pub async fn start(binary: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("alertmanager.yml"), ALERTMANAGER_CONFIG)
            .expect("write alertmanager.yml");
        let port = free_port();
        let process = Process::spawn(
            "alertmanager",
            &root,
            Command::new(binary).current_dir(&root).args([
                format!("--config.file={}", root.join("alertmanager.yml").display()),
                format!("--storage.path={}", root.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // No gossip: keeps Alertmanager off the network.
                "--cluster.listen-address=".to_owned(),
            ]),
        );
        let am = Self {
            url: format!("http://127.0.0.1:{port}"),
            process,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{}/-/ready", am.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return am;
            }
            if Instant::now() > deadline {
                panic!("alertmanager not ready at {}\n{}", am.url, am.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Posts alerts (`POST /api/v2/alerts`), as Prometheus would.
    pub async fn post_alerts(&self, alerts: serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .expect("post alerts");
        assert!(
            response.status().is_success(),
            "posting alerts: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// `GET` a path of its API as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/{path}", self.url))
            .send()
            .await
            .expect("get from alertmanager")
            .json()
            .await
            .expect("alertmanager JSON")
    }

    pub fn logs(&self) -> String {
        format!("--- {} ---\n{}", self.process.name, self.process.log_tail())
    }
}

const ALERTMANAGER_CONFIG: &str = r#"route:
  receiver: nobody
  group_by: ["alertname"]
receivers:
  - name: nobody
"#;
