//! all-MiniLM-L6-v2 (or any BERT sentence-transformer with mean pooling) in-process on the
//! CPU: the default embedding model, no service to run.
//!
//! Inputs are truncated to the model's maximum sequence length, embedded in passes without
//! padding (one pass per core at a time), mean-pooled over their tokens and L2-normalised —
//! the same vectors sentence-transformers makes, to within 1e-4.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::knowledge::{EmbedError, Embedder};
use candle_core::Device;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use self::bert::{Bert, BertConfig, Workspace};

mod bert;
mod kernels;

/// The name recorded with every vector the default model makes.
pub const MINILM_MODEL: &str = "all-MiniLM-L6-v2";
/// The vector length of all-MiniLM-L6-v2.
pub const MINILM_DIMENSION: usize = 384;
/// The maximum sequence length, in tokens with `[CLS]` and `[SEP]`, when the model folder has no
/// `sentence_bert_config.json` (all-MiniLM-L6-v2 was trained with 256).
pub const DEFAULT_MAX_TOKENS: usize = 256;
/// Texts embedded together in one forward pass by default, at most (a pass also holds at most
/// 2048 tokens, so long texts go 8 at a time).
pub const BATCH_SIZE: usize = 16;

/// At most this many tokens go through one forward pass, whatever the batch size, so that a
/// pass's activations (about 15 KB a token for all-MiniLM-L6-v2) stay in the caches.
const TOKENS_PER_PASS: usize = 2048;

/// The files a model folder must hold.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A BERT sentence-transformer with mean pooling, on the CPU. Cheap to clone: the weights are
/// shared.
#[derive(Clone)]
pub struct MiniLm {
    inner: Arc<Inner>,
    name: Arc<str>,
    batch_size: usize,
}

struct Inner {
    model: Bert,
    /// Truncates to `max_tokens`, no padding: what the model reads.
    model_tokenizer: Tokenizer,
    /// Neither truncates nor pads: what the chunker counts with.
    tokenizer: Arc<Tokenizer>,
    dimension: usize,
    max_tokens: usize,
    dir: PathBuf,
}

impl fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniLm")
            .field("name", &self.name)
            .field("dir", &self.inner.dir)
            .field("dimension", &self.inner.dimension)
            .field("max_tokens", &self.inner.max_tokens)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn model_error(context: impl fmt::Display, err: impl fmt::Display) -> EmbedError {
    EmbedError::Model(format!("{context}: {err}"))
}

impl MiniLm {
    /// Loads the model from a folder holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (and, optionally, `sentence_bert_config.json`), as
    /// `aurora models install` leaves it. Reads about 90 MB; call it once and clone.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        for file in REQUIRED_FILES {
            if !dir.join(file).is_file() {
                return Err(EmbedError::Model(format!(
                    "the embedding model folder {} has no {file}: run `aurora models install` \
                     to install all-MiniLM-L6-v2 there",
                    dir.display()
                )));
            }
        }
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| model_error(format!("reading {}", config_path.display()), e))?;
        let config: BertConfig = serde_json::from_str(&config_text).map_err(|e| {
            model_error(format!("{} is not a BERT config", config_path.display()), e)
        })?;
        let dimension = config.hidden_size;
        let max_positions = config.max_position_embeddings;

        let max_tokens = match std::fs::read_to_string(dir.join("sentence_bert_config.json")) {
            Ok(text) => serde_json::from_str::<SentenceBertConfig>(&text)
                .map_err(|e| model_error("reading sentence_bert_config.json", e))?
                .max_seq_length
                .unwrap_or(DEFAULT_MAX_TOKENS),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_MAX_TOKENS,
            Err(e) => return Err(model_error("reading sentence_bert_config.json", e)),
        }
        .clamp(2, max_positions);

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| model_error(format!("reading {}", tokenizer_path.display()), e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| model_error("configuring the tokenizer", e))?;
        let mut model_tokenizer = tokenizer.clone();
        model_tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| model_error("configuring the tokenizer", e))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(|e| model_error(format!("reading {}", weights_path.display()), e))?;
        let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
            .map_err(|e| model_error(format!("reading {}", weights_path.display()), e))?;
        drop(weights);
        let model = Bert::load(tensors, &config)
            .map_err(|e| model_error(format!("loading {}", weights_path.display()), e))?;

        Ok(MiniLm {
            inner: Arc::new(Inner {
                model,
                model_tokenizer,
                tokenizer: Arc::new(tokenizer),
                dimension,
                max_tokens,
                dir: dir.to_path_buf(),
            }),
            name: Arc::from(MINILM_MODEL),
            batch_size: BATCH_SIZE,
        })
    }

    /// Records vectors under another name (for a different BERT sentence-transformer than
    /// all-MiniLM-L6-v2).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// Embeds at most `n` texts per forward pass (at least 1) instead of [`BATCH_SIZE`] (and at
    /// most 2048 tokens, whatever `n`).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The model's name, recorded with its vectors.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// The tokenizer, without truncation or padding: the chunker sizes chunks with it.
    pub fn tokenizer(&self) -> Arc<Tokenizer> {
        Arc::clone(&self.inner.tokenizer)
    }

    /// The vector length (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.inner.dimension
    }

    /// The maximum sequence length, counting `[CLS]` and `[SEP]`; longer inputs are truncated.
    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    /// One unit-length vector per text, in order. Blocks: CPU-bound work on all cores.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.to_vec();
        let encodings = self
            .inner
            .model_tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| model_error("tokenizing", e))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let passes = passes(&ids, self.batch_size, rayon::current_num_threads());
        let model = &self.inner.model;
        let pooled = passes
            .par_iter()
            .map_init(Workspace::default, |ws, pass| {
                let seqs: Vec<&[u32]> = pass.iter().map(|&i| ids[i]).collect();
                model.pooled(&seqs, ws)
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| model_error("running the embedding model", e))?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (pass, vectors) in passes.iter().zip(pooled) {
            for (&i, mut v) in pass.iter().zip(vectors) {
                normalize(&mut v);
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Splits the sequences `ids` into passes of at most `batch_size` sequences and
/// [`TOKENS_PER_PASS`] tokens, small enough that there are at least `threads` passes when
/// there are as many sequences, longest first (so the passes the threads take last are the
/// short ones); each pass holds the indices of its sequences.
fn passes(ids: &[&[u32]], batch_size: usize, threads: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let total: usize = ids.iter().map(|s| s.len()).sum();
    let budget = TOKENS_PER_PASS.min(total.div_ceil(threads.max(1))).max(1);
    let mut passes: Vec<Vec<usize>> = Vec::new();
    let mut tokens = 0;
    for i in order {
        let len = ids[i].len();
        match passes.last_mut() {
            Some(pass) if pass.len() < batch_size && tokens + len <= budget => {
                pass.push(i);
                tokens += len;
            }
            _ => {
                passes.push(vec![i]);
                tokens = len;
            }
        }
    }
    passes
}

/// Scales `v` to unit L2 norm (as torch's `normalize`, with its 1e-12 floor).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

#[async_trait]
impl Embedder for MiniLm {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.inner.dimension
    }

    fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            this.embed_batch(&refs)
        })
        .await
        .map_err(|e| EmbedError::Model(format!("the embedding task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_respect_the_batch_size_and_token_budget_and_feed_every_thread() {
        let seqs: Vec<Vec<u32>> = [3, 600, 10, 900, 700, 5, 2000, 40]
            .iter()
            .map(|&n| vec![1; n])
            .collect();
        let ids: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let tokens = |pass: &Vec<usize>| pass.iter().map(|&i| ids[i].len()).sum::<usize>();

        let passes = passes(&ids, 16, 2);
        let mut all: Vec<usize> = passes.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..ids.len()).collect::<Vec<_>>(), "every text once");
        assert_eq!(passes[0], vec![6], "longest first");
        assert!(passes.iter().all(|p| tokens(p) <= TOKENS_PER_PASS));

        // Few tokens still make one pass per thread.
        let short: Vec<&[u32]> = ids.iter().copied().filter(|s| s.len() < 50).collect();
        assert_eq!(passes_of(&short, 16, 2), 2);
        assert_eq!(passes_of(&short, 2, 1), 2, "at most two texts a pass");
        assert_eq!(passes_of(&short[..1], 16, 2), 1);
        assert!(super::passes(&[], 16, 2).is_empty());
    }

    fn passes_of(ids: &[&[u32]], batch_size: usize, threads: usize) -> usize {
        passes(ids, batch_size, threads).len()
    }
}
