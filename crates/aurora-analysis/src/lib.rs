//! Aurora's analysis engine: given telemetry around an incident, rank the services most likely
//! to be its root cause and say why.
//!
//! - [`frame`]: the telemetry frame (metrics, logs, spans), windows and call graph.
//! - [`loaders`]: find and load labelled cases from the RCAEval, PetShop and Nezha layouts.
//! - [`onset`]: Bayesian online change-point detection when the incident start is unknown.
//! - [`metric_scores`], [`log_scores`], [`trace_scores`]: per-service anomaly scores with
//!   evidence; [`topology`]: ranking along the call graph; [`baro`]: the BARO baseline.
//! - [`explain`]: each service's share of a known alert, along the call graph.
//! - [`rank`]: the API, `rank(frame, window, topology) -> Ranking`.
//! - [`eval`]: run many cases and report AC@k and Avg@5.
//! - [`synth`]: seeded synthetic incidents (metrics, logs, traces, call graph, alert) for
//!   `aurora demo` and tests.
//!
//! The crate reads files and computes; it does no network IO.

pub mod baro;
pub mod error;
pub mod eval;
pub mod evidence;
pub mod explain;
pub mod frame;
pub mod loaders;
pub mod log_scores;
pub mod metric_scores;
pub mod onset;
pub mod rank;
mod stats;
pub mod synth;
pub mod topology;
pub mod trace_scores;
pub mod windows;

use std::fmt;
use std::path::Path;

pub use error::AnalysisError;
pub use evidence::{Evidence, Source};
pub use frame::{
    LogLevel, LogRecord, MetricKind, MetricSeries, Span, TelemetryFrame, TimeRange, Topology,
    Window,
};
pub use loaders::{Case, CaseRef, Layout};
pub use rank::{Method, RankOptions, Ranking, Suspect, rank, rank_with};

/// How many suspects [`CaseAnalysis`]'s `Display` prints. Default 5: the depth AC@5 judges.
pub const SHOWN_SUSPECTS: usize = 5;

/// One analysed case: where it came from, its label if any, and the ranking.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseAnalysis {
    /// The case.
    pub case: CaseRef,
    /// True root cause, when labelled.
    pub label: Option<String>,
    /// Fault type, when labelled.
    pub fault: Option<String>,
    /// The ranking.
    pub ranking: Ranking,
    /// Seconds spent loading files.
    pub load_seconds: f64,
}

/// Analyses one case directory with the default options. A directory holding several cases
/// (a Nezha day) needs `DIR#INDEX` (0-based) to pick one.
pub fn analyze_case(dir: &Path) -> Result<CaseAnalysis, AnalysisError> {
    analyze_case_with(dir, &RankOptions::default())
}

/// [`analyze_case`] with explicit options.
pub fn analyze_case_with(dir: &Path, opts: &RankOptions) -> Result<CaseAnalysis, AnalysisError> {
    let (path, index) = split_index(dir);
    let cases = loaders::discover(&path)?;
    let case = match (cases.len(), index) {
        (0, _) => return Err(AnalysisError::UnknownLayout(path)),
        (_, Some(i)) => cases.get(i).cloned().ok_or_else(|| {
            AnalysisError::bad(
                &path,
                format!("no case #{i}; the directory holds {} cases", cases.len()),
            )
        })?,
        (1, None) => cases[0].clone(),
        (n, None) => {
            return Err(AnalysisError::bad(
                &path,
                format!(
                    "the directory holds {n} cases; pick one with {}#INDEX (0 to {})",
                    path.display(),
                    n - 1
                ),
            ));
        }
    };
    analyze_ref(&case, opts)
}

/// Loads and ranks one discovered case.
pub fn analyze_ref(case: &CaseRef, opts: &RankOptions) -> Result<CaseAnalysis, AnalysisError> {
    let t = std::time::Instant::now();
    let loaded = case.load()?;
    let load_seconds = t.elapsed().as_secs_f64();
    let ranking = rank_with(&loaded.frame, &loaded.window, &loaded.topology, opts)?;
    Ok(CaseAnalysis {
        case: case.clone(),
        label: loaded.label,
        fault: loaded.fault,
        ranking,
        load_seconds,
    })
}

/// `DIR#3` → (`DIR`, Some(3)) when `DIR#3` itself does not exist.
fn split_index(p: &Path) -> (std::path::PathBuf, Option<usize>) {
    if !p.exists() {
        let s = p.to_string_lossy();
        if let Some((head, idx)) = s.rsplit_once('#')
            && let Ok(i) = idx.parse::<usize>()
        {
            return (head.into(), Some(i));
        }
    }
    (p.to_path_buf(), None)
}

fn fmt_time(t: f64) -> String {
    let secs = t.floor() as i64;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("{t:.0}"),
    }
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        format!("{x:.3}")
    }
}

impl fmt::Display for CaseAnalysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.ranking;
        writeln!(f, "case      {} ({})", self.case.id, self.case.layout)?;
        let onset_how = match &r.onset_source {
            rank::OnsetSource::Known => "known".to_string(),
            rank::OnsetSource::Detected { series, shift } => {
                format!("detected in {series}, shift {shift:.1} sd")
            }
            rank::OnsetSource::WindowStart => "start of the incident window".to_string(),
        };
        writeln!(f, "onset     {} ({onset_how})", fmt_time(r.onset))?;
        if let Some(l) = &self.label {
            let pos = r
                .position(l)
                .map_or("not ranked".to_string(), |p| format!("ranked #{p}"));
            writeln!(
                f,
                "label     {l}{} ({pos})",
                self.fault
                    .as_deref()
                    .map(|x| format!(" / {x}"))
                    .unwrap_or_default()
            )?;
        }
        writeln!(
            f,
            "time      load {:.2} s, rank {:.2} s",
            self.load_seconds, r.timings.total
        )?;
        writeln!(f)?;
        for (i, s) in r.suspects.iter().take(SHOWN_SUSPECTS).enumerate() {
            writeln!(f, "{:>2}. {}  (score {:.3})", i + 1, s.service, s.score)?;
            for e in s.evidence.iter().take(4) {
                let change = match (e.normal, e.observed) {
                    (Some(n), Some(o)) => format!("{} -> {}", fmt_num(n), fmt_num(o)),
                    (None, Some(o)) => fmt_num(o),
                    _ => String::new(),
                };
                let since = e
                    .since
                    .map(|t| format!(", since {}", fmt_time(t)))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "      [{:?}] {}: {} (z {:.1}{}) {}",
                    e.source, e.subject, change, e.z, since, e.note
                )?;
            }
        }
        if r.suspects.len() > SHOWN_SUSPECTS {
            writeln!(
                f,
                "    ... {} more services",
                r.suspects.len() - SHOWN_SUSPECTS
            )?;
        }
        Ok(())
    }
}
