//! Generates a synthetic incident, writes it as a case directory and ranks it, as
//! `aurora demo` does before it hands the alert to a running Aurora.
//!
//! `cargo run -p aurora-analysis --example synth -- [SEED] [DIR]` (defaults: seed 1, a folder
//! under the system's temporary directory). `aurora analyze DIR/<case>` reads the result.

use std::path::PathBuf;

use aurora_analysis::synth::{SynthOptions, generate, write_case};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let root = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("aurora-synth"));
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    let inc = generate(&SynthOptions {
        seed,
        end,
        ..Default::default()
    });
    let dir = root.join(inc.case_name());
    write_case(&inc, &dir)?;
    println!("wrote {}", dir.display());
    println!(
        "alert: {} on {} ({}): {}",
        inc.alert.alertname, inc.alert.service, inc.alert.severity, inc.alert.description
    );
    println!("expr:  {}", inc.alert.expr);
    println!("truth: {} ({})\n", inc.root_cause, inc.fault);
    print!("{}", aurora_analysis::analyze_case(&dir)?);
    Ok(())
}
