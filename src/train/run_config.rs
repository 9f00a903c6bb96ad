//! The settings of a training run, shared by the session that runs it and the trainer
//! state that saves it.

use super::TrainOptions;
use crate::codec::Codec;
use crate::model::ModelConfig;
use std::path::PathBuf;

/// The settings of a run; saved with the trainer state so `--resume` needs none of them.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub model: ModelConfig,
    pub batch: usize,
    pub tbptt: usize,
    pub opts: TrainOptions,
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
