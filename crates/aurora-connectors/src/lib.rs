//! Aurora's connectors: one folder per connected system, each with its configuration, client,
//! agent tools, evidence source and healthcheck. [`ssrf`] guards every outbound URL.

pub mod prometheus;
pub mod ssrf;
pub mod timespec;

#[cfg(test)]
mod test_http;
