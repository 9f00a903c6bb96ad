//! SampleRNN checkpoints: safetensors holding every tensor under its `state_dict` name
//! (SAMPLERNN_SPEC "Parameters"), f32, with `__metadata__` model = "samplernn" and
//! optionally `sample_rate` and `codec`. samplernn-pytorch's own checkpoints (saved from its
//! `Predictor`) carry a `model.` prefix, stripped on load. The hyper-parameters are read from
//! the shapes.

use super::config::{MAX_RNN_LAYERS, MAX_TIERS};
use super::{SrnnConfig, SrnnLayout};
use crate::codec::Codec;
use crate::fsutil::write_bytes_atomic;
use crate::model::{sample_rate_metadata, serialize_f32, tensor_f32};
use anyhow::{bail, ensure, Context, Result};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::Path;

/// The tensor whose presence marks a SampleRNN checkpoint.
pub const MARKER: &str = "sample_level_mlp.embedding.weight";
/// The prefix of samplernn-pytorch's `Predictor` checkpoints.
pub const PREDICTOR_PREFIX: &str = "model.";

/// A loaded SampleRNN: its shape, flat parameters in the layout, and its metadata.
#[derive(Clone, Debug)]
pub struct SrnnCheckpoint {
    pub layout: SrnnLayout,
    pub params: Vec<f32>,
    pub sample_rate: Option<u32>,
    pub codec: Option<String>,
}

/// Whether `bytes` is a safetensors file holding `sample_level_mlp.embedding.weight`
/// (with or without the `model.` prefix).
pub fn is_samplernn(bytes: &[u8]) -> bool {
    SafeTensors::deserialize(bytes).is_ok_and(|st| prefix_of(&st).is_some())
}

/// "" or "model.": the prefix under which the file holds the marker tensor.
fn prefix_of(st: &SafeTensors) -> Option<&'static str> {
    ["", PREDICTOR_PREFIX]
        .into_iter()
        .find(|pre| st.tensor(&format!("{pre}{MARKER}")).is_ok())
}

/// The shape of tensor `pre + name`, which must have `rank` dimensions.
fn shape(st: &SafeTensors, pre: &str, name: &str, rank: usize, file: &Path) -> Result<Vec<usize>> {
    let p = file.display();
    let t = st
        .tensor(&format!("{pre}{name}"))
        .with_context(|| format!("{p}: no tensor '{pre}{name}'"))?;
    ensure!(
        t.shape().len() == rank,
        "{p}: tensor '{pre}{name}' has shape {:?}; it must have {rank} dimensions",
        t.shape()
    );
    Ok(t.shape().to_vec())
}

/// K, n_k, FS_k, R, q and D from the shapes (SAMPLERNN_SPEC "Parameters"), checked as far
/// as they define each other, then bounded by `SrnnConfig::new` before anything is
/// allocated from them. Every other shape is checked against the layout afterwards.
fn srnn_shape(st: &SafeTensors, pre: &str, file: &Path) -> Result<SrnnConfig> {
    let p = file.display();
    let has = |name: String| st.tensor(&format!("{pre}{name}")).is_ok();
    let emb = shape(st, pre, MARKER, 2, file)?;
    ensure!(
        emb[0] == emb[1],
        "{p}: tensor '{pre}{MARKER}' has shape {emb:?}; it must be square, [q, q]"
    );
    let dim = shape(st, pre, "sample_level_mlp.hidden.weight", 3, file)?[0];
    let tiers = (0..=MAX_TIERS)
        .take_while(|k| has(format!("frame_level_rnns.{k}.input_expand.weight")))
        .count();
    ensure!(
        tiers > 0,
        "{p}: no tensor '{pre}frame_level_rnns.0.input_expand.weight'"
    );
    let (mut frame_sizes, mut below) = (Vec::with_capacity(tiers), 1usize);
    for k in 0..tiers.min(MAX_TIERS) {
        let t = format!("frame_level_rnns.{k}");
        let n = shape(st, pre, &format!("{t}.input_expand.weight"), 3, file)?[1];
        let fs = shape(st, pre, &format!("{t}.upsampling.bias"), 2, file)?[1];
        ensure!(
            below.checked_mul(fs) == Some(n),
            "{p}: tier {k} reads frames of n_{k} = {n} samples ('{pre}{t}.input_expand.weight'), \
             but its frame size is {fs} ('{pre}{t}.upsampling.bias') and the tier below's \
             frames are {below} samples: n_{k} must be {below} x {fs}"
        );
        frame_sizes.push(fs);
        below = n;
    }
    if tiers > MAX_TIERS {
        frame_sizes.push(1); // one too many: SrnnConfig::new names the limit
    }
    let rnn_layers = (0..=MAX_RNN_LAYERS)
        .take_while(|l| has(format!("frame_level_rnns.0.rnn.weight_ih_l{l}")))
        .count();
    SrnnConfig::new(&frame_sizes, dim, rnn_layers, emb[0])
        .with_context(|| format!("{p}: bad SampleRNN shape"))
}

/// Names the file cannot hold: weight-normalised tensors (`*_g`, `*_v`; not in v1) and
/// anything outside the layout.
fn check_names(st: &SafeTensors, pre: &str, layout: &SrnnLayout, file: &Path) -> Result<()> {
    let p = file.display();
    let mut names = st.names();
    names.sort();
    if let Some(n) = names
        .iter()
        .find(|n| n.ends_with(".weight_g") || n.ends_with(".weight_v"))
    {
        bail!(
            "{p}: tensor '{n}' is weight-normalised, which gruwave's SampleRNN does not support \
             (SAMPLERNN_SPEC, differences 1): train with weight_norm=False, or fold each \
             w = g * v / ||v|| into a plain '.weight'"
        );
    }
    let known = |n: &str| {
        n.strip_prefix(pre)
            .is_some_and(|n| layout.by_name(n).is_some())
    };
    if let Some(extra) = names.iter().find(|n| !known(n)) {
        bail!(
            "{p}: unexpected tensor '{extra}' (a SampleRNN checkpoint holds exactly the {} \
             state_dict tensors{})",
            layout.entries.len(),
            if pre.is_empty() {
                ""
            } else {
                ", each prefixed 'model.'"
            }
        );
    }
    Ok(())
}

/// The optional `sample_rate` and `codec` metadata, checked.
fn metadata(bytes: &[u8], levels: usize, file: &Path) -> Result<(Option<u32>, Option<String>)> {
    let p = file.display();
    let (_, meta) = SafeTensors::read_metadata(bytes)?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let sample_rate = sample_rate_metadata(&meta, file)?;
    if let Some(name) = meta.get("codec") {
        let codec = Codec::by_name(name).with_context(|| format!("{p}: unknown codec"))?;
        ensure!(
            codec.vocab() == levels,
            "{p}: codec {name} has {} levels, but the model has q = {levels}",
            codec.vocab()
        );
    }
    Ok((sample_rate, meta.get("codec").cloned()))
}

/// Parse a SampleRNN checkpoint (see the module doc); `path` only names the file in errors.
/// A missing, extra or mis-shaped tensor, a dtype other than F32/F64/BF16, sizes beyond
/// `SrnnConfig`'s bounds or a non-finite value is an error naming the file and the tensor.
pub fn parse_srnn(bytes: &[u8], path: &Path) -> Result<SrnnCheckpoint> {
    let p = path.display();
    let st =
        SafeTensors::deserialize(bytes).with_context(|| format!("{p}: not a safetensors file"))?;
    let Some(pre) = prefix_of(&st) else {
        bail!("{p}: not a SampleRNN checkpoint: no tensor '{MARKER}'");
    };
    let config = srnn_shape(&st, pre, path)?;
    let layout = SrnnLayout::new(&config);
    check_names(&st, pre, &layout, path)?;
    for e in &layout.entries {
        let name = format!("{pre}{}", e.name);
        let s = shape(&st, "", &name, e.shape.len(), path)?;
        ensure!(
            s == e.shape,
            "{p}: tensor '{name}' has shape {s:?}, expected {:?} for a SampleRNN {config}",
            e.shape
        );
    }
    let mut params = vec![0.0f32; layout.total];
    for e in &layout.entries {
        let name = format!("{pre}{}", e.name);
        let (_, data) = tensor_f32(&st, &name, path)?;
        ensure!(
            data.iter().all(|x| x.is_finite()),
            "{p}: tensor '{name}' holds a non-finite value"
        );
        params[e.offset..e.offset + e.len].copy_from_slice(&data);
    }
    let (sample_rate, codec) = metadata(bytes, config.levels, path)?;
    Ok(SrnnCheckpoint {
        layout,
        params,
        sample_rate,
        codec,
    })
}

/// Load a SampleRNN checkpoint (see [`parse_srnn`]).
pub fn load_srnn(path: &Path) -> Result<SrnnCheckpoint> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read checkpoint", path.display()))?;
    parse_srnn(&bytes, path)
}

/// Save every tensor under its state_dict name (no prefix), with `__metadata__` model =
/// "samplernn" and the given sample rate and codec, atomically (a crash leaves the old file
/// or the new one). The header is sorted: the same model always gives the same bytes.
pub fn save_srnn(
    path: &Path,
    layout: &SrnnLayout,
    params: &[f32],
    sample_rate: Option<u32>,
    codec: Option<&str>,
) -> Result<()> {
    ensure!(
        params.len() == layout.total,
        "{} parameters given for a layout of {}",
        params.len(),
        layout.total
    );
    let mut meta = HashMap::from([("model".to_string(), "samplernn".to_string())]);
    if let Some(rate) = sample_rate {
        meta.insert("sample_rate".to_string(), rate.to_string());
    }
    if let Some(c) = codec {
        meta.insert("codec".to_string(), c.to_string());
    }
    let tensors = layout.entries.iter().map(|e| {
        let data = &params[e.offset..e.offset + e.len];
        (e.name.clone(), e.shape.clone(), data)
    });
    let bytes = serialize_f32(tensors, meta)?;
    write_bytes_atomic(path, &bytes)
}
