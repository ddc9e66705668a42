//! The Alertmanager connector: configuration, a client for Alertmanager's API v2, the agent's
//! `alertmanager_*` tools (reading alerts and silences, and creating a silence, which needs a
//! person's approval) and a healthcheck.
//!
//! Wiring: parse [`AlertmanagerConfig::from_json`], resolve
//! [`AlertmanagerAuth::secret_ref`] through the secret store, turn it into [`Credentials`] with
//! [`AlertmanagerConfig::credentials`], build [`AlertmanagerClient::new`] with the outbound
//! [`crate::ssrf::UrlPolicy`], then share it (`Arc`) between [`tools`] and [`health::check`].
//!
//! The API is documented at
//! <https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>.

pub mod client;
pub mod config;
pub mod health;
pub mod tools;

pub use client::{AlertmanagerClient, AlertmanagerError};
pub use config::{AlertmanagerAuth, AlertmanagerConfig, ConfigError, Credentials};
pub use health::{HealthReport, check};
pub use tools::tools;
