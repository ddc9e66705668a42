//! A client for Alertmanager's HTTP API v2 (`/api/v2`), over reqwest with the SSRF guard's
//! resolver. Shapes follow
//! <https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>: plain JSON bodies
//! (no envelope); errors are a JSON string or `{"code": …, "message": …}`.

use std::collections::BTreeMap;

use aurora_core::tool::ToolError;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::{AlertmanagerConfig, ConfigError, Credentials};
use crate::http::{self, HttpEndpoint, snippet};
use crate::ssrf::{SsrfError, UrlPolicy};

/// Largest response body read; larger answers are refused with a hint to filter.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Why an Alertmanager request failed. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The outbound URL guard refused the URL or an address it resolved to.
    #[error(transparent)]
    Refused(#[from] SsrfError),
    /// No answer within the configured timeout.
    #[error(
        "alertmanager at {url} did not answer within {secs} s; check that it is up and \
         reachable, or raise the connector's timeout"
    )]
    Timeout { url: String, secs: u64 },
    /// The connection failed (refused, unresolvable host, TLS, reset).
    #[error(
        "could not reach alertmanager at {url}: {detail}; check the url and that alertmanager is \
         running"
    )]
    Unreachable { url: String, detail: String },
    /// HTTP 401 or 403.
    #[error(
        "alertmanager at {url} refused the credentials (HTTP {status}); check the connector's \
         auth and its secret"
    )]
    Unauthorized { url: String, status: u16 },
    /// HTTP 404: usually a wrong URL or path prefix.
    #[error(
        "{url} has no {path} (HTTP 404); check that the url points at Alertmanager (API v2), with \
         its path prefix if it has one"
    )]
    NotFound { url: String, path: String },
    /// HTTP 400 or 422: Alertmanager refused what was asked (a bad matcher, a bad silence).
    #[error("alertmanager refused the request: {0}")]
    BadRequest(String),
    /// Another HTTP error.
    #[error("alertmanager at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// The answer is not Alertmanager API JSON of the expected shape.
    #[error("unexpected answer from alertmanager at {url}: {detail}")]
    Decode { url: String, detail: String },
    /// The request was refused before it was sent.
    #[error("{0}")]
    InvalidRequest(String),
}

http::endpoint_error!(AlertmanagerError, ConfigError);

impl From<AlertmanagerError> for ToolError {
    fn from(error: AlertmanagerError) -> Self {
        match error {
            AlertmanagerError::Timeout { secs, .. } => ToolError::Timeout(secs),
            AlertmanagerError::BadRequest(message) => ToolError::InvalidArguments(format!(
                "alertmanager refused the request: {message}; fix the arguments and retry"
            )),
            AlertmanagerError::InvalidRequest(message) => ToolError::InvalidArguments(message),
            other => ToolError::Failed(other.to_string()),
        }
    }
}

/// A label matcher, as Alertmanager's API writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The value, or a regular expression when [`Self::is_regex`].
    pub value: String,
    /// Whether `value` is a regular expression (anchored, RE2 syntax).
    #[serde(default)]
    pub is_regex: bool,
    /// `true` for `=`/`=~`, `false` for `!=`/`!~`. Alertmanager before 0.22 leaves it out.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// The matcher in Alertmanager's text notation: `name="value"`, `name!~"re"`.
    pub fn to_text(&self) -> String {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        format!("{}{op}{:?}", self.name, self.value)
    }
}

/// An alert from `GET /api/v2/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Its labels, `alertname` included.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, `runbook_url`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default)]
    pub starts_at: String,
    /// RFC 3339; in the future while the alert is firing.
    #[serde(default)]
    pub ends_at: String,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: String,
    /// Link to what generated it (the Prometheus expression).
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Identifies the alert by its labels.
    #[serde(default)]
    pub fingerprint: String,
    /// The receivers it is routed to.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Active, suppressed or unprocessed, and by what.
    #[serde(default)]
    pub status: AlertStatus,
}

/// A receiver an alert is routed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    /// Its name in Alertmanager's configuration.
    pub name: String,
}

/// An alert's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `unprocessed`, `active` or `suppressed`.
    #[serde(default)]
    pub state: String,
    /// Ids of the silences that silence it.
    #[serde(default)]
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts that inhibit it.
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

/// A silence from `GET /api/v2/silences`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id (a UUID).
    pub id: String,
    /// What it silences: an alert whose labels satisfy all matchers.
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// RFC 3339.
    #[serde(default)]
    pub starts_at: String,
    /// RFC 3339.
    #[serde(default)]
    pub ends_at: String,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: String,
    /// Who created it.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// `active`, `pending` or `expired`.
    #[serde(default)]
    pub status: SilenceStatus,
}

/// A silence's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    /// `active`, `pending` or `expired`.
    #[serde(default)]
    pub state: String,
}

/// A silence to create (`POST /api/v2/silences`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    /// What to silence; never empty.
    pub matchers: Vec<Matcher>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Who is creating it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Which alerts `GET /api/v2/alerts` returns. `None` leaves Alertmanager's default (true).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Matchers in Alertmanager's notation (`service="checkout"`); an alert must satisfy all.
    pub filter: Vec<String>,
    /// Include active alerts.
    pub active: Option<bool>,
    /// Include silenced alerts.
    pub silenced: Option<bool>,
    /// Include inhibited alerts.
    pub inhibited: Option<bool>,
}

/// `GET /api/v2/status`, the parts the healthcheck reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The version and build.
    #[serde(default)]
    pub version_info: VersionInfo,
    /// The cluster's state.
    #[serde(default)]
    pub cluster: ClusterStatus,
    /// RFC 3339: when it started.
    #[serde(default)]
    pub uptime: String,
}

/// Alertmanager's build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    /// e.g. `0.25.0`.
    #[serde(default)]
    pub version: String,
}

/// Alertmanager's high-availability cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ClusterStatus {
    /// `ready`, `settling` or `disabled`.
    #[serde(default)]
    pub status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

/// An Alertmanager API v2 client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AlertmanagerClient {
    endpoint: HttpEndpoint<AlertmanagerError>,
}

impl AlertmanagerClient {
    /// Builds a client from a validated configuration, the credentials resolved from its
    /// `auth` (see [`AlertmanagerConfig::credentials`]) and the outbound URL policy. Makes no
    /// request: use [`super::health::check`] to see whether Alertmanager answers.
    pub fn new(
        config: &AlertmanagerConfig,
        credentials: Credentials,
        policy: &UrlPolicy,
    ) -> Result<Self, AlertmanagerError> {
        config.validate()?;
        let endpoint =
            HttpEndpoint::connect(config.base_url()?, &config.settings(), credentials, policy)?;
        Ok(Self { endpoint })
    }

    /// The base URL (with a trailing `/`).
    pub fn base_url(&self) -> &Url {
        self.endpoint.base()
    }

    /// `alertmanager "name" at <url>`, for tool sources.
    pub fn describe(&self, connector_name: &str) -> String {
        format!(
            "alertmanager {connector_name:?} at {}",
            self.endpoint.base()
        )
    }

    /// A link to a silence in Alertmanager's web UI.
    pub fn silence_link(&self, id: &str) -> String {
        format!("{}#/silences/{id}", self.endpoint.base())
    }

    /// `GET /api/v2/alerts`.
    pub async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>, AlertmanagerError> {
        let mut params: Vec<(&str, String)> =
            query.filter.iter().map(|m| ("filter", m.clone())).collect();
        for (name, value) in [
            ("active", query.active),
            ("silenced", query.silenced),
            ("inhibited", query.inhibited),
        ] {
            if let Some(value) = value {
                params.push((name, value.to_string()));
            }
        }
        self.get_json("api/v2/alerts", &params).await
    }

    /// `GET /api/v2/silences`, of all states; `filter` matchers as for alerts.
    pub async fn silences(&self, filter: &[String]) -> Result<Vec<Silence>, AlertmanagerError> {
        let params: Vec<(&str, String)> = filter.iter().map(|m| ("filter", m.clone())).collect();
        self.get_json("api/v2/silences", &params).await
    }

    /// `POST /api/v2/silences`: creates a silence, returns its id. Refuses one without matchers
    /// (it would silence every alert).
    pub async fn create_silence(&self, silence: &NewSilence) -> Result<String, AlertmanagerError> {
        if silence.matchers.is_empty() {
            return Err(AlertmanagerError::InvalidRequest(
                "a silence needs at least one matcher; without one it would silence every alert"
                    .to_owned(),
            ));
        }
        let path = "api/v2/silences";
        let response = self
            .send(self.request(Method::POST, path)?.json(silence))
            .await?;
        let created: Created = self.read_json(response, path).await?;
        Ok(created.silence_id)
    }

    /// `GET /api/v2/status`.
    pub async fn status(&self) -> Result<Status, AlertmanagerError> {
        self.get_json("api/v2/status", &[]).await
    }

    /// `/-/ready`: `Ok(true)` when Alertmanager is ready, `Ok(false)` while it starts (HTTP
    /// 503).
    pub async fn ready(&self) -> Result<bool, AlertmanagerError> {
        let path = "-/ready";
        let response = self.send(self.request(Method::GET, path)?).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            status => Err(self.status_error(status, path, "")),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, AlertmanagerError> {
        let response = self
            .send(self.request(Method::GET, path)?.query(params))
            .await?;
        self.read_json(response, path).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, AlertmanagerError> {
        self.endpoint.request(method, path)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AlertmanagerError> {
        self.endpoint.send(request).await
    }

    async fn read_json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        path: &str,
    ) -> Result<T, AlertmanagerError> {
        let status = response.status();
        let body = self
            .endpoint
            .read_body(response, MAX_BODY_BYTES, || {
                AlertmanagerError::InvalidRequest(format!(
                    "alertmanager answered with more than {} MiB; narrow the request with filter \
                     matchers",
                    MAX_BODY_BYTES / (1024 * 1024)
                ))
            })
            .await?;
        if !status.is_success() {
            return Err(self.status_error(status, path, &String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.endpoint.decode_error(format!("{path}: {e}")))
    }

    fn status_error(&self, status: StatusCode, path: &str, body: &str) -> AlertmanagerError {
        match status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                AlertmanagerError::BadRequest(error_message(body))
            }
            _ => self
                .endpoint
                .status_error(status, path, &error_message(body)),
        }
    }
}

/// The message of an Alertmanager error body: a JSON string, `{"message": …}`, or the text.
pub fn error_message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(message)) => snippet(&message),
        Ok(serde_json::Value::Object(object)) => match object.get("message") {
            Some(serde_json::Value::String(message)) => snippet(message),
            _ => snippet(body),
        },
        _ => snippet(body),
    }
}

#[cfg(test)]
mod tests;
