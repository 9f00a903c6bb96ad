//! The command line: `gruwave train | eval | sample | render | stats | spectrogram | demo | bench | devices`,
//! and what they share (loading music with a report of skipped files, opening the GPU, the
//! bundled corpus, reading MIDI files, checking output paths).

mod bench;
mod demo;
mod devices;
mod eval;
mod plot_compare;
mod preview;
mod render;
mod sample;
mod sample_midi;
mod sample_srnn;
mod spectrogram;
mod stats;
mod train;
mod train_loop;

use crate::codec::Codec;
use crate::data::{Corpus, Track};
use crate::midi;
use crate::{Gpu, Kernels};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "gruwave",
    version,
    about = "Train GRU language models on music (MIDI note events or mu-law audio) on the GPU, and compose with them",
    long_about = "Train GRU language models on music (MIDI note events or 8-bit mu-law audio) on the GPU, and compose with them.\n\n\
        Start with `gruwave demo`: it composes with the bundled chorale model (a MIDI file, its \
        rendering and a piano roll), compares the pieces with real chorales, and trains a small \
        model so you see it learn. `gruwave sample` composes 30 s at once. Then point \
        `gruwave train` at your own MIDI (or WAV) files or folders.\n\n\
        Environment: WGPU_BACKEND (vulkan, metal, dx12) and WGPU_ADAPTER_NAME pick the GPU \
        (see `gruwave devices`); RUST_LOG=info shows more detail."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model on MIDI or WAV files or folders (or continue a run with --resume)
    Train(Box<train::TrainArgs>),
    /// Print a model's bits per event on MIDI, or bits per sample on audio
    Eval(eval::EvalArgs),
    /// Compose with a model on the GPU: MIDI (+ WAV, piano roll) from an event model, or audio
    Sample(sample::SampleArgs),
    /// Render MIDI files to WAV with a General MIDI SoundFont
    Render(render::RenderArgs),
    /// Compare the statistics of generated MIDI with reference MIDI (pitch classes, rhythm, ...)
    Stats(stats::StatsArgs),
    /// Compare runs' validation bits per sample against training time (a table and a PNG)
    PlotCompare(plot_compare::PlotCompareArgs),
    /// Draw a spectrogram of a WAV file as a PNG (time across, frequency up, level in colour)
    Spectrogram(spectrogram::SpectrogramArgs),
    /// Compose with the bundled chorale model, compare with Bach, and watch a model learn (about 4 minutes)
    Demo(demo::DemoArgs),
    /// Measure training and sampling throughput (and GPU time per kernel with --profile)
    Bench(bench::BenchArgs),
    /// List the GPU adapters and the one gruwave would use
    Devices,
}

/// Exit status of a run stopped by Ctrl-C after saving (128 + SIGINT, as shells report).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Entry point of the `gruwave` binary.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|buf, record| {
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                l => l.to_string().to_lowercase(),
            };
            writeln!(buf, "{level}: {}", record.args())
        })
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Render(args) => render::run(args),
        Command::Stats(args) => stats::run(args),
        Command::PlotCompare(args) => plot_compare::run(args),
        Command::Spectrogram(args) => spectrogram::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Devices => devices::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the adapter gruwave picks and compiles its kernels.
pub(crate) fn open_gpu() -> Result<(Arc<Gpu>, Arc<Kernels>)> {
    let gpu = Gpu::new()?;
    eprintln!("GPU: {}", gpu.describe());
    let kernels = Arc::new(Kernels::new(&gpu));
    Ok((gpu, kernels))
}

/// The clips bundled in assets/corpus: (training folder, validation folder).
pub(crate) fn bundled_corpus() -> Result<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/corpus");
    let (train, valid) = (root.join("train"), root.join("valid"));
    if !train.is_dir() || !valid.is_dir() {
        anyhow::bail!(
            "the bundled corpus is not at {} (it ships with the source tree); \
             give audio files or folders instead",
            root.display()
        );
    }
    Ok((train, valid))
}

/// MIDI files larger than this are refused before they are read (the chorales are a few
/// KB; hours of performance are a few MB).
const MAX_MIDI_BYTES: u64 = 64 << 20;

/// Whether `path` is named as a MIDI file (.mid or .midi, any case).
pub(crate) fn is_midi(path: &Path) -> bool {
    Codec::of_file(path) == Some(Codec::Perf388)
}

/// The bytes of a MIDI file, refusing a huge one before reading it.
pub(crate) fn read_midi_file(path: &Path) -> Result<Vec<u8>> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("{name}: no such file"),
        _ => anyhow::anyhow!("{name}: cannot read: {e}"),
    })?;
    anyhow::ensure!(!meta.is_dir(), "{name}: is a folder, not a MIDI file");
    anyhow::ensure!(
        meta.len() <= MAX_MIDI_BYTES,
        "{name}: {} bytes is too large for a MIDI file (at most {MAX_MIDI_BYTES})",
        meta.len()
    );
    std::fs::read(path).with_context(|| format!("{name}: cannot read"))
}

/// Fails, before any work is done, when `path` cannot be written as a file: it is a
/// folder, or its folder is missing or refuses new files. `what` names the option.
pub(crate) fn check_output_file(path: &Path, what: &str) -> Result<()> {
    let p = path.display();
    anyhow::ensure!(
        !path.is_dir(),
        "{what} {p}: is a folder; give the name of a file to write"
    );
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "{what} {p}: cannot write there: folder {} does not exist",
        dir.display()
    );
    let probe = dir.join(format!(".gruwave-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("{what} {p}: cannot write to folder {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Music loaded for a command (audio or MIDI), split into training and validation tracks.
pub(crate) struct Dataset {
    pub codec: Codec,
    pub train: Vec<Track>,
    pub valid: Vec<Track>,
    /// Files that could not be loaded (each already reported with a warning).
    pub skipped: usize,
}

impl Dataset {
    /// Loads `data`; the validation tracks are `valid` when given, else `valid_fraction`
    /// of `data` held out by file. The codec follows from the files.
    pub fn load(
        data: &[PathBuf],
        valid: &[PathBuf],
        sample_rate: u32,
        valid_fraction: f64,
    ) -> Result<Dataset> {
        if valid.is_empty() {
            let (codec, c) = Corpus::load_music(data, sample_rate, valid_fraction)?;
            return Ok(Dataset {
                codec,
                train: c.train,
                valid: c.valid,
                skipped: c.skipped.len(),
            });
        }
        let (codec, t) = Corpus::load_music(data, sample_rate, 0.0)?;
        let (vcodec, v) = Corpus::load_music(valid, sample_rate, 0.0).context("validation data")?;
        anyhow::ensure!(
            codec == vcodec,
            "the training data are {} but the validation data are {}: give both as audio or \
             both as MIDI",
            kind(codec),
            kind(vcodec)
        );
        Ok(Dataset {
            codec,
            train: t.train,
            valid: v.train,
            skipped: t.skipped.len() + v.skipped.len(),
        })
    }

    /// Refuses data of another codec than the model's, naming both.
    pub fn check_codec(&self, model: Codec, what: &Path) -> Result<()> {
        anyhow::ensure!(
            self.codec == model,
            "{} is a {} model ({}), but the data are {}",
            what.display(),
            kind(model),
            model,
            kind(self.codec)
        );
        Ok(())
    }

    /// "12 files, 63.5 s" for a set of tracks.
    pub fn describe(&self, tracks: &[Track], sample_rate: u32) -> String {
        let seconds = match self.codec {
            Codec::MuLaw256 => {
                tracks.iter().map(|t| t.tokens.len()).sum::<usize>() as f64 / sample_rate as f64
            }
            Codec::Perf388 => tracks.iter().map(|t| midi::seconds(&t.tokens)).sum(),
        };
        // A single file split into train and valid appears in both; count names once.
        let mut names: Vec<&str> = tracks.iter().map(|t| t.name.as_str()).collect();
        names.dedup();
        format!(
            "{} file{}, {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            match self.codec {
                Codec::MuLaw256 => format!("{seconds:.1} s"),
                Codec::Perf388 => format!(
                    "{} of music, {} events",
                    human_duration(seconds),
                    tracks.iter().map(|t| t.tokens.len()).sum::<usize>()
                ),
            }
        )
    }

    /// The closing line about skipped files, if any were.
    pub fn skipped_note(&self) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "skipped {} file{} that could not be loaded (see the warnings above)",
                self.skipped,
                if self.skipped == 1 { "" } else { "s" }
            )
        })
    }
}

/// "audio" or "MIDI".
pub(crate) fn kind(codec: Codec) -> &'static str {
    match codec {
        Codec::MuLaw256 => "audio",
        Codec::Perf388 => "MIDI",
    }
}

/// "1m 05s" / "12.3 s".
pub(crate) fn human_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".to_string();
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let s = secs.round() as u64;
    if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(12.34), "12.3 s");
        assert_eq!(human_duration(65.0), "1m 05s");
        assert_eq!(human_duration(3725.0), "1h 02m");
    }
}
