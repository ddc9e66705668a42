//! Integration tests for aurora-agent.

#![allow(clippy::unwrap_used)]

mod llm;
