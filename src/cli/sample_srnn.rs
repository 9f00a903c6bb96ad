//! `gruwave sample` for a SampleRNN checkpoint: mu-law audio from `SrnnSampler`, written
//! as the GRU audio path writes it (one WAV and spectrogram per stream).

use super::sample::{
    check_writable, checked_options, output_len, prime_codes, refuse_midi_flags, with_progress,
    write_audio, SampleArgs,
};
use crate::codec::Codec;
use crate::model::DEFAULT_SAMPLE_RATE;
use crate::samplernn::{SrnnCheckpoint, SrnnSampler};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn run(a: &SampleArgs, model: &Path, ck: &SrnnCheckpoint) -> Result<ExitCode> {
    let (seconds, temperature) = checked_options(a, 4.0, 1.0)?;
    refuse_midi_flags(a, model)?;
    if a.top_k != 0 {
        bail!(
            "--top-k applies to GRU models; {} is a SampleRNN, which draws from all levels",
            model.display()
        );
    }
    let levels = ck.layout.config.levels;
    if levels != Codec::MuLaw256.vocab()
        || ck
            .codec
            .as_deref()
            .is_some_and(|c| c != Codec::MuLaw256.name())
    {
        bail!(
            "{}: a SampleRNN with q = {levels} levels{}; only mu-law ({}) models can be written as audio",
            model.display(),
            ck.codec.as_deref().map_or(String::new(), |c| format!(" (codec {c})")),
            Codec::MuLaw256.name()
        );
    }
    let out_file = a.out.clone().unwrap_or_else(|| PathBuf::from("sample.wav"));
    let rate = ck.sample_rate.unwrap_or(DEFAULT_SAMPLE_RATE);
    let n = output_len(seconds, rate, a.streams)?;
    check_writable(&out_file)?;
    let prime = prime_codes(a, rate)?;
    eprintln!(
        "SampleRNN {}, {} parameters, {rate} Hz",
        ck.layout.config.named(),
        ck.layout.param_count()
    );
    let (gpu, kernels) = super::open_gpu()?;
    let mut sampler = SrnnSampler::new(
        &gpu,
        &kernels,
        &ck.layout,
        &ck.params,
        a.streams,
        temperature,
        a.seed,
    )?;
    if !prime.is_empty() {
        eprintln!(
            "priming with {:.2} s of {}",
            prime.len() as f64 / rate as f64,
            a.prime
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
        sampler.prime(&[prime])?;
    }
    let (out, dt) = with_progress(n, a.streams, rate, |progress| sampler.generate(n, progress))?;
    write_audio(&out_file, &out, rate, seconds, dt)
}
