//! A BERT encoder for inference on the CPU, written for throughput.
//!
//! The texts of a pass are packed one after another, without padding: the dense layers run on
//! all their tokens at once, and attention runs per text and head on its own tokens, so no
//! padding is computed and no mask is needed. Query, key and value come from one matrix
//! product, with the attention scale folded into the query weights; each head's context is
//! written straight into its columns of the next layer's input. The element-wise parts are the
//! fused kernels of [`super::kernels`], run on buffers reused across layers and passes.
//!
//! A pass runs on the calling thread alone: the caller runs several passes at once, one per
//! core, which keeps every core busy without a synchronisation point per operation.
//! Numerically the same model as Hugging Face's `BertModel` (within float rounding).

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};
use serde::Deserialize;

use super::kernels::{self, Activation, Norm};

/// The fields of a BERT `config.json` inference needs.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}

fn default_eps() -> f64 {
    1e-12
}

/// A dense layer with its weight stored transposed, `(inputs, outputs)` row-major, ready for
/// `x · W`; the bias is added by the fused kernel that follows the product.
struct Dense {
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    /// `out ← x · W` for `rows` rows of `x`.
    fn apply(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        kernels::matmul(
            out,
            self.outputs,
            kernels::Mat::row_major(x, rows, self.inputs),
            kernels::Mat::row_major(&self.weight_t, self.inputs, self.outputs),
        );
    }
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

pub(crate) struct Bert {
    /// `(vocabulary, hidden)`.
    word_embeddings: Vec<f32>,
    vocabulary: usize,
    /// The position embeddings plus the token type 0 embedding (single-sentence inputs),
    /// `(max_positions, hidden)`.
    position_embeddings: Vec<f32>,
    embeddings_norm: Norm,
    /// Zeros, the bias of the embeddings' layer norm (which has no dense layer before it).
    no_bias: Vec<f32>,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    intermediate: usize,
    activation: Activation,
    max_positions: usize,
    arch: pulp::Arch,
}

/// The activations of one pass, kept between passes so that their memory is reused rather
/// than allocated, zeroed and faulted in again for every layer.
#[derive(Default)]
pub(crate) struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    scores: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
}

/// The first `n` floats of `buf`, grown if needed. Every caller writes all `n` before it reads.
fn take(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: String,
}

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor> {
        let key = format!("{}{name}", self.prefix);
        self.tensors
            .get(&key)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("the weights have no tensor {key}")))?
            .to_dtype(DType::F32)
    }

    fn vec(&self, name: &str) -> Result<Vec<f32>> {
        self.get(name)?.flatten_all()?.to_vec1()
    }

    fn dense(&self, name: &str) -> Result<Dense> {
        dense(
            self.get(&format!("{name}.weight"))?,
            self.vec(&format!("{name}.bias"))?,
        )
    }

    fn norm(&self, name: &str, eps: f64) -> Result<Norm> {
        Ok(Norm {
            gamma: self.vec(&format!("{name}.weight"))?,
            beta: self.vec(&format!("{name}.bias"))?,
            eps: eps as f32,
        })
    }
}

/// A dense layer from PyTorch's `(outputs, inputs)` weight.
fn dense(weight: Tensor, bias: Vec<f32>) -> Result<Dense> {
    let (outputs, inputs) = weight.dims2()?;
    if bias.len() != outputs {
        candle_core::bail!("a bias of {} for {outputs} outputs", bias.len());
    }
    Ok(Dense {
        weight_t: weight.t()?.contiguous()?.flatten_all()?.to_vec1()?,
        bias,
        inputs,
        outputs,
    })
}

impl Bert {
    /// Builds the encoder from the tensors of a `model.safetensors`.
    pub(crate) fn load(tensors: HashMap<String, Tensor>, config: &BertConfig) -> Result<Self> {
        let activation = match config.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => candle_core::bail!("unsupported hidden_act {other:?}"),
        };
        let hidden = config.hidden_size;
        if config.num_attention_heads == 0 || !hidden.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            );
        }
        // Weights saved from `BertModel` have no prefix; from a task model, `bert.` (or the
        // model type).
        let prefix = [
            "",
            "bert.",
            &format!("{}.", config.model_type.as_deref().unwrap_or("")),
        ]
        .into_iter()
        .find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
        .map(str::to_string)
        .ok_or_else(|| {
            candle_core::Error::Msg(
                "the weights have no embeddings.word_embeddings.weight: not a BERT model".into(),
            )
        })?;
        let w = Weights { tensors, prefix };
        let eps = config.layer_norm_eps;
        let head_dim = hidden / config.num_attention_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let a = format!("{p}.attention.self");
            // One (hidden, 3·hidden) product for query, key and value; the query pre-scaled.
            let q_w = (w.get(&format!("{a}.query.weight"))? * scale)?;
            let q_b = (w.get(&format!("{a}.query.bias"))? * scale)?;
            let qkv_w = Tensor::cat(
                &[
                    q_w,
                    w.get(&format!("{a}.key.weight"))?,
                    w.get(&format!("{a}.value.weight"))?,
                ],
                0,
            )?;
            let qkv_b = Tensor::cat(
                &[
                    q_b,
                    w.get(&format!("{a}.key.bias"))?,
                    w.get(&format!("{a}.value.bias"))?,
                ],
                0,
            )?;
            let layer = Layer {
                qkv: dense(qkv_w, qkv_b.to_vec1()?)?,
                attention_out: w.dense(&format!("{p}.attention.output.dense"))?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: w.dense(&format!("{p}.intermediate.dense"))?,
                output: w.dense(&format!("{p}.output.dense"))?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), eps)?,
            };
            let intermediate = layer.intermediate.outputs;
            let shapes = [
                (&layer.qkv, hidden, 3 * hidden),
                (&layer.attention_out, hidden, hidden),
                (&layer.intermediate, hidden, intermediate),
                (&layer.output, intermediate, hidden),
            ];
            if shapes
                .iter()
                .any(|(d, i, o)| d.inputs != *i || d.outputs != *o)
                || [&layer.attention_norm, &layer.output_norm]
                    .iter()
                    .any(|n| n.gamma.len() != hidden || n.beta.len() != hidden)
            {
                candle_core::bail!("layer {i} does not match hidden_size {hidden}");
            }
            layers.push(layer);
        }
        let intermediate = layers.first().map_or(0, |l| l.intermediate.outputs);
        if layers
            .iter()
            .any(|l| l.intermediate.outputs != intermediate)
        {
            candle_core::bail!("the layers have different intermediate sizes");
        }

        let words = w.get("embeddings.word_embeddings.weight")?;
        let (vocabulary, word_dim) = words.dims2()?;
        let positions = w.get("embeddings.position_embeddings.weight")?;
        let (max_positions, position_dim) = positions.dims2()?;
        let token_type0 = w.get("embeddings.token_type_embeddings.weight")?.get(0)?;
        if word_dim != hidden || position_dim != hidden || token_type0.dims1()? != hidden {
            candle_core::bail!("the embeddings do not match hidden_size {hidden}");
        }
        let embeddings_norm = w.norm("embeddings.LayerNorm", eps)?;
        if embeddings_norm.gamma.len() != hidden || embeddings_norm.beta.len() != hidden {
            candle_core::bail!("the embeddings' layer norm does not match hidden_size {hidden}");
        }
        Ok(Bert {
            word_embeddings: words.flatten_all()?.to_vec1()?,
            vocabulary,
            position_embeddings: positions
                .broadcast_add(&token_type0)?
                .flatten_all()?
                .to_vec1()?,
            embeddings_norm,
            no_bias: vec![0.0; hidden],
            layers,
            heads: config.num_attention_heads,
            head_dim,
            hidden,
            intermediate,
            activation,
            max_positions: max_positions.min(config.max_position_embeddings),
            arch: pulp::Arch::new(),
        })
    }

    /// The mean over its tokens of the last hidden states of each sequence of token ids, one
    /// `hidden`-long row per sequence (zeros for an empty one). Runs on the calling thread.
    pub(crate) fn pooled(
        &self,
        seqs: &[&[u32]],
        ws: &mut Workspace,
    ) -> std::result::Result<Vec<Vec<f32>>, String> {
        let h = self.hidden;
        if let Some(long) = seqs.iter().find(|s| s.len() > self.max_positions) {
            return Err(format!(
                "{} tokens exceed the model's {}",
                long.len(),
                self.max_positions
            ));
        }
        if let Some(&id) = seqs
            .iter()
            .flat_map(|s| s.iter())
            .find(|&&id| id as usize >= self.vocabulary)
        {
            return Err(format!(
                "token id {id} is outside the model's vocabulary of {}",
                self.vocabulary
            ));
        }
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let x = take(&mut ws.x, tokens * h);
        // Embeddings: word + position + token type, then layer norm, sequence by sequence.
        let mut start = 0;
        for seq in seqs {
            let rows = &mut x[start..start + seq.len() * h];
            for (&id, row) in seq.iter().zip(rows.chunks_exact_mut(h)) {
                let id = id as usize;
                row.copy_from_slice(&self.word_embeddings[id * h..(id + 1) * h]);
            }
            kernels::bias_residual_norm(
                self.arch,
                rows,
                &self.position_embeddings[..seq.len() * h],
                &self.no_bias,
                &self.embeddings_norm,
            );
            start += seq.len() * h;
        }
        for layer in &self.layers {
            self.layer(layer, seqs, tokens, ws);
        }
        let x = &ws.x[..tokens * h];
        let mut pooled = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for seq in seqs {
            let mut mean = vec![0f32; h];
            for row in x[start * h..(start + seq.len()) * h].chunks_exact(h) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            let n = seq.len().max(1) as f32;
            for m in &mut mean {
                *m /= n;
            }
            pooled.push(mean);
            start += seq.len();
        }
        Ok(pooled)
    }

    /// One encoder layer over the `tokens` rows of `ws.x`, in place.
    fn layer(&self, layer: &Layer, seqs: &[&[u32]], tokens: usize, ws: &mut Workspace) {
        let (h, d) = (self.hidden, self.head_dim);
        let x = &mut ws.x[..tokens * h];
        let qkv = take(&mut ws.qkv, tokens * 3 * h);
        layer.qkv.apply(x, tokens, qkv);
        kernels::add_bias(self.arch, qkv, &layer.qkv.bias);

        let context = take(&mut ws.context, tokens * h);
        let mut start = 0;
        for seq in seqs {
            let len = seq.len();
            if len == 0 {
                continue;
            }
            let scores = take(&mut ws.scores, len * len);
            let qkv = &qkv[start * 3 * h..(start + len) * 3 * h];
            for head in 0..self.heads {
                let col = head * d;
                // scores = q · kᵀ (the scale is in the query weights), softmax by rows.
                kernels::matmul(
                    scores,
                    len,
                    kernels::Mat::strided(&qkv[col..], len, d, 3 * h, 1),
                    kernels::Mat::strided(&qkv[h + col..], d, len, 1, 3 * h),
                );
                kernels::softmax_rows(self.arch, scores, len);
                // context[.., head] = probs · v
                kernels::matmul(
                    &mut context[start * h + col..],
                    h,
                    kernels::Mat::row_major(scores, len, len),
                    kernels::Mat::strided(&qkv[2 * h + col..], len, d, 3 * h, 1),
                );
            }
            start += len;
        }

        let attended = take(&mut ws.attended, tokens * h);
        layer.attention_out.apply(context, tokens, attended);
        kernels::bias_residual_norm(
            self.arch,
            attended,
            x,
            &layer.attention_out.bias,
            &layer.attention_norm,
        );
        let inner = take(&mut ws.inner, tokens * self.intermediate);
        layer.intermediate.apply(attended, tokens, inner);
        kernels::bias_activation(self.arch, inner, &layer.intermediate.bias, self.activation);
        layer.output.apply(inner, tokens, x);
        kernels::bias_residual_norm(
            self.arch,
            x,
            attended,
            &layer.output.bias,
            &layer.output_norm,
        );
    }
}
