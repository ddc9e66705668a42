//! Aurora's agent: LLM providers, the tool runtime and durable investigations.
pub mod llm;
