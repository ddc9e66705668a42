//! The subcommands.

pub mod admin;
pub mod chat;
pub mod demo;
pub mod eval;
pub mod investigate;
pub mod kb;
pub mod serve;

use aurora_store::SqlStore;

use crate::settings::Settings;

/// `aurora migrate`: applies the migrations this build knows.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&settings.log);
    if settings.database.url.is_none() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let store = SqlStore::connect(&settings.database_url(), &settings.database).await?;
    store.migrate().await?;
    println!(
        "database {} ({}) is up to date",
        store.display_url(),
        store.kind().name()
    );
    store.close().await;
    Ok(())
}
