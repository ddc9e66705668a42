//! Seeded synthetic incidents: a small online shop's call graph, per-service metrics, logs and
//! traces around one injected fault, and the Alertmanager alert it raises. Used by `aurora demo`
//! (serve Aurora, generate an incident, deliver its alert, investigate it) and by tests.
//!
//! The model is physical rather than painted on: traffic enters at the entry service and flows
//! along the call graph (each edge is taken by a fraction of the caller's requests); a service's
//! mean latency is its own work plus the latency of the calls it makes; its error ratio is its
//! own failures plus the callee failures it does not absorb; CPU follows load. Every series
//! carries a daily traffic cycle, AR(1) noise and an occasional benign spike. The fault changes
//! one non-entry service (its metric of the fault's kind shifts clearly, and its own latency or
//! errors with it); callers see the effect weaker, through the calls, one scrape later per hop.
//! About three incidents in five also carry a red herring: an unrelated service's CPU or memory
//! steps up around the same time, when a batch job starts.
//!
//! Same seed and options, same incident: the generator draws from ChaCha8, whose stream does not
//! change between `rand` versions (`StdRng`'s may).
//!
//! ```
//! use aurora_analysis::synth::{SynthOptions, generate, write_case};
//!
//! let inc = generate(&SynthOptions { seed: 7, end: 1_767_225_600.0, ..Default::default() });
//! // `aurora demo` posts `inc.alert.webhook()` to Aurora's Alertmanager endpoint, and makes the
//! // telemetry readable as a case directory for the investigation:
//! let dir = std::env::temp_dir().join(format!("aurora-synth-doc-{}", std::process::id()));
//! write_case(&inc, &dir).unwrap();
//! let ranking = aurora_analysis::analyze_case(&dir).unwrap().ranking;
//! assert_eq!(ranking.suspects[0].service, inc.root_cause);
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::AnalysisError;
use crate::frame::{
    LogLevel, LogRecord, MetricKind, MetricSeries, Span, TelemetryFrame, TimeRange, Topology,
    Window,
};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthOptions {
    /// Seed: decides services, call graph, fault, onset and every noise sample.
    pub seed: u64,
    /// End of the incident window, unix seconds (usually now). Default 2026-01-01T00:00:00Z, so
    /// that the default options are reproducible.
    pub end: f64,
    /// Number of services, the entry included; clamped to 3..=20. Default 8.
    pub services: usize,
    /// Scrape interval of the metrics, seconds; at least 1. Default 15, Prometheus' usual.
    pub step: f64,
    /// Seconds of normal operation before the incident window; at least 8 steps. Default 3600:
    /// an hour of baseline, what an investigator would pull from Prometheus.
    pub baseline: f64,
    /// Length of the incident window, seconds, ending at `end`; the fault starts at a
    /// seed-chosen second in its first quarter. At least 4 steps. Default 600.
    pub incident: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 0,
            end: 1_767_225_600.0,
            services: 8,
            step: 15.0,
            baseline: 3600.0,
            incident: 600.0,
        }
    }
}

/// The kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// CPU contention: CPU jumps, requests slow down.
    Cpu,
    /// A memory leak: memory climbs towards the limit, then GC pauses and failed requests.
    Memory,
    /// Slow responses (a slow dependency or query inside the service).
    Latency,
    /// Failing requests (a bad deploy throwing exceptions).
    ErrorRate,
}

impl FaultKind {
    /// Every kind, in the order the generator draws from.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Cpu,
        FaultKind::Memory,
        FaultKind::Latency,
        FaultKind::ErrorRate,
    ];

    /// Short name, as in RCAEval directory names (`cpu`, `mem`, `delay`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "mem",
            FaultKind::Latency => "delay",
            FaultKind::ErrorRate => "error",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alert the incident raises, as Prometheus would send it to Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthAlert {
    /// `HighLatency` or `HighErrorRate`.
    pub alertname: String,
    /// The service where the symptom shows: the entry, or the root cause's nearest caller when
    /// the entry barely notices.
    pub service: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// One-line summary annotation.
    pub summary: String,
    /// Description annotation, with the observed value and the threshold.
    pub description: String,
    /// Labels: alertname, service, severity, namespace, job.
    pub labels: BTreeMap<String, String>,
    /// When the alert started firing (after its `for` duration), unix seconds.
    pub starts_at: f64,
    /// The rule's PromQL expression.
    pub expr: String,
    /// The metric it fires on, as the frame names it without the service (`latency_p95`,
    /// `error_rate`): the [`Window::alert_metric`].
    pub metric: String,
    /// The rule's threshold, in the metric's unit (seconds or a ratio).
    pub threshold: f64,
}

/// One generated incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthIncident {
    /// The options it was generated with.
    pub options: SynthOptions,
    /// Metrics, logs and spans.
    pub frame: TelemetryFrame,
    /// Normal window before the onset, incident window from the onset to the end, the onset,
    /// and the alerting service and metric.
    pub window: Window,
    /// The call graph (caller → callee).
    pub topology: Topology,
    /// The entry service (where user traffic comes in).
    pub entry: String,
    /// The service the fault was injected into.
    pub root_cause: String,
    /// The fault.
    pub fault: FaultKind,
    /// When the fault started, unix seconds (whole seconds, like an injection log).
    pub onset: f64,
    /// The alert it raised.
    pub alert: SynthAlert,
    /// The pod of each service (one replica each), as its log lines name it.
    pub pods: BTreeMap<String, String>,
}

impl SynthIncident {
    /// `<root cause>_<fault>`: a directory name under which [`write_case`] output loads as a
    /// labelled case (`aurora analyze` then says where the true root cause ranked). Leave it out
    /// of anything an investigation sees.
    pub fn case_name(&self) -> String {
        format!("{}_{}", self.root_cause, self.fault)
    }
}

impl SynthAlert {
    /// The alert as an Alertmanager webhook body (version 4), firing.
    pub fn webhook(&self) -> serde_json::Value {
        let starts = rfc3339(self.starts_at);
        let annotations = serde_json::json!({
            "summary": self.summary,
            "description": self.description,
        });
        let group_key = format!("{{}}:{{alertname=\"{}\"}}", self.alertname);
        let fingerprint = fingerprint(&self.labels);
        serde_json::json!({
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "aurora",
            "groupLabels": { "alertname": self.alertname },
            "commonLabels": self.labels,
            "commonAnnotations": annotations,
            "externalURL": "http://alertmanager.local:9093",
            "alerts": [{
                "status": "firing",
                "labels": self.labels,
                "annotations": annotations,
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": format!(
                    "http://prometheus.local:9090/graph?g0.expr={}&g0.tab=1",
                    percent_encode(&self.expr)
                ),
                "fingerprint": fingerprint,
            }],
        })
    }
}

/// RFC 3339 UTC time rounded to milliseconds, or the number when out of range.
fn rfc3339(t: f64) -> String {
    let nanos = (t * 1e3).round() as i128 * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        ),
        Err(_) => format!("{t}"),
    }
}

/// 16 hex digits of FNV-1a over the sorted labels, the shape of Alertmanager's fingerprints.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A service the shop may run: name, the operation it serves, and whether it is a datastore.
struct Blueprint {
    name: &'static str,
    op: &'static str,
    store: bool,
}

const fn bp(name: &'static str, op: &'static str, store: bool) -> Blueprint {
    Blueprint { name, op, store }
}

const ENTRIES: [Blueprint; 3] = [
    bp("frontend", "GET /", false),
    bp("api-gateway", "POST /api", false),
    bp("storefront", "GET /shop", false),
];

const POOL: [Blueprint; 19] = [
    bp("checkout", "PlaceOrder", false),
    bp("cart", "GetCart", false),
    bp("payment", "Charge", false),
    bp("catalog", "ListProducts", false),
    bp("shipping", "GetQuote", false),
    bp("currency", "Convert", false),
    bp("email", "SendConfirmation", false),
    bp("recommendation", "ListRecommendations", false),
    bp("auth", "VerifyToken", false),
    bp("ad", "GetAds", false),
    bp("inventory", "Reserve", false),
    bp("orders", "CreateOrder", false),
    bp("user", "GetProfile", false),
    bp("review", "ListReviews", false),
    bp("search", "Query", false),
    bp("pricing", "Quote", false),
    bp("notification", "Notify", false),
    bp("postgres", "query", true),
    bp("redis", "command", true),
];

const NAMESPACES: [&str; 3] = ["shop", "storefront-prod", "prod"];

/// Parameters of one service drawn from the seed.
struct Svc {
    name: String,
    op: String,
    store: bool,
    pod: String,
    /// Own work per request, seconds.
    own: f64,
    /// p95 over mean of the own work.
    tail: f64,
    /// Own error ratio in normal operation.
    base_err: f64,
    /// Share of callee errors that surface as this service's errors (the rest are retried or
    /// degraded gracefully).
    absorb: f64,
    cpu_idle: f64,
    cpu_per_rps: f64,
    mem: f64,
    /// (callee index, fraction of this service's requests that call it).
    callees: Vec<(usize, f64)>,
}

/// A red herring: an unrelated service whose CPU or memory steps up on its own (a batch job),
/// so that not everything that moved is the cause.
#[derive(Clone, Copy)]
struct Herring {
    svc: usize,
    cpu: bool,
    factor: f64,
    start: f64,
    job: &'static str,
}

const JOBS: [&str; 3] = ["cache-warmup", "report-export", "search-reindex"];

/// Per-step series of one service.
#[derive(Clone, Default)]
struct Track {
    rps: Vec<f64>,
    own: Vec<f64>,
    mean: Vec<f64>,
    p95: Vec<f64>,
    own_err: Vec<f64>,
    /// Part of `own_err` caused by the fault.
    fault_err: Vec<f64>,
    err: Vec<f64>,
    cpu: Vec<f64>,
    mem: Vec<f64>,
    /// Fault-specific warning pressure (lines per request), for the log generator.
    warn: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let u: f64 = 1.0 - rng.r#gen::<f64>();
    let v: f64 = rng.r#gen::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    if lambda > 40.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u64;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.r#gen::<f64>();
    while p > limit {
        k += 1;
        p *= rng.r#gen::<f64>();
    }
    k
}

/// AR(1) noise of length `n` with stationary standard deviation `sd` and coefficient `phi`.
fn ar1(rng: &mut ChaCha8Rng, n: usize, phi: f64, sd: f64) -> Vec<f64> {
    let mut x = sd * normal(rng);
    let innov = sd * (1.0 - phi * phi).sqrt();
    (0..n)
        .map(|_| {
            let v = x;
            x = phi * x + innov * normal(rng);
            v
        })
        .collect()
}

/// Multiplicative benign spikes: about one per `every` samples, 1 to 3 samples long.
fn spikes(rng: &mut ChaCha8Rng, n: usize, every: f64, max: f64) -> Vec<f64> {
    let mut out = vec![1.0; n];
    let mut i = 0;
    while i < n {
        if rng.r#gen::<f64>() < 1.0 / every {
            let len = rng.gen_range(1..=3);
            let h = rng.gen_range(1.2..max);
            for v in out.iter_mut().skip(i).take(len) {
                *v = h;
            }
            i += len;
        }
        i += 1;
    }
    out
}

fn hex(rng: &mut ChaCha8Rng, digits: usize) -> String {
    let mut s = String::with_capacity(digits);
    for _ in 0..digits {
        let d: u32 = rng.gen_range(0..16);
        s.push(char::from_digit(d, 16).unwrap_or('0'));
    }
    s
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let h = hex(rng, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A Kubernetes pod name for a Deployment's pod: `<name>-<replicaset hash>-<pod suffix>`.
fn pod_name(rng: &mut ChaCha8Rng, name: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let rs = pick(10);
    let suffix = pick(5);
    format!("{name}-{rs}-{suffix}")
}

/// Generates one incident. Options out of range are clamped (see [`SynthOptions`]).
pub fn generate(opts: &SynthOptions) -> SynthIncident {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let step = if opts.step.is_finite() {
        opts.step.max(1.0)
    } else {
        15.0
    };
    let incident = if opts.incident.is_finite() {
        opts.incident.max(4.0 * step)
    } else {
        600.0
    };
    let baseline = if opts.baseline.is_finite() {
        opts.baseline.max(8.0 * step)
    } else {
        3600.0
    };
    let end = if opts.end.is_finite() {
        opts.end
    } else {
        SynthOptions::default().end
    };
    let n_svc = opts.services.clamp(3, POOL.len() + 1);

    // Services: an entry, then a shuffled pick of the pool, datastores last (they call nothing).
    let entry_bp = &ENTRIES[rng.gen_range(0..ENTRIES.len())];
    let mut pool: Vec<&Blueprint> = POOL.iter().collect();
    pool.shuffle(&mut rng);
    let mut picked: Vec<&Blueprint> = pool.into_iter().take(n_svc - 1).collect();
    picked.sort_by_key(|b| b.store);
    let mut svcs: Vec<Svc> = std::iter::once(entry_bp)
        .chain(picked)
        .map(|b| {
            let own = if b.store {
                rng.gen_range(0.001..0.004)
            } else {
                rng.gen_range(0.004..0.030)
            };
            Svc {
                name: b.name.to_string(),
                op: b.op.to_string(),
                store: b.store,
                pod: pod_name(&mut rng, b.name),
                own,
                tail: rng.gen_range(1.8..2.8),
                base_err: rng.gen_range(0.0005..0.003),
                absorb: rng.gen_range(0.6..0.9),
                cpu_idle: rng.gen_range(0.02..0.08),
                cpu_per_rps: rng.gen_range(0.002..0.01),
                mem: rng.gen_range(120.0..900.0) * 1024.0 * 1024.0,
                callees: Vec::new(),
            }
        })
        .collect();

    // Call graph: a DAG in index order. Every service has a caller among the earlier
    // non-datastore services (the first few hang off the entry); some have a second one.
    let callers_ok: Vec<usize> = (0..n_svc).filter(|&i| !svcs[i].store).collect();
    for i in 1..n_svc {
        let earlier: Vec<usize> = callers_ok.iter().copied().filter(|&j| j < i).collect();
        let first = if i <= 2 || rng.gen_bool(0.35) {
            0
        } else {
            earlier[rng.gen_range(0..earlier.len())]
        };
        let frac = rng.gen_range(0.35..1.0);
        svcs[first].callees.push((i, frac));
        if earlier.len() > 1 && rng.gen_bool(0.3) {
            let second = earlier[rng.gen_range(0..earlier.len())];
            if second != first {
                let frac = rng.gen_range(0.2..0.8);
                svcs[second].callees.push((i, frac));
            }
        }
    }
    let mut topology = Topology::default();
    for s in &svcs {
        for (c, _) in &s.callees {
            topology.add(&s.name, &svcs[*c].name);
        }
    }

    // Fault, root cause and onset.
    let fault = FaultKind::ALL[rng.gen_range(0..FaultKind::ALL.len())];
    let root = rng.gen_range(1..n_svc);
    let last = (end / step).floor() * step;
    let n_inc = (incident / step).round() as usize;
    let n_base = (baseline / step).round() as usize;
    let n = n_base + n_inc + 1;
    let t0 = last - (n - 1) as f64 * step;
    let times: Vec<f64> = (0..n).map(|k| t0 + k as f64 * step).collect();
    let window_start = last - n_inc as f64 * step;
    let onset = (window_start + rng.gen_range(0.0..incident / 4.0)).floor();

    // Fault intensity per step at the root cause.
    let ramp = match fault {
        FaultKind::Memory => rng.gen_range(120.0..300.0),
        _ => rng.gen_range(10.0..45.0),
    };
    let intensity: Vec<f64> = times
        .iter()
        .map(|t| ((t - onset) / ramp).clamp(0.0, 1.0))
        .collect();
    let strength = match fault {
        FaultKind::Cpu => rng.gen_range(1.5..3.0),
        FaultKind::Memory => rng.gen_range(1.0..2.0),
        FaultKind::Latency => rng.gen_range(0.15..0.6),
        FaultKind::ErrorRate => rng.gen_range(0.12..0.4),
    };

    let herring = rng.gen_bool(0.6).then(|| {
        let mut svc = rng.gen_range(0..n_svc - 1);
        if svc >= root {
            svc += 1;
        }
        Herring {
            svc,
            cpu: rng.gen_bool(0.5),
            factor: rng.gen_range(1.2..1.6),
            start: (window_start - incident / 2.0 + rng.gen_range(0.0..incident * 0.8)).floor(),
            job: JOBS[rng.gen_range(0..JOBS.len())],
        }
    });

    // Queueing or GC stall a saturated service adds to every request, seconds.
    let queue = rng.gen_range(0.08..0.3);

    // Traffic: a daily cycle with a random phase, slow AR(1) wander, per-service jitter.
    let base_rps = rng.gen_range(25.0..80.0);
    let amp = rng.gen_range(0.1..0.25);
    let phase = rng.gen_range(0.0..std::f64::consts::TAU);
    let wander = ar1(&mut rng, n, 0.95, 0.04);
    let traffic: Vec<f64> = (0..n)
        .map(|k| {
            base_rps
                * (1.0 + amp * (std::f64::consts::TAU * times[k] / 86_400.0 + phase).sin())
                * wander[k].exp()
        })
        .collect();

    // Per-service tracks, computed callees first (reverse index order is a reverse
    // topological order) for latency and errors, callers first for traffic.
    let mut tracks: Vec<Track> = vec![Track::default(); n_svc];
    let mut inbound: Vec<Vec<f64>> = vec![vec![0.0; n]; n_svc];
    inbound[0].clone_from(&traffic);
    for i in 0..n_svc {
        let jitter = ar1(&mut rng, n, 0.5, 0.03);
        let rps: Vec<f64> = (0..n).map(|k| inbound[i][k] * jitter[k].exp()).collect();
        for &(c, frac) in &svcs[i].callees {
            for k in 0..n {
                inbound[c][k] += frac * rps[k];
            }
        }
        tracks[i].rps = rps;
    }
    for i in (0..n_svc).rev() {
        let s = &svcs[i];
        let (phi, sd) = (rng.gen_range(0.5..0.85), rng.gen_range(0.04..0.1));
        let lat_noise = ar1(&mut rng, n, phi, sd);
        let lat_spike = spikes(&mut rng, n, 250.0, 1.8);
        let err_noise = ar1(&mut rng, n, 0.6, 0.3);
        let (phi, sd) = (rng.gen_range(0.5..0.9), rng.gen_range(0.03..0.08));
        let cpu_noise = ar1(&mut rng, n, phi, sd);
        let cpu_spike = spikes(&mut rng, n, 300.0, 1.6);
        let mem_noise = ar1(&mut rng, n, 0.97, 0.02);
        let p95_noise = ar1(&mut rng, n, 0.3, 0.05);
        let mut t = std::mem::take(&mut tracks[i]);
        for k in 0..n {
            let f = if i == root { intensity[k] } else { 0.0 };
            let mut own = s.own * lat_noise[k].exp() * lat_spike[k];
            let mut fault_err = 0.0;
            let mut cpu =
                (s.cpu_idle + s.cpu_per_rps * t.rps[k]) * cpu_noise[k].exp() * cpu_spike[k];
            let mut mem = s.mem * mem_noise[k].exp();
            let mut warn = 0.0;
            match fault {
                _ if f == 0.0 => {}
                FaultKind::Cpu => {
                    // Throttled and contended: work runs slower and requests queue.
                    cpu += f * strength * (s.cpu_idle + s.cpu_per_rps * base_rps) * 2.0;
                    own = own * (1.0 + f * strength) + f * queue;
                    fault_err = 0.01 * f;
                    warn = 0.05 * f;
                }
                FaultKind::Memory => {
                    // Near the limit the collector runs constantly: pauses stall requests.
                    mem += f * strength * s.mem;
                    own = own * (1.0 + 2.0 * f * f) + f * f * queue;
                    fault_err = 0.06 * f * f;
                    warn = 0.05 * f;
                }
                FaultKind::Latency => {
                    own += f * strength;
                    fault_err = 0.01 * f;
                    warn = 0.08 * f;
                }
                FaultKind::ErrorRate => {
                    fault_err = f * strength;
                    own *= 1.0 - 0.3 * f;
                }
            }
            if let Some(h) = herring.filter(|h| h.svc == i && times[k] >= h.start) {
                if h.cpu {
                    cpu *= h.factor;
                } else {
                    mem *= h.factor;
                }
            }
            let own_err = (s.base_err * err_noise[k].exp() + fault_err).min(1.0);
            // Callers see their callees one scrape later ("slightly later" per hop).
            let prev = k.saturating_sub(1);
            let mut mean = own;
            let mut p95 = s.tail * own;
            let mut ok = 1.0 - own_err;
            for &(c, frac) in &s.callees {
                mean += frac * tracks[c].mean[prev];
                p95 += frac * tracks[c].p95[prev];
                ok *= 1.0 - s.absorb * frac * tracks[c].err[prev];
            }
            t.own.push(own);
            t.mean.push(mean);
            t.p95.push(p95 * p95_noise[k].exp());
            t.own_err.push(own_err);
            t.fault_err.push(fault_err);
            t.err.push(1.0 - ok);
            t.cpu.push(cpu);
            t.mem.push(mem);
            t.warn.push(warn);
        }
        tracks[i] = t;
    }

    let mut frame = TelemetryFrame::default();
    for (s, t) in svcs.iter().zip(&tracks) {
        for (metric, values) in [
            ("cpu", &t.cpu),
            ("mem", &t.mem),
            ("latency_mean", &t.mean),
            ("latency_p95", &t.p95),
            ("error_rate", &t.err),
            ("requests", &t.rps),
        ] {
            let name = format!("{}_{metric}", s.name);
            frame.series.push(MetricSeries {
                kind: MetricKind::infer(&name),
                name,
                service: s.name.clone(),
                unit: String::new(),
                times: times.clone(),
                values: values.iter().map(|v| round_sig(*v)).collect(),
            });
        }
    }

    let normal_range = TimeRange::new(t0, onset);
    let is_normal = |k: usize| times[k] < onset;
    let alert = make_alert(
        &mut rng, &svcs, &tracks, &times, root, fault, onset, end, &is_normal,
    );
    frame.logs = make_logs(
        &mut rng, &svcs, &tracks, &times, step, root, fault, herring, end, &is_normal,
    );
    frame.spans = make_spans(&mut rng, &svcs, &tracks, t0, end.max(last), step);
    frame.normalize();

    let window = Window {
        normal: vec![normal_range],
        incident: TimeRange::new(onset, end.max(last + 1e-6)),
        onset: Some(onset),
        alert_service: Some(alert.service.clone()),
        alert_metric: Some(alert.metric.clone()),
    };
    SynthIncident {
        options: opts.clone(),
        frame,
        window,
        topology,
        entry: svcs[0].name.clone(),
        root_cause: svcs[root].name.clone(),
        fault,
        onset,
        alert,
        pods: svcs
            .iter()
            .map(|s| (s.name.clone(), s.pod.clone()))
            .collect(),
    }
}

/// Rounds to 6 significant digits, as an exporter would print; keeps CSV files small.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let e = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(5 - e);
    (v * scale).round() / scale
}

fn median_of(v: impl Iterator<Item = f64>) -> f64 {
    let mut xs: Vec<f64> = v.filter(|x| x.is_finite()).collect();
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[xs.len() / 2] }
}

/// A round threshold between `lo` and `hi`: the coarsest 1-2-5 step that fits.
fn nice_between(lo: f64, hi: f64) -> f64 {
    let target = lo + 0.4 * (hi - lo);
    let mut unit = 10f64.powf((hi - lo).max(1e-9).log10().floor());
    for _ in 0..12 {
        for m in [5.0, 2.0, 1.0] {
            let u = unit * m;
            let c = (target / u).ceil() * u;
            if c > lo && c < hi {
                return c;
            }
        }
        unit /= 10.0;
    }
    target
}

#[allow(clippy::too_many_arguments)] // One call site; a struct would only rename them.
fn make_alert(
    rng: &mut ChaCha8Rng,
    svcs: &[Svc],
    tracks: &[Track],
    times: &[f64],
    root: usize,
    fault: FaultKind,
    onset: f64,
    end: f64,
    is_normal: &dyn Fn(usize) -> bool,
) -> SynthAlert {
    let errors = fault == FaultKind::ErrorRate;
    let series = |i: usize| -> &Vec<f64> {
        if errors {
            &tracks[i].err
        } else {
            &tracks[i].p95
        }
    };
    let n = times.len();
    let late = |i: usize| {
        median_of(
            (0..n)
                .filter(|k| times[*k] >= onset + 120.0)
                .map(|k| series(i)[k]),
        )
    };
    let base = |i: usize| median_of((0..n).filter(|k| is_normal(*k)).map(|k| series(i)[k]));
    let normal_hi = |i: usize| {
        let mut v: Vec<f64> = (0..n)
            .filter(|k| is_normal(*k))
            .map(|k| series(i)[k])
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64) * 0.95) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let visible = |i: usize| {
        let (b, hi, l) = (base(i), normal_hi(i), late(i));
        l > 1.2 * hi && if errors { l - b >= 0.02 } else { l >= 1.5 * b }
    };
    // The entry when it shows the symptom clearly, else the root cause's most affected caller.
    let mut callers: Vec<usize> = (0..svcs.len())
        .filter(|&i| svcs[i].callees.iter().any(|(c, _)| *c == root))
        .collect();
    let ratio = |i: usize| late(i) / normal_hi(i).max(1e-9);
    callers.sort_by(|a, b| ratio(*b).total_cmp(&ratio(*a)));
    let at = std::iter::once(0)
        .chain(callers.iter().copied())
        .find(|&i| visible(i))
        .or(callers.first().copied())
        .unwrap_or(0);
    let svc = &svcs[at].name;
    let hi = normal_hi(at);
    let observed = late(at);
    let threshold = nice_between(hi, observed.max(hi * 1.05 + 1e-9));
    // Firing: the first scrape from which the expression held for the rule's `for` duration.
    let for_s = 60.0;
    let vals = series(at);
    let first = (0..n)
        .filter(|k| times[*k] >= onset)
        .find(|&k| {
            (k..n)
                .take_while(|j| times[*j] <= times[k] + for_s)
                .all(|j| vals[j] > threshold)
        })
        .map_or(onset, |k| times[k]);
    let starts_at = (first + for_s).min(end);
    let namespace = NAMESPACES[rng.gen_range(0..NAMESPACES.len())].to_string();
    let severity = if observed > 2.0 * threshold || errors && observed > 0.1 {
        "critical"
    } else {
        "warning"
    };
    let (alertname, metric, expr, summary, description) = if errors {
        (
            "HighErrorRate",
            "error_rate",
            format!(
                "sum(rate(http_server_requests_total{{namespace=\"{namespace}\", service=\"{svc}\", code=~\"5..\"}}[5m])) / sum(rate(http_server_requests_total{{namespace=\"{namespace}\", service=\"{svc}\"}}[5m])) > {threshold}"
            ),
            format!("High error rate on {svc}"),
            format!(
                "{:.1} % of requests to {svc} fail (threshold {:.1} %) for more than 1m.",
                observed * 100.0,
                threshold * 100.0
            ),
        )
    } else {
        (
            "HighLatency",
            "latency_p95",
            format!(
                "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket{{namespace=\"{namespace}\", service=\"{svc}\"}}[5m]))) > {threshold}"
            ),
            format!("High p95 latency on {svc}"),
            format!(
                "p95 latency of {svc} is {:.0} ms (threshold {:.0} ms) for more than 1m.",
                observed * 1e3,
                threshold * 1e3
            ),
        )
    };
    let labels: BTreeMap<String, String> = [
        ("alertname", alertname.to_string()),
        ("service", svc.clone()),
        ("severity", severity.to_string()),
        ("namespace", namespace.clone()),
        ("job", format!("{namespace}/{svc}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    SynthAlert {
        alertname: alertname.to_string(),
        service: svc.clone(),
        severity: severity.to_string(),
        summary,
        description,
        labels,
        starts_at,
        expr,
        metric: metric.to_string(),
        threshold,
    }
}

const REASONS: [&str; 4] = [
    "context canceled",
    "invalid argument",
    "not found",
    "precondition failed",
];

fn info_line(rng: &mut ChaCha8Rng, s: &Svc, ms: f64) -> String {
    let rid = uuid(rng);
    if s.store {
        return match rng.gen_range(0..3) {
            0 => format!(
                "{} completed in {ms:.1}ms rows={} conn={}",
                s.op,
                rng.gen_range(0..40),
                rng.gen_range(1..32)
            ),
            1 => format!(
                "connection pool stats: active={} idle={} waiting=0",
                rng.gen_range(1..20),
                rng.gen_range(0..10)
            ),
            _ => format!(
                "checkpoint complete: wrote {} buffers",
                rng.gen_range(10..4000)
            ),
        };
    }
    match rng.gen_range(0..4) {
        0 => format!(
            "request completed op={} status=OK duration={ms:.1}ms request_id={rid}",
            s.op
        ),
        1 => format!(
            "{} handled for user {} in {ms:.1}ms request_id={rid}",
            s.op,
            rng.gen_range(1000..99999)
        ),
        2 => format!(
            "cache lookup key=item:{} hit={} request_id={rid}",
            rng.gen_range(1..5000),
            rng.gen_bool(0.8)
        ),
        _ => format!(
            "processed {} items for {} request_id={rid}",
            rng.gen_range(1..12),
            s.op
        ),
    }
}

fn own_error_line(rng: &mut ChaCha8Rng, s: &Svc, fault: Option<FaultKind>) -> (LogLevel, String) {
    let rid = uuid(rng);
    match fault {
        Some(FaultKind::Cpu) => (
            LogLevel::Error,
            format!(
                "{} failed: deadline exceeded after {}ms while processing request_id={rid}",
                s.op,
                rng.gen_range(900..3000)
            ),
        ),
        Some(FaultKind::Memory) => (
            LogLevel::Error,
            format!(
                "{} failed: out of memory allocating {} bytes request_id={rid}",
                s.op,
                rng.gen_range(4096..1_048_576)
            ),
        ),
        Some(FaultKind::Latency) => (
            LogLevel::Error,
            format!(
                "{} failed: timed out waiting for backend after {}ms request_id={rid}",
                s.op,
                rng.gen_range(1000..5000)
            ),
        ),
        Some(FaultKind::ErrorRate) => (
            LogLevel::Error,
            format!(
                "unhandled exception in {}: NullPointerException at {}Handler.handle(line {}) request_id={rid}",
                s.op,
                s.op,
                rng.gen_range(40..400)
            ),
        ),
        None => (
            LogLevel::Error,
            format!(
                "{} failed: {} request_id={rid}",
                s.op,
                REASONS[rng.gen_range(0..REASONS.len())]
            ),
        ),
    }
}

fn warn_line(rng: &mut ChaCha8Rng, s: &Svc, fault: FaultKind, ms: f64, mem: f64) -> String {
    match fault {
        FaultKind::Cpu => format!(
            "slow request: {} took {ms:.0}ms, cpu throttled {}% of period",
            s.op,
            rng.gen_range(20..90)
        ),
        FaultKind::Memory => format!(
            "GC pause {}ms, heap {:.0} MiB in use",
            rng.gen_range(80..900),
            mem / 1048576.0
        ),
        FaultKind::Latency => format!("slow request: {} took {ms:.0}ms", s.op),
        FaultKind::ErrorRate => format!("degraded response for {}", s.op),
    }
}

#[allow(clippy::too_many_arguments)] // One call site; a struct would only rename them.
fn make_logs(
    rng: &mut ChaCha8Rng,
    svcs: &[Svc],
    tracks: &[Track],
    times: &[f64],
    step: f64,
    root: usize,
    fault: FaultKind,
    herring: Option<Herring>,
    end: f64,
    is_normal: &dyn Fn(usize) -> bool,
) -> Vec<LogRecord> {
    let n = times.len();
    let base_mean: Vec<f64> = tracks
        .iter()
        .map(|t| median_of((0..n).filter(|k| is_normal(*k)).map(|k| t.mean[k])))
        .collect();
    let mut out = Vec::new();
    let mut started = Vec::new();
    for (k, &tk) in times.iter().enumerate() {
        for (i, (s, t)) in svcs.iter().zip(tracks).enumerate() {
            let req = t.rps[k] * step;
            let mut push = |rng: &mut ChaCha8Rng, level: LogLevel, message: String| {
                // Within the scrape interval, and never after the end of the data.
                let at = tk + rng.r#gen::<f64>() * step.min(end - tk).max(0.0);
                out.push(LogRecord {
                    time: (at * 1e3).round() / 1e3,
                    service: s.name.clone(),
                    level,
                    message,
                });
            };
            for _ in 0..poisson(rng, req * 0.01) {
                let ms = t.mean[k] * 1e3 * (0.3 * normal(rng)).exp();
                let line = info_line(rng, s, ms);
                push(rng, LogLevel::Info, line);
            }
            // Own failures: the ordinary ones, and the fault's.
            let base_own = (t.own_err[k] - t.fault_err[k]).max(0.0);
            for _ in 0..poisson(rng, req * base_own * 0.5) {
                let (level, line) = own_error_line(rng, s, None);
                push(rng, level, line);
            }
            for _ in 0..poisson(rng, req * t.fault_err[k] * 0.5) {
                let (level, line) = own_error_line(rng, s, Some(fault));
                push(rng, level, line);
            }
            // Failures passed on from callees, each blamed on the callee that failed.
            for &(c, frac) in &s.callees {
                let prev = k.saturating_sub(1);
                let lam = req * frac * s.absorb * tracks[c].err[prev] * 0.5;
                for _ in 0..poisson(rng, lam) {
                    let code = if rng.gen_bool(0.5) {
                        "Unavailable"
                    } else {
                        "Internal"
                    };
                    let line = format!(
                        "call to {}.{} failed: rpc error: code = {code} request_id={}",
                        svcs[c].name,
                        svcs[c].op,
                        uuid(rng)
                    );
                    push(rng, LogLevel::Error, line);
                }
            }
            // Fault warnings in the root cause.
            if i == root && t.warn[k] > 0.0 {
                for _ in 0..poisson(rng, req * t.warn[k] * 0.2) {
                    let ms = t.own[k] * 1e3 * (0.3 * normal(rng)).exp();
                    let line = warn_line(rng, s, fault, ms, t.mem[k]);
                    push(rng, LogLevel::Warn, line);
                }
            }
            // Slow calls: a caller warns in proportion to how much slower it got.
            let slow = (t.mean[k] / base_mean[i].max(1e-9) - 1.5).max(0.0);
            if slow > 0.0 {
                let worst = s
                    .callees
                    .iter()
                    .max_by(|a, b| {
                        let da = tracks[a.0].mean[k] - base_mean[a.0];
                        let db = tracks[b.0].mean[k] - base_mean[b.0];
                        da.total_cmp(&db)
                    })
                    .map(|(c, _)| *c);
                if let Some(c) = worst {
                    for _ in 0..poisson(rng, req * 0.002 * slow) {
                        let line = format!(
                            "slow call to {}.{}: {:.0}ms request_id={}",
                            svcs[c].name,
                            svcs[c].op,
                            tracks[c].mean[k] * 1e3 * (0.3 * normal(rng)).exp(),
                            uuid(rng)
                        );
                        push(rng, LogLevel::Warn, line);
                    }
                }
            }
            // The red herring's batch job.
            if let Some(h) = herring.filter(|h| h.svc == i && tk >= h.start - step) {
                if tk < h.start {
                    let line = format!("scheduled job {} started (trigger=cron)", h.job);
                    started.push(LogRecord {
                        time: h.start,
                        service: s.name.clone(),
                        level: LogLevel::Info,
                        message: line,
                    });
                } else if rng.gen_bool(0.3) {
                    let line = format!(
                        "job {}: processed {} records",
                        h.job,
                        rng.gen_range(100..50_000)
                    );
                    push(rng, LogLevel::Info, line);
                }
            }
            // Background warnings every service has now and then.
            for _ in 0..poisson(rng, 0.03) {
                let line = match rng.gen_range(0..3) {
                    0 => format!("retrying {} after transient error (attempt 2)", s.op),
                    1 => "config reload took longer than expected".to_string(),
                    _ => format!(
                        "connection reset by peer, reconnecting pool={}",
                        rng.gen_range(1..4)
                    ),
                };
                push(rng, LogLevel::Warn, line);
            }
        }
    }
    out.append(&mut started);
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    out
}

/// Everything one trace needs while it descends the call graph.
struct TraceCtx<'a> {
    svcs: &'a [Svc],
    tracks: &'a [Track],
    k: usize,
    trace_id: String,
    spans: Vec<Span>,
}

fn ceil_ms(us: i64) -> i64 {
    (us + 999).div_euclid(1000) * 1000
}

impl TraceCtx<'_> {
    /// Records a span from (span id, parent id) over `[start, end)` microseconds.
    fn push(
        &mut self,
        (span_id, parent_id): (String, Option<String>),
        service: &str,
        operation: String,
        (start_us, end_us): (i64, i64),
        error: bool,
    ) {
        self.spans.push(Span {
            trace_id: self.trace_id.clone(),
            span_id,
            parent_id,
            service: service.to_string(),
            operation,
            start: start_us as f64 / 1e6,
            duration: (end_us - start_us) as f64 / 1e6,
            error,
        });
    }
}

/// One server span of service `i` starting at `start_us` (whole milliseconds), with the client
/// spans of the calls it makes and their callees' spans. Returns (end, failed).
fn serve(
    rng: &mut ChaCha8Rng,
    ctx: &mut TraceCtx<'_>,
    i: usize,
    start_us: i64,
    parent: Option<String>,
) -> (i64, bool) {
    let s = &ctx.svcs[i];
    let t = &ctx.tracks[i];
    let k = ctx.k;
    let span_id = hex(rng, 16);
    let own = (t.own[k] * 1e6 * (0.35 * normal(rng) - 0.06).exp()).max(50.0);
    let pre = own * rng.gen_range(0.2..0.6);
    let mut cursor = start_us + pre.round() as i64;
    let mut failed = rng.r#gen::<f64>() < t.own_err[k];
    for &(c, frac) in &s.callees {
        if !rng.gen_bool(frac) {
            continue;
        }
        let client_start = ceil_ms(cursor);
        let client_id = hex(rng, 16);
        let net = (600.0 * (0.5 * normal(rng)).exp()).round() as i64;
        let callee_start = ceil_ms(client_start + net / 2);
        let (callee_end, callee_failed) = serve(rng, ctx, c, callee_start, Some(client_id.clone()));
        let client_end = callee_end + net - net / 2;
        let op = format!("{}/{}", ctx.svcs[c].name, ctx.svcs[c].op);
        ctx.push(
            (client_id, Some(span_id.clone())),
            &s.name,
            op,
            (client_start, client_end),
            callee_failed,
        );
        cursor = client_end;
        if callee_failed && rng.gen_bool(s.absorb) {
            failed = true;
        }
    }
    let end = cursor + (own - pre).round().max(0.0) as i64;
    ctx.push(
        (span_id, parent),
        &s.name,
        s.op.clone(),
        (start_us, end),
        failed,
    );
    (end, failed)
}

/// Sampled traces from the entry, one every few seconds.
fn make_spans(
    rng: &mut ChaCha8Rng,
    svcs: &[Svc],
    tracks: &[Track],
    t0: f64,
    t_end: f64,
    step: f64,
) -> Vec<Span> {
    const EVERY: f64 = 3.0;
    let n = tracks.first().map_or(0, |t| t.own.len());
    let mut out = Vec::new();
    let mut at = t0;
    while at < t_end && n > 0 {
        let start = at + rng.gen_range(0.0..EVERY);
        let start_us = ((start * 1e3).round() as i64) * 1000;
        let k = (((start - t0) / step).floor().max(0.0) as usize).min(n - 1);
        let mut ctx = TraceCtx {
            svcs,
            tracks,
            k,
            trace_id: hex(rng, 32),
            spans: Vec::new(),
        };
        serve(rng, &mut ctx, 0, start_us, None);
        out.append(&mut ctx.spans);
        at += EVERY;
    }
    out
}

fn csv_err(path: &Path, source: csv::Error) -> AnalysisError {
    AnalysisError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

fn human_time(t: f64) -> String {
    rfc3339(t).replace('T', " ").replace('Z', "")
}

/// Writes the incident as an RCAEval-style case directory (created if missing) that
/// [`crate::loaders::discover`] and [`crate::CaseRef::load`] read back: `data.csv` (one column
/// per `<service>_<metric>`), `inject_time.txt` (the onset), `logs.csv`, `traces.csv` (the call
/// graph comes back from the spans), and `alert.json` (the Alertmanager webhook body, which the
/// loader ignores). The files do not name the root cause; name the directory
/// [`SynthIncident::case_name`] for a labelled case.
pub fn write_case(inc: &SynthIncident, dir: &Path) -> Result<(), AnalysisError> {
    std::fs::create_dir_all(dir).map_err(|e| AnalysisError::io(dir, e))?;
    let series = &inc.frame.series;
    // Metrics: one wide table on the union of sample times.
    let mut times: Vec<f64> = series
        .iter()
        .flat_map(|s| s.times.iter().copied())
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let path = dir.join("data.csv");
    let mut w = csv::Writer::from_path(&path).map_err(|e| csv_err(&path, e))?;
    let header: Vec<&str> = std::iter::once("time")
        .chain(series.iter().map(|s| s.name.as_str()))
        .collect();
    w.write_record(&header).map_err(|e| csv_err(&path, e))?;
    let lookup: Vec<BTreeMap<u64, f64>> = series
        .iter()
        .map(|s| {
            s.times
                .iter()
                .zip(&s.values)
                .map(|(t, v)| (t.to_bits(), *v))
                .collect()
        })
        .collect();
    for t in &times {
        let mut row = vec![format!("{t}")];
        for m in &lookup {
            row.push(
                m.get(&t.to_bits())
                    .map_or(String::new(), |v| format!("{v}")),
            );
        }
        w.write_record(&row).map_err(|e| csv_err(&path, e))?;
    }
    w.flush().map_err(|e| AnalysisError::io(&path, e))?;

    let path = dir.join("inject_time.txt");
    std::fs::write(&path, format!("{}\n", inc.onset)).map_err(|e| AnalysisError::io(&path, e))?;

    let path = dir.join("logs.csv");
    let mut w = csv::Writer::from_path(&path).map_err(|e| csv_err(&path, e))?;
    w.write_record(["time", "timestamp", "container_name", "message", "level"])
        .map_err(|e| csv_err(&path, e))?;
    for l in &inc.frame.logs {
        let pod = inc
            .pods
            .get(&l.service)
            .map_or(l.service.as_str(), String::as_str);
        let level = match l.level {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        };
        w.write_record([
            human_time(l.time).as_str(),
            &format!("{}", l.time),
            pod,
            &l.message,
            level,
        ])
        .map_err(|e| csv_err(&path, e))?;
    }
    w.flush().map_err(|e| AnalysisError::io(&path, e))?;

    let path = dir.join("traces.csv");
    let mut w = csv::Writer::from_path(&path).map_err(|e| csv_err(&path, e))?;
    w.write_record([
        "time",
        "traceID",
        "spanID",
        "serviceName",
        "methodName",
        "operationName",
        "startTimeMillis",
        "startTime",
        "duration",
        "statusCode",
        "parentSpanID",
    ])
    .map_err(|e| csv_err(&path, e))?;
    for s in &inc.frame.spans {
        let start_us = (s.start * 1e6).round() as i64;
        let dur_us = (s.duration * 1e6).round() as i64;
        w.write_record([
            human_time(s.start).as_str(),
            &s.trace_id,
            &s.span_id,
            &s.service,
            &s.operation,
            &s.operation,
            &(start_us / 1000).to_string(),
            &start_us.to_string(),
            &dur_us.to_string(),
            if s.error { "500" } else { "200" },
            s.parent_id.as_deref().unwrap_or(""),
        ])
        .map_err(|e| csv_err(&path, e))?;
    }
    w.flush().map_err(|e| AnalysisError::io(&path, e))?;

    let path = dir.join("alert.json");
    let body = serde_json::to_string_pretty(&inc.alert.webhook()).map_err(|source| {
        AnalysisError::Json {
            path: path.clone(),
            source,
        }
    })?;
    std::fs::write(&path, body).map_err(|e| AnalysisError::io(&path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests;
