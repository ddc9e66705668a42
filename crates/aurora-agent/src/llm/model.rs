//! [`GenaiModel`]: the [`ChatModel`] port over the `genai` crate.
//!
//! Every call goes to one fixed endpoint with one fixed key: the model is handed to `genai` as a
//! complete `ServiceTarget`, so no environment variable or model-name inference is involved. An
//! OpenAI-compatible server without a key gets no `Authorization` header at all (genai's OpenAI
//! adapter insists on a key, so the request URL and headers are given as an override).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::llm::{
    ChatDelta, ChatMessage, ChatModel, ChatRequest, ChatResponse, DeltaSink, LlmError, StopReason,
    ToolCall, Usage,
};
use futures::StreamExt;
use genai::adapter::AdapterKind;
use genai::chat::{self as g, ChatOptions, ChatStreamEvent, ContentPart, MessageContent};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, Headers, ModelIden, ServiceTarget, WebConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::config::{ConfigError, LlmConfig, Provider};

/// How long connecting to the provider may take, at most (the turn's timeout may be shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a provider's error body goes into an error message.
const MAX_DETAIL_CHARS: usize = 400;

/// A chat model reached through `genai`: OpenAI, OpenAI-compatible servers, Anthropic, Gemini or
/// Ollama, as its [`LlmConfig`] says.
///
/// Streams when the configuration says so (the default): text goes to the delta sink as it
/// arrives. Without streaming the whole text, and each tool call, is still handed to the sink
/// once the answer is in, so callers see the same deltas either way.
pub struct GenaiModel {
    /// Replaced after an abandoned call (see [`Abandoned`]).
    client: Mutex<Client>,
    connect_timeout: Duration,
    target: ServiceTarget,
    provider: Provider,
    model: String,
    base_url: String,
    timeout: Duration,
    max_tokens: u32,
    stream: bool,
    api_key: Option<SecretString>,
}

impl fmt::Debug for GenaiModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenaiModel")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl GenaiModel {
    /// Builds the model; checks the configuration but does not call the provider.
    pub fn new(config: LlmConfig) -> Result<Self, ConfigError> {
        let base_url = config.validate()?;
        let key = config
            .api_key
            .as_ref()
            .map(|key| key.expose_secret().trim().to_owned())
            .filter(|key| !key.is_empty());
        let (kind, auth) = match (config.provider, key) {
            (Provider::OpenAi | Provider::OpenAiCompatible, Some(key)) => {
                (AdapterKind::OpenAI, AuthData::from_single(key))
            }
            (Provider::OpenAiCompatible, None) => (
                AdapterKind::OpenAI,
                AuthData::RequestOverride {
                    url: format!("{base_url}chat/completions"),
                    headers: Headers::default(),
                },
            ),
            (Provider::Anthropic, Some(key)) => {
                (AdapterKind::Anthropic, AuthData::from_single(key))
            }
            (Provider::Gemini, Some(key)) => (AdapterKind::Gemini, AuthData::from_single(key)),
            // Ollama's native API takes no key; genai sends none.
            (Provider::Ollama, _) => (AdapterKind::Ollama, AuthData::None),
            (provider @ (Provider::OpenAi | Provider::Anthropic | Provider::Gemini), None) => {
                return Err(ConfigError::MissingApiKey(provider));
            }
        };
        let connect_timeout = config.timeout.min(CONNECT_TIMEOUT);
        let client = build_client(connect_timeout)?;
        let target = ServiceTarget {
            endpoint: Endpoint::from_owned(base_url.clone()),
            auth,
            model: ModelIden::new(kind, config.model.clone()),
        };
        Ok(Self {
            client: Mutex::new(client),
            connect_timeout,
            target,
            provider: config.provider,
            model: config.model,
            base_url,
            timeout: config.timeout,
            max_tokens: config.max_tokens,
            stream: config.stream,
            api_key: config.api_key,
        })
    }

    /// The provider this model is reached through.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The model's name as the provider knows it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The client calls go through (a cheap handle on a shared connection pool).
    fn client(&self) -> Client {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts over with a new connection pool.
    fn reconnect(&self) {
        match build_client(self.connect_timeout) {
            Ok(client) => *self.client.lock().unwrap_or_else(|e| e.into_inner()) = client,
            Err(err) => tracing::warn!(%err, "cannot rebuild the model's HTTP client"),
        }
    }

    fn options(&self, request: &ChatRequest) -> ChatOptions {
        let mut options = ChatOptions::default()
            .with_max_tokens(request.max_tokens.unwrap_or(self.max_tokens))
            .with_capture_usage(true)
            .with_capture_content(true)
            .with_capture_tool_calls(true);
        if let Some(temperature) = request.temperature {
            options = options.with_temperature(f64::from(temperature));
        }
        options
    }

    async fn chat_once(
        &self,
        request: g::ChatRequest,
        options: &ChatOptions,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let response = self
            .client()
            .exec_chat(self.target.clone(), request, Some(options))
            .await
            .map_err(|e| self.error(&e))?;
        let text = response.content.texts().concat();
        let tool_calls: Vec<ToolCall> = response
            .content
            .tool_calls()
            .into_iter()
            .map(|call| to_tool_call(call.clone()))
            .collect();
        if !text.is_empty() {
            on_delta(ChatDelta::Text { text: text.clone() });
        }
        for call in &tool_calls {
            on_delta(ChatDelta::ToolCall {
                name: call.name.clone(),
            });
        }
        let stop = to_stop(response.stop_reason.as_ref(), !tool_calls.is_empty());
        let model = response.provider_model_iden.model_name.to_string();
        Ok(ChatResponse {
            text,
            tool_calls,
            usage: to_usage(&response.usage),
            stop,
            model,
        })
    }

    async fn chat_streamed(
        &self,
        request: g::ChatRequest,
        options: &ChatOptions,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let mut stream = self
            .client()
            .exec_chat_stream(self.target.clone(), request, Some(options))
            .await
            .map_err(|e| self.error(&e))?
            .stream;
        let mut text = String::new();
        let mut started_calls: Vec<String> = Vec::new();
        let mut end = None;
        while let Some(event) = stream.next().await {
            match event.map_err(|e| self.error(&e))? {
                ChatStreamEvent::Chunk(chunk) => {
                    text.push_str(&chunk.content);
                    on_delta(ChatDelta::Text {
                        text: chunk.content,
                    });
                }
                ChatStreamEvent::ToolCallChunk(chunk) => {
                    let call = chunk.tool_call;
                    if !call.fn_name.is_empty() && !started_calls.contains(&call.call_id) {
                        started_calls.push(call.call_id);
                        on_delta(ChatDelta::ToolCall { name: call.fn_name });
                    }
                }
                ChatStreamEvent::End(stream_end) => {
                    end = Some(stream_end);
                    break;
                }
                ChatStreamEvent::Start
                | ChatStreamEvent::ReasoningChunk(_)
                | ChatStreamEvent::ThoughtSignatureChunk(_)
                | ChatStreamEvent::Heartbeat => {}
            }
        }
        let Some(end) = end else {
            return Err(LlmError::Unavailable(format!(
                "{} closed the stream before the answer was complete; try again",
                self.who()
            )));
        };
        let tool_calls: Vec<ToolCall> = end
            .captured_tool_calls()
            .unwrap_or_default()
            .into_iter()
            .map(|call| to_tool_call(call.clone()))
            .collect();
        if text.is_empty()
            && let Some(texts) = end.captured_texts()
        {
            text = texts.concat();
        }
        let usage = end
            .captured_usage
            .as_ref()
            .map(to_usage)
            .unwrap_or_default();
        let stop = to_stop(end.captured_stop_reason.as_ref(), !tool_calls.is_empty());
        Ok(ChatResponse {
            text,
            tool_calls,
            usage,
            stop,
            model: self.model.clone(),
        })
    }

    fn who(&self) -> String {
        format!("{} at {}", self.provider, self.base_url)
    }

    /// Turns a genai error into an [`LlmError`] a person can act on, with the key redacted.
    fn error(&self, err: &genai::Error) -> LlmError {
        let who = self.who();
        let model = &self.model;
        let error = match classify(err) {
            Failure::Status(status, body) => {
                let detail = detail(&body);
                match status {
                    401 | 403 => LlmError::Unauthorized(format!(
                        "{who} answered HTTP {status} for model {model}: {detail}; check the API key \
                         stored for this model"
                    )),
                    429 => LlmError::RateLimited(format!(
                        "{who} answered HTTP 429 for model {model}: {detail}"
                    )),
                    404 => LlmError::Protocol(format!(
                        "{who} answered HTTP 404 for model {model}: {detail}; check `model` and \
                         `base_url`"
                    )),
                    500.. => LlmError::Unavailable(format!(
                        "{who} failed with HTTP {status} for model {model}: {detail}"
                    )),
                    _ => LlmError::Protocol(format!(
                        "{who} rejected the request for model {model} with HTTP {status}: {detail}"
                    )),
                }
            }
            Failure::Connect(cause) => LlmError::Unavailable(format!(
                "cannot reach {who}: {cause}; check `base_url` and that the server is running"
            )),
            Failure::ErrorEvent(body) => {
                let detail = detail(&body.to_string());
                // Anthropic names the error in `type`, OpenAI in `type` and `code`.
                let field = |name: &str| {
                    body.pointer(&format!("/error/{name}"))
                        .or_else(|| body.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                match (field("type").as_str(), field("code").as_str()) {
                    ("rate_limit_error" | "requests" | "tokens", _)
                    | (_, "rate_limit_exceeded") => {
                        LlmError::RateLimited(format!("{who}: {detail}"))
                    }
                    ("authentication_error" | "permission_error", _) | (_, "invalid_api_key") => {
                        LlmError::Unauthorized(format!(
                            "{who}: {detail}; check the API key stored for this model"
                        ))
                    }
                    ("overloaded_error" | "api_error" | "server_error", _)
                    | (_, "server_error") => LlmError::Unavailable(format!("{who}: {detail}")),
                    _ => LlmError::Protocol(format!(
                        "{who} reported an error while answering: {detail}"
                    )),
                }
            }
            Failure::Protocol(cause) => {
                LlmError::Protocol(format!("unexpected answer from {who}: {}", clip(&cause)))
            }
        };
        self.redact(error)
    }

    fn redact(&self, error: LlmError) -> LlmError {
        let Some(key) = self.api_key.as_ref().map(|k| k.expose_secret().trim()) else {
            return error;
        };
        if key.len() < 4 {
            return error;
        }
        let clean = |message: String| message.replace(key, "[redacted]");
        match error {
            LlmError::Unauthorized(m) => LlmError::Unauthorized(clean(m)),
            LlmError::RateLimited(m) => LlmError::RateLimited(clean(m)),
            LlmError::Unavailable(m) => LlmError::Unavailable(clean(m)),
            LlmError::Protocol(m) => LlmError::Protocol(clean(m)),
            timeout @ LlmError::Timeout(_) => timeout,
        }
    }
}

#[async_trait]
impl ChatModel for GenaiModel {
    fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let options = self.options(request);
        let genai_request = to_genai_request(request);
        tracing::debug!(
            model = %self.name(),
            stream = self.stream,
            messages = request.messages.len(),
            tools = request.tools.len(),
            "llm call"
        );
        let turn = async {
            if self.stream {
                self.chat_streamed(genai_request, &options, on_delta).await
            } else {
                self.chat_once(genai_request, &options, on_delta).await
            }
        };
        let mut abandoned = Abandoned {
            model: self,
            finished: false,
        };
        let result = match tokio::time::timeout(self.timeout, turn).await {
            Ok(result) => {
                abandoned.finished = true;
                result
            }
            Err(_) => Err(LlmError::Timeout(self.timeout.as_secs().max(1))),
        };
        drop(abandoned);
        result
    }
}

/// Watches one call: dropped before the answer was complete (the caller stopped waiting, or
/// the turn timed out), the call's HTTP/1.1 connection stays busy until the provider finishes
/// the answer, and the pool could hand it to the next call, which would then wait behind it.
/// So the model then starts over with a new pool.
struct Abandoned<'a> {
    model: &'a GenaiModel,
    finished: bool,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.model.reconnect();
        }
    }
}

fn build_client(connect_timeout: Duration) -> Result<Client, ConfigError> {
    Client::builder()
        .with_web_config(WebConfig::default().with_connect_timeout(connect_timeout))
        .build()
        .map_err(|e| ConfigError::Client(e.to_string()))
}

/// Translates the port's request into genai's. Consecutive tool results become one message
/// (Anthropic wants them in one user turn); each result carries its tool's name, which Gemini
/// needs, looked up from the assistant turn that asked for it.
pub(super) fn to_genai_request(request: &ChatRequest) -> g::ChatRequest {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut messages: Vec<g::ChatMessage> = Vec::new();
    let mut results: Vec<g::ToolResponse> = Vec::new();
    for message in &request.messages {
        if let ChatMessage::Tool { call_id, content } = message {
            let mut result = g::ToolResponse::new(call_id.clone(), content.clone());
            if let Some(name) = names.get(call_id.as_str()) {
                result = result.with_fn_name(*name);
            }
            results.push(result);
            continue;
        }
        if !results.is_empty() {
            messages.push(g::ChatMessage::from(std::mem::take(&mut results)));
        }
        match message {
            ChatMessage::User { content } => messages.push(g::ChatMessage::user(content.clone())),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut parts: Vec<ContentPart> = Vec::new();
                if !content.is_empty() {
                    parts.push(ContentPart::Text(content.clone()));
                }
                for call in tool_calls {
                    names.insert(&call.id, &call.name);
                    parts.push(ContentPart::ToolCall(g::ToolCall {
                        call_id: call.id.clone(),
                        fn_name: call.name.clone(),
                        fn_arguments: call.arguments.clone(),
                        thought_signatures: None,
                    }));
                }
                // Providers reject empty assistant turns; an empty one carries nothing anyway.
                if !parts.is_empty() {
                    messages.push(g::ChatMessage::assistant(MessageContent::from_parts(parts)));
                }
            }
            ChatMessage::Tool { .. } => {}
        }
    }
    if !results.is_empty() {
        messages.push(g::ChatMessage::from(results));
    }
    let mut genai_request = g::ChatRequest::new(messages);
    if !request.system.is_empty() {
        genai_request = genai_request.with_system(request.system.clone());
    }
    if !request.tools.is_empty() {
        genai_request = genai_request.with_tools(request.tools.iter().map(|tool| {
            g::Tool::new(tool.name.clone())
                .with_description(tool.description.clone())
                .with_schema(tool.parameters.clone())
        }));
    }
    genai_request
}

pub(super) fn to_tool_call(call: g::ToolCall) -> ToolCall {
    ToolCall {
        id: call.call_id,
        name: call.fn_name,
        arguments: parse_arguments(call.fn_arguments),
    }
}

/// Arguments arrive as an object, or as the JSON text the model wrote; text that is not JSON is
/// kept as a string so the tool runtime can tell the model what was wrong with it.
pub(super) fn parse_arguments(arguments: Value) -> Value {
    match arguments {
        Value::Null => Value::Object(serde_json::Map::new()),
        Value::String(text) if text.trim().is_empty() => Value::Object(serde_json::Map::new()),
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        other => other,
    }
}

pub(super) fn to_usage(usage: &g::Usage) -> Usage {
    let count = |n: Option<i32>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    Usage {
        input_tokens: count(usage.prompt_tokens),
        output_tokens: count(usage.completion_tokens),
    }
}

pub(super) fn to_stop(reason: Option<&g::StopReason>, has_tool_calls: bool) -> StopReason {
    let stop = match reason {
        None | Some(g::StopReason::Completed(_) | g::StopReason::StopSequence(_)) => {
            StopReason::EndTurn
        }
        Some(g::StopReason::ToolCall(_)) => StopReason::ToolUse,
        Some(g::StopReason::MaxTokens(_)) => StopReason::MaxTokens,
        Some(g::StopReason::ContentFilter(_) | g::StopReason::Other(_)) => StopReason::Other,
    };
    // Some servers (Ollama, llama.cpp) say "stop" even when the turn is tool calls.
    if has_tool_calls && stop == StopReason::EndTurn {
        StopReason::ToolUse
    } else {
        stop
    }
}

/// What went wrong, reduced to what decides the [`LlmError`] kind.
enum Failure {
    /// The provider answered with this HTTP status and body.
    Status(u16, String),
    /// No answer: connection refused, reset, DNS, TLS.
    Connect(String),
    /// An error event inside a stream (Anthropic's `event: error`, OpenAI's `{"error": …}`).
    ErrorEvent(Value),
    /// An answer that did not fit the protocol.
    Protocol(String),
}

fn classify(err: &genai::Error) -> Failure {
    use genai::webc::Error as WebError;
    match err {
        genai::Error::HttpError { status, body, .. } => {
            Failure::Status(status.as_u16(), body.clone())
        }
        genai::Error::WebModelCall { webc_error, .. }
        | genai::Error::WebAdapterCall { webc_error, .. } => match webc_error {
            WebError::ResponseFailedStatus { status, body, .. } => {
                Failure::Status(status.as_u16(), body.clone())
            }
            WebError::Reqwest(e) => match e.status() {
                Some(status) => Failure::Status(status.as_u16(), String::new()),
                None => Failure::Connect(cause_chain(e)),
            },
            other => Failure::Protocol(other.to_string()),
        },
        genai::Error::WebStream { error, .. } => match error.downcast_ref::<genai::Error>() {
            Some(inner) => classify(inner),
            None => Failure::Connect(cause_chain(error.as_ref())),
        },
        genai::Error::ChatResponse { body, .. } => Failure::ErrorEvent(body.clone()),
        // Its Display carries the whole request payload; the cause is what matters.
        genai::Error::ChatResponseGeneration { cause, .. } => Failure::Protocol(cause.clone()),
        other => Failure::Protocol(other.to_string()),
    }
}

fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    clip(&text)
}

/// The provider's own message from an error body (`{"error": {"message": …}}` for OpenAI and
/// Anthropic), else the body itself, clipped.
fn detail(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let text = message.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        "no details given".to_owned()
    } else {
        clip(&text)
    }
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
