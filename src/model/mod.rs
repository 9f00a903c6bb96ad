//! Model hyper-parameters, the flat parameter layout, initialisation and checkpoints.

mod config;
mod layout;

pub use config::{ModelConfig, Preset, PRESETS};
pub use layout::{ParamEntry, ParamKind, ParamLayout, ALIGN_FLOATS};
