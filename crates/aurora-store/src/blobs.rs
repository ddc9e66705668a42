//! The [`BlobStore`] port over `object_store`: a local folder by default, any S3-compatible
//! store when configured. `object_store` is the Arrow project's store abstraction, used by
//! DataFusion and Delta Lake; it speaks S3 (signing, retries, multipart) so Aurora does not.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::knowledge::{BlobError, BlobStore};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::ExposeSecret;

use crate::config::{BlobsBackend, BlobsConfig};

/// Originals in a folder or a bucket.
#[derive(Clone, Debug)]
pub struct ObjectBlobStore {
    inner: Arc<dyn ObjectStore>,
    backend: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobConfigError {
    #[error("cannot create the blob folder {dir}: {source}")]
    Folder { dir: String, source: std::io::Error },
    #[error("[blobs] backend = \"s3\" needs `bucket`: set blobs.bucket to an existing bucket")]
    NoBucket,
    #[error("[blobs] S3 settings are invalid: {0}")]
    S3(String),
}

impl ObjectBlobStore {
    /// Opens the configured store; `default_dir` is used by the local backend when `dir` is
    /// unset.
    pub fn open(config: &BlobsConfig, default_dir: &Path) -> Result<Self, BlobConfigError> {
        match config.backend {
            BlobsBackend::Local => {
                let dir = config.dir.clone().unwrap_or_else(|| default_dir.to_owned());
                std::fs::create_dir_all(&dir).map_err(|source| BlobConfigError::Folder {
                    dir: dir.display().to_string(),
                    source,
                })?;
                let store = LocalFileSystem::new_with_prefix(&dir).map_err(|err| {
                    BlobConfigError::Folder {
                        dir: dir.display().to_string(),
                        source: std::io::Error::other(err.to_string()),
                    }
                })?;
                Ok(Self {
                    inner: Arc::new(store),
                    backend: "local",
                })
            }
            BlobsBackend::S3 => {
                let bucket = config.bucket.as_deref().ok_or(BlobConfigError::NoBucket)?;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&config.region);
                if let Some(endpoint) = &config.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(id) = &config.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &config.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose_secret());
                }
                let store = builder
                    .build()
                    .map_err(|err| BlobConfigError::S3(err.to_string()))?;
                Ok(Self {
                    inner: Arc::new(store),
                    backend: "s3",
                })
            }
        }
    }
}

fn object_path(key: &str) -> Result<ObjectPath, BlobError> {
    ObjectPath::parse(key).map_err(|err| BlobError::Unavailable(format!("blob key {key:?}: {err}")))
}

fn blob_error(key: &str, err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.to_owned()),
        other => BlobError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.inner
            .put(&object_path(key)?, PutPayload::from(bytes))
            .await
            .map_err(|err| blob_error(key, err))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let result = self
            .inner
            .get(&object_path(key)?)
            .await
            .map_err(|err| blob_error(key, err))?;
        let bytes = result.bytes().await.map_err(|err| blob_error(key, err))?;
        Ok(bytes.to_vec())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&object_path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(blob_error(key, err)),
        }
    }
}
