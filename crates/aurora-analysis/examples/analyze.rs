//! Prints one case's ranking with its evidence.
//!
//! `cargo run --release -p aurora-analysis --example analyze -- [--method aurora|baro] CASE_DIR[#INDEX]`

use std::path::PathBuf;

use aurora_analysis::{RankOptions, analyze_case_with};

fn main() {
    let mut opts = RankOptions::default();
    let mut dirs = Vec::new();
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
            "--no-logs" => opts.use_logs = false,
            "--no-traces" => opts.use_traces = false,
            "--no-topology" => opts.use_topology = false,
            "--detect-onset" => opts.detect_onset = true,
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    for d in dirs {
        match analyze_case_with(&d, &opts) {
            Ok(a) => println!("{a}"),
            Err(e) => eprintln!("{}: {e}", d.display()),
        }
    }
}
