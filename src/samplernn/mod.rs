//! SampleRNN (Mehri et al. 2017), the tiered audio model of docs/SAMPLERNN_SPEC.md: frame
//! GRU tiers at decreasing rates above a sample-level MLP, on the same typed ops as the
//! GRU language model.

pub mod config;
pub mod layout;
pub mod workspace;

pub use config::{SrnnConfig, SrnnPreset, SRNN_PRESETS};
pub use layout::{SrnnEntry, SrnnLayout, SrnnParam};
pub use workspace::SrnnWorkspace;
pub mod sample_plan;
pub mod sampler;
pub use sample_plan::SrnnTrace;
pub use sampler::SrnnSampler;
