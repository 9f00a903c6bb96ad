//! The settings of a training run, shared by the session that runs it and the trainer
//! state that saves it.

use super::schedule::LrSchedule;
use super::TrainOptions;
use crate::codec::Codec;
use crate::model::{ModelConfig, ParamLayout};
use crate::samplernn::{SrnnConfig, SrnnLayout};
use anyhow::{ensure, Result};
use std::path::PathBuf;

/// The model a run trains: a GRU language model or a SampleRNN.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    Gru(ModelConfig),
    Srnn(SrnnConfig),
}

impl ModelSpec {
    /// `gru` or `samplernn` (the --arch names).
    pub fn arch(&self) -> &'static str {
        match self {
            ModelSpec::Gru(_) => "gru",
            ModelSpec::Srnn(_) => "samplernn",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::Gru(c) => c.validate(),
            ModelSpec::Srnn(c) => c.validate(),
        }
    }

    /// Floats in the flat parameter vector (None: too large to lay out).
    pub fn param_count(&self) -> Option<usize> {
        match self {
            ModelSpec::Gru(c) => ParamLayout::try_new(c).ok().map(|l| l.total),
            ModelSpec::Srnn(c) => c.validate().ok().map(|_| SrnnLayout::new(c).total),
        }
    }

    /// Floats of the state carried between windows of `batch` streams.
    pub fn state_len(&self, batch: usize) -> Option<usize> {
        let (a, b) = match self {
            ModelSpec::Gru(c) => (c.layers, c.hidden),
            ModelSpec::Srnn(c) => (c.tiers() * c.rnn_layers, c.dim),
        };
        a.checked_mul(batch)?.checked_mul(b)
    }

    /// "base (...)" or "srnn-tiny (...)", for titles and logs.
    pub fn named(&self) -> String {
        match self {
            ModelSpec::Gru(c) => c.named(),
            ModelSpec::Srnn(c) => c.named(),
        }
    }

    /// The GRU's parameter layout (None for a SampleRNN).
    pub fn gru_layout(&self) -> Option<ParamLayout> {
        match self {
            ModelSpec::Gru(c) => Some(ParamLayout::new(c)),
            ModelSpec::Srnn(_) => None,
        }
    }

    /// Tokens of context before a window's targets: 1 for the GRU, L for a SampleRNN.
    pub fn lookback(&self) -> usize {
        match self {
            ModelSpec::Gru(_) => 1,
            ModelSpec::Srnn(c) => c.lookback(),
        }
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::Gru(c) => write!(f, "{c}"),
            ModelSpec::Srnn(c) => write!(f, "SampleRNN {c}"),
        }
    }
}

/// The settings of a run; saved with the trainer state so `--resume` needs none of them.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub model: ModelSpec,
    pub batch: usize,
    pub tbptt: usize,
    pub opts: TrainOptions,
    /// Warmup and decay of `opts.lr` over the steps.
    pub schedule: LrSchedule,
    /// Seeds the initial weights. Training itself draws no random numbers (the data order
    /// is fixed by the streams), so the seed is the whole RNG state.
    pub seed: u64,
    /// What the tokens mean; perf388 runs ignore `sample_rate`.
    pub codec: Codec,
    /// Transposition augmentation of perf388 data: up to this many semitones (0: off).
    pub transpose: u32,
    pub sample_rate: u32,
    pub valid_fraction: f64,
    /// Training audio (files or folders) as given.
    pub data: Vec<PathBuf>,
    /// Validation audio; empty means "hold out `valid_fraction` of `data`".
    pub valid_data: Vec<PathBuf>,
    /// Total optimiser steps of the run, counting steps before a resume.
    pub steps: Option<u64>,
    /// Validate every this many steps (and at the end); 0 means only at the end.
    pub valid_every: u64,
    /// Save a checkpoint every this many steps (and at the end); 0 means only at the end.
    pub checkpoint_every: u64,
    /// Seconds of audio generated at each checkpoint; 0 for none.
    pub sample_seconds: f64,
}

/// Most streams per batch (B).
pub const MAX_BATCH: usize = 1 << 12;
/// Longest TBPTT window (T).
pub const MAX_TBPTT: usize = 1 << 16;
/// Longest preview generated at a checkpoint (--sample-seconds).
pub const MAX_SAMPLE_SECONDS: f64 = 600.0;
/// Largest single GPU buffer in floats, whatever the adapter allows: offsets in the
/// shaders are u32 word indices.
const MAX_BUFFER_FLOATS: usize = 1 << 31;

impl RunConfig {
    /// Every size of the run within its bound and every product of them in range, so
    /// nothing read from a flag or a trainer state can wrap or ask for an absurd buffer.
    pub fn check_sizes(&self) -> Result<()> {
        self.model.validate()?;
        let (b, t) = (self.batch, self.tbptt);
        ensure!(
            (1..=MAX_BATCH).contains(&b),
            "the batch size B (--batch) must be between 1 and {MAX_BATCH}, got {b}"
        );
        ensure!(
            (1..=MAX_TBPTT).contains(&t),
            "the TBPTT window T (--tbptt) must be between 1 and {MAX_TBPTT}, got {t}"
        );
        for (what, n) in self.buffers(b) {
            ensure!(
                n.is_some_and(|n| n <= MAX_BUFFER_FLOATS),
                "{what} of a run with {} and B = {b}, T = {t} is too large: use a smaller \
                 batch, TBPTT window or model",
                self.model
            );
        }
        if let ModelSpec::Srnn(c) = &self.model {
            let l = c.lookback();
            ensure!(
                t.is_multiple_of(l),
                "a SampleRNN's window T (--tbptt) must be a multiple of its lookback L = {l} \
                 (the product of its frame sizes), got {t}"
            );
        }
        crate::audio::check_sample_rate(self.sample_rate)?;
        ensure!(
            (0.0..=MAX_SAMPLE_SECONDS).contains(&self.sample_seconds),
            "--sample-seconds must be between 0 and {MAX_SAMPLE_SECONDS}, got {}",
            self.sample_seconds
        );
        Ok(())
    }

    /// The largest buffers of a run with `b` streams, in floats (None: overflow).
    fn buffers(&self, b: usize) -> [(&'static str, Option<usize>); 4] {
        let rows = b.checked_mul(self.tbptt);
        let times = |k: usize| rows.and_then(|r| r.checked_mul(k));
        let (act, width, logits) = match &self.model {
            ModelSpec::Gru(c) => (
                "the saved gates (B*T*4H)",
                c.hidden.saturating_mul(4),
                c.vocab,
            ),
            ModelSpec::Srnn(c) => (
                "the MLP activations (B*T*3D)",
                c.dim.saturating_mul(3),
                c.levels,
            ),
        };
        [
            (act, times(width)),
            ("the logits (B*T*V)", times(logits)),
            ("the carried state", self.model.state_len(b)),
            ("the parameters", self.model.param_count()),
        ]
    }

    /// Before anything is allocated: each buffer fits the adapter's limits (training and
    /// validation batches), and the host copies of the parameters, gradients and Adam
    /// moments fit the free memory.
    pub fn check_fits(&self, gpu: &crate::Gpu) -> Result<()> {
        self.check_sizes()?;
        for b in [self.batch, self.batch.max(super::session::MIN_VALID_BATCH)] {
            for (what, n) in self.buffers(b) {
                gpu.check_buffer_size(what, n.unwrap_or(usize::MAX) as u64 * 4)?;
            }
        }
        // The parameters, their initialisation, the Adam moments read back at a
        // checkpoint and the serialised state: about 7 copies on the host.
        let total = self.model.param_count().unwrap_or(usize::MAX) as u64;
        let need = total * 4 * 7;
        if let Some(free) = available_memory() {
            ensure!(
                need <= free,
                "a model with {} needs about {:.1} GiB of host memory to train, more than the \
                 {:.1} GiB free: use a smaller model",
                self.model,
                need as f64 / (1u64 << 30) as f64,
                free as f64 / (1u64 << 30) as f64
            );
        }
        Ok(())
    }
}

/// Bytes of host memory available, where the OS tells (Linux).
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
