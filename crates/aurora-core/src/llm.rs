//! The chat model port: one request (system prompt, conversation, tools offered) in, one
//! assistant turn (text and tool calls, with token usage) out, with the turn streamed as it is
//! produced where the provider streams.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::tool::ToolSpec;

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call; a tool result answers it by this id.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (an object when it followed the schema).
    pub arguments: serde_json::Value,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    User {
        content: String,
    },
    Assistant {
        #[serde(default)]
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, as text (JSON for structured results).
    Tool {
        call_id: String,
        content: String,
    },
}

/// One request to a chat model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    /// Upper bound on the tokens of the answer.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

/// Tokens one model turn used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        self.input_tokens += rhs.input_tokens;
        self.output_tokens += rhs.output_tokens;
    }
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It wants the tool calls run.
    ToolUse,
    /// It hit the token limit.
    MaxTokens,
    Other,
}

/// One complete assistant turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub stop: StopReason,
    /// The model that answered, as the provider named it.
    pub model: String,
}

/// A piece of a turn while it streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatDelta {
    /// Answer text as produced.
    Text { text: String },
    /// The model started a tool call (its arguments follow in the final response).
    ToolCall { name: String },
}

/// Why a model call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The provider refused the credentials: check the API key.
    #[error("the provider refused the credentials: {0}")]
    Unauthorized(String),
    /// Too many requests or tokens: retry later.
    #[error("rate limited by the provider: {0}")]
    RateLimited(String),
    /// No answer within the timeout.
    #[error("no answer from the model within {0} s")]
    Timeout(u64),
    /// The provider could not be reached or failed (5xx).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The request or the answer did not fit the protocol (4xx, unparseable stream).
    #[error("{0}")]
    Protocol(String),
}

impl LlmError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited(_) | LlmError::Timeout(_) | LlmError::Unavailable(_)
        )
    }
}

/// Receives a turn's pieces as they stream.
pub type DeltaSink<'a> = &'a (dyn Fn(ChatDelta) + Send + Sync);

/// A chat model behind some provider.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// `provider/model`, for reports and usage records.
    fn name(&self) -> String;
    /// Runs one turn; `on_delta` sees text as it is produced when the provider streams.
    async fn chat(
        &self,
        request: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError>;
}
