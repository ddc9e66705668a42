//! Recorded telemetry as a [`TelemetrySource`]: a case directory in any layout
//! `aurora_analysis::loaders` reads (RCAEval, PetShop, Nezha, or what `synth::write_case`
//! writes) answers evidence requests with the series, logs and call edges inside the requested
//! window. `aurora demo`, `aurora investigate --data DIR` and the tests investigate through it
//! exactly as they would through Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aurora_analysis::{Case, LogLevel, loaders};
use aurora_core::telemetry::{
    EvidenceBundle, EvidenceRequest, LogLine, ServiceSeries, TelemetrySource, TraceSpan,
};
use aurora_core::tool::{Series, ToolError};

/// Sample spacing a snapshot's evidence request asks for, seconds.
const SNAPSHOT_STEP: f64 = 15.0;

/// Why a case directory cannot serve as telemetry.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The files could not be read or are not in a known layout.
    #[error("cannot read the case at {dir}: {source}")]
    Load {
        /// The directory given.
        dir: PathBuf,
        /// What went wrong.
        source: aurora_analysis::AnalysisError,
    },
    /// No case was found under the directory.
    #[error(
        "no case found in {0}: it needs RCAEval (inject_time.txt + data.csv), PetShop \
         (metrics.csv + target.json) or Nezha (*fault_list.json) files"
    )]
    NoCase(PathBuf),
    /// More than one case was found and none was picked.
    #[error("{dir} holds {count} cases: pass one case directory (or DIR#INDEX for a Nezha day)")]
    Ambiguous {
        /// The directory given.
        dir: PathBuf,
        /// How many cases it holds.
        count: usize,
    },
}

/// The window a case covers, as an investigation without an incident uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotWindow {
    /// Start of the data (the baseline begins here), unix seconds.
    pub start: f64,
    /// End of the incident window, unix seconds.
    pub end: f64,
    /// When the incident began (the case's onset or, without one, the start of its incident
    /// window), unix seconds.
    pub onset: f64,
    /// The alerting service, when the case names one.
    pub alert_service: Option<String>,
    /// The metric the alert watches, when the case names it.
    pub alert_metric: Option<String>,
    /// The case's normal periods (a case may hold a reference period apart from the
    /// incident), unix seconds.
    pub normal: Vec<(f64, f64)>,
}

impl SnapshotWindow {
    /// The evidence request that reads this window at the snapshot's step.
    pub fn request(&self) -> EvidenceRequest {
        EvidenceRequest {
            alert_labels: self
                .alert_service
                .iter()
                .map(|s| ("service".to_owned(), s.clone()))
                .collect(),
            alert_expr: None,
            services: self.alert_service.iter().cloned().collect(),
            start: self.start,
            end: self.end,
            onset: self.onset,
            step: SNAPSHOT_STEP,
            normal: self.normal.clone(),
            alert_metric: self.alert_metric.clone(),
        }
    }
}

/// A loaded case directory answering evidence requests.
pub struct SnapshotTelemetry {
    case: Case,
    files: Vec<String>,
}

impl std::fmt::Debug for SnapshotTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotTelemetry")
            .field("case", &self.case.reference.id)
            .field("files", &self.files)
            .finish()
    }
}

impl SnapshotTelemetry {
    /// Loads the one case under `dir` (a Nezha day needs `DIR#INDEX`). Reads files: call it
    /// from blocking code or `spawn_blocking`.
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let (path, index) = split_index(dir);
        let load = |source| SnapshotError::Load {
            dir: dir.to_path_buf(),
            source,
        };
        let cases = loaders::discover(&path).map_err(load)?;
        let case = match (cases.len(), index) {
            (0, _) => return Err(SnapshotError::NoCase(path)),
            (count, Some(i)) => cases
                .get(i)
                .cloned()
                .ok_or(SnapshotError::Ambiguous { dir: path, count })?,
            (1, None) => cases[0].clone(),
            (count, None) => return Err(SnapshotError::Ambiguous { dir: path, count }),
        };
        let loaded = case.load().map_err(load)?;
        let mut files: Vec<String> = std::fs::read_dir(&case.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        Ok(Self {
            case: loaded,
            files,
        })
    }

    /// The window the case at `dir` covers: what `aurora investigate --data DIR` investigates
    /// when no incident is given.
    pub fn window_of(dir: &Path) -> Result<SnapshotWindow, SnapshotError> {
        Ok(Self::open(dir)?.window())
    }

    /// The window this case covers: from its first sample to the end of its incident window,
    /// with its onset and alerting service.
    pub fn window(&self) -> SnapshotWindow {
        let w = &self.case.window;
        let span = self.case.frame.time_span();
        let start = w
            .normal
            .iter()
            .map(|r| r.start)
            .chain(span.map(|s| s.start))
            .fold(w.incident.start, f64::min);
        SnapshotWindow {
            start,
            end: w.incident.end.max(start),
            onset: w.onset.unwrap_or(w.incident.start),
            alert_service: w.alert_service.clone(),
            alert_metric: w.alert_metric.clone(),
            normal: w.normal.iter().map(|r| (r.start, r.end)).collect(),
        }
    }

    fn describe_case(&self) -> String {
        format!(
            "snapshot {} ({})",
            self.case.reference.dir.display(),
            self.case.reference.layout
        )
    }
}

fn split_index(p: &Path) -> (PathBuf, Option<usize>) {
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

fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

#[async_trait]
impl TelemetrySource for SnapshotTelemetry {
    fn describe(&self) -> String {
        self.describe_case()
    }

    async fn gather(&self, request: &EvidenceRequest) -> Result<EvidenceBundle, ToolError> {
        if !(request.start.is_finite() && request.end.is_finite()) || request.end < request.start {
            return Err(ToolError::InvalidArguments(format!(
                "the window {}..{} is not a time range",
                request.start, request.end
            )));
        }
        // The window, and the normal periods the request names outside it (a case's reference
        // period may lie after its incident).
        let inside = |t: f64| {
            (t >= request.start && t <= request.end)
                || request.normal.iter().any(|&(from, to)| t >= from && t < to)
        };
        let frame = &self.case.frame;
        let series = frame
            .series
            .iter()
            .filter_map(|s| {
                let points: Vec<(f64, f64)> = s
                    .times
                    .iter()
                    .copied()
                    .zip(s.values.iter().copied())
                    .filter(|(t, _)| inside(*t))
                    .collect();
                (!points.is_empty()).then(|| ServiceSeries {
                    service: s.service.clone(),
                    metric: s.name.clone(),
                    series: Series {
                        labels: BTreeMap::from([
                            ("__name__".to_owned(), s.name.clone()),
                            ("service".to_owned(), s.service.clone()),
                        ]),
                        points,
                    },
                })
            })
            .collect();
        let logs = frame
            .logs
            .iter()
            .filter(|l| inside(l.time))
            .map(|l| LogLine {
                time: l.time,
                service: l.service.clone(),
                level: level_word(l.level).to_owned(),
                message: l.message.clone(),
            })
            .collect();
        let mut topology = self.case.topology.clone();
        let spans: Vec<_> = frame
            .spans
            .iter()
            .filter(|s| inside(s.start))
            .cloned()
            .collect();
        topology.merge(&aurora_analysis::Topology::from_spans(&spans));
        Ok(EvidenceBundle {
            series,
            logs,
            spans: spans
                .into_iter()
                .map(|s| TraceSpan {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    parent_id: s.parent_id,
                    service: s.service,
                    operation: s.operation,
                    start: s.start,
                    duration: s.duration,
                    error: s.error,
                })
                .collect(),
            edges: topology.edges.into_iter().collect(),
            queries: self
                .files
                .iter()
                .map(|f| format!("{}/{f}", self.case.reference.dir.display()))
                .collect(),
        })
    }
}
