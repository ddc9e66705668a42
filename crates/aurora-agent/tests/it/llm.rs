//! `GenaiModel` against the scripted LLM server, over the OpenAI Chat Completions and Anthropic
//! Messages wire formats, streamed and not.

use std::sync::Mutex;
use std::time::Duration;

use aurora_agent::llm::{GenaiModel, LlmConfig, Provider};
use aurora_core::llm::{
    ChatDelta, ChatMessage, ChatModel, ChatRequest, ChatResponse, LlmError, StopReason, Usage,
};
use aurora_core::tool::{ToolEffect, ToolSpec};
use aurora_testkit::llm::{RecordedRequest, ScriptedLlm, ScriptedTurn, WireApi};
use secrecy::SecretString;
use serde_json::{Value, json};

const SYSTEM: &str = "You are Aurora, an incident investigator.";
const QUESTION: &str = "Why is checkout slow?";
const RESULT: &str = r#"{"p99_ms": 2300, "source": "prometheus"}"#;

fn model_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "claude-sonnet-4-20250514",
        _ => "qwen2.5-32b-instruct",
    }
}

fn config(server: &ScriptedLlm, provider: Provider, stream: bool) -> LlmConfig {
    LlmConfig::new(provider, model_name(provider))
        .with_base_url(server.base_url())
        .with_api_key(SecretString::from(ScriptedLlm::API_KEY))
        .with_stream(stream)
        .with_timeout(Duration::from_secs(10))
}

fn model(server: &ScriptedLlm, provider: Provider, stream: bool) -> GenaiModel {
    GenaiModel::new(config(server, provider, stream)).unwrap()
}

fn query_metrics() -> ToolSpec {
    ToolSpec {
        name: "query_metrics".into(),
        description: "Runs a PromQL query over a time window".into(),
        parameters: json!({
            "type": "object",
            "properties": {"query": {"type": "string"}, "window": {"type": "string"}},
            "required": ["query"],
        }),
        effect: ToolEffect::ReadOnly,
    }
}

fn first_request() -> ChatRequest {
    ChatRequest {
        system: SYSTEM.into(),
        messages: vec![ChatMessage::User {
            content: QUESTION.into(),
        }],
        tools: vec![query_metrics()],
        max_tokens: Some(1000),
        temperature: Some(0.0),
    }
}

/// Runs one turn, returning the answer and the deltas the sink saw.
async fn chat(
    model: &GenaiModel,
    request: &ChatRequest,
) -> (Result<ChatResponse, LlmError>, Vec<ChatDelta>) {
    let deltas = Mutex::new(Vec::new());
    let sink = |delta: ChatDelta| deltas.lock().unwrap().push(delta);
    let result = model.chat(request, &sink).await;
    (result, deltas.into_inner().unwrap())
}

fn streamed_text(deltas: &[ChatDelta]) -> String {
    deltas
        .iter()
        .filter_map(|d| match d {
            ChatDelta::Text { text } => Some(text.as_str()),
            ChatDelta::ToolCall { .. } => None,
        })
        .collect()
}

fn tool_call_deltas(deltas: &[ChatDelta]) -> Vec<&str> {
    deltas
        .iter()
        .filter_map(|d| match d {
            ChatDelta::ToolCall { name } => Some(name.as_str()),
            ChatDelta::Text { .. } => None,
        })
        .collect()
}

/// A whole tool-using conversation: text then a tool call with arguments split across chunks,
/// the tool result sent back in the vendor's format, then the final answer.
async fn conversation(provider: Provider, stream: bool) {
    let arguments = json!({
        "query": "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket{service=\"checkout\"}[5m]))",
        "window": "15m",
    });
    let server = ScriptedLlm::start([
        ScriptedTurn::TextThenTools(
            "Checking checkout latency.".into(),
            vec![("query_metrics".into(), arguments.clone())],
        )
        .with_usage(321, 45),
        ScriptedTurn::text("Checkout is slow because its database is saturated."),
    ])
    .await;
    let model = model(&server, provider, stream);

    let (first, deltas) = chat(&model, &first_request()).await;
    let first = first.unwrap();
    assert_eq!(first.text, "Checking checkout latency.");
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].name, "query_metrics");
    assert_eq!(first.tool_calls[0].arguments, arguments);
    assert!(!first.tool_calls[0].id.is_empty());
    assert_eq!(first.stop, StopReason::ToolUse);
    assert_eq!(
        first.usage,
        Usage {
            input_tokens: 321,
            output_tokens: 45
        }
    );
    assert_eq!(streamed_text(&deltas), first.text);
    assert_eq!(tool_call_deltas(&deltas), ["query_metrics"]);
    if stream {
        assert!(
            deltas.len() > 3,
            "text arrives in pieces when streamed: {deltas:?}"
        );
    }

    let call = first.tool_calls[0].clone();
    let mut follow_up = first_request();
    follow_up.messages.push(ChatMessage::Assistant {
        content: first.text.clone(),
        tool_calls: vec![call.clone()],
    });
    follow_up.messages.push(ChatMessage::Tool {
        call_id: call.id.clone(),
        content: RESULT.into(),
    });
    let (second, deltas) = chat(&model, &follow_up).await;
    let second = second.unwrap();
    assert_eq!(
        second.text,
        "Checkout is slow because its database is saturated."
    );
    assert!(second.tool_calls.is_empty());
    assert_eq!(second.stop, StopReason::EndTurn);
    assert_eq!(
        second.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 20
        }
    );
    assert_eq!(streamed_text(&deltas), second.text);
    assert_eq!(server.remaining(), 0);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.authorized));
    match provider {
        Provider::Anthropic => check_anthropic_requests(&requests, stream, &call.id, &arguments),
        _ => check_openai_requests(&requests, stream, &call.id, &arguments),
    }
}

fn check_openai_requests(requests: &[RecordedRequest], stream: bool, call_id: &str, args: &Value) {
    let first = &requests[0];
    assert_eq!(first.api, WireApi::OpenAi);
    let bearer = format!("Bearer {}", ScriptedLlm::API_KEY);
    assert_eq!(first.header("authorization"), Some(bearer.as_str()));
    let body = &first.body;
    assert_eq!(body["model"], "qwen2.5-32b-instruct");
    assert_eq!(body["stream"], stream);
    if stream {
        assert_eq!(body["stream_options"]["include_usage"], true);
    }
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": SYSTEM})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": QUESTION})
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "query_metrics");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["query"])
    );

    let messages = requests[1].body["messages"].as_array().unwrap();
    let assistant = &messages[2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["tool_calls"][0]["id"], call_id);
    assert_eq!(
        assistant["tool_calls"][0]["function"]["name"],
        "query_metrics"
    );
    let sent_args: Value = serde_json::from_str(
        assistant["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(&sent_args, args);
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": call_id, "content": RESULT})
    );
}

fn check_anthropic_requests(
    requests: &[RecordedRequest],
    stream: bool,
    call_id: &str,
    args: &Value,
) {
    let first = &requests[0];
    assert_eq!(first.api, WireApi::Anthropic);
    assert_eq!(first.header("x-api-key"), Some(ScriptedLlm::API_KEY));
    assert!(first.header("anthropic-version").is_some());
    let body = &first.body;
    assert_eq!(body["model"], "claude-sonnet-4-20250514");
    assert_eq!(body["stream"], stream);
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(body["system"], SYSTEM);
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["tools"][0]["name"], "query_metrics");
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["query"])
    );

    let messages = requests[1].body["messages"].as_array().unwrap();
    let assistant = &messages[1];
    assert_eq!(assistant["role"], "assistant");
    let tool_use = assistant["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool_use["id"], call_id);
    assert_eq!(tool_use["name"], "query_metrics");
    assert_eq!(&tool_use["input"], args);
    let results = &messages[2];
    assert_eq!(results["role"], "user");
    assert_eq!(
        results["content"][0],
        json!({"type": "tool_result", "tool_use_id": call_id, "content": RESULT})
    );
}

#[tokio::test]
async fn openai_compatible_conversation_not_streamed() {
    conversation(Provider::OpenAiCompatible, false).await;
}

#[tokio::test]
async fn openai_compatible_conversation_streamed() {
    conversation(Provider::OpenAiCompatible, true).await;
}

#[tokio::test]
async fn anthropic_conversation_not_streamed() {
    conversation(Provider::Anthropic, false).await;
}

#[tokio::test]
async fn anthropic_conversation_streamed() {
    conversation(Provider::Anthropic, true).await;
}

const MODES: [(Provider, bool); 4] = [
    (Provider::OpenAiCompatible, false),
    (Provider::OpenAiCompatible, true),
    (Provider::Anthropic, false),
    (Provider::Anthropic, true),
];

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_not_repeated() {
    for (provider, stream) in MODES {
        let server = ScriptedLlm::start([ScriptedTurn::text("never sent")]).await;
        let wrong = "sk-wrong-key-1234567890";
        let model = GenaiModel::new(
            config(&server, provider, stream).with_api_key(SecretString::from(wrong)),
        )
        .unwrap();
        let (result, _) = chat(&model, &first_request()).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, LlmError::Unauthorized(_)),
            "{provider} stream={stream}: {err:?}"
        );
        assert!(!err.is_transient());
        assert!(!err.to_string().contains(wrong), "{err}");
        assert!(err.to_string().contains("check the API key"), "{err}");
        assert_eq!(server.remaining(), 1, "a refused request uses no turn");
        assert!(!server.requests()[0].authorized);
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient() {
    for (provider, stream) in MODES {
        let server = ScriptedLlm::start([
            ScriptedTurn::Status(429),
            ScriptedTurn::Status(503),
            ScriptedTurn::Status(400),
            ScriptedTurn::text("recovered"),
        ])
        .await;
        let model = model(&server, provider, stream);
        let (limited, _) = chat(&model, &first_request()).await;
        let limited = limited.unwrap_err();
        assert!(
            matches!(limited, LlmError::RateLimited(_)),
            "{provider} stream={stream}: {limited:?}"
        );
        assert!(limited.is_transient());
        let (down, _) = chat(&model, &first_request()).await;
        let down = down.unwrap_err();
        assert!(
            matches!(down, LlmError::Unavailable(_)),
            "{provider} stream={stream}: {down:?}"
        );
        let (bad, _) = chat(&model, &first_request()).await;
        let bad = bad.unwrap_err();
        assert!(
            matches!(bad, LlmError::Protocol(_)),
            "{provider} stream={stream}: {bad:?}"
        );
        assert!(!bad.is_transient());
        let (ok, _) = chat(&model, &first_request()).await;
        assert_eq!(ok.unwrap().text, "recovered");
    }
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    for (provider, stream) in MODES {
        let server =
            ScriptedLlm::start([ScriptedTurn::text("too late").delayed(Duration::from_secs(5))])
                .await;
        let model = GenaiModel::new(
            config(&server, provider, stream).with_timeout(Duration::from_millis(300)),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let (result, _) = chat(&model, &first_request()).await;
        assert_eq!(result.unwrap_err(), LlmError::Timeout(1));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for (provider, stream) in MODES {
        let config = LlmConfig::new(provider, model_name(provider))
            .with_base_url(format!("http://127.0.0.1:{port}/v1"))
            .with_api_key(SecretString::from("sk-unreachable-secret"))
            .with_stream(stream);
        let model = GenaiModel::new(config).unwrap();
        let (result, _) = chat(&model, &first_request()).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, LlmError::Unavailable(_)),
            "{provider} stream={stream}: {err:?}"
        );
        assert!(err.to_string().contains("base_url"), "{err}");
    }
}

#[tokio::test]
async fn an_openai_compatible_server_without_a_key() {
    let server = ScriptedLlm::start_with_key(
        [
            ScriptedTurn::text("local answer"),
            ScriptedTurn::text("local answer"),
        ],
        None,
    )
    .await;
    for stream in [false, true] {
        let config = LlmConfig::new(Provider::OpenAiCompatible, "llama3.1")
            .with_base_url(server.base_url())
            .with_stream(stream);
        let model = GenaiModel::new(config).unwrap();
        assert_eq!(model.name(), "openai_compatible/llama3.1");
        let (result, _) = chat(&model, &first_request()).await;
        assert_eq!(result.unwrap().text, "local answer");
    }
    for request in server.requests() {
        assert_eq!(request.header("authorization"), None);
    }
}

#[tokio::test]
async fn a_responder_scripts_by_content() {
    let server = ScriptedLlm::with_responder(|body| {
        let has_result = body["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|m| m["role"] == "tool"));
        if has_result {
            ScriptedTurn::text("done")
        } else {
            ScriptedTurn::tool_call("query_metrics", json!({"query": "up"}))
        }
    })
    .await;
    let model = model(&server, Provider::OpenAiCompatible, true);
    let (first, deltas) = chat(&model, &first_request()).await;
    let first = first.unwrap();
    assert_eq!(first.text, "");
    assert_eq!(first.tool_calls[0].arguments, json!({"query": "up"}));
    assert_eq!(tool_call_deltas(&deltas), ["query_metrics"]);
    let mut follow_up = first_request();
    follow_up.messages.push(ChatMessage::Assistant {
        content: String::new(),
        tool_calls: first.tool_calls.clone(),
    });
    follow_up.messages.push(ChatMessage::Tool {
        call_id: first.tool_calls[0].id.clone(),
        content: "1".into(),
    });
    let (second, _) = chat(&model, &follow_up).await;
    assert_eq!(second.unwrap().text, "done");
}

#[tokio::test]
async fn an_error_in_the_middle_of_a_stream_is_classified() {
    for provider in [Provider::OpenAiCompatible, Provider::Anthropic] {
        let server = ScriptedLlm::start([
            ScriptedTurn::FailMidStream(529),
            ScriptedTurn::FailMidStream(429),
        ])
        .await;
        let model = model(&server, provider, true);
        let (overloaded, deltas) = chat(&model, &first_request()).await;
        let overloaded = overloaded.unwrap_err();
        assert!(
            matches!(overloaded, LlmError::Unavailable(_)),
            "{provider}: {overloaded:?}"
        );
        assert_eq!(streamed_text(&deltas), "Partial answer");
        let (limited, _) = chat(&model, &first_request()).await;
        let limited = limited.unwrap_err();
        assert!(limited.is_transient(), "{provider}: {limited:?}");
    }
}
