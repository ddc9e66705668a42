//! Datadog monitor notifications through the Webhooks integration. Datadog's payload is a
//! template the user fills with `$VARIABLES`; one delivery is one monitor notification.
//!
//! Follows <https://docs.datadoghq.com/integrations/webhooks/> (the default payload and the
//! variable list). The default payload (`id`, `title`, `body`, `date`, `last_updated`,
//! `event_type`, `org`) is accepted as is; the template Aurora shows for a Datadog source adds
//! the monitor variables it needs for identity and severity:
//!
//! ```json
//! {
//!   "id": "$ID", "title": "$EVENT_TITLE", "body": "$EVENT_MSG", "date": "$DATE",
//!   "last_updated": "$LAST_UPDATED", "event_type": "$EVENT_TYPE",
//!   "org": { "id": "$ORG_ID", "name": "$ORG_NAME" },
//!   "alert_id": "$ALERT_ID", "alert_title": "$ALERT_TITLE",
//!   "alert_transition": "$ALERT_TRANSITION", "alert_type": "$ALERT_TYPE",
//!   "alert_priority": "$ALERT_PRIORITY", "alert_scope": "$ALERT_SCOPE",
//!   "alert_status": "$ALERT_STATUS", "alert_query": "$ALERT_QUERY",
//!   "alert_metric": "$ALERT_METRIC", "alert_cycle_key": "$ALERT_CYCLE_KEY",
//!   "aggreg_key": "$AGGREG_KEY", "hostname": "$HOSTNAME", "tags": "$TAGS", "link": "$LINK"
//! }
//! ```
//!
//! Identity: monitor id (`alert_id`) plus the sorted scope (`alert_scope`), so each group of a
//! multi-alert monitor is its own alert; without a monitor id, `aggreg_key`, then
//! `alert_cycle_key`, then the title without its `[Triggered …]` prefix.

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};

use crate::delivery::{Delivery, ParseOptions, finish, severity_from_priority};
use crate::error::ParseError;
use crate::json::{self, Obj, tags_to_labels};

/// Reads a Datadog webhook delivery.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    let doc = json::parse_body(body)?;
    let obj = Obj::new(&doc, "")?;
    // Datadog leaves a variable's name in place where it does not apply to the monitor type.
    let text = |key: &str| -> Result<Option<String>, ParseError> {
        Ok(obj
            .opt_text(key)?
            .filter(|v| !is_unexpanded(v))
            .map(|v| v.trim().to_owned()))
    };

    let transition = text("alert_transition")?;
    let alert_type = text("alert_type")?.map(|t| t.to_ascii_lowercase());
    let raw_title = match text("alert_title")? {
        Some(title) => title,
        None => text("title")?.ok_or_else(|| ParseError::MissingField {
            path: "alert_title".to_owned(),
        })?,
    };
    let status = match transition.as_deref() {
        Some(t) => status_from_transition(t),
        None if alert_type.as_deref() == Some("success") => AlertStatus::Resolved,
        None => {
            if title_prefix(&raw_title).is_some_and(|p| p.starts_with("Recovered")) {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            }
        }
    };
    let title = strip_transition_prefix(&raw_title).to_owned();

    let scope = text("alert_scope")?.map(|s| normalize_scope(&s));
    let monitor_id = text("alert_id")?;
    let fingerprint = match &monitor_id {
        Some(id) => Fingerprint::from_parts([id.as_str(), scope.as_deref().unwrap_or("")]),
        None => text("aggreg_key")?
            .or(text("alert_cycle_key")?)
            .and_then(|key| Fingerprint::from_identity(&key))
            .or_else(|| Fingerprint::from_parts(["title", title.as_str()])),
    }
    .ok_or_else(|| ParseError::MissingField {
        path: "alert_id".to_owned(),
    })?;

    let priority = text("alert_priority")?;
    let severity = priority
        .as_deref()
        .and_then(severity_from_priority)
        .or(match alert_type.as_deref() {
            Some("error") => Some(Severity::High),
            Some("warning") => Some(Severity::Warning),
            Some("info" | "success") => Some(Severity::Info),
            _ => None,
        })
        .or_else(|| {
            match transition
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("warn" | "re-warn" | "no data" | "re-no data") => Some(Severity::Warning),
                _ => None,
            }
        })
        .unwrap_or(Severity::High);

    let mut labels = BTreeMap::new();
    if let Some(tags) = text("tags")? {
        tags_to_labels(tags.split(','), &mut labels);
    }
    if let Some(scope) = &scope {
        tags_to_labels(scope.split(','), &mut labels);
    }
    if let Some(host) = text("hostname")? {
        labels.entry("host".to_owned()).or_insert(host);
    }
    if let Some(id) = &monitor_id {
        labels.insert("monitor_id".to_owned(), id.clone());
    }
    if let Some(priority) = &priority {
        labels.insert("priority".to_owned(), priority.clone());
    }

    let mut annotations = BTreeMap::new();
    for (key, name) in [
        ("alert_status", "status_summary"),
        ("alert_query", "query"),
        ("alert_metric", "metric"),
        ("alert_transition", "transition"),
        ("event_type", "event_type"),
        ("id", "event_id"),
    ] {
        if let Some(value) = text(key)? {
            annotations.insert(name.to_owned(), value);
        }
    }
    if let Some(org) = obj.opt_obj("org")?
        && let Some(name) = org.opt_text("name")?.filter(|v| !is_unexpanded(v))
    {
        annotations.insert("org".to_owned(), name);
    }

    let at = match obj.opt_epoch_millis("date")? {
        Some(at) => Some(at),
        None => obj.opt_epoch_millis("last_updated")?,
    }
    .unwrap_or(opts.received_at);
    let description = text("body")?.unwrap_or_default();
    let link = text("link")?;

    let alert = Alert {
        source_kind: SourceKind::Datadog,
        fingerprint,
        status,
        severity,
        title,
        description,
        labels,
        annotations,
        service: None,
        environment: None,
        starts_at: at,
        ends_at: (status == AlertStatus::Resolved).then_some(at),
        link,
        raw: doc.clone(),
    };
    Ok(Delivery::Alerts(vec![finish(alert, opts)]))
}

/// `Recovered` resolves; `Triggered`, `Re-Triggered`, `Warn`, `Re-Warn`, `No Data`,
/// `Re-No Data` and `Renotify` fire.
fn status_from_transition(transition: &str) -> AlertStatus {
    if transition.trim().eq_ignore_ascii_case("recovered") {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    }
}

fn is_unexpanded(value: &str) -> bool {
    value.len() > 1
        && value.starts_with('$')
        && value[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_')
}

/// The text inside a leading `[…]`, e.g. `Triggered on {host:a}`.
fn title_prefix(title: &str) -> Option<&str> {
    let rest = title.trim_start().strip_prefix('[')?;
    rest.split_once(']').map(|(inside, _)| inside)
}

/// Datadog titles start with the transition (`[Triggered on {host:a}] Host is down`); the same
/// alert's title should not change when it recovers.
fn strip_transition_prefix(title: &str) -> &str {
    const WORDS: [&str; 7] = [
        "Triggered",
        "Re-Triggered",
        "Recovered",
        "Warn",
        "Re-Warn",
        "No Data",
        "Re-No Data",
    ];
    match title_prefix(title) {
        Some(inside) if WORDS.iter().any(|w| inside.starts_with(w)) => title
            .trim_start()
            .split_once(']')
            .map_or(title, |(_, rest)| rest.trim_start()),
        _ => title,
    }
}

fn normalize_scope(scope: &str) -> String {
    let mut parts: Vec<&str> = scope
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort_unstable();
    parts.dedup();
    parts.join(",")
}

#[cfg(test)]
mod tests;
