//! The Alertmanager tools an agent can call: `alertmanager_alerts` and
//! `alertmanager_silences` only read; `alertmanager_create_silence` changes Alertmanager
//! ([`ToolEffect::Mutating`]), so the agent runtime runs it only after a person approved the
//! exact call. Each validates its arguments (the error says what to fix) and returns a compact
//! `content` for the model.

use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::tool::{Tool, ToolEffect, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{AlertQuery, AlertmanagerClient, Matcher, NewSilence, Silence};
use crate::timespec::{format_duration, format_time, now, parse_duration, parse_time};

/// Default and largest `limit` of the listing tools.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
/// Longest annotation or comment text shown, in characters.
const MAX_TEXT_CHARS: usize = 300;
/// Shortest and longest silence the agent may create, seconds.
pub const MIN_SILENCE_SECS: f64 = 60.0;
pub const MAX_SILENCE_SECS: f64 = 7.0 * 86_400.0;
/// Longest silence comment, in characters.
const MAX_COMMENT_CHARS: usize = 1000;
/// Most matchers in one silence or filter.
const MAX_MATCHERS: usize = 20;
/// `createdBy` of the silences Aurora creates.
pub const CREATED_BY: &str = "aurora";
/// Regular expressions that match any (non-empty) value.
const MATCH_ANY: &[&str] = &[".*", ".+", "(.*)", "(.+)", "^.*$", "^.+$", ".*.*"];

/// The Alertmanager tools for one connector: `alertmanager_alerts`, `alertmanager_silences`
/// and `alertmanager_create_silence` (mutating). `connector_name` labels their output's source.
pub fn tools(client: Arc<AlertmanagerClient>, connector_name: &str) -> Vec<Arc<dyn Tool>> {
    let ctx = Arc::new(Ctx {
        source: client.describe(connector_name),
        client,
    });
    [Kind::Alerts, Kind::Silences, Kind::CreateSilence]
        .into_iter()
        .map(|kind| {
            Arc::new(AlertmanagerTool {
                spec: spec(kind, connector_name),
                kind,
                ctx: Arc::clone(&ctx),
            }) as Arc<dyn Tool>
        })
        .collect()
}

struct Ctx {
    client: Arc<AlertmanagerClient>,
    source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Alerts,
    Silences,
    CreateSilence,
}

struct AlertmanagerTool {
    spec: ToolSpec,
    kind: Kind,
    ctx: Arc<Ctx>,
}

#[async_trait]
impl Tool for AlertmanagerTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: Value) -> Result<ToolOutput, ToolError> {
        let client = &self.ctx.client;
        let content = match self.kind {
            Kind::Alerts => alerts(client, parse_args(args)?).await?,
            Kind::Silences => silences(client, parse_args(args)?).await?,
            Kind::CreateSilence => {
                let silence = new_silence(parse_args(args)?, now())?;
                create_silence(client, silence).await?
            }
        };
        Ok(ToolOutput {
            source: self.ctx.source.clone(),
            content,
            series: Vec::new(),
        })
    }
}

fn spec(kind: Kind, connector: &str) -> ToolSpec {
    let on = format!("Alertmanager {connector:?}");
    let filter = json!({
        "type": "array",
        "items": {"type": "string"},
        "maxItems": MAX_MATCHERS,
        "description": "Label matchers that must all hold, in Alertmanager's notation, e.g. [\"service=\\\"checkout\\\"\", \"alertname=~\\\"High.*\\\"\", \"severity!=\\\"info\\\"\"]."
    });
    let limit = json!({
        "type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
        "description": format!("Most items to return. Default {DEFAULT_LIMIT}.")
    });
    let (name, description, parameters, effect) = match kind {
        Kind::Alerts => (
            "alertmanager_alerts",
            format!(
                "List the alerts {on} currently holds (firing, and unless excluded, silenced or inhibited), newest first: labels, summary, since when, state (active, suppressed, unprocessed) and the silences or alerts suppressing them."
            ),
            json!({
                "type": "object",
                "properties": {
                    "filter": filter,
                    "active": {"type": "boolean", "description": "Include active (notifying) alerts. Default true."},
                    "silenced": {"type": "boolean", "description": "Include silenced alerts. Default true."},
                    "inhibited": {"type": "boolean", "description": "Include inhibited alerts. Default true."},
                    "limit": limit
                },
                "additionalProperties": false
            }),
            ToolEffect::ReadOnly,
        ),
        Kind::Silences => (
            "alertmanager_silences",
            format!(
                "List the silences of {on}: id, state, matchers, who created it, why, and when it starts and ends. Expired silences are left out unless state is \"expired\"."
            ),
            json!({
                "type": "object",
                "properties": {
                    "filter": filter,
                    "state": {"type": "string", "enum": ["active", "pending", "expired"], "description": "Only silences in this state. Default: active and pending."},
                    "limit": limit
                },
                "additionalProperties": false
            }),
            ToolEffect::ReadOnly,
        ),
        Kind::CreateSilence => (
            "alertmanager_create_silence",
            format!(
                "Create a silence in {on}: alerts matching all the matchers stop notifying until it ends. Needs a person's approval. Use exact matchers (e.g. alertname and service) so only the intended alerts are silenced. Returns the silence id."
            ),
            json!({
                "type": "object",
                "properties": {
                    "matchers": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_MATCHERS,
                        "description": "What to silence: an alert is silenced when its labels satisfy every matcher.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "description": "Label name, e.g. \"alertname\"."},
                                "value": {"type": "string", "description": "Label value, or a regular expression when is_regex."},
                                "is_regex": {"type": "boolean", "description": "value is a regular expression (anchored). Default false."},
                                "is_equal": {"type": "boolean", "description": "false negates the matcher (!= or !~). Default true."}
                            },
                            "required": ["name", "value"],
                            "additionalProperties": false
                        }
                    },
                    "duration": {
                        "type": ["string", "number"],
                        "description": "How long the silence lasts from now: a duration like \"30m\", \"2h\", \"1d\" or seconds; 1m to 7d."
                    },
                    "comment": {"type": "string", "description": "Why: the incident and what is being done. Shown to everyone who sees the silence."}
                },
                "required": ["matchers", "duration", "comment"],
                "additionalProperties": false
            }),
            ToolEffect::Mutating,
        ),
    };
    ToolSpec {
        name: name.to_owned(),
        description,
        parameters,
        effect,
    }
}

fn parse_args<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| {
        ToolError::InvalidArguments(format!("{e}; check the arguments against the schema"))
    })
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}

/// One matcher string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn filter(filter: Option<OneOrMany>) -> Result<Vec<String>, ToolError> {
    let filter = match filter {
        None => Vec::new(),
        Some(OneOrMany::One(m)) => vec![m],
        Some(OneOrMany::Many(ms)) => ms,
    };
    if filter.len() > MAX_MATCHERS {
        return Err(invalid(format!(
            "filter has {} matchers; use at most {MAX_MATCHERS}",
            filter.len()
        )));
    }
    filter
        .into_iter()
        .map(|m| {
            let m = m.trim().to_owned();
            if m.is_empty() {
                Err(invalid(
                    "filter: a matcher is empty; write e.g. service=\"checkout\"",
                ))
            } else {
                Ok(m)
            }
        })
        .collect()
}

fn limit(limit: Option<usize>) -> Result<usize, ToolError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(invalid(format!(
            "limit {n} is out of range; use 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Text cut to [`MAX_TEXT_CHARS`].
fn short(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An RFC 3339 time as unix seconds, for sorting (0 when it is not one).
fn seconds(time: &str) -> f64 {
    parse_time(time, 0.0).unwrap_or(0.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsArgs {
    filter: Option<OneOrMany>,
    active: Option<bool>,
    silenced: Option<bool>,
    inhibited: Option<bool>,
    limit: Option<usize>,
}

async fn alerts(client: &AlertmanagerClient, args: AlertsArgs) -> Result<Value, ToolError> {
    let limit = limit(args.limit)?;
    let query = AlertQuery {
        filter: filter(args.filter)?,
        active: args.active,
        silenced: args.silenced,
        inhibited: args.inhibited,
    };
    let mut alerts = client.alerts(&query).await?;
    alerts.sort_by(|a, b| seconds(&b.starts_at).total_cmp(&seconds(&a.starts_at)));
    let mut by_state = serde_json::Map::new();
    for alert in &alerts {
        let count = by_state
            .entry(alert.status.state.clone())
            .or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    let listed: Vec<Value> = alerts
        .iter()
        .take(limit)
        .map(|alert| {
            let mut entry = json!({
                "alertname": alert.labels.get("alertname"),
                "state": alert.status.state,
                "labels": alert.labels,
                "starts_at": alert.starts_at,
                "fingerprint": alert.fingerprint,
            });
            for key in ["summary", "description"] {
                if let Some(text) = alert.annotations.get(key).filter(|t| !t.trim().is_empty()) {
                    entry[key] = json!(short(text));
                }
            }
            if !alert.status.silenced_by.is_empty() {
                entry["silenced_by"] = json!(alert.status.silenced_by);
            }
            if !alert.status.inhibited_by.is_empty() {
                entry["inhibited_by"] = json!(alert.status.inhibited_by);
            }
            entry
        })
        .collect();
    let mut content = json!({
        "count": alerts.len(),
        "by_state": by_state,
        "truncated": alerts.len() > limit,
        "alerts": listed,
    });
    if !query.filter.is_empty() {
        content["filter"] = json!(query.filter);
    }
    Ok(content)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilencesArgs {
    filter: Option<OneOrMany>,
    state: Option<String>,
    limit: Option<usize>,
}

fn silence_entry(silence: &Silence) -> Value {
    json!({
        "id": silence.id,
        "state": silence.status.state,
        "matchers": silence.matchers.iter().map(Matcher::to_text).collect::<Vec<_>>(),
        "created_by": silence.created_by,
        "comment": short(&silence.comment),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
    })
}

async fn silences(client: &AlertmanagerClient, args: SilencesArgs) -> Result<Value, ToolError> {
    let limit = limit(args.limit)?;
    if let Some(state) = &args.state
        && !matches!(state.as_str(), "active" | "pending" | "expired")
    {
        return Err(invalid(format!(
            "state {state:?} is not known; use \"active\", \"pending\" or \"expired\""
        )));
    }
    let filter = filter(args.filter)?;
    let mut silences: Vec<Silence> = client
        .silences(&filter)
        .await?
        .into_iter()
        .filter(|s| match &args.state {
            Some(state) => &s.status.state == state,
            None => s.status.state != "expired",
        })
        .collect();
    // Active first, then pending, then expired; within each, the soonest to end first (the
    // most recently ended first for expired ones).
    let rank = |s: &Silence| match s.status.state.as_str() {
        "active" => 0,
        "pending" => 1,
        _ => 2,
    };
    silences.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            let (a_end, b_end) = (seconds(&a.ends_at), seconds(&b.ends_at));
            if rank(a) == 2 {
                b_end.total_cmp(&a_end)
            } else {
                a_end.total_cmp(&b_end)
            }
        })
    });
    let mut content = json!({
        "count": silences.len(),
        "truncated": silences.len() > limit,
        "silences": silences.iter().take(limit).map(silence_entry).collect::<Vec<_>>(),
    });
    if !filter.is_empty() {
        content["filter"] = json!(filter);
    }
    Ok(content)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherArg {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSilenceArgs {
    matchers: Option<Vec<MatcherArg>>,
    duration: Option<DurationArg>,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationArg {
    Seconds(f64),
    Text(String),
}

/// Whether a matcher narrows what a silence covers: it is positive (`=` or `=~`), its value is
/// not empty and not a regular expression matching any value. A silence made only of negated,
/// empty or match-anything matchers would cover nearly every alert (Alertmanager accepts
/// `alertname!~"Foo"` alone, silencing everything else).
fn narrows(m: &Matcher) -> bool {
    m.is_equal && !m.value.is_empty() && !(m.is_regex && MATCH_ANY.contains(&m.value.trim()))
}

/// Validates the arguments of `alertmanager_create_silence` into the silence to create, from
/// `now` (unix seconds).
fn new_silence(args: CreateSilenceArgs, now: f64) -> Result<NewSilence, ToolError> {
    let example = "e.g. [{\"name\": \"alertname\", \"value\": \"HighLatency\"}, {\"name\": \"service\", \"value\": \"checkout\"}]";
    let matchers = args.matchers.ok_or_else(|| {
        invalid(format!(
            "matchers is required: the labels of the alerts to silence, {example}"
        ))
    })?;
    if matchers.is_empty() {
        return Err(invalid(format!(
            "matchers is empty, which would silence every alert; give at least one exact matcher, {example}"
        )));
    }
    if matchers.len() > MAX_MATCHERS {
        return Err(invalid(format!(
            "{} matchers are too many; use at most {MAX_MATCHERS}",
            matchers.len()
        )));
    }
    let matchers: Vec<Matcher> = matchers
        .into_iter()
        .map(|m| {
            let name = m.name.trim().to_owned();
            if name.is_empty() {
                return Err(invalid(format!(
                    "a matcher has an empty name; give the label name, {example}"
                )));
            }
            Ok(Matcher {
                name,
                value: m.value,
                is_regex: m.is_regex,
                is_equal: m.is_equal,
            })
        })
        .collect::<Result<_, _>>()?;
    if !matchers.iter().any(narrows) {
        return Err(invalid(format!(
            "the matchers ({}) are all negated (!=, !~), empty or match any value, so the \
             silence would cover nearly every alert; add an exact positive matcher, {example}",
            matchers
                .iter()
                .map(Matcher::to_text)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    let secs = match args.duration {
        None => {
            return Err(invalid(
                "duration is required: how long to silence, e.g. \"2h\" (1m to 7d)",
            ));
        }
        Some(DurationArg::Seconds(s)) => s,
        Some(DurationArg::Text(text)) => {
            parse_duration(&text).map_err(|e| invalid(format!("duration: {e}")))?
        }
    };
    if !secs.is_finite() || !(MIN_SILENCE_SECS..=MAX_SILENCE_SECS).contains(&secs) {
        return Err(invalid(format!(
            "duration {} is out of range; a silence lasts from 1m to 7d, e.g. \"2h\"",
            if secs.is_finite() && secs > 0.0 {
                format_duration(secs)
            } else {
                secs.to_string()
            }
        )));
    }

    let comment = args.comment.as_deref().map(str::trim).unwrap_or_default();
    if comment.is_empty() {
        return Err(invalid(
            "comment is required: say why the alerts are silenced (the incident and what is \
             being done); everyone who sees the silence reads it",
        ));
    }
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(invalid(format!(
            "comment is longer than {MAX_COMMENT_CHARS} characters; shorten it"
        )));
    }
    Ok(NewSilence {
        matchers,
        starts_at: format_time(now.floor()),
        ends_at: format_time((now + secs).floor()),
        created_by: CREATED_BY.to_owned(),
        comment: comment.to_owned(),
    })
}

async fn create_silence(
    client: &AlertmanagerClient,
    silence: NewSilence,
) -> Result<Value, ToolError> {
    let id = client.create_silence(&silence).await?;
    Ok(json!({
        "silence_id": id,
        "matchers": silence.matchers.iter().map(Matcher::to_text).collect::<Vec<_>>(),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "duration": format_duration(seconds(&silence.ends_at) - seconds(&silence.starts_at)),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "link": client.silence_link(&id),
    }))
}

#[cfg(test)]
mod tests;
