//! The Alertmanager connector's configuration, as stored with the connector (a JSON object). The
//! doc comments here are its user documentation.
//!
//! ```json
//! {
//!   "url": "http://alertmanager.monitoring:9093",
//!   "auth": { "type": "bearer", "secret_ref": "secret://<org-id>/alertmanager-token" },
//!   "timeout": "30s"
//! }
//! ```
//!
//! Authentication is the same as the Prometheus connector's ([`AlertmanagerAuth`] is
//! [`PrometheusAuth`]): none, bearer or basic, the secret named by [`SecretRef`] and resolved
//! by the caller into [`Credentials`].
//!
//! [`SecretRef`]: aurora_core::secrets::SecretRef

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::http::Credentials;
use crate::http::{self, default_timeout};
use crate::prometheus::config::PrometheusAuth;

/// How the connector authenticates to Alertmanager: `{"type": "none"}`,
/// `{"type": "bearer", "secret_ref": …}` or `{"type": "basic", "username": …, "secret_ref": …}`.
pub type AlertmanagerAuth = PrometheusAuth;

/// How Aurora reaches one Alertmanager.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, without `/api/v2`: `http://alertmanager:9093`, or with the path prefix
    /// Alertmanager is served under (`--web.route-prefix`). `http` or `https` only, no user
    /// name or password in it (use `auth`).
    pub url: String,
    /// How to authenticate. Default: none.
    #[serde(default)]
    pub auth: AlertmanagerAuth,
    /// Limit for each request, as seconds (`30`) or a duration (`"30s"`). Default 30 s, at most
    /// 10 minutes.
    #[serde(
        default = "default_timeout",
        deserialize_with = "http::deserialize_duration",
        serialize_with = "humantime_serde::serialize"
    )]
    pub timeout: Duration,
    /// Accept any TLS certificate. Only for testing. Default false.
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// Extra trusted CA certificate(s), PEM, for an Alertmanager behind a private CA.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Extra request headers that are not secret (e.g. `X-Scope-OrgID` for Mimir's
    /// Alertmanager). `Authorization` is refused here: use `auth`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The configuration is not usable; the message says which field and what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("alertmanager config: {0}")]
pub struct ConfigError(pub String);

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:9093".to_owned(),
            auth: AlertmanagerAuth::None,
            timeout: default_timeout(),
            tls_insecure_skip_verify: false,
            ca_pem: None,
            headers: BTreeMap::new(),
        }
    }
}

impl AlertmanagerConfig {
    /// Parses and validates the connector's stored configuration.
    pub fn from_json(value: serde_json::Value) -> Result<Self, ConfigError> {
        if !value.is_object() {
            return Err(ConfigError(
                "must be a JSON object, e.g. {\"url\": \"http://alertmanager:9093\"}".to_owned(),
            ));
        }
        let config: Self = serde_json::from_value(value).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: the URL, the timeout, headers and the CA certificate.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.base_url()?;
        http::check_timeout(self.timeout).map_err(ConfigError)?;
        http::check_headers(&self.headers).map_err(ConfigError)?;
        http::check_ca_pem(self.ca_pem.as_deref()).map_err(ConfigError)
    }

    /// The credentials for [`Self::auth`], given the value of its secret (`None` when it has
    /// none).
    pub fn credentials(&self, secret: Option<SecretString>) -> Result<Credentials, ConfigError> {
        self.auth.credentials(secret).map_err(|e| ConfigError(e.0))
    }

    /// The URL with a trailing `/`, so API paths join under its path prefix; not the API path
    /// itself.
    pub fn base_url(&self) -> Result<Url, ConfigError> {
        let url = http::base_url(&self.url).map_err(ConfigError)?;
        let path = url.path().trim_end_matches('/');
        if path.ends_with("/api/v2") || path.ends_with("/api/v1") {
            return Err(ConfigError(format!(
                "url {:?} ends in the API path; give the base URL without /api/v2",
                self.url
            )));
        }
        Ok(url)
    }
}

http::endpoint_settings!(AlertmanagerConfig);

#[cfg(test)]
mod tests;
