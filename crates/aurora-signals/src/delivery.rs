//! What parsing a delivery takes (options) and gives (alerts, or an SNS handshake), and the steps
//! every parser shares: the per-source fingerprint override, bounds, and severity vocabularies.

use aurora_core::alert::{Alert, AlertLimits, Fingerprint, Severity};
use time::OffsetDateTime;

use crate::error::ParseError;

/// How to read one delivery. Built by the caller per source.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// When the delivery arrived; the start time of alerts whose payload carries none.
    pub received_at: OffsetDateTime,
    /// The per-source fingerprint override: when not empty, an alert's fingerprint is formed
    /// from the values of these labels (in this order) instead of the source's own identity.
    /// An alert carrying none of them keeps the source's identity.
    pub fingerprint_labels: Vec<String>,
    /// Bounds applied to every alert.
    pub limits: AlertLimits,
    /// The most alerts one delivery may carry.
    pub max_alerts: usize,
}

impl ParseOptions {
    pub const DEFAULT_MAX_ALERTS: usize = 10_000;

    pub fn new(received_at: OffsetDateTime) -> Self {
        Self {
            received_at,
            fingerprint_labels: Vec::new(),
            limits: AlertLimits::DEFAULT,
            max_alerts: Self::DEFAULT_MAX_ALERTS,
        }
    }

    pub fn with_fingerprint_labels(mut self, labels: impl IntoIterator<Item = String>) -> Self {
        self.fingerprint_labels = labels.into_iter().collect();
        self
    }

    pub(crate) fn check_count(&self, count: usize) -> Result<(), ParseError> {
        if count > self.max_alerts {
            Err(ParseError::TooManyAlerts {
                count,
                limit: self.max_alerts,
            })
        } else {
            Ok(())
        }
    }
}

/// The outcome of reading one delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    /// Alerts to record (possibly none, e.g. an Alertmanager group whose alerts were all
    /// truncated away).
    Alerts(Vec<Alert>),
    /// An SNS subscription handshake: the server confirms it by fetching `subscribe_url`
    /// (after verifying the message signature), nothing is stored as an alert.
    SnsSubscriptionConfirmation(SnsConfirmation),
    /// A well-formed delivery that carries no alert state (an SNS unsubscribe confirmation, a
    /// PagerDuty ping or a service-level event). Acknowledge it and store nothing.
    Ignored { reason: String },
}

impl Delivery {
    /// The alerts carried, empty for the other variants.
    pub fn alerts(&self) -> &[Alert] {
        match self {
            Delivery::Alerts(alerts) => alerts,
            _ => &[],
        }
    }

    pub fn into_alerts(self) -> Vec<Alert> {
        match self {
            Delivery::Alerts(alerts) => alerts,
            _ => Vec::new(),
        }
    }
}

/// The fields of an SNS `SubscriptionConfirmation` the server needs to confirm it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsConfirmation {
    pub topic_arn: String,
    pub message_id: String,
    /// Visiting this URL (HTTP GET) confirms the subscription. Check it with
    /// [`crate::sns::validate_subscribe_url`] before fetching.
    pub subscribe_url: String,
    pub token: String,
}

/// The last step of every parser: the fingerprint override, then bounds and derived fields.
pub(crate) fn finish(mut alert: Alert, opts: &ParseOptions) -> Alert {
    if !opts.fingerprint_labels.is_empty()
        && let Some(fingerprint) = Fingerprint::from_labels(&alert.labels, &opts.fingerprint_labels)
    {
        alert.fingerprint = fingerprint;
    }
    alert.normalize(&opts.limits);
    alert
}

/// The severity a free-form `severity` label or field names (Alertmanager, Grafana, generic).
/// Case-insensitive. `None` for words not in the table of the crate docs.
pub fn severity_from_label(value: &str) -> Option<Severity> {
    let lower = value.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "page" | "disaster"
        | "sev0" | "sev1" | "p0" | "p1" => Severity::Critical,
        "high" | "error" | "err" | "major" | "severe" | "sev2" | "p2" => Severity::High,
        "warning" | "warn" | "medium" | "moderate" | "average" | "sev3" | "p3" => Severity::Warning,
        "low" | "minor" | "notice" | "sev4" | "p4" => Severity::Low,
        "info" | "informational" | "information" | "debug" | "none" | "ok" | "sev5" | "p5" => {
            Severity::Info
        }
        _ => return None,
    })
}

/// P1…P5 priorities (Datadog, PagerDuty, Opsgenie): P1 critical, P2 high, P3 warning, P4 low,
/// P5 info.
pub fn severity_from_priority(value: &str) -> Option<Severity> {
    match value.trim().to_ascii_uppercase().as_str() {
        "P1" => Some(Severity::Critical),
        "P2" => Some(Severity::High),
        "P3" => Some(Severity::Warning),
        "P4" => Some(Severity::Low),
        "P5" => Some(Severity::Info),
        _ => None,
    }
}
