//! Model checkpoints as safetensors whose tensor names are the PyTorch `state_dict` names,
//! so a model moves between gruwave and PyTorch in both directions.

use super::config::MAX_LAYERS;
use super::{ModelConfig, ParamLayout};
use crate::audio::check_sample_rate;
use crate::codec::Codec;
use crate::fsutil::write_bytes_atomic;
use anyhow::{bail, ensure, Context, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

pub const DEFAULT_SAMPLE_RATE: u32 = 16_000;
/// The codec of a checkpoint without `codec` metadata.
pub const CODEC: &str = "mulaw256";

/// A loaded model: its shape, flat parameters in the layout, and its codec's metadata.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub layout: ParamLayout,
    pub params: Vec<f32>,
    /// The audio rate of a mu-law model (perf388 models have 100 steps per second and
    /// keep the default here).
    pub sample_rate: u32,
    pub codec: Codec,
}

/// Save a mu-law audio model (see [`save_model_as`]).
pub fn save_model(
    path: &Path,
    layout: &ParamLayout,
    params: &[f32],
    sample_rate: u32,
) -> Result<()> {
    save_model_as(path, layout, params, Codec::MuLaw256, sample_rate)
}

/// Save parameters under their state_dict names, with hyper-parameters and the codec in
/// the metadata (perf388: `steps_per_second` instead of a sample rate, docs/MIDI_TOKENS.md).
pub fn save_model_as(
    path: &Path,
    layout: &ParamLayout,
    params: &[f32],
    codec: Codec,
    sample_rate: u32,
) -> Result<()> {
    let c = layout.config;
    let rate = match codec {
        Codec::MuLaw256 => ("sample_rate", sample_rate.to_string()),
        Codec::Perf388 => ("steps_per_second", "100".to_string()),
    };
    let meta: HashMap<String, String> = [
        ("format", "gruwave-grulm-v1".to_string()),
        rate,
        ("codec", codec.name().to_string()),
        ("V", c.vocab.to_string()),
        ("E", c.embed.to_string()),
        ("H", c.hidden.to_string()),
        ("L", c.layers.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = serialize_f32(
        layout.entries.iter().map(|e| {
            (
                e.name.clone(),
                e.shape.clone(),
                &params[e.offset..e.offset + e.len],
            )
        }),
        meta,
    )?;
    write_bytes_atomic(path, &bytes)
}

/// Serialise named f32 tensors with string metadata.
pub fn serialize_f32<'a>(
    tensors: impl Iterator<Item = (String, Vec<usize>, &'a [f32])>,
    meta: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let owned: Vec<(String, Vec<usize>, &[u8])> = tensors
        .map(|(n, s, d)| (n, s, bytemuck::cast_slice::<f32, u8>(d)))
        .collect();
    let views = owned
        .iter()
        .map(|(n, s, d)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut bytes = safetensors::serialize(views, Some(meta))?;
    sort_safetensors_header(&mut bytes)?;
    Ok(bytes)
}

/// Rewrite the JSON header with its keys in sorted order. safetensors writes the metadata
/// map in hash order, which changes from process to process; sorted, the same model always
/// gives the same bytes. The header keeps its length, so tensor offsets stay valid.
pub fn sort_safetensors_header(bytes: &mut [u8]) -> Result<()> {
    let n = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    let header = &bytes[8..8 + n];
    // serde_json's default map is ordered by key.
    let value: serde_json::Value = serde_json::from_slice(header)?;
    let mut sorted = serde_json::to_vec(&value)?;
    anyhow::ensure!(sorted.len() <= n, "safetensors header grew when sorted");
    sorted.resize(n, b' ');
    bytes[8..8 + n].copy_from_slice(&sorted);
    Ok(())
}

/// Read a tensor as f32 (F32, or F64/F16/BF16 converted), naming the tensor on error.
pub fn tensor_f32(st: &SafeTensors, name: &str, file: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = st
        .tensor(name)
        .with_context(|| format!("{}: no tensor '{name}'", file.display()))?;
    let d = t.data();
    let v: Vec<f32> = match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F64 => d
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes(c.try_into().unwrap()) as u32) << 16))
            .collect(),
        other => bail!(
            "{}: tensor '{name}' has dtype {other:?}; gruwave reads F32, F64 and BF16",
            file.display()
        ),
    };
    Ok((t.shape().to_vec(), v))
}

/// The shape of tensor `name`, which must have `rank` dimensions.
fn shape(st: &SafeTensors, name: &str, rank: usize, file: &Path) -> Result<Vec<usize>> {
    let t = st.tensor(name).with_context(|| {
        format!(
            "{}: not a GRU-LM checkpoint: no tensor '{name}'",
            file.display()
        )
    })?;
    ensure!(
        t.shape().len() == rank,
        "{}: tensor '{name}' has shape {:?}; it must have {rank} dimensions",
        file.display(),
        t.shape()
    );
    Ok(t.shape().to_vec())
}

/// V, E, H and L from the tensor shapes, each width read from two places and cross-checked
/// before any of them sizes an allocation (a tensor with 0 rows holds no data, so its
/// other dimension could otherwise claim any width). Errors blame the tensor at fault.
fn model_shape(st: &SafeTensors, path: &Path) -> Result<ModelConfig> {
    let p = path.display();
    let emb = shape(st, "embedding.weight", 2, path)?;
    let hh = shape(st, "gru.weight_hh_l0", 2, path)?;
    let hidden = hh[1];
    ensure!(
        hidden > 0 && hidden.checked_mul(3) == Some(hh[0]),
        "{p}: tensor 'gru.weight_hh_l0' has shape {hh:?}, but a GRU's is [3H, H]"
    );
    let ih = shape(st, "gru.weight_ih_l0", 2, path)?;
    ensure!(
        ih[0] == hh[0] && ih[1] == emb[1],
        "{p}: tensor 'gru.weight_ih_l0' has shape {ih:?}, expected [{}, {}] (3H with H = \
         {hidden} from gru.weight_hh_l0, and E = {} from embedding.weight)",
        hh[0],
        emb[1],
        emb[1]
    );
    let layers = (0..=MAX_LAYERS)
        .take_while(|l| st.tensor(&format!("gru.weight_hh_l{l}")).is_ok())
        .count();
    ModelConfig::new(emb[0], emb[1], hidden, layers)
        .with_context(|| format!("{p}: bad model shape"))
}

/// Load a checkpoint; V, E, H and L come from the tensor shapes. A missing, extra or
/// mis-shaped tensor is an error naming it.
pub fn load_model(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read checkpoint", path.display()))?;
    parse_model(&bytes, path)
}

pub fn parse_model(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let p = path.display();
    let st =
        SafeTensors::deserialize(bytes).with_context(|| format!("{p}: not a safetensors file"))?;
    let config = model_shape(&st, path)?;
    let vocab = config.vocab;
    let layout = ParamLayout::new(&config);
    let mut params = vec![0.0f32; layout.total];
    for e in &layout.entries {
        let (shape, data) = tensor_f32(&st, &e.name, path)?;
        if shape != e.shape {
            bail!(
                "{p}: tensor '{}' has shape {shape:?}, expected {:?} for a model with {config}",
                e.name,
                e.shape
            );
        }
        params[e.offset..e.offset + e.len].copy_from_slice(&data);
    }
    let names = st.names();
    if let Some(extra) = names.iter().find(|n| layout.by_name(n).is_none()) {
        bail!("{p}: unexpected tensor '{extra}' (a GRU-LM checkpoint holds exactly the {} state_dict tensors)", layout.entries.len());
    }
    if let Some(bad) = params.iter().position(|x| !x.is_finite()) {
        let e = layout
            .entries
            .iter()
            .find(|e| bad >= e.offset && bad < e.offset + e.len)
            .unwrap();
        bail!("{p}: tensor '{}' holds a non-finite value", e.name);
    }
    let (_, meta) = SafeTensors::read_metadata(bytes)?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let sample_rate = sample_rate_metadata(&meta, path)?.unwrap_or(DEFAULT_SAMPLE_RATE);
    let codec = Codec::by_name(meta.get("codec").map_or(CODEC, |s| s.as_str()))
        .with_context(|| format!("{p}: unknown codec"))?;
    if codec == Codec::Perf388 && vocab != codec.vocab() {
        bail!(
            "{p}: a perf388 model must have a vocabulary of {}, but embedding.weight has {vocab} rows",
            codec.vocab()
        );
    }
    Ok(Checkpoint {
        layout,
        params,
        sample_rate,
        codec,
    })
}

/// The `sample_rate` metadata of a checkpoint, if any, checked (a positive integer within
/// the rates gruwave supports); `file` names the file in errors.
pub fn sample_rate_metadata(meta: &HashMap<String, String>, file: &Path) -> Result<Option<u32>> {
    let Some(s) = meta.get("sample_rate") else {
        return Ok(None);
    };
    let p = file.display();
    let rate = s
        .parse()
        .ok()
        .filter(|&r| r > 0)
        .with_context(|| format!("{p}: bad sample_rate metadata {s:?}"))?;
    check_sample_rate(rate).with_context(|| format!("{p}: bad sample_rate metadata"))?;
    Ok(Some(rate))
}
