//! What the model being trained makes at each checkpoint, to hear its progress: a few
//! seconds of audio (a WAV and its spectrogram), or of music from a MIDI model (a .mid,
//! sampled under the note rules).

use crate::audio::write_wav;
use crate::codec::{decode_all, Codec};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::midi;
use crate::model::ParamLayout;
use crate::music::spectrogram::spectrogram_png;
use crate::sample::events::generate_events;
use crate::sample::{NoteRules, SampleOptions, Sampler};
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

const PREFIX: &str = "sample_step";
/// Notes held this long (30 s) get their NOTE_OFF forced, as `gruwave sample` does.
const MAX_HOLD: u32 = 3000;

/// File name of the preview written at checkpoint `step`.
pub fn preview_name(step: u64, codec: Codec) -> String {
    let ext = match codec {
        Codec::MuLaw256 => "wav",
        Codec::Perf388 => "mid",
    };
    format!("{PREFIX}{step}.{ext}")
}

/// Whether `name` is a [`preview_name`] (or an audio preview's spectrogram).
pub fn is_preview_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| {
            [".wav", ".png", ".mid"]
                .iter()
                .find_map(|ext| rest.strip_suffix(ext))
        })
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a preview is made of: the run's codec and rate, its length and seed.
pub struct PreviewSpec {
    pub codec: Codec,
    pub sample_rate: u32,
    pub seconds: f64,
    pub seed: u64,
}

/// Generates `spec.seconds` (one stream, temperature 1, seeded) and writes it to `path`.
/// `progress` gets the tokens (audio) or 10 ms steps of music (MIDI) done.
pub fn write_preview(
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
    (layout, params): (&ParamLayout, &[f32]),
    spec: &PreviewSpec,
    path: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let mut sampler = Sampler::new(gpu, kernels, layout, params, 1)?;
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: spec.seed,
    };
    match spec.codec {
        Codec::MuLaw256 => {
            let n = (spec.seconds * spec.sample_rate as f64).round() as usize;
            sampler.prime(&[])?;
            let tokens = sampler.generate(n, &opts, progress)?;
            write_audio_preview(&tokens[0], spec, path)
        }
        Codec::Perf388 => {
            sampler.set_note_rules(Some(NoteRules { max_hold: MAX_HOLD }))?;
            sampler.prime(&[midi::START])?;
            let steps = (spec.seconds * 100.0).round().max(1.0) as u32;
            let ev = generate_events(&mut sampler, &opts, steps, &mut |d| progress(d as usize))?;
            let notes = midi::decode_tokens(&ev.streams[0])?;
            crate::fsutil::write_bytes_atomic(path, &midi::write_midi(&notes, 0))
        }
    }
}

/// The WAV of mu-law `tokens` at `path`, and its spectrogram beside it.
fn write_audio_preview(tokens: &[u32], spec: &PreviewSpec, path: &Path) -> Result<()> {
    let audio = decode_all(tokens);
    write_wav(path, &audio, spec.sample_rate)?;
    let title = path.file_name().unwrap_or_default().to_string_lossy();
    spectrogram_png(
        &audio,
        spec.sample_rate,
        &title,
        &path.with_extension("png"),
    )
}

/// A SampleRNN's preview: `spec.seconds` of one stream at temperature 1, seeded, as a WAV
/// with its spectrogram.
pub fn write_srnn_preview(
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
    (layout, params): (&crate::samplernn::SrnnLayout, &[f32]),
    spec: &PreviewSpec,
    path: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let mut sampler =
        crate::samplernn::SrnnSampler::new(gpu, kernels, layout, params, 1, 1.0, spec.seed)?;
    let n = (spec.seconds * spec.sample_rate as f64).round() as usize;
    let tokens = sampler.generate(n, progress)?;
    write_audio_preview(&tokens[0], spec, path)
}
