//! The BARO-style baseline (Pham et al., FSE 2024, as in RCAEval): every metric is scaled with
//! a robust scaler fitted on the normal window ((x − median) / IQR), a series scores the largest z in the incident window (signed, as RCAEval's implementation does), and services are
//! ranked by their best series. No logs, traces or topology.
//!
//! One deviation: scikit-learn replaces an IQR of 0 by 1, which makes the score of a series
//! that was flat in the normal window depend on its unit (a flat memory series in bytes that
//! moves by one page scores 4096). Here such an IQR falls back to 1.4826·MAD and then to 5 % of
//! the median, the floor the engine uses, so the baseline is not handicapped by units.

use std::collections::BTreeMap;

use crate::frame::TelemetryFrame;
use crate::stats::{quantile_sorted, sorted_finite};
use crate::windows::Split;

/// Per-service BARO scores and the series that gave each.
pub fn score(frame: &TelemetryFrame, split: &Split) -> BTreeMap<String, (f64, String)> {
    let mut out: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for s in &frame.series {
        let mut normal = Vec::new();
        let mut incident = Vec::new();
        for (&t, &v) in s.times.iter().zip(&s.values) {
            if !v.is_finite() {
                continue;
            }
            if split.is_incident(t) {
                incident.push(v);
            } else if split.is_normal(t) {
                normal.push(v);
            }
        }
        let sorted = sorted_finite(&normal);
        let (Some(med), Some(q1), Some(q3)) = (
            quantile_sorted(&sorted, 0.5),
            quantile_sorted(&sorted, 0.25),
            quantile_sorted(&sorted, 0.75),
        ) else {
            continue;
        };
        let iqr = if q3 - q1 > 0.0 {
            q3 - q1
        } else {
            crate::stats::Baseline::of(&sorted).map_or(1.0, |b| b.scale)
        };
        let z = incident
            .iter()
            .map(|v| (v - med) / iqr)
            .fold(f64::NEG_INFINITY, f64::max);
        if !z.is_finite() {
            continue;
        }
        let e = out
            .entry(s.service.clone())
            .or_insert((f64::NEG_INFINITY, String::new()));
        if z > e.0 {
            *e = (z, s.name.clone());
        }
    }
    out
}
