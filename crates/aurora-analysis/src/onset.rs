//! Onset detection: Bayesian online change-point detection (Adams & MacKay, 2007) with a
//! Normal-Gamma model and a constant hazard, run over latency and error signals when the
//! incident's start is not known.
//!
//! Written here rather than taken from `augurs-changepoint` because that crate pulls a large
//! numeric stack (nalgebra, peroxide, rv) for what is ~80 lines of arithmetic.

use serde::Serialize;

use crate::frame::{MetricKind, TelemetryFrame, TimeRange};
use crate::stats::Baseline;

/// Tunables of the detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BocpdParams {
    /// Expected run length between change points, in samples. Default 250: a few minutes of
    /// 1 s data or a few hours of 1 min data; the posterior is insensitive to it within an
    /// order of magnitude, and a long expected run keeps noise from reading as changes.
    pub expected_run: f64,
    /// Prior pseudo-observations for the mean (κ₀). Default 1: weak, data dominates fast.
    pub kappa0: f64,
    /// Prior shape (α₀). Default 1: weak prior on the variance.
    pub alpha0: f64,
    /// Prior rate (β₀). Default 1: data are robust-standardised first, so unit variance.
    pub beta0: f64,
}

impl Default for BocpdParams {
    fn default() -> Self {
        BocpdParams {
            expected_run: 250.0,
            kappa0: 1.0,
            alpha0: 1.0,
            beta0: 1.0,
        }
    }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9); accurate to ~1e-15 for x > 0.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn student_t_ln_pdf(x: f64, df: f64, loc: f64, scale2: f64) -> f64 {
    let z2 = (x - loc) * (x - loc) / scale2;
    ln_gamma((df + 1.0) / 2.0)
        - ln_gamma(df / 2.0)
        - 0.5 * (df * std::f64::consts::PI * scale2).ln()
        - (df + 1.0) / 2.0 * (1.0 + z2 / df).ln()
}

/// Runs BOCPD over `xs` and returns, for the end of the series, the index where the current
/// regime most probably began and the posterior probability of that run length.
/// Non-finite values are skipped (they carry no evidence). `None` for fewer than 3 values.
pub fn current_regime_start(xs: &[f64], p: &BocpdParams) -> Option<(usize, f64)> {
    let idx: Vec<usize> = (0..xs.len()).filter(|&i| xs[i].is_finite()).collect();
    if idx.len() < 3 {
        return None;
    }
    let hazard = 1.0 / p.expected_run.max(1.0);
    // Run-length posterior (log-space is unnecessary at these lengths; renormalise each step).
    let mut probs: Vec<f64> = vec![1.0];
    let mut mu = vec![0.0];
    let mut kappa = vec![p.kappa0];
    let mut alpha = vec![p.alpha0];
    let mut beta = vec![p.beta0];
    for &i in &idx {
        let x = xs[i];
        let pred: Vec<f64> = (0..probs.len())
            .map(|r| {
                let scale2 = beta[r] * (kappa[r] + 1.0) / (alpha[r] * kappa[r]);
                student_t_ln_pdf(x, 2.0 * alpha[r], mu[r], scale2).exp()
            })
            .collect();
        let mut next = Vec::with_capacity(probs.len() + 1);
        let mut cp = 0.0;
        for r in 0..probs.len() {
            let m = probs[r] * pred[r];
            cp += m * hazard;
            next.push(m * (1.0 - hazard));
        }
        next.insert(0, cp);
        let total: f64 = next.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            // Numerical underflow: every hypothesis explains x terribly; restart the regime.
            probs = vec![1.0];
            mu = vec![0.0];
            kappa = vec![p.kappa0];
            alpha = vec![p.alpha0];
            beta = vec![p.beta0];
            continue;
        }
        probs = next.into_iter().map(|v| v / total).collect();
        let mut nmu = vec![0.0];
        let mut nk = vec![p.kappa0];
        let mut na = vec![p.alpha0];
        let mut nb = vec![p.beta0];
        for r in 0..mu.len() {
            nmu.push((kappa[r] * mu[r] + x) / (kappa[r] + 1.0));
            nk.push(kappa[r] + 1.0);
            na.push(alpha[r] + 0.5);
            nb.push(beta[r] + kappa[r] * (x - mu[r]) * (x - mu[r]) / (2.0 * (kappa[r] + 1.0)));
        }
        mu = nmu;
        kappa = nk;
        alpha = na;
        beta = nb;
    }
    let (best_r, best_p) = probs
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // Run length r means the last r observations belong to the current regime.
    let start_pos = idx.len().saturating_sub(best_r.max(1));
    Some((idx[start_pos.min(idx.len() - 1)], best_p))
}

/// An onset found in the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedOnset {
    /// Unix seconds.
    pub time: f64,
    /// The series whose change point was taken.
    pub series: String,
    /// How far the new regime's median moved, in robust standard deviations of the old one.
    pub shift: f64,
}

/// Finds the incident onset in `range` from latency, error and success-rate series: each is
/// robust-standardised, BOCPD gives the start of its final regime, and the earliest start among
/// series whose regime shifted by at least `min_shift` robust standard deviations wins.
/// Falls back to all series when no latency or error series exists. `None` when nothing shifted.
pub fn detect_onset(
    frame: &TelemetryFrame,
    range: TimeRange,
    params: &BocpdParams,
    min_shift: f64,
) -> Option<DetectedOnset> {
    let symptomatic = |k: MetricKind| {
        matches!(
            k,
            MetricKind::Latency | MetricKind::ErrorRate | MetricKind::SuccessRate
        )
    };
    let any_symptom = frame.series.iter().any(|s| symptomatic(s.kind));
    let mut best: Option<DetectedOnset> = None;
    for s in &frame.series {
        if any_symptom && !symptomatic(s.kind) {
            continue;
        }
        let pts: Vec<(f64, f64)> = s
            .times
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .filter(|(t, v)| range.contains(*t) && v.is_finite())
            .collect();
        if pts.len() < 8 {
            continue;
        }
        let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let Some(base) = Baseline::of(&vals[..vals.len() / 2]) else {
            continue;
        };
        let z: Vec<f64> = vals.iter().map(|v| base.z(*v).clamp(-50.0, 50.0)).collect();
        let Some((start, _)) = current_regime_start(&z, params) else {
            continue;
        };
        if start == 0 || start + 1 >= pts.len() {
            continue;
        }
        let (Some(before), Some(after)) = (
            Baseline::of(&vals[..start]),
            crate::stats::median(&vals[start..]),
        ) else {
            continue;
        };
        let shift = before.z(after).abs();
        if shift < min_shift {
            continue;
        }
        let t = pts[start].0;
        if best.as_ref().is_none_or(|b| t < b.time) {
            best = Some(DetectedOnset {
                time: t,
                series: s.name.clone(),
                shift,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests;
