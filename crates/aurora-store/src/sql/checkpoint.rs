//! SQLite's write-ahead log, copied into the database file mostly beside the writer instead of
//! by it.
//!
//! SQLite checkpoints in the connection that commits, once the log holds a given number of
//! pages: the writer copies the log's pages into the database file and syncs it before it can
//! start its next transaction, and every write queued behind it waits (under ingest load about
//! a sixth of the writer's time). This task copies the log every [`EVERY`] from a reader
//! connection (a passive checkpoint, concurrent with the writer), so that when the writer's own
//! checkpoint comes due, at [`WRITER_CHECKPOINT_PAGES`], little is left for it to copy. The
//! writer's checkpoint is what starts the log over: a passive checkpoint beside a steady stream
//! of writes never finds the log wholly copied, so without it the log would grow without bound.

use std::sync::Weak;
use std::time::Duration;

use sqlx::AnyPool;

/// How often the log is copied from a reader connection.
const EVERY: Duration = Duration::from_millis(100);
/// Log pages (about 4 KiB each) at which the writer checkpoints itself (`wal_autocheckpoint`;
/// SQLite's default is 1,000).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Copies the log of `reader`'s database until the store that `alive` belongs to is dropped or
/// the pool is closed.
pub(super) fn spawn(reader: AnyPool, alive: Weak<()>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 || reader.is_closed() {
                return;
            }
            if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&reader)
                .await
            {
                if reader.is_closed() {
                    return;
                }
                tracing::warn!(error = %err, "SQLite checkpoint failed");
            }
        }
    });
}
