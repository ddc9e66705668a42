//! The one alert model every source is normalised into: where it came from, its identity
//! (fingerprint), whether it fires or is resolved, a severity on Aurora's single scale, text,
//! labels and annotations, the service and environment it concerns, its time span, a link back to
//! the source and the raw payload as received.
//!
//! Everything here is pure. Parsing vendor payloads lives in `aurora-signals`; this module owns
//! the vocabulary (severity scale, status, source kinds), the fingerprint type, the bounds that
//! keep a hostile or careless sender from storing unbounded labels, and the one function that
//! derives service and environment from labels.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// How bad an alert is, on Aurora's one scale. Ordered from least to most severe so that an
/// incident's severity is the `max` of its alerts'.
///
/// | level      | meaning                                               |
/// |------------|-------------------------------------------------------|
/// | `critical` | user-facing outage or data loss; page now             |
/// | `high`     | serious degradation; needs attention soon             |
/// | `warning`  | something is wrong or trending wrong (also `medium`)  |
/// | `low`      | minor; look at it during working hours                |
/// | `info`     | informational; nothing is broken                      |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Warning,
    High,
    Critical,
}

impl Severity {
    /// Most severe first, as shown in filters.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Warning,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown severity {0:?}: use critical, high, warning (or medium), low or info")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Accepts the five names (case-insensitive, surrounding spaces ignored) and `medium` as
    /// another name for `warning`. Vendor vocabularies (P1…P5, `error`, `urgency`) are mapped by
    /// each source's parser, not here.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "warning" | "medium" => Ok(Severity::Warning),
            "low" => Ok(Severity::Low),
            "info" => Ok(Severity::Info),
            _ => Err(UnknownSeverity(s.to_owned())),
        }
    }
}

/// Whether the condition behind an alert holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown alert status {0:?}: use firing or resolved")]
pub struct UnknownAlertStatus(pub String);

impl FromStr for AlertStatus {
    type Err = UnknownAlertStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "firing" => Ok(AlertStatus::Firing),
            "resolved" => Ok(AlertStatus::Resolved),
            _ => Err(UnknownAlertStatus(s.to_owned())),
        }
    }
}

/// The kind of system an alert source receives from. Each kind has its own payload format and
/// authentication scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Prometheus Alertmanager, webhook payload version 4.
    Alertmanager,
    /// Grafana unified alerting, webhook contact point.
    Grafana,
    /// Datadog monitors through the Webhooks integration.
    Datadog,
    /// PagerDuty v3 webhook subscriptions.
    Pagerduty,
    /// Opsgenie webhook integration.
    Opsgenie,
    /// AWS CloudWatch alarms delivered by an SNS HTTPS subscription.
    Cloudwatch,
    /// Aurora's own documented JSON format.
    Generic,
}

impl SourceKind {
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Alertmanager,
        SourceKind::Grafana,
        SourceKind::Datadog,
        SourceKind::Pagerduty,
        SourceKind::Opsgenie,
        SourceKind::Cloudwatch,
        SourceKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Alertmanager => "alertmanager",
            SourceKind::Grafana => "grafana",
            SourceKind::Datadog => "datadog",
            SourceKind::Pagerduty => "pagerduty",
            SourceKind::Opsgenie => "opsgenie",
            SourceKind::Cloudwatch => "cloudwatch",
            SourceKind::Generic => "generic",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown source kind {0:?}: use alertmanager, grafana, datadog, pagerduty, opsgenie, \
     cloudwatch or generic"
)]
pub struct UnknownSourceKind(pub String);

impl FromStr for SourceKind {
    type Err = UnknownSourceKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        SourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == lower)
            .ok_or_else(|| UnknownSourceKind(s.to_owned()))
    }
}

/// The identity of an alert within its source: a repeat with the same fingerprint is the same
/// alert (counted or updated, never stored twice).
///
/// A fingerprint is 1 to [`Fingerprint::MAX_LEN`] bytes of printable text. Identities that do not
/// fit (too long, control characters) are replaced by `sha256:` and the hex digest of their bytes,
/// so that every source identity maps to exactly one fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid fingerprint {0:?}: use 1-{max} printable characters without control characters",
    max = Fingerprint::MAX_LEN
)]
pub struct InvalidFingerprint(pub String);

impl Fingerprint {
    pub const MAX_LEN: usize = 128;

    /// A stored or user-given fingerprint, taken as is when valid.
    pub fn parse(raw: &str) -> Result<Self, InvalidFingerprint> {
        if Self::is_valid(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidFingerprint(raw.to_owned()))
        }
    }

    /// The fingerprint of a source's own identity (an Alertmanager fingerprint, an ARN, an
    /// alias). Surrounding whitespace is ignored; an identity that is not a valid fingerprint is
    /// hashed. `None` when the identity is empty.
    pub fn from_identity(identity: &str) -> Option<Self> {
        let trimmed = identity.trim();
        if trimmed.is_empty() {
            None
        } else if Self::is_valid(trimmed) {
            Some(Self(trimmed.to_owned()))
        } else {
            Some(Self::hashed([trimmed.as_bytes()]))
        }
    }

    /// A fingerprint made of several identity parts (e.g. a Datadog monitor id and the alert's
    /// scope). The parts are joined with `/` when the result is a valid fingerprint, hashed
    /// otherwise. Empty parts are skipped; `None` when all parts are empty.
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let parts: Vec<&str> = parts
            .into_iter()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect();
        if parts.is_empty() {
            return None;
        }
        let joined = parts.join("/");
        if Self::is_valid(&joined) {
            Some(Self(joined))
        } else {
            Some(Self::hashed(
                parts.iter().flat_map(|part| [part.as_bytes(), b"\0"]),
            ))
        }
    }

    /// The fingerprint formed by the values of the named labels, in the order given (the
    /// per-source override). `None` when none of the labels is present, so that the caller can
    /// fall back to the source's own identity instead of merging unrelated alerts.
    pub fn from_labels(labels: &BTreeMap<String, String>, names: &[String]) -> Option<Self> {
        if !names.iter().any(|name| labels.contains_key(name)) {
            return None;
        }
        let mut hasher = Sha256::new();
        for name in names {
            hasher.update(name.as_bytes());
            match labels.get(name) {
                Some(value) => {
                    hasher.update(b"=");
                    hasher.update(value.as_bytes());
                }
                None => hasher.update(b"\x01absent"),
            }
            hasher.update(b"\0");
        }
        Some(Self(format!(
            "labels:{}",
            hex::encode(&hasher.finalize()[..16])
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_valid(raw: &str) -> bool {
        !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.trim() == raw
            && !raw.chars().any(char::is_control)
    }

    fn hashed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut hasher = Sha256::new();
        for chunk in chunks {
            hasher.update(chunk);
        }
        Self(format!("sha256:{}", hex::encode(hasher.finalize())))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = InvalidFingerprint;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if Self::is_valid(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidFingerprint(value))
        }
    }
}

impl From<Fingerprint> for String {
    fn from(value: Fingerprint) -> Self {
        value.0
    }
}

/// One alert, normalised from any source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub source_kind: SourceKind,
    pub fingerprint: Fingerprint,
    pub status: AlertStatus,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When the alert stopped firing; set only on resolved alerts.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// A URL back to the alert in the source's own UI.
    pub link: Option<String>,
    /// The part of the delivery this alert was read from, as received.
    pub raw: serde_json::Value,
}

impl Alert {
    /// Brings text, labels and annotations within `limits` (see [`AlertLimits`]) and fills
    /// `service` and `environment` from the labels where the parser did not set them. Every
    /// parser calls this last.
    pub fn normalize(&mut self, limits: &AlertLimits) {
        self.title = bound_text(&self.title, limits.max_title_len, true);
        if self.title.is_empty() {
            self.title = "(untitled alert)".to_owned();
        }
        self.description = bound_text(&self.description, limits.max_description_len, false);
        // The UI renders the link; only web links are links. Anything else stays visible as text.
        if let Some(link) = self.link.take() {
            let trimmed = link.trim();
            let lower = trimmed.get(..8).unwrap_or(trimmed).to_ascii_lowercase();
            if lower.starts_with("https://") || lower.starts_with("http://") {
                self.link = Some(trimmed.to_owned());
            } else if !trimmed.is_empty() {
                self.annotations.insert(UNSAFE_LINK_KEY.to_owned(), link);
            }
        }
        self.labels = bound_map(
            std::mem::take(&mut self.labels),
            limits.max_labels,
            limits.max_key_len,
            limits.max_label_value_len,
            true,
        );
        self.annotations = bound_map(
            std::mem::take(&mut self.annotations),
            limits.max_annotations,
            limits.max_key_len,
            limits.max_annotation_value_len,
            false,
        );
        let (service, environment) = derive_service_environment(&self.labels);
        if self.service.as_deref().is_none_or(|s| s.trim().is_empty()) {
            self.service = service;
        }
        if self
            .environment
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            self.environment = environment;
        }
        for field in [&mut self.service, &mut self.environment] {
            if let Some(value) = field.as_mut() {
                *value = bound_text(value, limits.max_label_value_len, true);
            }
        }
        if let Some(link) = self.link.as_mut() {
            *link = bound_text(link, limits.max_link_len, true);
        }
    }
}

/// Bounds on what one alert may carry. Over-long text is cut at a character boundary and ends
/// with a visible marker saying how much was cut ([`TRUNCATION_MARKER`]); labels or annotations
/// beyond the count limit are dropped, and one entry named [`DROPPED_KEY`] says how many.
/// Nothing is rejected for being large and nothing grows without bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertLimits {
    pub max_title_len: usize,
    pub max_description_len: usize,
    pub max_labels: usize,
    pub max_annotations: usize,
    pub max_key_len: usize,
    pub max_label_value_len: usize,
    pub max_annotation_value_len: usize,
    pub max_link_len: usize,
}

impl AlertLimits {
    /// Generous for real alerts (Prometheus alerts rarely carry more than 20 labels), small
    /// enough that 10,000 alerts in one delivery stay within a few hundred megabytes at worst.
    pub const DEFAULT: AlertLimits = AlertLimits {
        max_title_len: 512,
        max_description_len: 16 * 1024,
        max_labels: 64,
        max_annotations: 64,
        max_key_len: 128,
        max_label_value_len: 1024,
        max_annotation_value_len: 8 * 1024,
        max_link_len: 2048,
    };
}

impl Default for AlertLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Ends a value that was cut short; followed by the number of bytes removed and `]`.
pub const TRUNCATION_MARKER: &str = "…[truncated ";

/// The label or annotation key that reports how many entries were dropped over the count limit.
pub const DROPPED_KEY: &str = "aurora.dropped";

/// The annotation that keeps a link which is not `http(s)://` (and so is not shown as a link).
pub const UNSAFE_LINK_KEY: &str = "aurora.unsafe_link";

/// Cuts `text` to at most `max` bytes (marker included) on a character boundary, with a marker
/// saying how many bytes were cut. Control characters are replaced by U+FFFD so that they stay
/// visible; `single_line` also replaces line breaks and tabs.
pub fn bound_text(text: &str, max: usize, single_line: bool) -> String {
    let odd = |c: char| c.is_control() && (single_line || !matches!(c, '\n' | '\t' | '\r'));
    let cleaned: std::borrow::Cow<'_, str> = if text.chars().any(odd) {
        text.chars()
            .map(|c| if odd(c) { '\u{FFFD}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    };
    if cleaned.len() <= max {
        return cleaned.into_owned();
    }
    // Reserve room for the marker with the largest count we could print.
    let suffix_room = TRUNCATION_MARKER.len() + cleaned.len().to_string().len() + " bytes]".len();
    let mut cut = max.saturating_sub(suffix_room);
    while cut > 0 && !cleaned.is_char_boundary(cut) {
        cut -= 1;
    }
    let removed = cleaned.len() - cut;
    format!("{}{TRUNCATION_MARKER}{removed} bytes]", &cleaned[..cut])
}

fn bound_map(
    map: BTreeMap<String, String>,
    max_entries: usize,
    max_key_len: usize,
    max_value_len: usize,
    single_line_values: bool,
) -> BTreeMap<String, String> {
    let within = map.len() <= max_entries
        && map.iter().all(|(k, v)| {
            k.len() <= max_key_len
                && v.len() <= max_value_len
                && !k.chars().any(char::is_control)
                && !v.chars().any(|c| {
                    c.is_control() && (single_line_values || !matches!(c, '\n' | '\t' | '\r'))
                })
        });
    if within {
        return map;
    }
    // One slot is kept for the marker that says how many entries were dropped.
    let keep = if map.len() > max_entries {
        max_entries.saturating_sub(1)
    } else {
        map.len()
    };
    let total = map.len();
    let mut out = BTreeMap::new();
    let mut dropped = 0usize;
    for (key, value) in map {
        if out.len() >= keep {
            dropped += 1;
            continue;
        }
        let key = bound_text(&key, max_key_len, true);
        let value = bound_text(&value, max_value_len, single_line_values);
        // Two long keys may truncate to the same text; the first one wins and the other counts
        // as dropped rather than silently overwriting it.
        match out.entry(key) {
            std::collections::btree_map::Entry::Occupied(_) => dropped += 1,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    if dropped > 0 {
        out.insert(
            DROPPED_KEY.to_owned(),
            format!("{dropped} of {total} entries dropped (limit {max_entries})"),
        );
    }
    out
}

/// Label names that name the service, most specific first.
pub const SERVICE_LABELS: [&str; 10] = [
    "service",
    "service_name",
    "service.name",
    "app.kubernetes.io/name",
    "app_kubernetes_io_name",
    "app",
    "application",
    "k8s-app",
    "container",
    "job",
];

/// Label names that name the environment, most specific first. A Kubernetes namespace is the
/// last resort: teams often run one namespace per environment, and it is better than nothing for
/// grouping.
pub const ENVIRONMENT_LABELS: [&str; 8] = [
    "environment",
    "env",
    "deployment.environment",
    "deployment_environment",
    "stage",
    "namespace",
    "kubernetes_namespace",
    "k8s_namespace",
];

/// The service and environment an alert concerns, from the first non-empty label of
/// [`SERVICE_LABELS`] and of [`ENVIRONMENT_LABELS`] respectively (values trimmed).
pub fn derive_service_environment(
    labels: &BTreeMap<String, String>,
) -> (Option<String>, Option<String>) {
    let first = |names: &[&str]| {
        names.iter().find_map(|name| {
            labels
                .get(*name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
    };
    (first(&SERVICE_LABELS), first(&ENVIRONMENT_LABELS))
}

#[cfg(test)]
mod tests;
