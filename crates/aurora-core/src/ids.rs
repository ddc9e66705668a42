//! Typed identifiers. Each wraps a UUID (v7, so ids sort by creation time) and cannot be mixed up
//! with another kind of id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// An organisation: the tenant boundary. Every tenant query takes one.
    OrgId
);
id_type!(
    /// A person who signs in.
    UserId
);
id_type!(
    /// An API token (its metadata; the secret part is never stored).
    TokenId
);
id_type!(
    /// A configured alert source (one webhook URL with its secret).
    SourceId
);
id_type!(
    /// An alert as stored: one per source and fingerprint.
    AlertId
);
id_type!(
    /// An incident: a problem people work on, made of one or more alerts.
    IncidentId
);
id_type!(
    /// One entry of an incident's timeline.
    EventId
);
id_type!(
    /// One received webhook delivery.
    DeliveryId
);
id_type!(
    /// A unit of background work on the job queue.
    JobId
);
id_type!(
    /// An organisation's label-based grouping rule.
    GroupingRuleId
);
id_type!(
    /// One investigation of an incident (or a manual one): its steps, report and usage.
    InvestigationId
);
id_type!(
    /// A configured connection to a team's system (Prometheus, Kubernetes, a cloud account).
    ConnectorId
);
id_type!(
    /// A request for a person to approve one mutating tool call.
    ApprovalId
);
id_type!(
    /// A knowledge-base document: an uploaded file, a finished report or a conversation.
    DocumentId
);
id_type!(
    /// A chat session: one conversation with the agent, its messages kept in an investigation's
    /// step log.
    ChatSessionId
);
id_type!(
    /// An entry of the audit log.
    AuditId
);
