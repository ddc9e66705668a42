//! Prometheus Alertmanager webhook payloads (`webhook_config`, payload `version: "4"`): one
//! delivery is one notification group with any number of alerts, each with its own status,
//! labels, annotations and fingerprint.
//!
//! Follows <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>. Grafana's
//! webhook contact point sends the same shape with a few more fields; [`crate::grafana`] reuses
//! the reader here.

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use serde_json::Value;

use crate::delivery::{Delivery, ParseOptions, finish, severity_from_label};
use crate::error::ParseError;
use crate::json::{self, Obj};

/// Reads an Alertmanager webhook delivery.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    parse_group(body, opts, SourceKind::Alertmanager)
}

/// Reads an Alertmanager-shaped group; `kind` is Alertmanager or Grafana.
pub(crate) fn parse_group(
    body: &[u8],
    opts: &ParseOptions,
    kind: SourceKind,
) -> Result<Delivery, ParseError> {
    let mut doc = json::parse_body(body)?;
    {
        let root = Obj::new(&doc, "")?;
        if kind == SourceKind::Alertmanager
            && let Some(version) = root.opt_text("version")?
            && version != "4"
        {
            return Err(ParseError::unsupported(format!(
                "Alertmanager webhook payload version {version:?}; only version \"4\" is supported"
            )));
        }
        opts.check_count(root.req_array("alerts")?.len())?;
    }
    // Each alert's own object becomes its raw payload: moved, not copied, so a large group costs
    // its size once.
    let items = match doc.get_mut("alerts").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut alerts = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let alert = read_alert(item, index, opts, kind)?;
        alerts.push(finish(alert, opts));
    }
    Ok(Delivery::Alerts(alerts))
}

fn read_alert(
    item: Value,
    index: usize,
    opts: &ParseOptions,
    kind: SourceKind,
) -> Result<Alert, ParseError> {
    let obj = Obj::new(&item, format!("alerts[{index}]"))?;
    let status = match obj.req_str("status")? {
        "firing" => AlertStatus::Firing,
        "resolved" => AlertStatus::Resolved,
        other => {
            return Err(ParseError::invalid(
                obj.path_of("status"),
                format!("{other:?} is neither \"firing\" nor \"resolved\""),
            ));
        }
    };
    let labels = obj.str_map("labels")?;
    let mut annotations = obj.str_map("annotations")?;
    let fingerprint = match obj
        .opt_str("fingerprint")?
        .and_then(Fingerprint::from_identity)
    {
        Some(fp) => fp,
        // Older senders omit the fingerprint; Alertmanager's own is a hash of the label set,
        // and so is this one.
        None => Fingerprint::from_labels(&labels, &labels.keys().cloned().collect::<Vec<_>>())
            .ok_or_else(|| ParseError::MissingField {
                path: obj.path_of("fingerprint"),
            })?,
    };
    let starts_at = obj.opt_time("startsAt")?.unwrap_or(opts.received_at);
    let ends_at = match status {
        AlertStatus::Resolved => Some(obj.opt_time("endsAt")?.unwrap_or(opts.received_at)),
        // A firing alert's endsAt is only when it would expire if not repeated.
        AlertStatus::Firing => None,
    };
    let severity = labels
        .get("severity")
        .or_else(|| labels.get("priority"))
        .and_then(|s| severity_from_label(s))
        .unwrap_or(Severity::Warning);
    let title = annotations
        .get("summary")
        .or_else(|| annotations.get("title"))
        .or_else(|| labels.get("alertname"))
        .cloned()
        .unwrap_or_else(|| "(unnamed alert)".to_owned());
    let description = annotations
        .get("description")
        .or_else(|| annotations.get("message"))
        .cloned()
        .unwrap_or_default();
    let mut link = obj.opt_str("generatorURL")?.map(str::to_owned);
    if kind == SourceKind::Grafana {
        grafana_extras(&obj, &mut annotations, &mut link)?;
    }
    Ok(Alert {
        source_kind: kind,
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
        link,
        raw: item,
    })
}

/// Grafana adds links to the silence form, dashboard and panel, and the query values that made
/// the alert fire; they are worth seeing next to the alert.
fn grafana_extras(
    obj: &Obj<'_>,
    annotations: &mut BTreeMap<String, String>,
    link: &mut Option<String>,
) -> Result<(), ParseError> {
    for (field, key) in [
        ("silenceURL", "grafana.silence_url"),
        ("dashboardURL", "grafana.dashboard_url"),
        ("panelURL", "grafana.panel_url"),
        ("valueString", "grafana.value_string"),
    ] {
        if let Some(value) = obj.opt_str(field)? {
            annotations.insert(key.to_owned(), value.to_owned());
        }
    }
    if let Some(values) = obj.get("values").and_then(json::value_text) {
        annotations.insert("grafana.values".to_owned(), values);
    }
    if link.is_none() {
        *link = obj
            .opt_str("panelURL")?
            .or(obj.opt_str("dashboardURL")?)
            .map(str::to_owned);
    }
    Ok(())
}
