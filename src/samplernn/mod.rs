//! SampleRNN (Mehri et al. 2017), the tiered audio model of docs/SAMPLERNN_SPEC.md: frame
//! GRU tiers at decreasing rates above a sample-level MLP, on the same typed ops as the
//! GRU language model.

pub mod config;
pub mod layout;
pub mod reference;

pub use config::{SrnnConfig, SrnnPreset, SRNN_PRESETS};
pub use layout::{SrnnEntry, SrnnLayout, SrnnParam};
