//! Chat: a person questions the agent in plain language, optionally about one incident, and
//! follows the answer as it streams. A [`ChatSession`] keeps its messages, tool calls, approvals
//! and usage in the step log of an investigation of its own (trigger [`TRIGGER_CHAT`]), so that
//! a chat turn is recorded, resumed, approved and accounted for exactly like an investigation's
//! agent pass.
//!
//! The WebSocket protocol (`/api/v1/chat/ws`, documented in `docs/chat-protocol.md`) is the
//! pair [`ClientMessage`] / [`ServerMessage`]. Every recorded step becomes one durable server
//! message carrying the step's `seq`; a client that reconnects sends the last `seq` it processed
//! and receives exactly what followed. Answer text streams as [`ServerMessage::Token`]s, which
//! carry the `seq` the finished answer will have and are not replayed: the recorded
//! [`ServerMessage::Assistant`] message replaces them.
//!
//! [`TRIGGER_CHAT`]: crate::investigation::TRIGGER_CHAT

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreError;
use crate::ids::{ApprovalId, ChatSessionId, IncidentId, InvestigationId, OrgId, UserId};
use crate::investigation::{ApprovalStatus, Step, StepKind, text_enum};
use crate::llm::{ToolCall, Usage};
use crate::tool::ToolOutput;

/// Longest title of a session, in bytes.
pub const MAX_TITLE_LEN: usize = 200;
/// Longest question a person may ask in one message, in bytes.
pub const MAX_QUESTION_LEN: usize = 16 * 1024;

text_enum!(
    /// What the agent may do in a session.
    #[derive(Default)]
    ChatMode, UnknownChatMode, "chat mode",
    {
        /// Read-only tools only: nothing outside Aurora changes.
        #[default]
        Ask => "ask",
        /// Mutating tools too, each call only after a person approved it.
        Agent => "agent",
    }
);

/// One conversation with the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatSession {
    pub id: ChatSessionId,
    pub org_id: OrgId,
    pub title: String,
    pub mode: ChatMode,
    /// The incident the conversation is about: its investigation and report are context.
    pub incident_id: Option<IncidentId>,
    /// The investigation whose step log holds the conversation.
    pub investigation_id: InvestigationId,
    /// The person who started it.
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was renamed or last had a message.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Tokens of all its model turns.
    pub usage: Usage,
    /// Cost of all its model turns, in US dollars.
    pub cost_usd: f64,
    /// The `seq` of its last recorded message (0 when it has none).
    pub last_seq: u32,
}

/// A session to create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewChatSession {
    pub title: String,
    pub mode: ChatMode,
    pub incident: Option<IncidentId>,
    pub created_by: Option<UserId>,
}

/// What a person changes of a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatSessionUpdate {
    pub title: Option<String>,
    pub mode: Option<ChatMode>,
}

/// Chat sessions: stored beside the investigation that holds their messages.
#[async_trait]
pub trait ChatStore: Send + Sync {
    /// Creates the session and its investigation (trigger `chat`, `running`) in one
    /// transaction. [`StoreError::NotFound`] when the incident or the user is not the
    /// organisation's.
    async fn create_chat_session(
        &self,
        org: OrgId,
        session: NewChatSession,
        now: OffsetDateTime,
    ) -> Result<ChatSession, StoreError>;
    async fn get_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
    ) -> Result<ChatSession, StoreError>;
    /// The session whose messages the investigation holds, if it is a chat's.
    async fn chat_session_for_investigation(
        &self,
        org: OrgId,
        investigation: InvestigationId,
    ) -> Result<Option<ChatSession>, StoreError>;
    /// The organisation's sessions, most recently updated first; at most `limit` (1 to 200).
    async fn list_chat_sessions(
        &self,
        org: OrgId,
        limit: u32,
    ) -> Result<Vec<ChatSession>, StoreError>;
    /// Applies `update` and sets `updated_at` to `now` (an empty update only touches it).
    async fn update_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
        update: &ChatSessionUpdate,
        now: OffsetDateTime,
    ) -> Result<ChatSession, StoreError>;
    /// Deletes the session with its messages and approvals, and returns it.
    async fn delete_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
    ) -> Result<ChatSession, StoreError>;
}

/// Receives a chat turn's output as it is produced: what the WebSocket hub fans out.
pub trait ChatSink: Send + Sync {
    /// Answer text as the model produces it, for the answer that will be recorded as `seq`.
    fn token(&self, seq: u32, text: &str);
    /// A step was recorded.
    fn step(&self, step: &Step);
}

text_enum!(
    /// How a chat turn ended.
    TurnOutcome, UnknownTurnOutcome, "turn outcome",
    {
        /// The model answered.
        Answered => "answered",
        /// A person stopped it.
        Stopped => "stopped",
        /// A budget (turns, tokens, cost) ran out.
        Exhausted => "exhausted",
        /// The model or the server failed; the message says why.
        Failed => "failed",
    }
);

// ---------------------------------------------------------------------------------------------
// Protocol

/// What a client sends over the WebSocket. One JSON object per text frame, `type` first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Starts a new session and attaches the connection to it.
    Create {
        #[serde(default)]
        mode: ChatMode,
        #[serde(default)]
        incident: Option<IncidentId>,
        #[serde(default)]
        title: Option<String>,
    },
    /// Attaches the connection to a session and replays what was recorded after `after`.
    Open {
        session: ChatSessionId,
        #[serde(default)]
        after: u32,
    },
    /// Asks a question in the attached session.
    Ask {
        content: String,
    },
    /// Stops the attached session's running turn. (Braces, so that unknown fields are refused
    /// as for every other message.)
    Stop {},
    /// Approves a pending call of the attached session.
    Approve {
        approval: ApprovalId,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Rejects a pending call of the attached session; the model is told who and why.
    Reject {
        approval: ApprovalId,
        #[serde(default)]
        reason: Option<String>,
    },
    Ping {},
}

impl ClientMessage {
    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] =
        &["create", "open", "ask", "stop", "approve", "reject", "ping"];
}

text_enum!(
    /// Why the server refused a client's message. The connection stays open.
    ProtocolErrorCode, UnknownProtocolErrorCode, "protocol error code",
    {
        /// The frame is not a JSON object with a known shape; the message says what to fix.
        BadFrame => "bad_frame",
        /// The frame is larger than the protocol allows.
        FrameTooLarge => "frame_too_large",
        /// The `type` is not one the protocol knows.
        UnknownType => "unknown_type",
        /// A field has a value that is not allowed.
        Invalid => "invalid",
        /// No such session or approval in the caller's organisation.
        NotFound => "not_found",
        /// The message needs an attached session: send `create` or `open` first.
        NoSession => "no_session",
        /// The session is answering; wait for `turn_end` or send `stop`.
        Busy => "busy",
        /// The caller's role does not allow it.
        Forbidden => "forbidden",
        /// Too many messages from this connection; slow down.
        RateLimited => "rate_limited",
        /// The approval was already decided.
        Conflict => "conflict",
        /// Chat cannot answer now (no model configured, the store failed).
        Unavailable => "unavailable",
    }
);

/// What the server sends over the WebSocket.
///
/// Messages with a `seq` and an `at` are recorded steps ("durable"): sent once each, in `seq`
/// order, and replayed after a reconnect. [`Token`](Self::Token) and
/// [`Partial`](Self::Partial) are live only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The connection is attached to this session (after `create` or `open`, and again after a
    /// rename). `running`: a turn is in progress.
    Session {
        session: ChatSession,
        running: bool,
    },
    /// A person's question.
    User {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        content: String,
        /// The name of who asked.
        #[serde(default)]
        by: Option<String>,
    },
    /// One complete model answer: text, and the tool calls it asks for.
    Assistant {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        content: String,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
        #[serde(default)]
        model: Option<String>,
        usage: Usage,
        cost_usd: f64,
        /// The answer was cut short by `stop`.
        #[serde(default)]
        stopped: bool,
    },
    /// A tool call about to run (or to wait for approval, when `mutating`).
    ToolCall {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        call_id: String,
        tool: String,
        arguments: serde_json::Value,
        mutating: bool,
    },
    /// An approval asked for a mutating call (`pending`), or its decision.
    Approval {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        approval_id: ApprovalId,
        /// The `seq` of the tool call it is about.
        call_seq: u32,
        tool: String,
        arguments: serde_json::Value,
        status: ApprovalStatus,
        /// Who decided, by name.
        #[serde(default)]
        decided_by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// What a tool call returned, or why it did not.
    ToolResult {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        call_id: String,
        tool: String,
        #[serde(default)]
        output: Option<ToolOutput>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        truncated: bool,
        #[serde(default)]
        duration_ms: Option<u64>,
    },
    /// The turn ended; the session takes a new question.
    TurnEnd {
        seq: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        outcome: TurnOutcome,
        #[serde(default)]
        message: Option<String>,
    },
    /// Answer text as it streams, for the answer that will be recorded as `seq`.
    Token {
        seq: u32,
        text: String,
    },
    /// Everything the answer that will be recorded as `seq` has streamed so far: sent on
    /// attaching while an answer streams. It replaces earlier tokens of that answer.
    Partial {
        seq: u32,
        text: String,
    },
    /// A client's message was refused; the connection stays open.
    Error {
        code: ProtocolErrorCode,
        message: String,
    },
    Pong,
}

impl ServerMessage {
    /// The recorded step's `seq`, for durable messages.
    pub fn durable_seq(&self) -> Option<u32> {
        match self {
            ServerMessage::User { seq, .. }
            | ServerMessage::Assistant { seq, .. }
            | ServerMessage::ToolCall { seq, .. }
            | ServerMessage::Approval { seq, .. }
            | ServerMessage::ToolResult { seq, .. }
            | ServerMessage::TurnEnd { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// A protocol error.
    pub fn error(code: ProtocolErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }

    /// The durable message a chat step is shown as; `None` for a step no chat writes.
    pub fn from_step(step: &Step) -> Option<Self> {
        let p = &step.payload;
        let text = |key: &str| p.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let seq = step.seq;
        let at = step.created_at;
        match step.kind {
            StepKind::Message | StepKind::Thought if text("role").as_deref() == Some("user") => {
                Some(ServerMessage::User {
                    seq,
                    at,
                    content: text("content").unwrap_or_default(),
                    by: text("by"),
                })
            }
            StepKind::Message | StepKind::Thought => Some(ServerMessage::Assistant {
                seq,
                at,
                content: text("content").unwrap_or_default(),
                tool_calls: p
                    .get("tool_calls")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default(),
                model: text("model"),
                usage: step.usage,
                cost_usd: step.cost_usd,
                stopped: p.get("stopped").and_then(|v| v.as_bool()).unwrap_or(false),
            }),
            StepKind::ToolCall => Some(ServerMessage::ToolCall {
                seq,
                at,
                call_id: text("call_id").unwrap_or_default(),
                tool: text("tool").unwrap_or_default(),
                arguments: p.get("arguments").cloned().unwrap_or_default(),
                mutating: p.get("mutating").and_then(|v| v.as_bool()).unwrap_or(false),
            }),
            StepKind::Approval => Some(ServerMessage::Approval {
                seq,
                at,
                approval_id: text("approval_id")?.parse().ok()?,
                call_seq: p
                    .get("call_seq")
                    .and_then(|v| v.as_u64())
                    .and_then(|v| u32::try_from(v).ok())?,
                tool: text("tool").unwrap_or_default(),
                arguments: p.get("arguments").cloned().unwrap_or_default(),
                status: text("status")?.parse().ok()?,
                decided_by: text("decided_by"),
                reason: text("reason"),
            }),
            StepKind::ToolResult => Some(ServerMessage::ToolResult {
                seq,
                at,
                call_id: text("call_id").unwrap_or_default(),
                tool: text("tool").unwrap_or_default(),
                output: p
                    .get("output")
                    .and_then(|v| serde_json::from_value(v.clone()).ok()),
                error: p.get("error").and_then(|e| {
                    serde_json::from_value::<crate::tool::ToolError>(e.clone())
                        .map(|e| e.to_string())
                        .ok()
                }),
                truncated: p
                    .get("truncated")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                duration_ms: step.duration_ms,
            }),
            StepKind::Finding if text("kind").as_deref() == Some("turn_end") => {
                Some(ServerMessage::TurnEnd {
                    seq,
                    at,
                    outcome: text("outcome")?.parse().ok()?,
                    message: text("message"),
                })
            }
            _ => None,
        }
    }
}

/// The text a finished conversation is remembered by in the knowledge base: its questions and
/// answers, tool calls named, in order.
pub fn transcript(session: &ChatSession, steps: &[Step]) -> String {
    let mut out = format!("# Chat: {}\n", session.title);
    for step in steps {
        match ServerMessage::from_step(step) {
            Some(ServerMessage::User { content, .. }) => {
                out.push_str("\n## Question\n\n");
                out.push_str(content.trim());
                out.push('\n');
            }
            Some(ServerMessage::Assistant {
                content,
                tool_calls,
                ..
            }) => {
                if !content.trim().is_empty() {
                    out.push_str("\n## Answer\n\n");
                    out.push_str(content.trim());
                    out.push('\n');
                }
                for call in tool_calls {
                    out.push_str(&format!(
                        "\n- called `{}` with `{}`\n",
                        call.name, call.arguments
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// A title from the first question: its first line, cut at a word to about 60 characters.
pub fn title_from_question(question: &str) -> String {
    const MAX: usize = 60;
    let line = question
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= MAX {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > MAX / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(seq: u32, kind: StepKind, payload: serde_json::Value) -> Step {
        Step {
            investigation_id: InvestigationId::new(),
            seq,
            kind,
            payload,
            created_at: OffsetDateTime::UNIX_EPOCH,
            duration_ms: Some(5),
            usage: Usage::default(),
            cost_usd: 0.0,
        }
    }

    #[test]
    fn client_messages_parse_and_refuse_unknown_fields() {
        let open: ClientMessage = serde_json::from_str(
            r#"{"type":"open","session":"0192f5a0-0000-7000-8000-000000000000","after":4}"#,
        )
        .unwrap();
        assert!(matches!(open, ClientMessage::Open { after: 4, .. }));
        let create: ClientMessage = serde_json::from_str(r#"{"type":"create"}"#).unwrap();
        assert_eq!(
            create,
            ClientMessage::Create {
                mode: ChatMode::Ask,
                incident: None,
                title: None
            }
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"stop"}"#).unwrap(),
            ClientMessage::Stop {}
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"stop","x":1}"#).is_err());
        assert_eq!(
            serde_json::to_string(&ClientMessage::Ping {}).unwrap(),
            r#"{"type":"ping"}"#
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"ask"}"#).is_err());
    }

    #[test]
    fn steps_become_durable_messages() {
        let user = step(
            1,
            StepKind::Message,
            json!({"role": "user", "content": "why?"}),
        );
        let msg = ServerMessage::from_step(&user).unwrap();
        assert_eq!(msg.durable_seq(), Some(1));
        let wire = serde_json::to_value(&msg).unwrap();
        assert_eq!(wire["type"], "user");
        assert_eq!(wire["content"], "why?");

        let end = step(
            2,
            StepKind::Finding,
            json!({"kind": "turn_end", "outcome": "stopped"}),
        );
        assert!(matches!(
            ServerMessage::from_step(&end),
            Some(ServerMessage::TurnEnd {
                outcome: TurnOutcome::Stopped,
                ..
            })
        ));
        let result = step(
            3,
            StepKind::ToolResult,
            json!({"call_id": "c1", "tool": "t", "error": {"kind": "rejected", "message": "Ann: no"}}),
        );
        match ServerMessage::from_step(&result) {
            Some(ServerMessage::ToolResult { error, .. }) => {
                assert_eq!(error.as_deref(), Some("rejected by Ann: no"));
            }
            other => panic!("{other:?}"),
        }
        // Messages round-trip, so that clients in Rust can use the same types.
        let back: ServerMessage = serde_json::from_value(wire).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(
            title_from_question("\n  why is checkout slow?\nmore"),
            "why is checkout slow?"
        );
        let long =
            "why is the checkout service so slow since fourteen hundred hours on the west coast";
        let title = title_from_question(long);
        assert!(
            title.ends_with('…') && title.chars().count() <= 61,
            "{title}"
        );
    }
}
