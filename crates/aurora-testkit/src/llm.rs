//! A scripted LLM server: speaks the real wire formats of OpenAI Chat Completions
//! (`POST /v1/chat/completions`) and Anthropic Messages (`POST /v1/messages`), streamed and not,
//! on a free loopback port, answering each request with the next [`ScriptedTurn`] of a script
//! (or from a responder closure) and recording every request body for assertions.
//!
//! The payloads follow the vendors' documentation:
//! - OpenAI API reference, "Create chat completion" (<https://platform.openai.com/docs/api-reference/chat/create>),
//!   "The chat completion object" and "The chat completion chunk object"
//!   (<https://platform.openai.com/docs/api-reference/chat-streaming>), and the error codes guide
//!   (<https://platform.openai.com/docs/guides/error-codes>);
//! - Anthropic "Messages" (<https://docs.anthropic.com/en/api/messages>), "Streaming Messages"
//!   (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>) and "Errors"
//!   (<https://docs.anthropic.com/en/api/errors>).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Token usage reported for a turn that does not set its own.
pub const DEFAULT_USAGE: (u64, u64) = (100, 20);

/// How many characters of text or tool arguments go into one streamed chunk, so that JSON
/// arguments always arrive split across chunks.
const CHUNK_CHARS: usize = 7;

/// One answer of the scripted model.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptedTurn {
    /// The model answers with text and ends its turn.
    Text(String),
    /// The model calls tools: `(name, arguments)`.
    ToolCalls(Vec<(String, Value)>),
    /// The model says something, then calls tools.
    TextThenTools(String, Vec<(String, Value)>),
    /// The server fails with this HTTP status and the vendor's error body for it.
    Status(u16),
    /// A streamed answer starts ("Partial answer") and then fails with the vendor's in-stream
    /// error for this status; a request that is not streamed fails with the status itself.
    FailMidStream(u16),
    /// The answer comes after a delay (for timeouts).
    Delayed(Duration, Box<ScriptedTurn>),
    /// A streamed answer whose chunks come this far apart (for following a stream as it is
    /// written).
    Paced(Duration, Box<ScriptedTurn>),
    /// The answer reports this usage instead of [`DEFAULT_USAGE`].
    WithUsage {
        /// Prompt tokens.
        input_tokens: u64,
        /// Answer tokens.
        output_tokens: u64,
        /// The answer.
        turn: Box<ScriptedTurn>,
    },
}

impl ScriptedTurn {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        ScriptedTurn::Text(text.into())
    }

    /// A single tool call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        ScriptedTurn::ToolCalls(vec![(name.into(), arguments)])
    }

    /// This answer, after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        ScriptedTurn::Delayed(delay, Box::new(self))
    }

    /// This answer, its streamed chunks `gap` apart.
    pub fn paced(self, gap: Duration) -> Self {
        ScriptedTurn::Paced(gap, Box::new(self))
    }

    /// This answer, reporting the given usage.
    pub fn with_usage(self, input_tokens: u64, output_tokens: u64) -> Self {
        ScriptedTurn::WithUsage {
            input_tokens,
            output_tokens,
            turn: Box::new(self),
        }
    }
}

/// Which API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireApi {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// A request the server received, authorised or not.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The API it was sent to.
    pub api: WireApi,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// Whether it carried the expected credentials (and, for Anthropic, `anthropic-version`).
    pub authorized: bool,
    /// The request headers, names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of header `name` (lowercase), when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Responder = dyn Fn(&Value) -> ScriptedTurn + Send + Sync;

struct Shared {
    script: Mutex<VecDeque<ScriptedTurn>>,
    responder: Option<Box<Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
    api_key: Option<String>,
    next_id: AtomicU64,
}

/// A running scripted LLM server; stops when dropped.
pub struct ScriptedLlm {
    shared: Arc<Shared>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ScriptedLlm {
    /// The API key the server expects unless started with another.
    pub const API_KEY: &'static str = "sk-scripted-test-key";

    /// Starts a server that answers with `script`, in order, and expects [`Self::API_KEY`].
    pub async fn start(script: impl IntoIterator<Item = ScriptedTurn>) -> Self {
        Self::start_with_key(script, Some(Self::API_KEY)).await
    }

    /// Starts a server that answers with `script` and expects `api_key` (`None`: any or no key).
    pub async fn start_with_key(
        script: impl IntoIterator<Item = ScriptedTurn>,
        api_key: Option<&str>,
    ) -> Self {
        Self::spawn(Shared {
            script: Mutex::new(script.into_iter().collect()),
            responder: None,
            requests: Mutex::new(Vec::new()),
            api_key: api_key.map(str::to_owned),
            next_id: AtomicU64::new(1),
        })
        .await
    }

    /// Starts a server that answers every request with what `responder` makes of its body, and
    /// expects [`Self::API_KEY`].
    pub async fn with_responder(
        responder: impl Fn(&Value) -> ScriptedTurn + Send + Sync + 'static,
    ) -> Self {
        Self::spawn(Shared {
            script: Mutex::new(VecDeque::new()),
            responder: Some(Box::new(responder)),
            requests: Mutex::new(Vec::new()),
            api_key: Some(Self::API_KEY.to_owned()),
            next_id: AtomicU64::new(1),
        })
        .await
    }

    async fn spawn(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the scripted llm");
        let port = listener
            .local_addr()
            .expect("scripted llm local address")
            .port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            base_url: format!("http://127.0.0.1:{port}/v1/"),
            server,
        }
    }

    /// The API root for both wire formats, ending in `/v1/`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many scripted turns are left.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A turn reduced to what goes on the wire.
struct Answer {
    text: String,
    calls: Vec<(String, String, Value)>,
    usage: (u64, u64),
    /// Time between streamed chunks.
    pace: Option<Duration>,
}

enum Next {
    Answer(Answer),
    Fail(u16),
    FailMidStream(u16),
}

impl Shared {
    fn record(&self, api: WireApi, headers: &HeaderMap, body: &Bytes, authorized: bool) -> Value {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let headers = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        lock(&self.requests).push(RecordedRequest {
            api,
            body: body.clone(),
            authorized,
            headers,
        });
        body
    }

    fn next_turn(&self, body: &Value) -> Option<ScriptedTurn> {
        match &self.responder {
            Some(responder) => Some(responder(body)),
            None => lock(&self.script).pop_front(),
        }
    }

    /// Unwraps delays (sleeping them) and usage into an answer or a failure.
    async fn resolve(&self, mut turn: ScriptedTurn, id_prefix: &str) -> Next {
        let mut usage = DEFAULT_USAGE;
        let mut pace = None;
        let next = loop {
            match turn {
                ScriptedTurn::Delayed(delay, inner) => {
                    tokio::time::sleep(delay).await;
                    turn = *inner;
                }
                ScriptedTurn::Paced(gap, inner) => {
                    pace = Some(gap);
                    turn = *inner;
                }
                ScriptedTurn::WithUsage {
                    input_tokens,
                    output_tokens,
                    turn: inner,
                } => {
                    usage = (input_tokens, output_tokens);
                    turn = *inner;
                }
                ScriptedTurn::Status(status) => break Next::Fail(status),
                ScriptedTurn::FailMidStream(status) => break Next::FailMidStream(status),
                ScriptedTurn::Text(text) => {
                    break Next::Answer(self.answer(text, vec![], usage, id_prefix));
                }
                ScriptedTurn::ToolCalls(calls) => {
                    break Next::Answer(self.answer(String::new(), calls, usage, id_prefix));
                }
                ScriptedTurn::TextThenTools(text, calls) => {
                    break Next::Answer(self.answer(text, calls, usage, id_prefix));
                }
            }
        };
        match next {
            Next::Answer(answer) => Next::Answer(Answer { pace, ..answer }),
            other => other,
        }
    }

    fn answer(
        &self,
        text: String,
        calls: Vec<(String, Value)>,
        usage: (u64, u64),
        id_prefix: &str,
    ) -> Answer {
        let calls = calls
            .into_iter()
            .map(|(name, args)| {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                (format!("{id_prefix}{n:04}"), name, args)
            })
            .collect();
        Answer {
            text,
            calls,
            usage,
            pace: None,
        }
    }
}

fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

fn sse_response(events: Vec<String>, pace: Option<Duration>) -> Response {
    use futures::StreamExt;
    let stream =
        futures::stream::iter(events.into_iter().enumerate()).then(move |(i, e)| async move {
            if let Some(gap) = pace.filter(|_| i > 0) {
                tokio::time::sleep(gap).await;
            }
            Ok::<_, Infallible>(Bytes::from(e))
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Splits `text` into pieces of at most [`CHUNK_CHARS`] characters.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(CHUNK_CHARS)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

const EXHAUSTED: &str = "scripted llm: the script has no turn left for this request";

// --- OpenAI Chat Completions ---

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = match &shared.api_key {
        Some(key) => header_is(&headers, "authorization", &format!("Bearer {key}")),
        None => true,
    };
    let request = shared.record(WireApi::OpenAi, &headers, &body, authorized);
    if !authorized {
        return openai_error(401);
    }
    let Some(turn) = shared.next_turn(&request) else {
        return json_response(
            500,
            &json!({"error": {"message": EXHAUSTED, "type": "server_error", "param": null, "code": null}}),
        );
    };
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let model = request.get("model").cloned().unwrap_or(json!("scripted"));
    let id = format!(
        "chatcmpl-{}",
        shared.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let answer = match shared.resolve(turn, "call_").await {
        Next::Fail(status) => return openai_error(status),
        Next::FailMidStream(status) if streamed => {
            return sse_response(openai_stream_failure(&id, &model, status), None);
        }
        Next::FailMidStream(status) => return openai_error(status),
        Next::Answer(answer) => answer,
    };
    if streamed {
        let include_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        sse_response(
            openai_stream(&id, &model, &answer, include_usage),
            answer.pace,
        )
    } else {
        json_response(200, &openai_completion(&id, &model, &answer))
    }
}

/// An error body as OpenAI sends it: `{"error": {"message", "type", "param", "code"}}`.
fn openai_error(status: u16) -> Response {
    json_response(status, &openai_error_body(status))
}

fn openai_error_body(status: u16) -> Value {
    let (kind, code, message) = match status {
        401 => (
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        429 => (
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests. Please try again in 1s.",
        ),
        500..=599 => (
            "server_error",
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => (
            "invalid_request_error",
            "invalid_request",
            "The request was not valid.",
        ),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A stream that starts answering, then carries an error object in a `data:` line, as OpenAI
/// does when a request fails after the response began.
fn openai_stream_failure(id: &str, model: &Value, status: u16) -> Vec<String> {
    let chunk = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Partial answer"},
                     "logprobs": null, "finish_reason": null}],
    });
    vec![
        format!("data: {chunk}\n\n"),
        format!("data: {}\n\n", openai_error_body(status)),
    ]
}

fn openai_usage(answer: &Answer) -> Value {
    let (input, output) = answer.usage;
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

fn openai_finish_reason(answer: &Answer) -> &'static str {
    if answer.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

/// The chat completion object.
fn openai_completion(id: &str, model: &Value, answer: &Answer) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if answer.text.is_empty() { Value::Null } else { json!(answer.text) },
        "refusal": null,
    });
    if !answer.calls.is_empty() {
        message["tool_calls"] = answer
            .calls
            .iter()
            .map(|(call_id, name, args)| {
                json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_scripted",
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": openai_finish_reason(answer),
        }],
        "usage": openai_usage(answer),
    })
}

/// The chat completion chunks, as `data:` lines, ending with `data: [DONE]`.
fn openai_stream(id: &str, model: &Value, answer: &Answer, include_usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        format!("data: {chunk}\n\n")
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in pieces(&answer.text) {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    for (index, (call_id, name, args)) in answer.calls.iter().enumerate() {
        events.push(chunk(
            json!({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in pieces(&args.to_string()) {
            events.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    events.push(chunk(json!({}), json!(openai_finish_reason(answer))));
    if include_usage {
        let last = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [],
            "usage": openai_usage(answer),
        });
        events.push(format!("data: {last}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

// --- Anthropic Messages ---

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let has_version = headers.contains_key("anthropic-version");
    let key_ok = match &shared.api_key {
        Some(key) => header_is(&headers, "x-api-key", key),
        None => true,
    };
    let request = shared.record(WireApi::Anthropic, &headers, &body, key_ok && has_version);
    if !key_ok {
        return anthropic_error(401);
    }
    if !has_version {
        return json_response(
            400,
            &json!({"type": "error", "error": {"type": "invalid_request_error",
                    "message": "anthropic-version: header is required"}}),
        );
    }
    let Some(turn) = shared.next_turn(&request) else {
        return json_response(
            500,
            &json!({"type": "error", "error": {"type": "api_error", "message": EXHAUSTED}}),
        );
    };
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let model = request.get("model").cloned().unwrap_or(json!("scripted"));
    let id = format!("msg_{:08}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    let answer = match shared.resolve(turn, "toolu_").await {
        Next::Fail(status) => return anthropic_error(status),
        Next::FailMidStream(status) if streamed => {
            return sse_response(anthropic_stream_failure(&id, &model, status), None);
        }
        Next::FailMidStream(status) => return anthropic_error(status),
        Next::Answer(answer) => answer,
    };
    if streamed {
        sse_response(anthropic_stream(&id, &model, &answer), answer.pace)
    } else {
        json_response(200, &anthropic_message(&id, &model, &answer))
    }
}

/// An error body as Anthropic sends it: `{"type": "error", "error": {"type", "message"}}`.
fn anthropic_error(status: u16) -> Response {
    json_response(status, &anthropic_error_body(status))
}

fn anthropic_error_body(status: u16) -> Value {
    let (kind, message) = match status {
        400 => (
            "invalid_request_error",
            "There was an issue with the request.",
        ),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => ("not_found_error", "The requested resource was not found."),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => ("rate_limit_error", "Your account has hit a rate limit."),
        529 => ("overloaded_error", "Overloaded"),
        _ => (
            "api_error",
            "An unexpected error has occurred internal to Anthropic's systems.",
        ),
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// A stream that starts a text block, then sends an `error` event, as Anthropic does when it
/// becomes overloaded mid-answer.
fn anthropic_stream_failure(id: &str, model: &Value, status: u16) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "content": [], "model": model,
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": DEFAULT_USAGE.0, "output_tokens": 1},
            }}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": "Partial answer"}}),
        ),
        event("error", anthropic_error_body(status)),
    ]
}

fn anthropic_stop_reason(answer: &Answer) -> &'static str {
    if answer.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

/// The Message object.
fn anthropic_message(id: &str, model: &Value, answer: &Answer) -> Value {
    let mut content = Vec::new();
    if !answer.text.is_empty() {
        content.push(json!({"type": "text", "text": answer.text}));
    }
    for (call_id, name, args) in &answer.calls {
        content.push(json!({"type": "tool_use", "id": call_id, "name": name, "input": args}));
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": anthropic_stop_reason(answer),
        "stop_sequence": null,
        "usage": {"input_tokens": answer.usage.0, "output_tokens": answer.usage.1},
    })
}

/// The streamed events: `message_start`, per block `content_block_start`, deltas and
/// `content_block_stop`, then `message_delta` (stop reason, output usage) and `message_stop`.
fn anthropic_stream(id: &str, model: &Value, answer: &Answer) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": answer.usage.0, "output_tokens": 1},
        }}),
    )];
    let mut index = 0;
    if !answer.text.is_empty() {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(event("ping", json!({"type": "ping"})));
        for piece in pieces(&answer.text) {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    for (call_id, name, args) in &answer.calls {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}}),
        ));
        let mut fragments = vec![String::new()];
        fragments.extend(pieces(&args.to_string()));
        for fragment in fragments {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "input_json_delta", "partial_json": fragment}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": anthropic_stop_reason(answer), "stop_sequence": null},
               "usage": {"output_tokens": answer.usage.1}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}
