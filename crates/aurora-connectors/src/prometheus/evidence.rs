//! The evidence pass over Prometheus: the series around an incident, attributed to services and
//! named so the analysis engine can tell their kind.
//!
//! What is read, in order, within `max_series`:
//! 1. the alert's own expression, without its threshold (`rate(x[5m]) > 0.1` reads
//!    `rate(x[5m])`, the signal rather than the points where it crossed);
//! 2. the series sharing one of the alert's identifying labels (`service`, `pod`, `app`,
//!    `instance`, `job`, `namespace`) and those of the services the alerts named, found with
//!    `/api/v1/series` over the window. Per metric: counters (`_total`) as `rate()`,
//!    histograms as their p99 (`histogram_quantile`) and request rate (`_count`), summaries at
//!    their 0.99 quantile, gauges as they are. Error, latency, request, CPU and memory metrics
//!    come first.
//!
//! Every query is recorded in the bundle; skipped work and failures are recorded as PromQL
//! comments (`# truncated: …`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::telemetry::{EvidenceBundle, EvidenceRequest, ServiceSeries, TelemetrySource};
use aurora_core::tool::{Series, ToolError};
use futures::StreamExt;

use super::client::{PrometheusClient, PrometheusError, QueryData};
use super::promql;
use crate::timespec::format_duration;

/// Alert labels that identify where the problem is, most specific first.
const IDENTIFYING_LABELS: &[&str] = &["service", "pod", "app", "instance", "job", "namespace"];
/// Labels that say which service a series belongs to rather than which series it is; left out
/// of metric names.
const IDENTITY_LABELS: &[&str] = &["__name__", "service", "job", "app", "namespace", "le"];
/// Labels that tell replicas of one service apart; in a metric name only when needed.
const REPLICA_LABELS: &[&str] = &["instance", "pod"];
/// Labels a histogram's p99 keeps.
const HISTOGRAM_BY: &str = "le, service, job, app, namespace, pod, instance";
/// Words in metric names that make a metric worth reading first.
const PRIORITY_WORDS: &[&str] = &[
    "error", "fail", "5xx", "latency", "duration", "request", "success", "cpu", "mem",
];
/// Range queries in flight at once.
const CONCURRENCY: usize = 8;
/// Longest metric name handed to the analysis engine.
const MAX_METRIC_NAME: usize = 200;

/// Prometheus as a [`TelemetrySource`].
#[derive(Debug)]
pub struct PrometheusTelemetry {
    client: Arc<PrometheusClient>,
    name: String,
}

impl PrometheusTelemetry {
    /// The evidence source of one connector.
    pub fn new(client: Arc<PrometheusClient>, connector_name: &str) -> Self {
        Self {
            client,
            name: connector_name.to_owned(),
        }
    }
}

#[async_trait]
impl TelemetrySource for PrometheusTelemetry {
    fn describe(&self) -> String {
        format!("prometheus {:?}", self.name)
    }

    async fn gather(&self, request: &EvidenceRequest) -> Result<EvidenceBundle, ToolError> {
        Gather::new(&self.client, request)?.run().await
    }
}

/// One range query of the plan and how to name its results.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    query: String,
    /// Metric name for the results; `None` takes each result's `__name__`.
    metric: Option<String>,
    /// Service for results that carry no service label.
    fallback_service: String,
    priority: u8,
}

struct Gather<'a> {
    client: &'a PrometheusClient,
    request: &'a EvidenceRequest,
    step: f64,
    max_series: usize,
    bundle: EvidenceBundle,
    seen: HashSet<(String, String)>,
    dropped: usize,
    errors: Vec<PrometheusError>,
}

impl<'a> Gather<'a> {
    fn new(client: &'a PrometheusClient, request: &'a EvidenceRequest) -> Result<Self, ToolError> {
        let (start, end) = (request.start, request.end);
        if !start.is_finite() || !end.is_finite() || end <= start {
            return Err(ToolError::InvalidArguments(format!(
                "evidence window [{start}, {end}] is empty or not a time range"
            )));
        }
        let step = if request.step.is_finite() && request.step > 0.0 {
            request.step
        } else {
            ((end - start) / 250.0).ceil().max(1.0)
        };
        Ok(Self {
            client,
            request,
            step,
            max_series: client.max_series(),
            bundle: EvidenceBundle::default(),
            seen: HashSet::new(),
            dropped: 0,
            errors: Vec::new(),
        })
    }

    async fn run(mut self) -> Result<EvidenceBundle, ToolError> {
        let default_service = self.default_service();
        if let Some(expr) = self.request.alert_expr.as_deref().map(str::trim)
            && !expr.is_empty()
        {
            let signal = signal_of(expr).to_owned();
            let plan = Plan {
                metric: None,
                fallback_service: default_service.clone(),
                priority: 0,
                query: signal,
            };
            self.run_plans(vec![plan]).await?;
        }
        let selectors = self.selectors();
        let mut found: Vec<(String, Vec<String>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut summaries: HashSet<String> = HashSet::new();
        for (selector, _) in &selectors {
            self.bundle.queries.push(selector.clone());
            let series = match self
                .client
                .series(
                    std::slice::from_ref(selector),
                    Some(self.request.start),
                    Some(self.request.end),
                )
                .await
            {
                Ok(series) => series,
                Err(e) => {
                    self.failed(selector, e)?;
                    continue;
                }
            };
            for labels in series {
                let Some(name) = labels.get("__name__") else {
                    continue;
                };
                if labels.contains_key("quantile") {
                    summaries.insert(name.clone());
                }
                let i = *index.entry(name.clone()).or_insert_with(|| {
                    found.push((name.clone(), Vec::new()));
                    found.len() - 1
                });
                if !found[i].1.contains(selector) {
                    found[i].1.push(selector.clone());
                }
            }
        }
        let fallbacks: HashMap<&String, &String> = selectors.iter().map(|(s, v)| (s, v)).collect();
        let names: HashSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        let window = format_duration(self.client.rate_window().as_secs_f64().max(self.step));
        let mut plans: Vec<Plan> = found
            .iter()
            .filter_map(|(name, sels)| {
                let fallback = sels
                    .first()
                    .and_then(|s| fallbacks.get(s))
                    .map_or_else(|| default_service.clone(), |v| (*v).clone());
                plan_metric(name, sels, &names, &summaries, &window, fallback)
            })
            .collect();
        plans.sort_by_key(|p| p.priority);
        self.run_plans(plans).await?;
        self.finish()
    }

    /// The `/api/v1/series` selectors with the value each was built from (the fallback service
    /// of what it finds).
    fn selectors(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |selector: String, value: &str| {
            if !out.iter().any(|(s, _)| s == &selector) {
                out.push((selector, value.to_owned()));
            }
        };
        for label in IDENTIFYING_LABELS {
            if let Some(value) = self.request.alert_labels.get(*label)
                && !value.is_empty()
            {
                push(promql::selector(label, value), value);
            }
        }
        for service in &self.request.services {
            if !service.is_empty() {
                for selector in promql::service_selectors(service) {
                    push(selector, service);
                }
            }
        }
        out
    }

    fn default_service(&self) -> String {
        self.request
            .alert_labels
            .get("service")
            .or_else(|| self.request.services.first())
            .or_else(|| self.request.alert_labels.get("job"))
            .or_else(|| self.request.alert_labels.get("alertname"))
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    async fn run_plans(&mut self, plans: Vec<Plan>) -> Result<(), ToolError> {
        let client = self.client;
        let (start, end, step) = (self.request.start, self.request.end, self.step);
        let total = plans.len();
        let mut done = 0usize;
        if self.bundle.series.len() < self.max_series {
            let mut results = futures::stream::iter(plans)
                .map(|plan| async move {
                    let result = client.query_range(&plan.query, start, end, step).await;
                    (plan, result)
                })
                .buffered(CONCURRENCY);
            while let Some((plan, result)) = results.next().await {
                done += 1;
                self.bundle.queries.push(plan.query.clone());
                match result {
                    Ok(range) => {
                        if let Some(note) = range.note {
                            self.bundle.queries.push(format!("# {note}"));
                        }
                        if let QueryData::Matrix(series) = range.data {
                            for s in series {
                                self.add(&plan, s);
                            }
                        }
                    }
                    Err(e) => self.failed(&plan.query, e)?,
                }
                if self.bundle.series.len() >= self.max_series {
                    break;
                }
            }
        }
        let skipped = total - done;
        if skipped > 0 {
            self.bundle.queries.push(format!(
                "# truncated: the {}-series limit was reached; {skipped} more queries not run",
                self.max_series
            ));
        }
        Ok(())
    }

    fn add(&mut self, plan: &Plan, series: Series) {
        if series.points.is_empty() {
            return;
        }
        let service =
            promql::service_of(&series.labels).unwrap_or_else(|| plan.fallback_service.clone());
        let base = plan
            .metric
            .clone()
            .or_else(|| series.labels.get("__name__").cloned())
            .unwrap_or_else(|| plan.query.clone());
        // Replicas share a name, so the same metric compares across services; a second replica
        // of one service is told apart by its instance or pod.
        let mut metric = metric_name(&base, &series.labels, REPLICA_LABELS);
        if self.seen.contains(&(service.clone(), metric.clone())) {
            metric = metric_name(&base, &series.labels, &[]);
        }
        if !self.seen.insert((service.clone(), metric.clone())) {
            return;
        }
        if self.bundle.series.len() >= self.max_series {
            self.dropped += 1;
            return;
        }
        self.bundle.series.push(ServiceSeries {
            service,
            metric,
            series,
        });
    }

    /// Records a failed query; gives up at once when Prometheus cannot be used at all.
    fn failed(&mut self, query: &str, error: PrometheusError) -> Result<(), ToolError> {
        tracing::warn!(query, error = %error, "prometheus evidence query failed");
        let fatal = matches!(
            error,
            PrometheusError::Unreachable { .. }
                | PrometheusError::Timeout { .. }
                | PrometheusError::Refused(_)
                | PrometheusError::Unauthorized { .. }
                | PrometheusError::NotFound { .. }
                | PrometheusError::Config(_)
        );
        if fatal {
            return Err(error.into());
        }
        self.bundle
            .queries
            .push(format!("# failed: {}: {error}", one_line(query)));
        self.errors.push(error);
        Ok(())
    }

    fn finish(mut self) -> Result<EvidenceBundle, ToolError> {
        if self.dropped > 0 {
            self.bundle.queries.push(format!(
                "# truncated: the {}-series limit was reached; {} series not kept",
                self.max_series, self.dropped
            ));
        }
        if self.bundle.series.is_empty()
            && let Some(error) = self.errors.into_iter().next()
        {
            return Err(error.into());
        }
        Ok(self.bundle)
    }
}

/// How to read one discovered metric, or `None` to skip it.
fn plan_metric(
    name: &str,
    selectors: &[String],
    names: &HashSet<&str>,
    summaries: &HashSet<String>,
    window: &str,
    fallback_service: String,
) -> Option<Plan> {
    // Prometheus's own bookkeeping series say nothing about the service.
    if name.starts_with("ALERTS") || name.starts_with("scrape_") {
        return None;
    }
    let union = |f: &dyn Fn(&str) -> String| {
        selectors
            .iter()
            .map(|s| f(s))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let histogram_base = |suffix: &str| {
        name.strip_suffix(suffix).filter(|base| {
            names.contains(format!("{base}_bucket").as_str()) || summaries.contains(*base)
        })
    };
    let (query, metric) = if let Some(base) = name.strip_suffix("_bucket") {
        (
            format!(
                "histogram_quantile(0.99, sum by ({HISTOGRAM_BY}) ({}))",
                union(&|s| format!("rate({name}{s}[{window}])"))
            ),
            format!("{base}:p99"),
        )
    } else if let Some(base) = histogram_base("_count") {
        // The request rate of a histogram or summary, named so it is not taken for latency.
        (
            union(&|s| format!("rate({name}{s}[{window}])")),
            format!("{}:requests_per_second", without_latency_words(base)),
        )
    } else if histogram_base("_sum").is_some() {
        return None;
    } else if summaries.contains(name) {
        (
            union(&|s| {
                let inner = s.strip_suffix('}').unwrap_or(s);
                format!("{name}{inner},quantile=\"0.99\"}}")
            }),
            format!("{name}:p99"),
        )
    } else if name.ends_with("_total") || name.ends_with("_count") {
        (
            union(&|s| format!("rate({name}{s}[{window}])")),
            format!("rate({name})"),
        )
    } else {
        (union(&|s| format!("{name}{s}")), name.to_owned())
    };
    let lower = name.to_ascii_lowercase();
    let priority = if name == "up" || PRIORITY_WORDS.iter().any(|w| lower.contains(w)) {
        1
    } else {
        2
    };
    Some(Plan {
        query,
        metric: Some(metric),
        fallback_service,
        priority,
    })
}

/// `http_request_duration_seconds` → `http_request`.
fn without_latency_words(base: &str) -> String {
    let kept: Vec<&str> = base
        .split('_')
        .filter(|w| {
            !matches!(
                w.to_ascii_lowercase().as_str(),
                "duration" | "latency" | "lat" | "seconds" | "milliseconds" | "ms" | "time"
            )
        })
        .collect();
    if kept.is_empty() {
        "requests".to_owned()
    } else {
        kept.join("_")
    }
}

/// The name the analysis engine sees: the metric plus the labels that tell this series apart
/// from the service's other series of the same metric (`node_cpu_seconds_total{cpu="0",...}`),
/// leaving out the identity labels and `omit`.
fn metric_name(base: &str, labels: &BTreeMap<String, String>, omit: &[&str]) -> String {
    let distinguishing: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !IDENTITY_LABELS.contains(&k.as_str()) && !omit.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", promql::quote(v)))
        .collect();
    let mut name = one_line(base);
    if !distinguishing.is_empty() {
        name = format!("{name}{{{}}}", distinguishing.join(","));
    }
    if let Some((cut, _)) = name.char_indices().nth(MAX_METRIC_NAME) {
        name.truncate(cut);
    }
    name
}

/// Whitespace collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The signal an alerting expression compares against its threshold: the left side of its
/// first top-level comparison, or the whole expression when it has none (or it is a `bool`
/// comparison, which already yields a continuous series).
pub fn signal_of(expr: &str) -> &str {
    let bytes = expr.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'>' | b'<' | b'=' | b'!' if depth == 0 => {
                    let next = bytes.get(i + 1).copied();
                    let op_len = match (c, next) {
                        (b'>' | b'<' | b'=' | b'!', Some(b'=')) => 2,
                        (b'>' | b'<', _) => 1,
                        _ => 0,
                    };
                    if op_len > 0 {
                        let rest = expr[i + op_len..].trim_start();
                        let lhs = expr[..i].trim();
                        if rest.starts_with("bool") || lhs.is_empty() {
                            return expr;
                        }
                        return lhs;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    expr
}

#[cfg(test)]
mod tests;
