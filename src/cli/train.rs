//! `gruwave train`: settings from the command line (or the run being resumed), the
//! training loop with its progress bar, validation, checkpoints and Ctrl-C handling.

use super::{human_duration, Audio, EXIT_INTERRUPTED};
use crate::model::{load_model, Checkpoint, ModelConfig, Preset, DEFAULT_SAMPLE_RATE, PRESETS};
use crate::plot::{plot_metrics, PLOT_FILE};
use crate::train::metrics::{read_metrics, write_metrics, MetricsRow, METRICS_FILE};
use crate::train::preview::{preview_name, write_preview};
use crate::train::session::{RunConfig, Session, MODEL_FILE, STATE_FILE};
use crate::train::state::TrainerState;
use crate::{Gpu, Kernels, TrainOptions};
use anyhow::{bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

const LN2: f64 = std::f64::consts::LN_2;
const DEFAULT_STEPS: u64 = 2000;
const DEFAULT_VALID_EVERY: u64 = 200;
const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;
const DEFAULT_VALID_FRACTION: f64 = 0.1;

#[derive(clap::Args, Debug, Default, Clone)]
#[command(after_help = "Examples:\n  \
    gruwave train recordings/ --out runs/piano --minutes 30\n  \
    gruwave train a.wav b.wav --valid c.wav --config small --steps 5000 --out runs/ab\n  \
    gruwave train --resume runs/piano --steps 10000\n\n\
    The output folder gets model.safetensors (PyTorch state_dict names), \
    trainer_state.safetensors (everything --resume needs to continue exactly), \
    metrics.csv, training.png, and at each checkpoint a few seconds of generated audio \
    (sample_step{N}.wav). Ctrl-C saves a checkpoint and stops; --resume continues from it.")]
pub struct TrainArgs {
    /// WAV files or folders (searched recursively) [default: the clips bundled in assets/]
    pub data: Vec<PathBuf>,
    /// Folder for the model, trainer state, metrics and plot [default with --resume: the resumed folder]
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Validation WAV files or folders (repeat the flag for several) [default: hold out --valid-fraction of DATA, by file]
    #[arg(long, value_name = "PATH")]
    pub valid: Vec<PathBuf>,
    /// Model and batch preset: tiny, small, base or large (see MODEL_SPEC.md) [default: base; tiny on a software adapter]
    #[arg(long, value_parser = ["tiny", "small", "base", "large"])]
    pub config: Option<String>,
    /// Hidden units per GRU layer (overrides the preset)
    #[arg(long)]
    pub hidden: Option<usize>,
    /// GRU layers (overrides the preset)
    #[arg(long)]
    pub layers: Option<usize>,
    /// Embedding width (overrides the preset)
    #[arg(long)]
    pub embed: Option<usize>,
    /// Streams per batch B [default: the preset's]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Truncated-BPTT window T in samples [default: the preset's]
    #[arg(long)]
    pub tbptt: Option<usize>,
    /// Total optimiser steps of the run, counting those before a --resume [default: 2000, or none with --minutes]
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop after this many minutes of this invocation (a checkpoint is saved)
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Adam learning rate [default: 0.002]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Clip the global gradient norm to this ("inf": no clipping) [default: 1]
    #[arg(long)]
    pub clip: Option<f64>,
    /// Seed of the initial weights [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of the files held out for validation when --valid is not given (of a single file: its tail) [default: 0.1]
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Validate every N steps, and at the end (0: only at the end) [default: 200]
    #[arg(long, value_name = "N")]
    pub valid_every: Option<u64>,
    /// Save a checkpoint every N steps, and at the end (0: only at the end) [default: 1000]
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Model sample rate in Hz; audio is resampled to it [default: 16000, or the --init model's]
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Continue the run saved in DIR exactly where it stopped
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Start from the weights in this model.safetensors (gruwave's or a PyTorch state_dict)
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Seconds of audio generated at each checkpoint, as sample_step{N}.wav (0: none) [default: 4; 1 on a software adapter]
    #[arg(long, value_name = "S")]
    pub sample_seconds: Option<f64>,
    /// Replace a run already in the output folder
    #[arg(long)]
    pub force: bool,
}

/// What `prepare` settles before the GPU is opened: bad input fails here, fast.
pub(crate) struct Prepared {
    out: PathBuf,
    audio: Audio,
    start: Start,
}

enum Start {
    Fresh {
        init: Option<Checkpoint>,
        sample_rate: u32,
        data: Vec<PathBuf>,
        valid: Vec<PathBuf>,
    },
    Resume(Box<TrainerState>),
}

/// The result of a training invocation.
pub(crate) struct Outcome {
    pub out: PathBuf,
    pub steps: u64,
    pub new_steps: u64,
    pub valid_bits: Option<f64>,
    pub interrupted: bool,
    pub seconds: f64,
    pub skipped_note: Option<String>,
    /// The last generated preview.
    pub preview: Option<PathBuf>,
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let prepared = prepare(&args)?;
    let (gpu, kernels) = super::open_gpu()?;
    let outcome = train(&args, prepared, &gpu, &kernels)?;
    print_outcome(&outcome);
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints where everything is, and how to go on.
pub(crate) fn print_outcome(o: &Outcome) {
    let dir = o.out.display();
    if o.new_steps > 0 {
        println!(
            "trained {} step{} ({} in all) in {}",
            o.new_steps,
            if o.new_steps == 1 { "" } else { "s" },
            o.steps,
            human_duration(o.seconds)
        );
    }
    if let Some(v) = o.valid_bits {
        println!("validation: {v:.4} bits/sample");
    }
    println!("model:    {}", o.out.join(MODEL_FILE).display());
    println!("state:    {}", o.out.join(STATE_FILE).display());
    println!("metrics:  {}", o.out.join(METRICS_FILE).display());
    if o.out.join(PLOT_FILE).exists() {
        println!("plot:     {}", o.out.join(PLOT_FILE).display());
    }
    if let Some(p) = &o.preview {
        println!("listen:   {}", p.display());
    }
    if o.interrupted {
        println!(
            "interrupted at step {}; continue with: gruwave train --resume {dir}",
            o.steps
        );
    }
    if let Some(note) = &o.skipped_note {
        println!("{note}");
    }
}

/// Flags that fix the run's shape or optimisation; a resumed run keeps its own.
fn fixed_on_resume(a: &TrainArgs) -> Vec<&'static str> {
    [
        ("--config", a.config.is_some()),
        ("--hidden", a.hidden.is_some()),
        ("--layers", a.layers.is_some()),
        ("--embed", a.embed.is_some()),
        ("--batch", a.batch.is_some()),
        ("--tbptt", a.tbptt.is_some()),
        ("--lr", a.lr.is_some()),
        ("--clip", a.clip.is_some()),
        ("--seed", a.seed.is_some()),
        ("--valid-fraction", a.valid_fraction.is_some()),
        ("--sample-rate", a.sample_rate.is_some()),
        ("--init", a.init.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect()
}

/// Absolute paths, so a resumed run finds its data from any working directory.
fn absolute(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect()
}

/// Checks the flags, reads the resumed state or the --init model, and loads the audio.
pub(crate) fn prepare(args: &TrainArgs) -> Result<Prepared> {
    if let Some(m) = args.minutes {
        ensure!(
            m > 0.0 && m.is_finite(),
            "--minutes must be positive, got {m}"
        );
    }
    if let Some(s) = args.sample_seconds {
        ensure!(
            s >= 0.0 && s.is_finite(),
            "--sample-seconds must be 0 or more, got {s}"
        );
    }
    if let Some(dir) = &args.resume {
        let fixed = fixed_on_resume(args);
        if !fixed.is_empty() {
            bail!(
                "{} cannot be changed when resuming: the run continues exactly with the settings \
                 saved in {} (to start a new run from its weights, use --init {})",
                fixed.join(", "),
                dir.display(),
                dir.join(MODEL_FILE).display()
            );
        }
        let state = TrainerState::load(&dir.join(STATE_FILE)).with_context(|| {
            format!(
                "{}: cannot resume (is it a gruwave training folder?)",
                dir.display()
            )
        })?;
        let run = &state.run;
        let data = if args.data.is_empty() {
            run.data.clone()
        } else {
            absolute(&args.data)
        };
        let valid = if args.valid.is_empty() {
            run.valid_data.clone()
        } else {
            absolute(&args.valid)
        };
        let audio = Audio::load(&data, &valid, run.sample_rate, run.valid_fraction)?;
        let mut state = Box::new(state);
        state.run.data = data;
        state.run.valid_data = valid;
        let out = args.out.clone().unwrap_or_else(|| dir.clone());
        return Ok(Prepared {
            out,
            audio,
            start: Start::Resume(state),
        });
    }
    let Some(out) = args.out.clone() else {
        bail!("--out DIR is required: the folder for the model, metrics and plot");
    };
    if out.join(STATE_FILE).exists() && !args.force {
        bail!(
            "{} already holds a training run: continue it with --resume {0}, replace it with \
             --force, or choose another --out",
            out.display()
        );
    }
    let init = args
        .init
        .as_deref()
        .map(|p| load_model(p).context("cannot use the --init model"))
        .transpose()?;
    let sample_rate = match (&init, args.sample_rate) {
        (Some(c), Some(r)) if c.sample_rate != r => bail!(
            "--sample-rate {r} differs from the --init model's {} Hz",
            c.sample_rate
        ),
        (Some(c), _) => c.sample_rate,
        (None, r) => r.unwrap_or(DEFAULT_SAMPLE_RATE),
    };
    ensure!(sample_rate > 0, "--sample-rate must be positive");
    let (data, valid) = if args.data.is_empty() {
        let (t, v) = super::bundled_corpus()?;
        eprintln!(
            "no audio given: training on the clips bundled in {}",
            t.parent().unwrap().display()
        );
        (
            vec![t],
            if args.valid.is_empty() {
                vec![v]
            } else {
                args.valid.clone()
            },
        )
    } else {
        (args.data.clone(), args.valid.clone())
    };
    let (data, valid) = (absolute(&data), absolute(&valid));
    let fraction = args.valid_fraction.unwrap_or(DEFAULT_VALID_FRACTION);
    let audio = Audio::load(&data, &valid, sample_rate, fraction)?;
    Ok(Prepared {
        out,
        audio,
        start: Start::Fresh {
            init,
            sample_rate,
            data,
            valid,
        },
    })
}

/// The settings of a new run: flags over the preset; the --init model fixes the shape.
fn fresh_run(
    args: &TrainArgs,
    gpu: &Gpu,
    init: Option<&Checkpoint>,
    sample_rate: u32,
    data: Vec<PathBuf>,
    valid_data: Vec<PathBuf>,
) -> Result<RunConfig> {
    let preset = match &args.config {
        Some(name) => Preset::by_name(name)?,
        None if gpu.is_software() => {
            eprintln!(
                "note: {} is a software adapter, so the model defaults to --config tiny \
                 (base on a real GPU); pass --config to choose",
                gpu.info.name
            );
            Preset::by_name("tiny")?
        }
        None => Preset::by_name("base")?,
    };
    let mut model = preset.model;
    model.hidden = args.hidden.unwrap_or(model.hidden);
    model.layers = args.layers.unwrap_or(model.layers);
    model.embed = args.embed.unwrap_or(model.embed);
    model.validate()?;
    if let Some(c) = init {
        let asked = args.config.is_some()
            || args.hidden.is_some()
            || args.layers.is_some()
            || args.embed.is_some();
        if asked && model != c.layout.config {
            bail!(
                "the --init model has shape {} but the flags ask for {model}",
                c.layout.config
            );
        }
        model = c.layout.config;
    }
    let opts = TrainOptions {
        lr: args.lr.unwrap_or(TrainOptions::default().lr),
        clip: args.clip.unwrap_or(TrainOptions::default().clip),
        ..Default::default()
    };
    Ok(RunConfig {
        model,
        batch: args.batch.unwrap_or(preset.batch),
        tbptt: args.tbptt.unwrap_or(preset.tbptt),
        opts,
        seed: args.seed.unwrap_or(0),
        sample_rate,
        valid_fraction: args.valid_fraction.unwrap_or(DEFAULT_VALID_FRACTION),
        data,
        valid_data,
        steps: args.steps.or(if args.minutes.is_some() {
            None
        } else {
            Some(DEFAULT_STEPS)
        }),
        valid_every: args.valid_every.unwrap_or(DEFAULT_VALID_EVERY),
        checkpoint_every: args.checkpoint_every.unwrap_or(DEFAULT_CHECKPOINT_EVERY),
        sample_seconds: args
            .sample_seconds
            .unwrap_or(if gpu.is_software() { 1.0 } else { 4.0 }),
    })
}

/// Removes what an earlier run wrote to `out` (for --force), so no stale file remains.
fn clear_run(out: &Path) -> Result<()> {
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ours = [MODEL_FILE, STATE_FILE, METRICS_FILE, PLOT_FILE].contains(&name.as_ref())
            || (name.starts_with("sample_step") && name.ends_with(".wav"));
        if ours {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
    }
    Ok(())
}

/// "tiny (V=256 E=32 H=64 L=1)", or "custom (...)".
pub(crate) fn model_name(m: &ModelConfig) -> String {
    let name = PRESETS
        .iter()
        .find(|p| p.model == *m)
        .map_or("custom", |p| p.name);
    format!("{name} ({m})")
}

/// Set on Ctrl-C; a second Ctrl-C exits at once.
fn interrupt_flag() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if FLAG.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without saving");
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to quit at once)");
        });
        if let Err(e) = installed {
            log::warn!("cannot catch Ctrl-C ({e}); an interrupted run keeps its last checkpoint");
        }
    });
    &FLAG
}

/// Progress bar, or plain lines when stderr is not a terminal (CI logs, tests).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(start: u64, target: Option<u64>) -> Progress {
        let bar = match target {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let template = if target.is_some() {
            "{spinner:.green} [{elapsed_precise}] {bar:20.cyan/blue} {pos}/{len} {wide_msg}"
        } else {
            "{spinner:.green} [{elapsed_precise}] step {pos} {wide_msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(start);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A line that stays: above the bar, or on stderr when there is no bar.
    fn line(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

/// Recent steps, for the bar's smoothed loss, throughput and ETA.
struct Recent {
    window: VecDeque<(f64, f64)>, // (train bits, seconds)
}

impl Recent {
    const LEN: usize = 50;

    fn push(&mut self, bits: f64, secs: f64) {
        if self.window.len() == Self::LEN {
            self.window.pop_front();
        }
        self.window.push_back((bits, secs));
    }

    fn mean_bits(&self) -> f64 {
        self.window.iter().map(|w| w.0).sum::<f64>() / self.window.len().max(1) as f64
    }

    fn mean_secs(&self) -> f64 {
        self.window.iter().map(|w| w.1).sum::<f64>() / self.window.len().max(1) as f64
    }
}

/// Runs (or continues) training to the target step, the time budget or Ctrl-C.
pub(crate) fn train(
    args: &TrainArgs,
    prepared: Prepared,
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
) -> Result<Outcome> {
    let Prepared { out, audio, start } = prepared;
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create the output folder", out.display()))?;
    let (mut session, mut rows) = match start {
        Start::Fresh {
            init,
            sample_rate,
            data,
            valid,
        } => {
            if args.force {
                clear_run(&out)?;
            }
            let run = fresh_run(args, gpu, init.as_ref(), sample_rate, data, valid)?;
            let params = init.map(|c| c.params);
            let s = Session::start(gpu, kernels, run, &audio.train, &audio.valid, params)?;
            (s, Vec::new())
        }
        Start::Resume(mut state) => {
            let run = &mut state.run;
            // Flags about when to stop, validate and save may change on resume.
            if args.steps.is_some() || args.minutes.is_some() {
                run.steps = args.steps;
            } else if run.steps.is_none() {
                bail!(
                    "the run was limited by --minutes, not a number of steps: pass --steps N \
                     or --minutes M to say how long to continue"
                );
            }
            run.valid_every = args.valid_every.unwrap_or(run.valid_every);
            run.checkpoint_every = args.checkpoint_every.unwrap_or(run.checkpoint_every);
            run.sample_seconds = args.sample_seconds.unwrap_or(run.sample_seconds);
            let step = state.step;
            let from = args.resume.as_deref().unwrap_or(&out).join(METRICS_FILE);
            let mut rows = if from.exists() {
                read_metrics(&from)?
            } else {
                Vec::new()
            };
            // Steps after the checkpoint were lost with the interrupted run; redo them.
            rows.retain(|r| r.step <= step);
            let s = Session::resume(gpu, kernels, *state, &audio.train, &audio.valid)?;
            eprintln!("resuming at step {step}");
            (s, rows)
        }
    };
    let run = session.run.clone();
    let first_step = session.step_count();
    let target = run.steps;
    if target.is_some_and(|t| first_step >= t) && args.minutes.is_none() {
        eprintln!(
            "the run has already done {first_step} of {} steps; pass --steps N to train longer",
            target.unwrap_or(0)
        );
        return Ok(Outcome {
            out,
            steps: first_step,
            new_steps: 0,
            valid_bits: rows.iter().rev().find_map(|r| r.valid_bits),
            interrupted: false,
            seconds: 0.0,
            skipped_note: audio.skipped_note(),
            preview: None,
        });
    }
    eprintln!(
        "training {}, B={} T={}, lr {} on {}; validating on {}",
        model_name(&run.model),
        run.batch,
        run.tbptt,
        run.opts.lr,
        Audio::describe(&audio.train, run.sample_rate),
        if audio.valid.is_empty() {
            "nothing (no validation data)".to_string()
        } else {
            Audio::describe(&audio.valid, run.sample_rate)
        }
    );
    let title = format!(
        "{} · B={} T={}",
        model_name(&run.model),
        run.batch,
        run.tbptt
    );

    let interrupted = interrupt_flag();
    interrupted.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let deadline = args
        .minutes
        .map(|m| started + Duration::from_secs_f64(m * 60.0));
    let elapsed = |s: &Session| s.elapsed_before() + started.elapsed().as_secs_f64();
    let progress = Progress::new(first_step, target);
    let mut recent = Recent {
        window: VecDeque::new(),
    };
    let every = |n: u64, step: u64| n > 0 && step.is_multiple_of(n);
    let mut saved_at = None;
    let mut stopped_by_ctrl_c = false;

    // Validation bits/sample, and a note of how long it took (to help choose --valid-every).
    let validate = |session: &Session, progress: &Progress| -> Result<Option<(f64, String)>> {
        let steps = session.evaluator().map_or(0, |e| e.passes());
        let t0 = Instant::now();
        let nats = session.validate(&mut |done| {
            progress
                .bar
                .set_message(format!("validating {done}/{steps}"));
        })?;
        let took = format!(
            "validated in {}",
            human_duration(t0.elapsed().as_secs_f64())
        );
        Ok(nats.map(|n| (n / LN2, took)))
    };
    let sample_seconds = run.sample_seconds;
    let mut preview = None;
    let write_curves = |rows: &[MetricsRow]| -> Result<()> {
        write_metrics(&out.join(METRICS_FILE), rows)?;
        if !rows.is_empty() {
            if let Err(e) = plot_metrics(&out.join(PLOT_FILE), rows, &title) {
                log::warn!("{e:#}");
            }
        }
        Ok(())
    };
    let mut checkpoint = |session: &Session,
                          rows: &[MetricsRow],
                          progress: &Progress,
                          with_preview: bool|
     -> Result<()> {
        progress.bar.set_message("saving a checkpoint");
        let state = session.save(&out, elapsed(session))?;
        write_curves(rows)?;
        if with_preview && sample_seconds > 0.0 {
            let path = out.join(preview_name(state.step));
            let total = (sample_seconds * run.sample_rate as f64).round() as usize;
            write_preview(
                gpu,
                kernels,
                &session.trainer.layout,
                &state.params,
                run.sample_rate,
                sample_seconds,
                run.seed.wrapping_add(state.step),
                &path,
                &mut |done| {
                    progress
                        .bar
                        .set_message(format!("generating {done}/{total} samples"))
                },
            )?;
            preview = Some(path);
        }
        Ok(())
    };

    loop {
        let step = session.step_count();
        if interrupted.load(Ordering::SeqCst) {
            stopped_by_ctrl_c = true;
            break;
        }
        if target.is_some_and(|t| step >= t) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let t0 = Instant::now();
        let stats = session.step()?;
        let secs = t0.elapsed().as_secs_f64();
        let step = session.step_count();
        let bits = stats.loss as f64 / LN2;
        recent.push(bits, secs);
        let mut row = MetricsRow {
            step,
            train_bits: bits,
            valid_bits: None,
            tokens_per_s: session.tokens_per_step() as f64 / secs,
            elapsed_s: 0.0,
        };
        if every(run.valid_every, step) {
            if let Some((v, took)) = validate(&session, &progress)? {
                row.valid_bits = Some(v);
                progress.line(&format!(
                    "step {step}: train {:.3} bits/sample (mean of the last {}), valid {v:.3} bits/sample ({took})",
                    recent.mean_bits(),
                    recent.window.len()
                ));
            }
        }
        row.elapsed_s = elapsed(&session);
        rows.push(row);
        if every(run.checkpoint_every, step) {
            checkpoint(&session, &rows, &progress, true)?;
            saved_at = Some(step);
        }

        // The bar: smoothed loss, throughput, and time left.
        let per_step = started.elapsed().as_secs_f64() / (step - first_step) as f64;
        let mut left = target.map(|t| (t - step) as f64 * per_step);
        if let Some(d) = deadline {
            let budget = d.saturating_duration_since(Instant::now()).as_secs_f64();
            left = Some(left.map_or(budget, |l| l.min(budget)));
        }
        progress.bar.set_position(step);
        progress.bar.set_message(format!(
            "ETA {}, train {:.3} bits/sample, {:.0} tokens/s",
            left.map_or("?".to_string(), human_duration),
            recent.mean_bits(),
            session.tokens_per_step() as f64 / recent.mean_secs()
        ));
    }

    let step = session.step_count();
    // A run stopped by Ctrl-C saves at once; the final validation can wait for the resume.
    let mut validated_late = false;
    if !stopped_by_ctrl_c {
        if let Some(last) = rows
            .last_mut()
            .filter(|r| r.step == step && r.valid_bits.is_none())
        {
            if let Some((v, took)) = validate(&session, &progress)? {
                last.valid_bits = Some(v);
                validated_late = true;
                progress.line(&format!("step {step}: valid {v:.3} bits/sample ({took})"));
            }
        }
    }
    if saved_at != Some(step) {
        checkpoint(&session, &rows, &progress, !stopped_by_ctrl_c)?;
    } else if validated_late {
        write_curves(&rows)?;
    }
    progress.bar.finish_and_clear();
    Ok(Outcome {
        out,
        steps: step,
        new_steps: step - first_step,
        valid_bits: rows.iter().rev().find_map(|r| r.valid_bits),
        interrupted: stopped_by_ctrl_c,
        seconds: started.elapsed().as_secs_f64(),
        skipped_note: audio.skipped_note(),
        preview,
    })
}
