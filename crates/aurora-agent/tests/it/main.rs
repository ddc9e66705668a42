//! Integration tests for aurora-agent.

#![allow(clippy::unwrap_used)]

mod harness;
mod investigate;
mod llm;
mod tools;
