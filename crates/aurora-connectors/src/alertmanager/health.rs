//! The connector's healthcheck: is Alertmanager reachable, ready, and which version is it.

use serde::Serialize;

use super::client::{AlertmanagerClient, AlertmanagerError};

/// What the healthcheck found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Alertmanager's version (`/api/v2/status`), when it reports one.
    pub version: Option<String>,
    /// Whether it is ready to serve requests (`/-/ready`).
    pub ready: bool,
    /// The cluster's state: `ready`, `settling` or `disabled` (no cluster), when reported.
    pub cluster: Option<String>,
}

/// Checks readiness with `/-/ready` and reads the version from `/api/v2/status`. Servers
/// without `/-/ready` (Alertmanager-compatible APIs such as Mimir's) count as ready when the
/// status answers.
pub async fn check(client: &AlertmanagerClient) -> Result<HealthReport, AlertmanagerError> {
    let ready = match client.ready().await {
        Ok(ready) => Some(ready),
        Err(AlertmanagerError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let status = match client.status().await {
        Ok(status) => Some(status),
        // Not ready yet, or an API without the status endpoint: readiness says enough.
        Err(AlertmanagerError::NotFound { .. } | AlertmanagerError::Http { .. })
            if ready.is_some() =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(HealthReport {
        ready: ready.unwrap_or(true),
        version: status
            .as_ref()
            .and_then(|s| non_empty(s.version_info.version.clone())),
        cluster: status.and_then(|s| non_empty(s.cluster.status)),
    })
}

#[cfg(test)]
mod tests;
