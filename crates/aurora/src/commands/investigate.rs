//! `aurora investigate`: one investigation in the foreground, with its steps printed as they
//! are recorded, then its report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use aurora_agent::{Investigator, ResourceResolver, Resources, SnapshotTelemetry};
use aurora_core::events::EventBus;
use aurora_core::ids::{IncidentId, InvestigationId, OrgId};
use aurora_core::investigation::{Investigation, Step, StepKind, TRIGGER_CLI};
use aurora_core::ports::{AccountStore, InvestigationStore, SignalStore, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::settings::Settings;
use crate::startup::Services;

#[derive(clap::Args)]
pub struct Args {
    /// The incident to investigate, by id (as the UI and the API show it)
    #[arg(value_name = "INCIDENT_ID", required_unless_present = "data")]
    incident: Option<IncidentId>,
    /// Investigate an offline telemetry snapshot instead: a case directory in any layout that
    /// `aurora analyze` reads
    #[arg(long, value_name = "CASE_DIR", conflicts_with = "incident")]
    data: Option<PathBuf>,
    /// Print the report as JSON instead of Markdown
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&settings.log);
    let (investigation, store) = match (&args.incident, &args.data) {
        (_, Some(dir)) => offline(settings, dir).await?,
        (Some(incident), None) => online(settings, *incident).await?,
        (None, None) => bail!("give an incident id or --data CASE_DIR"),
    };
    let Some(report) = &investigation.report else {
        bail!(
            "the investigation ended {} without a report: {}",
            investigation.status,
            investigation
                .error
                .as_deref()
                .unwrap_or("no reason recorded")
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("\n{}", report.to_markdown());
    }
    drop(store);
    Ok(())
}

/// Investigates an incident of the configured Aurora with its organisation's connectors.
async fn online(
    settings: Settings,
    incident: IncidentId,
) -> anyhow::Result<(Investigation, Arc<dyn Store>)> {
    let services = Services::open(&settings).await?;
    let org = org_of(&services, incident).await?;
    let store: Arc<dyn Store> = services.store.clone();
    let investigation = store
        .create_investigation(org, Some(incident), TRIGGER_CLI, None)
        .await?;
    let resources = services
        .resources()
        .resolve(org)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let done = follow(&store, &services.events, org, investigation.id, resources).await?;
    Ok((done, store))
}

/// The organisation an incident belongs to; the CLI acts for the operator, across organisations.
async fn org_of(services: &Services, incident: IncidentId) -> anyhow::Result<OrgId> {
    for org in services.store.list_orgs().await? {
        if services.store.get_incident(org.id, incident).await.is_ok() {
            return Ok(org.id);
        }
    }
    bail!("no incident {incident} in this Aurora; check the id in the incidents list")
}

/// Investigates a recorded case in a throw-away data directory.
async fn offline(
    mut settings: Settings,
    dir: &std::path::Path,
) -> anyhow::Result<(Investigation, Arc<dyn Store>)> {
    let snapshot_dir = dir.to_owned();
    let snapshot = tokio::task::spawn_blocking(move || SnapshotTelemetry::open(&snapshot_dir))
        .await
        .context("reading the snapshot stopped")?
        .with_context(|| format!("cannot read {} as a telemetry snapshot", dir.display()))?;
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    settings.data_dir = scratch.path().to_owned();
    settings.database.url = None;
    let services = Services::open(&settings).await?;
    let store: Arc<dyn Store> = services.store.clone();
    let org = store.create_org("offline").await?.id;
    let investigation = store
        .create_investigation(org, None, TRIGGER_CLI, None)
        .await?;
    let resources = Resources {
        request: Some(snapshot.window().request()),
        ..Resources::evidence_only(vec![Arc::new(snapshot)])
    };
    let done = follow(&store, &services.events, org, investigation.id, resources).await?;
    Ok((done, store))
}

/// Runs the investigation here and prints its steps as they are recorded.
async fn follow(
    store: &Arc<dyn Store>,
    events: &Arc<dyn EventBus>,
    org: OrgId,
    id: InvestigationId,
    resources: Resources,
) -> anyhow::Result<Investigation> {
    let investigator = Investigator::new(store.clone(), events.clone(), Default::default());
    let run = investigator.run(org, id, resources);
    let progress = Progress::new();
    let printer = print_steps(store.as_ref(), org, id, &progress);
    tokio::pin!(run);
    tokio::pin!(printer);
    let done = tokio::select! {
        done = &mut run => done?,
        never = &mut printer => match never {},
    };
    progress.catch_up(store.as_ref(), org, id).await;
    progress.finish(&done);
    Ok(done)
}

/// Prints new steps until cancelled (the investigation's end drops it).
async fn print_steps(
    store: &dyn InvestigationStore,
    org: OrgId,
    id: InvestigationId,
    progress: &Progress,
) -> std::convert::Infallible {
    loop {
        progress.catch_up(store, org, id).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The terminal's view of an investigation: one line per step under a spinner.
pub struct Progress {
    bar: ProgressBar,
    shown: std::sync::atomic::AtomicU32,
}

impl Progress {
    pub fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("investigating");
        Self {
            bar,
            shown: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Prints the steps recorded since the last call.
    pub async fn catch_up(&self, store: &dyn InvestigationStore, org: OrgId, id: InvestigationId) {
        use std::sync::atomic::Ordering;
        let after = self.shown.load(Ordering::Relaxed);
        let Ok(steps) = store
            .list_steps(org, id, (after > 0).then_some(after))
            .await
        else {
            return;
        };
        for step in steps {
            if self.bar.is_hidden() {
                eprintln!("{}", describe(&step));
            } else {
                self.bar.println(describe(&step));
            }
            self.bar.set_message(format!("step {}", step.seq));
            self.shown.store(step.seq, Ordering::Relaxed);
        }
    }

    pub fn finish(&self, investigation: &Investigation) {
        self.bar.finish_and_clear();
        let usage = &investigation.usage;
        eprintln!(
            "investigation {} {} ({} tokens, ${:.4})",
            investigation.id,
            investigation.status,
            usage.total(),
            investigation.cost_usd
        );
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// One line for a step: its number, kind and the gist of its payload.
fn describe(step: &Step) -> String {
    let p = &step.payload;
    let text = |key: &str| p.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let gist = match step.kind {
        StepKind::ToolCall => format!(
            "{} {}",
            text("tool").unwrap_or_default(),
            p.get("arguments").map(compact).unwrap_or_default()
        ),
        StepKind::ToolResult => match p.get("error") {
            Some(error) if !error.is_null() => format!("error: {}", compact(error)),
            _ => text("summary")
                .or_else(|| {
                    let bytes = p
                        .get("output")
                        .or_else(|| p.get("result"))?
                        .to_string()
                        .len();
                    Some(format!("{bytes} bytes of result"))
                })
                .unwrap_or_else(|| "result recorded".to_owned()),
        },
        StepKind::Report => text("summary").unwrap_or_else(|| "report written".to_owned()),
        StepKind::Analysis if p.get("suspects").is_some() => {
            let suspects: Vec<String> = p["suspects"]
                .as_array()
                .into_iter()
                .flatten()
                .take(3)
                .map(|s| {
                    format!(
                        "{} ({:.2})",
                        s["service"].as_str().unwrap_or("?"),
                        s["score"].as_f64().unwrap_or_default()
                    )
                })
                .collect();
            format!("ranked {}", suspects.join(", "))
        }
        _ => text("text")
            .or_else(|| text("summary"))
            .or_else(|| text("message"))
            .unwrap_or_else(|| compact(p)),
    };
    let kind = serde_json::to_value(step.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("  [{:>2}] {kind:<11} {}", step.seq, first_line(&gist, 110))
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_owned()
    }
}
