//! `gruwave render`: MIDI files to WAV with a General MIDI SoundFont, one file or whole
//! folders (how audio corpora are made from MIDI corpora).

use super::{check_output_file, human_duration, is_midi, read_midi_file};
use crate::audio::collect_files;
use crate::midi;
use crate::music::render::{
    bundled_soundfont, load_soundfont, render_midi, render_to_wav, write_frames,
};
use anyhow::{anyhow, bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    gruwave render assets/midi/valid/bwv274.mid bwv274.wav\n  \
    gruwave render song.mid organ.wav --program 19\n  \
    gruwave render corpus/ --out-dir wav/ --rate 16000 --mono\n\n\
    With --out-dir, every MIDI file given, and every .mid/.midi file in the folders given \
    (searched recursively), is rendered into DIR as NAME.wav, keeping the folders' layout \
    (corpus/train/x.mid becomes wav/train/x.wav; existing WAVs are replaced), several files \
    at a time. A file that cannot be rendered is skipped with a warning and counted, as \
    training skips it; `gruwave train wav/` then trains an audio model on the result.\n\n\
    Files are checked the way training reads MIDI, so what training refuses is refused here \
    too: a file without notes, or with drums only (channel 10). The WAV is 16-bit PCM with a \
    1 s release tail after the last event; it is scaled down only where it would clip. The \
    bundled SoundFont is a public-domain General MIDI bank (assets/soundfonts/sf_GMbank.sf2). \
    Some --program numbers: 0 piano, 6 harpsichord, 19 church organ, 24 nylon guitar, \
    40 violin, 48 strings, 52 choir, 73 flute; channel 10 keeps its drums.")]
pub struct RenderArgs {
    /// A MIDI file and the WAV to write; with --out-dir, MIDI files and folders
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Render every input into this folder (created if missing) as NAME.wav
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// SoundFont 2 file to play with [default: the bundled General MIDI bank]
    #[arg(long, value_name = "FILE")]
    pub soundfont: Option<PathBuf>,
    /// General MIDI instrument (0-127) for every channel but the drums, overriding the file's
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=127))]
    pub program: Option<u8>,
    /// Sample rate of the WAV (16000 to 192000)
    #[arg(long, value_name = "HZ", default_value_t = 44_100,
          value_parser = clap::value_parser!(u32).range(16_000..=192_000))]
    pub rate: u32,
    /// Write one channel (left and right averaged) instead of stereo
    #[arg(long)]
    pub mono: bool,
    /// Files rendered at once with --out-dir [default: one per CPU core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

pub fn run(a: RenderArgs) -> Result<ExitCode> {
    match &a.out_dir {
        Some(dir) => render_many(&a, dir),
        None => render_one(&a),
    }
}

/// `gruwave render IN.mid OUT.wav`.
fn render_one(a: &RenderArgs) -> Result<ExitCode> {
    let (input, out) = match a.paths.as_slice() {
        [input, out] => (input, out),
        [_] => bail!(
            "give the WAV file to write after the MIDI file (gruwave render IN.mid OUT.wav), \
             or a folder to render into with --out-dir DIR"
        ),
        more => bail!(
            "{} paths given: render several files or folders with --out-dir DIR \
             (gruwave render A.mid B.mid --out-dir wav/)",
            more.len()
        ),
    };
    ensure!(
        !input.is_dir(),
        "{}: is a folder; render folders with --out-dir DIR",
        input.display()
    );
    ensure!(
        !is_midi(out),
        "{}: is the name of a MIDI file, which the audio would replace; give a .wav name, or \
         render several files with --out-dir DIR",
        out.display()
    );
    check_output_file(out, "output")?;
    let bytes = read_checked(input)?;
    let font = soundfont(a)?;
    let t0 = Instant::now();
    let seconds = render_to_wav(&bytes, &font, a.rate, a.program, a.mono, out)
        .with_context(|| format!("{}: cannot render", input.display()))?;
    println!(
        "wrote {} ({} at {} Hz, {}) in {:.1} s",
        out.display(),
        human_duration(seconds),
        a.rate,
        if a.mono { "mono" } else { "stereo" },
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The bytes of a MIDI file that training could read (it has notes that are not drums).
fn read_checked(input: &Path) -> Result<Vec<u8>> {
    let bytes = read_midi_file(input)?;
    midi::read_notes(&bytes, &input.display().to_string())?;
    Ok(bytes)
}

/// The SoundFont's bytes, checked once here rather than failing on every file.
fn soundfont(a: &RenderArgs) -> Result<Vec<u8>> {
    let (bytes, name) = match &a.soundfont {
        Some(p) => (
            std::fs::read(p)
                .map_err(|e| anyhow!("--soundfont {}: cannot read: {e}", p.display()))?,
            format!("--soundfont {}", p.display()),
        ),
        None => (bundled_soundfont()?, "the bundled SoundFont".to_string()),
    };
    load_soundfont(&bytes).map_err(|e| anyhow!("{name}: {e:#}"))?;
    Ok(bytes)
}

/// One MIDI file and the WAV it becomes.
struct Job {
    input: PathBuf,
    output: PathBuf,
}

/// The inputs under `out_dir`: a folder's files keep their path below it, a file given on
/// its own keeps its name. Two inputs that would write one WAV are refused.
fn plan(paths: &[PathBuf], out_dir: &Path) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for p in paths {
        let files = collect_files(
            std::slice::from_ref(p),
            &is_midi,
            "no MIDI files or folders given",
            ".mid files",
        )?;
        for input in files {
            let rel = match input.strip_prefix(p) {
                Ok(rel) if p.is_dir() => rel.to_path_buf(),
                _ => PathBuf::from(input.file_name().unwrap_or(input.as_os_str())),
            };
            let output = out_dir.join(rel).with_extension("wav");
            jobs.push(Job { input, output });
        }
    }
    jobs.sort_by(|x, y| x.input.cmp(&y.input));
    jobs.dedup_by(|x, y| x.input == y.input);
    let mut writers: HashMap<&Path, &Path> = HashMap::new();
    for j in &jobs {
        if let Some(other) = writers.insert(&j.output, &j.input) {
            bail!(
                "{} and {} would both be written to {}; render them into different --out-dir \
                 folders",
                other.display(),
                j.input.display(),
                j.output.display()
            );
        }
    }
    Ok(jobs)
}

/// `gruwave render PATHS... --out-dir DIR`.
fn render_many(a: &RenderArgs, out_dir: &Path) -> Result<ExitCode> {
    let d = out_dir.display();
    ensure!(
        !out_dir.exists() || out_dir.is_dir(),
        "--out-dir {d}: is a file, not a folder"
    );
    let jobs = plan(&a.paths, out_dir)?;
    let font = soundfont(a)?;
    let created = !out_dir.exists();
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("--out-dir {d}: cannot create the folder"))?;
    let t0 = Instant::now();
    let result = render_jobs(&jobs, &font, a);
    let rendered = result.as_ref().map_or(0, |r| r.rendered);
    if created && rendered == 0 {
        let _ = std::fs::remove_dir(out_dir); // leave nothing behind; fails unless empty
    }
    let r = result?;
    match (rendered, r.reasons.as_slice()) {
        (0, [reason]) => bail!("{reason}"),
        (0, reasons) => bail!(
            "none of the {} MIDI files could be rendered:\n  {}",
            reasons.len(),
            reasons.join("\n  ")
        ),
        _ => {}
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "rendered {} of {} file{} into {d}: {} of audio at {} Hz, {}, in {} ({:.0}x real time)",
        r.rendered,
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" },
        human_duration(r.seconds),
        a.rate,
        if a.mono { "mono" } else { "stereo" },
        human_duration(secs),
        r.seconds / secs.max(1e-9)
    );
    if !r.reasons.is_empty() {
        let n = r.reasons.len();
        let s = if n == 1 { "" } else { "s" };
        println!("skipped {n} file{s} that could not be rendered (see the warnings above)");
    }
    Ok(ExitCode::SUCCESS)
}

/// What a batch of renders came to.
struct Rendered {
    rendered: usize,
    seconds: f64,
    /// Why each skipped file was skipped.
    reasons: Vec<String>,
}

/// A file rendered (its seconds of audio), or skipped (why). Errors writing are `Err`.
enum Outcome {
    Rendered(f64),
    Skipped(String),
}

/// Renders `jobs` on worker threads; a bad MIDI file is skipped, a failed write stops all.
fn render_jobs(jobs: &[Job], font: &[u8], a: &RenderArgs) -> Result<Rendered> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = a.jobs.map_or(cores, usize::from).min(jobs.len()).max(1);
    let bar = ProgressBar::new(jobs.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    let (next, stop) = (&AtomicUsize::new(0), &AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Result<Outcome>>();
    let t0 = Instant::now();
    let mut done = Rendered {
        rendered: 0,
        seconds: 0.0,
        reasons: Vec::new(),
    };
    let mut failure = None;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if tx.send(render_job(job, font, a)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for outcome in rx {
            match outcome {
                Ok(Outcome::Rendered(secs)) => {
                    done.rendered += 1;
                    done.seconds += secs;
                }
                Ok(Outcome::Skipped(reason)) => {
                    bar.suspend(|| log::warn!("skipping a file that cannot be rendered: {reason}"));
                    done.reasons.push(reason);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
            bar.inc(1);
            let speed = done.seconds / t0.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{speed:.0}x real time"));
        }
    });
    bar.finish_and_clear();
    failure.map_or(Ok(done), Err)
}

/// Renders one file; only a failure to write its WAV is an error.
fn render_job(job: &Job, font: &[u8], a: &RenderArgs) -> Result<Outcome> {
    let frames = match read_checked(&job.input).and_then(|bytes| {
        render_midi(&bytes, font, a.rate, a.program)
            .with_context(|| format!("{}: cannot render", job.input.display()))
    }) {
        Ok(frames) => frames,
        Err(e) => return Ok(Outcome::Skipped(format!("{e:#}"))),
    };
    if let Some(dir) = job.output.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    }
    write_frames(&job.output, &frames, a.rate, a.mono)?;
    Ok(Outcome::Rendered(frames.len() as f64 / f64::from(a.rate)))
}
