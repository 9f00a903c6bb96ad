//! `gruwave eval`: a model's bits per sample on audio files, or bits per event on MIDI.

use super::Dataset;
use crate::codec::Codec;
use crate::midi;
use crate::model::load_model;
use crate::samplernn::{is_samplernn, parse_srnn};
use crate::train::eval::{EvalWindows, Evaluate, Evaluator, SrnnEvaluator};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  gruwave eval --model runs/piano/model.safetensors test/\n\n\
    The audio is resampled to the model's sample rate. The files are read as B streams of \
    windows of T samples, with the hidden state carried from window to window; a stream \
    starts from a zero state, so B and T change the result a little, and the last few \
    samples of each file that do not fill a window are not scored. A MIDI (perf388) model \
    scores every event of every file from a zero state after the start marker, and also \
    reports bits per second of music. A SampleRNN model scores every file from a reset \
    (lookback q/2, tiers from h0), in chunks of --tbptt samples (at least 2048, rounded up to a \
    multiple of its lookback; the score does not depend on them); a file's last, partial chunk is scored with a masked tail; a file's \
    first sample only serves as input."
)]
pub struct EvalArgs {
    /// A model.safetensors (from gruwave train, or a PyTorch state_dict per docs/MODEL_SPEC.md)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// WAV or MIDI files or folders (searched recursively), of the model's kind
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    /// Streams evaluated in parallel
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Samples per window
    #[arg(long, default_value_t = 128)]
    pub tbptt: usize,
}

/// Bits per sample of a SampleRNN over the files, each from a reset.
fn run_srnn(args: &EvalArgs, bytes: &[u8]) -> Result<ExitCode> {
    let ckpt = parse_srnn(bytes, &args.model)?;
    let rate = ckpt
        .sample_rate
        .unwrap_or(crate::model::DEFAULT_SAMPLE_RATE);
    let audio = Dataset::load(&args.data, &[], rate, 0.0)?;
    audio.check_codec(Codec::MuLaw256, &args.model)?;
    let l = ckpt.layout.config.lookback();
    let tbptt = crate::train::session::srnn_eval_window(args.tbptt.max(1).div_ceil(l) * l, l);
    let windows = EvalWindows::plan(&audio.train, args.batch, tbptt, true)?;
    let (gpu, kernels) = super::open_gpu()?;
    let params = gpu.storage_from("params", &ckpt.params);
    let eval = SrnnEvaluator::new(&gpu, &kernels, &ckpt.layout, &params, windows)
        .context("cannot set up the evaluation")?;
    report(&eval, &audio, rate, &ckpt.layout.config.named())
}

/// Prints the bits per sample of an audio evaluation.
fn report(eval: &dyn Evaluate, audio: &Dataset, rate: u32, model: &str) -> Result<ExitCode> {
    let nats = eval.mean_nats(&mut |_| {})?;
    let w = eval.windows();
    println!(
        "{:.4} bits/sample ({nats:.4} nats) on {} ({} of {} samples scored) with {model}",
        nats / std::f64::consts::LN_2,
        audio.describe(&audio.train, rate),
        w.predictions(),
        w.total_tokens(),
    );
    if let Some(note) = audio.skipped_note() {
        println!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    // An unreadable file goes on to load_model, which says what is wrong.
    if let Some(bytes) = std::fs::read(&args.model).ok().filter(|b| is_samplernn(b)) {
        return run_srnn(&args, &bytes);
    }
    let ckpt = load_model(&args.model)?;
    let rate = ckpt.sample_rate;
    let audio = Dataset::load(&args.data, &[], rate, 0.0)?;
    audio.check_codec(ckpt.codec, &args.model)?;
    let windows = EvalWindows::new(&audio.train, args.batch, args.tbptt, ckpt.codec)?;
    let (gpu, kernels) = super::open_gpu()?;
    let params = gpu.storage_from("params", &ckpt.params);
    let eval = Evaluator::new(&gpu, &kernels, &ckpt.layout, &params, windows)
        .context("cannot set up the evaluation")?;
    let nats = eval.mean_nats(&mut |_| {})?;
    let w = eval.windows();
    let bits = nats / std::f64::consts::LN_2;
    let unit = ckpt.codec.unit();
    let per_second = match ckpt.codec {
        Codec::Perf388 => {
            let seconds: f64 = audio.train.iter().map(|t| midi::seconds(&t.tokens)).sum();
            format!(
                ", {:.1} bits per second of music",
                bits * w.predictions() as f64 / seconds
            )
        }
        Codec::MuLaw256 => String::new(),
    };
    println!(
        "{bits:.4} bits/{unit} ({nats:.4} nats){per_second} on {} ({} of {} {unit}s scored) with {}",
        audio.describe(&audio.train, rate),
        w.predictions(),
        w.total_tokens(),
        ckpt.layout.config.named(),
    );
    if let Some(note) = audio.skipped_note() {
        println!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}
