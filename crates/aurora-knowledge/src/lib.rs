//! The knowledge base's processing: text extraction from uploaded originals, chunking sized to
//! the embedding model, and embedding models (all-MiniLM-L6-v2 in-process with candle, or an
//! OpenAI-compatible endpoint). Storage and search live behind the ports of
//! `aurora_core::knowledge`.
pub mod chunk;
pub mod embed;
pub mod extract;
pub mod install;
pub mod openai;
