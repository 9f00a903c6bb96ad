//! Model hyper-parameters, the flat parameter layout, initialisation and checkpoints.

mod checkpoint;
mod config;
mod init;
mod layout;

pub use checkpoint::{
    load_model, parse_model, sample_rate_metadata, save_model, save_model_as, serialize_f32,
    sort_safetensors_header, tensor_f32, Checkpoint, CODEC, DEFAULT_SAMPLE_RATE,
};
pub use config::{ModelConfig, Preset, PRESETS};
pub use init::init_params;
pub use layout::{ParamEntry, ParamKind, ParamLayout, ALIGN_FLOATS};
