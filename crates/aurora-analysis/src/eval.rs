//! The evaluation harness: find every case under the given directories, rank each, and score
//! AC@1, AC@3, AC@5 and Avg@5 overall, per fault type and per dataset (one dataset per given
//! directory). A case that fails to load or rank is listed with its error and counts as a miss.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::loaders::{CaseRef, discover};
use crate::rank::{Method, RankOptions};

/// Options of an evaluation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalOptions {
    /// Ranking method. Default [`Method::Aurora`]; overrides `rank.method`.
    pub method: Method,
    /// Ranker options (ablation switches). Default [`RankOptions::default`].
    pub rank: RankOptions,
    /// At most this many cases per directory, in path order. Default `None`: all.
    pub limit: Option<usize>,
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Discovery finished: this many cases will run.
    Started {
        /// Number of cases.
        total: usize,
    },
    /// One case finished.
    CaseDone {
        /// 0-based position among all cases.
        index: usize,
        /// Case id.
        id: String,
        /// 1-based rank of the true root cause, `None` if not in the ranking or failed.
        position: Option<usize>,
        /// Whether the case failed.
        failed: bool,
        /// Seconds spent on it.
        seconds: f64,
    },
}

/// AC@k figures over a set of cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scores {
    /// Number of cases (failures included, as misses).
    pub cases: usize,
    /// Share of cases with the root cause ranked first.
    pub ac1: f64,
    /// Share with the root cause in the top 3.
    pub ac3: f64,
    /// Share with the root cause in the top 5.
    pub ac5: f64,
    /// Mean of AC@1 .. AC@5.
    pub avg5: f64,
    /// Mean seconds per case (load and rank).
    pub mean_seconds: f64,
}

impl Scores {
    /// Computes the figures from (position, seconds) pairs; `None` is a miss.
    pub fn from_results<'a>(items: impl IntoIterator<Item = &'a CaseResult>) -> Scores {
        let items: Vec<&CaseResult> = items.into_iter().collect();
        let n = items.len();
        if n == 0 {
            return Scores::default();
        }
        let ac = |k: usize| {
            items
                .iter()
                .filter(|r| r.position.is_some_and(|p| p <= k))
                .count() as f64
                / n as f64
        };
        let acs: Vec<f64> = (1..=5).map(ac).collect();
        Scores {
            cases: n,
            ac1: acs[0],
            ac3: acs[2],
            ac5: acs[4],
            avg5: acs.iter().sum::<f64>() / 5.0,
            mean_seconds: items.iter().map(|r| r.seconds).sum::<f64>() / n as f64,
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// Dataset (the given directory's name).
    pub dataset: String,
    /// Case id.
    pub id: String,
    /// Fault type (`unknown` when the data does not say).
    pub fault: String,
    /// True root cause.
    pub label: Option<String>,
    /// 1-based rank of the label.
    pub position: Option<usize>,
    /// The top five suspects.
    pub top: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
    /// Error, for a failed case.
    pub error: Option<String>,
}

/// A failed case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Case id (or directory, when discovery failed).
    pub case: String,
    /// What went wrong.
    pub error: String,
}

/// Figures of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetReport {
    /// Overall figures.
    #[serde(flatten)]
    pub scores: Scores,
    /// Figures per fault type.
    pub per_fault: BTreeMap<String, Scores>,
}

/// The report of an evaluation run. Serializes as `{cases, ac1, ac3, ac5, avg5, mean_seconds,
/// per_fault, per_dataset (several directories only), failures}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Overall figures.
    #[serde(flatten)]
    pub scores: Scores,
    /// Figures per fault type over all datasets.
    pub per_fault: BTreeMap<String, Scores>,
    /// Figures per dataset, when several directories were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_dataset: Option<BTreeMap<String, DatasetReport>>,
    /// Failed cases.
    pub failures: Vec<Failure>,
    /// Method used.
    #[serde(skip)]
    pub method: Method,
    /// Every case's outcome.
    #[serde(skip)]
    pub results: Vec<CaseResult>,
}

fn per_fault(results: &[&CaseResult]) -> BTreeMap<String, Scores> {
    let mut groups: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        groups.entry(r.fault.clone()).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(k, v)| (k, Scores::from_results(v)))
        .collect()
}

fn dataset_names(dirs: &[PathBuf]) -> Vec<String> {
    let base: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.canonicalize()
                .ok()
                .and_then(|c| c.file_name().map(|n| n.to_string_lossy().to_string()))
                .unwrap_or_else(|| d.to_string_lossy().to_string())
        })
        .collect();
    base.iter()
        .enumerate()
        .map(|(i, b)| {
            if base.iter().filter(|x| *x == b).count() > 1 {
                dirs[i].to_string_lossy().to_string()
            } else {
                b.clone()
            }
        })
        .collect()
}

/// Runs every case under `dirs` and scores the rankings. Never panics on bad input: cases that
/// fail are listed in [`EvalReport::failures`] and count as misses.
pub fn run_eval(
    dirs: &[PathBuf],
    opts: &EvalOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> EvalReport {
    let names = dataset_names(dirs);
    let mut failures = Vec::new();
    let mut todo: Vec<(String, CaseRef)> = Vec::new();
    for (dir, name) in dirs.iter().zip(&names) {
        match discover(dir) {
            Ok(cases) if cases.is_empty() => failures.push(Failure {
                case: dir.to_string_lossy().to_string(),
                error: crate::AnalysisError::UnknownLayout(dir.clone()).to_string(),
            }),
            Ok(cases) => {
                let n = opts.limit.unwrap_or(usize::MAX);
                todo.extend(cases.into_iter().take(n).map(|c| (name.clone(), c)));
            }
            Err(e) => failures.push(Failure {
                case: dir.to_string_lossy().to_string(),
                error: e.to_string(),
            }),
        }
    }
    on_progress(Progress::Started { total: todo.len() });
    let mut rank_opts = opts.rank.clone();
    rank_opts.method = opts.method;
    let mut results = Vec::with_capacity(todo.len());
    for (index, (dataset, case)) in todo.iter().enumerate() {
        let t = Instant::now();
        let outcome = crate::analyze_ref(case, &rank_opts);
        let seconds = t.elapsed().as_secs_f64();
        let result = match outcome {
            Ok(a) => {
                let position = a.label.as_deref().and_then(|l| a.ranking.position(l));
                let error = a
                    .label
                    .is_none()
                    .then(|| "the case has no root-cause label".to_string());
                CaseResult {
                    dataset: dataset.clone(),
                    id: case.id.clone(),
                    fault: a.fault.clone().unwrap_or_else(|| "unknown".into()),
                    label: a.label.clone(),
                    position,
                    top: a
                        .ranking
                        .suspects
                        .iter()
                        .take(5)
                        .map(|s| s.service.clone())
                        .collect(),
                    seconds,
                    error,
                }
            }
            Err(e) => CaseResult {
                dataset: dataset.clone(),
                id: case.id.clone(),
                fault: "unknown".into(),
                label: None,
                position: None,
                top: Vec::new(),
                seconds,
                error: Some(e.to_string()),
            },
        };
        if let Some(e) = &result.error {
            failures.push(Failure {
                case: format!("{dataset}/{}", result.id),
                error: e.clone(),
            });
        }
        on_progress(Progress::CaseDone {
            index,
            id: case.id.clone(),
            position: result.position,
            failed: result.error.is_some(),
            seconds,
        });
        results.push(result);
    }
    let all: Vec<&CaseResult> = results.iter().collect();
    let per_dataset = (dirs.len() > 1).then(|| {
        names
            .iter()
            .map(|n| {
                let rs: Vec<&CaseResult> = results.iter().filter(|r| &r.dataset == n).collect();
                (
                    n.clone(),
                    DatasetReport {
                        scores: Scores::from_results(rs.iter().copied()),
                        per_fault: per_fault(&rs),
                    },
                )
            })
            .collect()
    });
    EvalReport {
        scores: Scores::from_results(all.iter().copied()),
        per_fault: per_fault(&all),
        per_dataset,
        failures,
        method: opts.method,
        results,
    }
}

fn table(f: &mut fmt::Formatter<'_>, title: &str, rows: &[(String, &Scores)]) -> fmt::Result {
    writeln!(f, "{title}")?;
    writeln!(
        f,
        "  {:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9}",
        "", "cases", "AC@1", "AC@3", "AC@5", "Avg@5", "s/case"
    )?;
    for (name, s) in rows {
        writeln!(
            f,
            "  {:<28} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>9.3}",
            name, s.cases, s.ac1, s.ac3, s.ac5, s.avg5, s.mean_seconds
        )?;
    }
    Ok(())
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "method: {}", self.method)?;
        let mut rows = vec![("all".to_string(), &self.scores)];
        rows.extend(
            self.per_fault
                .iter()
                .map(|(k, v)| (format!("fault {k}"), v)),
        );
        table(f, "overall", &rows)?;
        if let Some(pd) = &self.per_dataset {
            for (name, d) in pd {
                let mut rows = vec![("all".to_string(), &d.scores)];
                rows.extend(d.per_fault.iter().map(|(k, v)| (format!("fault {k}"), v)));
                writeln!(f)?;
                table(f, &format!("dataset {name}"), &rows)?;
            }
        }
        let misses: Vec<&CaseResult> = self
            .results
            .iter()
            .filter(|r| r.error.is_none() && r.position != Some(1))
            .collect();
        if !misses.is_empty() {
            writeln!(f)?;
            writeln!(f, "not ranked first ({}):", misses.len())?;
            for r in misses {
                writeln!(
                    f,
                    "  {}/{}: {} at {} (top: {})",
                    r.dataset,
                    r.id,
                    r.label.as_deref().unwrap_or("?"),
                    r.position.map_or("-".to_string(), |p| format!("#{p}")),
                    r.top.join(", ")
                )?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(f)?;
            writeln!(f, "failed ({}):", self.failures.len())?;
            for x in &self.failures {
                writeln!(f, "  {}: {}", x.case, x.error)?;
            }
        }
        Ok(())
    }
}

/// Path of the shared datasets relative to this crate, for tests.
pub fn default_datasets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

#[cfg(test)]
mod tests;
