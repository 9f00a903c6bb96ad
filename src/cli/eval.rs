//! `gruwave eval`: a model's bits per sample on audio files, or bits per event on MIDI.

use super::Dataset;
use crate::codec::Codec;
use crate::midi;
use crate::model::load_model;
use crate::train::eval::{EvalWindows, Evaluator};
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
    reports bits per second of music."
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

pub fn run(args: EvalArgs) -> Result<ExitCode> {
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
