//! Aurora's own JSON format, for senders with no native integration (scripts, CI jobs, other
//! tools' generic webhooks). The format is documented in the crate docs ("Generic format");
//! deliveries are signed with HMAC-SHA256 of the body ([`crate::auth::verify_hmac_sha256`]).

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use serde_json::Value;

use crate::delivery::{Delivery, ParseOptions, finish};
use crate::error::ParseError;
use crate::json::{self, Obj};

/// Reads a generic delivery: `{"alerts": [alert, …]}` or a single alert object.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    let mut doc = json::parse_body(body)?;
    let batch = {
        let root = Obj::new(&doc, "")?;
        match root.get("alerts") {
            Some(_) => {
                opts.check_count(root.req_array("alerts")?.len())?;
                true
            }
            None => false,
        }
    };
    let items: Vec<(String, Value)> = if batch {
        match doc.get_mut("alerts").map(Value::take) {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (format!("alerts[{index}]"), item))
                .collect(),
            _ => Vec::new(),
        }
    } else {
        vec![(String::new(), doc)]
    };
    let mut alerts = Vec::with_capacity(items.len());
    for (path, item) in items {
        let alert = read_alert(item, path, opts)?;
        alerts.push(finish(alert, opts));
    }
    Ok(Delivery::Alerts(alerts))
}

fn read_alert(item: Value, path: String, opts: &ParseOptions) -> Result<Alert, ParseError> {
    let obj = Obj::new(&item, path)?;
    let title = obj.req_str("title")?.to_owned();
    let status = match obj.opt_str("status")? {
        None => AlertStatus::Firing,
        Some(text) => text
            .parse()
            .map_err(|err: aurora_core::alert::UnknownAlertStatus| {
                ParseError::invalid(obj.path_of("status"), err.to_string())
            })?,
    };
    let severity = match obj.opt_str("severity")? {
        None => Severity::Warning,
        Some(text) => text
            .parse()
            .map_err(|err: aurora_core::alert::UnknownSeverity| {
                ParseError::invalid(obj.path_of("severity"), err.to_string())
            })?,
    };
    let labels = obj.str_map("labels")?;
    let annotations = obj.str_map("annotations")?;
    let fingerprint = match obj.opt_str("fingerprint")? {
        Some(text) => Fingerprint::from_identity(text)
            .ok_or_else(|| ParseError::invalid(obj.path_of("fingerprint"), "is empty"))?,
        None => default_fingerprint(&title, &labels)?,
    };
    let starts_at = obj.opt_time("starts_at")?.unwrap_or(opts.received_at);
    let ends_at = match status {
        AlertStatus::Resolved => Some(obj.opt_time("ends_at")?.unwrap_or(opts.received_at)),
        AlertStatus::Firing => None,
    };
    let description = obj.opt_str("description")?.unwrap_or_default().to_owned();
    let service = obj.opt_str("service")?.map(str::to_owned);
    let environment = obj.opt_str("environment")?.map(str::to_owned);
    let link = obj.opt_str("link")?.map(str::to_owned);
    Ok(Alert {
        source_kind: SourceKind::Generic,
        fingerprint,
        status,
        severity,
        title,
        description,
        labels,
        annotations,
        service,
        environment,
        starts_at,
        ends_at,
        link,
        raw: item,
    })
}

/// Without a fingerprint, an alert is identified by its title and its full label set.
fn default_fingerprint(
    title: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Fingerprint, ParseError> {
    let mut identity = labels.clone();
    identity.insert("\u{0}title".to_owned(), title.to_owned());
    let names: Vec<String> = identity.keys().cloned().collect();
    Fingerprint::from_labels(&identity, &names).ok_or_else(|| ParseError::MissingField {
        path: "fingerprint".to_owned(),
    })
}
