//! SampleRNN throughput (`gruwave bench --arch samplernn`): training samples/s (B*T targets
//! per optimiser step) and sampling samples/s, with the spec's FLOPs per sample.

use super::{time_steps, tokens, TrainResult, WindowShape};
use crate::gpu::Gpu;
use crate::samplernn::{init_params, SrnnLayout, SrnnPreset, SrnnSampler};
use crate::{Kernels, TrainOptions, Trainer};
use anyhow::Result;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// Training FLOPs per target: forward, then a backward of about twice the forward.
pub const TRAIN_FLOPS_FACTOR: f64 = 3.0;

/// Median training step of `p` after `warmup` untimed ones (see `time_steps`); its
/// `tokens_per_s` are samples (targets) per second.
pub fn train(
    gpu: &Arc<Gpu>,
    k: &Arc<Kernels>,
    p: &SrnnPreset,
    warmup: usize,
    steps: usize,
    profile: bool,
) -> Result<TrainResult> {
    let config = p.config();
    let layout = SrnnLayout::new(&config);
    let mut tr = Trainer::new_srnn(
        gpu,
        k,
        &layout,
        &init_params(&config, 0),
        p.batch,
        p.tbptt,
        TrainOptions::default(),
    )?;
    let shape = WindowShape {
        config: p.name,
        batch: p.batch,
        tbptt: p.tbptt,
        window: config.lookback() + p.tbptt,
        vocab: config.levels,
    };
    time_steps(gpu, &mut tr, &shape, warmup, steps, profile)
}

#[derive(Clone, Debug)]
pub struct SrnnSampleResult {
    pub config: &'static str,
    pub streams: usize,
    pub samples_per_s: f64,
    pub ms_per_sample_step: f64,
    pub dispatches_per_sample: f64,
}

impl SrnnSampleResult {
    pub fn to_json(&self, sample_rate: f64, flops_per_sample: f64) -> Value {
        json!({
            "config": self.config, "arch": "samplernn", "bench": "sample", "streams": self.streams,
            "samples_per_s": self.samples_per_s, "rtf": self.samples_per_s / sample_rate,
            "ms_per_sample_step": self.ms_per_sample_step,
            "dispatches_per_sample": self.dispatches_per_sample,
            "flops_per_sample": flops_per_sample,
            "gflops": self.samples_per_s * flops_per_sample / 1e9,
        })
    }
}

/// Samples/s generating `n` samples on each of `streams` streams of a randomly initialised
/// `p`, after a warm-up of one lookback.
pub fn sample(
    gpu: &Arc<Gpu>,
    k: &Arc<Kernels>,
    p: &SrnnPreset,
    streams: usize,
    n: usize,
) -> Result<SrnnSampleResult> {
    let config = p.config();
    let layout = SrnnLayout::new(&config);
    let params = init_params(&config, 0);
    let mut s = SrnnSampler::new(gpu, k, &layout, &params, streams, 1.0, 1)?;
    let prime = tokens(config.lookback(), config.levels, 5);
    s.prime(&[prime])?;
    s.generate(config.lookback(), &mut |_| {})?;
    let n = n.max(1);
    let t0 = Instant::now();
    s.generate(n, &mut |_| {})?;
    let dt = t0.elapsed().as_secs_f64();
    Ok(SrnnSampleResult {
        config: p.name,
        streams,
        samples_per_s: (streams * n) as f64 / dt,
        ms_per_sample_step: dt * 1e3 / n as f64,
        dispatches_per_sample: s.dispatches_per_sample(),
    })
}
