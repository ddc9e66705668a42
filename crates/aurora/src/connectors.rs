//! The connector kinds this build knows, for the server's [`ConnectorCatalog`] port: how each
//! kind's configuration is checked and how its health check reaches the system behind it.
//!
//! | kind | config | secrets | test |
//! |---|---|---|---|
//! | `prometheus` | [`PrometheusConfig`] | `token` (bearer) or `password` (basic) | `/-/ready` and the version, through the outbound URL guard |
//! | `alertmanager` | [`AlertmanagerConfig`] | `token` (bearer) or `password` (basic) | `/-/ready`, the version and cluster state from `/api/v2/status`, through the outbound URL guard |
//! | `snapshot` | `{"path": "<dir>"}`: a recorded telemetry snapshot directory | none | the directory holds at least one case `aurora_analysis::loaders::discover` recognises |

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_connectors::alertmanager::{self, AlertmanagerClient, AlertmanagerConfig};
use aurora_connectors::prometheus::{self, PrometheusClient, PrometheusConfig};
use aurora_connectors::ssrf::UrlPolicy;
use aurora_core::ids::OrgId;
use aurora_core::investigation::{Connector, ConnectorCheck};
use aurora_core::secrets::{SecretRef, SecretStore};
use aurora_server::investigations::{ConnectorCatalog, ConnectorKindInfo};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The kind of Prometheus connectors.
pub const PROMETHEUS: &str = "prometheus";
/// The kind of Alertmanager connectors.
pub const ALERTMANAGER: &str = "alertmanager";
/// The kind of recorded-snapshot connectors.
pub const SNAPSHOT: &str = "snapshot";

/// The connector kinds of this build.
pub struct BuiltinConnectors {
    secrets: Arc<dyn SecretStore>,
    policy: UrlPolicy,
}

impl BuiltinConnectors {
    /// `policy` guards every outbound request a connector makes.
    pub fn new(secrets: Arc<dyn SecretStore>, policy: UrlPolicy) -> Self {
        Self { secrets, policy }
    }

    /// A client for a `prometheus` connector, its secret read from the secret store.
    pub async fn prometheus_client(
        &self,
        org: OrgId,
        connector: &Connector,
    ) -> Result<PrometheusClient, String> {
        let config =
            PrometheusConfig::from_json(connector.config.clone()).map_err(|e| e.to_string())?;
        let secret = self.read_secret(org, config.auth.secret_ref()).await?;
        let credentials = config.auth.credentials(secret).map_err(|e| e.to_string())?;
        PrometheusClient::new(&config, credentials, &self.policy).map_err(|e| e.to_string())
    }

    /// A client for an `alertmanager` connector, its secret read from the secret store.
    pub async fn alertmanager_client(
        &self,
        org: OrgId,
        connector: &Connector,
    ) -> Result<AlertmanagerClient, String> {
        let config =
            AlertmanagerConfig::from_json(connector.config.clone()).map_err(|e| e.to_string())?;
        let secret = self.read_secret(org, config.auth.secret_ref()).await?;
        let credentials = config.credentials(secret).map_err(|e| e.to_string())?;
        AlertmanagerClient::new(&config, credentials, &self.policy).map_err(|e| e.to_string())
    }

    /// The value of a connector's secret, when its `auth` names one (either kind: Alertmanager's
    /// auth is Prometheus's).
    async fn read_secret(
        &self,
        org: OrgId,
        secret_ref: Option<&SecretRef>,
    ) -> Result<Option<SecretString>, String> {
        let Some(secret_ref) = secret_ref else {
            return Ok(None);
        };
        self.secrets
            .get(org, secret_ref)
            .await
            .map(Some)
            .map_err(|e| format!("cannot read the connector's secret: {e}"))
    }

    async fn test_alertmanager(&self, org: OrgId, connector: &Connector) -> Result<String, String> {
        let client = self.alertmanager_client(org, connector).await?;
        let report = alertmanager::check(&client)
            .await
            .map_err(|e| e.to_string())?;
        let cluster = report
            .cluster
            .filter(|c| c != "ready" && c != "disabled")
            .map_or_else(String::new, |c| format!("; its cluster is {c}"));
        readiness(ALERTMANAGER, report.ready, report.version, &cluster)
    }

    async fn test_prometheus(&self, org: OrgId, connector: &Connector) -> Result<String, String> {
        let client = self.prometheus_client(org, connector).await?;
        let report = prometheus::check(&client)
            .await
            .map_err(|e| e.to_string())?;
        readiness(PROMETHEUS, report.ready, report.version, "")
    }
}

/// The outcome of a health check that reached `kind`: ready (with `extra` said after the
/// version), or not ready yet.
fn readiness(
    kind: &str,
    ready: bool,
    version: Option<String>,
    extra: &str,
) -> Result<String, String> {
    let version = version.map_or_else(String::new, |v| format!(" (version {v})"));
    if ready {
        Ok(format!("{kind} answers and is ready{version}{extra}"))
    } else {
        Err(format!(
            "{kind} answers but is not ready yet{version}; try again shortly"
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotConfig {
    /// The snapshot directory on the Aurora server.
    path: PathBuf,
}

/// The directory of a `snapshot` connector.
pub fn snapshot_path(connector: &Connector) -> Result<PathBuf, String> {
    snapshot_config(&connector.config).map(|config| config.path)
}

fn snapshot_config(config: &Value) -> Result<SnapshotConfig, String> {
    let parsed: SnapshotConfig = serde_json::from_value(config.clone())
        .map_err(|e| format!("snapshot config: {e}; use {{\"path\": \"/path/to/snapshot\"}}"))?;
    if parsed.path.as_os_str().is_empty() {
        return Err("snapshot config: path is empty; give the snapshot directory".to_owned());
    }
    Ok(parsed)
}

fn test_snapshot(connector: &Connector) -> Result<String, String> {
    let config = snapshot_config(&connector.config)?;
    let path = config.path.display();
    if !config.path.is_dir() {
        return Err(format!(
            "{path} is not a directory on the Aurora server; check the path"
        ));
    }
    let cases = aurora_analysis::loaders::discover(&config.path).map_err(|e| e.to_string())?;
    match cases.len() {
        0 => Err(format!(
            "{path} holds no recorded case Aurora recognises; point it at a snapshot directory"
        )),
        1 => Ok(format!("{path} holds 1 case ({})", cases[0].id)),
        n => Ok(format!("{path} holds {n} cases")),
    }
}

/// Puts the reference of the given secret (`token` for bearer, `password` for basic) into the
/// `auth` section of a Prometheus or Alertmanager configuration; `kind` names it in errors.
fn with_auth_secret(
    kind: &str,
    config: &Value,
    secrets: &BTreeMap<String, SecretRef>,
    example_url: &str,
) -> Result<Value, String> {
    let mut config = config.clone();
    let Some(object) = config.as_object_mut() else {
        return Err(format!(
            "{kind} config must be a JSON object, e.g. {{\"url\": \"{example_url}\"}}"
        ));
    };
    let auth = object
        .entry("auth")
        .or_insert_with(|| json!({"type": "none"}));
    let Some(auth) = auth.as_object_mut() else {
        return Err(format!("{kind} config: auth must be an object with a type"));
    };
    if auth.contains_key("secret_ref") {
        return Err(format!(
            "{kind} config: auth.secret_ref is set by Aurora; give the token or password in secrets instead"
        ));
    }
    let auth_type = auth
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let (auth_type, field) = match (
        auth_type.as_str(),
        secrets.get("token"),
        secrets.get("password"),
    ) {
        (_, Some(_), Some(_)) => {
            return Err(
                "give either secrets.token (bearer) or secrets.password (basic), not both"
                    .to_owned(),
            );
        }
        ("none" | "bearer", Some(token), None) => ("bearer", Some(token)),
        ("basic", None, Some(password)) => ("basic", Some(password)),
        ("bearer", None, _) => {
            return Err("auth type bearer needs the token: give it in secrets.token".to_owned());
        }
        ("basic", _, None) => {
            return Err(
                "auth type basic needs the password: give it in secrets.password (and auth.username)"
                    .to_owned(),
            );
        }
        (other, _, _) if other != "none" => {
            return Err(format!(
                "{kind} config: auth type {other:?} is unknown; use none, bearer or basic"
            ));
        }
        ("none", None, Some(_)) => {
            return Err(
                "secrets.password needs auth {\"type\": \"basic\", \"username\": \"...\"}"
                    .to_owned(),
            );
        }
        _ => ("none", None),
    };
    auth.insert("type".to_owned(), Value::from(auth_type));
    if let Some(secret_ref) = field {
        auth.insert("secret_ref".to_owned(), Value::from(secret_ref.to_string()));
    }
    Ok(config)
}

/// Puts the reference of the given secret into the Prometheus `auth` section.
fn prometheus_config(
    config: &Value,
    secrets: &BTreeMap<String, SecretRef>,
    policy: &UrlPolicy,
) -> Result<Value, String> {
    let config = with_auth_secret(PROMETHEUS, config, secrets, "http://prometheus:9090")?;
    let parsed = PrometheusConfig::from_json(config.clone()).map_err(|e| e.to_string())?;
    // The outbound URL guard, before anything is stored: no request is made here.
    PrometheusClient::new(&parsed, prometheus::Credentials::None, policy)
        .map_err(|e| format!("prometheus config: {e}"))?;
    Ok(config)
}

/// Puts the reference of the given secret into the Alertmanager `auth` section.
fn alertmanager_config(
    config: &Value,
    secrets: &BTreeMap<String, SecretRef>,
    policy: &UrlPolicy,
) -> Result<Value, String> {
    let config = with_auth_secret(ALERTMANAGER, config, secrets, "http://alertmanager:9093")?;
    let parsed = AlertmanagerConfig::from_json(config.clone()).map_err(|e| e.to_string())?;
    // The outbound URL guard, before anything is stored: no request is made here.
    AlertmanagerClient::new(&parsed, alertmanager::Credentials::None, policy)
        .map_err(|e| format!("alertmanager config: {e}"))?;
    Ok(config)
}

#[async_trait]
impl ConnectorCatalog for BuiltinConnectors {
    fn kinds(&self) -> Vec<ConnectorKindInfo> {
        vec![
            ConnectorKindInfo {
                kind: PROMETHEUS.to_owned(),
                title: "Prometheus (or a compatible API: Thanos, Mimir, VictoriaMetrics)"
                    .to_owned(),
                config_example: json!({
                    "url": "http://prometheus.monitoring:9090",
                    "auth": {"type": "none"},
                    "timeout": "30s"
                }),
                secret_fields: vec!["token".to_owned(), "password".to_owned()],
            },
            ConnectorKindInfo {
                kind: ALERTMANAGER.to_owned(),
                title: "Alertmanager (read alerts and silences; silences created with approval)"
                    .to_owned(),
                config_example: json!({
                    "url": "http://alertmanager.monitoring:9093",
                    "auth": {"type": "none"},
                    "timeout": "30s"
                }),
                secret_fields: vec!["token".to_owned(), "password".to_owned()],
            },
            ConnectorKindInfo {
                kind: SNAPSHOT.to_owned(),
                title: "Recorded telemetry snapshot (a directory on the Aurora server)".to_owned(),
                config_example: json!({"path": "/var/lib/aurora/snapshots/checkout-outage"}),
                secret_fields: Vec::new(),
            },
        ]
    }

    fn validate(
        &self,
        kind: &str,
        config: &Value,
        secrets: &BTreeMap<String, SecretRef>,
    ) -> Result<Value, String> {
        match kind {
            PROMETHEUS => prometheus_config(config, secrets, &self.policy),
            ALERTMANAGER => alertmanager_config(config, secrets, &self.policy),
            SNAPSHOT => snapshot_config(config).map(|_| config.clone()),
            other => Err(format!("unknown connector kind {other:?}")),
        }
    }

    async fn test(&self, org: OrgId, connector: &Connector) -> ConnectorCheck {
        let outcome = match connector.kind.as_str() {
            PROMETHEUS => self.test_prometheus(org, connector).await,
            ALERTMANAGER => self.test_alertmanager(org, connector).await,
            SNAPSHOT => {
                // Walking the directory is blocking file IO.
                let connector = connector.clone();
                tokio::task::spawn_blocking(move || test_snapshot(&connector))
                    .await
                    .unwrap_or_else(|err| Err(format!("the check stopped: {err}")))
            }
            other => Err(format!(
                "this Aurora does not know connectors of kind {other:?}"
            )),
        };
        let (ok, message) = match outcome {
            Ok(message) => (true, message),
            Err(message) => (false, message),
        };
        ConnectorCheck {
            at: OffsetDateTime::now_utc(),
            ok,
            message,
        }
    }
}

#[cfg(test)]
mod tests;
