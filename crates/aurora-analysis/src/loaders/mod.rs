//! Dataset loaders: find cases under a directory by the files present, and turn each case into a
//! [`TelemetryFrame`], a [`Window`] and a [`Topology`], with its label when the data has one.
//!
//! Layouts (detected by files, never by directory names):
//! - RCAEval: `inject_time.txt` with `data.csv`, `simple_metrics.csv` or `metrics.json`, and
//!   optional `logs.csv`, `traces.csv` ([`rcaeval`]).
//! - PetShop: `metrics.csv` with `target.json`, a `graph.csv` adjacency matrix and an optional
//!   `noissue/metrics.csv` above the case ([`petshop`]).
//! - Nezha: a `*fault_list.json` beside `metric/`, `log/` and `trace/` folders, one case per
//!   listed fault, normal periods in a sibling `construct_data/<day>/` ([`nezha`]).

pub mod csvutil;
pub mod nezha;
pub mod petshop;
pub mod rcaeval;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::AnalysisError;
use crate::frame::{TelemetryFrame, Topology, Window};

/// The file layout a case was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// RCAEval (`inject_time.txt` + metrics file).
    RcaEval,
    /// PetShop (`metrics.csv` + `target.json`).
    PetShop,
    /// Nezha (`*fault_list.json` + `metric/`, `log/`, `trace/`).
    Nezha,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::RcaEval => "rcaeval",
            Layout::PetShop => "petshop",
            Layout::Nezha => "nezha",
        })
    }
}

/// A case found on disk, not loaded yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRef {
    /// Human id: the case directory relative to the searched root (plus `#index` for Nezha).
    pub id: String,
    /// The case directory (for Nezha, the day directory).
    pub dir: PathBuf,
    /// Detected layout.
    pub layout: Layout,
    /// Index of the fault within a Nezha day; `None` for other layouts.
    pub index: Option<usize>,
}

/// A loaded case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Where it came from.
    pub reference: CaseRef,
    /// The telemetry.
    pub frame: TelemetryFrame,
    /// Incident and normal windows.
    pub window: Window,
    /// Call graph given by the data or built from its spans (may be empty).
    pub topology: Topology,
    /// The true root-cause service, when the data is labelled.
    pub label: Option<String>,
    /// The fault type, when the data says.
    pub fault: Option<String>,
}

/// How deep [`discover`] descends below the given directory. Default 8: the deepest layout
/// here is four levels (`<dataset>/<scenario>/train/issue_N`), with room for wrapping folders,
/// while a symlink loop still terminates.
pub const MAX_DEPTH: usize = 8;

/// Detects the layout of one directory from the files it holds.
pub fn detect(dir: &Path) -> Option<Layout> {
    let has = |name: &str| dir.join(name).is_file();
    if has("inject_time.txt")
        && (has("data.csv") || has("simple_metrics.csv") || has("metrics.json"))
    {
        return Some(Layout::RcaEval);
    }
    if has("target.json") && has("metrics.csv") {
        return Some(Layout::PetShop);
    }
    if nezha::fault_list_path(dir).is_some() {
        return Some(Layout::Nezha);
    }
    None
}

/// Finds every case under `root` (which may itself be a case), sorted by path.
pub fn discover(root: &Path) -> Result<Vec<CaseRef>, AnalysisError> {
    if !root.is_dir() {
        return Err(AnalysisError::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut out = Vec::new();
    walk(root, root, 0, &mut out)?;
    Ok(out)
}

fn relative_id(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let s = rel.to_string_lossy().to_string();
    if s.is_empty() {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| dir.to_string_lossy().to_string())
    } else {
        s
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<CaseRef>,
) -> Result<(), AnalysisError> {
    if let Some(layout) = detect(dir) {
        let id = relative_id(root, dir);
        if layout == Layout::Nezha {
            let n = nezha::fault_count(dir)?;
            for i in 0..n {
                out.push(CaseRef {
                    id: format!("{id}#{i}"),
                    dir: dir.to_path_buf(),
                    layout,
                    index: Some(i),
                });
            }
        } else {
            out.push(CaseRef {
                id,
                dir: dir.to_path_buf(),
                layout,
                index: None,
            });
        }
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| AnalysisError::io(dir, e))?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for d in subdirs {
        walk(root, &d, depth + 1, out)?;
    }
    Ok(())
}

impl CaseRef {
    /// Loads the case's files.
    pub fn load(&self) -> Result<Case, AnalysisError> {
        let mut case = match self.layout {
            Layout::RcaEval => rcaeval::load(self)?,
            Layout::PetShop => petshop::load(self)?,
            Layout::Nezha => nezha::load(self, self.index.unwrap_or(0))?,
        };
        case.frame.normalize();
        Ok(case)
    }
}

/// Unix seconds from a number in seconds, milliseconds, microseconds or nanoseconds, told
/// apart by magnitude (any of them for dates between 1973 and 5138).
pub fn to_unix_seconds(x: f64) -> f64 {
    let a = x.abs();
    if a > 1e17 {
        x / 1e9
    } else if a > 1e14 {
        x / 1e6
    } else if a > 1e11 {
        x / 1e3
    } else {
        x
    }
}

/// Parses a time cell: a number (see [`to_unix_seconds`]), RFC 3339, or `YYYY-mm-dd HH:MM:SS`
/// with optional fraction, read as UTC.
pub fn parse_time(cell: &str) -> Option<f64> {
    let c = cell.trim();
    if c.is_empty() {
        return None;
    }
    if let Ok(x) = c.parse::<f64>() {
        return x.is_finite().then(|| to_unix_seconds(x));
    }
    if let Ok(t) = time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    // `YYYY-mm-dd HH:MM:SS[.frac]` with anything after (Go prints "+0000 UTC m=+0.12").
    let head: String = c.chars().take(19).collect();
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let fmt_t = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let base = time::PrimitiveDateTime::parse(&head, &fmt)
        .or_else(|_| time::PrimitiveDateTime::parse(&head, &fmt_t))
        .ok()?;
    let mut secs = base.assume_utc().unix_timestamp() as f64;
    let rest = &c[head.len().min(c.len())..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty()
            && let Ok(v) = format!("0.{digits}").parse::<f64>()
        {
            secs += v;
        }
    }
    Some(secs)
}

/// Reads a whole file, mapping the error to [`AnalysisError::Io`].
pub(crate) fn read_to_string(path: &Path) -> Result<String, AnalysisError> {
    std::fs::read_to_string(path).map_err(|e| AnalysisError::io(path, e))
}

/// Label and fault from a RCAEval-style directory name `<service>_<fault>`: the case directory
/// itself or, when it is a bare repetition number, its parent.
pub(crate) fn label_from_dir_name(dir: &Path) -> (Option<String>, Option<String>) {
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_string());
    let mut name = name_of(dir);
    if name
        .as_deref()
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        name = dir.parent().and_then(name_of);
    }
    match name.and_then(|n| {
        n.rsplit_once('_')
            .map(|(s, f)| (s.to_string(), f.to_string()))
    }) {
        Some((s, f)) if !s.is_empty() && !f.is_empty() => (Some(s), Some(f)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests;
