//! Configuration of the HTTP server, of authentication and of alert ingest (`[server]`,
//! `[auth]` and `[signals]` in `aurora.toml`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[server]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on. Loopback by default: put a TLS-terminating proxy in front
    /// before exposing Aurora.
    pub listen: SocketAddr,
    /// The URL people use to reach Aurora, e.g. `https://aurora.example.com`. Used in links, and
    /// an `https` URL makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes; larger requests get 413. 2 MiB fits any JSON API
    /// call; uploads that need more have their own limit.
    pub max_body_bytes: usize,
    /// Longest time a request may take before it is answered with 503, e.g. `"30s"`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long shutdown waits for requests in flight before it stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Origins allowed to call the API from a browser (CORS), e.g. `["https://ops.example.com"]`.
    /// Empty: no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// `[auth]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a sign-in lasts, e.g. `"7days"`.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Whether session cookies carry `Secure`: `auto` (when `server.public_url` is https or the
    /// request came through TLS per `X-Forwarded-Proto`), `always` or `never`.
    pub secure_cookies: SecureCookies,
    /// Sign-in attempts allowed per minute, counted per client address and per account.
    pub login_attempts_per_minute: u32,
    /// How long a verified API token is remembered before the database is asked again. Revoking
    /// a token takes effect at once on the process that revoked it, and within this time on
    /// others.
    #[serde(with = "humantime_serde")]
    pub token_cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_cookies: SecureCookies::Auto,
            login_attempts_per_minute: 10,
            token_cache_ttl: Duration::from_secs(15),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

/// `[signals]`: how alert deliveries become incidents.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// A firing alert with no open incident of its fingerprint joins an open incident of the
    /// same service and environment opened at most this long ago, e.g. `"5m"`.
    #[serde(with = "humantime_serde")]
    pub grouping_window: Duration,
    /// Resolve an incident when all its alerts have resolved.
    pub auto_resolve: bool,
    /// A delivery with the same body as one accepted from the same source within this time is
    /// a retry: it gets the earlier answer and nothing is stored again.
    #[serde(with = "humantime_serde")]
    pub idempotency_window: Duration,
    /// How long a source's previous secret keeps working after a rotation.
    #[serde(with = "humantime_serde")]
    pub rotation_grace: Duration,
    /// Largest webhook delivery accepted, in bytes; larger ones get 413 and nothing is stored.
    /// Webhooks have their own limit because one Alertmanager delivery may carry up to 10,000
    /// alerts (about 6 MiB of compact JSON with typical labels, more with long annotations),
    /// far above `server.max_body_bytes`. 32 MiB leaves room for that; the body is held in
    /// memory while it is parsed, so this also bounds a delivery's memory.
    pub max_delivery_bytes: usize,
    /// Longest time a webhook delivery may take before it is answered with 503 and nothing is
    /// stored (the transaction rolls back), e.g. `"2m"`. Webhooks have their own bound because
    /// a delivery of 10,000 alerts is written in one transaction, which on PostgreSQL over a
    /// network can take longer than `server.request_timeout`.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            grouping_window: Duration::from_secs(5 * 60),
            auto_resolve: true,
            idempotency_window: Duration::from_secs(10 * 60),
            rotation_grace: Duration::from_secs(24 * 3600),
            max_delivery_bytes: 32 * 1024 * 1024,
            delivery_timeout: Duration::from_secs(120),
        }
    }
}
