//! `aurora eval` and `aurora analyze`: the analysis engine on telemetry snapshots on disk.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use aurora_analysis::eval::{EvalOptions, Progress, run_eval};
use aurora_analysis::{Method, RankOptions, analyze_case_with};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Dataset directories (RCAEval, PetShop or Nezha layouts, detected by their files)
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Ranking method: aurora (all signals and topology) or baro (robust z-scores of metrics)
    #[arg(long, default_value = "aurora", value_parser = parse_method)]
    method: Method,
    /// Print one JSON object instead of tables
    #[arg(long)]
    json: bool,
    /// Run at most this many cases per directory
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    ablation: Ablation,
}

/// Switches that turn ingredients off, to measure what each one adds.
#[derive(clap::Args)]
struct Ablation {
    /// Ignore metrics
    #[arg(long)]
    no_metrics: bool,
    /// Ignore logs
    #[arg(long)]
    no_logs: bool,
    /// Ignore traces
    #[arg(long)]
    no_traces: bool,
    /// Ignore the call graph
    #[arg(long)]
    no_topology: bool,
    /// Find the onset with change-point detection even when the fault time is known
    #[arg(long)]
    detect_onset: bool,
}

impl Ablation {
    fn options(&self, method: Method) -> RankOptions {
        RankOptions {
            method,
            use_metrics: !self.no_metrics,
            use_logs: !self.no_logs,
            use_traces: !self.no_traces,
            use_topology: !self.no_topology,
            detect_onset: self.detect_onset,
            ..RankOptions::default()
        }
    }
}

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// A case directory; for a directory holding several cases (a Nezha day), DIR#INDEX
    #[arg(value_name = "CASE_DIR")]
    case: PathBuf,
    /// Ranking method: aurora or baro
    #[arg(long, default_value = "aurora", value_parser = parse_method)]
    method: Method,
    /// Print the ranking and its evidence as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    ablation: Ablation,
}

fn parse_method(value: &str) -> Result<Method, String> {
    value
        .parse()
        .map_err(|_| format!("unknown method {value:?}: use aurora or baro"))
}

pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let options = EvalOptions {
        method: args.method,
        rank: args.ablation.options(args.method),
        limit: args.limit,
    };
    let bar = ProgressBar::hidden();
    let report = run_eval(&args.dirs, &options, &mut |progress| match progress {
        Progress::Started { total } => {
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        Progress::CaseDone { id, .. } => {
            bar.set_message(id);
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("cannot write the report")?;
        writeln!(out)?;
    } else {
        write!(out, "{report}")?;
    }
    Ok(())
}

pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let analysis = analyze_case_with(&args.case, &args.ablation.options(args.method))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &analysis).context("cannot write the analysis")?;
        writeln!(out)?;
    } else {
        write!(out, "{analysis}")?;
    }
    Ok(())
}
