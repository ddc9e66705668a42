//! Opsgenie webhook integration: one delivery is one alert action `{"action": "Create",
//! "alert": {…}, "source": {…}, "integrationName": …}`.
//!
//! Follows Opsgenie's "Webhook Integration" documentation (alert action payload, including the
//! optional description and details): <https://docs.opsgenie.com/docs/webhook-integration>.
//!
//! `Close` and `Delete` resolve the alert; every other action (`Create`, `Acknowledge`,
//! `UnAcknowledge`, `AddNote`, `AddTags`, `Escalate`, `AssignOwnership`, custom actions, …)
//! reports it as firing with its current fields. Identity: the alert's `alias` (Opsgenie's own
//! de-duplication key), else its `alertId`.

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use serde_json::Value;

use crate::delivery::{Delivery, ParseOptions, finish, severity_from_priority};
use crate::error::ParseError;
use crate::json::{self, Obj, tags_to_labels};

/// Reads an Opsgenie webhook delivery.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    let doc = json::parse_body(body)?;
    let root = Obj::new(&doc, "")?;
    let action = root.req_str("action")?;
    let alert = root
        .opt_obj("alert")?
        .ok_or_else(|| ParseError::MissingField {
            path: "alert".to_owned(),
        })?;

    let alert_id = alert.opt_str("alertId")?;
    let alias = alert.opt_str("alias")?;
    let fingerprint = alias
        .and_then(Fingerprint::from_identity)
        .or_else(|| alert_id.and_then(Fingerprint::from_identity))
        .ok_or_else(|| ParseError::MissingField {
            path: alert.path_of("alias"),
        })?;
    let title = alert.req_str("message")?.to_owned();
    let status = if action.eq_ignore_ascii_case("close") || action.eq_ignore_ascii_case("delete") {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    let priority = alert.opt_str("priority")?;
    let severity = priority
        .and_then(severity_from_priority)
        .unwrap_or(Severity::Warning);

    // Details are Opsgenie's key-value labels; tags of the form key:value become labels too.
    let mut labels = alert.str_map("details")?;
    if let Some(tags) = alert.opt_array("tags")? {
        tags_to_labels(tags.iter().filter_map(Value::as_str), &mut labels);
    }
    for (field, label) in [
        ("entity", "entity"),
        ("source", "source"),
        ("team", "team"),
        ("priority", "priority"),
        ("tinyId", "tiny_id"),
        ("alertId", "alert_id"),
        ("alias", "alias"),
    ] {
        if let Some(value) = alert.opt_str(field)? {
            labels
                .entry(label.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    }

    let mut annotations = BTreeMap::new();
    annotations.insert("action".to_owned(), action.to_owned());
    for (field, name) in [("username", "user"), ("note", "note")] {
        if let Some(value) = alert.opt_str(field)? {
            annotations.insert(name.to_owned(), value.to_owned());
        }
    }
    if let Some(name) = root.opt_str("integrationName")? {
        annotations.insert("integration".to_owned(), name.to_owned());
    }

    let starts_at = alert
        .opt_epoch_millis("createdAt")?
        .unwrap_or(opts.received_at);
    let ends_at = match status {
        AlertStatus::Resolved => Some(
            alert
                .opt_epoch_millis("updatedAt")?
                .unwrap_or(opts.received_at),
        ),
        AlertStatus::Firing => None,
    };
    let description = alert.opt_str("description")?.unwrap_or_default().to_owned();

    let alert = Alert {
        source_kind: SourceKind::Opsgenie,
        fingerprint,
        status,
        severity,
        title,
        description,
        labels,
        annotations,
        service: None,
        environment: None,
        starts_at,
        ends_at,
        link: None,
        raw: doc.clone(),
    };
    Ok(Delivery::Alerts(vec![finish(alert, opts)]))
}
