//! Runs the evaluation harness on directories given as arguments and prints the report.
//!
//! `cargo run --release -p aurora-analysis --example eval -- [--method aurora|baro] [--json]
//! [--no-logs] [--no-traces] [--no-topology] [--no-metrics] [--detect-onset] DIR...`

use std::path::PathBuf;

use aurora_analysis::eval::{EvalOptions, Progress, run_eval};

fn main() {
    let mut opts = EvalOptions::default();
    let mut dirs = Vec::new();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--method" => match args.next().map(|m| m.parse()) {
                Some(Ok(m)) => opts.method = m,
                _ => {
                    eprintln!("--method needs aurora or baro");
                    std::process::exit(2);
                }
            },
            "--json" => json = true,
            "--no-logs" => opts.rank.use_logs = false,
            "--no-traces" => opts.rank.use_traces = false,
            "--no-topology" => opts.rank.use_topology = false,
            "--no-metrics" => opts.rank.use_metrics = false,
            "--detect-onset" => opts.rank.detect_onset = true,
            "--limit" => opts.limit = args.next().and_then(|n| n.parse().ok()),
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    let mut total = 0;
    let report = run_eval(&dirs, &opts, &mut |p| match p {
        Progress::Started { total: t } => total = t,
        Progress::CaseDone {
            index,
            id,
            position,
            seconds,
            ..
        } => eprintln!(
            "[{}/{total}] {id}: {} ({seconds:.2} s)",
            index + 1,
            position.map_or("-".to_string(), |p| format!("#{p}"))
        ),
    });
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("cannot serialize the report: {e}"),
        }
    } else {
        print!("{report}");
    }
}
