//! Aurora's domain: identifiers, validated values, accounts, alerts, sources and incidents, and
//! the ports (traits) through which every other crate reaches storage and secrets.
//!
//! This crate does no IO and depends on no IO crate. Implementations of the ports live in
//! `aurora-store`; only the `aurora` binary decides which implementation runs.

pub mod alert;
pub mod chat;
pub mod credentials;
pub mod error;
pub mod events;
pub mod grouping;
pub mod ids;
pub mod incident;
pub mod investigation;
pub mod job;
pub mod knowledge;
pub mod llm;
pub mod model;
pub mod ports;
pub mod secrets;
pub mod source;
pub mod telemetry;
pub mod tool;

pub use error::{SecretError, StoreError};
pub use ids::{
    AlertId, ApprovalId, AuditId, ChatSessionId, ConnectorId, DeliveryId, DocumentId, EventId,
    GroupingRuleId, IncidentId, InvestigationId, JobId, OrgId, SourceId, TokenId, UserId,
};
