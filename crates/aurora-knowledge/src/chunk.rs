//! Chunking: extracted sections split into chunks that fit the embedding model's input, each
//! carrying its heading path as context.
//!
//! A chunk is embedded as [`Chunk::embedding_input`] — the context line, then the text — so
//! the budget of [`ChunkConfig::max_tokens`] covers the context's tokens, the text's tokens and
//! the model's special tokens (`[CLS]`/`[SEP]`). Splitting is text-splitter's: at the largest
//! semantic boundary (paragraph, line, sentence, word) that keeps the chunk within budget, with
//! a tail of the previous chunk repeated as overlap.

use std::sync::Arc;

use text_splitter::{ChunkConfig as SplitterConfig, ChunkSizer, TextSplitter};
use tokenizers::Tokenizer;
use tracing::warn;

use crate::extract::Extracted;

/// Between the headings of a context.
pub const CONTEXT_SEPARATOR: &str = " › ";

/// How large chunks are, in the embedding model's tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkConfig {
    /// The most tokens of one chunk's embedding input (context, text and special tokens):
    /// the model's maximum sequence length. 256 for all-MiniLM-L6-v2; 500 (overlap 50) suits
    /// longer-context models.
    pub max_tokens: usize,
    /// Tokens of the end of a chunk repeated at the start of the next, so a sentence cut at a
    /// chunk boundary is still found whole.
    pub overlap_tokens: usize,
}

impl ChunkConfig {
    /// Chunks of up to `max_tokens` with about 10% overlap (256 → 25, 500 → 50).
    pub fn for_model(max_tokens: usize) -> Self {
        ChunkConfig {
            max_tokens,
            overlap_tokens: max_tokens / 10,
        }
    }
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig::for_model(256)
    }
}

/// How chunk sizes are measured.
#[derive(Clone)]
pub enum Sizer {
    /// Tokens of the embedding model's tokenizer.
    Tokens(Arc<Tokenizer>),
    /// Without a model tokenizer: four characters count as one token.
    Chars,
}

impl std::fmt::Debug for Sizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sizer::Tokens(_) => f.write_str("Sizer::Tokens"),
            Sizer::Chars => f.write_str("Sizer::Chars"),
        }
    }
}

/// Characters per token for [`Sizer::Chars`].
pub const CHARS_PER_TOKEN: usize = 4;

/// A piece of a document to embed and search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the document, dense from 0.
    pub ordinal: u32,
    /// The heading path, joined with [`CONTEXT_SEPARATOR`]; may be empty.
    pub context: String,
    pub text: String,
}

impl Chunk {
    /// What is given to the embedding model: the context line, then the text.
    pub fn embedding_input(&self) -> String {
        embedding_input(&self.context, &self.text)
    }
}

fn embedding_input(context: &str, text: &str) -> String {
    if context.is_empty() {
        text.to_owned()
    } else {
        format!("{context}\n{text}")
    }
}

/// Splits extracted documents into chunks.
#[derive(Debug)]
pub struct Chunker {
    sizer: Measure,
    config: ChunkConfig,
    /// Tokens the model adds to every input.
    special_tokens: usize,
}

/// The sizer as text-splitter sees it.
#[derive(Clone)]
enum Measure {
    /// A copy of the model's tokenizer without truncation or padding, which would hide a
    /// chunk's real length.
    Tokens(Box<Tokenizer>),
    Chars,
}

impl std::fmt::Debug for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measure::Tokens(_) => f.write_str("Tokens"),
            Measure::Chars => f.write_str("Chars"),
        }
    }
}

impl ChunkSizer for Measure {
    fn size(&self, chunk: &str) -> usize {
        match self {
            Measure::Tokens(tokenizer) => match tokenizer.encode_fast(chunk, false) {
                Ok(encoding) => encoding.len(),
                // A tokenizer that cannot encode some text must not stop indexing: estimate.
                Err(_) => chars_as_tokens(chunk),
            },
            Measure::Chars => chars_as_tokens(chunk),
        }
    }
}

fn chars_as_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

impl Chunker {
    pub fn new(sizer: Sizer, config: ChunkConfig) -> Self {
        let (sizer, special_tokens) = match sizer {
            Sizer::Tokens(tokenizer) => {
                let mut tokenizer = Tokenizer::clone(&tokenizer);
                if let Err(e) = tokenizer.with_truncation(None) {
                    warn!(error = %e, "could not turn off the tokenizer's truncation");
                }
                tokenizer.with_padding(None);
                let special = tokenizer
                    .encode_fast("", true)
                    .map(|e| e.len())
                    .unwrap_or(0);
                (Measure::Tokens(Box::new(tokenizer)), special)
            }
            Sizer::Chars => (Measure::Chars, 0),
        };
        Chunker {
            sizer,
            config,
            special_tokens,
        }
    }

    pub fn config(&self) -> ChunkConfig {
        self.config
    }

    /// The size of a text as this chunker measures it (without special tokens).
    pub fn size(&self, text: &str) -> usize {
        self.sizer.size(text)
    }

    /// The size of a chunk's embedding input, special tokens included; at most
    /// `config.max_tokens` for the chunks this chunker makes (unless a single word is larger).
    pub fn input_size(&self, chunk: &Chunk) -> usize {
        self.special_tokens + self.sizer.size(&chunk.embedding_input())
    }

    /// Chunks every section of a document, ordinals dense from 0.
    pub fn chunk(&self, doc: &Extracted) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for section in &doc.sections {
            let context = section.headings.join(CONTEXT_SEPARATOR);
            self.push_chunks(&mut chunks, &context, &section.text);
        }
        chunks
    }

    /// Chunks one text under one context, ordinals from 0.
    pub fn chunk_text(&self, context: &str, text: &str) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        self.push_chunks(&mut chunks, context, text);
        chunks
    }

    fn push_chunks(&self, chunks: &mut Vec<Chunk>, context: &str, text: &str) {
        let context = self.fit_context(context);
        let reserved = self.special_tokens
            + if context.is_empty() {
                0
            } else {
                self.sizer.size(&format!("{context}\n"))
            };
        let mut capacity = self.config.max_tokens.saturating_sub(reserved).max(1);
        // Tokens of pieces joined are not always the sum of the pieces' tokens: check each
        // chunk and split again, tighter, the few that come out too long.
        for _ in 0..4 {
            let pieces = self.split(text, capacity);
            let over = pieces
                .iter()
                .map(|piece| {
                    self.special_tokens + self.sizer.size(&embedding_input(&context, piece))
                })
                .max()
                .unwrap_or(0);
            if over <= self.config.max_tokens || capacity <= 1 {
                for piece in pieces {
                    chunks.push(Chunk {
                        ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                        context: context.clone(),
                        text: piece,
                    });
                }
                return;
            }
            let excess = over - self.config.max_tokens;
            capacity = capacity.saturating_sub(excess.max(1)).max(1);
        }
        // Still over after tightening (a single token-heavy word): keep the last split.
        for piece in self.split(text, capacity) {
            chunks.push(Chunk {
                ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                context: context.clone(),
                text: piece,
            });
        }
    }

    fn split(&self, text: &str, capacity: usize) -> Vec<String> {
        let overlap = self
            .config
            .overlap_tokens
            .min(capacity.saturating_sub(1) / 2);
        let base = || {
            SplitterConfig::new(capacity)
                .with_sizer(&self.sizer)
                .with_trim(true)
        };
        // The overlap is kept below the capacity above, so this only falls back on a bug.
        let config = base().with_overlap(overlap).unwrap_or_else(|_| base());
        TextSplitter::new(config)
            .chunks(text)
            .map(str::trim)
            .filter(|piece| !piece.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A context of at most half the budget: outer headings are dropped first, then the
    /// innermost is shortened.
    fn fit_context(&self, context: &str) -> String {
        let budget = self.config.max_tokens / 2;
        let mut headings: Vec<&str> = context.split(CONTEXT_SEPARATOR).collect();
        let mut joined = context.to_owned();
        while headings.len() > 1 && self.sizer.size(&joined) > budget {
            headings.remove(0);
            joined = headings.join(CONTEXT_SEPARATOR);
        }
        while self.sizer.size(&joined) > budget && !joined.is_empty() {
            let keep = joined.chars().count() * 3 / 4;
            joined = joined
                .chars()
                .take(keep)
                .collect::<String>()
                .trim_end()
                .to_owned();
        }
        joined
    }
}
