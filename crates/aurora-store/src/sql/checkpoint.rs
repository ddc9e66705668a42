//! SQLite's write-ahead log, copied into the database file mostly beside the writer instead of
//! by it.
//!
//! SQLite checkpoints in the connection that commits, once the log holds a given number of
//! pages: the writer copies the log's pages into the database file and syncs it before it can
//! start its next transaction, and every write queued behind it waits (under ingest load about
//! a sixth of the writer's time). This task copies the log every [`EVERY`] from a reader
//! connection (a passive checkpoint, concurrent with the writer), and every [`NEAR_FULL_EVERY`]
//! once the log is half way to [`WRITER_CHECKPOINT_PAGES`], so that when the writer's own
//! checkpoint comes due little is left for it to copy (it copies what was committed since the
//! last passive checkpoint: 10–20 ms of copying with the writer stopped when that was 100 ms of
//! ingest). The writer's checkpoint is what starts the log over when the log is busy: a passive
//! checkpoint beside a steady stream of writes seldom finds the log wholly copied, so without
//! it the log would grow without bound. When a passive checkpoint does copy it all, the
//! writer's next transaction starts the log over without copying anything.
//!
//! A checkpoint that leaves part of the log uncopied does not sync the database file (the log
//! still holds those pages), so the sync that closes the writer's checkpoint would have to
//! write back every page copied since the log last started over: at 10,000 log pages, 20–30 ms
//! with the writer stopped. This task therefore also syncs the database file after each of its
//! checkpoints, on a blocking thread, leaving the writer only the pages it copies itself.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::{AnyPool, Row};

/// How often the log is copied from a reader connection.
const EVERY: Duration = Duration::from_millis(100);
/// How often once the log holds half of [`WRITER_CHECKPOINT_PAGES`].
const NEAR_FULL_EVERY: Duration = Duration::from_millis(10);
/// Log pages (about 4 KiB each) at which the writer checkpoints itself (`wal_autocheckpoint`;
/// SQLite's default is 1,000).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Copies the log of `reader`'s database until the store that `alive` belongs to is dropped or
/// the pool is closed.
pub(super) fn spawn(reader: AnyPool, alive: Weak<()>) {
    tokio::spawn(async move {
        let database = match database_file(&reader).await {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the SQLite database file to sync it; the writer will sync it alone");
                None
            }
        };
        let mut wait = EVERY;
        // Log pages copied by the last checkpoint whose copies are synced.
        let mut synced = 0;
        loop {
            tokio::time::sleep(wait).await;
            if alive.strong_count() == 0 || reader.is_closed() {
                return;
            }
            let copied = match passive_checkpoint(&reader).await {
                Ok((log, copied)) => {
                    wait = if log >= i64::from(WRITER_CHECKPOINT_PAGES / 2) {
                        NEAR_FULL_EVERY
                    } else {
                        EVERY
                    };
                    copied
                }
                Err(err) => {
                    if reader.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %err, "SQLite checkpoint failed");
                    continue;
                }
            };
            // Nothing copied since the last sync.
            if copied == synced {
                continue;
            }
            if let Some(file) = &database {
                let file = Arc::clone(file);
                match tokio::task::spawn_blocking(move || file.sync_data()).await {
                    Ok(Ok(())) => synced = copied,
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "cannot sync the SQLite database file")
                    }
                    Err(err) => tracing::warn!(error = %err, "the SQLite file sync task failed"),
                }
            }
        }
    });
}

/// Runs a passive checkpoint; returns the pages in the log, and how many of them are now
/// copied.
async fn passive_checkpoint(reader: &AnyPool) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(reader)
        .await?;
    // Columns: busy, log pages, log pages copied (both -1 when not in WAL mode).
    Ok((row.try_get(1)?, row.try_get(2)?))
}

/// The main database's file, opened for syncing; `None` for an in-memory database.
async fn database_file(reader: &AnyPool) -> Result<Option<Arc<std::fs::File>>, String> {
    let path: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(reader)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|err| err.to_string())?;
    if path.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(path);
    // Syncing needs no write access: the sync is of the file's pages, whoever wrote them.
    let file = tokio::task::spawn_blocking(move || std::fs::File::open(&path))
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| err.to_string())?;
    Ok(Some(Arc::new(file)))
}
