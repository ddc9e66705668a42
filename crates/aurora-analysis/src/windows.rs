//! Which samples are normal and which are incident, given a [`Window`] and the onset in use.

use crate::frame::{TimeRange, Window};

/// The resolved windows the scorers use.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Normal ranges (never empty: falls back to everything before the onset).
    pub normal: Vec<TimeRange>,
    /// From the onset to the end of the incident window.
    pub incident: TimeRange,
}

impl Split {
    /// Resolves `window` with the onset in use.
    pub fn new(window: &Window, onset: f64) -> Split {
        let incident = TimeRange::new(
            onset.max(window.incident.start.min(onset)),
            window.incident.end,
        );
        let normal = if window.normal.is_empty() {
            vec![TimeRange::new(f64::NEG_INFINITY, onset)]
        } else {
            window.normal.clone()
        };
        Split { normal, incident }
    }

    /// Whether `t` is in a normal range (and not in the incident).
    pub fn is_normal(&self, t: f64) -> bool {
        !self.incident.contains(t) && self.normal.iter().any(|r| r.contains(t))
    }

    /// Whether `t` is in the incident window.
    pub fn is_incident(&self, t: f64) -> bool {
        self.incident.contains(t)
    }

    /// Total normal duration in seconds (finite part only; 0 when unbounded).
    pub fn normal_seconds(&self, observed: Option<TimeRange>) -> f64 {
        self.normal
            .iter()
            .map(|r| {
                let (mut a, mut b) = (r.start, r.end);
                if let Some(o) = observed {
                    a = a.max(o.start);
                    b = b.min(o.end);
                }
                if a.is_finite() && b.is_finite() {
                    (b - a).max(0.0)
                } else {
                    0.0
                }
            })
            .sum()
    }
}
