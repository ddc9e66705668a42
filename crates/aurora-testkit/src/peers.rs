//! Real peers for tests, started as child processes on free loopback ports in a temporary
//! directory of their own: Prometheus scraping node_exporter and alerting to Alertmanager, whose
//! webhook receiver points at a spawned Aurora ([`PrometheusStack`]), and a NATS server with
//! JetStream ([`NatsServer`]).
//!
//! Binaries come from environment variables that `.ci/run` exports (Debian's packages); a test
//! asks [`PrometheusBinaries::from_env`] or [`nats_server_from_env`] and skips with the reason
//! when they are unset. The Debian packages' own services are never used: every process here is
//! started by the test, listens on 127.0.0.1 only, and is killed when its handle is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Path of the Prometheus server binary (`/usr/bin/prometheus`).
pub const PROMETHEUS_ENV: &str = "AURORA_PROMETHEUS";
/// Path of the Alertmanager binary (`/usr/bin/prometheus-alertmanager`).
pub const ALERTMANAGER_ENV: &str = "AURORA_ALERTMANAGER";
/// Path of the node_exporter binary (`/usr/bin/prometheus-node-exporter`).
pub const NODE_EXPORTER_ENV: &str = "AURORA_NODE_EXPORTER";
/// Path of the NATS server binary (`/usr/bin/nats-server`).
pub const NATS_SERVER_ENV: &str = "AURORA_NATS_SERVER";

/// The name of the alert [`PrometheusStack`]'s rule raises while the condition holds.
pub const TEST_ALERT_NAME: &str = "AuroraTestCondition";
/// The service label of that alert.
pub const TEST_ALERT_SERVICE: &str = "checkout";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a free loopback port")
}

/// Where the Prometheus, Alertmanager and node_exporter binaries are.
#[derive(Clone, Debug)]
pub struct PrometheusBinaries {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
    pub node_exporter: PathBuf,
}

impl PrometheusBinaries {
    /// The binaries named by [`PROMETHEUS_ENV`], [`ALERTMANAGER_ENV`] and [`NODE_EXPORTER_ENV`],
    /// or why the test has to skip.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            prometheus: binary_from_env(PROMETHEUS_ENV)?,
            alertmanager: binary_from_env(ALERTMANAGER_ENV)?,
            node_exporter: binary_from_env(NODE_EXPORTER_ENV)?,
        })
    }
}

/// The NATS server binary named by [`NATS_SERVER_ENV`], or why the test has to skip.
pub fn nats_server_from_env() -> Result<PathBuf, String> {
    binary_from_env(NATS_SERVER_ENV)
}

fn binary_from_env(var: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{var} is not set (bash .ci/run sets it)"))?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{var}={} is not a file", path.display()))
    }
}

/// A child process whose output goes to a log file, killed and reaped on drop.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, dir: &Path, command: &mut Command) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create a peer log file");
        let err = out.try_clone().expect("clone a peer log file");
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, log }
    }

    /// The last lines of its log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `url` answers 2xx; panics with the log tail if the process exits or it takes
    /// longer than [`READY_TIMEOUT`].
    async fn wait_ready(&mut self, url: &str) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let answered = client
                .get(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return;
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "{} not ready at {url} after {READY_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where Alertmanager sends its notifications: an Aurora webhook URL and the source's secret,
/// sent as `Authorization: Bearer <secret>`.
#[derive(Clone, Debug)]
pub struct WebhookReceiver {
    pub url: String,
    pub bearer: String,
}

/// node_exporter, Prometheus scraping it every second with one alerting rule, and Alertmanager
/// notifying a webhook. The rule fires while the test's condition holds: a gauge
/// `aurora_test_condition` that [`PrometheusStack::set_condition`] writes into node_exporter's
/// textfile collector directory. The alert is [`TEST_ALERT_NAME`], severity `critical`,
/// service [`TEST_ALERT_SERVICE`], `for: 0s`; Alertmanager groups for 1 s and sends resolved
/// notifications.
pub struct PrometheusStack {
    textfile_dir: PathBuf,
    prometheus_url: String,
    alertmanager_url: String,
    // Dropped (killed) before the directory is removed.
    alertmanager: Process,
    prometheus: Process,
    node_exporter: Process,
    _dir: TempDir,
}

impl PrometheusStack {
    /// Starts the three processes (condition false) and waits until each is ready.
    pub async fn start(binaries: &PrometheusBinaries, receiver: &WebhookReceiver) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for prometheus peers");
        let root = dir.path();
        let textfile_dir = root.join("textfile");
        std::fs::create_dir_all(&textfile_dir).expect("create textfile dir");
        write_condition(&textfile_dir, 0.0);

        let (ne_port, prom_port, am_port) = (free_port(), free_port(), free_port());
        let mut node_exporter = Process::spawn(
            "node_exporter",
            root,
            Command::new(&binaries.node_exporter).args([
                format!("--web.listen-address=127.0.0.1:{ne_port}"),
                "--collector.disable-defaults".to_owned(),
                "--collector.textfile".to_owned(),
                format!("--collector.textfile.directory={}", textfile_dir.display()),
            ]),
        );

        let am_config = root.join("alertmanager.yml");
        std::fs::write(&am_config, alertmanager_config(receiver)).expect("write alertmanager.yml");
        let mut alertmanager = Process::spawn(
            "alertmanager",
            root,
            Command::new(&binaries.alertmanager).args([
                format!("--config.file={}", am_config.display()),
                format!(
                    "--storage.path={}",
                    root.join("alertmanager-data").display()
                ),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
                // No gossip: keeps Alertmanager off the network.
                "--cluster.listen-address=".to_owned(),
            ]),
        );

        std::fs::write(root.join("rules.yml"), RULES).expect("write rules.yml");
        let prom_config = root.join("prometheus.yml");
        std::fs::write(&prom_config, prometheus_config(ne_port, am_port))
            .expect("write prometheus.yml");
        let mut prometheus = Process::spawn(
            "prometheus",
            root,
            Command::new(&binaries.prometheus).args([
                format!("--config.file={}", prom_config.display()),
                format!(
                    "--storage.tsdb.path={}",
                    root.join("prometheus-data").display()
                ),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
                // Send firing and resolved alerts to Alertmanager at once, not once a minute.
                "--rules.alert.resend-delay=1s".to_owned(),
            ]),
        );

        let prometheus_url = format!("http://127.0.0.1:{prom_port}");
        let alertmanager_url = format!("http://127.0.0.1:{am_port}");
        node_exporter
            .wait_ready(&format!("http://127.0.0.1:{ne_port}/metrics"))
            .await;
        alertmanager
            .wait_ready(&format!("{alertmanager_url}/-/ready"))
            .await;
        prometheus
            .wait_ready(&format!("{prometheus_url}/-/ready"))
            .await;
        Self {
            textfile_dir,
            prometheus_url,
            alertmanager_url,
            alertmanager,
            prometheus,
            node_exporter,
            _dir: dir,
        }
    }

    /// Sets the gauge the rule watches: above zero the alert fires, zero clears it.
    pub fn set_condition(&self, value: f64) {
        write_condition(&self.textfile_dir, value);
    }

    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }

    pub fn alertmanager_url(&self) -> &str {
        &self.alertmanager_url
    }

    /// The tails of the three logs, for a failing test's message.
    pub fn logs(&self) -> String {
        [&self.node_exporter, &self.prometheus, &self.alertmanager]
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Writes the textfile atomically (write, then rename), as node_exporter's docs ask.
fn write_condition(dir: &Path, value: f64) {
    let tmp = dir.join("aurora.prom.tmp");
    let text = format!(
        "# HELP aurora_test_condition Set by an Aurora test: above zero fires {TEST_ALERT_NAME}.\n\
         # TYPE aurora_test_condition gauge\n\
         aurora_test_condition {value}\n"
    );
    std::fs::write(&tmp, text).expect("write the textfile metric");
    std::fs::rename(&tmp, dir.join("aurora.prom")).expect("rename the textfile metric");
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
          service: checkout
        annotations:
          summary: the test condition holds
          description: aurora_test_condition is above zero
"#;

fn prometheus_config(node_exporter_port: u16, alertmanager_port: u16) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{alertmanager_port}"]
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{node_exporter_port}"]
"#
    )
}

fn alertmanager_config(receiver: &WebhookReceiver) -> String {
    format!(
        r#"route:
  receiver: aurora
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: aurora
    webhook_configs:
      - url: {url:?}
        send_resolved: true
        http_config:
          authorization:
            credentials: {bearer:?}
"#,
        url = receiver.url,
        bearer = receiver.bearer,
    )
}

/// `nats-server -js` on a free loopback port, its JetStream store in a temporary directory.
pub struct NatsServer {
    url: String,
    process: Process,
    _dir: TempDir,
}

impl NatsServer {
    /// Starts the server and waits until its monitoring endpoint reports it healthy.
    pub async fn start(binary: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for nats-server");
        let (port, monitor_port) = (free_port(), free_port());
        let mut process = Process::spawn(
            "nats-server",
            dir.path(),
            Command::new(binary).args([
                "-js".to_owned(),
                "-a".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
                "-m".to_owned(),
                monitor_port.to_string(),
                "-sd".to_owned(),
                dir.path().join("jetstream").display().to_string(),
            ]),
        );
        process
            .wait_ready(&format!("http://127.0.0.1:{monitor_port}/healthz"))
            .await;
        Self {
            url: format!("nats://127.0.0.1:{port}"),
            process,
            _dir: dir,
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The tail of the server's log, for a failing test's message.
    pub fn log(&self) -> String {
        self.process.log_tail()
    }
}

/// The Alertmanager binary named by [`ALERTMANAGER_ENV`], or why the test has to skip.
pub fn alertmanager_from_env() -> Result<PathBuf, String> {
    binary_from_env(ALERTMANAGER_ENV)
}

/// A lone Alertmanager (no Prometheus, no clustering) whose one receiver notifies nobody: a
/// system for tools to read and change (silences).
pub struct Alertmanager {
    url: String,
    // Dropped (killed) before the directory is removed.
    process: Process,
    _dir: TempDir,
}

impl Alertmanager {
    /// Starts it on a free port and waits until it is ready.
    pub async fn start(binary: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for alertmanager");
        let root = dir.path();
        let config = root.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
        )
        .expect("write alertmanager.yml");
        let port = free_port();
        let mut process = Process::spawn(
            "alertmanager",
            root,
            Command::new(binary).args([
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", root.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--cluster.listen-address=".to_owned(),
            ]),
        );
        let url = format!("http://127.0.0.1:{port}");
        process.wait_ready(&format!("{url}/-/ready")).await;
        Self {
            url,
            process,
            _dir: dir,
        }
    }

    /// Its API root, e.g. `http://127.0.0.1:9093`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its silences (`GET /api/v2/silences`).
    pub async fn silences(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/api/v2/silences", self.url))
            .send()
            .await
            .expect("GET /api/v2/silences")
            .json()
            .await
            .expect("silences as JSON")
    }

    /// The last lines of its log, for failure messages.
    pub fn logs(&self) -> String {
        self.process.log_tail()
    }
}
