//! `gruwave bench`: training and sampling throughput, and a per-kernel GPU profile.

use crate::bench::ops::{self, OPS};
use crate::bench::{profile_lines, sample, train};
use crate::gpu::Gpu;
use crate::kernels::Choice;
use crate::model::{Preset, DEFAULT_SAMPLE_RATE};
use crate::Kernels;
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Configurations from docs/MODEL_SPEC.md (default: tiny,small,base; tiny on a software adapter)
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
    /// Timed training steps per configuration (after 3 warm-up steps)
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Timed tokens per stream for sampling (1 stream; 64 streams run half as many)
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
    if !a.op.is_empty() {
        return run_ops(&a, &gpu, &k);
    }
    let names: Vec<String> = if a.config.is_empty() {
        let d = if gpu.is_software() {
            "tiny"
        } else {
            "tiny,small,base"
        };
        d.split(',').map(String::from).collect()
    } else {
        a.config.clone()
    };
    let presets = names
        .iter()
        .map(|n| Preset::by_name(n))
        .collect::<Result<Vec<_>>>()?;
    let info = &gpu.info;
    print_adapter(&gpu);
    print_features(&gpu, &k);
    if a.profile && crate::gpu::Profiler::new(&gpu, 1).is_none() {
        println!("profile: this adapter has no timestamp queries inside compute passes; kernel times are not available");
    }
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
            let r = train(&gpu, &k, p, 3, a.steps, a.profile)?;
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
    let timed = k.timed_choices();
    if !timed.is_empty() {
        println!("\nKernel variants chosen by timing, per shape:");
        for (shape, chosen) in &timed {
            println!("  {shape}: {chosen}");
        }
    }
    for (title, lines) in &profiles {
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
