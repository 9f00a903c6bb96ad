//! Plain-Rust f64 CPU reference of the GRU language model (docs/MODEL_SPEC.md), built from
//! one CPU twin per GPU op.
//!
//! This module is the ground truth the GPU engine is tested against. It favours clarity
//! over speed: straightforward loops, f64 everywhere, no unsafe code.
//!
//! Each op `Kernels::record_X` (src/kernels/ops/) has its twin `reference::X` here, in a
//! file of the same family, with the same arguments: the same parameter struct (where the
//! GPU op takes one), slices where the GPU op takes buffers, and f64 where the GPU's
//! parameter is an f32 scale. A twin does exactly what its kernel does, in the same index
//! layout (time-major activations, offsets into flat buffers), so `model` builds the whole
//! model's forward, backward, clipping and Adam from the twins, op by op, as the engine's
//! `Workspace` and `Optimizer` record them.
//!
//! Conventions of the whole-model API (`forward`, `forward_backward`):
//! - Parameters (and gradients) are one flat `&[f64]` in the [`ParamLayout`]; each tensor is
//!   found with `layout.view(params, ParamKind::...)`. The padding between tensors is never
//!   read, and its gradient is always 0 (so Adam leaves it unchanged).
//! - Token windows are `[B, T]` row-major (batch `b`, step `t` at `b * T + t`).
//! - Hidden states are `[L, B, H]`, per-step activations `[B, T, H]`, logits `[B, T, V]`.
//! - GRU weights are `[3H, in]` with row blocks in PyTorch's gate order r, z, n.
//!
//! [`ParamLayout`]: crate::model::ParamLayout

pub mod adam;
pub mod embedding;
pub mod gemm;
mod model;
pub mod reduce;
pub mod sample;
pub mod softmax_xent;
pub mod srnn;
pub mod srnn_sample;
pub mod step;
pub mod step_backward;

pub use adam::{adam, Adam, AdamStep};
pub use embedding::{embed_backward, embed_gather};
pub use gemm::{gemm, Epilogue, Mat};
pub use model::{forward, forward_backward, Backward, Forward};
pub use reduce::{
    clip_coef, clip_grad_norm, colsum, colsum_finish, colsum_partial, sum, sumsq_partial,
};
pub use sample::{sample_cell, sample_cell_draw, sample_draw, sample_logits, SampleBufs};
pub use softmax_xent::{softmax, softmax_xent};
pub use srnn_sample::{srnn_frame_input, srnn_mlp_draw, SrnnTwinSampler};
pub use step::{gru_cell, gru_step};
pub use step_backward::{gru_step_backward, StepBackwardBufs};

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
