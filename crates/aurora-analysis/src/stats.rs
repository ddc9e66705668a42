//! Small robust statistics over `f64` slices: median, quantiles, MAD, IQR and a robust z-score.
//! Non-finite values are ignored everywhere, so NaN in the data degrades to "fewer samples".

/// Finite values of `xs`, sorted ascending.
pub(crate) fn sorted_finite(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Quantile `q` in `[0, 1]` of an ascending, finite slice by linear interpolation; `None` when empty.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Median of the finite values of `xs`.
pub(crate) fn median(xs: &[f64]) -> Option<f64> {
    quantile_sorted(&sorted_finite(xs), 0.5)
}

/// Location and scale of a reference sample, used to turn observations into robust z-scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Baseline {
    /// Median of the reference sample.
    pub median: f64,
    /// Robust standard deviation: the largest of IQR/1.349, 1.4826·MAD and the floors below.
    pub scale: f64,
    /// Number of finite reference values.
    pub n: usize,
}

/// Relative floor on the scale, as a fraction of |median|. Default 0.05: a series that was
/// (nearly) constant in the normal window would otherwise turn any wobble into an infinite
/// z-score; with this floor a 5 % move counts as one unit of noise. It is the same for every
/// series, so it reorders nothing between series that do vary.
pub(crate) const REL_SCALE_FLOOR: f64 = 0.05;

/// Absolute floor on the scale. Default 1e-9: only guards the division when the series is
/// constant at zero; with it a jump from 0 to anything becomes a very large z-score, which is
/// what a series that appears out of nothing deserves.
pub(crate) const ABS_SCALE_FLOOR: f64 = 1e-9;

impl Baseline {
    /// Robust baseline of `xs`; `None` when there is no finite value.
    pub(crate) fn of(xs: &[f64]) -> Option<Baseline> {
        let s = sorted_finite(xs);
        let median = quantile_sorted(&s, 0.5)?;
        let q1 = quantile_sorted(&s, 0.25)?;
        let q3 = quantile_sorted(&s, 0.75)?;
        let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = quantile_sorted(&dev, 0.5).unwrap_or(0.0);
        let scale = ((q3 - q1) / 1.349)
            .max(1.4826 * mad)
            .max(REL_SCALE_FLOOR * median.abs())
            .max(ABS_SCALE_FLOOR);
        Some(Baseline {
            median,
            scale,
            n: s.len(),
        })
    }

    /// Robust z-score of one observation.
    pub(crate) fn z(&self, x: f64) -> f64 {
        (x - self.median) / self.scale
    }
}

#[cfg(test)]
mod tests;
