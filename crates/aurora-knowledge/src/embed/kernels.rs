//! The element-wise parts of the encoder, fused and run in place on the outputs of the matrix
//! products: bias with GELU, bias with the residual and layer norm, the attention softmax, and
//! the split of the fused query/key/value product into heads.
//!
//! Each kernel is plain Rust written so it vectorises (no branches, no library calls in the
//! loops: `exp` and `erf` are polynomial approximations accurate to a few units in the last
//! place of f32), compiled through [`pulp::Arch::dispatch`] for the best instruction set the
//! CPU has (AVX-512 or AVX2 with FMA, chosen at run time), and spread over rayon's threads by
//! rows. Candle's own element-wise ops run one pass (and one allocation) per op, with `exp` and
//! `erf` from libm one element at a time: they took more time than the matrix products.

use candle_core::{CpuStorage, InplaceOp1, InplaceOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows of about this many floats make one task for rayon.
const TASK_FLOATS: usize = 16 * 1024;

/// A kernel over whole rows. `run` must be `#[inline(always)]`, and everything it calls too, so
/// that it is compiled inside pulp's function with the SIMD target features (a call to an
/// ordinary function there would be compiled for the baseline x86-64, and `mul_add` become a
/// call to a software `fmaf`).
trait RowKernel: Sync {
    /// Runs over `chunk`, whole rows, the first of which is row `first_row` of the tensor.
    fn run(&self, first_row: usize, chunk: &mut [f32]);
}

struct Rows<'a, K> {
    kernel: &'a K,
    first_row: usize,
    chunk: &'a mut [f32],
}

impl<K: RowKernel> pulp::WithSimd for Rows<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.kernel.run(self.first_row, self.chunk);
    }
}

/// Runs `kernel` over `data` in chunks of whole rows of `row_len`, in parallel.
fn par_rows<K: RowKernel>(data: &mut [f32], row_len: usize, kernel: &K) {
    let rows_per_task = (TASK_FLOATS / row_len.max(1)).max(1);
    let arch = pulp::Arch::new();
    data.par_chunks_mut(rows_per_task * row_len)
        .enumerate()
        .for_each(|(i, chunk)| {
            arch.dispatch(Rows {
                kernel,
                first_row: i * rows_per_task,
                chunk,
            })
        });
}

const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// `e^x`, within about 2 ulp of f32 for the results that are normal numbers; clamps its input
/// to [-87, 88] (so `e^-inf` gives about 1.6e-38, not 0).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round x·log2(e) to the nearest integer k with the 1.5·2^23 trick.
    const SHIFT: f32 = 12_582_912.0;
    let k = x.mul_add(LOG2_E, SHIFT) - SHIFT;
    let r = k.mul_add(-LN2_HI, x);
    let r = k.mul_add(-LN2_LO, r);
    // e^r on [-ln2/2, ln2/2], Taylor to degree 7.
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

/// `erf(x)`, Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, plus f32 rounding).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / 0.327_591_1f32.mul_add(a, 1.0);
    let mut p = 1.061_405_4f32;
    p = p.mul_add(t, -1.453_152_1);
    p = p.mul_add(t, 1.421_413_8);
    p = p.mul_add(t, -0.284_496_74);
    p = p.mul_add(t, 0.254_829_6);
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

/// The exact GELU, `x·Φ(x)`.
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The tanh approximation of GELU.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    let y = C * x * 0.044_715f32.mul_add(x * x, 1.0);
    // tanh(y) = 1 − 2 / (e^{2y} + 1)
    let tanh = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// Sum of `xs`, in 16 lanes (so it vectorises).
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut s: f32 = chunks.remainder().iter().sum();
    for a in acc {
        s += a;
    }
    s
}

/// Maximum of `xs` (−∞ when empty), in 16 lanes.
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &x in chunks.remainder().iter().chain(acc.iter()) {
        m = if x > m { x } else { m };
    }
    m
}

/// The activation after the intermediate dense layer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Activation {
    /// The exact GELU (with erf), as `hidden_act: "gelu"`.
    Gelu,
    /// The tanh approximation.
    GeluTanh,
    Relu,
}

fn f32_data<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("a fused op needs a contiguous tensor".into()))?;
    match storage {
        CpuStorage::F32(v) => Ok(&mut v[start..end]),
        _ => candle_core::bail!("a fused op needs f32"),
    }
}

fn f32_src<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("a fused op needs a contiguous tensor".into()))?;
    match storage {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => candle_core::bail!("a fused op needs f32"),
    }
}

/// `x ← act(x + bias)` for the rows of `x`, in place.
pub(crate) struct BiasActivation<'a> {
    pub bias: &'a [f32],
    pub activation: Activation,
}

impl InplaceOp1 for BiasActivation<'_> {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = f32_data(storage, layout)?;
        let n = self.bias.len();
        if n == 0 || !data.len().is_multiple_of(n) {
            candle_core::bail!("bias-activation: bias length {n} does not divide the tensor");
        }
        par_rows(data, n, self);
        Ok(())
    }
}

impl RowKernel for BiasActivation<'_> {
    #[inline(always)]
    fn run(&self, _first_row: usize, chunk: &mut [f32]) {
        let bias = self.bias;
        for row in chunk.chunks_exact_mut(bias.len()) {
            match self.activation {
                Activation::Gelu => {
                    for (x, b) in row.iter_mut().zip(bias) {
                        *x = gelu_erf(*x + b);
                    }
                }
                Activation::GeluTanh => {
                    for (x, b) in row.iter_mut().zip(bias) {
                        *x = gelu_tanh(*x + b);
                    }
                }
                Activation::Relu => {
                    for (x, b) in row.iter_mut().zip(bias) {
                        *x = (*x + b).max(0.0);
                    }
                }
            }
        }
    }
}

/// `x ← layer_norm(x + bias + residual)` over the rows of `x`, in place.
pub(crate) struct BiasResidualNorm<'a> {
    pub bias: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

impl InplaceOp2 for BiasResidualNorm<'_> {
    fn name(&self) -> &'static str {
        "bias-residual-norm"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> Result<()> {
        let data = f32_data(dst, dst_l)?;
        let residual = f32_src(src, src_l)?;
        let n = self.bias.len();
        if n == 0
            || residual.len() != data.len()
            || !data.len().is_multiple_of(n)
            || self.gamma.len() != n
            || self.beta.len() != n
        {
            candle_core::bail!("bias-residual-norm: mismatched shapes");
        }
        par_rows(data, n, &ResidualNorm { op: self, residual });
        Ok(())
    }
}

struct ResidualNorm<'a> {
    op: &'a BiasResidualNorm<'a>,
    residual: &'a [f32],
}

impl RowKernel for ResidualNorm<'_> {
    #[inline(always)]
    fn run(&self, first_row: usize, chunk: &mut [f32]) {
        let BiasResidualNorm {
            bias,
            gamma,
            beta,
            eps,
        } = *self.op;
        let n = bias.len();
        let residual = &self.residual[first_row * n..first_row * n + chunk.len()];
        for (row, res) in chunk.chunks_exact_mut(n).zip(residual.chunks_exact(n)) {
            for ((x, r), b) in row.iter_mut().zip(res).zip(bias) {
                *x += r + b;
            }
            let mean = sum(row) / n as f32;
            for x in row.iter_mut() {
                *x -= mean;
            }
            let mut sq = [0f32; 16];
            let mut chunks = row.chunks_exact(16);
            for c in &mut chunks {
                for (a, x) in sq.iter_mut().zip(c) {
                    *a = x.mul_add(*x, *a);
                }
            }
            let mut var: f32 = chunks.remainder().iter().map(|x| x * x).sum();
            for a in sq {
                var += a;
            }
            let inv = 1.0 / (var / n as f32 + eps).sqrt();
            for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *x = (*x * inv).mul_add(*g, *b);
            }
        }
    }
}

/// Softmax over the last dimension of attention scores `(batch, heads, len, len)`, in place;
/// with a mask (`(batch, len)`, 1 for tokens, 0 for padding) the padding keys get probability
/// 0, as Hugging Face's additive float-minimum bias gives.
pub(crate) struct Softmax<'a> {
    pub mask: Option<&'a [f32]>,
    pub heads: usize,
}

impl InplaceOp1 for Softmax<'_> {
    fn name(&self) -> &'static str {
        "attention-softmax"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let dims = layout.shape().dims().to_vec();
        let data = f32_data(storage, layout)?;
        let [batch, heads, len, len2] = dims[..] else {
            candle_core::bail!("attention-softmax: scores must be (batch, heads, len, len)");
        };
        if len != len2 || heads != self.heads {
            candle_core::bail!("attention-softmax: scores must be (batch, heads, len, len)");
        }
        if let Some(mask) = self.mask
            && mask.len() != batch * len
        {
            candle_core::bail!("attention-softmax: the mask must be (batch, len)");
        }
        if len == 0 {
            return Ok(());
        }
        par_rows(data, len, &SoftmaxRows { op: self, len });
        Ok(())
    }
}

struct SoftmaxRows<'a> {
    op: &'a Softmax<'a>,
    len: usize,
}

impl RowKernel for SoftmaxRows<'_> {
    #[inline(always)]
    fn run(&self, first_row: usize, chunk: &mut [f32]) {
        let len = self.len;
        let rows_per_batch = self.op.heads * len;
        for (i, row) in chunk.chunks_exact_mut(len).enumerate() {
            match self.op.mask {
                None => {
                    let m = max(row);
                    for x in row.iter_mut() {
                        *x = exp(*x - m);
                    }
                }
                Some(mask) => {
                    let b = (first_row + i) / rows_per_batch;
                    let mask = &mask[b * len..(b + 1) * len];
                    for (x, &k) in row.iter_mut().zip(mask) {
                        *x = if k > 0.5 { *x } else { f32::NEG_INFINITY };
                    }
                    let m = max(row);
                    for (x, &k) in row.iter_mut().zip(mask) {
                        *x = exp(*x - m) * k;
                    }
                }
            }
            let inv = 1.0 / sum(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// The fused query/key/value product `(batch·len, 3·hidden)` plus its bias, rearranged to
/// `(3, batch, heads, len, head_dim)` in one pass.
pub(crate) fn split_heads(
    qkv: &Tensor,
    bias: &[f32],
    batch: usize,
    len: usize,
    heads: usize,
    head_dim: usize,
) -> Result<Tensor> {
    struct Split<'a> {
        bias: &'a [f32],
        batch: usize,
        len: usize,
        heads: usize,
        head_dim: usize,
    }
    impl candle_core::CustomOp1 for Split<'_> {
        fn name(&self) -> &'static str {
            "split-heads"
        }

        fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
            let src = f32_src(storage, layout)?;
            let (batch, len, heads, head_dim) = (self.batch, self.len, self.heads, self.head_dim);
            let hidden = heads * head_dim;
            let width = 3 * hidden;
            if src.len() != batch * len * width || self.bias.len() != width {
                candle_core::bail!("split-heads: mismatched shapes");
            }
            let bias = self.bias;
            let mut dst = vec![0f32; src.len()];
            let block = len * head_dim;
            if block > 0 {
                // Blocks of (part, batch, head): len rows of head_dim. (Memory-bound: no SIMD
                // dispatch needed.)
                dst.par_chunks_mut(block).enumerate().for_each(|(i, out)| {
                    let head = i % heads;
                    let b = (i / heads) % batch;
                    let part = i / (heads * batch);
                    let col = part * hidden + head * head_dim;
                    let bias = &bias[col..col + head_dim];
                    for (l, out) in out.chunks_exact_mut(head_dim).enumerate() {
                        let start = (b * len + l) * width + col;
                        for ((o, s), c) in out.iter_mut().zip(&src[start..]).zip(bias) {
                            *o = s + c;
                        }
                    }
                });
            }
            Ok((
                CpuStorage::F32(dst),
                Shape::from((3, batch, heads, len, head_dim)),
            ))
        }
    }
    qkv.apply_op1_no_bwd(&Split {
        bias,
        batch,
        len,
        heads,
        head_dim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                ((got - want) / want).abs() < 4e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn erf_matches_libm() {
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm_erf(f64::from(x));
            let got = f64::from(erf(x));
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
            x += 0.001;
        }
    }

    /// erf in f64 by its Taylor series (|x| < 3) or 1 − erfc's asymptotic bound.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() >= 4.0 {
            return x.signum();
        }
        // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
        let mut term = x;
        let mut total = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn sum_and_max_cover_every_element() {
        let xs: Vec<f32> = (0..37).map(|i| i as f32).collect();
        assert_eq!(sum(&xs), (0..37).sum::<i32>() as f32);
        assert_eq!(max(&xs), 36.0);
        assert_eq!(max(&xs[..3]), 2.0);
    }
}
