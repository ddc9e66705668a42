//! The Prometheus connector's configuration, as stored with the connector (a JSON object). The
//! doc comments here are its user documentation.
//!
//! ```json
//! {
//!   "url": "http://prometheus.monitoring:9090",
//!   "auth": { "type": "bearer", "secret_ref": "secret://<org-id>/prometheus-token" },
//!   "timeout": "30s",
//!   "headers": { "X-Scope-OrgID": "team-a" }
//! }
//! ```
//!
//! Secrets are never part of the configuration: `auth` names them by [`SecretRef`], the caller
//! resolves them through the secret store and hands the values to the client as
//! [`Credentials`].

use std::collections::BTreeMap;
use std::time::Duration;

use aurora_core::secrets::SecretRef;
use reqwest::Url;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::http::Credentials;
use crate::http::{self, default_timeout};

/// Prometheus refuses range queries with more points per series than this.
pub const PROMETHEUS_MAX_POINTS: u32 = 11_000;

/// How Aurora reaches one Prometheus (or a Prometheus-compatible API: Thanos, Mimir,
/// VictoriaMetrics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the HTTP API, without `/api/v1`: `http://prometheus:9090`, or with the path
    /// prefix Prometheus is served under (`https://example.com/prometheus`). `http` or `https`
    /// only, no user name or password in it (use `auth`).
    pub url: String,
    /// How to authenticate. Default: none.
    #[serde(default)]
    pub auth: PrometheusAuth,
    /// Limit for each request, as seconds (`30`) or a duration (`"30s"`, `"1m"`). Default 30 s,
    /// at most 10 minutes.
    #[serde(
        default = "default_timeout",
        deserialize_with = "http::deserialize_duration",
        serialize_with = "humantime_serde::serialize"
    )]
    pub timeout: Duration,
    /// Accept any TLS certificate. Only for testing: it lets anyone in the path read the
    /// traffic, credentials included. Default false.
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// Extra trusted CA certificate(s), PEM, for a Prometheus behind a private CA.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Extra request headers that are not secret, e.g. `X-Scope-OrgID` for Mimir or Cortex.
    /// `Authorization` is refused here: use `auth`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Most points per series a range query may ask for; a finer step is widened to fit.
    /// Default and maximum 11 000 (Prometheus's own limit).
    #[serde(default = "default_max_range_points")]
    pub max_range_points: u32,
    /// Most series the evidence pass reads for one incident. Default 200.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// Window of `rate()` for counters in the evidence pass (at least the step is used).
    /// Default `"1m"`: four scrapes at Prometheus's default 15 s interval.
    #[serde(
        default = "default_rate_window",
        deserialize_with = "http::deserialize_duration",
        serialize_with = "humantime_serde::serialize"
    )]
    pub rate_window: Duration,
}

/// How the connector authenticates to Prometheus. Tagged by `type`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrometheusAuth {
    /// No authentication: `{"type": "none"}`.
    #[default]
    None,
    /// `Authorization: Bearer <token>`; the token is the secret at `secret_ref`.
    Bearer {
        /// Where the token is stored.
        secret_ref: SecretRef,
    },
    /// HTTP basic authentication; the password is the secret at `secret_ref`.
    Basic {
        /// The user name (not secret).
        username: String,
        /// Where the password is stored.
        secret_ref: SecretRef,
    },
}

impl PrometheusAuth {
    /// The secret to resolve before building the client, if any.
    pub fn secret_ref(&self) -> Option<&SecretRef> {
        match self {
            PrometheusAuth::None => None,
            PrometheusAuth::Bearer { secret_ref } | PrometheusAuth::Basic { secret_ref, .. } => {
                Some(secret_ref)
            }
        }
    }

    /// The credentials for this auth, given the value of [`Self::secret_ref`] (`None` when it
    /// has none).
    pub fn credentials(&self, secret: Option<SecretString>) -> Result<Credentials, ConfigError> {
        match (self, secret) {
            (PrometheusAuth::None, _) => Ok(Credentials::None),
            (PrometheusAuth::Bearer { .. }, Some(token)) => Ok(Credentials::Bearer(token)),
            (PrometheusAuth::Basic { username, .. }, Some(password)) => Ok(Credentials::Basic {
                username: username.clone(),
                password,
            }),
            (auth, None) => Err(ConfigError(format!(
                "auth needs the value of secret {}; resolve it before building the client",
                auth.secret_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ))),
        }
    }
}

/// The configuration is not usable; the message says which field and what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("prometheus config: {0}")]
pub struct ConfigError(pub String);

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:9090".to_owned(),
            auth: PrometheusAuth::None,
            timeout: default_timeout(),
            tls_insecure_skip_verify: false,
            ca_pem: None,
            headers: BTreeMap::new(),
            max_range_points: default_max_range_points(),
            max_series: default_max_series(),
            rate_window: default_rate_window(),
        }
    }
}

impl PrometheusConfig {
    /// Parses and validates the connector's stored configuration.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_value(value).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: the URL, limits, headers and the CA certificate.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.base_url()?;
        http::check_timeout(self.timeout).map_err(ConfigError)?;
        if self.max_range_points == 0 || self.max_range_points > PROMETHEUS_MAX_POINTS {
            return Err(ConfigError(format!(
                "max_range_points {} is out of range; use 1 to {PROMETHEUS_MAX_POINTS}",
                self.max_range_points
            )));
        }
        if self.max_series == 0 || self.max_series > 10_000 {
            return Err(ConfigError(format!(
                "max_series {} is out of range; use 1 to 10000",
                self.max_series
            )));
        }
        if self.rate_window < Duration::from_secs(1) {
            return Err(ConfigError(
                "rate_window must be at least 1s; use e.g. \"1m\"".to_owned(),
            ));
        }
        http::check_headers(&self.headers).map_err(ConfigError)?;
        http::check_ca_pem(self.ca_pem.as_deref()).map_err(ConfigError)
    }

    /// The URL with a trailing `/`, so API paths join under its path prefix.
    pub fn base_url(&self) -> Result<Url, ConfigError> {
        http::base_url(&self.url).map_err(ConfigError)
    }
}

http::endpoint_settings!(PrometheusConfig);

fn default_max_range_points() -> u32 {
    PROMETHEUS_MAX_POINTS
}

fn default_max_series() -> usize {
    200
}

fn default_rate_window() -> Duration {
    Duration::from_secs(60)
}

#[cfg(test)]
mod tests;
