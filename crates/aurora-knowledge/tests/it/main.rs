//! Integration tests of aurora-knowledge: extraction on real files of each format (made by the
//! tests), chunking, embeddings against sentence-transformers' reference vectors (with
//! `AURORA_MODEL_DIR`), the OpenAI-compatible client, and model installation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod chunk;
mod embed;
mod embed_openai;
mod extract;
mod install;
