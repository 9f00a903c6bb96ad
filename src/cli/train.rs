//! `gruwave train`: the run's settings from the command line (or from the run being
//! resumed), checked and loaded before the GPU is opened; the loop is in `train_loop`.

use super::preview::is_preview_name;
use super::train_loop::{print_outcome, run_loop, Outcome};
use super::{Dataset, EXIT_INTERRUPTED};
use crate::audio::check_sample_rate;
use crate::codec::Codec;
use crate::model::{load_model, Checkpoint, ModelConfig, Preset, DEFAULT_SAMPLE_RATE};
use crate::plot::PLOT_FILE;
use crate::samplernn::{is_samplernn, parse_srnn, SrnnCheckpoint, SrnnPreset};
use crate::train::metrics::{read_metrics, MetricsRow, METRICS_FILE};
use crate::train::run_config::MAX_SAMPLE_SECONDS;
use crate::train::schedule::{LrSchedule, LrShape};
use crate::train::session::{ModelSpec, RunConfig, Session, MODEL_FILE, STATE_FILE};
use crate::train::state::TrainerState;
use crate::{Gpu, Kernels, TrainOptions};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const DEFAULT_STEPS: u64 = 2000;
const DEFAULT_VALID_EVERY: u64 = 200;
const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;
const DEFAULT_VALID_FRACTION: f64 = 0.1;
/// Transposition of MIDI training pieces, in semitones (docs/MIDI_TOKENS.md: 5 for the chorales).
const DEFAULT_TRANSPOSE: u32 = 5;

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
    /// Model family: gru (the GRU language model) or samplernn (docs/SAMPLERNN_SPEC.md; audio only) [default: gru, or what --config or --init names]
    #[arg(long, value_parser = ["gru", "samplernn"])]
    pub arch: Option<String>,
    /// Model and batch preset: tiny, small, base or large for audio (docs/MODEL_SPEC.md); midi-small or midi-base for MIDI; srnn-tiny, srnn-small or srnn-base for a SampleRNN [default: base, or midi-small for MIDI, or srnn-small with --arch samplernn; tiny or srnn-tiny on a software adapter]
    #[arg(long, value_parser = ["tiny", "small", "base", "large", "midi-small", "midi-base", "srnn-tiny", "srnn-small", "srnn-base"])]
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
    /// Adam learning rate [default: 0.002; 0.001 for a SampleRNN]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule after the warmup: constant, or cosine or linear decay to a tenth of --lr at the last of --steps [default: constant]
    #[arg(long, value_name = "SHAPE", value_parser = ["constant", "cosine", "linear"])]
    pub lr_schedule: Option<String>,
    /// Steps over which the learning rate rises linearly from 0 to --lr [default: 0]
    #[arg(long, value_name = "STEPS")]
    pub warmup: Option<u64>,
    /// Clip the global gradient norm to this ("inf": no clipping) [default: 1; inf for a SampleRNN]
    #[arg(long)]
    pub clip: Option<f64>,
    /// Clamp every gradient element to [-V, V] after the norm clip [default: none; 1 for a SampleRNN]
    #[arg(long, value_name = "V")]
    pub clip_value: Option<f64>,
    /// MIDI: transpose each training piece by a random shift of up to N semitones that keeps its notes in range (0: off) [default: 5]
    #[arg(long, value_name = "N")]
    pub transpose: Option<u32>,
    /// Seed of the initial weights (and of the transposition draws) [default: 0]
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
    /// Seconds of audio generated at each checkpoint, as sample_step{N}.wav (0: none; a SampleRNN makes none) [default: 4; 1 on a software adapter]
    #[arg(long, value_name = "S")]
    pub sample_seconds: Option<f64>,
    /// Replace a run already in the output folder
    #[arg(long)]
    pub force: bool,
    /// Time the kernel variants afresh instead of using the choices cached for this GPU
    #[arg(long)]
    pub retune: bool,
}

/// What `prepare` settles before the GPU is opened: bad input fails here, fast.
pub(crate) struct Prepared {
    out: PathBuf,
    audio: Dataset,
    start: Start,
}

/// A model to start from (--init): either family.
enum InitModel {
    Gru(Checkpoint),
    Srnn(SrnnCheckpoint),
}

impl InitModel {
    fn load(path: &Path) -> Result<InitModel> {
        // An unreadable file goes on to load_model, which says what is wrong.
        Ok(match std::fs::read(path).ok().filter(|b| is_samplernn(b)) {
            Some(bytes) => InitModel::Srnn(parse_srnn(&bytes, path)?),
            None => InitModel::Gru(load_model(path)?),
        })
    }

    fn sample_rate(&self) -> Option<u32> {
        match self {
            InitModel::Gru(c) => Some(c.sample_rate),
            InitModel::Srnn(c) => c.sample_rate,
        }
    }

    fn codec(&self) -> Codec {
        match self {
            InitModel::Gru(c) => c.codec,
            InitModel::Srnn(_) => Codec::MuLaw256,
        }
    }

    fn spec(&self) -> ModelSpec {
        match self {
            InitModel::Gru(c) => ModelSpec::Gru(c.layout.config),
            InitModel::Srnn(c) => ModelSpec::Srnn(c.layout.config.clone()),
        }
    }

    fn params(self) -> Vec<f32> {
        match self {
            InitModel::Gru(c) => c.params,
            InitModel::Srnn(c) => c.params,
        }
    }
}

enum Start {
    Fresh {
        init: Option<InitModel>,
        sample_rate: u32,
        data: Vec<PathBuf>,
        valid: Vec<PathBuf>,
    },
    Resume(Box<TrainerState>),
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    crate::gpu::tuning_cache::set_retune(args.retune);
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

/// Flags that fix the run's shape or optimisation and ask for another value than the one
/// saved: a resumed run keeps its own, but repeating a saved value is no change.
fn changed_on_resume(a: &TrainArgs, run: &RunConfig) -> Vec<&'static str> {
    let gru = run.model.gru_layout().map(|l| l.config);
    let preset_same = a.config.as_deref().map(|name| {
        let model = match SrnnPreset::by_name(name) {
            Some(p) => Some((ModelSpec::Srnn(p.config()), p.batch, p.tbptt)),
            None => Preset::by_name(name).ok().map(|p| {
                let model = ModelConfig {
                    hidden: a.hidden.unwrap_or(p.model.hidden),
                    layers: a.layers.unwrap_or(p.model.layers),
                    embed: a.embed.unwrap_or(p.model.embed),
                    ..p.model
                };
                (ModelSpec::Gru(model), p.batch, p.tbptt)
            }),
        };
        model.is_some_and(|(model, batch, tbptt)| {
            model == run.model
                && a.batch.unwrap_or(batch) == run.batch
                && a.tbptt.unwrap_or(tbptt) == run.tbptt
        })
    });
    let gru_same = |flag: Option<usize>, f: fn(&ModelConfig) -> usize| {
        flag.map(|x| gru.as_ref().map(f) == Some(x))
    };
    [
        ("--arch", a.arch.as_deref().map(|x| x == run.model.arch())),
        ("--config", preset_same),
        ("--hidden", gru_same(a.hidden, |m| m.hidden)),
        ("--layers", gru_same(a.layers, |m| m.layers)),
        ("--embed", gru_same(a.embed, |m| m.embed)),
        ("--batch", a.batch.map(|x| x == run.batch)),
        ("--tbptt", a.tbptt.map(|x| x == run.tbptt)),
        ("--lr", a.lr.map(|x| x == run.opts.lr)),
        ("--clip", a.clip.map(|x| x == run.opts.clip)),
        (
            "--clip-value",
            a.clip_value.map(|x| Some(x) == run.opts.clip_value),
        ),
        (
            "--lr-schedule",
            a.lr_schedule
                .as_deref()
                .map(|x| x == run.schedule.shape.name()),
        ),
        ("--warmup", a.warmup.map(|x| x == run.schedule.warmup)),
        ("--seed", a.seed.map(|x| x == run.seed)),
        ("--transpose", a.transpose.map(|x| x == run.transpose)),
        (
            "--valid-fraction",
            a.valid_fraction.map(|x| x == run.valid_fraction),
        ),
        ("--sample-rate", a.sample_rate.map(|x| x == run.sample_rate)),
        ("--init", a.init.as_ref().map(|_| false)),
    ]
    .into_iter()
    .filter_map(|(flag, same)| (same == Some(false)).then_some(flag))
    .collect()
}

/// Absolute paths, so a resumed run finds its data from any working directory.
fn absolute(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect()
}

/// The flags that need no file: fail fast, before anything is read or written.
fn check_flags(args: &TrainArgs) -> Result<()> {
    if let Some(m) = args.minutes {
        ensure!(
            m > 0.0 && m.is_finite(),
            "--minutes must be positive, got {m}"
        );
    }
    if let Some(s) = args.sample_seconds {
        ensure!(
            (0.0..=MAX_SAMPLE_SECONDS).contains(&s),
            "--sample-seconds must be between 0 and {MAX_SAMPLE_SECONDS}, got {s}"
        );
    }
    ensure!(
        args.steps != Some(0),
        "--steps must be at least 1 (it counts the run's steps in all, those before a --resume included)"
    );
    if let Some(r) = args.sample_rate {
        check_sample_rate(r).context("--sample-rate")?;
    }
    if let Some(out) = &args.out {
        check_out_dir(out)?;
    }
    Ok(())
}

/// Checks the flags, reads the resumed state or the --init model, and loads the audio.
pub(crate) fn prepare(args: &TrainArgs) -> Result<Prepared> {
    check_flags(args)?;
    if let Some(dir) = &args.resume {
        return prepare_resume(args, dir);
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
        .map(|p| InitModel::load(p).context("cannot use the --init model"))
        .transpose()?;
    let sample_rate = match (
        init.as_ref().and_then(InitModel::sample_rate),
        args.sample_rate,
    ) {
        (Some(c), Some(r)) if c != r => {
            bail!("--sample-rate {r} differs from the --init model's {c} Hz")
        }
        (Some(c), _) => c,
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
    let audio = Dataset::load(&data, &valid, sample_rate, fraction)?;
    if let (Some(c), Some(p)) = (&init, &args.init) {
        audio.check_codec(c.codec(), p)?;
    }
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

/// Reads the state of the run in `dir`, refuses changed settings, and loads its data.
fn prepare_resume(args: &TrainArgs, dir: &Path) -> Result<Prepared> {
    let state = TrainerState::load(&dir.join(STATE_FILE)).with_context(|| {
        format!(
            "{}: cannot resume (is it a gruwave training folder?)",
            dir.display()
        )
    })?;
    let changed = changed_on_resume(args, &state.run);
    if !changed.is_empty() {
        bail!(
            "{} cannot be changed when resuming: the run continues exactly with the settings \
             saved in {} (to start a new run from its weights, use --init {})",
            changed.join(", "),
            dir.display(),
            dir.join(MODEL_FILE).display()
        );
    }
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
    let audio = Dataset::load(&data, &valid, run.sample_rate, run.valid_fraction)?;
    audio.check_codec(run.codec, dir)?;
    let mut state = Box::new(state);
    state.run.data = data;
    state.run.valid_data = valid;
    let out = args.out.clone().unwrap_or_else(|| dir.to_path_buf());
    Ok(Prepared {
        out,
        audio,
        start: Start::Resume(state),
    })
}

/// The model family of a new run: --arch, or the one --config or --init names (gru when
/// none does); they must agree.
fn arch_of(args: &TrainArgs, init: Option<&InitModel>) -> Result<&'static str> {
    let by_config = args.config.as_deref().map(|c| {
        if SrnnPreset::by_name(c).is_some() {
            "samplernn"
        } else {
            "gru"
        }
    });
    let asked = [
        (
            "--arch",
            args.arch
                .as_deref()
                .map(|a| if a == "gru" { "gru" } else { "samplernn" }),
        ),
        ("--config", by_config),
        ("--init", init.map(|i| i.spec().arch())),
    ];
    let mut chosen: Option<(&str, &'static str)> = None;
    for (flag, arch) in asked {
        match (chosen, arch) {
            (Some((f, a)), Some(b)) if a != b => {
                bail!("{f} asks for a {a} model but {flag} for a {b} model")
            }
            (None, Some(b)) => chosen = Some((flag, b)),
            _ => {}
        }
    }
    Ok(chosen.map_or("gru", |c| c.1))
}

/// The model, batch B and window T of a new run: flags over the preset; the --init
/// model fixes the shape.
fn model_from_flags(
    args: &TrainArgs,
    gpu: &Gpu,
    init: Option<&InitModel>,
    codec: Codec,
) -> Result<(ModelSpec, usize, usize)> {
    let (model, batch, tbptt) = match arch_of(args, init)? {
        "samplernn" => srnn_from_flags(args, gpu, codec)?,
        _ => gru_from_flags(args, gpu, codec)?,
    };
    let model = match init.map(InitModel::spec) {
        Some(m) if m != model && (args.config.is_some() || gru_shape_flags(args)) => {
            bail!("the --init model has shape {m} but the flags ask for {model}")
        }
        Some(m) => m,
        None => model,
    };
    Ok((
        model,
        args.batch.unwrap_or(batch),
        args.tbptt.unwrap_or(tbptt),
    ))
}

fn gru_shape_flags(args: &TrainArgs) -> bool {
    args.hidden.is_some() || args.layers.is_some() || args.embed.is_some()
}

/// A SampleRNN preset (srnn-small; srnn-tiny on a software adapter); audio only.
fn srnn_from_flags(args: &TrainArgs, gpu: &Gpu, codec: Codec) -> Result<(ModelSpec, usize, usize)> {
    ensure!(
        codec == Codec::MuLaw256,
        "a SampleRNN models audio (mu-law samples), but the data are {}: train a GRU \
         (--arch gru, e.g. --config midi-small) on MIDI",
        super::kind(codec)
    );
    ensure!(
        !gru_shape_flags(args),
        "--hidden, --layers and --embed shape a GRU; a SampleRNN takes its shape from --config \
         srnn-tiny, srnn-small or srnn-base"
    );
    let name = match args.config.as_deref() {
        Some(name) => name,
        None if gpu.is_software() => {
            eprintln!(
                "note: {} is a software adapter, so the model defaults to --config srnn-tiny \
                 (srnn-small on a real GPU); pass --config to choose",
                gpu.info.name
            );
            "srnn-tiny"
        }
        None => "srnn-small",
    };
    let p = SrnnPreset::by_name(name).context("not a SampleRNN preset")?;
    Ok((ModelSpec::Srnn(p.config()), p.batch, p.tbptt))
}

/// A GRU preset with the shape flags over it.
fn gru_from_flags(args: &TrainArgs, gpu: &Gpu, codec: Codec) -> Result<(ModelSpec, usize, usize)> {
    let midi = codec == Codec::Perf388;
    let preset = match &args.config {
        Some(name) => Preset::by_name(name)?,
        None if midi => Preset::by_name("midi-small")?,
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
    if preset.model.vocab != codec.vocab() {
        bail!(
            "--config {} is a preset for {} data, but the data are {}",
            preset.name,
            super::kind(if midi {
                Codec::MuLaw256
            } else {
                Codec::Perf388
            }),
            super::kind(codec)
        );
    }
    let mut model = preset.model;
    model.hidden = args.hidden.unwrap_or(model.hidden);
    model.layers = args.layers.unwrap_or(model.layers);
    model.embed = args.embed.unwrap_or(model.embed);
    model.validate()?;
    Ok((ModelSpec::Gru(model), preset.batch, preset.tbptt))
}

/// The settings of a new run: flags over the preset; the --init model fixes the shape.
fn fresh_run(
    args: &TrainArgs,
    gpu: &Gpu,
    init: Option<&InitModel>,
    codec: Codec,
    sample_rate: u32,
    data: Vec<PathBuf>,
    valid_data: Vec<PathBuf>,
) -> Result<RunConfig> {
    let midi = codec == Codec::Perf388;
    let (model, batch, tbptt) = model_from_flags(args, gpu, init, codec)?;
    let srnn = matches!(model, ModelSpec::Srnn(_));
    ensure!(
        args.transpose.is_none() || midi,
        "--transpose applies to MIDI data only"
    );
    // samplernn-pytorch's optimiser: lr 1e-3, every gradient element clipped to ±1.
    let (lr, clip, clip_value) = if srnn {
        (1e-3, f64::INFINITY, Some(1.0))
    } else {
        let d = TrainOptions::default();
        (d.lr, d.clip, None)
    };
    let opts = TrainOptions {
        lr: args.lr.unwrap_or(lr),
        clip: args.clip.unwrap_or(clip),
        clip_value: args.clip_value.or(clip_value),
        ..Default::default()
    };
    let steps = args.steps.or(if args.minutes.is_some() {
        None
    } else {
        Some(DEFAULT_STEPS)
    });
    Ok(RunConfig {
        schedule: schedule(args, steps)?,
        model,
        batch,
        tbptt,
        opts,
        seed: args.seed.unwrap_or(0),
        codec,
        transpose: if midi {
            args.transpose.unwrap_or(DEFAULT_TRANSPOSE)
        } else {
            0
        },
        sample_rate,
        valid_fraction: args.valid_fraction.unwrap_or(DEFAULT_VALID_FRACTION),
        data,
        valid_data,
        steps,
        valid_every: args.valid_every.unwrap_or(DEFAULT_VALID_EVERY),
        checkpoint_every: args.checkpoint_every.unwrap_or(DEFAULT_CHECKPOINT_EVERY),
        sample_seconds: args.sample_seconds.unwrap_or(match codec {
            // Music is cheap to sample: a phrase even on a software adapter.
            Codec::Perf388 => 20.0,
            Codec::MuLaw256 if gpu.is_software() => 1.0,
            Codec::MuLaw256 => 4.0,
        }),
    })
}

/// Fails before any work when `out` cannot become the run's folder: it is a file, or
/// the folder (or the nearest one above it that exists) refuses new files.
fn check_out_dir(out: &Path) -> Result<()> {
    let o = out.display();
    let mut dir = out;
    while !dir.exists() {
        dir = match dir.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
    }
    ensure!(
        dir.is_dir(),
        "--out {o}: {} is not a folder; give a folder for the run",
        dir.display()
    );
    let probe = dir.join(format!(".gruwave-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {o}: cannot write to folder {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Whether `name` is a file that a run writes to its folder.
fn is_run_file(name: &str) -> bool {
    [MODEL_FILE, STATE_FILE, METRICS_FILE, PLOT_FILE].contains(&name) || is_preview_name(name)
}

/// A `.NAME.PID.tmp` that an atomic write of one of the run's files left when its process
/// was killed (fsutil::write_atomic), and whose process is gone.
fn is_stale_temp(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((file, pid)) = inner.rsplit_once('.') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
    is_run_file(file) && !alive
}

/// Removes the stale temporary files of killed runs from `out`.
fn remove_stale_temps(out: &Path) -> Result<()> {
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        if is_stale_temp(&path.file_name().unwrap_or_default().to_string_lossy()) {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
            log::info!("removed {}, left by a killed run", path.display());
        }
    }
    Ok(())
}

/// The --lr-schedule and --warmup of a new run; a decay needs --steps for its horizon.
fn schedule(args: &TrainArgs, steps: Option<u64>) -> Result<LrSchedule> {
    let shape = LrShape::by_name(args.lr_schedule.as_deref().unwrap_or("constant"))?;
    let warmup = args.warmup.unwrap_or(0);
    let horizon = match (shape, steps) {
        // A constant lr has no horizon: saving none keeps states of equal runs equal.
        (LrShape::Constant, _) => 0,
        (_, Some(s)) => s,
        (_, None) => bail!(
            "--lr-schedule {} decays over the run's steps: give --steps N (with --minutes \
             alone the run has no last step)",
            shape.name()
        ),
    };
    if shape != LrShape::Constant {
        ensure!(
            warmup < horizon,
            "--warmup {warmup} leaves no step of the {horizon} for the decay"
        );
    }
    Ok(LrSchedule {
        shape,
        warmup,
        horizon,
    })
}

/// Removes what an earlier run wrote to `out` (for --force), so no stale file remains.
fn clear_run(out: &Path) -> Result<()> {
    remove_stale_temps(out)?;
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        if is_run_file(&path.file_name().unwrap_or_default().to_string_lossy()) {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
    }
    Ok(())
}

/// The metrics of the steps up to the checkpoint at `step`: rows after it were lost with
/// the interrupted run and are trained again; rows missing before it are noted. A corrupt
/// file does not block the resume (the trainer state is what must be right).
fn resume_metrics(from: &Path, step: u64) -> Vec<MetricsRow> {
    let mut rows = if from.exists() {
        match read_metrics(from) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("warning: {e:#}; starting a fresh {METRICS_FILE}");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let before = rows.len();
    rows.retain(|r| r.step <= step);
    if rows.len() < before {
        log::info!(
            "{METRICS_FILE}: dropped {} rows after step {step}, the checkpoint's",
            before - rows.len()
        );
    }
    let have = rows.iter().filter(|r| r.step >= 1).count() as u64;
    if have < step {
        eprintln!(
            "note: {METRICS_FILE} holds {have} of the {step} rows before the checkpoint; the \
             curve has a gap where rows are missing"
        );
    }
    rows
}

/// Opens the run (new or resumed) and trains it to its target step, the time budget or Ctrl-C.
pub(crate) fn train(
    args: &TrainArgs,
    prepared: Prepared,
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
) -> Result<Outcome> {
    let Prepared { out, audio, start } = prepared;
    // The folder is made only once the session stands, so data too short for one batch
    // (or a model too large) leaves nothing behind.
    let create_out = || {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("{}: cannot create the output folder", out.display()))
    };
    let (session, rows) = match start {
        Start::Fresh {
            init,
            sample_rate,
            data,
            valid,
        } => {
            let run = fresh_run(
                args,
                gpu,
                init.as_ref(),
                audio.codec,
                sample_rate,
                data,
                valid,
            )?;
            run.check_fits(gpu)?;
            let params = init.map(InitModel::params);
            let s = Session::start(gpu, kernels, run, &audio.train, &audio.valid, params)?;
            create_out()?;
            if args.force {
                clear_run(&out)?;
            }
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
            run.check_fits(gpu)?;
            let step = state.step;
            let from = args.resume.as_deref().unwrap_or(&out).join(METRICS_FILE);
            let rows = resume_metrics(&from, step);
            let s = Session::resume(gpu, kernels, *state, &audio.train, &audio.valid)?;
            create_out()?;
            remove_stale_temps(&out)?;
            eprintln!("resuming at step {step}");
            (s, rows)
        }
    };
    run_loop(session, rows, out, &audio, args.minutes, gpu, kernels)
}
