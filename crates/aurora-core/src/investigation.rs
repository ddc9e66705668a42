//! Investigations: one run of the agent over an incident (or a question someone asked), recorded
//! as a log of numbered [`Step`]s that is written before anything is acted on, so that a
//! restarted worker resumes from the log. An investigation ends with a [`Report`] whose evidence
//! cites the steps it rests on.
//!
//! Also here: the [`Approval`] a person gives before a mutating tool call runs, the
//! [`Connector`]s that give tools access to a team's systems, and the organisation's
//! [`LlmSettings`] with its budgets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ids::{ApprovalId, AuditId, ConnectorId, IncidentId, InvestigationId, OrgId, UserId};
use crate::llm::Usage;
use crate::secrets::SecretRef;
use crate::tool::{ToolError, ToolOutput};

/// The trigger of an investigation the incident ingest queued for a new incident.
pub const TRIGGER_INCIDENT_OPENED: &str = "incident_opened";
/// The trigger of an investigation a person started from the API or the UI.
pub const TRIGGER_MANUAL: &str = "manual";
/// The trigger of the investigation that holds a chat session's messages.
pub const TRIGGER_CHAT: &str = "chat";
/// The trigger of an investigation started with `aurora investigate`.
pub const TRIGGER_CLI: &str = "cli";

/// Declares a fieldless enum stored and serialised as snake_case text, with `ALL`, `as_str`,
/// `Display`, and `FromStr` failing with an error that lists the accepted values.
macro_rules! text_enum {
    (
        $(#[$doc:meta])*
        $name:ident, $error:ident, $what:literal,
        { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored and serialised form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("A text that names no ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $error(pub String);

        impl fmt::Display for $error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                write!(f, "unknown {} {:?}: use {}", $what, self.0, known.join(", "))
            }
        }

        impl std::error::Error for $error {}

        impl FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $error(s.to_owned()))
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Where an investigation stands: `queued` until a worker starts it, `running` while the
    /// agent works (also across a worker restart), then one of the three final states.
    InvestigationStatus, UnknownInvestigationStatus, "investigation status",
    {
        Queued => "queued",
        Running => "running",
        /// It produced its report.
        Completed => "completed",
        /// It stopped on an error (see [`Investigation::error`]).
        Failed => "failed",
        /// A person cancelled it.
        Cancelled => "cancelled",
    }
);

impl InvestigationStatus {
    /// `completed`, `failed` or `cancelled`: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            InvestigationStatus::Completed
                | InvestigationStatus::Failed
                | InvestigationStatus::Cancelled
        )
    }
}

/// One investigation: its state, what it cost, and its report once it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    pub id: InvestigationId,
    pub org_id: OrgId,
    /// The incident investigated; `None` for a question not tied to one.
    pub incident_id: Option<IncidentId>,
    pub status: InvestigationStatus,
    /// What started it: [`TRIGGER_INCIDENT_OPENED`], [`TRIGGER_MANUAL`] or [`TRIGGER_CLI`].
    pub trigger: String,
    /// The person who started it, if a person did.
    pub requested_by: Option<UserId>,
    /// `provider/model` of the chat model, once it started.
    pub model: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Tokens of all its steps.
    pub usage: Usage,
    /// Cost of all its steps, in US dollars.
    pub cost_usd: f64,
    pub report: Option<Report>,
    /// A person asked to stop it; the agent stops at its next step.
    pub cancel_requested: bool,
}

text_enum!(
    /// What a step of an investigation records.
    StepKind, UnknownStepKind, "step kind",
    {
        /// The agent's plan.
        Plan => "plan",
        /// The model's reasoning between tool calls.
        Thought => "thought",
        /// A tool call, recorded before it runs (payload: [`ToolCallPayload`]).
        ToolCall => "tool_call",
        /// What a tool call returned (payload: [`ToolResultPayload`]).
        ToolResult => "tool_result",
        /// The output of the deterministic analysis engine (ranked suspects, scores).
        Analysis => "analysis",
        /// A conclusion the agent drew.
        Finding => "finding",
        /// A message to or from a person.
        Message => "message",
        /// The final report.
        Report => "report",
        /// Something went wrong; the payload says what.
        Error => "error",
        /// A person's approval of a mutating call was asked for, or given or refused (chat).
        Approval => "approval",
    }
);

/// One entry of an investigation's log. Steps are numbered 1, 2, 3, … without gaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub investigation_id: InvestigationId,
    /// The step's number within its investigation, from 1; reports cite steps by it.
    pub seq: u32,
    pub kind: StepKind,
    pub payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How long the step's work took (a model turn, a tool call).
    pub duration_ms: Option<u64>,
    /// Tokens the step used (model turns only).
    pub usage: Usage,
    /// What the step cost, in US dollars.
    pub cost_usd: f64,
}

/// A step to append; the store numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewStep {
    pub kind: StepKind,
    pub payload: serde_json::Value,
    pub duration_ms: Option<u64>,
    pub usage: Usage,
    pub cost_usd: f64,
}

impl NewStep {
    /// A step that took no measured time and cost nothing.
    pub fn new(kind: StepKind, payload: serde_json::Value) -> Self {
        Self {
            kind,
            payload,
            duration_ms: None,
            usage: Usage::default(),
            cost_usd: 0.0,
        }
    }
}

/// The payload of a [`StepKind::ToolCall`] step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallPayload {
    /// The model's id for the call; the result step names the same id.
    pub call_id: String,
    pub tool: String,
    pub arguments: serde_json::Value,
}

/// The payload of a [`StepKind::ToolResult`] step: the output or the error of one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResultPayload {
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ToolOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolError>,
    /// The output was cut to the runtime's size limit.
    #[serde(default)]
    pub truncated: bool,
}

text_enum!(
    /// How sure a report is of its root cause.
    Confidence, UnknownConfidence, "confidence",
    {
        /// Tool results or analysis show it directly.
        Confirmed => "confirmed",
        /// The evidence points to it but does not prove it.
        Likely => "likely",
        /// The evidence does not single out a cause.
        Inconclusive => "inconclusive",
    }
);

/// A service the report suspects, with the analysis engine's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSuspect {
    pub service: String,
    pub score: f64,
    /// 1 for the most likely cause.
    pub rank: u32,
    /// Short reasons, as the analysis or the agent gave them.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// One claim of a report and the steps that back it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub claim: String,
    /// The seqs of the steps cited.
    pub steps: Vec<u32>,
    /// Where the data came from, e.g. `prometheus "prod"`.
    #[serde(default)]
    pub source: String,
}

/// One moment of the incident as the report tells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub text: String,
    /// The step that shows it, if one does.
    #[serde(default)]
    pub step: Option<u32>,
}

/// The report of an investigation: every claim cites the steps it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub summary: String,
    pub root_cause: Option<String>,
    pub confidence: Confidence,
    /// Ranked, most likely first.
    #[serde(default)]
    pub suspects: Vec<ReportSuspect>,
    #[serde(default)]
    pub evidence: Vec<EvidenceItem>,
    #[serde(default)]
    pub impact: String,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub next_steps: Vec<String>,
    /// How it was written: `evidence` (from the analysis alone) or `agent` (by the model).
    pub method: String,
}

impl Report {
    /// Checks the report against the investigation's steps: the summary says something, every
    /// evidence item cites at least one step and only steps that exist, timeline entries cite
    /// existing steps, and a `confirmed` report has evidence citing a tool result or analysis
    /// step. The error lists every problem, worded so the model can fix its report.
    pub fn validate(&self, steps: &[Step]) -> Result<(), String> {
        let kinds: BTreeMap<u32, StepKind> = steps.iter().map(|s| (s.seq, s.kind)).collect();
        let mut problems = Vec::new();
        if self.summary.trim().is_empty() {
            problems
                .push("the summary is empty: say in a sentence or two what happened".to_owned());
        }
        for (i, item) in self.evidence.iter().enumerate() {
            let n = i + 1;
            if item.steps.is_empty() {
                problems.push(format!(
                    "evidence {n} ({}) cites no step: cite the steps it rests on",
                    short(&item.claim)
                ));
            }
            for seq in &item.steps {
                if !kinds.contains_key(seq) {
                    problems.push(format!(
                        "evidence {n} cites step {seq}, which does not exist: cite steps 1 to {}",
                        steps.len()
                    ));
                }
            }
        }
        for entry in &self.timeline {
            if let Some(seq) = entry.step.filter(|seq| !kinds.contains_key(seq)) {
                problems.push(format!(
                    "timeline entry {} cites step {seq}, which does not exist",
                    short(&entry.text)
                ));
            }
        }
        let observed = |seq: &u32| {
            matches!(
                kinds.get(seq),
                Some(StepKind::ToolResult | StepKind::Analysis)
            )
        };
        if self.confidence == Confidence::Confirmed
            && !self
                .evidence
                .iter()
                .any(|item| item.steps.iter().any(observed))
        {
            problems.push(
                "the confidence is confirmed but no evidence cites a tool result or analysis \
                 step: cite one, or lower the confidence to likely"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The report as Markdown: headings, a suspects table, and evidence with `[step N]`
    /// citations.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> fmt::Result {
        let confidence = match self.confidence {
            Confidence::Confirmed => "Confirmed",
            Confidence::Likely => "Likely",
            Confidence::Inconclusive => "Inconclusive",
        };
        writeln!(out, "# Root-cause report\n")?;
        writeln!(
            out,
            "**Confidence:** {confidence} · **Method:** {}\n",
            self.method
        )?;
        writeln!(out, "## Summary\n\n{}\n", self.summary.trim())?;
        if let Some(cause) = &self.root_cause {
            writeln!(out, "## Root cause\n\n{}\n", cause.trim())?;
        }
        if !self.suspects.is_empty() {
            writeln!(out, "## Suspects\n")?;
            writeln!(out, "| Rank | Service | Score | Evidence |")?;
            writeln!(out, "|---:|---|---:|---|")?;
            let mut suspects: Vec<&ReportSuspect> = self.suspects.iter().collect();
            suspects.sort_by_key(|s| s.rank);
            for suspect in suspects {
                writeln!(
                    out,
                    "| {} | {} | {:.3} | {} |",
                    suspect.rank,
                    cell(&suspect.service),
                    suspect.score,
                    cell(&suspect.evidence.join("; "))
                )?;
            }
            writeln!(out)?;
        }
        if !self.evidence.is_empty() {
            writeln!(out, "## Evidence\n")?;
            for item in &self.evidence {
                let cited: BTreeSet<u32> = item.steps.iter().copied().collect();
                let cites: Vec<String> = cited.iter().map(|seq| format!("[step {seq}]")).collect();
                write!(out, "- {} {}", line(&item.claim), cites.join(" "))?;
                if !item.source.is_empty() {
                    write!(out, " (source: {})", line(&item.source))?;
                }
                writeln!(out)?;
            }
            writeln!(out)?;
        }
        if !self.impact.trim().is_empty() {
            writeln!(out, "## Impact\n\n{}\n", self.impact.trim())?;
        }
        if !self.timeline.is_empty() {
            writeln!(out, "## Timeline\n")?;
            let mut entries: Vec<&TimelineEntry> = self.timeline.iter().collect();
            entries.sort_by_key(|e| e.at);
            for entry in entries {
                let at = entry
                    .at
                    .format(&Rfc3339)
                    .unwrap_or_else(|_| entry.at.to_string());
                write!(out, "- {at} — {}", line(&entry.text))?;
                if let Some(seq) = entry.step {
                    write!(out, " [step {seq}]")?;
                }
                writeln!(out)?;
            }
            writeln!(out)?;
        }
        if !self.next_steps.is_empty() {
            writeln!(out, "## Next steps\n")?;
            for (i, step) in self.next_steps.iter().enumerate() {
                writeln!(out, "{}. {}", i + 1, line(step))?;
            }
            writeln!(out)?;
        }
        // One trailing newline, not a blank line.
        while out.ends_with("\n\n") {
            out.pop();
        }
        Ok(())
    }
}

/// The first words of a text, for error messages.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    let text = line(text);
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// Text on one line: line breaks become spaces.
fn line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text for a Markdown table cell: on one line, pipes escaped.
fn cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

text_enum!(
    /// Where a request for approval stands.
    ApprovalStatus, UnknownApprovalStatus, "approval status",
    {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
    }
);

/// A person's decision on one mutating tool call, recorded before the call may run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: ApprovalId,
    pub org_id: OrgId,
    pub investigation_id: InvestigationId,
    /// The seq of the [`StepKind::ToolCall`] step asking to run.
    pub step_seq: u32,
    pub tool: String,
    pub arguments: serde_json::Value,
    pub status: ApprovalStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub decided_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// Why the person decided so, if they said.
    pub reason: Option<String>,
}

/// One decision a person made, as the audit log keeps it: who, when, what, on what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: AuditId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The person, while their account exists.
    pub actor_id: Option<UserId>,
    /// The person's name when they decided.
    pub actor_name: String,
    /// What they did, e.g. `approval.approved`.
    pub action: String,
    /// What they did it to, e.g. `approval:<id>`.
    pub target: String,
    /// The particulars, e.g. the tool and arguments approved.
    pub details: serde_json::Value,
}

/// The outcome of a connector's last health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorCheck {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub ok: bool,
    /// What the check found, in words a person can act on.
    pub message: String,
}

/// A configured connection to one of the team's systems.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    pub id: ConnectorId,
    pub org_id: OrgId,
    /// The integration, e.g. `prometheus`.
    pub kind: String,
    /// Unique within the organisation.
    pub name: String,
    /// The integration's settings, without secrets.
    pub config: serde_json::Value,
    /// The connector's secrets by purpose (e.g. `token`), as references into the secret store.
    pub secret_refs: BTreeMap<String, SecretRef>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub last_check: Option<ConnectorCheck>,
}

/// A connector to create. The caller picks the id so that it can store the connector's
/// secrets under it first.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConnector {
    pub id: ConnectorId,
    pub kind: String,
    pub name: String,
    pub config: serde_json::Value,
    pub secret_refs: BTreeMap<String, SecretRef>,
}

/// An organisation's chat model and the limits investigations run under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmSettings {
    /// The provider, e.g. `openai`, `anthropic`, `ollama`.
    pub provider: String,
    pub model: String,
    /// The endpoint, for OpenAI-compatible servers and self-hosted models.
    pub base_url: Option<String>,
    /// The API key, as a reference into the secret store.
    pub api_key_ref: Option<SecretRef>,
    /// Most model turns one investigation may take.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Most tokens (input and output) one investigation may use.
    #[serde(default = "default_max_tokens")]
    pub max_tokens_per_investigation: u64,
    /// Most one investigation may cost, in US dollars.
    #[serde(default = "default_max_cost_per_investigation")]
    pub max_cost_per_investigation_usd: f64,
    /// Most the organisation's investigations of one day may cost together, in US dollars.
    #[serde(default = "default_max_cost_per_day")]
    pub max_cost_per_day_usd: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl LlmSettings {
    /// [`LlmSettings::max_steps`] unless set.
    pub const DEFAULT_MAX_STEPS: u32 = 12;
    /// [`LlmSettings::max_tokens_per_investigation`] unless set.
    pub const DEFAULT_MAX_TOKENS_PER_INVESTIGATION: u64 = 200_000;
    /// [`LlmSettings::max_cost_per_investigation_usd`] unless set.
    pub const DEFAULT_MAX_COST_PER_INVESTIGATION_USD: f64 = 1.0;
    /// [`LlmSettings::max_cost_per_day_usd`] unless set.
    pub const DEFAULT_MAX_COST_PER_DAY_USD: f64 = 20.0;

    /// Settings for `provider`/`model` with the default limits and no key.
    pub fn new(provider: &str, model: &str, now: OffsetDateTime) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            base_url: None,
            api_key_ref: None,
            max_steps: Self::DEFAULT_MAX_STEPS,
            max_tokens_per_investigation: Self::DEFAULT_MAX_TOKENS_PER_INVESTIGATION,
            max_cost_per_investigation_usd: Self::DEFAULT_MAX_COST_PER_INVESTIGATION_USD,
            max_cost_per_day_usd: Self::DEFAULT_MAX_COST_PER_DAY_USD,
            updated_at: now,
        }
    }
}

fn default_max_steps() -> u32 {
    LlmSettings::DEFAULT_MAX_STEPS
}

fn default_max_tokens() -> u64 {
    LlmSettings::DEFAULT_MAX_TOKENS_PER_INVESTIGATION
}

fn default_max_cost_per_investigation() -> f64 {
    LlmSettings::DEFAULT_MAX_COST_PER_INVESTIGATION_USD
}

fn default_max_cost_per_day() -> f64 {
    LlmSettings::DEFAULT_MAX_COST_PER_DAY_USD
}

/// What an organisation's investigations used over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub investigations: u64,
    pub usage: Usage,
    pub cost_usd: f64,
}

#[cfg(test)]
mod tests;
