//! The Prometheus tools an agent can call. All only read. Each validates its arguments (the
//! error says what to fix), returns a compact `content` for the model and, for range queries,
//! the series themselves for the UI to draw.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::tool::{Series, Tool, ToolEffect, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{PrometheusClient, QueryData, RuleKind};
use super::promql;
use crate::timespec::{format_duration, format_time, now, parse_duration, parse_time};

/// Most results listed in a tool's `content`.
const MAX_CONTENT_RESULTS: usize = 50;
/// Most series handed to the UI from one range query.
const MAX_OUTPUT_SERIES: usize = 100;
/// Samples shown per series in `content` (the full series goes to `ToolOutput::series`).
const SAMPLES_PER_SERIES: usize = 12;
/// Points a range query aims for when no step is given.
const DEFAULT_POINTS: f64 = 250.0;
/// Default and largest `limit` of the discovery tools.
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 1000;

/// The Prometheus tools for one connector: `prometheus_query`, `prometheus_query_range`,
/// `prometheus_metrics`, `prometheus_labels`, `prometheus_service_series`,
/// `prometheus_alerts` and `prometheus_rules`. `connector_name` labels their output's source.
pub fn tools(client: Arc<PrometheusClient>, connector_name: &str) -> Vec<Arc<dyn Tool>> {
    let ctx = Arc::new(Ctx {
        source: client.describe(connector_name),
        client,
    });
    [
        Kind::Query,
        Kind::QueryRange,
        Kind::Metrics,
        Kind::Labels,
        Kind::ServiceSeries,
        Kind::Alerts,
        Kind::Rules,
    ]
    .into_iter()
    .map(|kind| {
        Arc::new(PrometheusTool {
            spec: spec(kind, connector_name),
            kind,
            ctx: Arc::clone(&ctx),
        }) as Arc<dyn Tool>
    })
    .collect()
}

struct Ctx {
    client: Arc<PrometheusClient>,
    source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Query,
    QueryRange,
    Metrics,
    Labels,
    ServiceSeries,
    Alerts,
    Rules,
}

struct PrometheusTool {
    spec: ToolSpec,
    kind: Kind,
    ctx: Arc<Ctx>,
}

#[async_trait]
impl Tool for PrometheusTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: Value) -> Result<ToolOutput, ToolError> {
        let client = &self.ctx.client;
        let (content, series) = match self.kind {
            Kind::Query => query(client, parse_args(args)?).await?,
            Kind::QueryRange => query_range(client, parse_args(args)?).await?,
            Kind::Metrics => (metrics(client, parse_args(args)?).await?, Vec::new()),
            Kind::Labels => (labels(client, parse_args(args)?).await?, Vec::new()),
            Kind::ServiceSeries => (service_series(client, parse_args(args)?).await?, Vec::new()),
            Kind::Alerts => (alerts(client, parse_args(args)?).await?, Vec::new()),
            Kind::Rules => (rules(client, parse_args(args)?).await?, Vec::new()),
        };
        Ok(ToolOutput {
            source: self.ctx.source.clone(),
            content,
            series,
        })
    }
}

fn spec(kind: Kind, connector: &str) -> ToolSpec {
    let on = format!("Prometheus {connector:?}");
    let time_arg = |what: &str, default: &str| {
        json!({
            "type": ["string", "number"],
            "description": format!(
                "{what}: RFC 3339, unix seconds, \"now\" or relative like \"-1h\". Default {default}."
            )
        })
    };
    let limit = json!({
        "type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
        "description": format!("Most items to return. Default {DEFAULT_LIMIT}.")
    });
    let selector = json!({
        "type": "string",
        "description": "Series selector to narrow by, e.g. {job=\"api\"} or up{instance=~\"db.*\"}."
    });
    let (name, description, parameters) = match kind {
        Kind::Query => (
            "prometheus_query",
            format!(
                "Evaluate a PromQL expression at one instant on {on}. Returns the current value of each matching series. Use prometheus_query_range to see how values changed."
            ),
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "PromQL expression, e.g. sum by (job) (rate(http_requests_total[5m]))"},
                    "time": time_arg("Evaluation time", "now")
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        ),
        Kind::QueryRange => (
            "prometheus_query_range",
            format!(
                "Evaluate a PromQL expression over a time range on {on}. Returns a summary of each series (first, last, min, max, mean, a few samples); the full series are drawn for the user. Use rate() on counters (names ending in _total)."
            ),
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "PromQL expression"},
                    "start": time_arg("Range start", "-1h"),
                    "end": time_arg("Range end", "now"),
                    "step": {"type": ["string", "number"], "description": "Spacing of points: seconds or a duration like \"30s\", \"5m\". Default: about 250 points over the range."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        ),
        Kind::Metrics => (
            "prometheus_metrics",
            format!(
                "List metric names known to {on}, optionally only those containing a substring or having series that match a selector."
            ),
            json!({
                "type": "object",
                "properties": {
                    "contains": {"type": "string", "description": "Case-insensitive substring the name must contain, e.g. \"latency\"."},
                    "match": selector,
                    "limit": limit
                },
                "additionalProperties": false
            }),
        ),
        Kind::Labels => (
            "prometheus_labels",
            format!(
                "Without `label`: list label names on {on}. With `label`: list that label's values (e.g. label \"job\" lists scraped jobs)."
            ),
            json!({
                "type": "object",
                "properties": {
                    "label": {"type": "string", "description": "Label whose values to list."},
                    "match": selector,
                    "start": time_arg("Only series present after", "all retained data"),
                    "end": time_arg("Only series present before", "now"),
                    "limit": limit
                },
                "additionalProperties": false
            }),
        ),
        Kind::ServiceSeries => (
            "prometheus_service_series",
            format!(
                "List the series of one service on {on}: series whose service, job, app or container label equals the name, or whose pod is named after it. Returns metric names with their selectors, to query next."
            ),
            json!({
                "type": "object",
                "properties": {
                    "service": {"type": "string", "description": "Service name, e.g. \"checkout\"."},
                    "start": time_arg("Series present after", "-1h"),
                    "end": time_arg("Series present before", "now"),
                    "limit": limit
                },
                "required": ["service"],
                "additionalProperties": false
            }),
        ),
        Kind::Alerts => (
            "prometheus_alerts",
            format!(
                "List the alerts currently pending or firing in {on}'s rule evaluation, with labels, annotations and since when."
            ),
            json!({
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["firing", "pending"], "description": "Only alerts in this state."},
                    "contains": {"type": "string", "description": "Case-insensitive substring of the alert name."}
                },
                "additionalProperties": false
            }),
        ),
        Kind::Rules => (
            "prometheus_rules",
            format!(
                "List the alerting and recording rules loaded in {on}: expressions, health, last error and alert state."
            ),
            json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["alert", "record"], "description": "Only alerting or only recording rules."},
                    "contains": {"type": "string", "description": "Case-insensitive substring of the rule or group name."}
                },
                "additionalProperties": false
            }),
        ),
    };
    ToolSpec {
        name: name.to_owned(),
        description,
        parameters,
        effect: ToolEffect::ReadOnly,
    }
}

fn parse_args<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| {
        ToolError::InvalidArguments(format!("{e}; check the arguments against the schema"))
    })
}

/// A time or duration argument: text or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Number(f64),
    Text(String),
}

impl TextOrNumber {
    fn time(&self, field: &str, now: f64) -> Result<f64, ToolError> {
        match self {
            TextOrNumber::Number(n) if n.is_finite() && *n >= 0.0 => Ok(*n),
            TextOrNumber::Number(n) => Err(ToolError::InvalidArguments(format!(
                "{field}: {n} is not a time; use unix seconds, RFC 3339 or e.g. \"-1h\""
            ))),
            TextOrNumber::Text(t) => {
                parse_time(t, now).map_err(|e| ToolError::InvalidArguments(format!("{field}: {e}")))
            }
        }
    }

    fn duration(&self, field: &str) -> Result<f64, ToolError> {
        let secs = match self {
            TextOrNumber::Number(n) => Ok(*n),
            TextOrNumber::Text(t) => parse_duration(t),
        }
        .map_err(|e| ToolError::InvalidArguments(format!("{field}: {e}")))?;
        if secs.is_finite() && secs > 0.0 {
            Ok(secs)
        } else {
            Err(ToolError::InvalidArguments(format!(
                "{field} must be positive, e.g. \"30s\" or 60"
            )))
        }
    }
}

fn window(
    start: Option<&TextOrNumber>,
    end: Option<&TextOrNumber>,
    default_start: Option<f64>,
) -> Result<(Option<f64>, Option<f64>), ToolError> {
    let now = now();
    let start = match start {
        Some(s) => Some(s.time("start", now)?),
        None => default_start.map(|d| now - d),
    };
    let end = match end {
        Some(e) => Some(e.time("end", now)?),
        None => start.map(|_| now),
    };
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ToolError::InvalidArguments(format!(
            "end ({}) is before start ({}); swap them",
            format_time(e),
            format_time(s)
        )));
    }
    Ok((start, end))
}

fn non_empty(field: &str, value: &str) -> Result<(), ToolError> {
    if value.trim().is_empty() {
        Err(ToolError::InvalidArguments(format!(
            "{field} must not be empty"
        )))
    } else {
        Ok(())
    }
}

fn limit(limit: Option<usize>) -> Result<usize, ToolError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ToolError::InvalidArguments(format!(
            "limit {n} is out of range; use 1 to {MAX_LIMIT}"
        ))),
    }
}

/// A number for `content`: JSON has no NaN or infinities, so those become strings.
fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

/// A range series summarized for the model.
fn summarize(series: &Series) -> Value {
    let values: Vec<f64> = series.points.iter().map(|(_, v)| *v).collect();
    let mut summary = json!({ "labels": series.labels, "points": values.len() });
    if let (Some(first), Some(last)) = (series.points.first(), series.points.last()) {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let stride = series.points.len().div_ceil(SAMPLES_PER_SERIES).max(1);
        let samples: Vec<Value> = series
            .points
            .iter()
            .step_by(stride)
            .map(|(t, v)| json!([format_time(*t), v]))
            .collect();
        summary["first"] = json!([format_time(first.0), first.1]);
        summary["last"] = json!([format_time(last.0), last.1]);
        summary["min"] = number(min);
        summary["max"] = number(max);
        summary["mean"] = number(mean);
        summary["samples"] = json!(samples);
    }
    summary
}

fn data_content(data: &QueryData) -> (Value, Vec<Series>) {
    match data {
        QueryData::Matrix(series) => (
            json!({
                "result_type": "matrix",
                "series_count": series.len(),
                "truncated": series.len() > MAX_CONTENT_RESULTS,
                "series": series.iter().take(MAX_CONTENT_RESULTS).map(summarize).collect::<Vec<_>>(),
            }),
            series.iter().take(MAX_OUTPUT_SERIES).cloned().collect(),
        ),
        QueryData::Vector(samples) => (
            json!({
                "result_type": "vector",
                "time": samples.first().map(|s| format_time(s.time)),
                "result_count": samples.len(),
                "truncated": samples.len() > MAX_CONTENT_RESULTS,
                "result": samples
                    .iter()
                    .take(MAX_CONTENT_RESULTS)
                    .map(|s| json!({"labels": s.labels, "value": number(s.value)}))
                    .collect::<Vec<_>>(),
            }),
            Vec::new(),
        ),
        QueryData::Scalar(t, v) => (
            json!({"result_type": "scalar", "time": format_time(*t), "value": number(*v)}),
            Vec::new(),
        ),
        QueryData::String(t, s) => (
            json!({"result_type": "string", "time": format_time(*t), "value": s}),
            Vec::new(),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    query: String,
    time: Option<TextOrNumber>,
}

async fn query(
    client: &PrometheusClient,
    args: QueryArgs,
) -> Result<(Value, Vec<Series>), ToolError> {
    non_empty("query", &args.query)?;
    let time = args
        .time
        .as_ref()
        .map(|t| t.time("time", now()))
        .transpose()?;
    let result = client.query(&args.query, time).await?;
    let (mut content, series) = data_content(&result.data);
    content["query"] = json!(args.query);
    if !result.warnings.is_empty() {
        content["warnings"] = json!(result.warnings);
    }
    Ok((content, series))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRangeArgs {
    query: String,
    start: Option<TextOrNumber>,
    end: Option<TextOrNumber>,
    step: Option<TextOrNumber>,
}

async fn query_range(
    client: &PrometheusClient,
    args: QueryRangeArgs,
) -> Result<(Value, Vec<Series>), ToolError> {
    non_empty("query", &args.query)?;
    let (start, end) = window(args.start.as_ref(), args.end.as_ref(), Some(3600.0))?;
    let (start, end) = (start.unwrap_or_default(), end.unwrap_or_default());
    let step = match &args.step {
        Some(step) => step.duration("step")?,
        None => ((end - start) / DEFAULT_POINTS).ceil().max(1.0),
    };
    let result = client.query_range(&args.query, start, end, step).await?;
    let (mut content, series) = data_content(&result.data);
    content["query"] = json!(args.query);
    content["start"] = json!(format_time(start));
    content["end"] = json!(format_time(end));
    content["step"] = json!(format_duration(result.step));
    if let Some(note) = result.note {
        content["note"] = json!(note);
    }
    if !result.warnings.is_empty() {
        content["warnings"] = json!(result.warnings);
    }
    Ok((content, series))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsArgs {
    contains: Option<String>,
    #[serde(rename = "match")]
    matcher: Option<String>,
    limit: Option<usize>,
}

async fn metrics(client: &PrometheusClient, args: MetricsArgs) -> Result<Value, ToolError> {
    let limit = limit(args.limit)?;
    let matchers: Vec<String> = args.matcher.into_iter().collect();
    let names = client
        .label_values("__name__", &matchers, None, None)
        .await?;
    let needle = args.contains.as_deref().unwrap_or("").to_ascii_lowercase();
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().contains(&needle))
        .collect();
    Ok(json!({
        "total_metrics": names.len(),
        "matching": matching.len(),
        "truncated": matching.len() > limit,
        "metrics": matching.into_iter().take(limit).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsArgs {
    label: Option<String>,
    #[serde(rename = "match")]
    matcher: Option<String>,
    start: Option<TextOrNumber>,
    end: Option<TextOrNumber>,
    limit: Option<usize>,
}

async fn labels(client: &PrometheusClient, args: LabelsArgs) -> Result<Value, ToolError> {
    let limit = limit(args.limit)?;
    let (start, end) = window(args.start.as_ref(), args.end.as_ref(), None)?;
    let matchers: Vec<String> = args.matcher.into_iter().collect();
    let (key, values) = match &args.label {
        Some(label) => {
            non_empty("label", label)?;
            (
                "values",
                client.label_values(label, &matchers, start, end).await?,
            )
        }
        None => ("labels", client.label_names(&matchers, start, end).await?),
    };
    let mut content = json!({
        "count": values.len(),
        "truncated": values.len() > limit,
    });
    if let Some(label) = &args.label {
        content["label"] = json!(label);
    }
    content[key] = json!(values.into_iter().take(limit).collect::<Vec<_>>());
    Ok(content)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSeriesArgs {
    service: String,
    start: Option<TextOrNumber>,
    end: Option<TextOrNumber>,
    limit: Option<usize>,
}

async fn service_series(
    client: &PrometheusClient,
    args: ServiceSeriesArgs,
) -> Result<Value, ToolError> {
    non_empty("service", &args.service)?;
    let limit = limit(args.limit)?;
    let (start, end) = window(args.start.as_ref(), args.end.as_ref(), Some(3600.0))?;
    let selectors = promql::service_selectors(&args.service);
    let found = client.series(&selectors, start, end).await?;
    // Grouped by metric name: the model queries metrics, not single series.
    let mut by_metric: BTreeMap<String, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for labels in &found {
        let name = labels.get("__name__").cloned().unwrap_or_default();
        by_metric.entry(name).or_default().push(labels);
    }
    let metrics: Vec<Value> = by_metric
        .iter()
        .take(limit)
        .map(|(name, series)| {
            let example: BTreeMap<&str, &str> = series[0]
                .iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let matched = ["service", "job", "app", "container"]
                .into_iter()
                .find(|l| series[0].get(*l) == Some(&args.service))
                .map_or_else(
                    || promql::pod_selector(&args.service),
                    |l| promql::selector(l, &args.service),
                );
            json!({
                "metric": name,
                "series": series.len(),
                "selector": format!("{name}{matched}"),
                "example_labels": example,
            })
        })
        .collect();
    Ok(json!({
        "service": args.service,
        "matched_by": selectors,
        "series_count": found.len(),
        "metric_count": by_metric.len(),
        "truncated": by_metric.len() > limit,
        "metrics": metrics,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsArgs {
    state: Option<String>,
    contains: Option<String>,
}

async fn alerts(client: &PrometheusClient, args: AlertsArgs) -> Result<Value, ToolError> {
    if let Some(state) = &args.state
        && !matches!(state.as_str(), "firing" | "pending")
    {
        return Err(ToolError::InvalidArguments(format!(
            "state {state:?} is not known; use \"firing\" or \"pending\""
        )));
    }
    let needle = args.contains.as_deref().unwrap_or("").to_ascii_lowercase();
    let alerts: Vec<_> = client
        .alerts()
        .await?
        .into_iter()
        .filter(|a| args.state.as_ref().is_none_or(|s| &a.state == s))
        .filter(|a| {
            a.labels
                .get("alertname")
                .is_some_and(|n| n.to_ascii_lowercase().contains(&needle))
        })
        .collect();
    Ok(json!({
        "count": alerts.len(),
        "truncated": alerts.len() > MAX_CONTENT_RESULTS,
        "alerts": alerts.iter().take(MAX_CONTENT_RESULTS).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesArgs {
    #[serde(rename = "type")]
    kind: Option<String>,
    contains: Option<String>,
}

async fn rules(client: &PrometheusClient, args: RulesArgs) -> Result<Value, ToolError> {
    let kind = match args.kind.as_deref() {
        None => None,
        Some("alert") => Some(RuleKind::Alerting),
        Some("record") => Some(RuleKind::Recording),
        Some(other) => {
            return Err(ToolError::InvalidArguments(format!(
                "type {other:?} is not known; use \"alert\" or \"record\""
            )));
        }
    };
    let needle = args.contains.as_deref().unwrap_or("").to_ascii_lowercase();
    let mut shown = 0usize;
    let mut total = 0usize;
    let mut groups = Vec::new();
    for group in client.rules(kind).await? {
        let group_matches = group.name.to_ascii_lowercase().contains(&needle);
        let mut rules = Vec::new();
        for rule in &group.rules {
            if !group_matches && !rule.name.to_ascii_lowercase().contains(&needle) {
                continue;
            }
            total += 1;
            if shown >= DEFAULT_LIMIT {
                continue;
            }
            shown += 1;
            let mut entry = json!({
                "type": rule.kind,
                "name": rule.name,
                "query": rule.query,
                "health": rule.health,
            });
            if let Some(error) = &rule.last_error
                && !error.is_empty()
            {
                entry["last_error"] = json!(error);
            }
            if let Some(state) = &rule.state {
                entry["state"] = json!(state);
                entry["active_alerts"] = json!(rule.alerts.len());
            }
            if let Some(d) = rule.duration
                && d > 0.0
            {
                entry["for"] = json!(format_duration(d));
            }
            if !rule.labels.is_empty() {
                entry["labels"] = json!(rule.labels);
            }
            rules.push(entry);
        }
        if !rules.is_empty() {
            groups.push(json!({"group": group.name, "file": group.file, "rules": rules}));
        }
    }
    Ok(json!({
        "rule_count": total,
        "truncated": total > shown,
        "groups": groups,
    }))
}

#[cfg(test)]
mod tests;
