//! Settings: built-in defaults, then `aurora.toml`, then `AURORA__SECTION__KEY` environment
//! variables, each overriding the one before. An unknown key or a bad value stops start-up with
//! a message naming where it came from, the key, and what is allowed.

use std::path::{Path, PathBuf};

use aurora_connectors::ssrf::UrlPolicy;
use aurora_server::config::{AuthConfig, ServerConfig, SignalsConfig};
use aurora_store::{BlobsBackend, BlobsConfig, DatabaseConfig, SecretsConfig, redact_url};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::knowledge::KnowledgeConfig;
use crate::streams::StreamsConfig;
use crate::worker::WorkersConfig;

/// The configuration file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "aurora.toml";
pub const ENV_PREFIX: &str = "AURORA__";

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where Aurora keeps its SQLite database, secret store and files.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub signals: SignalsConfig,
    pub workers: WorkersConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub log: LogConfig,
    /// Event streams alerts are consumed from (`[streams.nats]`).
    pub streams: StreamsConfig,
    /// Which addresses connectors may reach (`[connectors]`).
    pub connectors: UrlPolicy,
    /// Where originals of knowledge-base documents are kept (`[blobs]`).
    pub blobs: BlobsConfig,
    /// Embeddings and chunking of the knowledge base (`[knowledge]`).
    pub knowledge: KnowledgeConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./aurora-data"),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            signals: SignalsConfig::default(),
            workers: WorkersConfig::default(),
            database: DatabaseConfig::default(),
            secrets: SecretsConfig::default(),
            log: LogConfig::default(),
            streams: StreamsConfig::default(),
            connectors: UrlPolicy::default(),
            blobs: BlobsConfig::default(),
            knowledge: KnowledgeConfig::default(),
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors. `--log-format` overrides it.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,aurora_server=debug`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration:\n{0}")]
    Invalid(String),
}

impl Settings {
    /// Loads settings from `file` (or `aurora.toml` in the working directory, if present) and the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|err| SettingsError::Invalid(describe(err)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".to_owned());
        }
        if self.server.max_body_bytes == 0 {
            problems.push("server.max_body_bytes: must be at least 1".to_owned());
        }
        if self.server.request_timeout.is_zero() {
            problems
                .push("server.request_timeout: must be longer than zero, e.g. \"30s\"".to_owned());
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!(
                "server.public_url: {url:?} must start with http:// or https://"
            ));
        }
        for origin in &self.server.cors_allowed_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.contains("://") {
                problems.push(format!(
                    "server.cors_allowed_origins: {origin:?} is not an origin such as \"https://ops.example.com\""
                ));
            }
        }
        if self.auth.login_attempts_per_minute == 0 {
            problems.push("auth.login_attempts_per_minute: must be at least 1".to_owned());
        }
        if self.auth.session_ttl.as_secs() < 60 {
            problems.push("auth.session_ttl: must be at least one minute, e.g. \"12h\"".to_owned());
        }
        if self.signals.max_delivery_bytes == 0 {
            problems.push("signals.max_delivery_bytes: must be at least 1".to_owned());
        }
        if self.signals.delivery_timeout.is_zero() {
            problems
                .push("signals.delivery_timeout: must be longer than zero, e.g. \"2m\"".to_owned());
        }
        if self.signals.idempotency_window.is_zero() {
            problems.push(
                "signals.idempotency_window: must be longer than zero, e.g. \"10m\"".to_owned(),
            );
        }
        problems.extend(self.workers.problems());
        if let Some(url) = &self.database.url
            && aurora_store::Backend::from_url(url).is_none()
        {
            problems.push(format!(
                "database.url: {:?} is not supported: use sqlite://<path> or postgres://user:password@host:port/db",
                redact_url(url)
            ));
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".to_owned());
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(format!(
                "log.level: {:?} is not a valid filter ({err}); e.g. \"info\"",
                self.log.level
            ));
        }
        problems.extend(self.streams.problems());
        problems.extend(self.knowledge.problems());
        if self.blobs.backend == BlobsBackend::S3 && self.blobs.bucket.is_none() {
            problems.push(
                "blobs.bucket: backend = \"s3\" needs the name of an existing bucket".to_owned(),
            );
        }
        if let Some(endpoint) = &self.blobs.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(format!(
                "blobs.endpoint: {endpoint:?} must start with http:// or https://"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Invalid(problems.join("\n")))
        }
    }

    /// The database to use: `database.url`, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("aurora.db").display()))
    }

    /// These settings as TOML, with passwords and keys replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = shown.database.url.as_deref().map(redact_url);
        if let Some(nats) = shown.streams.nats.as_mut() {
            nats.url = nats
                .url
                .split(',')
                .map(redact_url)
                .collect::<Vec<_>>()
                .join(",");
        }
        toml::to_string_pretty(&shown)
            .unwrap_or_else(|err| format!("# cannot print settings: {err}\n"))
    }
}

/// One line per problem: where it came from, the key, and what went wrong.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = e
                .path
                .iter()
                .filter(|p| *p != "default")
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => source.to_string(),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "settings".to_owned());
            let kind = match &e.kind {
                figment::error::Kind::UnknownField(field, allowed) => {
                    format!(
                        "unknown key `{field}`; allowed keys here: {}",
                        allowed.join(", ")
                    )
                }
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("  {source}: {kind}")
            } else {
                format!("  {source}: key `{key}`: {kind}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
