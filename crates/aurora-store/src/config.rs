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

/// `[blobs]`: where the originals of uploaded documents are kept.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// `local` (a folder) or `s3` (any S3-compatible store: AWS, SeaweedFS, MinIO).
    pub backend: BlobsBackend,
    /// Folder of the local store. Unset: `blobs/` in the data directory.
    pub dir: Option<PathBuf>,
    /// Bucket of the S3 store; it must exist.
    pub bucket: Option<String>,
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:8333`. Unset: AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// Access key id; with `secret_access_key`. Unset: the AWS environment
    /// (`AWS_ACCESS_KEY_ID`, instance role).
    pub access_key_id: Option<String>,
    /// Best given as `AURORA_BLOBS__SECRET_ACCESS_KEY` in the environment. Never printed.
    #[serde(skip_serializing)]
    pub secret_access_key: Option<secrecy::SecretString>,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            backend: BlobsBackend::Local,
            dir: None,
            bucket: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

impl PartialEq for BlobsConfig {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.backend == other.backend
            && self.dir == other.dir
            && self.bucket == other.bucket
            && self.endpoint == other.endpoint
            && self.region == other.region
            && self.access_key_id == other.access_key_id
            && self
                .secret_access_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                == other
                    .secret_access_key
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobsBackend {
    Local,
    S3,
}
impl Eq for BlobsConfig {}
