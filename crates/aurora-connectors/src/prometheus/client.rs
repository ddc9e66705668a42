//! A client for Prometheus's HTTP API (`/api/v1`), over reqwest with the SSRF guard's resolver.
//!
//! Responses follow the format documented at
//! <https://prometheus.io/docs/prometheus/latest/querying/api/>: an envelope
//! `{"status": "success"|"error", "data": …, "errorType": …, "error": …, "warnings": […]}`,
//! and for queries `data = {"resultType": "matrix"|"vector"|"scalar"|"string", "result": …}`
//! with sample values as strings (`"NaN"`, `"+Inf"` included).

use std::collections::BTreeMap;
use std::time::Duration;

use aurora_core::tool::{Series, ToolError};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Credentials, PrometheusConfig};
use crate::http::{self, HttpEndpoint};
use crate::ssrf::{SsrfError, UrlPolicy};

/// Largest response body read; larger answers are refused with a hint to narrow the query.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a Prometheus request failed. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The outbound URL guard refused the URL or an address it resolved to.
    #[error(transparent)]
    Refused(#[from] SsrfError),
    /// No answer within the configured timeout.
    #[error(
        "prometheus at {url} did not answer within {secs} s; check that it is up and reachable, \
         or raise the connector's timeout"
    )]
    Timeout { url: String, secs: u64 },
    /// The connection failed (refused, unresolvable host, TLS, reset).
    #[error(
        "could not reach prometheus at {url}: {detail}; check the url and that prometheus is running"
    )]
    Unreachable { url: String, detail: String },
    /// HTTP 401 or 403.
    #[error(
        "prometheus at {url} refused the credentials (HTTP {status}); check the connector's auth \
         and its secret"
    )]
    Unauthorized { url: String, status: u16 },
    /// HTTP 404: usually a wrong URL or path prefix.
    #[error(
        "{url} has no {path} (HTTP 404); check that the url points at the Prometheus HTTP API, \
         with its path prefix if it has one"
    )]
    NotFound { url: String, path: String },
    /// Another HTTP error without Prometheus's error envelope (a proxy's page, say).
    #[error("prometheus at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// Prometheus's own error: `errorType` (`bad_data`, `execution`, `timeout`, ...) and
    /// `error`.
    #[error("prometheus rejected the request ({error_type}): {message}")]
    Api { error_type: String, message: String },
    /// The answer is not Prometheus API JSON of the expected shape.
    #[error("unexpected answer from prometheus at {url}: {detail}")]
    Decode { url: String, detail: String },
    /// The request was refused before it was sent.
    #[error("{0}")]
    InvalidRequest(String),
}

http::endpoint_error!(PrometheusError, ConfigError);

impl From<PrometheusError> for ToolError {
    fn from(error: PrometheusError) -> Self {
        match error {
            PrometheusError::Timeout { secs, .. } => ToolError::Timeout(secs),
            PrometheusError::Api {
                ref error_type,
                ref message,
            } if error_type == "bad_data" => ToolError::InvalidArguments(format!(
                "prometheus refused the query: {message}; fix the PromQL and retry"
            )),
            PrometheusError::InvalidRequest(message) => ToolError::InvalidArguments(message),
            other => ToolError::Failed(other.to_string()),
        }
    }
}

/// A query's result.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryData {
    /// Range query results: one series per label set. Non-finite samples (`NaN`, `±Inf`) are
    /// left out of the points.
    Matrix(Vec<Series>),
    /// Instant query results: one sample per label set.
    Vector(Vec<Sample>),
    /// `(time, value)`.
    Scalar(f64, f64),
    /// `(time, value)`.
    String(f64, String),
}

impl QueryData {
    /// `matrix`, `vector`, `scalar` or `string`, as Prometheus names it.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryData::Matrix(_) => "matrix",
            QueryData::Vector(_) => "vector",
            QueryData::Scalar(..) => "scalar",
            QueryData::String(..) => "string",
        }
    }
}

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels, `__name__` included when the expression kept it.
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub time: f64,
    /// May be `NaN` or infinite.
    pub value: f64,
}

/// A query's result with Prometheus's warnings.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub data: QueryData,
    /// Prometheus's warnings about the query, if any.
    pub warnings: Vec<String>,
}

/// A range query's result and the step actually used.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeResult {
    /// The result (a matrix for a well-formed range query).
    pub data: QueryData,
    /// Prometheus's warnings about the query, if any.
    pub warnings: Vec<String>,
    /// Seconds between points; wider than asked when the range had too many points.
    pub step: f64,
    /// Set when the step was widened, saying why.
    pub note: Option<String>,
}

/// An active alert from `/api/v1/alerts` (or inside an alerting rule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's labels, `alertname` included.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations (`summary`, `description`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `pending` or `firing`.
    #[serde(default)]
    pub state: String,
    /// RFC 3339.
    #[serde(default, alias = "activeAt", skip_serializing_if = "Option::is_none")]
    pub active_at: Option<String>,
    /// The expression's value when the alert was last evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A rule group from `/api/v1/rules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// The rule file it was loaded from.
    #[serde(default)]
    pub file: String,
    /// Evaluation interval, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// The group's rules, in evaluation order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One alerting or recording rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The alert name or the recorded metric name.
    pub name: String,
    /// The rule's PromQL expression.
    pub query: String,
    /// `ok`, `err` or `unknown`.
    #[serde(default)]
    pub health: String,
    /// The last evaluation's error, when it failed.
    #[serde(default, alias = "lastError", skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Alerting rules: the `for` duration, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Labels the rule adds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alerting rules: the annotations of their alerts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Alerting rules: their pending and firing alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

/// Which rules `/api/v1/rules` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Rules that raise alerts.
    Alerting,
    /// Rules that record a new series.
    Recording,
}

/// `/api/v1/status/buildinfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// e.g. `2.42.0`.
    pub version: String,
    /// The source revision it was built from.
    #[serde(default)]
    pub revision: String,
}

/// Prometheus's response envelope.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum RawQueryData {
    Matrix(Vec<RawRangeSeries>),
    Vector(Vec<RawInstant>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Deserialize)]
struct RawRangeSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native histogram series, which carry `histograms` instead.
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct RawInstant {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native histogram samples, which carry `histogram` instead.
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct RawAlerts {
    #[serde(default)]
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct RawRules {
    #[serde(default)]
    groups: Vec<RuleGroup>,
}

/// Parses a sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Parses the `data` of a query response.
pub fn parse_query_data(data: serde_json::Value) -> Result<QueryData, String> {
    let raw: RawQueryData = serde_json::from_value(data).map_err(|e| e.to_string())?;
    let value = |text: &str| parse_value(text).ok_or_else(|| format!("bad sample value {text:?}"));
    Ok(match raw {
        RawQueryData::Matrix(series) => QueryData::Matrix(
            series
                .into_iter()
                .map(|s| {
                    let mut points = Vec::with_capacity(s.values.len());
                    for (t, v) in &s.values {
                        let v = value(v)?;
                        if v.is_finite() {
                            points.push((*t, v));
                        }
                    }
                    Ok(Series {
                        labels: s.metric,
                        points,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        RawQueryData::Vector(samples) => QueryData::Vector(
            samples
                .into_iter()
                .filter_map(|s| s.value.map(|v| (s.metric, v)))
                .map(|(labels, (time, v))| {
                    Ok(Sample {
                        labels,
                        time,
                        value: value(&v)?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        RawQueryData::Scalar((t, v)) => QueryData::Scalar(t, value(&v)?),
        RawQueryData::String((t, s)) => QueryData::String(t, s),
    })
}

/// A Prometheus HTTP API client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PrometheusClient {
    endpoint: HttpEndpoint<PrometheusError>,
    max_range_points: u32,
    max_series: usize,
    rate_window: Duration,
}

impl PrometheusClient {
    /// Builds a client from a validated configuration, the credentials resolved from its
    /// `auth` (see [`super::PrometheusAuth::credentials`]) and the outbound URL policy. Makes no
    /// request: use [`super::health::check`] to see whether Prometheus answers.
    pub fn new(
        config: &PrometheusConfig,
        credentials: Credentials,
        policy: &UrlPolicy,
    ) -> Result<Self, PrometheusError> {
        config.validate()?;
        let endpoint =
            HttpEndpoint::connect(config.base_url()?, &config.settings(), credentials, policy)?;
        Ok(Self {
            endpoint,
            max_range_points: config.max_range_points,
            max_series: config.max_series,
            rate_window: config.rate_window,
        })
    }

    /// The base URL (with a trailing `/`).
    pub fn base_url(&self) -> &Url {
        self.endpoint.base()
    }

    /// Most series the evidence pass reads.
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// The configured counter rate window.
    pub fn rate_window(&self) -> Duration {
        self.rate_window
    }

    /// Most points per series of a range query.
    pub fn max_range_points(&self) -> u32 {
        self.max_range_points
    }

    /// `/api/v1/query`: evaluates `query` at `time` (unix seconds; Prometheus's now when
    /// `None`).
    pub async fn query(
        &self,
        query: &str,
        time: Option<f64>,
    ) -> Result<QueryResult, PrometheusError> {
        let mut params = vec![("query", query.to_owned())];
        if let Some(time) = time {
            params.push(("time", time.to_string()));
        }
        let (data, warnings) = self.call(Method::POST, "api/v1/query", &params).await?;
        let data = parse_query_data(data).map_err(|detail| self.decode_error(detail))?;
        Ok(QueryResult { data, warnings })
    }

    /// `/api/v1/query_range`. A step giving more than the configured points per series is
    /// widened to fit (the result's `note` says so).
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<RangeResult, PrometheusError> {
        let (step, note) = fit_step(start, end, step, self.max_range_points)?;
        let params = vec![
            ("query", query.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        let (data, warnings) = self
            .call(Method::POST, "api/v1/query_range", &params)
            .await?;
        let data = parse_query_data(data).map_err(|detail| self.decode_error(detail))?;
        Ok(RangeResult {
            data,
            warnings,
            step,
            note,
        })
    }

    /// `/api/v1/series`: the label sets of series matching any of `matchers` in the window.
    pub async fn series(
        &self,
        matchers: &[String],
        start: Option<f64>,
        end: Option<f64>,
    ) -> Result<Vec<BTreeMap<String, String>>, PrometheusError> {
        if matchers.is_empty() {
            return Err(PrometheusError::InvalidRequest(
                "series needs at least one selector, e.g. {job=\"api\"}".to_owned(),
            ));
        }
        let params = window_params(matchers, start, end);
        self.call_typed(Method::POST, "api/v1/series", &params)
            .await
    }

    /// `/api/v1/labels`: label names, of series matching `matchers` when given.
    pub async fn label_names(
        &self,
        matchers: &[String],
        start: Option<f64>,
        end: Option<f64>,
    ) -> Result<Vec<String>, PrometheusError> {
        let params = window_params(matchers, start, end);
        self.call_typed(Method::POST, "api/v1/labels", &params)
            .await
    }

    /// `/api/v1/label/<name>/values`: the values of one label (`__name__` lists metric
    /// names).
    pub async fn label_values(
        &self,
        label: &str,
        matchers: &[String],
        start: Option<f64>,
        end: Option<f64>,
    ) -> Result<Vec<String>, PrometheusError> {
        if !is_label_name(label) {
            return Err(PrometheusError::InvalidRequest(format!(
                "{label:?} is not a label name; use letters, digits and underscores, not starting \
                 with a digit"
            )));
        }
        let params = window_params(matchers, start, end);
        let path = format!("api/v1/label/{label}/values");
        self.call_typed(Method::GET, &path, &params).await
    }

    /// `/api/v1/alerts`: alerts pending or firing in Prometheus's rule evaluation.
    pub async fn alerts(&self) -> Result<Vec<Alert>, PrometheusError> {
        let raw: RawAlerts = self.call_typed(Method::GET, "api/v1/alerts", &[]).await?;
        Ok(raw.alerts)
    }

    /// `/api/v1/rules`, optionally only alerting or recording rules.
    pub async fn rules(&self, kind: Option<RuleKind>) -> Result<Vec<RuleGroup>, PrometheusError> {
        let params: Vec<(&str, String)> = match kind {
            None => Vec::new(),
            Some(RuleKind::Alerting) => vec![("type", "alert".to_owned())],
            Some(RuleKind::Recording) => vec![("type", "record".to_owned())],
        };
        let raw: RawRules = self
            .call_typed(Method::GET, "api/v1/rules", &params)
            .await?;
        Ok(raw.groups)
    }

    /// `/api/v1/status/buildinfo`.
    pub async fn build_info(&self) -> Result<BuildInfo, PrometheusError> {
        self.call_typed(Method::GET, "api/v1/status/buildinfo", &[])
            .await
    }

    /// `/-/ready`: `Ok(true)` when Prometheus is ready to serve queries, `Ok(false)` while it
    /// starts (HTTP 503).
    pub async fn ready(&self) -> Result<bool, PrometheusError> {
        let response = self.send(Method::GET, "-/ready", &[]).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            status => Err(self.endpoint.status_error(status, "-/ready", "")),
        }
    }

    /// `Prometheus "name" at <url>`-style text for tool sources.
    pub fn describe(&self, connector_name: &str) -> String {
        format!("prometheus {connector_name:?} at {}", self.endpoint.base())
    }

    async fn call_typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, PrometheusError> {
        let (data, _warnings) = self.call(method, path, params).await?;
        serde_json::from_value(data).map_err(|e| self.decode_error(e.to_string()))
    }

    /// Sends a request and unwraps Prometheus's envelope: `(data, warnings)`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(serde_json::Value, Vec<String>), PrometheusError> {
        let response = self.send(method, path, params).await?;
        let status = response.status();
        let body = self
            .endpoint
            .read_body(response, MAX_BODY_BYTES, || {
                PrometheusError::InvalidRequest(format!(
                    "prometheus answered with more than {} MiB; narrow the query (more specific \
                     selectors, a shorter range or a wider step)",
                    MAX_BODY_BYTES / (1024 * 1024)
                ))
            })
            .await?;
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(envelope) if envelope.status == "success" => match envelope.data {
                Some(data) => Ok((data, envelope.warnings)),
                None => Err(self.decode_error("a success without data".to_owned())),
            },
            Ok(envelope) if envelope.status == "error" => Err(PrometheusError::Api {
                error_type: envelope.error_type.unwrap_or_else(|| "unknown".to_owned()),
                message: envelope.error.unwrap_or_else(|| format!("HTTP {status}")),
            }),
            _ if !status.is_success() => {
                Err(self
                    .endpoint
                    .status_error(status, path, &String::from_utf8_lossy(&body)))
            }
            Ok(envelope) => Err(self.decode_error(format!("status {:?}", envelope.status))),
            Err(e) => Err(self.decode_error(format!("not Prometheus API JSON: {e}"))),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<reqwest::Response, PrometheusError> {
        let request = self.endpoint.request(method.clone(), path)?;
        let request = if method == Method::POST {
            request.form(params)
        } else {
            request.query(params)
        };
        self.endpoint.send(request).await
    }

    fn decode_error(&self, detail: String) -> PrometheusError {
        self.endpoint.decode_error(detail)
    }
}

/// The step for a range: refuses a bad range, widens a step that gives more than `max_points`
/// points per series and says so.
pub fn fit_step(
    start: f64,
    end: f64,
    step: f64,
    max_points: u32,
) -> Result<(f64, Option<String>), PrometheusError> {
    if !start.is_finite() || !end.is_finite() {
        return Err(PrometheusError::InvalidRequest(
            "start and end must be times".to_owned(),
        ));
    }
    if end < start {
        return Err(PrometheusError::InvalidRequest(format!(
            "end ({}) is before start ({}); swap them",
            crate::timespec::format_time(end),
            crate::timespec::format_time(start)
        )));
    }
    if !step.is_finite() || step <= 0.0 {
        return Err(PrometheusError::InvalidRequest(
            "step must be a positive duration, e.g. \"15s\" or 60".to_owned(),
        ));
    }
    let max_points = f64::from(max_points.max(2));
    let points = ((end - start) / step).floor() + 1.0;
    if points <= max_points {
        return Ok((step, None));
    }
    let widened = ((end - start) / (max_points - 1.0)).ceil().max(step);
    Ok((
        widened,
        Some(format!(
            "step widened from {step} s to {widened} s: {points} points per series exceed the \
             limit of {max_points}"
        )),
    ))
}

fn window_params(
    matchers: &[String],
    start: Option<f64>,
    end: Option<f64>,
) -> Vec<(&'static str, String)> {
    let mut params: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
    if let Some(start) = start {
        params.push(("start", start.to_string()));
    }
    if let Some(end) = end {
        params.push(("end", end.to_string()));
    }
    params
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
