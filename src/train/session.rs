//! A training run: the trainer, its data streams and its validation set, started fresh
//! or resumed from a [`TrainerState`] so that the continuation is bit-identical to an
//! uninterrupted run.

use super::eval::{EvalWindows, Evaluate, Evaluator, SrnnEvaluator};
pub use super::run_config::{ModelSpec, RunConfig};
use super::state::TrainerState;
use super::{Graph, StepStats, Trainer, Workspace};
use crate::codec::Codec;
use crate::data::{Lookback, Streams, Track};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::model::{save_model_as, ParamLayout};
use crate::samplernn::{save_srnn, SrnnLayout, SrnnWorkspace};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::Arc;

pub const MODEL_FILE: &str = "model.safetensors";
pub const STATE_FILE: &str = "trainer_state.safetensors";

/// Validation runs at least this many streams: a forward-only pass is cheap in memory,
/// and wide batches amortise the per-dispatch cost of the recurrent steps.
pub(crate) const MIN_VALID_BATCH: usize = 128;

/// 64-bit FNV-1a over every track's length and tokens: the identity of the training data.
/// Tokens under 256 count as one byte, so mu-law runs keep the fingerprint they had when
/// tokens were bytes.
pub fn fingerprint(tracks: &[Track]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for t in tracks {
        eat(&(t.tokens.len() as u64).to_le_bytes());
        for &x in &t.tokens {
            match u8::try_from(x) {
                Ok(b) => eat(&[b]),
                Err(_) => eat(&x.to_le_bytes()),
            }
        }
    }
    h
}

pub struct Session {
    pub run: RunConfig,
    pub trainer: Trainer<Box<dyn Graph>>,
    streams: Streams,
    /// SampleRNN: turns the streams' windows into chunks with L tokens of lookback.
    lookback: Option<Lookback>,
    evaluator: Option<Box<dyn Evaluate>>,
    fingerprint: u64,
    elapsed_before: f64,
}

impl Session {
    /// A new run from `init` (the seed's PyTorch-default initialisation when `None`).
    /// `valid` may be empty (no validation).
    pub fn start(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        run: RunConfig,
        train: &[Track],
        valid: &[Track],
        init: Option<Vec<f32>>,
    ) -> Result<Session> {
        let params = init.unwrap_or_else(|| match &run.model {
            ModelSpec::Gru(c) => crate::model::init_params(&ParamLayout::new(c), run.seed),
            ModelSpec::Srnn(c) => crate::samplernn::init_params(c, run.seed),
        });
        let streams = Self::streams(&run, train)?;
        Self::build(gpu, kernels, run, streams, train, valid, &params, 0.0)
    }

    /// Continues the run saved in `state`, on the same training data.
    pub fn resume(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        state: TrainerState,
        train: &[Track],
        valid: &[Track],
    ) -> Result<Session> {
        if fingerprint(train) != state.data_fingerprint {
            bail!(
                "the training data differ from the data this run was trained on, so it cannot \
                 continue exactly (to train the saved model on other data, start a new run \
                 with --init DIR/{MODEL_FILE})"
            );
        }
        let run = state.run.clone();
        let mut streams = Self::streams(&run, train)?;
        streams.set_position(&state.stream_pos)?;
        streams.set_step(state.step);
        let mut s = Self::build(
            gpu,
            kernels,
            run,
            streams,
            train,
            valid,
            &state.params,
            state.elapsed_s,
        )?;
        s.trainer
            .write_moments(&state.adam_m, &state.adam_v, state.step)?;
        s.trainer.workspace().set_state(&state.hidden)?;
        s.lookback = s.lookback.map(|lb| {
            let len = s.run.model.lookback();
            lb.with_history(s.streams.history(len))
        });
        Ok(s)
    }

    /// The training streams of `run`, transposed when it asks for it.
    fn streams(run: &RunConfig, train: &[Track]) -> Result<Streams> {
        let streams = Streams::new(train, run.batch, run.tbptt)?;
        Ok(match run.codec {
            Codec::Perf388 => streams.with_transposition(train, run.transpose, run.seed),
            Codec::MuLaw256 => streams,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        run: RunConfig,
        streams: Streams,
        train: &[Track],
        valid: &[Track],
        params: &[f32],
        elapsed_before: f64,
    ) -> Result<Session> {
        let mut trainer = Self::trainer(gpu, kernels, &run, params)?;
        trainer.set_schedule(run.schedule);
        let evaluator = if valid.is_empty() {
            None
        } else {
            Some(Self::new_evaluator(
                gpu,
                kernels,
                &run,
                trainer.params_buffer(),
                valid,
            )?)
        };
        let lookback = match &run.model {
            ModelSpec::Gru(_) => None,
            ModelSpec::Srnn(c) => Some(Lookback::new(run.batch, c.lookback(), c.zero_level())),
        };
        Ok(Session {
            run,
            trainer,
            streams,
            lookback,
            evaluator,
            fingerprint: fingerprint(train),
            elapsed_before,
        })
    }

    /// The trainer of the run's model, from `params`.
    fn trainer(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        run: &RunConfig,
        params: &[f32],
    ) -> Result<Trainer<Box<dyn Graph>>> {
        anyhow::ensure!(
            Some(params.len()) == run.model.param_count(),
            "parameter vector has the wrong length"
        );
        let p = gpu.storage_from("params", params);
        let g = gpu.storage("grads", (params.len() * 4) as u64);
        let (b, t) = (run.batch, run.tbptt);
        let ws: Box<dyn Graph> = match &run.model {
            ModelSpec::Gru(c) => {
                let layout = ParamLayout::new(c);
                Box::new(Workspace::new(gpu, kernels, &layout, &p, Some(&g), b, t)?)
            }
            ModelSpec::Srnn(c) => {
                let layout = SrnnLayout::new(c);
                Box::new(SrnnWorkspace::new(
                    gpu,
                    kernels,
                    &layout,
                    &p,
                    Some(&g),
                    b,
                    t,
                )?)
            }
        };
        Trainer::with_graph(gpu, kernels, p, g, ws, run.opts)
    }

    /// The validation of the run's model over `valid`, reading the live `params`.
    fn new_evaluator(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        run: &RunConfig,
        params: &wgpu::Buffer,
        valid: &[Track],
    ) -> Result<Box<dyn Evaluate>> {
        let batch = run.batch.max(MIN_VALID_BATCH);
        let why = "the validation data cannot be used";
        Ok(match &run.model {
            ModelSpec::Gru(c) => {
                let windows = EvalWindows::new(valid, batch, run.tbptt, run.codec).context(why)?;
                Box::new(Evaluator::new(
                    gpu,
                    kernels,
                    &ParamLayout::new(c),
                    params,
                    windows,
                )?)
            }
            ModelSpec::Srnn(c) => {
                let t = srnn_eval_window(run.tbptt, c.lookback());
                let windows = EvalWindows::plan(valid, batch, t, true).context(why)?;
                let layout = SrnnLayout::new(c);
                Box::new(SrnnEvaluator::new(gpu, kernels, &layout, params, windows)?)
            }
        })
    }

    /// Optimiser steps taken, counting those before a resume.
    pub fn step_count(&self) -> u64 {
        self.trainer.step_count()
    }

    /// Training seconds of the runs before this one was resumed.
    pub fn elapsed_before(&self) -> f64 {
        self.elapsed_before
    }

    /// Tokens per optimiser step (B x T).
    pub fn tokens_per_step(&self) -> usize {
        self.run.batch * self.run.tbptt
    }

    /// One optimiser step on the next window of every stream, its loss read back at once.
    pub fn step(&mut self) -> Result<StepStats> {
        self.submit()?;
        Ok(self.collect()?.pop().expect("a submitted step has stats"))
    }

    /// As `step` without waiting for the GPU: the host cuts the next window while this one
    /// runs. `collect` returns the stats.
    pub fn submit(&mut self) -> Result<()> {
        let batch = self.streams.next_batch();
        match &mut self.lookback {
            Some(lb) => self.trainer.submit_step(&lb.chunks(&batch), &batch.reset),
            None => self.trainer.submit_step(&batch.tokens, &batch.reset),
        }
    }

    /// The stats of the steps submitted since the last call, in order; fails on a
    /// non-finite loss or gradient norm, naming the step.
    pub fn collect(&mut self) -> Result<Vec<StepStats>> {
        self.trainer.collect()
    }

    /// Steps submitted whose stats have not been collected.
    pub fn uncollected(&self) -> usize {
        self.trainer.uncollected()
    }

    pub fn evaluator(&self) -> Option<&dyn Evaluate> {
        self.evaluator.as_deref()
    }

    /// Validation loss in nats over the whole held-out set, or `None` without one.
    pub fn validate(&self, progress: &mut dyn FnMut(usize)) -> Result<Option<f64>> {
        self.evaluator
            .as_ref()
            .map(|e| e.mean_nats(progress))
            .transpose()
    }

    /// Everything needed to continue exactly; `elapsed_s` is the total training time.
    pub fn snapshot(&self, elapsed_s: f64) -> Result<TrainerState> {
        let (adam_m, adam_v) = self.trainer.read_moments()?;
        Ok(TrainerState {
            run: self.run.clone(),
            step: self.step_count(),
            params: self.trainer.read_params()?,
            adam_m,
            adam_v,
            hidden: self.trainer.workspace().read_state()?,
            stream_pos: self.streams.position(),
            data_fingerprint: self.fingerprint,
            elapsed_s,
        })
    }

    /// Writes `dir/model.safetensors` and `dir/trainer_state.safetensors` (each atomically).
    pub fn save(&self, dir: &Path, elapsed_s: f64) -> Result<TrainerState> {
        let state = self.snapshot(elapsed_s)?;
        let (path, rate) = (dir.join(MODEL_FILE), self.run.sample_rate);
        match &self.run.model {
            ModelSpec::Gru(c) => {
                let layout = ParamLayout::new(c);
                save_model_as(&path, &layout, &state.params, self.run.codec, rate)?
            }
            ModelSpec::Srnn(c) => {
                let codec = Some(self.run.codec.name());
                save_srnn(&path, &SrnnLayout::new(c), &state.params, Some(rate), codec)?
            }
        }
        state.save(&dir.join(STATE_FILE))?;
        Ok(state)
    }
}

/// Targets per SampleRNN evaluation chunk: at least `SRNN_EVAL_SAMPLES` (a multiple of the
/// lookback), since the score does not depend on the chunking and small training windows
/// would make one submit and readback per few hundred samples.
pub fn srnn_eval_window(tbptt: usize, lookback: usize) -> usize {
    tbptt.max(SRNN_EVAL_SAMPLES.div_ceil(lookback) * lookback)
}

const SRNN_EVAL_SAMPLES: usize = 2048;
