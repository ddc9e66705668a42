//! Configuration of the database and the secret store (`[database]` and `[secrets]` in
//! `aurora.toml`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[database]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://<path>` or `postgres://user:password@host:port/db`. Unset: SQLite file
    /// `aurora.db` in the data directory. A password in the URL is redacted by `aurora config`.
    pub url: Option<String>,
    /// Most connections the pool opens. SQLite serialises writers anyway; PostgreSQL's default
    /// `max_connections` is 100, so ten per process leaves room for several processes.
    pub max_connections: u32,
    /// How long to wait for a connection before failing, e.g. `"5s"`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// `[secrets]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Where secret values live. `local`: a file in the data directory encrypted with
    /// XChaCha20-Poly1305.
    pub backend: SecretsBackend,
    /// Key file of the local store. Unset: `secret.key` in the data directory, created with mode
    /// 0600 on first start. The environment variable `AURORA_SECRET_KEY` (32 bytes, base64)
    /// takes precedence over any file.
    pub key_file: Option<PathBuf>,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            backend: SecretsBackend::Local,
            key_file: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsBackend {
    Local,
}
