//! Evidence: the facts behind a suspect's score (which series, template, span group or edge
//! changed, by how much, from when), and the per-service scores each scorer produces.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A metric series.
    Metric,
    /// A log template.
    Log,
    /// The self time of a service's spans (time not spent in callees).
    Trace,
    /// The time on a call edge between two services (network, queueing).
    Edge,
    /// The call graph (explained by a callee, reached from the alerting service).
    Topology,
}

/// One fact behind a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Kind of fact.
    pub source: Source,
    /// What changed: a series name, a log template, `service op`, `caller -> callee`.
    pub subject: String,
    /// Typical value in the normal window, when meaningful.
    pub normal: Option<f64>,
    /// Typical value in the incident window, when meaningful.
    pub observed: Option<f64>,
    /// How unusual, in robust standard deviations (or a Poisson surprise for log counts).
    pub z: f64,
    /// First time in the incident window the change exceeded the evidence threshold.
    pub since: Option<f64>,
    /// A few words for a person.
    pub note: String,
}

/// Score and evidence of one service from one scorer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeatureScore {
    /// Surprise on a log scale: `ln(1 + z)` of the strongest fact, 0 when nothing changed.
    pub score: f64,
    /// The facts, strongest first.
    pub evidence: Vec<Evidence>,
}

/// Per-service scores of one scorer.
pub type ServiceScores = BTreeMap<String, FeatureScore>;

/// How many facts each scorer keeps per service. Default 3: enough to explain a score without
/// burying the reader.
pub const EVIDENCE_PER_SCORER: usize = 3;

/// The surprise transform: `ln(1 + max(z, 0))`. A log scale puts metric z-scores, span
/// z-scores and log counts on comparable footing, so one huge z cannot drown corroboration.
pub fn surprise(z: f64) -> f64 {
    if z.is_finite() {
        z.max(0.0).ln_1p()
    } else if z > 0.0 {
        50f64.ln_1p()
    } else {
        0.0
    }
}

/// Adds `ev` to `scores[service]`, keeping the best [`EVIDENCE_PER_SCORER`] facts and the
/// score of the strongest.
pub fn push_evidence(scores: &mut ServiceScores, service: &str, ev: Evidence) {
    let entry = scores.entry(service.to_string()).or_default();
    let s = surprise(ev.z);
    if s > entry.score {
        entry.score = s;
    }
    entry.evidence.push(ev);
    entry.evidence.sort_by(|a, b| b.z.total_cmp(&a.z));
    entry.evidence.truncate(EVIDENCE_PER_SCORER);
}
