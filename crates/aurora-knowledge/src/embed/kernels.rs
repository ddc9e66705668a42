//! The parts of the encoder: matrix products, and the element-wise steps fused and run in
//! place on their outputs (bias, bias with GELU, bias with the residual and layer norm, the
//! attention softmax).
//!
//! Each element-wise kernel is plain Rust written so it vectorises (no branches, no library
//! calls in the loops: `exp` and `erf` are polynomial approximations accurate to a few units in
//! the last place of f32), compiled through [`pulp::Arch::dispatch`] for the best instruction
//! set the CPU has (AVX-512 or AVX2 with FMA, chosen at run time), without unsafe code. The
//! matrix products are the `gemm` crate's, on the calling thread: the encoder runs one pass
//! per core rather than splitting each product.

/// A kernel over a buffer. `run` must be `#[inline(always)]`, and everything it calls too, so
/// that it is compiled inside pulp's function with the SIMD target features (a call to an
/// ordinary function there would be compiled for the baseline x86-64, and `mul_add` become a
/// call to a software `fmaf`).
trait Kernel {
    fn run(self);
}

struct Simd<K>(K);

impl<K: Kernel> pulp::WithSimd for Simd<K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.0.run();
    }
}

/// A matrix in a slice: element `(i, j)` is `data[i·row_stride + j·col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    pub(crate) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    pub(crate) fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        let mat = Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        };
        assert!(
            mat.extent() <= data.len(),
            "a {rows}×{cols} matrix does not fit in {} floats",
            data.len()
        );
        mat
    }

    /// One past the largest index the matrix reads (0 when it is empty).
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
        }
    }
}

/// `dst ← a · b`, where `dst` is `a.rows × b.cols` with rows `dst_row_stride` apart, on the
/// calling thread.
pub(crate) fn matmul(dst: &mut [f32], dst_row_stride: usize, a: Mat<'_>, b: Mat<'_>) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let dst_view = Mat {
        data: dst,
        rows: m,
        cols: n,
        row_stride: dst_row_stride,
        col_stride: 1,
    };
    assert!(
        dst_view.extent() <= dst_view.data.len(),
        "matmul: a {m}×{n} result does not fit in {} floats",
        dst_view.data.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    // Strides of slices this long fit in isize.
    let stride = |s: usize| s as isize;
    // SAFETY: every index gemm touches is inside its slice: `Mat::strided` checked `a`'s and
    // `b`'s extents, and the assertion above `dst`'s. `dst` is borrowed mutably, so it overlaps
    // neither input. `read_dst` is false, so `dst` need not be initialised for gemm (it is).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(dst_row_stride),
            false,
            a.data.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.data.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A layer norm's parameters.
pub(crate) struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// `e^x`, within about 2 ulp of f32 for the results that are normal numbers; clamps its input
/// to [-87, 88] (so `e^-inf` gives about 1.6e-38, not 0).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round x·log2(e) to the nearest integer k with the 1.5·2^23 trick: n's low mantissa bits
    // then hold k + 127, the biased exponent of 2^k (in [1, 254] after the clamp).
    const SHIFT: f32 = 12_582_912.0 + 127.0;
    let n = x.mul_add(LOG2_E, SHIFT);
    let k = n - SHIFT;
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
    // 2^k from n's bits, without a float-to-int conversion (which does not vectorise).
    let scale = f32::from_bits(n.to_bits() << 23);
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

/// `x ← x + bias` for the rows of `x`.
pub(crate) fn add_bias(arch: pulp::Arch, x: &mut [f32], bias: &[f32]) {
    struct AddBias<'a> {
        x: &'a mut [f32],
        bias: &'a [f32],
    }
    impl Kernel for AddBias<'_> {
        #[inline(always)]
        fn run(self) {
            for row in self.x.chunks_exact_mut(self.bias.len()) {
                for (x, b) in row.iter_mut().zip(self.bias) {
                    *x += b;
                }
            }
        }
    }
    assert!(
        !bias.is_empty() && x.len().is_multiple_of(bias.len()),
        "add-bias: the bias does not divide the rows"
    );
    arch.dispatch(Simd(AddBias { x, bias }));
}

/// `x ← act(x + bias)` for the rows of `x`.
pub(crate) fn bias_activation(
    arch: pulp::Arch,
    x: &mut [f32],
    bias: &[f32],
    activation: Activation,
) {
    struct BiasActivation<'a> {
        x: &'a mut [f32],
        bias: &'a [f32],
        activation: Activation,
    }
    impl Kernel for BiasActivation<'_> {
        #[inline(always)]
        fn run(self) {
            let bias = self.bias;
            for row in self.x.chunks_exact_mut(bias.len()) {
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
    assert!(
        !bias.is_empty() && x.len().is_multiple_of(bias.len()),
        "bias-activation: the bias does not divide the rows"
    );
    arch.dispatch(Simd(BiasActivation {
        x,
        bias,
        activation,
    }));
}

/// `x ← layer_norm(x + bias + residual)` over the rows of `x`.
pub(crate) fn bias_residual_norm(
    arch: pulp::Arch,
    x: &mut [f32],
    residual: &[f32],
    bias: &[f32],
    norm: &Norm,
) {
    struct ResidualNorm<'a> {
        x: &'a mut [f32],
        residual: &'a [f32],
        bias: &'a [f32],
        norm: &'a Norm,
    }
    impl Kernel for ResidualNorm<'_> {
        #[inline(always)]
        fn run(self) {
            let Norm { gamma, beta, eps } = self.norm;
            let n = self.bias.len();
            let rows = self
                .x
                .chunks_exact_mut(n)
                .zip(self.residual.chunks_exact(n));
            for (row, res) in rows {
                for ((x, r), b) in row.iter_mut().zip(res).zip(self.bias) {
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
    let n = bias.len();
    assert!(
        n > 0
            && x.len().is_multiple_of(n)
            && residual.len() == x.len()
            && norm.gamma.len() == n
            && norm.beta.len() == n,
        "bias-residual-norm: mismatched shapes"
    );
    arch.dispatch(Simd(ResidualNorm {
        x,
        residual,
        bias,
        norm,
    }));
}

/// Softmax over each row of `len` attention scores, in place.
pub(crate) fn softmax_rows(arch: pulp::Arch, scores: &mut [f32], len: usize) {
    struct Softmax<'a> {
        scores: &'a mut [f32],
        len: usize,
    }
    impl Kernel for Softmax<'_> {
        #[inline(always)]
        fn run(self) {
            for row in self.scores.chunks_exact_mut(self.len) {
                let m = max(row);
                for x in row.iter_mut() {
                    *x = exp(*x - m);
                }
                let inv = 1.0 / sum(row);
                for x in row.iter_mut() {
                    *x *= inv;
                }
            }
        }
    }
    assert!(
        len > 0 && scores.len().is_multiple_of(len),
        "softmax: the rows do not divide the scores"
    );
    arch.dispatch(Simd(Softmax { scores, len }));
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
    fn matmul_follows_the_strides() {
        // a: 3×4 read from a 3×5 buffer; b: the transpose of a 5×4 buffer's first 4 rows.
        let a_buf: Vec<f32> = (0..15).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b_buf: Vec<f32> = (0..20).map(|i| (i % 7) as f32 - 2.0).collect();
        let a = Mat::strided(&a_buf, 3, 4, 5, 1);
        let b = Mat::strided(&b_buf, 4, 4, 1, 4);
        // The result lands in columns 1..5 of a 3×6 buffer; the others stay as they were.
        let mut dst = [-7.0f32; 18];
        matmul(&mut dst[1..], 6, a, b);
        for i in 0..3 {
            assert_eq!(dst[i * 6], -7.0);
            for j in 0..4 {
                let want: f32 = (0..4).map(|k| a_buf[i * 5 + k] * b_buf[j * 4 + k]).sum();
                assert_eq!(dst[i * 6 + 1 + j], want, "({i}, {j})");
            }
            if i < 2 {
                assert_eq!(dst[i * 6 + 5], -7.0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn matmul_refuses_a_view_past_its_slice() {
        let buf = [0f32; 8];
        Mat::strided(&buf, 3, 3, 3, 1);
    }

    #[test]
    fn sum_and_max_cover_every_element() {
        let xs: Vec<f32> = (0..37).map(|i| i as f32).collect();
        assert_eq!(sum(&xs), (0..37).sum::<i32>() as f32);
        assert_eq!(max(&xs), 36.0);
        assert_eq!(max(&xs[..3]), 2.0);
    }
}
