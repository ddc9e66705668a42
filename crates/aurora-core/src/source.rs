//! Alert sources and what they deliver: a source is one webhook endpoint of a given kind with
//! its secret (by reference), the rules that turn its alerts into incidents, the record of each
//! delivery, and the outcome of ingesting one.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::alert::SourceKind;
use crate::ids::{DeliveryId, IncidentId, OrgId, SourceId};
use crate::secrets::SecretRef;

/// Per-source settings, given when the source is created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceOptions {
    /// Label names whose values form the fingerprint instead of the source's own identity,
    /// e.g. `["alertname", "service"]` to treat all instances of an alert as one.
    pub fingerprint_labels: Vec<String>,
}

impl SourceOptions {
    pub const MAX_FINGERPRINT_LABELS: usize = 16;
}

/// A configured alert source. Its secrets stay in the secret store; only references are kept,
/// and they are never serialised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertSource {
    pub id: SourceId,
    pub org_id: OrgId,
    pub kind: SourceKind,
    pub name: String,
    #[serde(skip)]
    pub secret: SecretRef,
    /// The secret before the last rotation, still accepted until `previous_secret_expires_at`.
    #[serde(skip)]
    pub previous_secret: Option<SecretRef>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub options: SourceOptions,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_delivery_at: Option<OffsetDateTime>,
}

impl AlertSource {
    /// The secrets a delivery may be authenticated with at `now`: the current one, and the
    /// previous one during its grace period.
    pub fn valid_secrets(&self, now: OffsetDateTime) -> Vec<&SecretRef> {
        let mut refs = vec![&self.secret];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            refs.push(previous);
        }
        refs
    }
}

/// A source to record; its secret has already been put in the secret store.
#[derive(Clone, Debug)]
pub struct NewAlertSource {
    pub id: SourceId,
    pub kind: SourceKind,
    pub name: String,
    pub secret: SecretRef,
    pub options: SourceOptions,
}

/// The delivery being ingested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryMeta {
    pub received_at: OffsetDateTime,
    /// Hex SHA-256 of the body as received: a retry of the same delivery has the same hash.
    pub body_sha256: String,
}

/// How alerts become incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestRules {
    /// A firing alert with no open incident of its fingerprint joins an open incident of the
    /// same service and environment opened at most this long ago. Alerts without a service are
    /// not grouped this way. Default 5 minutes.
    pub grouping_window: Duration,
    /// Resolve an incident when the last of its firing alerts resolves. Default on.
    pub auto_resolve: bool,
    /// A delivery whose body hash equals that of an accepted delivery from the same source at
    /// most this long ago is a retry: it returns the earlier outcome and stores nothing.
    /// Default 10 minutes.
    pub idempotency_window: Duration,
}

impl IngestRules {
    pub const DEFAULT: IngestRules = IngestRules {
        grouping_window: Duration::from_secs(5 * 60),
        auto_resolve: true,
        idempotency_window: Duration::from_secs(10 * 60),
    };
}

impl Default for IngestRules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What ingesting one delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// The delivery as recorded (for a retry: the earlier one).
    pub delivery_id: Option<DeliveryId>,
    /// Alerts in the delivery.
    pub alerts: u64,
    /// Alerts seen for the first time.
    pub new_alerts: u64,
    /// Identical repeats, counted on the existing alert.
    pub repeats: u64,
    /// Repeats that changed an alert (including resolves).
    pub updated: u64,
    pub new_incidents: Vec<IncidentId>,
    pub resolved_incidents: Vec<IncidentId>,
    /// This delivery was a retry of an earlier one: nothing was stored again.
    #[serde(default)]
    pub replayed: bool,
}

/// Whether a delivery was stored or refused after authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    Accepted,
    Rejected,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Accepted => "accepted",
            DeliveryOutcome::Rejected => "rejected",
        }
    }
}

/// One delivery as recorded, for the source's recent-deliveries list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub source_id: SourceId,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub outcome: DeliveryOutcome,
    /// The stable code of the error that refused it.
    pub error_code: Option<String>,
    pub alert_count: u64,
    pub body_sha256: String,
}
