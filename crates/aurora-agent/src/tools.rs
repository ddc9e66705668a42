//! The tool runtime: the set of tools one agent may call, each call under a timeout and an
//! output size limit, errors handed back to the model as data, and the approval gate that holds
//! a mutating call until a person decided on it.
//!
//! Tool output is data: what the model sees of a result is wrapped with the source it came
//! from ([`model_message`]), and the system prompt tells the model never to follow
//! instructions found inside it.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_core::StoreError;
use aurora_core::ids::{InvestigationId, OrgId};
use aurora_core::investigation::{Approval, ApprovalStatus, ToolResultPayload};
use aurora_core::llm::ToolCall;
use aurora_core::ports::Store;
use aurora_core::tool::{Tool, ToolError, ToolOutput, ToolSpec};
use futures::FutureExt;
use serde_json::json;

/// How long one tool call may run unless configured. Default 30 s: long enough for a slow
/// range query, short enough that a hung backend does not stall the investigation.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a result the model sees unless configured. Default 16 KiB: a few hundred
/// samples or log lines, a small share of a model's context.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// The longest tool name providers accept.
const MAX_NAME_LEN: usize = 64;

/// Limits every call of a [`Toolset`] runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolLimits {
    /// Longest one call may run; past it the model gets [`ToolError::Timeout`].
    pub timeout: Duration,
    /// Most bytes of serialized content the model sees of one result.
    pub max_output_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TOOL_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// What one call produced, as recorded in its [`ToolResult`](aurora_core::investigation::StepKind::ToolResult) step.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// The recorded payload: output or error, and whether the output was cut.
    pub payload: ToolResultPayload,
    /// How long the call ran.
    pub duration: Duration,
}

/// The tools one agent may call, by unique name.
#[derive(Clone, Debug, Default)]
pub struct Toolset {
    tools: Vec<(ToolSpec, Arc<dyn Tool>)>,
    limits: ToolLimits,
}

impl Toolset {
    /// A set of `tools` under `limits`. A name another tool already has gets a numeric suffix
    /// (`query_2`), so that every tool stays callable and the model is never told a name that
    /// means two tools.
    pub fn new(tools: Vec<Arc<dyn Tool>>, limits: ToolLimits) -> Self {
        let mut out: Vec<(ToolSpec, Arc<dyn Tool>)> = Vec::with_capacity(tools.len());
        for tool in tools {
            let mut spec = tool.spec().clone();
            let base = sanitize(&spec.name);
            let mut name = base.clone();
            let mut n = 2;
            while out.iter().any(|(s, _)| s.name == name) {
                let suffix = format!("_{n}");
                let keep = base.len().min(MAX_NAME_LEN - suffix.len());
                name = format!("{}{suffix}", &base[..keep]);
                n += 1;
            }
            if name != spec.name {
                tracing::warn!(tool = %spec.name, renamed = %name, "tool renamed to keep names unique");
            }
            spec.name = name;
            out.push((spec, tool));
        }
        Self { tools: out, limits }
    }

    /// The tools as offered to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|(s, _)| s.clone()).collect()
    }

    /// The spec of the tool called `name`.
    pub fn spec(&self, name: &str) -> Option<&ToolSpec> {
        self.tools
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(s, _)| s)
    }

    /// Whether the set has no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The limits calls run under.
    pub fn limits(&self) -> ToolLimits {
        self.limits
    }

    /// Runs the tool called `name` with `args` under the set's timeout and output limit. An
    /// unknown tool, bad arguments, a failure or a timeout come back as the payload's error,
    /// for the model to read. The approval of a mutating tool is the caller's to obtain first.
    pub async fn call(&self, call_id: &str, name: &str, args: serde_json::Value) -> CallOutcome {
        let started = Instant::now();
        let result = match self.tools.iter().find(|(s, _)| s.name == name) {
            None => Err(ToolError::InvalidArguments(format!(
                "there is no tool {name:?}: use one of {}",
                self.tools
                    .iter()
                    .map(|(s, _)| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Some((_, tool)) => {
                // A tool that panics fails its call, not the investigation.
                let call = AssertUnwindSafe(tool.call(args)).catch_unwind();
                match tokio::time::timeout(self.limits.timeout, call).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(ToolError::Failed(format!("the tool {name} crashed"))),
                    Err(_) => Err(ToolError::Timeout(self.limits.timeout.as_secs().max(1))),
                }
            }
        };
        let payload = match result {
            Ok(output) => {
                let (mut output, truncated) = truncate(output, self.limits.max_output_bytes);
                limit_series(&mut output);
                ToolResultPayload {
                    call_id: call_id.to_owned(),
                    output: Some(output),
                    error: None,
                    truncated,
                }
            }
            Err(error) => ToolResultPayload {
                call_id: call_id.to_owned(),
                output: None,
                error: Some(error),
                truncated: false,
            },
        };
        CallOutcome {
            payload,
            duration: started.elapsed(),
        }
    }
}

/// `[a-z0-9_]`, at most 64 characters, never empty.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect();
    if out.is_empty() {
        out.push_str("tool");
    }
    out
}

/// Cuts the serialized content to `max` bytes, with a visible note saying how much is shown.
pub fn truncate(mut output: ToolOutput, max: usize) -> (ToolOutput, bool) {
    let text = match &output.content {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() <= max {
        return (output, false);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    output.content = serde_json::Value::String(format!(
        "{}\n[truncated: {cut} of {} bytes shown]",
        &text[..cut],
        text.len()
    ));
    (output, true)
}

/// Most series of one result kept for drawing. Default 20: more lines than a chart can show.
const MAX_SERIES: usize = 20;
/// Most points of one kept series. Default 1000: about one per pixel of a wide chart.
const MAX_POINTS: usize = 1000;

/// Keeps the series drawn beside a result to a size the step log can hold: at most
/// [`MAX_SERIES`] series of at most [`MAX_POINTS`] evenly spaced points each.
fn limit_series(output: &mut ToolOutput) {
    output.series.truncate(MAX_SERIES);
    for series in &mut output.series {
        let n = series.points.len();
        if n > MAX_POINTS {
            let stride = n.div_ceil(MAX_POINTS);
            series.points = series.points.iter().copied().step_by(stride).collect();
        }
    }
}

/// What the model sees of the result recorded as step `seq`: the data labelled with the step
/// and its source, or the error. Never bare text, so that the model can tell observations from
/// instructions.
pub fn model_message(seq: u32, tool: &str, payload: &ToolResultPayload) -> String {
    let fallback = format!("tool {tool}");
    let value = match (&payload.output, &payload.error) {
        (_, Some(error)) => json!({"step": seq, "source": fallback, "error": error.to_string()}),
        (Some(output), None) => json!({
            "step": seq,
            "source": if output.source.is_empty() { fallback } else { output.source.clone() },
            "result": output.content,
        }),
        (None, None) => json!({"step": seq, "source": fallback, "result": null}),
    };
    value.to_string()
}

/// Gives each of `calls` an id that no call in `taken` has (providers may repeat ids across
/// turns, or send none), and adds it to `taken`. An id starting with `reserved` is replaced too.
pub(crate) fn unique_ids(
    taken: &mut BTreeSet<String>,
    calls: Vec<ToolCall>,
    reserved: Option<&str>,
) -> Vec<ToolCall> {
    calls
        .into_iter()
        .map(|mut call| {
            let base = if call.id.trim().is_empty()
                || reserved.is_some_and(|prefix| call.id.starts_with(prefix))
            {
                format!("call-{}", taken.len() + 1)
            } else {
                call.id.clone()
            };
            let mut id = base.clone();
            let mut n = 2;
            while taken.contains(&id) {
                id = format!("{base}-{n}");
                n += 1;
            }
            taken.insert(id.clone());
            call.id = id;
            call
        })
        .collect()
}

/// The recorded result of a call that did not run, for `error`.
pub(crate) fn error_payload(call_id: &str, error: ToolError) -> ToolResultPayload {
    ToolResultPayload {
        call_id: call_id.to_owned(),
        output: None,
        error: Some(error),
        truncated: false,
    }
}

/// A duration in whole milliseconds, as steps record it.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A person's decision on a mutating call, as the gate saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The call may run.
    Approved,
    /// The call must not run; the error tells the model who and why.
    Rejected(ToolError),
    /// The investigation was cancelled while waiting.
    Cancelled,
}

/// The name of the person who decided on `approval` (their id when the account is gone).
pub(crate) async fn decided_by(store: &dyn Store, org: OrgId, approval: &Approval) -> String {
    match approval.decided_by {
        Some(user) => match store.get_user(org, user).await {
            Ok(u) => u.name,
            Err(_) => user.to_string(),
        },
        None => "a person".to_owned(),
    }
}

/// What the model is told of a rejected call: who rejected it and why.
pub(crate) fn rejection(who: &str, approval: &Approval) -> ToolError {
    let reason = approval
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or("no reason given");
    ToolError::Rejected(format!("{who}: {reason}"))
}

/// Holds the mutating call recorded as step `step_seq` until a person decides on it: asks for
/// an approval (once; a resumed investigation finds the one it asked for) and polls the store
/// every `poll`, stopping early when the investigation is cancelled.
pub async fn await_approval(
    store: &dyn Store,
    org: OrgId,
    investigation: InvestigationId,
    step_seq: u32,
    tool: &str,
    arguments: &serde_json::Value,
    poll: Duration,
) -> Result<Decision, StoreError> {
    let mut approval = match store
        .approval_for_step(org, investigation, step_seq)
        .await?
    {
        Some(approval) => approval,
        None => {
            store
                .create_approval(org, investigation, step_seq, tool, arguments)
                .await?
        }
    };
    loop {
        match approval.status {
            ApprovalStatus::Approved => return Ok(Decision::Approved),
            ApprovalStatus::Rejected => {
                let who = decided_by(store, org, &approval).await;
                return Ok(Decision::Rejected(rejection(&who, &approval)));
            }
            ApprovalStatus::Pending => {}
        }
        if store.is_cancel_requested(org, investigation).await? {
            return Ok(Decision::Cancelled);
        }
        tokio::time::sleep(poll).await;
        approval = store.get_approval(org, approval.id).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_a_visible_note() {
        let output = ToolOutput {
            source: "test".into(),
            content: json!("é".repeat(100)),
            series: vec![],
        };
        let (cut, truncated) = truncate(output, 51);
        assert!(truncated);
        let text = cut.content.as_str().expect("text");
        assert!(
            text.ends_with("[truncated: 50 of 200 bytes shown]"),
            "{text}"
        );
    }

    #[test]
    fn series_are_kept_small() {
        let series = aurora_core::tool::Series {
            labels: Default::default(),
            points: (0..5000).map(|i| (f64::from(i), 1.0)).collect(),
        };
        let mut output = ToolOutput {
            source: "test".into(),
            content: json!(null),
            series: vec![series; 50],
        };
        limit_series(&mut output);
        assert_eq!(output.series.len(), MAX_SERIES);
        assert!(output.series.iter().all(|s| s.points.len() <= MAX_POINTS));
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("Query-Range"), "query_range");
        assert_eq!(sanitize(""), "tool");
    }
}
