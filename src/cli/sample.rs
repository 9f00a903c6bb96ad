//! `gruwave sample`: generate audio from a checkpoint on the GPU.

use crate::audio::{load_wav_at, write_wav};
use crate::codec::{decode_all, encode_all};
use crate::model::load_model;
use crate::sample::{SampleOptions, Sampler, Tuning, MAX_STREAMS};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Model checkpoint (model.safetensors from `gruwave train`, or a PyTorch state_dict)
    #[arg(long)]
    pub model: PathBuf,
    /// Seconds of audio to generate per stream
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Output WAV (16-bit PCM at the model's rate); with --streams > 1, NAME_000.wav, ...
    #[arg(long, default_value = "sample.wav")]
    pub out: PathBuf,
    /// Independent streams generated at once (1 to 1024)
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Softmax temperature; 0 picks the most likely sample every step
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Draw only from the k most likely values (0: all)
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Random seed: the same seed, model and GPU give the same audio
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue this recording: it is run through the model first (the output holds only
    /// the continuation)
    #[arg(long)]
    pub prime: Option<PathBuf>,
}

/// Output file of stream `i`.
fn out_path(out: &Path, streams: usize, i: usize) -> PathBuf {
    if streams == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map_or("sample".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_{i:03}.wav"))
}

/// Fail before any GPU work when the output folder cannot take the files.
fn check_writable(out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "{}: cannot write there: folder {} does not exist",
            out.display(),
            dir.display()
        );
    }
    let probe = dir.join(format!(".gruwave-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "{}: cannot write to folder {}",
            out.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Bytes of host memory free for the output, where the OS tells.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn run(a: SampleArgs) -> Result<ExitCode> {
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number, got {}", a.seconds);
    }
    if !(1..=MAX_STREAMS).contains(&a.streams) {
        bail!(
            "--streams must be between 1 and {MAX_STREAMS}, got {}",
            a.streams
        );
    }
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be 0 or more, got {}", a.temperature);
    }
    let ck = load_model(&a.model)?;
    let rate = ck.sample_rate;
    let n = (a.seconds * rate as f64).round() as u64;
    // Tokens (1 byte) plus one stream's decoded f32 samples at a time.
    let need = n * a.streams as u64 + n * 4;
    if n > u32::MAX as u64 / 2 || available_memory().is_some_and(|m| need > m / 2) {
        bail!(
            "{} s x {} streams at {rate} Hz needs about {:.1} GiB of memory for the output, more than this machine has free",
            a.seconds,
            a.streams,
            need as f64 / (1u64 << 30) as f64
        );
    }
    let n = n as usize;
    check_writable(&a.out)?;
    let prime = match &a.prime {
        Some(p) => encode_all(&load_wav_at(p, rate)?.samples),
        None => Vec::new(),
    };
    let (gpu, kernels) = super::open_gpu()?;
    let mut sampler = Sampler::new(&gpu, &kernels, &ck.layout, &ck.params, a.streams)?;
    // On a GPU, time the work splits worth trying and keep the fastest (tens of ms), unless
    // the whole generation is shorter than that.
    let candidates = Tuning::candidates(&gpu, a.streams);
    if candidates.len() > 1 && n >= 16 * sampler.block() {
        let t0 = Instant::now();
        let timed = sampler.autotune(&candidates, 2)?;
        log::info!(
            "work split: {} (fastest of {} in {:.0} ms)",
            sampler.tuning(),
            timed.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    if !prime.is_empty() {
        eprintln!(
            "priming with {:.2} s of {}",
            prime.len() as f64 / rate as f64,
            a.prime.as_ref().unwrap().display()
        );
    }
    let bar = ProgressBar::new(prime.len().saturating_sub(1) as u64).with_style(
        ProgressStyle::with_template("priming {bar:30} {pos}/{len} samples  ETA {eta}")
            .expect("valid template"),
    );
    sampler.prime_with_progress(&prime, &mut |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} samples/stream  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    let t0 = Instant::now();
    let opts = SampleOptions {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    let out = sampler.generate(n, &opts, &mut |done| {
        let rate_now = (done * a.streams) as f64 / t0.elapsed().as_secs_f64();
        bar.set_position(done as u64);
        bar.set_message(format!(
            "{rate_now:.0} samples/s, {:.2}x real time",
            rate_now / rate as f64
        ));
    })?;
    bar.finish_and_clear();
    let dt = t0.elapsed().as_secs_f64();
    let total = (n * a.streams) as f64;
    for (i, tokens) in out.iter().enumerate() {
        write_wav(&out_path(&a.out, a.streams, i), &decode_all(tokens), rate)?;
    }
    let first = out_path(&a.out, a.streams, 0);
    println!(
        "wrote {} file{} ({} at {rate} Hz{}): {:.0} samples/s, {:.2}x real time",
        a.streams,
        if a.streams == 1 { "" } else { "s" },
        if a.streams == 1 {
            first.display().to_string()
        } else {
            format!("{} ...", first.display())
        },
        if a.streams == 1 {
            String::new()
        } else {
            format!(", {} s each", a.seconds)
        },
        total / dt,
        total / dt / rate as f64
    );
    Ok(ExitCode::SUCCESS)
}
