//! Throughput measurements shared by `gruwave bench` and the criterion benches: training
//! tokens/s for full optimiser steps (upload included) and sampling tokens/s, plus a
//! per-kernel GPU time profile from timestamp queries; and one op alone (`ops`).

pub mod ops;
pub mod srnn;

use crate::gpu::{Gpu, KernelTime, Profiler};
use crate::model::{init_params, ParamLayout, Preset};
use crate::sample::{SampleOptions, Sampler, Tuning};
use crate::train::Graph;
use crate::{Kernels, TrainOptions, Trainer};
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Random tokens, deterministic (a simple LCG: the values only need to be valid ids).
pub(crate) fn tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % vocab as u64) as u32
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct TrainResult {
    pub config: &'static str,
    pub batch: usize,
    pub tbptt: usize,
    pub tokens_per_s: f64,
    pub ms_per_step: f64,
    /// With the loss read back after every step.
    pub sync_tokens_per_s: f64,
    pub dispatches_per_step: usize,
    pub submits_per_step: usize,
    pub final_loss: f32,
    pub profile: Option<BTreeMap<String, KernelTime>>,
}

#[derive(Clone, Debug)]
pub struct SampleResult {
    pub config: &'static str,
    pub streams: usize,
    pub tokens_per_s: f64,
    pub ms_per_token_step: f64,
    pub dispatches_per_token: usize,
    pub tokens_per_submit: usize,
    /// The work split used: the adapter's default, or the fastest candidate when tuned.
    pub tuning: Tuning,
    /// With tuning: every candidate and its tokens/s in the autotuner's short timing.
    pub candidates: Vec<(Tuning, f64)>,
    pub profile: Option<BTreeMap<String, KernelTime>>,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median time of `steps` optimiser steps after `warmup` untimed ones.
pub fn train(
    gpu: &Arc<Gpu>,
    k: &Arc<Kernels>,
    p: &Preset,
    warmup: usize,
    steps: usize,
    profile: bool,
) -> Result<TrainResult> {
    let layout = ParamLayout::new(&p.model);
    let mut tr = Trainer::new(
        gpu,
        k,
        &layout,
        &init_params(&layout, 0),
        p.batch,
        p.tbptt,
        TrainOptions::default(),
    )?;
    let shape = WindowShape {
        config: p.name,
        batch: p.batch,
        tbptt: p.tbptt,
        window: p.tbptt + 1,
        vocab: p.model.vocab,
    };
    time_steps(gpu, &mut tr, &shape, warmup, steps, profile)
}

/// What a benchmarked trainer takes: `batch` windows of `window` tokens below `vocab`,
/// `batch * tbptt` targets each step.
pub(crate) struct WindowShape {
    pub config: &'static str,
    pub batch: usize,
    pub tbptt: usize,
    pub window: usize,
    pub vocab: usize,
}

/// Times `steps` optimiser steps of `tr` on random windows after `warmup` untimed ones:
/// the median synchronous step, then the steps back to back; with `profile`, one more
/// step under the profiler.
pub(crate) fn time_steps<G: Graph>(
    gpu: &Arc<Gpu>,
    tr: &mut Trainer<G>,
    s: &WindowShape,
    warmup: usize,
    steps: usize,
    profile: bool,
) -> Result<TrainResult> {
    let window = s.batch * s.window;
    let reset = vec![false; s.batch];
    let windows: Vec<Vec<u32>> = (0..warmup + steps.max(1))
        .map(|i| tokens(window, s.vocab, i as u64))
        .collect();
    // Synchronous steps: the median step with its loss read back every step.
    let mut times = Vec::new();
    for (i, toks) in windows.iter().enumerate() {
        let t0 = Instant::now();
        tr.step(toks, &reset)?;
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let dt_sync = median(times);
    // Deferred stats: the same steps back to back, the losses read once at the end, so the
    // host prepares each step while the GPU runs the one before.
    let t0 = Instant::now();
    for toks in &windows[warmup..] {
        tr.submit_step(toks, &reset)?;
    }
    let loss = tr.collect()?.last().map_or(f32::NAN, |s| s.loss);
    let dt = t0.elapsed().as_secs_f64() / (windows.len() - warmup) as f64;
    let profile = match (profile, Profiler::new(gpu, tr.dispatches_per_step())) {
        (true, Some(mut prof)) => {
            Some(tr.profile_step(&tokens(window, s.vocab, 99), &reset, &mut prof)?)
        }
        _ => None,
    };
    let targets = (s.batch * s.tbptt) as f64;
    Ok(TrainResult {
        config: s.config,
        batch: s.batch,
        tbptt: s.tbptt,
        tokens_per_s: targets / dt,
        ms_per_step: dt * 1e3,
        sync_tokens_per_s: targets / dt_sync,
        dispatches_per_step: tr.dispatches_per_step(),
        submits_per_step: 1,
        final_loss: loss,
        profile,
    })
}

/// Tokens/s generating `steps` tokens on each of `streams` streams, after a warm-up block,
/// with the adapter's default work split, or with `tune` the fastest of
/// `Tuning::candidates` as `gruwave sample` picks it.
pub fn sample(
    gpu: &Arc<Gpu>,
    k: &Arc<Kernels>,
    p: &Preset,
    streams: usize,
    steps: usize,
    profile: bool,
    tune: bool,
) -> Result<SampleResult> {
    let layout = ParamLayout::new(&p.model);
    let mut s = Sampler::new(gpu, k, &layout, &init_params(&layout, 0), streams)?;
    let candidates = Tuning::candidates(gpu, streams);
    let candidates = if tune && candidates.len() > 1 {
        s.autotune(&candidates, 2)?
    } else {
        Vec::new()
    };
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: 1,
    };
    s.prime(&[])?;
    s.generate(s.block(), &opts, &mut |_| {})?;
    let steps = steps.div_ceil(s.block()) * s.block();
    let t0 = Instant::now();
    s.generate(steps, &opts, &mut |_| {})?;
    let dt = t0.elapsed().as_secs_f64();
    let profile = match (
        profile,
        Profiler::new(gpu, s.block() * s.dispatches_per_token()),
    ) {
        (true, Some(mut prof)) => Some(s.profile_block(&opts, &mut prof)?),
        _ => None,
    };
    Ok(SampleResult {
        config: p.name,
        streams,
        tokens_per_s: (streams * steps) as f64 / dt,
        ms_per_token_step: dt * 1e3 / steps as f64,
        dispatches_per_token: s.dispatches_per_token(),
        tokens_per_submit: s.block(),
        tuning: s.tuning(),
        candidates,
        profile,
    })
}

pub(crate) fn profile_json(p: &Option<BTreeMap<String, KernelTime>>) -> Value {
    match p {
        None => Value::Null,
        Some(m) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({"calls": v.calls, "total_us": v.nanos / 1e3, "gflops": v.gflops()}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

impl TrainResult {
    pub fn to_json(&self) -> Value {
        json!({
            "config": self.config, "bench": "train", "batch": self.batch, "tbptt": self.tbptt,
            "tokens_per_s": self.tokens_per_s, "ms_per_step": self.ms_per_step,
            "sync_tokens_per_s": self.sync_tokens_per_s,
            "dispatches_per_step": self.dispatches_per_step, "submits_per_step": self.submits_per_step,
            "final_loss": self.final_loss, "profile": profile_json(&self.profile),
        })
    }
}

impl SampleResult {
    pub fn to_json(&self, sample_rate: f64) -> Value {
        json!({
            "config": self.config, "bench": "sample", "streams": self.streams,
            "tokens_per_s": self.tokens_per_s, "rtf": self.tokens_per_s / sample_rate,
            "ms_per_token_step": self.ms_per_token_step,
            "dispatches_per_token": self.dispatches_per_token, "tokens_per_submit": self.tokens_per_submit,
            "tuning": self.tuning.to_string(),
            "candidates": self.candidates.iter()
                .map(|(t, r)| json!({"tuning": t.to_string(), "tokens_per_s": r}))
                .collect::<Vec<_>>(),
            "profile": profile_json(&self.profile),
        })
    }
}

/// A profile as printable lines, slowest kernel first, with its share of the total.
pub fn profile_lines(p: &BTreeMap<String, KernelTime>) -> Vec<String> {
    let total: f64 = p.values().map(|v| v.nanos).sum();
    let mut rows: Vec<_> = p.iter().collect();
    rows.sort_by(|a, b| b.1.nanos.partial_cmp(&a.1.nanos).unwrap());
    let mut out = vec![format!(
        "  {:<26} {:>7} {:>11} {:>10} {:>6} {:>9}",
        "kernel", "calls", "total us", "us/call", "share", "GFLOP/s"
    )];
    for (name, t) in rows {
        out.push(format!(
            "  {:<26} {:>7} {:>11.1} {:>10.2} {:>5.1}% {:>9}",
            name,
            t.calls,
            t.nanos / 1e3,
            t.nanos / 1e3 / t.calls as f64,
            100.0 * t.nanos / total,
            t.gflops().map_or(String::new(), |g| format!("{g:.1}"))
        ));
    }
    out.push(format!("  {:<26} {:>7} {:>11.1}", "sum", "", total / 1e3));
    out
}
