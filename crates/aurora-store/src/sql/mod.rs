//! The SQL store: one portable implementation over sqlx's `Any` driver for SQLite and
//! PostgreSQL, with one migration set per backend.

mod accounts;
mod chat;
mod checkpoint;
mod grouping;
mod investigations;
mod jobs;
mod keyword_index;
mod knowledge;
mod sign_index;
mod sqlite_vec;
#[macro_use]
mod signals;
mod ingest;
#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::ports::Store;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use time::OffsetDateTime;

use crate::config::DatabaseConfig;
use ingest::IngestQueue;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
/// The SQLite writer's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "unsupported database.url {0:?}: use sqlite://<path> or postgres://user:password@host:port/db"
    )]
    UnsupportedUrl(String),
    #[error(
        "cannot connect to the database at {url}: {source}; check database.url and that the server is running"
    )]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot apply migrations to the database at {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot build the keyword index of the database at {url}: {source}")]
    KeywordIndex { url: String, source: StoreError },
}

/// A [`Store`] over a SQLite or PostgreSQL connection pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    /// Where writes go: a one-connection pool on SQLite, `pool` itself on PostgreSQL.
    writer: AnyPool,
    /// The group-committing ingest writer, started on first use.
    ingest: Arc<OnceLock<IngestQueue>>,
    /// SQLite's in-memory sign bits of the vectors, for vector search (see `sign_index`).
    signs: Arc<sign_index::SignIndexes>,
    /// Dropped with the last clone of the store, which ends its background tasks.
    _alive: Arc<()>,
    backend: Backend,
    url: String,
}

impl SqlStore {
    /// Opens a pool (creating a SQLite file if missing). Does not migrate: call
    /// [`SqlStore::migrate`].
    pub async fn connect(url: &str, config: &DatabaseConfig) -> Result<Self, ConnectError> {
        sqlx::any::install_default_drivers();
        sqlite_vec::register();
        let backend =
            Backend::from_url(url).ok_or_else(|| ConnectError::UnsupportedUrl(redact_url(url)))?;
        let given = url.to_owned();
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        // `writer`: the SQLite writer's pool (see below).
        let connect = |max: u32, writer: bool| {
            let mut options = AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(config.connect_timeout);
            if backend == Backend::Sqlite {
                // A local file does not go stale between uses; pinging it before each
                // transaction would cost the writer a round trip to the connection's thread.
                options = options.test_before_acquire(!writer);
                // WAL lets readers run beside the writer; NORMAL sync is durable in WAL mode
                // except for the last transactions on power loss, which is SQLite's recommended
                // setting.
                options = options.after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // Statement journals of multi-row writes stay in memory, not in
                        // temporary files.
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        if writer {
                            // The log is mostly copied by `checkpoint`, beside the writer.
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA wal_autocheckpoint = {}",
                                checkpoint::WRITER_CHECKPOINT_PAGES
                            )))
                            .await?;
                            // The writer's page cache stays valid from one transaction to the
                            // next (no other connection writes). SQLite's default of 2 MiB
                            // holds little more than the indexes' upper levels once alerts
                            // number in the millions: the writer then reads most index leaves
                            // it updates back from the OS, a system call and a copy each. Much
                            // larger costs as much as it saves: SQLite walks the cache to trim
                            // it at the end of every transaction.
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA cache_size = -{}",
                                WRITER_CACHE_KIB
                            )))
                            .await?;
                        }
                        Ok(())
                    })
                });
            }
            let url = url.clone();
            async move {
                options
                    .connect(&url)
                    .await
                    .map_err(|source| ConnectError::Connect {
                        url: redact_url(&url),
                        source,
                    })
            }
        };
        let pool = connect(config.max_connections.max(1), false).await?;
        // SQLite admits one writer at a time and makes the others sleep in its busy handler
        // (milliseconds at a time, growing), which under concurrent writes costs far more than
        // the writes. All writes therefore go through one connection, whose pool queues them
        // fairly in process; reads keep the other connections. PostgreSQL writes concurrently.
        let alive = Arc::new(());
        let writer = match backend {
            Backend::Sqlite => {
                let writer = connect(1, true).await?;
                checkpoint::spawn(pool.clone(), Arc::downgrade(&alive));
                writer
            }
            Backend::Postgres => pool.clone(),
        };
        // Keep the URL as configured for messages; the pool has the connect options.
        Ok(Self {
            pool,
            writer,
            ingest: Arc::default(),
            signs: Arc::default(),
            _alive: alive,
            backend,
            url: given,
        })
    }

    /// Applies this build's migrations that the database lacks, then indexes for keyword
    /// search the chunks of databases made before that index existed.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        self.backend
            .migrator()
            .run(&self.pool)
            .await
            .map_err(|source| ConnectError::Migrate {
                url: redact_url(&self.url),
                source,
            })?;
        keyword_index::build_missing(&self.writer, self.backend)
            .await
            .map_err(|source| ConnectError::KeywordIndex {
                url: redact_url(&self.url),
                source,
            })?;
        Ok(())
    }

    pub fn kind(&self) -> Backend {
        self.backend
    }

    /// The URL with any password replaced by `***`.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// The pool for reads.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The ingest writer; its task starts on the runtime of the first delivery.
    pub(crate) fn ingest_queue(&self) -> &IngestQueue {
        self.ingest
            .get_or_init(|| IngestQueue::start(self.writer.clone(), self.backend))
    }

    /// The pool for writes and for transactions that write.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS version FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get("version"))
        .map_err(|err| match err {
            sqlx::Error::Database(_) => StoreError::NotMigrated(err.to_string()),
            other => db_error(other),
        })?;
        let expected = self
            .backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < expected {
            return Err(StoreError::NotMigrated(format!(
                "schema version {applied}, this build needs {expected}: run `aurora migrate`"
            )));
        }
        Ok(())
    }
}

/// Replaces the password of a URL, if any, with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(err.to_string())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("row"),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `message`.
pub(crate) fn conflict_or(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => db_error(err),
    }
}

pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|err| StoreError::Corrupt(format!("timestamp {ms}: {err}")))
}

pub(crate) fn parse_column<T: FromStr>(value: &str, what: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|err| StoreError::Corrupt(format!("{what} {value:?}: {err}")))
}
