//! The Prometheus connector: configuration, an HTTP API client, the agent's read-only
//! `prometheus_*` tools, the evidence pass ([`PrometheusTelemetry`]) and a healthcheck.
//!
//! Wiring: parse [`PrometheusConfig::from_json`], resolve [`PrometheusAuth::secret_ref`]
//! through the secret store, turn it into [`Credentials`] with
//! [`PrometheusAuth::credentials`], build [`PrometheusClient::new`] with the outbound
//! [`crate::ssrf::UrlPolicy`], then share it (`Arc`) between [`tools`],
//! [`PrometheusTelemetry::new`] and [`health::check`].

pub mod client;
pub mod config;
pub mod evidence;
pub mod health;
pub mod promql;
pub mod tools;

pub use client::{PrometheusClient, PrometheusError};
pub use config::{ConfigError, Credentials, PrometheusAuth, PrometheusConfig};
pub use evidence::PrometheusTelemetry;
pub use health::{HealthReport, check};
pub use tools::tools;
