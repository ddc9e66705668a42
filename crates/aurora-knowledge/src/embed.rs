//! all-MiniLM-L6-v2 (or any BERT sentence-transformer with mean pooling) in-process on the CPU
//! with candle: the default embedding model, no service to run.
//!
//! Inputs are truncated to the model's maximum sequence length, embedded in batches sorted by
//! length (so little padding is computed), mean-pooled over the attention mask and
//! L2-normalised — the same vectors sentence-transformers makes, to within 1e-4.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::knowledge::{EmbedError, Embedder};
use candle_core::{Device, Tensor};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use self::bert::{Bert, BertConfig};

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

/// At most this many tokens (padding included) go through one forward pass, whatever the batch
/// size: a batch of long texts is split so that its activations stay a few MB each (the
/// attention scores of 8 texts of 256 tokens are 25 MB) and are reused from the heap, rather
/// than mapped fresh and page-faulted in on every layer (measured about 15% faster at batch 32).
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
    device: Device,
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

        let device = Device::Cpu;
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(|e| model_error(format!("reading {}", weights_path.display()), e))?;
        let tensors = candle_core::safetensors::load_buffer(&weights, &device)
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
                device,
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
    /// most 2048 tokens, padding included, whatever `n`).
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
        // Longest first, so each batch pads to nearly its own length.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));

        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let mut rest = &order[..];
        while let Some(&first) = rest.first() {
            // The first is the longest: the batch pads to its length.
            let len = encodings[first].get_ids().len().max(1);
            let size = (TOKENS_PER_PASS / len)
                .clamp(1, self.batch_size)
                .min(rest.len());
            let (batch, tail) = rest.split_at(size);
            rest = tail;
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = self.forward(&ids)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Embeds one batch of token ids, padded to the longest.
    fn forward(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let err = |e: candle_core::Error| model_error("running the embedding model", e);
        let batch = ids.len();
        let len = ids.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut input = vec![0u32; batch * len];
        let mut mask = vec![0f32; batch * len];
        for (row, seq) in ids.iter().enumerate() {
            input[row * len..row * len + seq.len()].copy_from_slice(seq);
            mask[row * len..row * len + seq.len()].fill(1.0);
        }
        let device = &self.inner.device;
        let padded = ids.iter().any(|s| s.len() < len);
        let input = Tensor::from_vec(input, (batch, len), device).map_err(err)?;
        let mask = Tensor::from_vec(mask, (batch, len), device).map_err(err)?;
        let hidden = self
            .inner
            .model
            .forward(&input, &mask, padded)
            .map_err(err)?;
        let pooled = bert::mean_pool(&hidden, &mask).map_err(err)?;
        let mut rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(err)?;
        for row in &mut rows {
            normalize(row);
        }
        Ok(rows)
    }
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
