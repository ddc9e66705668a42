//! The telemetry port: how the investigation's evidence pass asks a connected system for the
//! metrics, logs and call graph around an incident, independent of the system behind it
//! (Prometheus, a recorded snapshot, later Loki, Datadog, CloudWatch...).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::tool::{Series, ToolError};

/// What the evidence pass wants to see.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRequest {
    /// The labels of the incident's alerts, merged (the first alert's value wins).
    pub alert_labels: BTreeMap<String, String>,
    /// The alert's own expression when the source sent one (Alertmanager `generatorURL`'s
    /// `g0.expr`, a rule's query).
    pub alert_expr: Option<String>,
    /// Services named by the alerts, if any.
    pub services: Vec<String>,
    /// Window to read, unix seconds: it covers the baseline before the incident and the
    /// incident itself.
    pub start: f64,
    pub end: f64,
    /// When the incident began (the earliest alert's start), unix seconds.
    pub onset: f64,
    /// Sample spacing to ask for, seconds.
    pub step: f64,
    /// Periods known to be normal, unix seconds, when they are not simply `start..onset` (a
    /// recorded case may hold a separate reference period). Empty: `start..onset`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normal: Vec<(f64, f64)>,
    /// The metric the alert watches, when the alert or the case names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_metric: Option<String>,
}

/// One metric series attributed to a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSeries {
    pub service: String,
    /// Metric name as the analysis engine reads it (kind inferred from words like `latency`).
    pub metric: String,
    pub series: Series,
}

/// One log line attributed to a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub time: f64,
    pub service: String,
    /// `error`, `warn`, `info`, `debug` or "" when unknown.
    pub level: String,
    pub message: String,
}

/// One span of a trace attributed to a service. Times are unix seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: Option<String>,
    pub service: String,
    pub operation: String,
    pub start: f64,
    /// Seconds.
    pub duration: f64,
    pub error: bool,
}

/// What one telemetry source returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    pub series: Vec<ServiceSeries>,
    pub logs: Vec<LogLine>,
    /// Spans of traces, where the source holds traces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<TraceSpan>,
    /// Calls between services: `(caller, callee)`.
    pub edges: Vec<(String, String)>,
    /// What was asked of the system, in its own language (PromQL queries, file names), so the
    /// report can show how the evidence was obtained.
    pub queries: Vec<String>,
}

/// A system that can provide telemetry around an incident.
#[async_trait]
pub trait TelemetrySource: Send + Sync {
    /// e.g. `prometheus "prod"`.
    fn describe(&self) -> String;
    async fn gather(&self, request: &EvidenceRequest) -> Result<EvidenceBundle, ToolError>;
}
