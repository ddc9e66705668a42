//! Trace scoring. Each span's self time (its duration minus the time covered by its children)
//! is compared per service and operation between the normal and incident windows, so a slow
//! callee is blamed on the callee and not on every caller that waits for it. The time between a
//! caller's span and its child in another service (network, queueing) is compared per edge and
//! blamed on the endpoint whose edges are consistently slower. Error-status shares are compared
//! per service.

use std::collections::{BTreeMap, HashMap};

use crate::evidence::{Evidence, ServiceScores, Source, push_evidence};
use crate::frame::Span;
use crate::stats::{Baseline, median};
use crate::windows::Split;

/// Parameters of trace scoring.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TraceParams {
    /// Fewest normal spans for a group to be scored. Default 5: a robust scale needs a few
    /// samples; groups below it are too thin to judge.
    pub min_normal: usize,
    /// Fewest incident spans for a group to be scored. Default 3, for the same reason.
    pub min_incident: usize,
    /// Relative scale floor for durations. Default 0.1: span durations are jittery, so a 10 %
    /// move is one unit of noise (the metric floor is 5 %; spans are noisier than averages).
    pub rel_floor: f64,
    /// Absolute scale floor for durations, seconds. Default 1e-4 (0.1 ms): below timer noise.
    pub abs_floor: f64,
    /// Leave exit spans (spans whose children all run in other services) out of the self-time
    /// groups. Default true: their self time is network and callee queueing, which the edge
    /// scores already blame on the right end; counted as own time it blames every caller of a
    /// slow callee.
    pub skip_exit_spans: bool,
    /// Let a service's slow outgoing edges count even when its incoming edges are judged and
    /// normal. Default false: a delay in a service's own network slows the calls into it too,
    /// so slow outgoing edges with normal incoming ones point at the callees.
    pub blame_caller_with_quiet_inbound: bool,
}

impl Default for TraceParams {
    fn default() -> Self {
        TraceParams {
            min_normal: 5,
            min_incident: 3,
            rel_floor: 0.1,
            abs_floor: 1e-4,
            skip_exit_spans: true,
            blame_caller_with_quiet_inbound: false,
        }
    }
}

/// (z, edge, normal median, incident median, since) of one edge.
type EdgeShift = (f64, String, f64, f64, Option<f64>);

#[derive(Default)]
struct Group {
    normal: Vec<f64>,
    incident: Vec<(f64, f64)>,
}

impl Group {
    fn push(&mut self, split: &Split, t: f64, v: f64) {
        if split.is_incident(t) {
            self.incident.push((t, v));
        } else if split.is_normal(t) {
            self.normal.push(v);
        }
    }

    /// z of the incident median against the normal baseline, with the observed median and the
    /// first incident time over 3.
    fn shift(&self, p: &TraceParams) -> Option<(f64, f64, f64, Option<f64>)> {
        if self.normal.len() < p.min_normal || self.incident.len() < p.min_incident {
            return None;
        }
        let mut b = Baseline::of(&self.normal)?;
        b.scale = b.scale.max(p.rel_floor * b.median.abs()).max(p.abs_floor);
        let vals: Vec<f64> = self.incident.iter().map(|x| x.1).collect();
        let obs = median(&vals)?;
        let since = self
            .incident
            .iter()
            .find(|(_, v)| b.z(*v) >= 3.0)
            .map(|(t, _)| *t);
        Some((b.z(obs), b.median, obs, since))
    }
}

/// Self time of every span: its duration minus the union of its children's intervals
/// (clipped to the span), so overlapping async children are not subtracted twice.
pub fn self_times(spans: &[Span]) -> Vec<f64> {
    self_times_and_exits(spans).0
}

/// [`self_times`], and for every span whether it is an exit span: one whose children all
/// belong to other services (an outgoing call). An exit span's self time is the time on the
/// wire and in the callee's queue, not work of its own service; the edge scores judge it.
pub fn self_times_and_exits(spans: &[Span]) -> (Vec<f64>, Vec<bool>) {
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        index.insert((s.trace_id.as_str(), s.span_id.as_str()), i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if let Some(p) = &s.parent_id
            && let Some(&pi) = index.get(&(s.trace_id.as_str(), p.as_str()))
            && pi != i
        {
            children[pi].push(i);
        }
    }
    let exits: Vec<bool> = children
        .iter()
        .enumerate()
        .map(|(i, ch)| !ch.is_empty() && ch.iter().all(|&c| spans[c].service != spans[i].service))
        .collect();
    let selft = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (a, b) = (s.start, s.start + s.duration);
            let mut iv: Vec<(f64, f64)> = children[i]
                .iter()
                .map(|&c| {
                    let cs = &spans[c];
                    (cs.start.max(a), (cs.start + cs.duration).min(b))
                })
                .filter(|(x, y)| y > x)
                .collect();
            iv.sort_by(|x, y| x.0.total_cmp(&y.0));
            let mut covered = 0.0;
            let mut cur: Option<(f64, f64)> = None;
            for (x, y) in iv {
                match cur {
                    Some((cx, cy)) if x <= cy => cur = Some((cx, cy.max(y))),
                    Some((cx, cy)) => {
                        covered += cy - cx;
                        cur = Some((x, y));
                    }
                    None => cur = Some((x, y)),
                }
            }
            if let Some((cx, cy)) = cur {
                covered += cy - cx;
            }
            (s.duration - covered).max(0.0)
        })
        .collect();
    (selft, exits)
}

/// Trace scores: self-time shifts per service (`.0`) and edge shifts per service (`.1`).
pub fn score(spans: &[Span], split: &Split, p: &TraceParams) -> (ServiceScores, ServiceScores) {
    let mut own = ServiceScores::new();
    let mut edges_out = ServiceScores::new();
    if spans.is_empty() {
        return (own, edges_out);
    }
    let (selft, exits) = self_times_and_exits(spans);
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        index.insert((s.trace_id.as_str(), s.span_id.as_str()), i);
    }
    let mut by_op: BTreeMap<(&str, &str), Group> = BTreeMap::new();
    let mut by_edge: BTreeMap<(&str, &str), Group> = BTreeMap::new();
    let mut errors: BTreeMap<&str, [(u64, u64); 2]> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        if !(p.skip_exit_spans && exits[i]) {
            by_op
                .entry((s.service.as_str(), s.operation.as_str()))
                .or_default()
                .push(split, s.start, selft[i]);
        }
        let slot = if split.is_incident(s.start) {
            Some(1)
        } else if split.is_normal(s.start) {
            Some(0)
        } else {
            None
        };
        if let Some(k) = slot {
            let e = errors.entry(s.service.as_str()).or_insert([(0, 0); 2]);
            e[k].0 += u64::from(s.error);
            e[k].1 += 1;
        }
        if let Some(pid) = &s.parent_id
            && let Some(&pi) = index.get(&(s.trace_id.as_str(), pid.as_str()))
        {
            let parent = &spans[pi];
            if parent.service != s.service {
                // Time the caller waited beyond the callee's own span: network and queueing.
                let gap = (parent.duration - s.duration).max(0.0);
                by_edge
                    .entry((parent.service.as_str(), s.service.as_str()))
                    .or_default()
                    .push(split, parent.start, gap);
            }
        }
    }
    // Every traced service was judged, even one whose spans are all exit spans: it scores 0
    // rather than being absent, so family medians see the quiet services too.
    for s in spans {
        if split.is_incident(s.start) && !own.contains_key(&s.service) {
            own.insert(s.service.clone(), Default::default());
        }
    }
    for ((svc, op), g) in &by_op {
        if let Some((z, n, o, since)) = g.shift(p) {
            own.entry((*svc).to_string()).or_default();
            if z > 0.0 {
                push_evidence(
                    &mut own,
                    svc,
                    Evidence {
                        source: Source::Trace,
                        subject: format!("{svc} {op}"),
                        normal: Some(n),
                        observed: Some(o),
                        z,
                        since,
                        note: "span self time (s)".into(),
                    },
                );
            }
        }
    }
    for (svc, [(ne, nn), (ie, inn)]) in &errors {
        if *inn == 0 || *ie == 0 {
            continue;
        }
        let p0 = (*ne as f64 + 0.5) / (*nn as f64 + 1.0);
        let p1 = *ie as f64 / *inn as f64;
        let z = (p1 - p0) / (p0 * (1.0 - p0) / *inn as f64).sqrt().max(1e-9);
        if z > 0.0 {
            push_evidence(
                &mut own,
                svc,
                Evidence {
                    source: Source::Trace,
                    subject: format!("{svc} error spans"),
                    normal: Some(p0),
                    observed: Some(p1),
                    z,
                    since: None,
                    note: "share of spans with error status".into(),
                },
            );
        }
    }
    // An edge is slow because of one of its two ends. A delay at the callee shows on the
    // edges into it (even one caller suffices: faults may hit one path only); a delay at the
    // caller's own network shows on all its outgoing edges, and also on the edges into it.
    // So a service scores its worst incoming edge; the median of its outgoing edges counts
    // only for a service whose incoming edges cannot be judged (nothing traced calls it), or
    // when `blame_caller_with_quiet_inbound` is set: a caller whose inbound calls are as fast
    // as ever is not the one whose network is slow.
    let mut incoming: BTreeMap<&str, Vec<EdgeShift>> = BTreeMap::new();
    let mut outgoing: BTreeMap<&str, Vec<EdgeShift>> = BTreeMap::new();
    for ((a, b), g) in &by_edge {
        if let Some((z, n, o, since)) = g.shift(p) {
            let subject = format!("{a} -> {b}");
            outgoing
                .entry(a)
                .or_default()
                .push((z, subject.clone(), n, o, since));
            incoming
                .entry(b)
                .or_default()
                .push((z, subject, n, o, since));
        }
    }
    let services: std::collections::BTreeSet<&str> =
        incoming.keys().chain(outgoing.keys()).copied().collect();
    for svc in services {
        edges_out.entry(svc.to_string()).or_default();
        let best_in = incoming
            .get(svc)
            .and_then(|l| l.iter().max_by(|x, y| x.0.total_cmp(&y.0)));
        let out_list = outgoing.get(svc);
        let out_median = out_list.and_then(|l| median(&l.iter().map(|x| x.0).collect::<Vec<_>>()));
        if let Some((z, subject, n, o, since)) = best_in
            && *z > 0.0
        {
            push_evidence(
                &mut edges_out,
                svc,
                Evidence {
                    source: Source::Edge,
                    subject: subject.clone(),
                    normal: Some(*n),
                    observed: Some(*o),
                    z: *z,
                    since: *since,
                    note: "wait on a call into this service (s)".into(),
                },
            );
        }
        let inbound_judged = incoming.get(svc).is_some_and(|l| !l.is_empty());
        if let (Some(m), Some(list)) = (out_median, out_list)
            && m > 0.0
            && (p.blame_caller_with_quiet_inbound || !inbound_judged)
            && let Some((_, subject, n, o, since)) = list.iter().max_by(|x, y| x.0.total_cmp(&y.0))
        {
            push_evidence(
                &mut edges_out,
                svc,
                Evidence {
                    source: Source::Edge,
                    subject: subject.clone(),
                    normal: Some(*n),
                    observed: Some(*o),
                    z: m,
                    since: *since,
                    note: format!(
                        "wait on calls out of this service (s); median z over {} edges",
                        list.len()
                    ),
                },
            );
        }
    }
    (own, edges_out)
}
