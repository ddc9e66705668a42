//! Aurora's connectors (Prometheus, Alertmanager): one folder per connected system, each with
//! its configuration, client, agent tools, evidence source and healthcheck. [`ssrf`] guards every outbound URL;
//! `http` holds what the HTTP connectors share (connection settings, client, error mapping).

pub mod alertmanager;
mod http;
pub mod prometheus;
pub mod ssrf;
pub mod timespec;

#[cfg(test)]
mod test_http;
