//! The telemetry frame: metric series, log records and spans around one incident, plus the
//! incident and normal windows and the call graph. Loaders fill it from files; live connectors
//! will fill the same types later. Times are unix seconds as `f64` throughout.

use std::collections::BTreeSet;

use serde::Serialize;

/// What a metric measures, inferred from its name. Decides which direction is "worse".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Processor usage.
    Cpu,
    /// Memory usage.
    Memory,
    /// A latency or duration (mean or percentile).
    Latency,
    /// A rate or count of errors or failures.
    ErrorRate,
    /// A success rate or availability (lower is worse).
    SuccessRate,
    /// Request rate, load or workload.
    Throughput,
    /// Anything else (network bytes, syscalls, ...).
    Other,
}

impl MetricKind {
    /// Infers the kind from a metric name using generic words (`cpu`, `mem`, `lat`, `latency`,
    /// `duration`, `error`, `fail`, `success`, `availability`, `request`, `load`, `workload`,
    /// `throughput`, `qps`, `ops`). Unknown names are [`MetricKind::Other`].
    pub fn infer(name: &str) -> MetricKind {
        let n = name.to_ascii_lowercase();
        let words: Vec<&str> = n
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has_word = |w: &str| words.contains(&w);
        if n.contains("success") || n.contains("availab") {
            MetricKind::SuccessRate
        } else if n.contains("error") || n.contains("fail") || has_word("5xx") {
            MetricKind::ErrorRate
        } else if n.contains("latency") || n.contains("duration") || has_word("lat") {
            MetricKind::Latency
        } else if n.contains("cpu") {
            MetricKind::Cpu
        } else if n.contains("mem") {
            MetricKind::Memory
        } else if n.contains("request")
            || n.contains("workload")
            || n.contains("throughput")
            || has_word("lod")
            || has_word("load")
            || has_word("qps")
            || has_word("rps")
            || n.contains("(ops)")
        {
            MetricKind::Throughput
        } else {
            MetricKind::Other
        }
    }

    /// +1 when only increases are anomalous, -1 when only decreases are, 0 when both are.
    pub fn bad_direction(self) -> i8 {
        match self {
            MetricKind::Cpu | MetricKind::Memory | MetricKind::Latency | MetricKind::ErrorRate => 1,
            MetricKind::SuccessRate => -1,
            MetricKind::Throughput | MetricKind::Other => 0,
        }
    }
}

/// The unit written in parentheses at the end of a metric name (`Latency(s)` gives `s`), or "".
pub fn unit_from_name(name: &str) -> String {
    match (name.rfind('('), name.rfind(')')) {
        (Some(a), Some(b)) if b > a + 1 && b == name.len() - 1 => name[a + 1..b].to_string(),
        _ => String::new(),
    }
}

/// One metric time series belonging to one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSeries {
    /// Full metric name as found in the data.
    pub name: String,
    /// Service the series belongs to.
    pub service: String,
    /// What the series measures.
    pub kind: MetricKind,
    /// Unit if known, else "".
    pub unit: String,
    /// Sample times (unix seconds), ascending after [`TelemetryFrame::normalize`].
    pub times: Vec<f64>,
    /// Sample values; NaN marks a missing value.
    pub values: Vec<f64>,
}

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Trace or debug.
    Debug,
    /// Informational or unknown.
    Info,
    /// Warning.
    Warn,
    /// Error, fatal, severe or critical.
    Error,
}

impl LogLevel {
    /// Parses a level word (case-insensitive); `None` when the word is no level.
    pub fn parse(word: &str) -> Option<LogLevel> {
        match word.trim().to_ascii_uppercase().as_str() {
            "TRACE" | "DEBUG" | "FINE" | "FINER" | "FINEST" => Some(LogLevel::Debug),
            "INFO" | "NOTICE" | "INFORMATION" => Some(LogLevel::Info),
            "WARN" | "WARNING" => Some(LogLevel::Warn),
            "ERROR" | "ERR" | "FATAL" | "SEVERE" | "CRITICAL" | "CRIT" | "PANIC" | "EMERG"
            | "ALERT" => Some(LogLevel::Error),
            _ => None,
        }
    }

    /// Finds the level among the first few words of a log line, else [`LogLevel::Info`].
    pub fn sniff(message: &str) -> LogLevel {
        message
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ':' || c == '|')
            .filter(|w| !w.is_empty())
            .take(6)
            .find_map(LogLevel::parse)
            .unwrap_or(LogLevel::Info)
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// Unix seconds.
    pub time: f64,
    /// Service that wrote it.
    pub service: String,
    /// Severity.
    pub level: LogLevel,
    /// The message text (unwrapped from any JSON envelope).
    pub message: String,
}

/// One span of a distributed trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Trace id.
    pub trace_id: String,
    /// Span id, unique within the trace.
    pub span_id: String,
    /// Parent span id; `None` for a root span.
    pub parent_id: Option<String>,
    /// Service that recorded the span.
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// Start, unix seconds.
    pub start: f64,
    /// Duration, seconds.
    pub duration: f64,
    /// Whether the span reported an error status.
    pub error: bool,
}

/// A closed-open time range `[start, end)` in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: f64,
    /// Exclusive end.
    pub end: f64,
}

impl TimeRange {
    /// A range; `start` and `end` are swapped if given in the wrong order.
    pub fn new(start: f64, end: f64) -> TimeRange {
        if end < start {
            TimeRange {
                start: end,
                end: start,
            }
        } else {
            TimeRange { start, end }
        }
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: f64) -> bool {
        t >= self.start && t < self.end
    }
}

/// Where to look: the incident window, the normal (baseline) window and the onset if known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// Time ranges known to be normal; their union is the baseline. May be empty, in which case
    /// the ranker takes everything before the onset.
    pub normal: Vec<TimeRange>,
    /// The incident window (from the onset or earlier, to the end of the data of interest).
    pub incident: TimeRange,
    /// When the incident started, if known (fault injection time, alert start).
    pub onset: Option<f64>,
    /// The service where the incident was observed (the alerting service), if known.
    pub alert_service: Option<String>,
    /// The metric that alerted on `alert_service`, if known, as its name without the service
    /// (the [`crate::metric_scores::metric_key`] of the series, e.g. `latency/Average`).
    pub alert_metric: Option<String>,
}

/// The call graph: directed edges caller → callee.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Topology {
    /// Edges, deduplicated and sorted.
    pub edges: BTreeSet<(String, String)>,
}

impl Topology {
    /// Adds an edge (self loops are ignored).
    pub fn add(&mut self, caller: &str, callee: &str) {
        if caller != callee {
            self.edges.insert((caller.to_string(), callee.to_string()));
        }
    }

    /// Builds the call graph from spans: a span whose parent is in another service is a call
    /// from the parent's service to the span's service.
    pub fn from_spans(spans: &[Span]) -> Topology {
        let mut by_id: std::collections::HashMap<(&str, &str), &str> =
            std::collections::HashMap::with_capacity(spans.len());
        for s in spans {
            by_id.insert(
                (s.trace_id.as_str(), s.span_id.as_str()),
                s.service.as_str(),
            );
        }
        let mut t = Topology::default();
        for s in spans {
            if let Some(p) = &s.parent_id
                && let Some(parent_service) = by_id.get(&(s.trace_id.as_str(), p.as_str()))
            {
                t.add(parent_service, &s.service);
            }
        }
        t
    }

    /// Merges another topology into this one.
    pub fn merge(&mut self, other: &Topology) {
        self.edges.extend(other.edges.iter().cloned());
    }

    /// Whether there is no edge.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
}

/// All telemetry of one incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TelemetryFrame {
    /// Metric series.
    pub series: Vec<MetricSeries>,
    /// Log records.
    pub logs: Vec<LogRecord>,
    /// Spans.
    pub spans: Vec<Span>,
}

impl TelemetryFrame {
    /// Sorts every series by time, drops samples with a non-finite time, drops duplicate times
    /// (keeping the first) and removes series left empty. Loaders call this; so can connectors.
    pub fn normalize(&mut self) {
        for s in &mut self.series {
            let mut pts: Vec<(f64, f64)> = s
                .times
                .iter()
                .copied()
                .zip(s.values.iter().copied())
                .filter(|(t, _)| t.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts.dedup_by(|b, a| a.0 == b.0);
            s.times = pts.iter().map(|p| p.0).collect();
            s.values = pts.iter().map(|p| p.1).collect();
        }
        self.series
            .retain(|s| s.values.iter().any(|v| v.is_finite()));
        self.logs.retain(|l| l.time.is_finite());
        self.logs.sort_by(|a, b| a.time.total_cmp(&b.time));
        self.spans
            .retain(|s| s.start.is_finite() && s.duration.is_finite() && s.duration >= 0.0);
    }

    /// Every service named by a series, log or span, sorted.
    pub fn services(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        out.extend(self.series.iter().map(|s| s.service.clone()));
        out.extend(self.logs.iter().map(|l| l.service.clone()));
        out.extend(self.spans.iter().map(|s| s.service.clone()));
        out
    }

    /// Earliest and latest time of any sample, log or span.
    pub fn time_span(&self) -> Option<TimeRange> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for s in &self.series {
            if let (Some(a), Some(b)) = (s.times.first(), s.times.last()) {
                lo = lo.min(*a);
                hi = hi.max(*b);
            }
        }
        for l in &self.logs {
            lo = lo.min(l.time);
            hi = hi.max(l.time);
        }
        for s in &self.spans {
            lo = lo.min(s.start);
            hi = hi.max(s.start + s.duration);
        }
        (lo.is_finite() && hi.is_finite()).then(|| TimeRange::new(lo, hi + 1e-6))
    }
}

/// Service name of a Kubernetes pod: the pod name minus a trailing ReplicaSet hash and pod
/// suffix (`ts-auth-service-7f8d7d756d-kzp47` gives `ts-auth-service`). Names that do not end in
/// such suffixes are returned unchanged. The suffixes are recognised by Kubernetes' own
/// alphabet for generated names (no vowels), so ordinary words are never stripped.
pub fn service_of_pod(pod: &str) -> String {
    const ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
    let generated = |seg: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&seg.len()) && seg.chars().all(|c| ALPHABET.contains(c))
    };
    let parts: Vec<&str> = pod.split('-').collect();
    let n = parts.len();
    if n >= 3 && generated(parts[n - 1], 5..=5) && generated(parts[n - 2], 6..=10) {
        return parts[..n - 2].join("-");
    }
    if n >= 2 && generated(parts[n - 1], 5..=5) {
        return parts[..n - 1].join("-");
    }
    pod.to_string()
}

#[cfg(test)]
mod tests;
