//! gruwave: GRU language models on music, trained and sampled in WGSL compute shaders.

pub mod gpu;
pub mod kernels;
pub mod model;
pub mod reference;
pub mod train;

pub use gpu::Gpu;
pub use kernels::Kernels;
pub use model::{ModelConfig, ParamLayout, Preset};
pub use train::{StepStats, TrainOptions, Trainer};
