//! `gruwave spectrogram`: a spectrogram PNG of any WAV, so a generated sample can be set
//! beside a real clip.

use super::{check_output_file, human_duration};
use crate::audio::load_wav;
use crate::music::spectrogram::{spectrogram_png_with, FreqScale};
use anyhow::{ensure, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    gruwave spectrogram clip.wav\n  \
    gruwave spectrogram sample.wav sample.png --title \"srnn-small, step 20000\"\n  \
    gruwave spectrogram piano.wav --log   # octaves up: harmonics and melody read more easily\n  \
    gruwave spectrogram real.wav && gruwave spectrogram generated.wav   # then compare the two PNGs\n\n\
    The WAV is read as training reads audio: any channel count, averaged to mono, at its \
    own sample rate (a silent file is refused, as training refuses it). The picture is \
    1200 x 500: time (s) across, frequency up (0 to Nyquist in kHz, or octaves from two FFT \
    bins with --log), and the level in dB relative to the loudest point, from 0 (pale \
    yellow) down to -90 dB (black). Frames are the power of two nearest 64 ms (1024 samples \
    at 16 kHz), Hann-windowed, a quarter frame apart; a long file averages neighbouring \
    frames into the image's columns. A harmonic sound shows as evenly spaced horizontal \
    lines (evenly spaced in Hz, closer together up an octave axis), \
    noise as a smear over all frequencies.")]
pub struct SpectrogramArgs {
    /// The WAV file to analyse
    #[arg(value_name = "IN.wav")]
    pub input: PathBuf,
    /// The PNG to write [default: IN with the extension .png]
    #[arg(value_name = "OUT.png")]
    pub output: Option<PathBuf>,
    /// Title above the plot [default: the file name, duration and sample rate]
    #[arg(long)]
    pub title: Option<String>,
    /// Space the frequency axis in octaves (from two FFT bins, 22 to 44 Hz) instead of linearly
    #[arg(long)]
    pub log: bool,
    /// Only the first S seconds of the file (to set a real clip beside a short sample)
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
}

pub fn run(a: SpectrogramArgs) -> Result<ExitCode> {
    let input = &a.input;
    ensure!(
        !input.is_dir(),
        "{}: is a folder; give a WAV file",
        input.display()
    );
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| input.with_extension("png"));
    ensure!(
        out != *input,
        "{}: is the input; give another name for the PNG",
        out.display()
    );
    if let Some(s) = a.seconds {
        ensure!(
            s > 0.0 && s.is_finite(),
            "--seconds must be a positive number, got {s}"
        );
    }
    check_output_file(&out, "output")?;
    let mut audio = load_wav(input)?;
    if let Some(s) = a.seconds {
        let n = (s * f64::from(audio.sample_rate)).round().max(1.0) as usize;
        audio.samples.truncate(n);
    }
    let seconds = audio.samples.len() as f64 / f64::from(audio.sample_rate);
    let title = a.title.unwrap_or_else(|| {
        let name = input.file_name().unwrap_or_default().to_string_lossy();
        format!(
            "{name}: {}, {} Hz",
            human_duration(seconds),
            audio.sample_rate
        )
    });
    let scale = match a.log {
        true => FreqScale::Log,
        false => FreqScale::Linear,
    };
    spectrogram_png_with(&audio.samples, audio.sample_rate, &title, &out, scale)?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
