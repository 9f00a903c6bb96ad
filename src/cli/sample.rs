//! `gruwave sample`: generate audio or MIDI from a checkpoint on the GPU (the MIDI side is
//! in `sample_midi`).

use crate::audio::{load_wav_at, write_wav};
use crate::codec::{decode_all, encode_all, Codec};
use crate::gpu::tuning_cache::{set_retune, TuningCache};
use crate::model::{parse_model, Checkpoint};
use crate::music::spectrogram::spectrogram_png;
use crate::sample::{SampleOptions, Sampler, Tuning, MAX_STREAMS};
use crate::samplernn::{is_samplernn, parse_srnn};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    gruwave sample                                   # 30 s from the bundled chorale model\n  \
    gruwave sample --prime chorale.mid --seconds 20  # continue a piece\n  \
    gruwave sample --model runs/piano/model.safetensors --seconds 4 --out piano.wav\n\n\
    A MIDI (perf388) model writes NAME.mid, NAME.wav (rendered with the bundled General MIDI \
    SoundFont, or --soundfont) and NAME.png (a piano roll), and prints the share of notes in \
    the best-fitting key and the notes per second. Its sampling keeps the notes well formed \
    (no note started twice or ended while silent, none held past --max-note); --free turns \
    that off. An audio (mu-law) model writes a WAV at its sample rate.")]
pub struct SampleArgs {
    /// Model checkpoint (model.safetensors from `gruwave train`, or a PyTorch state_dict) [default: the bundled chorale model]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Seconds of audio, or of music for a MIDI model, per stream [default: 4 for audio, 30 for MIDI]
    #[arg(long, allow_negative_numbers = true)]
    pub seconds: Option<f64>,
    /// Output file: a WAV for audio models, a .mid for MIDI models (the .wav and .png go beside it); with --streams > 1, NAME_000.EXT, ... [default: sample.wav or sample.mid]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Independent streams generated at once (1 to 1024)
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Softmax temperature; 0 picks the most likely token every step [default: 1, or 0.7 for MIDI]
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    /// Draw only from the k most likely values (0: all)
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Random seed: the same seed, model and GPU give the same output
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue this recording (WAV, for audio models; the output holds only the
    /// continuation) or piece (MIDI, for MIDI models; the output holds the piece and then
    /// the continuation)
    #[arg(long)]
    pub prime: Option<PathBuf>,
    /// MIDI: sample freely, without the note rules (notes may stack and hang)
    #[arg(long)]
    pub free: bool,
    /// MIDI: the longest a note may sound, in seconds, before its NOTE_OFF is forced (and no
    /// time shift may carry it further). Forcing throws a model off what it learned (the
    /// chorale model then collapses into clusters), so the default only stops a note that
    /// hangs for good; decoding cuts every note at 5 s anyway
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub max_note: f64,
    /// MIDI: render the WAV with this SoundFont (.sf2) [default: the bundled General MIDI bank]
    #[arg(long, value_name = "FILE")]
    pub soundfont: Option<PathBuf>,
    /// MIDI: General MIDI program (instrument) 0-127 of the written file and its rendering (0: piano)
    #[arg(long, default_value_t = 0)]
    pub program: u8,
    /// MIDI: write only the .mid (no rendered WAV, no piano roll)
    #[arg(long)]
    pub midi_only: bool,
    /// Time the sampler's work splits afresh instead of using the choice cached for this GPU
    #[arg(long)]
    pub retune: bool,
}

/// Output file of stream `i`, with extension `ext`.
pub(crate) fn out_path(out: &Path, streams: usize, i: usize, ext: &str) -> PathBuf {
    if streams == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map_or("sample".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_{i:03}.{ext}"))
}

/// Where the bundled chorale model lives.
pub(crate) fn bundled_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/chorale.safetensors")
}

/// Fail before any GPU work when the output folder cannot take the files.
pub(crate) fn check_writable(out: &Path) -> Result<()> {
    if out.is_dir() {
        bail!("{}: is a folder; give a file name", out.display());
    }
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
    set_retune(a.retune);
    let model = a.model.clone().unwrap_or_else(bundled_model);
    if a.model.is_none() && !model.exists() {
        bail!(
            "no --model given, and the bundled chorale model is not at {} (it ships with the \
             source tree); give --model FILE",
            model.display()
        );
    }
    let bytes = std::fs::read(&model)
        .with_context(|| format!("{}: cannot read checkpoint", model.display()))?;
    if is_samplernn(&bytes) {
        let ck = parse_srnn(&bytes, &model)?;
        drop(bytes);
        return super::sample_srnn::run(&a, &model, &ck);
    }
    let ck = parse_model(&bytes, &model)?;
    drop(bytes);
    let midi = ck.codec == Codec::Perf388;
    let (seconds, temperature) = if midi {
        checked_options(&a, 30.0, super::sample_midi::DEFAULT_TEMPERATURE)?
    } else {
        checked_options(&a, 4.0, 1.0)?
    };
    let opts = SampleOptions {
        temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    if midi {
        return super::sample_midi::run(&a, &ck, seconds, &opts);
    }
    refuse_midi_flags(&a, &model)?;
    run_audio(&a, &ck, seconds, &opts)
}

/// --seconds (default `seconds`) and --temperature (default `temperature`), and
/// --streams, checked.
pub(crate) fn checked_options(
    a: &SampleArgs,
    seconds: f64,
    temperature: f32,
) -> Result<(f64, f32)> {
    let seconds = a.seconds.unwrap_or(seconds);
    if !(seconds > 0.0 && seconds.is_finite()) {
        bail!("--seconds must be a positive number, got {seconds}");
    }
    if !(1..=MAX_STREAMS).contains(&a.streams) {
        bail!(
            "--streams must be between 1 and {MAX_STREAMS}, got {}",
            a.streams
        );
    }
    let temperature = a.temperature.unwrap_or(temperature);
    if !(temperature >= 0.0 && temperature.is_finite()) {
        bail!("--temperature must be 0 or more, got {temperature}");
    }
    Ok((seconds, temperature))
}

/// Fails when a MIDI-only flag is given for the audio model `model`.
pub(crate) fn refuse_midi_flags(a: &SampleArgs, model: &Path) -> Result<()> {
    let audio_only = [
        ("--free", a.free),
        ("--soundfont", a.soundfont.is_some()),
        ("--program", a.program != 0),
        ("--midi-only", a.midi_only),
    ];
    if let Some((flag, _)) = audio_only.iter().find(|f| f.1) {
        bail!(
            "{flag} applies to MIDI models; {} is an audio model",
            model.display()
        );
    }
    Ok(())
}

/// Samples per stream for `seconds` at `rate`: at least one, and few enough that the
/// output fits the free memory.
pub(crate) fn output_len(seconds: f64, rate: u32, streams: usize) -> Result<usize> {
    let n = (seconds * rate as f64).round() as u64;
    if n == 0 {
        bail!("--seconds {seconds} is shorter than one sample at {rate} Hz");
    }
    // Tokens (1 byte) plus one stream's decoded f32 samples at a time; n is bounded first
    // so the product cannot wrap.
    let need = n.saturating_mul(streams as u64 + 4);
    if n > u32::MAX as u64 / 2 || available_memory().is_some_and(|m| need > m / 2) {
        bail!(
            "{seconds} s x {streams} streams at {rate} Hz needs about {:.1} GiB of memory for the output, more than this machine has free",
            need as f64 / (1u64 << 30) as f64
        );
    }
    Ok(n as usize)
}

/// Generates mu-law audio and writes one WAV per stream.
fn run_audio(
    a: &SampleArgs,
    ck: &Checkpoint,
    seconds: f64,
    opts: &SampleOptions,
) -> Result<ExitCode> {
    let out_file = a.out.clone().unwrap_or_else(|| PathBuf::from("sample.wav"));
    let rate = ck.sample_rate;
    let n = output_len(seconds, rate, a.streams)?;
    check_writable(&out_file)?;
    let prime = prime_codes(a, rate)?;
    let (gpu, kernels) = super::open_gpu()?;
    let mut sampler = Sampler::new(&gpu, &kernels, &ck.layout, &ck.params, a.streams)?;
    // On a GPU, time the work splits worth trying and keep the fastest (tens of ms), unless
    // the whole generation is shorter than that.
    let candidates = Tuning::candidates(&gpu, a.streams);
    if candidates.len() > 1 && n >= 16 * sampler.block() {
        let t0 = Instant::now();
        let cache = TuningCache::for_gpu(&gpu);
        let timed = sampler.autotune_cached(&candidates, 2, &cache)?;
        log::info!(
            "work split: {} ({} {} candidates in {:.0} ms)",
            sampler.tuning(),
            if timed {
                "fastest of"
            } else {
                "cached; --retune times the"
            },
            candidates.len(),
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
    let (out, dt) = with_progress(n, a.streams, rate, |progress| {
        sampler.generate(n, opts, progress)
    })?;
    write_audio(&out_file, &out, rate, seconds, dt)
}

/// The mu-law codes of the --prime WAV at `rate` (none without --prime).
pub(crate) fn prime_codes(a: &SampleArgs, rate: u32) -> Result<Vec<u32>> {
    Ok(match &a.prime {
        Some(p) if Codec::of_file(p) == Some(Codec::Perf388) => bail!(
            "{}: a MIDI primer, but the model is an audio (mu-law) model; prime it with a WAV",
            p.display()
        ),
        Some(p) => encode_all(&load_wav_at(p, rate)?.samples),
        None => Vec::new(),
    })
}

/// Runs `generate` (`n` samples on each of `streams` streams at `rate`) under a progress
/// bar showing samples/s and the real-time factor; its output and the seconds it took.
pub(crate) fn with_progress<T>(
    n: usize,
    streams: usize,
    rate: u32,
    generate: impl FnOnce(&mut dyn FnMut(usize)) -> Result<T>,
) -> Result<(T, f64)> {
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} samples/stream  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    let t0 = Instant::now();
    let out = generate(&mut |done| {
        let rate_now = (done * streams) as f64 / t0.elapsed().as_secs_f64();
        bar.set_position(done as u64);
        bar.set_message(format!(
            "{rate_now:.0} samples/s, {:.2}x real time",
            rate_now / rate as f64
        ));
    })?;
    bar.finish_and_clear();
    Ok((out, t0.elapsed().as_secs_f64()))
}

/// Writes each stream's mu-law codes as a WAV at `rate` (NAME.wav, or NAME_000.wav, ...)
/// with a spectrogram PNG beside it, and prints the samples/s of a generation that took
/// `dt` seconds.
pub(crate) fn write_audio(
    out_file: &Path,
    out: &[Vec<u32>],
    rate: u32,
    seconds: f64,
    dt: f64,
) -> Result<ExitCode> {
    let streams = out.len();
    let total = out.iter().map(Vec::len).sum::<usize>() as f64;
    for (i, tokens) in out.iter().enumerate() {
        let path = out_path(out_file, streams, i, "wav");
        let audio = decode_all(tokens);
        write_wav(&path, &audio, rate)?;
        let title = path.file_name().unwrap_or_default().to_string_lossy();
        spectrogram_png(&audio, rate, &title, &path.with_extension("png"))?;
    }
    let first = out_path(out_file, streams, 0, "wav");
    println!(
        "wrote {} WAV{} with spectrograms ({} at {rate} Hz{}): {:.0} samples/s, {:.2}x real time",
        streams,
        if streams == 1 { "" } else { "s" },
        if streams == 1 {
            first.display().to_string()
        } else {
            format!("{} ...", first.display())
        },
        if streams == 1 {
            String::new()
        } else {
            format!(", {seconds} s each")
        },
        total / dt,
        total / dt / rate as f64
    );
    Ok(ExitCode::SUCCESS)
}
