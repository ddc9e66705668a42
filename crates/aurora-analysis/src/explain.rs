//! Explaining a known alert. When the alerting service and its metric are known, the question
//! is not "what is anomalous" but "what accounts for this alert". The alert's metric, read at
//! every service the alerting service (transitively) calls, gives each service an *excess*: its
//! change in the bad direction at the moment the alert peaks, times its request volume when the
//! data has one (a change in mean latency times the calls is extra time spent; a drop in
//! availability times the calls is extra failures). Excess flows from callees to callers, so a
//! service's *own* excess is what remains after subtracting its callees' excess, and its share
//! of the alert is that own excess over the alert's excess. A slow or failing service deep in
//! the call graph keeps its excess; every caller that merely passes it on is left with little.

use std::collections::{BTreeMap, BTreeSet};

use crate::evidence::{Evidence, Source};
use crate::frame::{MetricKind, MetricSeries, TelemetryFrame, Topology, Window};
use crate::metric_scores::metric_key;
use crate::stats::median;
use crate::topology::downstream;
use crate::windows::Split;

/// One service's part in the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Own excess over the alert's excess, clipped to [0, 1].
    pub share: f64,
    /// Why.
    pub evidence: Evidence,
}

/// The value of `s` at time `t`, if it has a finite sample there.
fn value_at(s: &MetricSeries, t: f64) -> Option<f64> {
    let i = s.times.iter().position(|x| (*x - t).abs() < 1e-6)?;
    s.values.get(i).copied().filter(|v| v.is_finite())
}

/// Median of the normal samples of `s`.
fn normal_median(s: &MetricSeries, split: &Split) -> Option<f64> {
    let v: Vec<f64> = s
        .times
        .iter()
        .zip(&s.values)
        .filter(|(t, v)| v.is_finite() && split.is_normal(**t))
        .map(|(_, v)| *v)
        .collect();
    median(&v)
}

/// Change of `s` at `t` against its normal median, positive when worse.
fn bad_change(s: &MetricSeries, split: &Split, t: f64) -> Option<(f64, f64, f64)> {
    let base = normal_median(s, split)?;
    let v = value_at(s, t)?;
    let d = v - base;
    let signed = match s.kind.bad_direction() {
        0 => d.abs(),
        dir => f64::from(dir) * d,
    };
    Some((signed, base, v))
}

/// Each service's share of the alert, for the services the alerting service reaches; `None`
/// when the alert, its metric or its series are unknown, or the alert shows no excess.
pub fn shares(
    frame: &TelemetryFrame,
    split: &Split,
    window: &Window,
    topology: &Topology,
) -> Option<BTreeMap<String, Share>> {
    let alert = window.alert_service.as_deref()?;
    let key = window.alert_metric.as_deref()?;
    let of_key = |svc: &str| {
        frame
            .series
            .iter()
            .find(|s| s.service == svc && metric_key(&s.name, &s.service) == key)
    };
    // Request volume of a service: its largest throughput series (requests, load) at `t`.
    let volume_series = |svc: &str| {
        frame
            .series
            .iter()
            .filter(|s| s.service == svc && s.kind == MetricKind::Throughput)
            .max_by(|a, b| {
                let ma = normal_median(a, split).unwrap_or(0.0);
                let mb = normal_median(b, split).unwrap_or(0.0);
                ma.total_cmp(&mb)
            })
    };
    let target = of_key(alert)?;
    // The moment the alert is worst.
    let (peak, _) = target
        .times
        .iter()
        .filter(|t| split.is_incident(**t))
        .filter_map(|t| bad_change(target, split, *t).map(|c| (*t, c.0)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let use_volume = volume_series(alert).is_some();
    let excess = |svc: &str| -> Option<(f64, f64, f64)> {
        let s = of_key(svc)?;
        let (d, base, v) = bad_change(s, split, peak)?;
        let vol = if use_volume {
            value_at(volume_series(svc)?, peak)?.max(0.0)
        } else {
            1.0
        };
        Some((d.max(0.0) * vol, base, v))
    };
    let (alert_excess, _, _) = excess(alert)?;
    if alert_excess <= 0.0 {
        return None;
    }
    let reach: BTreeSet<String> = downstream(topology, alert);
    let mut callees: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &topology.edges {
        callees.entry(a.as_str()).or_default().push(b.as_str());
    }
    let mut out = BTreeMap::new();
    for svc in &reach {
        let Some((e, base, v)) = excess(svc) else {
            continue;
        };
        let passed_on: f64 = callees
            .get(svc.as_str())
            .into_iter()
            .flatten()
            .filter_map(|c| excess(c).map(|x| x.0))
            .sum();
        let own = (e - passed_on).max(0.0);
        let share = (own / alert_excess).clamp(0.0, 1.0);
        out.insert(
            svc.clone(),
            Share {
                share,
                evidence: Evidence {
                    source: Source::Topology,
                    subject: format!("{svc}/{key}"),
                    normal: Some(base),
                    observed: Some(v),
                    z: share,
                    since: Some(peak),
                    note: format!(
                        "accounts for {:.0} % of {alert}'s {key} excess ({own:.3} of {alert_excess:.3}, after {passed_on:.3} passed on from its callees)",
                        share * 100.0
                    ),
                },
            },
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests;
