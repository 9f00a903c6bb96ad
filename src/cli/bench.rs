//! `gruwave bench`: training and sampling throughput, and a per-kernel GPU profile.

use crate::bench::ops::{self, OPS};
use crate::bench::{profile_lines, sample, srnn, train};
use crate::gpu::Gpu;
use crate::kernels::Choice;
use crate::model::{Preset, DEFAULT_SAMPLE_RATE};
use crate::samplernn::{SrnnPreset, SRNN_PRESETS};
use crate::Kernels;
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Model family: gru (docs/MODEL_SPEC.md) or samplernn (docs/SAMPLERNN_SPEC.md)
    #[arg(long, default_value = "gru", value_parser = ["gru", "samplernn"])]
    pub arch: String,
    /// Configurations from docs/MODEL_SPEC.md (default: tiny,small,base; tiny on a software
    /// adapter), or with --arch samplernn from docs/SAMPLERNN_SPEC.md (default:
    /// srnn-tiny,srnn-small,srnn-base; srnn-tiny on a software adapter)
    #[arg(long, value_delimiter = ',')]
    pub config: Vec<String>,
    /// What to measure: train, sample, or both
    #[arg(long, value_delimiter = ',', default_value = "train,sample")]
    pub what: Vec<String>,
    /// Add the GPU time of each kernel (timestamp queries), dispatches and submits
    #[arg(long)]
    pub profile: bool,
    /// Also write the results as JSON
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timed training steps per configuration (after --warmup steps)
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed training steps before the timed ones
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed tokens (samples) per stream for sampling (1 stream; 64 streams run half as many)
    #[arg(long, default_value_t = 2048)]
    pub tokens: usize,
    /// Sample with the adapter's default work split, without timing the alternatives
    /// first (on a GPU, `gruwave sample` and this bench try several and keep the fastest)
    #[arg(long)]
    pub no_tune: bool,
    /// Time one op (or several, comma-separated, or `all`) alone instead, at the `base` and
    /// `large` shapes unless --config says otherwise, and report GFLOP/s and GB/s
    #[arg(long, value_delimiter = ',')]
    pub op: Vec<String>,
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    // A benchmark measures what the timed choices are: it always times them.
    crate::gpu::tuning_cache::set_retune(true);
    for w in &a.what {
        if w != "train" && w != "sample" {
            bail!("--what takes train and/or sample, not '{w}'");
        }
    }
    let (gpu, k) = super::open_gpu()?;
    if a.arch == "samplernn" {
        if !a.op.is_empty() {
            bail!("--op times the GRU model's ops; it does not take --arch samplernn");
        }
        return run_srnn(&a, &gpu, &k);
    }
    if !a.op.is_empty() {
        return run_ops(&a, &gpu, &k);
    }
    let presets = config_names(&a, &gpu, "tiny", "tiny,small,base")
        .iter()
        .map(|n| Preset::by_name(n))
        .collect::<Result<Vec<_>>>()?;
    print_header(&a, &gpu, &k);
    let rate = DEFAULT_SAMPLE_RATE as f64;
    println!(
        "{:<7} {:<7} {:>7} {:>13} {:>10} {:>9} {:>12}  note",
        "config", "bench", "streams", "tokens/s", "ms/step", "RTF@16k", "dispatches"
    );
    println!("{}", "-".repeat(90));
    let mut rows = Vec::new();
    let mut profiles = Vec::new();
    for p in &presets {
        if a.what.iter().any(|w| w == "train") {
            let r = train(&gpu, &k, p, a.warmup, a.steps, a.profile)?;
            println!(
                "{:<7} {:<7} {:>7} {:>13.0} {:>10.3} {:>9} {:>12}  B={} T={} loss={:.3}, 1 submit/step, loss read every {} steps ({:.0} tokens/s reading every step)",
                p.name, "train", p.batch, r.tokens_per_s, r.ms_per_step, "", r.dispatches_per_step, p.batch, p.tbptt, r.final_loss,
                a.steps, r.sync_tokens_per_s
            );
            if let Some(prof) = &r.profile {
                profiles.push((format!("{} train step", p.name), profile_lines(prof)));
            }
            rows.push(r.to_json());
        }
        if a.what.iter().any(|w| w == "sample") {
            for streams in [1, 64] {
                let steps = if streams == 1 { a.tokens } else { a.tokens / 2 };
                let r = sample(&gpu, &k, p, streams, steps, a.profile, !a.no_tune)?;
                println!(
                    "{:<7} {:<7} {:>7} {:>13.0} {:>10.4} {:>9.2} {:>12}  per token step; {} steps/submit; {}",
                    p.name, "sample", streams, r.tokens_per_s, r.ms_per_token_step, r.tokens_per_s / rate, r.dispatches_per_token, r.tokens_per_submit, r.tuning
                );
                for (i, (t, tps)) in r.candidates.iter().enumerate() {
                    let mark = if i == 0 { " (default)" } else { "" };
                    println!("{:>22} {tps:>13.0}  autotune candidate: {t}{mark}", "");
                }
                if let Some(prof) = &r.profile {
                    profiles.push((
                        format!(
                            "{} sample, {streams} stream(s), one block of {} steps ({})",
                            p.name, r.tokens_per_submit, r.tuning
                        ),
                        profile_lines(prof),
                    ));
                }
                rows.push(r.to_json(rate));
            }
        }
    }
    finish(&a, &gpu, &k, &profiles, rows)
}

/// The kernel variants chosen by timing, the profiles, and the JSON file if asked for.
fn finish(
    a: &BenchArgs,
    gpu: &Gpu,
    k: &Kernels,
    profiles: &[(String, Vec<String>)],
    rows: Vec<serde_json::Value>,
) -> Result<ExitCode> {
    let info = &gpu.info;
    let timed = k.timed_choices();
    if !timed.is_empty() {
        println!("\nKernel variants chosen by timing, per shape:");
        for (shape, chosen) in &timed {
            println!("  {shape}: {chosen}");
        }
    }
    for (title, lines) in profiles {
        println!("\nGPU time per kernel: {title}");
        for l in lines {
            println!("{l}");
        }
    }
    if let Some(path) = &a.json {
        let doc = json!({
            "adapter": info.name, "backend": format!("{:?}", info.backend), "device_type": format!("{:?}", info.device_type),
            "driver": info.driver, "driver_info": info.driver_info,
            "subgroup_reductions": k.options.subgroups,
            "timed_choices": timed.iter()
                .map(|(shape, chosen)| json!({"shape": shape, "chosen": chosen}))
                .collect::<Vec<_>>(),
            "results": rows,
        });
        crate::fsutil::write_bytes_atomic(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        println!("\nwrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The configurations named by --config, or `default` (`software` on a software adapter).
fn config_names(a: &BenchArgs, gpu: &Gpu, software: &str, default: &str) -> Vec<String> {
    if !a.config.is_empty() {
        return a.config.clone();
    }
    let d = if gpu.is_software() { software } else { default };
    d.split(',').map(String::from).collect()
}

/// Opens the run: the adapter, the kernel build and whether kernels can be timed.
fn print_header(a: &BenchArgs, gpu: &Gpu, k: &Kernels) {
    print_adapter(gpu);
    print_features(gpu, k);
    if a.profile && crate::gpu::Profiler::new(gpu, 1).is_none() {
        println!("profile: this adapter has no timestamp queries inside compute passes; kernel times are not available");
    }
}

/// `gruwave bench --arch samplernn`: training and sampling samples/s of the SampleRNN
/// configurations, with the spec's FLOPs per sample.
fn run_srnn(a: &BenchArgs, gpu: &Arc<Gpu>, k: &Arc<Kernels>) -> Result<ExitCode> {
    let presets = config_names(a, gpu, "srnn-tiny", "srnn-tiny,srnn-small,srnn-base")
        .iter()
        .map(|n| {
            SrnnPreset::by_name(n).ok_or_else(|| {
                let known: Vec<_> = SRNN_PRESETS.iter().map(|p| p.name).collect();
                anyhow::anyhow!(
                    "unknown SampleRNN configuration '{n}'; known: {}",
                    known.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    print_header(a, gpu, k);
    let rate = DEFAULT_SAMPLE_RATE as f64;
    println!(
        "{:<10} {:<6} {:>7} {:>11} {:>10} {:>8} {:>11} {:>10} {:>8}  note",
        "config",
        "bench",
        "streams",
        "samples/s",
        "ms/step",
        "RTF@16k",
        "dispatches",
        "FLOP/smp",
        "GFLOP/s"
    );
    println!("{}", "-".repeat(100));
    let mut rows = Vec::new();
    let mut profiles = Vec::new();
    for p in &presets {
        let c = p.config();
        if a.what.iter().any(|w| w == "train") {
            let flops = srnn::TRAIN_FLOPS_FACTOR * c.forward_flops_per_sample(false);
            let r = srnn::train(gpu, k, p, a.warmup, a.steps, a.profile)?;
            println!(
                "{:<10} {:<6} {:>7} {:>11.0} {:>10.3} {:>8} {:>11} {:>10.3e} {:>8.2}  B={} T={} loss={:.3}, 1 submit/step, loss read every {} steps ({:.0} samples/s reading every step)",
                p.name, "train", p.batch, r.tokens_per_s, r.ms_per_step, "", r.dispatches_per_step, flops,
                r.tokens_per_s * flops / 1e9, p.batch, p.tbptt, r.final_loss, a.steps, r.sync_tokens_per_s
            );
            if let Some(prof) = &r.profile {
                profiles.push((format!("{} train step", p.name), profile_lines(prof)));
            }
            let mut row = r.to_json();
            row["arch"] = json!("samplernn");
            row["flops_per_sample"] = json!(flops);
            row["gflops"] = json!(r.tokens_per_s * flops / 1e9);
            rows.push(row);
        }
        if a.what.iter().any(|w| w == "sample") {
            let flops = c.forward_flops_per_sample(true);
            for streams in [1, 64] {
                let n = if streams == 1 { a.tokens } else { a.tokens / 2 };
                let r = srnn::sample(gpu, k, p, streams, n)?;
                println!(
                    "{:<10} {:<6} {:>7} {:>11.0} {:>10.4} {:>8.2} {:>11.1} {:>10.3e} {:>8.2}  per sample step (all streams); lookback {}",
                    p.name, "sample", streams, r.samples_per_s, r.ms_per_sample_step, r.samples_per_s / rate,
                    r.dispatches_per_sample, flops, r.samples_per_s * flops / 1e9, c.lookback()
                );
                rows.push(r.to_json(rate, flops));
            }
        }
    }
    finish(a, gpu, k, &profiles, rows)
}

fn print_adapter(gpu: &Gpu) {
    let info = &gpu.info;
    println!(
        "adapter: {} | backend: {:?} | type: {:?} | driver: {} {}",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    );
}

/// `gruwave bench --op`: each op alone at each configuration's shapes.
fn run_ops(a: &BenchArgs, gpu: &Arc<Gpu>, k: &Arc<Kernels>) -> Result<ExitCode> {
    let names: Vec<String> = if a.op.iter().any(|o| o == "all") {
        OPS.iter().map(|o| o.to_string()).collect()
    } else {
        a.op.clone()
    };
    for n in &names {
        if !OPS.contains(&n.as_str()) {
            bail!("unknown op '{n}'; the ops are: {}, or all", OPS.join(", "));
        }
    }
    let configs: Vec<String> = if a.config.is_empty() {
        vec!["base".into(), "large".into()]
    } else {
        a.config.clone()
    };
    let presets = configs
        .iter()
        .map(|n| Preset::by_name(n))
        .collect::<Result<Vec<_>>>()?;
    print_adapter(gpu);
    println!(
        "{:<18} {:<7} {:>6} {:>12} {:>9} {:>9}  shape",
        "op", "config", "calls", "us/call", "GFLOP/s", "GB/s"
    );
    println!("{}", "-".repeat(100));
    let mut rows = Vec::new();
    for name in &names {
        for p in &presets {
            let r = ops::op(gpu, k, p, name)?;
            println!(
                "{:<18} {:<7} {:>6} {:>12.1} {:>9} {:>9.1}  {}",
                r.op,
                r.config,
                r.calls,
                r.us_per_call,
                r.gflops().map_or(String::new(), |g| format!("{g:.1}")),
                r.gbps(),
                r.shape
            );
            rows.push(r.to_json());
        }
    }
    if let Some(path) = &a.json {
        let doc = json!({"adapter": gpu.info.name, "results": rows});
        crate::fsutil::write_bytes_atomic(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        println!("\nwrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The kernel build and choices, and how to change them.
fn print_features(gpu: &Gpu, k: &Kernels) {
    let reductions = if k.options.subgroups {
        "subgroup"
    } else {
        "workgroup-memory tree"
    };
    let gemm = match k.options.gemm {
        Choice::Timed => "timed per shape".to_string(),
        Choice::Fixed(t) => format!("{0}x{0}", t.size()),
    };
    let step = match k.options.step {
        Choice::Timed => "timed per shape".to_string(),
        Choice::Fixed(v) => format!("{v:?}").to_lowercase(),
    };
    println!(
        "features: {} | reductions: {reductions} (GRUWAVE_SUBGROUPS=0 forces the tree) | \
         GEMM tiles: {gemm} (GRUWAVE_GEMM_TILE=64|128 fixes them) | step kernels: {step} \
         (GRUWAVE_STEP=tiled|sliced)",
        gpu.capabilities()
    );
}
