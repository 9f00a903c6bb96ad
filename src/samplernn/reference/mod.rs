//! Plain-Rust f64 reference of SampleRNN (docs/SAMPLERNN_SPEC.md): the training forward
//! and backward of one TBPTT chunk, and sample-by-sample generation.
//!
//! This is the ground truth the GPU engine is tested against, and it is tested itself
//! against the PyTorch fixtures in tests/fixtures/samplernn. It favours clarity over speed:
//! per-stream, per-step loops, f64 everywhere, every tensor read in its PyTorch shape from
//! the flat buffer of the [`SrnnLayout`].
//!
//! Conventions (the GPU engine uses the same):
//! - Parameters and gradients are one flat `&[f64]` in the [`SrnnLayout`]; the padding
//!   between tensors is never read, and its gradient is 0.
//! - A chunk window is `[B, L+T]` u32 row-major: `window[b*(L+T) + i] = p[c*T + i]` for
//!   chunk c of the prefixed sequence p. The inputs are `window[..L+T-1]` and the T targets
//!   `window[L..]`. T is a multiple of L.
//! - Hidden states are per tier k (0 = bottom), each `[R, B, D]`.
//! - `reset[b]` starts stream b's every tier from its h0 (broadcast); otherwise from the
//!   carried state.
//! - The conditioning of tier k is `[B, T / n_{k-1}, D]` (n_{-1} = 1): vector m feeds step m
//!   of tier k-1 (or MLP output m for k = 0). Within one stream, tier k's step s writes
//!   vectors s*FS_k .. s*FS_k + FS_k - 1.
//! - The gradient is that of the loss in bits (nats / ln 2), as samplernn-pytorch trains.

mod backward;
mod forward;
mod generate;

pub use backward::forward_backward;
pub use forward::{forward, Forward};
pub use generate::{generate, generate_primed, inverse_cdf, Generated};

use super::{SrnnLayout, SrnnParam};

/// One TBPTT chunk of a batch, as [`forward`] and [`forward_backward`] take it.
#[derive(Clone, Copy)]
pub struct Chunk<'a> {
    /// `[B, L+T]` tokens: the inputs are `window[..L+T-1]`, the targets `window[L..]`.
    pub window: &'a [u32],
    pub batch: usize,
    pub tbptt: usize,
    /// `[B]`: the streams that start every tier from its h0.
    pub reset: &'a [bool],
    /// The carried state, per tier `[R, B, D]`; may be empty when every stream resets.
    pub state: &'a [Vec<f64>],
}

/// A frame tier's input: `deq(x) = 2 * (x / (q/2) - 1)`, in [-2, 2).
pub fn dequantize(token: u32, levels: usize) -> f64 {
    2.0 * (f64::from(token) / (levels as f64 / 2.0) - 1.0)
}

/// samplernn-pytorch's gradient clipping (`hardtanh(grad, -value, value)` in place): every
/// element clamped to [-value, value]. Panics unless `value >= 0`.
pub fn clamp_grads(g: &mut [f64], value: f64) {
    for x in g {
        *x = x.clamp(-value, value);
    }
}

/// The parameters of one model, read tensor by tensor.
#[derive(Clone, Copy)]
struct Weights<'a> {
    layout: &'a SrnnLayout,
    flat: &'a [f64],
}

impl<'a> Weights<'a> {
    fn new(layout: &'a SrnnLayout, flat: &'a [f64]) -> Self {
        assert_eq!(flat.len(), layout.total, "params length != layout total");
        Weights { layout, flat }
    }

    fn get(&self, kind: SrnnParam) -> &'a [f64] {
        self.layout.view(self.flat, kind)
    }
}

/// y = W x for W row-major `[rows, x.len()]`.
fn matvec(w: &[f64], x: &[f64]) -> Vec<f64> {
    w.chunks_exact(x.len())
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

/// x = Wᵀ y for W row-major `[y.len(), cols]`.
fn matvec_t(w: &[f64], y: &[f64], cols: usize) -> Vec<f64> {
    let mut x = vec![0.0; cols];
    for (row, &yi) in w.chunks_exact(cols).zip(y) {
        for (xj, wij) in x.iter_mut().zip(row) {
            *xj += wij * yi;
        }
    }
    x
}

/// g += a bᵀ for g row-major `[a.len(), b.len()]`.
fn add_outer(g: &mut [f64], a: &[f64], b: &[f64]) {
    for (row, &ai) in g.chunks_exact_mut(b.len()).zip(a) {
        for (gij, bj) in row.iter_mut().zip(b) {
            *gij += ai * bj;
        }
    }
}

/// y += x.
fn add_to(y: &mut [f64], x: &[f64]) {
    for (a, b) in y.iter_mut().zip(x) {
        *a += b;
    }
}
