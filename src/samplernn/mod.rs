//! SampleRNN (Mehri et al. 2017), the tiered audio model of docs/SAMPLERNN_SPEC.md: frame
//! GRU tiers at decreasing rates above a sample-level MLP, on the same typed ops as the
//! GRU language model.

pub mod checkpoint;
pub mod config;
pub mod init;
pub mod layout;
pub mod reference;
pub mod sample_plan;
pub mod sampler;
pub mod workspace;

pub use checkpoint::{is_samplernn, load_srnn, parse_srnn, save_srnn, SrnnCheckpoint};
pub use config::{SrnnConfig, SrnnPreset, SRNN_PRESETS};
pub use init::init_params;
pub use layout::{SrnnEntry, SrnnLayout, SrnnParam};
pub use sample_plan::SrnnTrace;
pub use sampler::SrnnSampler;
pub use workspace::SrnnWorkspace;
