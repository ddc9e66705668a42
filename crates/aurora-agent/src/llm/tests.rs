#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use aurora_core::llm::{ChatMessage, ChatRequest, StopReason, ToolCall, Usage};
use aurora_core::tool::{ToolEffect, ToolSpec};
use genai::chat::{self as g, ChatRole, ContentPart};
use secrecy::SecretString;
use serde_json::json;

use super::GenaiModel;
use super::config::{ConfigError, LlmConfig, Provider};
use super::model::{parse_arguments, to_genai_request, to_stop};
use super::pricing::{ModelPrice, estimate_cost};

#[test]
fn config_parses_from_toml_with_defaults() {
    let config: LlmConfig = toml::from_str(
        r#"
        provider = "openai_compatible"
        model = "qwen2.5"
        base_url = "http://localhost:8000/v1"
        timeout = "90s"
        "#,
    )
    .unwrap();
    assert_eq!(config.provider, Provider::OpenAiCompatible);
    assert_eq!(config.timeout, Duration::from_secs(90));
    assert_eq!(config.max_tokens, super::DEFAULT_MAX_TOKENS);
    assert!(config.stream);
    assert_eq!(config.validate().unwrap(), "http://localhost:8000/v1/");
}

#[test]
fn config_parses_every_provider_name_from_json() {
    for (name, provider) in [
        ("openai", Provider::OpenAi),
        ("openai_compatible", Provider::OpenAiCompatible),
        ("anthropic", Provider::Anthropic),
        ("gemini", Provider::Gemini),
        ("ollama", Provider::Ollama),
    ] {
        let config: LlmConfig =
            serde_json::from_value(json!({"provider": name, "model": "m"})).unwrap();
        assert_eq!(config.provider, provider);
        assert_eq!(provider.as_str(), name);
    }
}

#[test]
fn config_errors_name_the_problem() {
    let unknown = serde_json::from_value::<LlmConfig>(json!({"provider": "opneai", "model": "m"}))
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("unknown variant `opneai`"), "{unknown}");
    assert!(unknown.contains("openai_compatible"), "{unknown}");

    let extra =
        toml::from_str::<LlmConfig>("provider = \"openai\"\nmodel = \"m\"\napi_key = \"sk\"")
            .unwrap_err()
            .to_string();
    assert!(extra.contains("unknown field `api_key`"), "{extra}");

    let no_url = LlmConfig::new(Provider::OpenAiCompatible, "m").validate();
    assert_eq!(
        no_url,
        Err(ConfigError::MissingBaseUrl(Provider::OpenAiCompatible))
    );
    let bad_url = LlmConfig::new(Provider::Ollama, "m")
        .with_base_url("localhost:11434")
        .validate();
    assert!(matches!(bad_url, Err(ConfigError::InvalidBaseUrl(_))));
    let no_key = GenaiModel::new(LlmConfig::new(Provider::Anthropic, "claude-sonnet-4"));
    assert_eq!(
        no_key.unwrap_err(),
        ConfigError::MissingApiKey(Provider::Anthropic)
    );
    let blank_key = GenaiModel::new(
        LlmConfig::new(Provider::OpenAi, "gpt-4o").with_api_key(SecretString::from(" ")),
    );
    assert_eq!(
        blank_key.unwrap_err(),
        ConfigError::MissingApiKey(Provider::OpenAi)
    );
    assert!(GenaiModel::new(LlmConfig::new(Provider::Ollama, "llama3.1")).is_ok());
}

#[test]
fn model_debug_does_not_show_the_key() {
    let model = GenaiModel::new(
        LlmConfig::new(Provider::OpenAi, "gpt-4o")
            .with_api_key(SecretString::from("sk-very-secret")),
    )
    .unwrap();
    assert!(!format!("{model:?}").contains("sk-very-secret"));
}

#[test]
fn request_translation_keeps_tool_turns_together() {
    let request = ChatRequest {
        system: "be brief".into(),
        messages: vec![
            ChatMessage::User {
                content: "why is checkout slow?".into(),
            },
            ChatMessage::Assistant {
                content: "looking".into(),
                tool_calls: vec![
                    ToolCall {
                        id: "a".into(),
                        name: "query_metrics".into(),
                        arguments: json!({"q": "up"}),
                    },
                    ToolCall {
                        id: "b".into(),
                        name: "search_logs".into(),
                        arguments: json!({}),
                    },
                ],
            },
            ChatMessage::Tool {
                call_id: "a".into(),
                content: "1".into(),
            },
            ChatMessage::Tool {
                call_id: "b".into(),
                content: "none".into(),
            },
        ],
        tools: vec![ToolSpec {
            name: "query_metrics".into(),
            description: "PromQL".into(),
            parameters: json!({"type": "object"}),
            effect: ToolEffect::ReadOnly,
        }],
        max_tokens: None,
        temperature: None,
    };
    let translated = to_genai_request(&request);
    assert_eq!(translated.system.as_deref(), Some("be brief"));
    assert_eq!(translated.messages.len(), 3);
    assert_eq!(translated.messages[1].content.tool_calls().len(), 2);
    let results = &translated.messages[2];
    assert!(matches!(results.role, ChatRole::Tool));
    let responses: Vec<&g::ToolResponse> = results
        .content
        .parts()
        .iter()
        .filter_map(|part| match part {
            ContentPart::ToolResponse(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[1].fn_name.as_deref(), Some("search_logs"));
    assert_eq!(
        translated.tools.unwrap()[0].name.to_string(),
        "query_metrics"
    );
}

#[test]
fn arguments_and_stop_reasons_are_normalised() {
    assert_eq!(parse_arguments(json!("{\"a\":1}")), json!({"a": 1}));
    assert_eq!(parse_arguments(json!("")), json!({}));
    assert_eq!(parse_arguments(json!(null)), json!({}));
    assert_eq!(parse_arguments(json!("{\"a\":")), json!("{\"a\":"));
    let stop = g::StopReason::from("stop".to_owned());
    assert_eq!(to_stop(Some(&stop), true), StopReason::ToolUse);
    assert_eq!(to_stop(Some(&stop), false), StopReason::EndTurn);
    let length = g::StopReason::from("max_tokens".to_owned());
    assert_eq!(to_stop(Some(&length), false), StopReason::MaxTokens);
}

#[test]
fn pricing_matches_families_and_snapshots() {
    let none = HashMap::new();
    let usage = Usage {
        input_tokens: 1_000_000,
        output_tokens: 1_000_000,
    };
    let cost = |model: &str| estimate_cost(model, usage, &none);
    assert_eq!(cost("gpt-4o"), Some(12.5));
    assert_eq!(cost("gpt-4o-2024-08-06"), Some(12.5));
    assert_eq!(cost("gpt-4o-2024-05-13"), Some(20.0));
    assert_eq!(cost("openai/gpt-4o-mini"), Some(0.75));
    assert_eq!(cost("gpt-4.1-mini-2025-04-14"), Some(2.0));
    assert_eq!(cost("claude-3-5-sonnet-20241022"), Some(18.0));
    assert_eq!(cost("claude-sonnet-4-20250514"), Some(18.0));
    assert_eq!(cost("claude-3-5-haiku-latest"), Some(4.8));
    assert_eq!(cost("models/gemini-2.5-pro"), Some(11.25));
    assert_eq!(cost("gemini-2.5-flash-lite"), Some(0.5));
    assert_eq!(cost("gemini-2.5-flash-preview-05-20"), Some(2.8));
    assert_eq!(cost("gpt-4o-realtime-preview"), None);
    assert_eq!(cost("llama3.1:8b"), None);

    let overrides = HashMap::from([
        (
            "llama3.1:8b".to_owned(),
            ModelPrice {
                input_usd_per_mtok: 0.0,
                output_usd_per_mtok: 0.0,
            },
        ),
        (
            "gpt-4o".to_owned(),
            ModelPrice {
                input_usd_per_mtok: 1.0,
                output_usd_per_mtok: 1.0,
            },
        ),
    ]);
    assert_eq!(
        estimate_cost("ollama/llama3.1:8b", usage, &overrides),
        Some(0.0)
    );
    assert_eq!(
        estimate_cost("gpt-4o-2024-11-20", usage, &overrides),
        Some(2.0)
    );
    let price: ModelPrice =
        toml::from_str("input_usd_per_mtok = 1.5\noutput_usd_per_mtok = 2").unwrap();
    assert_eq!(price.output_usd_per_mtok, 2.0);
}
