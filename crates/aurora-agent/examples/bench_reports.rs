//! Report quality of the evidence pass alone: every labelled case under the given directories
//! is investigated as `aurora investigate --data` does (a snapshot source, no model), and the
//! report's top suspect is compared with the label, beside `aurora eval`'s own top-1 on the
//! same case.
//!
//! `cargo run --release -p aurora-agent --example bench_reports -- DATASET_DIR...`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aurora_agent::{Investigator, Resources, SnapshotTelemetry};
use aurora_analysis::loaders;
use aurora_analysis::rank::RankOptions;
use aurora_core::events::EventBus;
use aurora_core::investigation::TRIGGER_CLI;
use aurora_core::ports::Store;
use aurora_store::{DatabaseConfig, InProcessEventBus, SqlStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if roots.is_empty() {
        return Err("give one or more dataset directories".into());
    }
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
    let store = SqlStore::connect(&url, &DatabaseConfig::default()).await?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let events: Arc<dyn EventBus> = Arc::new(InProcessEventBus::new(1024));
    let org = store.create_org("bench").await?.id;
    let investigator = Investigator::new(store.clone(), events, Default::default());

    for root in roots {
        let (mut cases, mut report_hits, mut eval_hits, mut agree) = (0, 0, 0, 0);
        let began = Instant::now();
        for case in loaders::discover(&root)? {
            let analysed = aurora_analysis::analyze_ref(&case, &RankOptions::default())?;
            let Some(label) = analysed.label.clone() else {
                continue;
            };
            let eval_top = analysed.ranking.suspects.first().map(|s| s.service.clone());
            let path = match case.index {
                Some(i) => PathBuf::from(format!("{}#{i}", case.dir.display())),
                None => case.dir.clone(),
            };
            let snapshot =
                tokio::task::spawn_blocking(move || SnapshotTelemetry::open(&path)).await??;
            let request = snapshot.window().request();
            let investigation = store
                .create_investigation(org, None, TRIGGER_CLI, None)
                .await?;
            let resources = Resources {
                request: Some(request),
                ..Resources::evidence_only(vec![Arc::new(snapshot)])
            };
            let done = investigator.run(org, investigation.id, resources).await?;
            let report_top = done
                .report
                .as_ref()
                .and_then(|r| r.suspects.first())
                .map(|s| s.service.clone());
            cases += 1;
            report_hits += usize::from(report_top.as_deref() == Some(label.as_str()));
            eval_hits += usize::from(eval_top.as_deref() == Some(label.as_str()));
            agree += usize::from(report_top == eval_top);
            if report_top != eval_top {
                println!(
                    "  {}: label {label}, report's top suspect {}, eval's {}",
                    case.id,
                    report_top.as_deref().unwrap_or("none"),
                    eval_top.as_deref().unwrap_or("none")
                );
            }
        }
        println!(
            "{:<40} {cases:>3} cases  report top-1 {report_hits:>3} ({:.3})  eval top-1 {eval_hits:>3} ({:.3})  same top suspect {agree:>3}  {:.1} s",
            root.display(),
            report_hits as f64 / cases.max(1) as f64,
            eval_hits as f64 / cases.max(1) as f64,
            began.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
