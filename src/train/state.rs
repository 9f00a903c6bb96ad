//! The trainer state file: everything besides the data needed to continue a run exactly
//! (parameters, Adam moments and step, carried hidden state, stream positions, the run's
//! settings), as one safetensors file written atomically.
//!
//! The parameters are stored here as well as in model.safetensors, so that the state
//! is self-consistent even if a crash falls between writing the two files.

use super::run_config::{ModelSpec, RunConfig};
use super::schedule::{LrSchedule, LrShape};
use super::TrainOptions;
use crate::codec::Codec;
use crate::fsutil::write_bytes_atomic;
use crate::model::{tensor_f32, ModelConfig, CODEC};
use crate::samplernn::SrnnConfig;
use anyhow::{anyhow, bail, ensure, Context, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FORMAT: &str = "gruwave-trainer-state-v1";

/// A snapshot of a training run after `step` optimiser steps.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    pub run: RunConfig,
    pub step: u64,
    /// Flat parameters in the layout of `run.model`.
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    /// Carried state: the GRU's `[L, B, H]`, or every SampleRNN tier's `[R, B, D]`.
    pub hidden: Vec<f32>,
    /// Where each training stream's next window starts ([`crate::data::Streams::position`]).
    pub stream_pos: Vec<u64>,
    /// Hash of the training tokens, to refuse resuming on other data.
    pub data_fingerprint: u64,
    /// Training time before this snapshot, summed over resumed runs.
    pub elapsed_s: f64,
}

impl TrainerState {
    pub fn save(&self, path: &Path) -> Result<()> {
        let f32_bytes = |v: &[f32]| bytemuck::cast_slice::<f32, u8>(v).to_vec();
        let tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "params",
                Dtype::F32,
                vec![self.params.len()],
                f32_bytes(&self.params),
            ),
            (
                "adam.m",
                Dtype::F32,
                vec![self.adam_m.len()],
                f32_bytes(&self.adam_m),
            ),
            (
                "adam.v",
                Dtype::F32,
                vec![self.adam_v.len()],
                f32_bytes(&self.adam_v),
            ),
            (
                "hidden",
                Dtype::F32,
                vec![self.hidden.len()],
                f32_bytes(&self.hidden),
            ),
            (
                "stream_position",
                Dtype::U64,
                vec![self.stream_pos.len()],
                bytemuck::cast_slice::<u64, u8>(&self.stream_pos).to_vec(),
            ),
        ];
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                Ok((
                    name.to_string(),
                    TensorView::new(*dtype, shape.clone(), data)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("step", self.step.to_string()),
            (
                "data_fingerprint",
                format!("{:016x}", self.data_fingerprint),
            ),
            ("elapsed_s", self.elapsed_s.to_string()),
            ("run", run_to_json(&self.run).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut bytes = safetensors::serialize(views, Some(meta))?;
        crate::model::sort_safetensors_header(&mut bytes)?;
        write_bytes_atomic(path, &bytes)
    }

    pub fn load(path: &Path) -> Result<TrainerState> {
        let p = path.display();
        let bytes =
            std::fs::read(path).with_context(|| format!("{p}: cannot read trainer state"))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{p}: not a safetensors file"))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let get = |key: &str| {
            meta.get(key)
                .map(String::as_str)
                .ok_or_else(|| anyhow!("{p}: not a gruwave trainer state (no '{key}' metadata)"))
        };
        if get("format")? != FORMAT {
            bail!(
                "{p}: unknown trainer state format '{}' (expected {FORMAT})",
                get("format")?
            );
        }
        let run_json: Value = serde_json::from_str(get("run")?)
            .with_context(|| format!("{p}: bad 'run' metadata"))?;
        let run = run_from_json(&run_json).with_context(|| format!("{p}: bad 'run' metadata"))?;
        // Sizes from the file bound every product below and every buffer of the resumed run.
        run.check_sizes()
            .with_context(|| format!("{p}: bad 'run' metadata"))?;
        let step = get("step")?
            .parse()
            .with_context(|| format!("{p}: bad 'step' metadata"))?;
        let data_fingerprint = u64::from_str_radix(get("data_fingerprint")?, 16)
            .with_context(|| format!("{p}: bad 'data_fingerprint' metadata"))?;
        let elapsed_s = get("elapsed_s")?
            .parse()
            .with_context(|| format!("{p}: bad 'elapsed_s' metadata"))?;
        let f = |name: &str| tensor_f32(&st, name, path).map(|(_, v)| v);
        let pos = st
            .tensor("stream_position")
            .with_context(|| format!("{p}: no tensor 'stream_position'"))?;
        ensure!(
            pos.dtype() == Dtype::U64,
            "{p}: 'stream_position' must be U64"
        );
        let stream_pos = pos
            .data()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let state = TrainerState {
            run,
            step,
            params: f("params")?,
            adam_m: f("adam.m")?,
            adam_v: f("adam.v")?,
            hidden: f("hidden")?,
            stream_pos,
            data_fingerprint,
            elapsed_s,
        };
        state
            .check()
            .with_context(|| format!("{p}: inconsistent trainer state"))?;
        Ok(state)
    }

    /// Tensor sizes agree with the run's model and batch.
    fn check(&self) -> Result<()> {
        let total = self.run.model.param_count().unwrap_or(usize::MAX);
        ensure!(self.params.len() == total, "params has the wrong length");
        ensure!(self.adam_m.len() == total, "adam.m has the wrong length");
        ensure!(self.adam_v.len() == total, "adam.v has the wrong length");
        ensure!(
            Some(self.hidden.len()) == self.run.model.state_len(self.run.batch),
            "hidden has the wrong size"
        );
        ensure!(
            self.stream_pos.len() == self.run.batch,
            "stream_position has the wrong length"
        );
        Ok(())
    }
}

fn run_to_json(r: &RunConfig) -> Value {
    let paths = |v: &[PathBuf]| -> Vec<String> {
        v.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    };
    let mut v = json!({
        "batch": r.batch,
        "tbptt": r.tbptt,
        "lr": r.opts.lr,
        // JSON has no infinity; null means no clipping.
        "clip": if r.opts.clip.is_finite() { json!(r.opts.clip) } else { Value::Null },
        "clip_value": r.opts.clip_value,
        "beta1": r.opts.beta1,
        "beta2": r.opts.beta2,
        "eps": r.opts.eps,
        "lr_schedule": r.schedule.shape.name(),
        "warmup": r.schedule.warmup,
        "lr_horizon": r.schedule.horizon,
        "seed": r.seed,
        "codec": r.codec.name(),
        "transpose": r.transpose,
        "sample_rate": r.sample_rate,
        "valid_fraction": r.valid_fraction,
        "data": paths(&r.data),
        "valid_data": paths(&r.valid_data),
        "steps": r.steps,
        "valid_every": r.valid_every,
        "checkpoint_every": r.checkpoint_every,
        "sample_seconds": r.sample_seconds,
    });
    let model = match &r.model {
        ModelSpec::Gru(m) => json!({
            "vocab": m.vocab, "embed": m.embed, "hidden": m.hidden, "layers": m.layers,
        }),
        ModelSpec::Srnn(m) => json!({
            "arch": "samplernn", "frame_sizes": m.frame_sizes, "dim": m.dim,
            "rnn_layers": m.rnn_layers, "levels": m.levels,
        }),
    };
    v.as_object_mut()
        .expect("an object")
        .extend(model.as_object().expect("an object").clone());
    v
}

/// The model keys of the run JSON; states without "arch" hold GRU runs.
fn model_from_json(v: &Value) -> Result<ModelSpec> {
    let us = |k: &str| {
        v[k].as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| anyhow!("'{k}' is missing or not an integer"))
    };
    match v["arch"].as_str().unwrap_or("gru") {
        "gru" => Ok(ModelSpec::Gru(ModelConfig::new(
            us("vocab")?,
            us("embed")?,
            us("hidden")?,
            us("layers")?,
        )?)),
        "samplernn" => {
            let frames: Vec<usize> = serde_json::from_value(v["frame_sizes"].clone())
                .context("'frame_sizes' is missing or not a list of integers")?;
            Ok(ModelSpec::Srnn(SrnnConfig::new(
                &frames,
                us("dim")?,
                us("rnn_layers")?,
                us("levels")?,
            )?))
        }
        other => bail!("unknown model architecture '{other}'"),
    }
}

fn run_from_json(v: &Value) -> Result<RunConfig> {
    let u = |k: &str| {
        v[k].as_u64()
            .ok_or_else(|| anyhow!("'{k}' is missing or not an integer"))
    };
    let us = |k: &str| u(k).map(|x| x as usize);
    let f = |k: &str| {
        v[k].as_f64()
            .ok_or_else(|| anyhow!("'{k}' is missing or not a number"))
    };
    let paths = |k: &str| -> Result<Vec<PathBuf>> {
        v[k].as_array()
            .ok_or_else(|| anyhow!("'{k}' is missing or not a list"))?
            .iter()
            .map(|p| {
                p.as_str()
                    .map(PathBuf::from)
                    .ok_or_else(|| anyhow!("'{k}' holds a non-string"))
            })
            .collect()
    };
    Ok(RunConfig {
        model: model_from_json(v)?,
        batch: us("batch")?,
        tbptt: us("tbptt")?,
        opts: TrainOptions {
            lr: f("lr")?,
            clip: if v["clip"].is_null() {
                f64::INFINITY
            } else {
                f("clip")?
            },
            clip_value: v["clip_value"].as_f64(),
            beta1: f("beta1")?,
            beta2: f("beta2")?,
            eps: f("eps")?,
        },
        // States written before schedules hold constant-lr runs without these keys.
        schedule: LrSchedule {
            shape: LrShape::by_name(v["lr_schedule"].as_str().unwrap_or("constant"))?,
            warmup: v["warmup"].as_u64().unwrap_or(0),
            horizon: v["lr_horizon"].as_u64().unwrap_or(0),
        },
        seed: u("seed")?,
        // States written before MIDI support hold audio runs without these keys.
        codec: Codec::by_name(v["codec"].as_str().unwrap_or(CODEC))?,
        transpose: u32::try_from(v["transpose"].as_u64().unwrap_or(0))?,
        sample_rate: u32::try_from(u("sample_rate")?)?,
        valid_fraction: f("valid_fraction")?,
        data: paths("data")?,
        valid_data: paths("valid_data")?,
        steps: v["steps"].as_u64(),
        valid_every: u("valid_every")?,
        checkpoint_every: u("checkpoint_every")?,
        sample_seconds: f("sample_seconds")?,
    })
}
