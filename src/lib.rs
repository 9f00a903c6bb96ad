//! gruwave: GRU language models on music, trained and sampled in WGSL compute shaders.
//!
//! Data flows one way: WAV ([`audio`]) → mu-law tokens ([`codec`]) → TBPTT batches
//! ([`data`]) → GPU buffers and kernels ([`train`], [`kernels`]) → loss, gradients, Adam →
//! checkpoints ([`model`]) → generation.

pub mod audio;
pub mod bench;
pub mod cli;
pub mod codec;
pub mod data;
pub mod fsutil;
pub mod gpu;
pub mod kernels;
pub mod midi;
pub mod model;
pub mod music;
pub mod plot;
pub mod reference;
pub mod sample;
pub mod samplernn;
pub mod train;

pub use gpu::Gpu;
pub use kernels::Kernels;
pub use model::{ModelConfig, ParamLayout, Preset};
pub use train::{StepStats, TrainOptions, Trainer};
