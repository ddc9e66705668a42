//! Tools: what an agent (investigation or chat) may call. A tool declares its arguments as a JSON
//! schema and whether it only reads or also changes something outside Aurora; the runtime in
//! `aurora-agent` enforces timeouts, output limits and, for mutating tools, a recorded human
//! approval before the call runs.
//!
//! Tool output is data, never instructions: it carries the source it came from, and whatever it
//! says is shown to the model as an observation.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whether a tool only reads or also changes something outside Aurora.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolEffect {
    /// Reads only; runs without asking anyone.
    ReadOnly,
    /// Changes something; runs only after a person approved this exact call.
    Mutating,
}

/// A tool's declaration, as offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique within one agent's tool set: `[a-z0-9_]`, at most 64 characters.
    pub name: String,
    /// What the tool does and when to use it, written for the model.
    pub description: String,
    /// JSON schema (an `object` schema) of the arguments.
    pub parameters: serde_json::Value,
    pub effect: ToolEffect,
}

/// One time series, as tools return it and the UI draws it. Times are unix seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The series' labels (for Prometheus, `__name__` included).
    pub labels: BTreeMap<String, String>,
    /// `(time, value)` pairs in time order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// The series' name: its `__name__` label, or "" when it has none.
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map_or("", String::as_str)
    }
}

/// What a tool call returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Where the data came from, e.g. `prometheus "prod" at http://prom:9090`.
    pub source: String,
    /// The result as the model sees it (the runtime truncates it to its size limit).
    pub content: serde_json::Value,
    /// Series to draw beside the result, when the tool returned time series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Series>,
}

/// Why a tool call did not produce a result. Handed back to the model as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ToolError {
    /// The arguments do not match the schema or make no sense; the message says what to fix.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The system behind the tool answered with an error or could not be reached.
    #[error("{0}")]
    Failed(String),
    /// The call took longer than its limit.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// A person rejected the call.
    #[error("rejected by {0}")]
    Rejected(String),
}

/// A tool an agent can call.
#[async_trait]
pub trait Tool: Send + Sync {
    fn spec(&self) -> &ToolSpec;
    async fn call(&self, args: serde_json::Value) -> Result<ToolOutput, ToolError>;
}

impl fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.spec().name)
            .finish()
    }
}
