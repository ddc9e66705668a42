//! `aurora serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use aurora_core::ports::AccountStore;

use crate::settings::Settings;
use crate::startup::{Application, shutdown_signal};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on; overrides server.listen
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory; overrides data_dir
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        settings.data_dir = dir;
    }
    crate::telemetry::init_logging(&settings.log);
    let shutdown = shutdown_signal();
    let app = Application::build(settings).await?;
    let url = format!("http://{}", app.local_addr());
    let data_dir = app.settings().data_dir.display().to_string();
    let set_up = app.services().store.is_set_up().await?;
    println!("Aurora {} is listening on {url}", crate::BUILD.version);
    println!(
        "  data:     {data_dir} (database: {}, secrets: {})",
        app.services().store.display_url(),
        app.services().secrets.backend()
    );
    if !set_up {
        println!("  first run: open {url}/setup to create the admin account,");
        println!(
            "             or run `aurora admin create-user --email you@example.com --role admin`"
        );
    }
    tracing::info!(%url, ready_ms = app.startup_time().as_millis() as u64, "ready");
    app.run_until(shutdown).await
}
