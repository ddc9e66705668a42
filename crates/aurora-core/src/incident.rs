//! Incidents: what people work on. An incident groups one or more stored alerts, moves through
//! open → investigating → mitigated → resolved, has a severity, an assignee, and a timeline of
//! everything that happened to it and who did it.
//!
//! Also here: the stored form of an alert (the [`Alert`] plus its identity and counters), the
//! filters and cursor of the incident list, and the changes a person may make.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::alert::{Alert, AlertStatus, Severity};
use crate::ids::{AlertId, EventId, IncidentId, OrgId, SourceId, UserId};

/// Where an incident stands. Any status may follow any other: a person can reopen a resolved
/// incident or resolve an open one directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Investigating,
    Mitigated,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Open,
        IncidentStatus::Investigating,
        IncidentStatus::Mitigated,
        IncidentStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// Every status but `resolved`: new alerts may still join the incident.
    pub fn is_active(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown incident status {0:?}: use open, investigating, mitigated or resolved")]
pub struct UnknownIncidentStatus(pub String);

impl FromStr for IncidentStatus {
    type Err = UnknownIncidentStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        IncidentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == lower)
            .ok_or_else(|| UnknownIncidentStatus(s.to_owned()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: IncidentId,
    pub org_id: OrgId,
    pub title: String,
    pub status: IncidentStatus,
    /// The highest severity of its alerts, unless a person set it.
    pub severity: Severity,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub assignee: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// The incident this one was merged into (it is then resolved, its alerts and timeline
    /// moved there).
    pub merged_into: Option<IncidentId>,
}

/// An alert as stored: one row per source and fingerprint, updated by repeats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredAlert {
    pub id: AlertId,
    pub source_id: SourceId,
    pub incident_id: Option<IncidentId>,
    #[serde(flatten)]
    pub alert: Alert,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// How many identical repeats arrived after the first delivery.
    pub repeat_count: u64,
}

/// Who did something to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    User(UserId),
    /// An alert source, through a delivery.
    Source(SourceId),
    /// Aurora itself (auto-resolve, workers).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Source(id) => write!(f, "source:{id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid actor {0:?}: expected user:<id>, source:<id> or system")]
pub struct InvalidActor(pub String);

impl FromStr for Actor {
    type Err = InvalidActor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidActor(s.to_owned());
        match s.split_once(':') {
            None if s == "system" => Ok(Actor::System),
            Some(("user", id)) => id.parse().map(Actor::User).map_err(|_| invalid()),
            Some(("source", id)) => id.parse().map(Actor::Source).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a timeline entry records. Its `detail` says the specifics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The incident was opened by its first alert.
    Opened,
    /// An alert joined the incident (`detail`: alert id, fingerprint, title, severity, reason).
    AlertAttached,
    /// A repeat of an alert changed it (`detail`: the fields that changed).
    AlertUpdated,
    /// An alert of the incident stopped firing.
    AlertResolved,
    /// `detail`: `from`, `to`, and a `reason` when Aurora changed it.
    StatusChanged,
    /// `detail`: `from`, `to`.
    SeverityChanged,
    /// `detail`: `from`, `to` (user ids or null).
    AssigneeChanged,
    /// `detail`: `text`.
    Comment,
    /// Two incidents were merged (`detail`: `from`, `into`, and `alerts` moved); on both.
    Merged,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Opened,
        EventKind::AlertAttached,
        EventKind::AlertUpdated,
        EventKind::AlertResolved,
        EventKind::StatusChanged,
        EventKind::SeverityChanged,
        EventKind::AssigneeChanged,
        EventKind::Comment,
        EventKind::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::AlertAttached => "alert_attached",
            EventKind::AlertUpdated => "alert_updated",
            EventKind::AlertResolved => "alert_resolved",
            EventKind::StatusChanged => "status_changed",
            EventKind::SeverityChanged => "severity_changed",
            EventKind::AssigneeChanged => "assignee_changed",
            EventKind::Comment => "comment",
            EventKind::Merged => "merged",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown incident event kind {0:?}")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// One entry of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentEvent {
    pub id: EventId,
    pub incident_id: IncidentId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub kind: EventKind,
    pub detail: serde_json::Value,
}

/// At most this many alerts come with an incident's detail: the first seen. The alerts list,
/// filtered by incident, pages through all of them.
pub const DETAIL_ALERTS: usize = 200;
/// At most this many timeline entries come with an incident's detail: the latest. The
/// incident's timeline list pages through all of them.
pub const DETAIL_EVENTS: usize = 500;

/// One incident with its alerts and its timeline, bounded so that an alert storm's incident
/// stays cheap to show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    /// The first [`DETAIL_ALERTS`] alerts by first sight, oldest first.
    pub alerts: Vec<StoredAlert>,
    /// How many alerts the incident has in all.
    pub alerts_total: u64,
    /// The latest [`DETAIL_EVENTS`] timeline entries, oldest first.
    pub timeline: Vec<IncidentEvent>,
    /// How many entries the timeline has in all.
    pub timeline_total: u64,
}

/// Where a page of a list ends. Lists are ordered newest first by `(time, id)` and the next page
/// starts after this position. Written as `<unix-ms>.<id>`, opaque to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor<Id> {
    /// The time the list is ordered by, in unix milliseconds.
    pub at_ms: i64,
    pub id: Id,
}

/// Incidents are ordered by `created_at`.
pub type IncidentCursor = Cursor<IncidentId>;
/// Alerts are ordered by `first_seen_at`.
pub type AlertCursor = Cursor<AlertId>;
/// Timeline entries are ordered by `at`.
pub type EventCursor = Cursor<EventId>;

impl<Id: fmt::Display> fmt::Display for Cursor<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at_ms, self.id)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid cursor {0:?}: pass the `next` value of the previous page unchanged")]
pub struct InvalidCursor(pub String);

impl<Id: FromStr> FromStr for Cursor<Id> {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCursor(s.to_owned());
        let (ms, id) = s.split_once('.').ok_or_else(invalid)?;
        Ok(Self {
            at_ms: ms.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

fn serialize_cursor<S: serde::Serializer, Id: fmt::Display>(
    cursor: &Option<Cursor<Id>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match cursor {
        Some(cursor) => serializer.collect_str(cursor),
        None => serializer.serialize_none(),
    }
}

/// The page size actually used: `requested` within `1..=max`, `default` when 0.
fn page_size(requested: u32, default: u32, max: u32) -> u32 {
    if requested == 0 {
        default
    } else {
        requested.min(max)
    }
}

/// Which incidents to list. Empty filters match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub service: Option<String>,
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
    pub after: Option<IncidentCursor>,
    /// At most this many; see [`IncidentFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl IncidentFilter {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// The page size actually used: the requested one within `1..=MAX_LIMIT`.
    pub fn page_size(&self) -> u32 {
        page_size(self.limit, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)
    }
}

/// One page of incidents, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    #[serde(serialize_with = "serialize_cursor")]
    pub next: Option<IncidentCursor>,
}

/// Which alerts to list. Empty filters match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    pub service: Option<String>,
    pub source: Option<SourceId>,
    pub incident: Option<IncidentId>,
    pub after: Option<AlertCursor>,
    /// At most this many; see [`AlertFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl AlertFilter {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// The page size actually used: the requested one within `1..=MAX_LIMIT`.
    pub fn page_size(&self) -> u32 {
        page_size(self.limit, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)
    }
}

/// One page of alerts, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertPage {
    pub alerts: Vec<StoredAlert>,
    #[serde(serialize_with = "serialize_cursor")]
    pub next: Option<AlertCursor>,
}

/// Which page of an incident's timeline to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub after: Option<EventCursor>,
    /// At most this many; see [`EventFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl EventFilter {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = DETAIL_EVENTS as u32;

    /// The page size actually used: the requested one within `1..=MAX_LIMIT`.
    pub fn page_size(&self) -> u32 {
        page_size(self.limit, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)
    }
}

/// One page of an incident's timeline, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventPage {
    pub events: Vec<IncidentEvent>,
    #[serde(serialize_with = "serialize_cursor")]
    pub next: Option<EventCursor>,
}

/// A change a person makes; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentChange {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    /// `Some(None)` removes the assignee.
    pub assignee: Option<Option<UserId>>,
}

impl IncidentChange {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.severity.is_none() && self.assignee.is_none()
    }
}

/// Longest comment accepted, in bytes.
pub const MAX_COMMENT_LEN: usize = 16 * 1024;

#[cfg(test)]
mod tests;
