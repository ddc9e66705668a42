//! The ranking API: `rank(frame, window, topology) -> Ranking`. Resolves the onset (given, or
//! found with BOCPD), scores metrics, logs and traces per service, combines them, and lets the
//! call graph reorder suspects in causal direction.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::error::AnalysisError;
use crate::evidence::{Evidence, FeatureScore, ServiceScores, Source};
use crate::frame::{TelemetryFrame, Topology, Window};
use crate::log_scores::LogParams;
use crate::metric_scores::MetricParams;
use crate::onset::{BocpdParams, detect_onset};
use crate::topology::{WalkParams, downstream, strongest_callee, walk};
use crate::trace_scores::TraceParams;
use crate::windows::Split;

/// Which ranking method to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The full engine: metrics, logs, traces and topology.
    #[default]
    Aurora,
    /// The BARO-style baseline: robust z-scores of metrics only.
    Baro,
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aurora" => Ok(Method::Aurora),
            "baro" => Ok(Method::Baro),
            other => Err(format!("unknown method {other:?}; use aurora or baro")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Aurora => "aurora",
            Method::Baro => "baro",
        })
    }
}

/// Everything the ranker can be told. `Default` is the configuration the figures were taken
/// with; the switches exist for ablations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankOptions {
    /// Method to run. Default [`Method::Aurora`].
    pub method: Method,
    /// Score metrics. Default true.
    pub use_metrics: bool,
    /// Score logs. Default true.
    pub use_logs: bool,
    /// Score traces. Default true.
    pub use_traces: bool,
    /// Reorder with the call graph. Default true.
    pub use_topology: bool,
    /// Ignore a known onset and detect it with BOCPD. Default false: a known fault or alert
    /// start is better than any estimate; the switch measures the detector.
    pub detect_onset: bool,
    /// BOCPD settings.
    pub bocpd: BocpdParams,
    /// Smallest regime shift, in robust standard deviations, that counts as an onset.
    /// Default 3: the usual "three sigma" line, in robust units.
    pub min_onset_shift: f64,
    /// Metric scoring settings.
    pub metrics: MetricParams,
    /// Log scoring settings.
    pub logs: LogParams,
    /// Trace scoring settings.
    pub traces: TraceParams,
    /// Walk settings.
    pub walk: WalkParams,
    /// Weight of the second-strongest signal family (metrics, logs, self time, edges) added to
    /// the strongest. Default 0.5: agreement between independent signals raises confidence,
    /// but one clear signal still carries a suspect on its own.
    pub corroboration: f64,
    /// Score each signal family relative to its median over services. Default true: a family
    /// in which every service looks anomalous tells less than one in which a few stand out.
    pub family_contrast: bool,
    /// Weigh each signal family by how far its top service stands above its runner-up:
    /// weight = floor + (1 − floor) · (top − runner-up) / top, on the contrasted scores.
    /// Default true: a family that singles out one service is informative, one in which
    /// several services are about equally extreme is not. With a single family the weight is
    /// one constant factor and changes no order.
    pub family_standout: bool,
    /// Smallest family weight under `family_standout`. Default 0.05: only keeps a family whose
    /// top two tie from being zeroed out (its order still breaks ties between other families).
    pub standout_floor: f64,
    /// When the alerting service and its metric are known, rank the services it calls by
    /// their share of the alert's excess ([`crate::explain`]). Default true: a known symptom
    /// is the strongest clue there is, and it says which signal to follow.
    pub explain_alert: bool,
    /// How many times the top anomaly score a full share of the alert is worth. Default 2:
    /// a difference of half the alert outweighs any difference in anomaly score, while
    /// services with near-equal shares are still told apart by their anomaly.
    pub explain_weight: f64,
}

impl Default for RankOptions {
    fn default() -> Self {
        RankOptions {
            method: Method::Aurora,
            use_metrics: true,
            use_logs: true,
            use_traces: true,
            use_topology: true,
            detect_onset: false,
            bocpd: BocpdParams::default(),
            min_onset_shift: 3.0,
            metrics: MetricParams::default(),
            logs: LogParams::default(),
            traces: TraceParams::default(),
            walk: WalkParams::default(),
            corroboration: 0.5,
            family_contrast: true,
            family_standout: true,
            standout_floor: 0.05,
            explain_alert: true,
            explain_weight: 2.0,
        }
    }
}

/// How the onset in use was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnsetSource {
    /// Given by the window (fault injection or alert start).
    Known,
    /// Found by change-point detection in the named series.
    Detected {
        /// Series whose change point was taken.
        series: String,
        /// Size of its shift in robust standard deviations.
        shift: f64,
    },
    /// Neither known nor detected: the start of the incident window.
    WindowStart,
}

/// Time spent in each stage, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Onset resolution.
    pub onset: f64,
    /// Metric scoring.
    pub metrics: f64,
    /// Log scoring.
    pub logs: f64,
    /// Trace scoring.
    pub traces: f64,
    /// Combination and topology.
    pub topology: f64,
    /// Everything.
    pub total: f64,
}

/// One suspected root-cause service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suspect {
    /// Service name.
    pub service: String,
    /// Final score (higher is more suspect; comparable within one ranking only).
    pub score: f64,
    /// The facts behind the score, strongest first.
    pub evidence: Vec<Evidence>,
}

/// The result of ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    /// Suspects, most likely first.
    pub suspects: Vec<Suspect>,
    /// Onset in use, unix seconds.
    pub onset: f64,
    /// Where the onset came from.
    pub onset_source: OnsetSource,
    /// Stage timings.
    pub timings: Timings,
}

impl Ranking {
    /// 1-based position of `service` among the suspects.
    pub fn position(&self, service: &str) -> Option<usize> {
        self.suspects
            .iter()
            .position(|s| s.service == service)
            .map(|p| p + 1)
    }
}

/// Ranks with the default options.
pub fn rank(
    frame: &TelemetryFrame,
    window: &Window,
    topology: &Topology,
) -> Result<Ranking, AnalysisError> {
    rank_with(frame, window, topology, &RankOptions::default())
}

fn resolve_onset(
    frame: &TelemetryFrame,
    window: &Window,
    opts: &RankOptions,
) -> (f64, OnsetSource) {
    if let (Some(t), false) = (window.onset, opts.detect_onset) {
        return (t, OnsetSource::Known);
    }
    // Search from the start of the data to the end of the incident window.
    let lo = frame.time_span().map_or(window.incident.start, |s| {
        s.start.min(window.incident.start)
    });
    let range = crate::frame::TimeRange::new(lo, window.incident.end);
    match detect_onset(frame, range, &opts.bocpd, opts.min_onset_shift) {
        Some(d) => (
            d.time,
            OnsetSource::Detected {
                series: d.series,
                shift: d.shift,
            },
        ),
        None => (window.incident.start, OnsetSource::WindowStart),
    }
}

/// Ranks with explicit options.
pub fn rank_with(
    frame: &TelemetryFrame,
    window: &Window,
    topology: &Topology,
    opts: &RankOptions,
) -> Result<Ranking, AnalysisError> {
    let t0 = Instant::now();
    let mut timings = Timings::default();
    if frame.series.is_empty() && frame.logs.is_empty() && frame.spans.is_empty() {
        return Err(AnalysisError::NoData("the frame is empty".into()));
    }
    let (onset, onset_source) = resolve_onset(frame, window, opts);
    let mut split_window = window.clone();
    if opts.detect_onset && window.normal.is_empty() {
        split_window.normal.clear();
    }
    let split = Split::new(&split_window, onset);
    timings.onset = t0.elapsed().as_secs_f64();

    if opts.method == Method::Baro {
        let t = Instant::now();
        let scores = crate::baro::score(frame, &split);
        timings.metrics = t.elapsed().as_secs_f64();
        let mut suspects: Vec<Suspect> = scores
            .into_iter()
            .map(|(service, (z, series))| Suspect {
                evidence: vec![Evidence {
                    source: Source::Metric,
                    subject: series,
                    normal: None,
                    observed: None,
                    z,
                    since: None,
                    note: "max robust z (BARO)".into(),
                }],
                service,
                score: z,
            })
            .collect();
        sort_suspects(&mut suspects);
        if suspects.is_empty() {
            return Err(AnalysisError::NoData(
                "no metric has samples in both the normal and the incident window".into(),
            ));
        }
        timings.total = t0.elapsed().as_secs_f64();
        return Ok(Ranking {
            suspects,
            onset,
            onset_source,
            timings,
        });
    }

    let mut families: Vec<ServiceScores> = Vec::new();
    if opts.use_metrics {
        let t = Instant::now();
        families.push(crate::metric_scores::score(frame, &split, &opts.metrics));
        timings.metrics = t.elapsed().as_secs_f64();
    }
    if opts.use_logs {
        let t = Instant::now();
        families.push(crate::log_scores::score(&frame.logs, &split, &opts.logs));
        timings.logs = t.elapsed().as_secs_f64();
    }
    if opts.use_traces {
        let t = Instant::now();
        let (own, edges) = crate::trace_scores::score(&frame.spans, &split, &opts.traces);
        families.push(own);
        families.push(edges);
        timings.traces = t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    let mut anomaly: BTreeMap<String, f64> = BTreeMap::new();
    let mut evidence: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    let mut per_service: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for fam in &families {
        // Contrast: a family in which every service looks anomalous (noisy coarse metrics)
        // tells less than one in which a few stand out, so each family's scores are taken
        // relative to its median over services.
        let all: Vec<f64> = fam.values().map(|f| f.score).collect();
        let floor = if opts.family_contrast {
            crate::stats::median(&all).unwrap_or(0.0)
        } else {
            0.0
        };
        let weight = if opts.family_standout {
            let mut top2 = [0.0f64; 2];
            for v in &all {
                let v = (v - floor).max(0.0);
                if v > top2[0] {
                    top2 = [v, top2[0]];
                } else if v > top2[1] {
                    top2[1] = v;
                }
            }
            let gap = if top2[0] > 0.0 {
                (top2[0] - top2[1]) / top2[0]
            } else {
                0.0
            };
            let f = opts.standout_floor.clamp(0.0, 1.0);
            f + (1.0 - f) * gap
        } else {
            1.0
        };
        for (
            svc,
            FeatureScore {
                score,
                evidence: ev,
            },
        ) in fam
        {
            per_service
                .entry(svc.clone())
                .or_default()
                .push(weight * (score - floor).max(0.0));
            evidence
                .entry(svc.clone())
                .or_default()
                .extend(ev.iter().cloned());
        }
    }
    for (svc, mut scores) in per_service {
        scores.sort_by(|a, b| b.total_cmp(a));
        let best = scores.first().copied().unwrap_or(0.0);
        let second = scores.get(1).copied().unwrap_or(0.0);
        anomaly.insert(svc, best + opts.corroboration * second);
    }
    if anomaly.is_empty() {
        return Err(AnalysisError::NoData(
            "no series, log or span has samples in both the normal and the incident window".into(),
        ));
    }
    let mut final_scores = anomaly.clone();
    if opts.use_topology && !topology.is_empty() {
        let mass = walk(&anomaly, topology, &opts.walk);
        let max_mass = mass.values().copied().fold(0.0, f64::max);
        if max_mass > 0.0 {
            let callee = strongest_callee(&anomaly, topology);
            for (svc, score) in final_scores.iter_mut() {
                let m = mass.get(svc).copied().unwrap_or(0.0) / max_mass;
                *score *= 1.0 - opts.walk.weight + opts.walk.weight * m;
                if let Some((c, ca)) = callee.get(svc)
                    && *ca > 0.0
                {
                    evidence.entry(svc.clone()).or_default().push(Evidence {
                        source: Source::Topology,
                        subject: format!("{svc} -> {c}"),
                        normal: None,
                        observed: Some(*ca),
                        z: m,
                        since: None,
                        note: format!(
                            "walk mass {m:.2} of the top; strongest callee {c} (anomaly {ca:.2})"
                        ),
                    });
                }
            }
        }
        let shares = if opts.explain_alert {
            crate::explain::shares(frame, &split, window, topology)
        } else {
            None
        };
        if let Some(shares) = shares.filter(|m| !m.is_empty()) {
            // Services that account for the alert rank ahead of everything else, ordered by
            // their share of it; the anomaly score only orders services with equal shares.
            let top = final_scores.values().copied().fold(0.0, f64::max) + 1.0;
            for (svc, sh) in shares {
                let score = final_scores.entry(svc.clone()).or_insert(0.0);
                *score += top * (1.0 + opts.explain_weight * sh.share);
                evidence.entry(svc).or_default().push(sh.evidence);
            }
        } else if let Some(alert) = &window.alert_service {
            let reach = downstream(topology, alert);
            if reach.len() > 1 {
                // Everything the alerting service calls ranks ahead of what it does not call.
                let top = final_scores.values().copied().fold(0.0, f64::max) + 1.0;
                for (svc, score) in final_scores.iter_mut() {
                    if reach.contains(svc) {
                        *score += top;
                    }
                }
            }
        }
    }
    let mut suspects: Vec<Suspect> = final_scores
        .into_iter()
        .map(|(service, score)| {
            let mut ev = evidence.remove(&service).unwrap_or_default();
            ev.sort_by(|a, b| {
                (a.source == Source::Topology)
                    .cmp(&(b.source == Source::Topology))
                    .then(b.z.total_cmp(&a.z))
            });
            Suspect {
                service,
                score,
                evidence: ev,
            }
        })
        .collect();
    sort_suspects(&mut suspects);
    timings.topology = t.elapsed().as_secs_f64();
    timings.total = t0.elapsed().as_secs_f64();
    Ok(Ranking {
        suspects,
        onset,
        onset_source,
        timings,
    })
}

fn sort_suspects(s: &mut [Suspect]) {
    s.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.service.cmp(&b.service))
    });
}

#[cfg(test)]
mod tests;
