//! `gruwave demo`: the first command to run. It composes with the bundled chorale model
//! (a .mid, its rendering and a piano roll), measures the pieces against real chorales,
//! then trains a fresh event model on the bundled chorales for the rest of its budget, so
//! the user sees learning as well as the result. `--audio` runs the older audio demo.

use super::sample::bundled_model;
use super::train::{self, TrainArgs};
use crate::codec::Codec;
use crate::midi::{self, Note};
use crate::model::load_model;
use crate::music::{pianoroll::piano_roll_png, render, stats};
use crate::sample::events::generate_events;
use crate::sample::{NoteRules, NoteState, SampleOptions, Sampler};
use crate::{Gpu, Kernels};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The whole demo's budget on a software adapter, less the final validation and save.
const BUDGET_S: f64 = 200.0;
/// Pieces composed, and their length in seconds of music.
const PIECES: usize = 4;
const PIECE_SECONDS: f64 = 30.0;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "The demo writes DIR/chorale_0.mid (and .wav, .png) and three more \
    pieces from the bundled chorale model, prints how they compare with the bundled validation \
    chorales (gruwave stats), then trains a small event model on the bundled chorales until \
    the budget of about four minutes is spent and plots its curve (DIR/train/training.png). \
    On a GPU the training part runs the midi-small model for two minutes. --audio trains an \
    audio (mu-law) model on the bundled clips instead. The demo replaces an earlier one in \
    the same folder."
)]
pub struct DemoArgs {
    /// Audio files or folders for the audio demo [default: the clips bundled in assets/]
    pub data: Vec<PathBuf>,
    /// Folder for the results
    #[arg(long, short, default_value = "gruwave-demo", value_name = "DIR")]
    pub out: PathBuf,
    /// The audio demo: train a mu-law model on audio clips and write what it makes
    #[arg(long)]
    pub audio: bool,
}

fn bundled_midi(split: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/midi")
        .join(split)
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (gpu, kernels) = super::open_gpu()?;
    if args.audio {
        return audio_demo(args, &gpu, &kernels);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the output folder", args.out.display()))?;
    compose(&args.out, &gpu, &kernels)?;
    let left = BUDGET_S - started.elapsed().as_secs_f64();
    let mut t = TrainArgs {
        data: vec![bundled_midi("train")],
        valid: vec![bundled_midi("valid")],
        out: Some(args.out.join("train")),
        force: true,
        checkpoint_every: Some(0),
        sample_seconds: Some(0.0),
        ..Default::default()
    };
    if gpu.is_software() {
        // A quarter of midi-small's width and a quarter of its window: about a second a
        // step on two cores, so the curve has a hundred or more points.
        eprintln!(
            "note: {} is a software adapter, so the demo trains a small event model \
             (H = 128, B = 16, T = 64) for {:.0} s (on a GPU: midi-small for 2 minutes)",
            gpu.info.name, left
        );
        (t.hidden, t.embed, t.batch, t.tbptt) = (Some(128), Some(32), Some(16), Some(64));
        t.minutes = Some((left.max(30.0) - 15.0) / 60.0);
        t.valid_every = Some(50);
    } else {
        t.config = Some("midi-small".into());
        t.minutes = Some(2.0);
        t.valid_every = Some(100);
    }
    let prepared = train::prepare(&t)?;
    let outcome = train::train(&t, prepared, &gpu, &kernels)?;
    super::train_loop::print_outcome(&outcome);
    println!(
        "demo finished in {}",
        super::human_duration(started.elapsed().as_secs_f64())
    );
    Ok(exit_code(outcome.interrupted))
}

fn exit_code(interrupted: bool) -> ExitCode {
    if interrupted {
        ExitCode::from(super::EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Samples PIECES pieces from the bundled model under the note rules, writes the first
/// with its rendering and piano roll (and the others as .mid), and prints the statistics
/// table against the bundled validation chorales.
fn compose(out: &Path, gpu: &Arc<Gpu>, kernels: &Arc<Kernels>) -> Result<()> {
    let path = bundled_model();
    let ck = load_model(&path).context("the bundled chorale model cannot be used")?;
    anyhow::ensure!(
        ck.codec == Codec::Perf388,
        "{}: not a MIDI model",
        path.display()
    );
    let t0 = Instant::now();
    let mut sampler = Sampler::new(gpu, kernels, &ck.layout, &ck.params, PIECES)?;
    sampler.set_note_rules(Some(NoteRules { max_hold: 3000 }))?;
    sampler.prime(&[midi::START])?;
    sampler.set_note_state(&NoteState::default());
    let opts = SampleOptions {
        temperature: super::sample_midi::DEFAULT_TEMPERATURE,
        top_k: 0,
        seed: 0,
    };
    let steps = (PIECE_SECONDS * 100.0) as u32;
    eprintln!("composing {PIECES} pieces of {PIECE_SECONDS} s with the bundled chorale model");
    let events = generate_events(&mut sampler, &opts, steps, &mut |_| {})?;
    let mut pieces: Vec<Vec<Note>> = Vec::new();
    for (i, tokens) in events.streams.iter().enumerate() {
        let notes = midi::decode_tokens(tokens)?;
        let mid = out.join(format!("chorale_{i}.mid"));
        let bytes = midi::write_midi(&notes, 0);
        crate::fsutil::write_bytes_atomic(&mid, &bytes)?;
        if i == 0 {
            let font = render::bundled_soundfont()?;
            render::render_to_wav(
                &bytes,
                &font,
                44_100,
                None,
                false,
                &mid.with_extension("wav"),
            )?;
            piano_roll_png(
                &notes,
                "gruwave demo: chorale_0",
                &mid.with_extension("png"),
            )?;
            println!(
                "listen:   {}\nlook:     {}",
                mid.with_extension("wav").display(),
                mid.with_extension("png").display()
            );
        }
        pieces.push(notes);
    }
    println!(
        "composed {PIECES} pieces in {:.1} s: {}",
        t0.elapsed().as_secs_f64(),
        out.join("chorale_{0..3}.mid").display()
    );
    let reference = read_pieces(&bundled_midi("valid"))?;
    println!(
        "\nthe pieces against {} real chorales (gruwave stats):",
        reference.len()
    );
    println!("{}", stats::compare(&pieces, &reference).table());
    Ok(())
}

/// The notes of every MIDI file in `dir`.
fn read_pieces(dir: &Path) -> Result<Vec<Vec<Note>>> {
    let (_, files) = crate::data::collect_music_files(&[dir.to_path_buf()])?;
    files
        .iter()
        .map(|f| {
            let bytes =
                std::fs::read(f).with_context(|| format!("{}: cannot read", f.display()))?;
            midi::read_notes(&bytes, &f.display().to_string())
        })
        .collect()
}

/// The audio demo: a mu-law model on the bundled clips, about two minutes.
fn audio_demo(args: DemoArgs, gpu: &Arc<Gpu>, kernels: &Arc<Kernels>) -> Result<ExitCode> {
    let mut train_args = TrainArgs {
        data: args.data,
        out: Some(args.out),
        force: true,
        ..Default::default()
    };
    if gpu.is_software() {
        // About 2 GFLOP/s: tiny for 400 steps is what fits in about two minutes.
        eprintln!(
            "note: {} is a software adapter, so the demo trains the tiny model for 400 steps \
             (on a GPU: the small model for 2 minutes)",
            gpu.info.name
        );
        train_args.config = Some("tiny".into());
        // Validation is the costly part there (forward passes over all 24 s): twice.
        train_args.steps = Some(400);
        train_args.valid_every = Some(200);
    } else {
        train_args.config = Some("small".into());
        train_args.minutes = Some(2.0);
        train_args.valid_every = Some(250);
    }
    train_args.checkpoint_every = Some(0);
    let prepared = train::prepare(&train_args)?;
    let outcome = train::train(&train_args, prepared, gpu, kernels)?;
    super::train_loop::print_outcome(&outcome);
    Ok(exit_code(outcome.interrupted))
}
