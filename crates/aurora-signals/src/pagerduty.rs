//! PagerDuty v3 webhook subscriptions: one delivery is one event `{"event": {…}}` whose `data`
//! is the incident for incident events (`incident.triggered`, `incident.acknowledged`,
//! `incident.resolved`, `incident.reopened`, …). Deliveries are signed with
//! `X-PagerDuty-Signature` (see [`crate::auth::verify_pagerduty`]).
//!
//! Follows PagerDuty's "Webhooks Overview" (V3 webhook payload) and "Verifying Signatures"
//! developer documentation: <https://developer.pagerduty.com/docs/webhooks-overview>.
//!
//! Identity: the incident's `incident_key` (the de-duplication key of the event that opened it),
//! else its `id`. Events whose `data` is not an incident (`incident.annotated` carries a note,
//! `service.*` a service, `pagey.ping` nothing) are [`Delivery::Ignored`].

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use serde_json::Value;

use crate::delivery::{Delivery, ParseOptions, finish, severity_from_priority};
use crate::error::ParseError;
use crate::json::{self, Obj};

/// Reads a PagerDuty v3 webhook delivery.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    let mut doc = json::parse_body(body)?;
    let alert = {
        let root = Obj::new(&doc, "")?;
        let event = root
            .opt_obj("event")?
            .ok_or_else(|| ParseError::MissingField {
                path: "event".to_owned(),
            })?;
        let event_type = event.req_str("event_type")?;
        let data = match event.opt_obj("data")? {
            Some(data) => data,
            None if !event_type.starts_with("incident.") => {
                return Ok(Delivery::Ignored {
                    reason: format!("PagerDuty event {event_type} carries no incident"),
                });
            }
            None => {
                return Err(ParseError::MissingField {
                    path: event.path_of("data"),
                });
            }
        };
        let resource_type = event.opt_str("resource_type")?.unwrap_or("incident");
        let data_type = data.opt_str("type")?.unwrap_or("incident");
        if resource_type != "incident" || data_type != "incident" {
            return Ok(Delivery::Ignored {
                reason: format!("PagerDuty event {event_type} carries no incident state"),
            });
        }
        read_incident(&event, &data, event_type, opts)?
    };
    let alert = Alert {
        raw: doc.get_mut("event").map(Value::take).unwrap_or_default(),
        ..alert
    };
    Ok(Delivery::Alerts(vec![finish(alert, opts)]))
}

fn read_incident(
    event: &Obj<'_>,
    data: &Obj<'_>,
    event_type: &str,
    opts: &ParseOptions,
) -> Result<Alert, ParseError> {
    let id = data.req_str("id")?;
    let incident_key = data.opt_str("incident_key")?;
    let fingerprint = incident_key
        .and_then(Fingerprint::from_identity)
        .or_else(|| Fingerprint::from_identity(id))
        .ok_or_else(|| ParseError::MissingField {
            path: data.path_of("id"),
        })?;
    let title = data.req_str("title")?.to_owned();
    let incident_status = data.opt_str("status")?;
    let status = if event_type == "incident.resolved" || incident_status == Some("resolved") {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };

    let mut labels = BTreeMap::new();
    let priority = match data.opt_obj("priority")? {
        Some(priority) => priority.opt_str("summary")?.map(str::to_owned),
        None => None,
    };
    let urgency = data.opt_str("urgency")?;
    let severity = priority
        .as_deref()
        .and_then(severity_from_priority)
        .or(match urgency {
            Some("high") => Some(Severity::High),
            Some("low") => Some(Severity::Low),
            _ => None,
        })
        .unwrap_or(Severity::Warning);
    if let Some(priority) = priority {
        labels.insert("priority".to_owned(), priority);
    }
    if let Some(urgency) = urgency {
        labels.insert("urgency".to_owned(), urgency.to_owned());
    }
    if let Some(service) = data.opt_obj("service")?
        && let Some(name) = service.opt_str("summary")?
    {
        labels.insert("service".to_owned(), name.to_owned());
    }
    if let Some(policy) = data.opt_obj("escalation_policy")?
        && let Some(name) = policy.opt_str("summary")?
    {
        labels.insert("escalation_policy".to_owned(), name.to_owned());
    }
    if let Some(teams) = data.opt_array("teams")? {
        let names: Vec<&str> = teams
            .iter()
            .filter_map(|t| t.get("summary").and_then(Value::as_str))
            .collect();
        if !names.is_empty() {
            labels.insert("teams".to_owned(), names.join(","));
        }
    }
    if let Some(number) = data.opt_text("number")? {
        labels.insert("incident_number".to_owned(), number);
    }
    labels.insert("incident_id".to_owned(), id.to_owned());
    if let Some(key) = incident_key {
        labels.insert("incident_key".to_owned(), key.to_owned());
    }

    let mut annotations = BTreeMap::new();
    annotations.insert("event_type".to_owned(), event_type.to_owned());
    if let Some(agent) = event.opt_obj("agent")?
        && let Some(name) = agent.opt_str("summary")?
    {
        annotations.insert("agent".to_owned(), name.to_owned());
    }

    let occurred_at = event.opt_time("occurred_at")?;
    let starts_at = data
        .opt_time("created_at")?
        .or(occurred_at)
        .unwrap_or(opts.received_at);
    let ends_at =
        (status == AlertStatus::Resolved).then(|| occurred_at.unwrap_or(opts.received_at));
    let description = match data.opt_obj("body")? {
        Some(body) => body.opt_str("details")?.unwrap_or_default().to_owned(),
        None => String::new(),
    };

    Ok(Alert {
        source_kind: SourceKind::Pagerduty,
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
        link: data.opt_str("html_url")?.map(str::to_owned),
        raw: Value::Null,
    })
}
