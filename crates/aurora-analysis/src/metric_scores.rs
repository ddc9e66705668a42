//! Metric scoring: each series' incident samples against a robust baseline of its normal
//! samples, in the direction that is bad for its kind.

use std::collections::BTreeMap;

use crate::evidence::{Evidence, ServiceScores, Source, push_evidence};
use crate::frame::TelemetryFrame;
use crate::stats::{Baseline, REL_SCALE_FLOOR, median, quantile_sorted, sorted_finite};
use crate::windows::Split;

/// Parameters of metric scoring.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MetricParams {
    /// Which quantile of the incident z-scores scores a series. Default 0.9: near the peak,
    /// as BARO's max, but one stray spike in a noisy series cannot win alone.
    pub incident_quantile: f64,
    /// z above which a sample counts as changed, for the "since" of the evidence. Default 3.
    pub since_z: f64,
    /// Divide each series' z by the median z of the same metric across services (when that
    /// median exceeds 1). Default true: a metric that jumps in every service at once (a
    /// saturated histogram quantile, a shared node gauge) says little about which one is the
    /// cause, while a metric that moves in one service only keeps its full weight.
    pub peer_normalize: bool,
    /// Contrast each series with the strongest other service on the same metric: its z
    /// becomes `(1 + z) / (1 + z_runner_up) − 1`, a difference of surprises on the log scale.
    /// Default true: a root cause's own resource or latency moves in that service alone, while
    /// a symptom (callers' client latency, a saturated histogram quantile) moves in many
    /// services at once, so only what stands out from every peer keeps its weight. It
    /// replaces `peer_normalize` when both are set.
    pub runner_up_contrast: bool,
    /// Fewest normal samples needed to score a series. Default 1: with fewer than a handful the
    /// relative scale floor (5 % of the median) carries the baseline, which is still better
    /// than ignoring the series.
    pub min_normal: usize,
}

impl Default for MetricParams {
    fn default() -> Self {
        MetricParams {
            incident_quantile: 0.9,
            since_z: 3.0,
            peer_normalize: true,
            runner_up_contrast: true,
            min_normal: 1,
        }
    }
}

/// The metric a series measures, without its service: `carts_cpu` of `carts` gives `cpu`,
/// `svc/Latency(s)` gives `Latency(s)`. Groups the same metric across services.
pub fn metric_key<'a>(name: &'a str, service: &str) -> &'a str {
    let rest = name.strip_prefix(service).unwrap_or(name);
    rest.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
}

/// Scores every series; a service's score is its most anomalous series.
pub fn score(frame: &TelemetryFrame, split: &Split, p: &MetricParams) -> ServiceScores {
    let mut out = ServiceScores::new();
    let mut found: Vec<(&str, &str, Evidence)> = Vec::new();
    for s in &frame.series {
        let mut normal = Vec::new();
        let mut incident = Vec::new();
        for (&t, &v) in s.times.iter().zip(&s.values) {
            if !v.is_finite() {
                continue;
            }
            if split.is_incident(t) {
                incident.push((t, v));
            } else if split.is_normal(t) {
                normal.push(v);
            }
        }
        if normal.len() < p.min_normal.max(1) || incident.is_empty() {
            continue;
        }
        let Some(mut base) = Baseline::of(&normal) else {
            continue;
        };
        // A series sitting at zero in the normal window would make any later value infinitely
        // surprising (the relative floor is 0 there); floor its scale by the relative floor of
        // its largest magnitude instead, so appearing from nothing scores 20, not 10^8.
        let magnitude = normal
            .iter()
            .chain(incident.iter().map(|x| &x.1))
            .fold(0.0f64, |m, v| m.max(v.abs()));
        if base.median == 0.0 {
            base.scale = base.scale.max(REL_SCALE_FLOOR * magnitude);
        }
        let dir = f64::from(s.kind.bad_direction());
        let zs: Vec<f64> = incident
            .iter()
            .map(|&(_, v)| {
                let z = base.z(v);
                if dir == 0.0 { z.abs() } else { dir * z }
            })
            .collect();
        let sorted = sorted_finite(&zs);
        let Some(z) = quantile_sorted(&sorted, p.incident_quantile) else {
            continue;
        };
        if z <= 0.0 {
            out.entry(s.service.clone()).or_default();
            continue;
        }
        let since = incident
            .iter()
            .zip(&zs)
            .find(|(_, z)| **z >= p.since_z)
            .map(|((t, _), _)| *t);
        let observed = median(&incident.iter().map(|x| x.1).collect::<Vec<_>>());
        found.push((
            s.service.as_str(),
            metric_key(&s.name, &s.service),
            Evidence {
                source: Source::Metric,
                subject: s.name.clone(),
                normal: Some(base.median),
                observed,
                z,
                since,
                note: format!(
                    "{:?} {}",
                    s.kind,
                    if s.unit.is_empty() { "" } else { &s.unit }
                )
                .trim()
                .to_lowercase(),
            },
        ));
    }
    // Median over services of each metric's best z.
    let mut per_key: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for (svc, key, ev) in &found {
        let e = per_key.entry(key).or_default().entry(svc).or_insert(0.0);
        *e = e.max(ev.z);
    }
    let peer: BTreeMap<&str, f64> = per_key
        .iter()
        .map(|(k, m)| {
            let zs: Vec<f64> = m.values().copied().collect();
            (*k, median(&zs).unwrap_or(1.0).max(1.0))
        })
        .collect();
    if p.runner_up_contrast {
        for (svc, key, mut ev) in found {
            let runner_up = per_key
                .get(key)
                .map(|m| {
                    m.iter()
                        .filter(|(s, _)| **s != svc)
                        .map(|(_, z)| *z)
                        .fold(0.0f64, f64::max)
                })
                .unwrap_or(0.0);
            if runner_up > 0.0 {
                ev.note = format!("{}; strongest other service z {runner_up:.1}", ev.note);
                ev.z = (1.0 + ev.z) / (1.0 + runner_up) - 1.0;
            }
            if ev.z > 0.0 {
                push_evidence(&mut out, svc, ev);
            } else {
                out.entry(svc.to_string()).or_default();
            }
        }
        return out;
    }
    for (svc, key, mut ev) in found {
        let div = if p.peer_normalize {
            peer.get(key).copied().unwrap_or(1.0)
        } else {
            1.0
        };
        if div > 1.0 {
            ev.note = format!("{}; peers' median z {div:.1}", ev.note);
            ev.z /= div;
        }
        push_evidence(&mut out, svc, ev);
    }
    out
}
