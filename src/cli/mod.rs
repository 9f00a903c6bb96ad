//! The command line (sampling and benchmarks; training arrives with the train CLI).

mod bench;
mod sample;

use crate::{Gpu, Kernels};
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "gruwave",
    version,
    about = "GRU language models on music, in WGSL on wgpu"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate audio from a checkpoint on the GPU
    Sample(sample::SampleArgs),
    /// Measure training and sampling throughput (and GPU time per kernel with --profile)
    Bench(bench::BenchArgs),
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let result = match Cli::parse().command {
        Command::Sample(a) => sample::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn open_gpu() -> Result<(Arc<Gpu>, Arc<Kernels>)> {
    let gpu = Gpu::new()?;
    eprintln!("GPU: {}", gpu.describe());
    let kernels = Arc::new(Kernels::new(&gpu));
    Ok((gpu, kernels))
}
