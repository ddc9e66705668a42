//! The connector's healthcheck: is Prometheus reachable, ready, and which version is it.

use serde::Serialize;

use super::client::{PrometheusClient, PrometheusError};

/// What the healthcheck found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Prometheus's version, when it reports one (`/api/v1/status/buildinfo`; Prometheus-compatible
    /// servers may lack it).
    pub version: Option<String>,
    /// Whether it is ready to serve queries.
    pub ready: bool,
}

/// Checks readiness with `/-/ready` and reads the version. Servers without `/-/ready` (Thanos,
/// Mimir and other Prometheus-compatible APIs) count as ready when they evaluate a query.
pub async fn check(client: &PrometheusClient) -> Result<HealthReport, PrometheusError> {
    let ready = match client.ready().await {
        Ok(ready) => ready,
        Err(PrometheusError::NotFound { .. }) => {
            client.query("1", None).await?;
            true
        }
        Err(e) => return Err(e),
    };
    let version = match client.build_info().await {
        Ok(info) => Some(info.version),
        Err(PrometheusError::NotFound { .. } | PrometheusError::Api { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(HealthReport { version, ready })
}

#[cfg(test)]
mod tests;
