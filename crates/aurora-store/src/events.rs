//! The in-process [`EventBus`]: one bounded tokio broadcast channel shared by every
//! organisation, each subscription filtering its own. A subscriber that falls more than the
//! channel's capacity behind gets [`Received::Missed`] and resynchronises; the publisher never
//! waits. Serves one Aurora process; several processes on one PostgreSQL database need the
//! `LISTEN`/`NOTIFY` implementation that the port is designed for.

use async_trait::async_trait;
use aurora_core::events::{DomainEvent, EventBus, EventSubscription, OrgEvent, Received};
use aurora_core::ids::OrgId;
use tokio::sync::{broadcast, watch};

/// Events kept for slow subscribers before they are told to resynchronise.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

#[derive(Debug)]
pub struct InProcessEventBus {
    sender: broadcast::Sender<OrgEvent>,
    /// Becomes `true` when the bus closes.
    closed: watch::Sender<bool>,
}

impl InProcessEventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let (closed, _) = watch::channel(false);
        Self { sender, closed }
    }
}

impl Default for InProcessEventBus {
    fn default() -> Self {
        Self::new(DEFAULT_EVENT_CAPACITY)
    }
}

#[async_trait]
impl EventBus for InProcessEventBus {
    async fn publish(&self, org: OrgId, event: DomainEvent) {
        // An error only means that nobody is subscribed.
        let _ = self.sender.send(OrgEvent { org, event });
    }

    fn subscribe(&self, org: OrgId) -> Box<dyn EventSubscription> {
        Box::new(Subscription {
            org,
            receiver: self.sender.subscribe(),
            closed: self.closed.subscribe(),
        })
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }
}

struct Subscription {
    org: OrgId,
    receiver: broadcast::Receiver<OrgEvent>,
    closed: watch::Receiver<bool>,
}

#[async_trait]
impl EventSubscription for Subscription {
    async fn next(&mut self) -> Option<Received> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                // Closed, or the bus itself is gone: either way, no more events.
                _ = self.closed.changed() => return None,
            };
            match received {
                Ok(OrgEvent { org, event }) if org == self.org => {
                    return Some(Received::Event(event));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Received::Missed),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aurora_core::ids::IncidentId;

    use super::*;

    #[tokio::test]
    async fn subscribers_get_their_own_organisations_events_and_resync_when_behind() {
        let bus = InProcessEventBus::new(2);
        let (ours, theirs) = (OrgId::new(), OrgId::new());
        let mut sub = bus.subscribe(ours);
        let mine = DomainEvent::IncidentOpened {
            incident: IncidentId::new(),
        };
        bus.publish(
            theirs,
            DomainEvent::IncidentUpdated {
                incident: IncidentId::new(),
            },
        )
        .await;
        bus.publish(ours, mine).await;
        assert_eq!(sub.next().await, Some(Received::Event(mine)));

        for _ in 0..5 {
            bus.publish(ours, mine).await;
        }
        assert_eq!(sub.next().await, Some(Received::Missed));
        assert_eq!(sub.next().await, Some(Received::Event(mine)));

        let mut idle = bus.subscribe(ours);
        let waiting = tokio::spawn(async move { idle.next().await });
        tokio::task::yield_now().await;
        bus.close();
        assert_eq!(waiting.await.ok(), Some(None));
        assert!(sub.next().await.is_none(), "closed ends even a backlog");
        assert!(bus.subscribe(ours).next().await.is_none());
    }
}
