//! `gruwave sample` for MIDI (perf388) models: events sampled by length of music under the
//! note rules, decoded to a standard MIDI file, rendered to a WAV, drawn as a piano roll.

use super::sample::{check_writable, out_path, SampleArgs};
use crate::codec::Codec;
use crate::midi::{self, Note};
use crate::model::Checkpoint;
use crate::music::{pianoroll::piano_roll_png, render, stats};
use crate::sample::events::generate_events;
use crate::sample::{NoteRules, NoteState, SampleOptions, Sampler};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Sampling temperature of MIDI models unless --temperature says otherwise. At 0.7 the bundled
/// chorale model keeps 91% of its notes in key with the chorales' note lengths and onsets; at
/// 0.9 it is 88% (benches/results/chorale-quality/temperature.md).
pub const DEFAULT_TEMPERATURE: f32 = 0.7;
/// The rendered WAV's rate.
const RENDER_RATE: u32 = 44_100;
/// Longest piece asked for (docs/MIDI_TOKENS.md decodes at most 24 h; an hour is plenty).
const MAX_SECONDS: f64 = 3600.0;

/// The primer's tokens (start marker first), or just the start marker (S3).
fn primer(path: Option<&Path>) -> Result<Vec<u32>> {
    let mut tokens = vec![midi::START];
    if let Some(p) = path {
        if Codec::of_file(p) != Some(Codec::Perf388) {
            bail!(
                "{}: the model is a MIDI (perf388) model; prime it with a .mid file",
                p.display()
            );
        }
        let bytes = std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
        tokens.extend(midi::encode_file(&bytes, &p.display().to_string())?);
    }
    Ok(tokens)
}

fn soundfont(a: &SampleArgs) -> Result<Option<Vec<u8>>> {
    if a.midi_only {
        return Ok(None);
    }
    Ok(Some(match &a.soundfont {
        Some(p) => std::fs::read(p)
            .with_context(|| format!("{}: cannot read the SoundFont", p.display()))?,
        None => render::bundled_soundfont()?,
    }))
}

/// The MIDI flags' bounds, checked before any work.
fn check_flags(a: &SampleArgs, seconds: f64) -> Result<()> {
    if seconds > MAX_SECONDS {
        bail!("--seconds {seconds} is more than {MAX_SECONDS} s of music");
    }
    if a.program > 127 {
        bail!(
            "--program must be a General MIDI program 0-127, got {}",
            a.program
        );
    }
    if !(a.max_note > 0.0 && a.max_note <= 60.0) {
        bail!(
            "--max-note must be more than 0 and at most 60 seconds, got {}",
            a.max_note
        );
    }
    Ok(())
}

pub fn run(
    a: &SampleArgs,
    ck: &Checkpoint,
    seconds: f64,
    opts: &SampleOptions,
) -> Result<ExitCode> {
    check_flags(a, seconds)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("sample.mid"));
    check_writable(&out)?;
    let primer = primer(a.prime.as_deref())?;
    let font = soundfont(a)?;
    if let Some(f) = &font {
        render::load_soundfont(f).context("the SoundFont cannot be used")?;
    }
    let (gpu, kernels) = super::open_gpu()?;
    let mut sampler = Sampler::new(&gpu, &kernels, &ck.layout, &ck.params, a.streams)?;
    if !a.free {
        let max_hold = (a.max_note * 100.0).round().max(1.0) as u32;
        sampler.set_note_rules(Some(NoteRules { max_hold }))?;
    }
    sampler.prime(&primer)?;
    sampler.set_note_state(&NoteState::after(&primer));
    let steps = (seconds * 100.0).round().max(1.0) as u32;
    let bar = ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{bar:30} {msg} of music  ETA {eta}").expect("valid template"),
    );
    let t0 = Instant::now();
    let events = generate_events(&mut sampler, opts, steps, &mut |done| {
        bar.set_position(done as u64);
        bar.set_message(format!("{:.1}/{seconds} s", done as f64 / 100.0));
    })?;
    bar.finish_and_clear();
    let dt = t0.elapsed().as_secs_f64();
    if events.stuck > 0 {
        log::warn!(
            "{} stream(s) stopped short of {seconds} s: the model drew too few time shifts",
            events.stuck
        );
    }
    let made: usize = events.streams.iter().map(|s| s.len()).sum();
    for (i, tokens) in events.streams.iter().enumerate() {
        let mut piece = primer[1..].to_vec();
        piece.extend_from_slice(tokens);
        write_piece(
            a,
            &out_path(&out, a.streams, i, "mid"),
            &piece,
            font.as_deref(),
        )?;
    }
    println!(
        "{} events in {:.1} s: {:.0} events/s, {:.1} s of music per second{}",
        made,
        dt,
        made as f64 / dt,
        seconds * a.streams as f64 / dt,
        if a.prime.is_some() {
            format!(
                " (each file starts with the {:.1} s primer)",
                midi::seconds(&primer)
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes one piece: the .mid, and unless --midi-only the rendered .wav and the piano roll
/// beside it; prints what it wrote with the piece's key fit and note rate.
fn write_piece(a: &SampleArgs, path: &Path, tokens: &[u32], font: Option<&[u8]>) -> Result<()> {
    let notes: Vec<Note> = midi::decode_tokens(tokens)?;
    let bytes = midi::write_midi(&notes, a.program);
    crate::fsutil::write_bytes_atomic(path, &bytes)?;
    let (in_key, per_second) = stats::summary(&notes);
    let mut wrote = vec![path.display().to_string()];
    if let Some(font) = font {
        let wav = path.with_extension("wav");
        render::render_to_wav(&bytes, font, RENDER_RATE, None, false, &wav)?;
        let png = path.with_extension("png");
        let title = path.file_name().unwrap_or_default().to_string_lossy();
        piano_roll_png(&notes, &title, &png)?;
        wrote.push(wav.display().to_string());
        wrote.push(png.display().to_string());
    }
    println!(
        "wrote {}: {} notes, {:.1} per second, {:.0}% in the best-fitting key",
        wrote.join(", "),
        notes.len(),
        per_second,
        in_key * 100.0
    );
    Ok(())
}
