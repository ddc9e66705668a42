//! Domain events: what just changed, for whoever shows it live (the incident list over SSE,
//! later chat and investigation progress). An event names the organisation and carries ids
//! only; a subscriber that wants the details reads them from the store, which stays the one
//! source of truth. Events are published after the change committed, so a subscriber that reads
//! on an event sees it.
//!
//! Delivery is best effort and bounded: a subscriber that falls behind is told it missed
//! events ([`Received::Missed`]) and resynchronises by reading the current state, instead of
//! holding up the publisher. The in-process implementation uses a broadcast channel; one over
//! PostgreSQL `LISTEN`/`NOTIFY` (for several Aurora processes on one database) can send the
//! serialised [`OrgEvent`] as the notification payload: it is small and has no free text.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, DocumentId, IncidentId, InvestigationId, OrgId, SourceId};

/// Something that happened in one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A delivery's alerts opened this incident.
    IncidentOpened { incident: IncidentId },
    /// The incident changed: status, severity, assignee, a comment, an alert joined or resolved.
    IncidentUpdated { incident: IncidentId },
    /// A source's delivery with alerts was committed.
    AlertReceived {
        source: SourceId,
        delivery: Option<DeliveryId>,
    },
    /// An investigation changed: it started, recorded a step, asks for an approval, or ended.
    InvestigationUpdated {
        investigation: InvestigationId,
        incident: Option<IncidentId>,
    },
    /// A knowledge-base document was added, indexed, failed or deleted.
    DocumentUpdated { document: DocumentId },
}

impl DomainEvent {
    /// The event's name, as SSE event names and notification kinds use it.
    pub fn name(&self) -> &'static str {
        match self {
            DomainEvent::IncidentOpened { .. } => "incident_opened",
            DomainEvent::IncidentUpdated { .. } => "incident_updated",
            DomainEvent::AlertReceived { .. } => "alert_received",
            DomainEvent::InvestigationUpdated { .. } => "investigation_updated",
            DomainEvent::DocumentUpdated { .. } => "document_updated",
        }
    }

    /// The incident it concerns, if any.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            DomainEvent::IncidentOpened { incident }
            | DomainEvent::IncidentUpdated { incident } => Some(*incident),
            DomainEvent::InvestigationUpdated { incident, .. } => *incident,
            DomainEvent::AlertReceived { .. } | DomainEvent::DocumentUpdated { .. } => None,
        }
    }
}

/// An event with the organisation it belongs to: what travels on a bus shared by all
/// organisations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEvent {
    pub org: OrgId,
    #[serde(flatten)]
    pub event: DomainEvent,
}

/// What a subscriber receives next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    Event(DomainEvent),
    /// The subscriber fell behind and events were dropped: read the current state again.
    Missed,
}

/// One organisation's events, from the moment of subscribing.
#[async_trait]
pub trait EventSubscription: Send {
    /// The next event; `None` once the bus has shut down.
    async fn next(&mut self) -> Option<Received>;
}

/// Publishes domain events and hands out per-organisation subscriptions.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes `event` to the organisation's subscribers. Never fails the caller: the change
    /// is already committed, and a lost event only delays a live view until its next resync.
    async fn publish(&self, org: OrgId, event: DomainEvent);

    /// Subscribes to the organisation's events; other organisations' never arrive.
    fn subscribe(&self, org: OrgId) -> Box<dyn EventSubscription>;

    /// Ends every subscription (their `next` returns `None`), at shutdown, so that long-lived
    /// streams such as SSE responses finish instead of holding the server open.
    fn close(&self);
}

/// A bus that drops every event, for commands that serve no live view.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

struct Closed;

#[async_trait]
impl EventSubscription for Closed {
    async fn next(&mut self) -> Option<Received> {
        None
    }
}

#[async_trait]
impl EventBus for NoEvents {
    async fn publish(&self, _org: OrgId, _event: DomainEvent) {}

    fn subscribe(&self, _org: OrgId) -> Box<dyn EventSubscription> {
        Box::new(Closed)
    }

    fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_event_serialises_to_a_small_flat_object() {
        let org = OrgId::new();
        let incident = IncidentId::new();
        let event = OrgEvent {
            org,
            event: DomainEvent::IncidentOpened { incident },
        };
        let json = serde_json::to_value(event).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"org": org, "kind": "incident_opened", "incident": incident})
        );
        let back: OrgEvent = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
        assert_eq!(event.event.name(), "incident_opened");
        assert_eq!(event.event.incident(), Some(incident));
    }
}
