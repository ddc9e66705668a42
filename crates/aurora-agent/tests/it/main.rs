//! Integration tests for aurora-agent.

#![allow(clippy::unwrap_used)]

mod harness;
mod investigate;
mod knowledge;
mod llm;
mod tools;
