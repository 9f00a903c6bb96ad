//! The settings of a training run, shared by the session that runs it and the trainer
//! state that saves it.

use super::schedule::LrSchedule;
use super::TrainOptions;
use crate::codec::Codec;
use crate::model::ModelConfig;
use anyhow::{ensure, Result};
use std::path::PathBuf;

/// The settings of a run; saved with the trainer state so `--resume` needs none of them.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub model: ModelConfig,
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
        let c = self.model;
        let rows = b.checked_mul(self.tbptt);
        let times = |k: usize| rows.and_then(|r| r.checked_mul(k));
        [
            (
                "the saved gates (B*T*4H)",
                times(c.hidden.saturating_mul(4)),
            ),
            ("the logits (B*T*V)", times(c.vocab)),
            (
                "the hidden state (L*B*H)",
                c.layers
                    .checked_mul(b)
                    .and_then(|x| x.checked_mul(c.hidden)),
            ),
            (
                "the parameters",
                crate::model::ParamLayout::try_new(&c).ok().map(|l| l.total),
            ),
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
        let total = crate::model::ParamLayout::new(&self.model).total as u64;
        let need = total * 4 * 7;
        if let Some(free) = available_memory() {
            ensure!(
                need <= free,
                "a model with {} needs about {:.1} GiB of host memory to train, more than the \
                 {:.1} GiB free: use a smaller --hidden, --embed or --layers",
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
