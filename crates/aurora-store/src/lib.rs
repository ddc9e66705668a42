//! Storage for Aurora: the [`Store`](aurora_core::ports::Store) port over SQLite or PostgreSQL,
//! and the local implementation of the [`SecretStore`](aurora_core::secrets::SecretStore) port.
//!
//! Both database backends share one set of portable queries (sqlx's `Any` driver with `$n`
//! placeholders, ids as text, times as unix milliseconds) and each has its own migrations under
//! `migrations/<backend>/`, applied at connect time. Backend-specific features use SQL of their
//! backend (the job queue's `SKIP LOCKED` claim) or take the concrete pool (vector search).

mod blobs;
pub mod config;
mod events;
mod local_secrets;
mod sql;

pub use blobs::{BlobConfigError, ObjectBlobStore};
pub use config::{BlobsBackend, BlobsConfig, DatabaseConfig, SecretsConfig};
pub use events::{DEFAULT_EVENT_CAPACITY, InProcessEventBus};
pub use local_secrets::{LocalSecretStore, SECRET_KEY_ENV};
pub use sql::{Backend, ConnectError, SqlStore, redact_url};
