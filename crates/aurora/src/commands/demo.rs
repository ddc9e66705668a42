//! `aurora demo`: Aurora's main job on its embedded defaults, with nothing else installed. It
//! serves, generates a realistic incident (a synthetic shop's telemetry with one injected
//! fault, [`aurora_analysis::synth`]), delivers its alert through the Alertmanager webhook,
//! waits for the investigation, prints the report and where to watch it, and keeps serving.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use aurora_analysis::synth::{self, SynthOptions};
use aurora_core::alert::SourceKind;
use aurora_core::ids::{ConnectorId, IncidentId, OrgId};
use aurora_core::investigation::{Investigation, NewConnector};
use aurora_core::model::Role;
use aurora_core::ports::{AccountStore, Store};
use aurora_core::source::{IngestOutcome, SourceOptions};
use aurora_server::accounts::UserForm;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::investigate::Progress;
use crate::connectors::SNAPSHOT;
use crate::settings::Settings;
use crate::startup::{Application, shutdown_signal};

/// The demo's data directory unless `--data-dir` says otherwise: apart from a real one.
const DEMO_DATA_DIR: &str = "aurora-demo";
const DEMO_ADMIN: &str = "admin@demo.aurora.local";
const DEMO_SOURCE: &str = "demo-alertmanager";
const DEMO_CONNECTOR: &str = "demo-snapshot";
/// Longest the demo waits for its investigation.
const INVESTIGATION_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(clap::Args)]
pub struct Args {
    /// Seed of the generated incident (the same seed gives the same incident) [default: random]
    #[arg(long)]
    seed: Option<u64>,
    /// Address to listen on [default: server.listen, or a free port when it is taken]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./aurora-demo]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print the report and exit instead of serving on
    #[arg(long)]
    no_serve: bool,
}

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEMO_DATA_DIR));
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    crate::telemetry::init_logging(&settings.log);
    let shutdown = shutdown_signal();
    let app = match Application::build(settings.clone()).await {
        Ok(app) => app,
        Err(err) if args.listen.is_none() => {
            tracing::info!(error = %err, "the default address is taken; using a free port");
            settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            Application::build(settings).await?
        }
        Err(err) => return Err(err),
    };
    let url = format!("http://{}", app.local_addr());
    let services = app.services();
    let store: Arc<dyn Store> = services.store.clone();
    let org = demo_org(&app).await?;

    let seed = args.seed.unwrap_or_else(|| rand::thread_rng().r#gen());
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let incident = synth::generate(&SynthOptions {
        seed,
        end: now,
        ..SynthOptions::default()
    });
    let case_dir = app
        .settings()
        .data_dir
        .join("demo")
        .join(format!("{}-seed{seed}", incident.case_name()));
    let written = case_dir.clone();
    let to_write = incident.clone();
    tokio::task::spawn_blocking(move || synth::write_case(&to_write, &written))
        .await
        .context("writing the demo telemetry stopped")??;
    println!(
        "Generated an incident (seed {seed}): {} services, alert {} on {}",
        incident.frame.services().len(),
        incident.alert.alertname,
        incident.alert.service
    );
    println!("  telemetry snapshot: {}", case_dir.display());
    use_snapshot(store.as_ref(), org, &case_dir).await?;

    let issued = demo_source(services, org).await?;

    let server = tokio::spawn(app.run_until(shutdown));
    let outcome = deliver(&url, &issued, &incident.alert.webhook()).await?;
    let Some(incident_id) = outcome.new_incidents.first().copied() else {
        bail!("the demo alert opened no incident: {outcome:?}");
    };
    println!("Alert delivered; incident {incident_id} opened. Investigating:");

    let investigation = wait_for_report(store.as_ref(), org, incident_id).await?;
    match &investigation.report {
        Some(report) => println!("\n{}", report.to_markdown()),
        None => println!(
            "\nThe investigation ended {} without a report: {}",
            investigation.status,
            investigation
                .error
                .as_deref()
                .unwrap_or("no reason recorded")
        ),
    }
    println!(
        "Injected fault: {} in {}",
        incident.fault, incident.root_cause
    );
    println!("Watch it at {url}/incidents/{incident_id}");
    if args.no_serve {
        server.abort();
        return Ok(());
    }
    println!("Serving until Ctrl-C.");
    server.await.context("the server task stopped")?
}

/// The organisation the demo works in: a fresh Aurora gets a demo admin, whose password is
/// printed once; an Aurora already set up keeps its accounts.
async fn demo_org(app: &Application) -> anyhow::Result<OrgId> {
    let services = app.services();
    if services.store.is_set_up().await? {
        let orgs = services.store.list_orgs().await?;
        let org = orgs
            .first()
            .context("Aurora is set up but has no organisation")?;
        println!(
            "Using organisation {:?}; sign in with your account.",
            org.name
        );
        return Ok(org.id);
    }
    let password: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let user = services
        .accounts
        .set_up(
            "Demo",
            UserForm {
                email: DEMO_ADMIN.into(),
                name: "Demo Admin".into(),
                role: Role::Admin,
                password: SecretString::from(password.clone()),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the demo admin: {e}"))?;
    println!("Sign in as {DEMO_ADMIN} with password {password}");
    Ok(user.org_id)
}

/// The demo's Alertmanager source with a fresh secret: created on the first run, its secret
/// rotated on later ones (the demo delivers with the new secret at once).
async fn demo_source(
    services: &crate::startup::Services,
    org: OrgId,
) -> anyhow::Result<aurora_server::signals::IssuedSecret> {
    let existing = services
        .signals
        .list_sources(org)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list alert sources: {e}"))?
        .into_iter()
        .find(|source| source.name == DEMO_SOURCE);
    let issued = match existing {
        Some(source) => services.signals.rotate_secret(org, source.id).await,
        None => {
            services
                .signals
                .create_source(
                    org,
                    SourceKind::Alertmanager,
                    DEMO_SOURCE,
                    SourceOptions::default(),
                )
                .await
        }
    };
    issued.map_err(|e| anyhow::anyhow!("cannot set up the demo's alert source: {e}"))
}

/// Points the demo's snapshot connector at `dir`, replacing the previous run's.
async fn use_snapshot(store: &dyn Store, org: OrgId, dir: &std::path::Path) -> anyhow::Result<()> {
    for old in store.list_connectors(org).await? {
        if old.name == DEMO_CONNECTOR {
            store.delete_connector(org, old.id).await?;
        }
    }
    let path = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    store
        .create_connector(
            org,
            NewConnector {
                id: ConnectorId::new(),
                kind: SNAPSHOT.to_owned(),
                name: DEMO_CONNECTOR.to_owned(),
                config: serde_json::json!({ "path": path }),
                secret_refs: Default::default(),
            },
        )
        .await?;
    Ok(())
}

/// Posts the alert as Alertmanager would.
async fn deliver(
    url: &str,
    issued: &aurora_server::signals::IssuedSecret,
    body: &serde_json::Value,
) -> anyhow::Result<IngestOutcome> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(format!("{url}/api/v1/webhooks/{}", issued.source.id))
        .bearer_auth(issued.secret.expose_secret())
        .json(body)
        .send()
        .await
        .context("cannot deliver the demo alert")?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "the webhook refused the demo alert ({status}): {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json().await?)
}

/// Follows the incident's investigation (run by this process's workers) to its end.
async fn wait_for_report(
    store: &dyn Store,
    org: OrgId,
    incident: IncidentId,
) -> anyhow::Result<Investigation> {
    let progress = Progress::new();
    let deadline = tokio::time::Instant::now() + INVESTIGATION_TIMEOUT;
    loop {
        if let Some(latest) = store.latest_for_incident(org, incident).await? {
            progress.catch_up(store, org, latest.id).await;
            if latest.status.is_final() {
                progress.finish(&latest);
                return Ok(latest);
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no report after {INVESTIGATION_TIMEOUT:?}; see the incident page");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
