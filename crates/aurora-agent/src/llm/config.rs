//! Which provider and model an agent talks to, and how.
//!
//! ```toml
//! provider = "openai_compatible"        # openai | openai_compatible | anthropic | gemini | ollama
//! model = "qwen2.5-32b-instruct"
//! base_url = "http://vllm.internal:8000/v1"
//! timeout = "3m"                        # whole turn, streaming included
//! max_tokens = 4096                     # when the request does not say
//! stream = true
//! ```
//!
//! The API key is never read from a file: the caller resolves it from the secret store and sets
//! it with [`LlmConfig::with_api_key`].

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How long one turn may take when the configuration does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The answer's token limit when neither the request nor the configuration says.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The API an LLM speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// OpenAI's Chat Completions API at `https://api.openai.com/v1/` (or `base_url`).
    #[serde(rename = "openai")]
    OpenAi,
    /// Any server speaking OpenAI Chat Completions (vLLM, llama.cpp server, Ollama's `/v1`,
    /// LiteLLM, Azure OpenAI's v1 API); `base_url` is required, the API key optional.
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
    /// Anthropic's Messages API at `https://api.anthropic.com/v1/` (or `base_url`).
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google's Gemini API at `https://generativelanguage.googleapis.com/v1beta/` (or `base_url`).
    #[serde(rename = "gemini")]
    Gemini,
    /// Ollama's native API; `base_url` is the server root (default `http://localhost:11434/`).
    #[serde(rename = "ollama")]
    Ollama,
}

impl Provider {
    /// The name used in configuration and in model names (`provider/model`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::OpenAiCompatible => "openai_compatible",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Ollama => "ollama",
        }
    }

    /// Whether calls need an API key.
    pub fn requires_api_key(self) -> bool {
        matches!(
            self,
            Provider::OpenAi | Provider::Anthropic | Provider::Gemini
        )
    }

    /// The provider's own endpoint, when it has one.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some("https://api.openai.com/v1/"),
            Provider::OpenAiCompatible => None,
            Provider::Anthropic => Some("https://api.anthropic.com/v1/"),
            Provider::Gemini => Some("https://generativelanguage.googleapis.com/v1beta/"),
            Provider::Ollama => Some("http://localhost:11434/"),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chat model: the provider, the model name and how to reach it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// The API the model speaks.
    pub provider: Provider,
    /// The model's name as the provider knows it, e.g. `gpt-4o`, `claude-sonnet-4-20250514`.
    pub model: String,
    /// Where the API lives, up to and including the version path (`http://host:8000/v1`).
    /// Required for `openai_compatible`; the others default to the vendor's endpoint.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Resolved from the secret store by the caller; never deserialized.
    #[serde(skip)]
    pub api_key: Option<SecretString>,
    /// Limit on one whole turn, streaming included (`"90s"`, `"3m"`).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The answer's token limit when the request does not set one.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Whether to stream answers (text reaches the caller as it is produced). Turn off for
    /// servers whose streaming is broken.
    #[serde(default = "default_stream")]
    pub stream: bool,
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_max_tokens() -> u32 {
    DEFAULT_MAX_TOKENS
}

fn default_stream() -> bool {
    true
}

impl LlmConfig {
    /// A configuration with the defaults: the vendor's endpoint, no key, streaming on.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
            base_url: None,
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            max_tokens: DEFAULT_MAX_TOKENS,
            stream: true,
        }
    }

    /// Sets the API key (resolved from the secret store).
    pub fn with_api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Sets the endpoint.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the limit on one turn.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Turns streaming on or off.
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Checks what can be checked without calling the provider and returns the endpoint to
    /// use, ending in `/`.
    pub fn validate(&self) -> Result<String, ConfigError> {
        if self.model.trim().is_empty() {
            return Err(ConfigError::EmptyModel);
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.max_tokens == 0 {
            return Err(ConfigError::ZeroMaxTokens);
        }
        let base = match (&self.base_url, self.provider.default_base_url()) {
            (Some(url), _) => url.trim().to_owned(),
            (None, Some(url)) => url.to_owned(),
            (None, None) => return Err(ConfigError::MissingBaseUrl(self.provider)),
        };
        let valid_scheme = base.starts_with("http://") || base.starts_with("https://");
        let has_host = base
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        if !valid_scheme || !has_host || base.contains(char::is_whitespace) || base.contains('?') {
            return Err(ConfigError::InvalidBaseUrl(base));
        }
        if self.api_key.is_none() && self.provider.requires_api_key() {
            return Err(ConfigError::MissingApiKey(self.provider));
        }
        Ok(if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        })
    }
}

/// Why an [`LlmConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `model` is empty.
    #[error("the llm model is empty: set `model` to the provider's model name")]
    EmptyModel,
    /// `timeout` is zero.
    #[error("the llm timeout is zero: set `timeout`, e.g. \"3m\"")]
    ZeroTimeout,
    /// `max_tokens` is zero.
    #[error("the llm max_tokens is zero: set it to a positive number, e.g. 4096")]
    ZeroMaxTokens,
    /// The provider has no default endpoint and none was given.
    #[error("provider {0} needs `base_url`, e.g. \"http://localhost:8000/v1\"")]
    MissingBaseUrl(Provider),
    /// `base_url` is not an http(s) URL without a query.
    #[error("llm base_url {0:?} is not an http(s) URL such as \"http://localhost:8000/v1\"")]
    InvalidBaseUrl(String),
    /// The provider needs a key and none was resolved.
    #[error("provider {0} needs an API key: store it in the secret store and reference it")]
    MissingApiKey(Provider),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for the llm: {0}")]
    Client(String),
}
