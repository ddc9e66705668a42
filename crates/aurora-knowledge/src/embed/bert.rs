//! A BERT encoder for inference on the CPU, written for throughput with candle's tensors:
//! query, key and value in one matrix product, the attention scale folded into the query
//! weights, candle's fused softmax and layer norm, and no attention mask when a batch has no
//! padding. Numerically the same model as Hugging Face's `BertModel` (within float rounding).

use std::collections::HashMap;

use candle_core::{D, DType, Result, Tensor};
use candle_nn::LayerNorm;
use serde::Deserialize;

use super::kernels::{self, Activation, BiasActivation, BiasResidualNorm, Softmax};

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

/// A dense layer with its weight stored transposed, `(in, out)`, ready for `x · W`; the bias
/// is added by the fused kernel that follows the product.
struct Dense {
    weight_t: Tensor,
    bias: Vec<f32>,
}

/// A layer norm's parameters, for the fused kernels.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
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
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    /// Token type 0 for every token (single-sentence inputs).
    token_type0: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    activation: Activation,
    max_positions: usize,
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

    fn dense(&self, name: &str) -> Result<Dense> {
        Ok(Dense {
            weight_t: self.get(&format!("{name}.weight"))?.t()?.contiguous()?,
            bias: self.get(&format!("{name}.bias"))?.to_vec1()?,
        })
    }

    fn fused_norm(&self, name: &str, eps: f64) -> Result<Norm> {
        Ok(Norm {
            gamma: self.get(&format!("{name}.weight"))?.to_vec1()?,
            beta: self.get(&format!("{name}.bias"))?.to_vec1()?,
            eps: eps as f32,
        })
    }

    fn norm(&self, name: &str, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(
            self.get(&format!("{name}.weight"))?,
            self.get(&format!("{name}.bias"))?,
            eps,
        ))
    }
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
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size,
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
        let head_dim = config.hidden_size / config.num_attention_heads;
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
            layers.push(Layer {
                qkv: Dense {
                    weight_t: qkv_w.t()?.contiguous()?,
                    bias: qkv_b.to_vec1()?,
                },
                attention_out: w.dense(&format!("{p}.attention.output.dense"))?,
                attention_norm: w.fused_norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: w.dense(&format!("{p}.intermediate.dense"))?,
                output: w.dense(&format!("{p}.output.dense"))?,
                output_norm: w.fused_norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let token_types = w.get("embeddings.token_type_embeddings.weight")?;
        Ok(Bert {
            word_embeddings: w.get("embeddings.word_embeddings.weight")?,
            position_embeddings: w.get("embeddings.position_embeddings.weight")?,
            token_type0: token_types.get(0)?,
            embeddings_norm: w.norm("embeddings.LayerNorm", eps)?,
            layers,
            heads: config.num_attention_heads,
            head_dim,
            hidden: config.hidden_size,
            activation,
            max_positions: config.max_position_embeddings,
        })
    }

    /// The last hidden states, `(batch, len, hidden)`, of `ids` (`(batch, len)`, u32) where
    /// `mask` (`(batch, len)`, f32 1/0) marks the real tokens; `padded` says whether any is 0.
    pub(crate) fn forward(&self, ids: &Tensor, mask: &Tensor, padded: bool) -> Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        if len > self.max_positions {
            candle_core::bail!("{len} tokens exceed the model's {}", self.max_positions);
        }
        let words = self
            .word_embeddings
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((batch, len, self.hidden))?;
        let positions = self.position_embeddings.narrow(0, 0, len)?;
        let x = words
            .broadcast_add(&positions)?
            .broadcast_add(&self.token_type0)?;
        let x = x.apply(&self.embeddings_norm)?;
        // The padding keys get no attention (as Hugging Face's float-minimum bias gives).
        let mask = if padded {
            Some(mask.flatten_all()?.to_vec1::<f32>()?)
        } else {
            None
        };
        let mut x = x.reshape((batch * len, self.hidden))?;
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, len, mask.as_deref())?;
        }
        x.reshape((batch, len, self.hidden))
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        batch: usize,
        len: usize,
        mask: Option<&[f32]>,
    ) -> Result<Tensor> {
        let (heads, head_dim) = (self.heads, self.head_dim);
        // (batch·len, 3·hidden) → (3, batch, heads, len, head_dim), with the bias.
        let qkv = kernels::split_heads(
            &x.matmul(&layer.qkv.weight_t)?,
            &layer.qkv.bias,
            batch,
            len,
            heads,
            head_dim,
        )?;
        let q = qkv.get(0)?;
        let k = qkv.get(1)?;
        let v = qkv.get(2)?;
        let probs = q.matmul(&k.t()?)?;
        probs.inplace_op1(&Softmax { mask, heads })?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * len, self.hidden))?;
        let attended = context.matmul(&layer.attention_out.weight_t)?;
        attended.inplace_op2(x, &norm_op(&layer.attention_out, &layer.attention_norm))?;
        let inner = attended.matmul(&layer.intermediate.weight_t)?;
        inner.inplace_op1(&BiasActivation {
            bias: &layer.intermediate.bias,
            activation: self.activation,
        })?;
        let out = inner.matmul(&layer.output.weight_t)?;
        out.inplace_op2(&attended, &norm_op(&layer.output, &layer.output_norm))?;
        Ok(out)
    }
}

fn norm_op<'a>(dense: &'a Dense, norm: &'a Norm) -> BiasResidualNorm<'a> {
    BiasResidualNorm {
        bias: &dense.bias,
        gamma: &norm.gamma,
        beta: &norm.beta,
        eps: norm.eps,
    }
}

/// Mean of `hidden` (`(batch, len, hidden)`) over the tokens `mask` (`(batch, len)`, f32)
/// marks.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask3 = mask.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask3)?.sum(1)?;
    let counts = mask.sum_keepdim(D::Minus1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}
