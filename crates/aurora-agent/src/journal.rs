//! The investigation's log as the runtime writes it: every step is appended to the store, and
//! an [`InvestigationUpdated`](DomainEvent::InvestigationUpdated) event published for live
//! views, before anything is done on the step's account.

use std::sync::Arc;

use aurora_core::StoreError;
use aurora_core::events::{DomainEvent, EventBus};
use aurora_core::ids::{IncidentId, InvestigationId, OrgId};
use aurora_core::investigation::{NewStep, Step, StepKind};
use aurora_core::ports::Store;
use time::OffsetDateTime;

/// Appends the steps of one investigation and announces them.
#[derive(Clone)]
pub(crate) struct Journal {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) events: Arc<dyn EventBus>,
    pub(crate) org: OrgId,
    pub(crate) id: InvestigationId,
    pub(crate) incident: Option<IncidentId>,
}

impl Journal {
    /// Appends `step`; the store numbers it.
    pub(crate) async fn append(&self, step: NewStep) -> Result<Step, StoreError> {
        let step = self
            .store
            .append_step(self.org, self.id, step, OffsetDateTime::now_utc())
            .await?;
        self.announce().await;
        Ok(step)
    }

    /// Appends a step of `kind` that took no measured time and cost nothing.
    pub(crate) async fn note(
        &self,
        kind: StepKind,
        payload: serde_json::Value,
    ) -> Result<Step, StoreError> {
        self.append(NewStep::new(kind, payload)).await
    }

    /// Tells live views the investigation changed.
    pub(crate) async fn announce(&self) {
        self.events
            .publish(
                self.org,
                DomainEvent::InvestigationUpdated {
                    investigation: self.id,
                    incident: self.incident,
                },
            )
            .await;
    }

    /// Whether a person asked to stop the investigation.
    pub(crate) async fn cancel_requested(&self) -> Result<bool, StoreError> {
        self.store.is_cancel_requested(self.org, self.id).await
    }
}
