//! Aurora's agent: LLM providers, the tool runtime and durable investigations.
//!
//! - [`agent`]: the [`Investigator`](agent::Investigator), the durable investigation loop.
//! - [`chat`]: chat turns over a session's log, with the same tools and approvals.
//! - [`evidence`]: the evidence pass (telemetry sources → analysis engine → ranking).
//! - [`report`]: the evidence report and the agent's report.
//! - [`tools`]: the tool runtime (timeouts, output limits, approvals).
//! - [`knowledge`]: `search_knowledge`, the knowledge base as a tool.
//! - [`snapshot`]: a recorded case directory as a telemetry source.
//! - [`llm`]: chat model providers and pricing.

pub mod agent;
pub mod chat;
pub mod evidence;
mod journal;
pub mod knowledge;
pub mod llm;
pub mod report;
pub mod snapshot;
pub mod tools;

pub use agent::{
    Budget, InvestigateError, Investigator, InvestigatorOptions, ResolveError, ResourceResolver,
    Resources,
};
pub use snapshot::{SnapshotTelemetry, SnapshotWindow};
