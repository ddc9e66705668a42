//! The evidence pass: always runs first, needs no model. From the incident's alerts it works
//! out what to look at ([`request_for_incident`]), asks every connected telemetry source for it
//! (one recorded call and result per source, failures included), merges what came back into a
//! telemetry frame and call graph, and ranks the likely root-cause services with the analysis
//! engine. The ranking is recorded as an `analysis` step ([`RankingSummary`]) that the report
//! and the agent cite, and from which a resumed investigation rebuilds it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_analysis::frame::unit_from_name;
use aurora_analysis::metric_scores::metric_key;
use aurora_analysis::{
    LogLevel, LogRecord, MetricKind, MetricSeries, RankOptions, Ranking, Span, TelemetryFrame,
    TimeRange, Topology, Window, rank_with,
};
use aurora_core::StoreError;
use aurora_core::alert::Alert;
use aurora_core::incident::IncidentDetail;
use aurora_core::investigation::{NewStep, StepKind, ToolCallPayload, ToolResultPayload};
use aurora_core::telemetry::{EvidenceBundle, EvidenceRequest, TelemetrySource};
use aurora_core::tool::{ToolError, ToolOutput};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::journal::Journal;

/// The `kind` of the analysis step's payload that holds the ranking.
pub const RANKING_KIND: &str = "ranking";
/// The prefix of the call ids of the evidence pass's recorded source calls; the agent's own
/// calls never use it.
pub const EVIDENCE_CALL_PREFIX: &str = "evidence-";
/// The tool name the evidence pass's source calls are recorded under.
pub const GATHER_TOOL: &str = "gather_evidence";
/// How many suspects the analysis step keeps.
const KEPT_SUSPECTS: usize = 10;
/// How many queries of one source the recorded result lists.
const KEPT_QUERIES: usize = 40;

/// How the evidence pass chooses its window and waits on sources.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceOptions {
    /// Normal operation to compare against, before the onset. Default 60 min.
    pub baseline: Duration,
    /// Longest stretch after the onset to read (the window ends now or this long after the
    /// onset, whichever is earlier). Default 30 min.
    pub max_incident: Duration,
    /// Sample spacing to ask for, seconds. Default 15, Prometheus' usual scrape interval.
    pub step: f64,
    /// Longest one source may take to answer. Default 120 s.
    pub source_timeout: Duration,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        Self {
            baseline: Duration::from_secs(60 * 60),
            max_incident: Duration::from_secs(30 * 60),
            step: 15.0,
            source_timeout: Duration::from_secs(120),
        }
    }
}

/// One fact behind a suspect's score, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// `metric`, `log`, `trace`, `edge` or `topology`.
    pub source: String,
    /// What changed: a series, a log template, an operation, an edge.
    pub subject: String,
    /// Typical value before the onset.
    pub normal: Option<f64>,
    /// Typical value after the onset.
    pub observed: Option<f64>,
    /// How unusual, in robust standard deviations.
    pub z: f64,
    /// When the change began, unix seconds.
    pub since: Option<f64>,
    /// A few words for a person.
    pub note: String,
}

impl Fact {
    /// One line for a person: `latency_p95: 0.120 → 0.850 (z 12.3, since 10:02:15 UTC)`.
    pub fn describe(&self) -> String {
        let change = match (self.normal, self.observed) {
            (Some(n), Some(o)) => format!(": {} → {}", num(n), num(o)),
            (None, Some(o)) => format!(": {}", num(o)),
            _ => String::new(),
        };
        let since = self
            .since
            .map(|t| format!(", since {}", clock(t)))
            .unwrap_or_default();
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!(" — {}", self.note)
        };
        format!(
            "{} {}{change} (z {:.1}{since}){note}",
            self.source, self.subject, self.z
        )
    }
}

/// One ranked service, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectSummary {
    /// The service.
    pub service: String,
    /// The analysis engine's score (comparable within one ranking only).
    pub score: f64,
    /// The facts behind the score, strongest first.
    pub evidence: Vec<Fact>,
}

/// What one telemetry source answered, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// The source, as it describes itself.
    pub source: String,
    /// The seq of the recorded result.
    pub step: u32,
    /// Metric series returned.
    pub series: usize,
    /// Log lines returned.
    pub logs: usize,
    /// Call edges returned.
    pub edges: usize,
    /// Why it returned nothing, when it failed.
    pub error: Option<String>,
}

/// The payload of the evidence pass's `analysis` step: the ranking and how it was obtained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingSummary {
    /// Always [`RANKING_KIND`].
    pub kind: String,
    /// The window read, unix seconds.
    pub start: f64,
    /// End of the window read, unix seconds.
    pub end: f64,
    /// Onset in use, unix seconds.
    pub onset: f64,
    /// How the onset was obtained (`known`, `detected`, `window_start`).
    pub onset_source: String,
    /// The alerting service, when the alerts name one.
    pub alert_service: Option<String>,
    /// The alert's metric as matched in the data, when it could be.
    pub alert_metric: Option<String>,
    /// What each source answered.
    pub sources: Vec<SourceSummary>,
    /// Services seen in the data.
    pub services: usize,
    /// Series, log lines and call edges analysed.
    pub series: usize,
    /// Log lines analysed.
    pub logs: usize,
    /// Call edges analysed.
    pub edges: usize,
    /// Suspects, most likely first.
    pub suspects: Vec<SuspectSummary>,
    /// Why there is no ranking, when there is none.
    pub note: Option<String>,
}

impl RankingSummary {
    /// Reads a recorded analysis step's payload; `None` for other analysis steps.
    pub fn from_payload(payload: &serde_json::Value) -> Option<Self> {
        if payload.get("kind").and_then(|k| k.as_str()) != Some(RANKING_KIND) {
            return None;
        }
        serde_json::from_value(payload.clone()).ok()
    }

    /// Where the data came from, for evidence items.
    pub fn source_names(&self) -> String {
        self.sources
            .iter()
            .map(|s| s.source.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The evidence pass's outcome: the recorded ranking and the seq of its step.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceResult {
    /// The ranking as recorded.
    pub summary: RankingSummary,
    /// The seq of the `analysis` step.
    pub step: u32,
}

/// Works out what the evidence pass reads for an incident: the alerts' labels merged (the
/// earliest alert's value wins), the alert expression, the services the alerts name, the
/// onset (the earliest alert's start), and a window from `options.baseline` before the onset
/// to now, at most `options.max_incident` after it.
pub fn request_for_incident(
    detail: &IncidentDetail,
    now: OffsetDateTime,
    options: &EvidenceOptions,
) -> EvidenceRequest {
    let mut alerts: Vec<&Alert> = detail.alerts.iter().map(|a| &a.alert).collect();
    alerts.sort_by_key(|a| a.starts_at);
    let mut labels = BTreeMap::new();
    for alert in &alerts {
        for (k, v) in &alert.labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut services: Vec<String> = Vec::new();
    let named = alerts
        .iter()
        .filter_map(|a| {
            a.service
                .clone()
                .or_else(|| a.labels.get("service").cloned())
        })
        .chain(detail.incident.service.clone());
    for service in named {
        if !services.contains(&service) {
            services.push(service);
        }
    }
    let onset_at = alerts
        .first()
        .map_or(detail.incident.created_at, |a| a.starts_at);
    let onset = unix(onset_at);
    let step = if options.step.is_finite() && options.step > 0.0 {
        options.step
    } else {
        EvidenceOptions::default().step
    };
    let latest = onset + options.max_incident.as_secs_f64();
    let end = unix(now).min(latest).max(onset + step);
    EvidenceRequest {
        alert_labels: labels,
        alert_expr: alerts.iter().find_map(|a| alert_expr(a)),
        services,
        start: onset - options.baseline.as_secs_f64(),
        end,
        onset,
        step,
        ..EvidenceRequest::default()
    }
}

/// The alert's own expression: Alertmanager's `generatorURL` query parameter `g0.expr`
/// (URL-decoded), else an `expr` annotation or label.
pub fn alert_expr(alert: &Alert) -> Option<String> {
    let from_url = |url: &str| {
        let query = url.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or(query);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        pairs
            .into_iter()
            .find(|(k, _)| k == "g0.expr")
            .map(|(_, v)| v)
            .filter(|v| !v.trim().is_empty())
    };
    alert
        .link
        .as_deref()
        .and_then(from_url)
        .or_else(|| {
            alert
                .raw
                .get("generatorURL")
                .and_then(|v| v.as_str())
                .and_then(from_url)
        })
        .or_else(|| alert.annotations.get("expr").cloned())
        .or_else(|| alert.labels.get("expr").cloned())
}

/// Runs the evidence pass and records it: a call and a result step per source, then the
/// `analysis` step with the ranking. `recorded` is how many steps the log already holds (a pass
/// cut short by a restart runs again whole, as its sources only read), so that call ids stay
/// unique.
pub(crate) async fn run(
    journal: &Journal,
    recorded: usize,
    sources: &[Arc<dyn TelemetrySource>],
    request: Option<&EvidenceRequest>,
    options: &EvidenceOptions,
) -> Result<EvidenceResult, StoreError> {
    let Some(request) = request else {
        let summary = empty_summary(
            &EvidenceRequest::default(),
            Vec::new(),
            "the investigation has no incident and no window to read, so no telemetry was \
             gathered",
        );
        return record(journal, summary).await;
    };
    let mut bundles = Vec::new();
    let mut summaries = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let name = source.describe();
        let call_id = format!("{EVIDENCE_CALL_PREFIX}{}", recorded + i + 1);
        journal
            .note(
                StepKind::ToolCall,
                serde_json::to_value(ToolCallPayload {
                    call_id: call_id.clone(),
                    tool: GATHER_TOOL.to_owned(),
                    arguments: json!({
                        "source": name,
                        "start": request.start,
                        "end": request.end,
                        "onset": request.onset,
                        "step": request.step,
                        "services": request.services,
                        "alert_expr": request.alert_expr,
                    }),
                })
                .unwrap_or_default(),
            )
            .await?;
        let started = Instant::now();
        let answer =
            match tokio::time::timeout(options.source_timeout, source.gather(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(ToolError::Timeout(options.source_timeout.as_secs().max(1))),
            };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (payload, counts) = match answer {
            Ok(bundle) => {
                let services: BTreeSet<&str> =
                    bundle.series.iter().map(|s| s.service.as_str()).collect();
                let mut queries: Vec<&String> = bundle.queries.iter().take(KEPT_QUERIES).collect();
                let more = bundle.queries.len().saturating_sub(KEPT_QUERIES);
                let more_note = format!("… and {more} more");
                if more > 0 {
                    queries.push(&more_note);
                }
                let content = json!({
                    "queries": queries,
                    "series": bundle.series.len(),
                    "logs": bundle.logs.len(),
                    "edges": bundle.edges.len(),
                    "services": services,
                });
                let counts = (
                    bundle.series.len(),
                    bundle.logs.len(),
                    bundle.edges.len(),
                    None,
                );
                bundles.push(bundle);
                (
                    ToolResultPayload {
                        call_id,
                        output: Some(ToolOutput {
                            source: name.clone(),
                            content,
                            series: Vec::new(),
                        }),
                        error: None,
                        truncated: false,
                    },
                    counts,
                )
            }
            Err(error) => {
                tracing::warn!(source = %name, error = %error, "telemetry source failed");
                let message = error.to_string();
                (
                    ToolResultPayload {
                        call_id,
                        output: None,
                        error: Some(error),
                        truncated: false,
                    },
                    (0, 0, 0, Some(message)),
                )
            }
        };
        let step = journal
            .append(NewStep {
                duration_ms: Some(duration_ms),
                ..NewStep::new(
                    StepKind::ToolResult,
                    serde_json::to_value(payload).unwrap_or_default(),
                )
            })
            .await?;
        summaries.push(SourceSummary {
            source: name,
            step: step.seq,
            series: counts.0,
            logs: counts.1,
            edges: counts.2,
            error: counts.3,
        });
    }
    if sources.is_empty() {
        let summary = empty_summary(
            request,
            summaries,
            "no telemetry source is connected, so there was no data to analyse",
        );
        return record(journal, summary).await;
    }
    let (frame, topology) = merge(&bundles);
    if frame.series.is_empty() && frame.logs.is_empty() {
        let summary = empty_summary(
            request,
            summaries,
            "the connected sources returned no series or logs for the incident's window",
        );
        return record(journal, summary).await;
    }
    let alert_service = request
        .services
        .iter()
        .find(|s| frame.series.iter().any(|x| &x.service == *s))
        .or(request.services.first())
        .cloned();
    let alert_metric = request.alert_metric.clone().or_else(|| {
        alert_service
            .as_deref()
            .and_then(|svc| infer_alert_metric(&frame, svc, request))
    });
    let normal = if request.normal.is_empty() {
        vec![TimeRange::new(request.start, request.onset)]
    } else {
        request
            .normal
            .iter()
            .map(|&(start, end)| TimeRange::new(start, end))
            .collect()
    };
    let window = Window {
        normal,
        incident: TimeRange::new(request.onset, request.end.max(request.onset) + 1e-6),
        onset: Some(request.onset),
        alert_service: alert_service.clone(),
        alert_metric: alert_metric.clone(),
    };
    let counts = (
        frame.services().len(),
        frame.series.len(),
        frame.logs.len(),
        topology.edges.len(),
    );
    let ranked = tokio::task::spawn_blocking(move || {
        rank_with(&frame, &window, &topology, &RankOptions::default())
    })
    .await;
    let summary = match ranked {
        Ok(Ok(ranking)) => RankingSummary {
            kind: RANKING_KIND.to_owned(),
            start: request.start,
            end: request.end,
            onset: ranking.onset,
            onset_source: onset_source(&ranking),
            alert_service,
            alert_metric,
            sources: summaries,
            services: counts.0,
            series: counts.1,
            logs: counts.2,
            edges: counts.3,
            suspects: suspects(&ranking),
            note: None,
        },
        Ok(Err(error)) => empty_summary(
            request,
            summaries,
            &format!("the analysis engine could not rank the data: {error}"),
        ),
        Err(error) => empty_summary(
            request,
            summaries,
            &format!("the analysis engine stopped: {error}"),
        ),
    };
    record(journal, summary).await
}

async fn record(journal: &Journal, summary: RankingSummary) -> Result<EvidenceResult, StoreError> {
    let step = journal
        .note(
            StepKind::Analysis,
            serde_json::to_value(&summary).unwrap_or_default(),
        )
        .await?;
    Ok(EvidenceResult {
        summary,
        step: step.seq,
    })
}

fn empty_summary(
    request: &EvidenceRequest,
    sources: Vec<SourceSummary>,
    note: &str,
) -> RankingSummary {
    RankingSummary {
        kind: RANKING_KIND.to_owned(),
        start: request.start,
        end: request.end,
        onset: request.onset,
        onset_source: "known".to_owned(),
        alert_service: request.services.first().cloned(),
        alert_metric: None,
        sources,
        services: 0,
        series: 0,
        logs: 0,
        edges: 0,
        suspects: Vec::new(),
        note: Some(note.to_owned()),
    }
}

fn onset_source(ranking: &Ranking) -> String {
    match &ranking.onset_source {
        aurora_analysis::rank::OnsetSource::Known => "known".to_owned(),
        aurora_analysis::rank::OnsetSource::Detected { series, .. } => {
            format!("detected in {series}")
        }
        aurora_analysis::rank::OnsetSource::WindowStart => "window_start".to_owned(),
    }
}

fn suspects(ranking: &Ranking) -> Vec<SuspectSummary> {
    ranking
        .suspects
        .iter()
        .take(KEPT_SUSPECTS)
        .map(|s| SuspectSummary {
            service: s.service.clone(),
            score: finite(s.score),
            evidence: s
                .evidence
                .iter()
                .map(|e| Fact {
                    source: serde_json::to_value(e.source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    subject: e.subject.clone(),
                    normal: e.normal.filter(|x| x.is_finite()),
                    observed: e.observed.filter(|x| x.is_finite()),
                    z: finite(e.z),
                    since: e.since.filter(|x| x.is_finite()),
                    note: e.note.clone(),
                })
                .collect(),
        })
        .collect()
}

/// JSON has no infinities: a non-finite score is recorded as a large one.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else if x > 0.0 {
        1e9
    } else {
        0.0
    }
}

/// Merges the sources' answers into one frame and call graph.
fn merge(bundles: &[EvidenceBundle]) -> (TelemetryFrame, Topology) {
    let mut frame = TelemetryFrame::default();
    let mut topology = Topology::default();
    for bundle in bundles {
        for s in &bundle.series {
            let (times, values) = s.series.points.iter().copied().unzip();
            frame.series.push(MetricSeries {
                name: s.metric.clone(),
                service: s.service.clone(),
                kind: MetricKind::infer(&s.metric),
                unit: unit_from_name(&s.metric),
                times,
                values,
            });
        }
        for l in &bundle.logs {
            frame.logs.push(LogRecord {
                time: l.time,
                service: l.service.clone(),
                level: LogLevel::parse(&l.level).unwrap_or_else(|| LogLevel::sniff(&l.message)),
                message: l.message.clone(),
            });
        }
        frame.spans.extend(bundle.spans.iter().map(|s| Span {
            trace_id: s.trace_id.clone(),
            span_id: s.span_id.clone(),
            parent_id: s.parent_id.clone(),
            service: s.service.clone(),
            operation: s.operation.clone(),
            start: s.start,
            duration: s.duration,
            error: s.error,
        }));
        for (caller, callee) in &bundle.edges {
            topology.add(caller, callee);
        }
    }
    frame.normalize();
    (frame, topology)
}

/// The alerting service's series the alert most likely fires on: of the kind the alert's
/// name and expression speak of (errors, latency, CPU, memory), the one sharing most words
/// with them.
fn infer_alert_metric(
    frame: &TelemetryFrame,
    service: &str,
    request: &EvidenceRequest,
) -> Option<String> {
    let text = format!(
        "{} {}",
        request
            .alert_labels
            .get("alertname")
            .map_or("", String::as_str),
        request.alert_expr.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    let kind = if text.contains("error") || text.contains("5..") || text.contains("fail") {
        MetricKind::ErrorRate
    } else if text.contains("latency") || text.contains("duration") || text.contains("slow") {
        MetricKind::Latency
    } else if text.contains("cpu") {
        MetricKind::Cpu
    } else if text.contains("mem") {
        MetricKind::Memory
    } else {
        return None;
    };
    let words: BTreeSet<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .chain(
            // `histogram_quantile(0.95, …)` speaks of p95.
            ["0.5", "0.9", "0.95", "0.99"]
                .iter()
                .filter(|q| text.contains(*q))
                .map(|q| format!("p{}", &q[2..])),
        )
        .collect();
    frame
        .series
        .iter()
        .filter(|s| s.service == service && s.kind == kind)
        .map(|s| {
            let key = metric_key(&s.name, &s.service).to_owned();
            let shared = key
                .to_ascii_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| words.contains(*w))
                .count();
            (shared, key)
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, key)| key)
}

fn unix(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

fn num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        format!("{x:.3}")
    }
}

/// `HH:MM:SS UTC` of a unix time.
pub(crate) fn clock(t: f64) -> String {
    match OffsetDateTime::from_unix_timestamp(t.floor() as i64) {
        Ok(d) => format!("{:02}:{:02}:{:02} UTC", d.hour(), d.minute(), d.second()),
        Err(_) => format!("{t:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_core::alert::{AlertStatus, Fingerprint, Severity, SourceKind};

    fn alert(link: Option<&str>) -> Alert {
        Alert {
            source_kind: SourceKind::Alertmanager,
            fingerprint: Fingerprint::parse("abc").expect("fingerprint"),
            status: AlertStatus::Firing,
            severity: Severity::High,
            title: "t".into(),
            description: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            service: None,
            environment: None,
            starts_at: OffsetDateTime::UNIX_EPOCH,
            ends_at: None,
            link: link.map(str::to_owned),
            raw: json!({}),
        }
    }

    #[test]
    fn the_expression_comes_from_the_generator_url() {
        let a = alert(Some(
            "http://prom:9090/graph?g0.expr=rate%28x%7Bcode%3D~%225..%22%7D%5B5m%5D%29+%3E+0.1&g0.tab=1",
        ));
        assert_eq!(
            alert_expr(&a).as_deref(),
            Some("rate(x{code=~\"5..\"}[5m]) > 0.1")
        );
        let mut b = alert(None);
        b.annotations.insert("expr".into(), "up == 0".into());
        assert_eq!(alert_expr(&b).as_deref(), Some("up == 0"));
        assert_eq!(alert_expr(&alert(Some("http://x/"))), None);
    }
}
