//! LLM providers: [`GenaiModel`] implements the core [`ChatModel`](aurora_core::llm::ChatModel)
//! port over the `genai` crate for OpenAI, OpenAI-compatible servers (vLLM, llama.cpp, Azure
//! OpenAI-compatible gateways), Anthropic, Gemini and Ollama, configured by an [`LlmConfig`];
//! [`pricing`] turns token usage into an estimated cost.

mod config;
mod model;
pub mod pricing;

#[cfg(test)]
mod tests;

pub use config::{ConfigError, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT, LlmConfig, Provider};
pub use model::GenaiModel;
pub use pricing::{ModelPrice, estimate_cost};
