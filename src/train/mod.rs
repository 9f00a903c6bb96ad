//! Training: one stateful truncated-BPTT optimiser step as a single GPU submit.

pub mod eval;
pub mod gru_layer;
pub mod metrics;
mod optim;
pub mod run_config;
pub mod schedule;
pub mod session;
pub mod state;
mod workspace;

pub use optim::Optimizer;
pub use workspace::{time_to_batch_major, Workspace};

use crate::gpu::{Gpu, KernelTime, Profiler, Program};
use crate::kernels::Kernels;
use crate::model::ParamLayout;
use anyhow::{bail, ensure, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Optimiser settings: Adam as torch.optim.Adam after clip_grad_norm_(max_norm = clip).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    pub lr: f64,
    /// Max global gradient norm; `f64::INFINITY` disables clipping.
    pub clip: f64,
    /// Clamp every gradient element to ±this after the norm clip (samplernn's rule).
    pub clip_value: Option<f64>,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lr: 2e-3,
            clip: 1.0,
            clip_value: None,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// What one step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy of the window before the update, nats.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
}

/// What the trainer drives: one model's recorded forward (with its mean loss, nats) and
/// backward (the gradient into the trainer's buffer) over one window.
pub trait Graph {
    fn batch(&self) -> usize;
    /// Upload one window of tokens (its shape is the graph's).
    fn upload_tokens(&self, tokens: &[u32]) -> Result<()>;
    /// Start the marked streams afresh in the next forward.
    fn reset_streams(&self, reset: &[bool]);
    fn forward(&self) -> &Program;
    fn backward(&self) -> Option<&Program>;
    /// One float: the mean loss of the last forward, nats.
    fn loss_buffer(&self) -> &wgpu::Buffer;
    /// The state carried between windows, read back and restored (for an exact resume).
    fn read_state(&self) -> Result<Vec<f32>>;
    fn set_state(&self, h: &[f32]) -> Result<()>;
}

/// A model chosen at run time (a session trains either family through one type).
impl Graph for Box<dyn Graph> {
    fn batch(&self) -> usize {
        (**self).batch()
    }
    fn upload_tokens(&self, tokens: &[u32]) -> Result<()> {
        (**self).upload_tokens(tokens)
    }
    fn reset_streams(&self, reset: &[bool]) {
        (**self).reset_streams(reset)
    }
    fn forward(&self) -> &Program {
        (**self).forward()
    }
    fn backward(&self) -> Option<&Program> {
        (**self).backward()
    }
    fn loss_buffer(&self) -> &wgpu::Buffer {
        (**self).loss_buffer()
    }
    fn read_state(&self) -> Result<Vec<f32>> {
        (**self).read_state()
    }
    fn set_state(&self, h: &[f32]) -> Result<()> {
        (**self).set_state(h)
    }
}

impl Graph for Workspace {
    fn batch(&self) -> usize {
        self.batch
    }
    fn upload_tokens(&self, tokens: &[u32]) -> Result<()> {
        Workspace::upload_tokens(self, tokens)
    }
    fn reset_streams(&self, reset: &[bool]) {
        Workspace::reset_streams(self, reset)
    }
    fn forward(&self) -> &Program {
        &self.forward
    }
    fn backward(&self) -> Option<&Program> {
        self.backward.as_ref()
    }
    fn loss_buffer(&self) -> &wgpu::Buffer {
        &self.stats
    }
    fn read_state(&self) -> Result<Vec<f32>> {
        Workspace::read_state(self)
    }
    fn set_state(&self, h: &[f32]) -> Result<()> {
        Workspace::set_state(self, h)
    }
}

impl Graph for crate::samplernn::SrnnWorkspace {
    fn batch(&self) -> usize {
        self.batch
    }
    fn upload_tokens(&self, tokens: &[u32]) -> Result<()> {
        Self::upload_tokens(self, tokens)
    }
    fn reset_streams(&self, reset: &[bool]) {
        Self::reset_streams(self, reset)
    }
    fn forward(&self) -> &Program {
        &self.forward
    }
    fn backward(&self) -> Option<&Program> {
        self.backward.as_ref()
    }
    fn loss_buffer(&self) -> &wgpu::Buffer {
        self.loss_buffer()
    }
    fn read_state(&self) -> Result<Vec<f32>> {
        Self::read_state(self)
    }
    fn set_state(&self, h: &[f32]) -> Result<()> {
        Self::set_state(self, h)
    }
}

pub struct Trainer<G: Graph = Workspace> {
    gpu: Arc<Gpu>,
    /// Floats in the parameter buffer.
    total: usize,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    ws: G,
    optim: Optimizer,
    /// Loss and gradient norm of up to `STATS_RING` submitted steps, read back together.
    stats_log: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Steps submitted whose stats are still only on the GPU.
    pending: usize,
    /// Stats read back early (the ring was full) and not yet collected.
    unread: Vec<StepStats>,
}

/// Steps whose loss can wait on the GPU before `Trainer::collect` must read them.
pub const STATS_RING: usize = 64;

impl Trainer<Workspace> {
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        layout: &ParamLayout,
        init: &[f32],
        batch: usize,
        tbptt: usize,
        opts: TrainOptions,
    ) -> Result<Trainer> {
        ensure!(
            init.len() == layout.total,
            "parameter vector has the wrong length"
        );
        let params = gpu.storage_from("params", init);
        let grads = gpu.storage("grads", (layout.total * 4) as u64);
        let ws = Workspace::new(gpu, kernels, layout, &params, Some(&grads), batch, tbptt)?;
        Trainer::with_graph(gpu, kernels, params, grads, ws, opts)
    }

    /// The model's parameter layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.ws.layout
    }
}

impl Trainer<crate::samplernn::SrnnWorkspace> {
    /// A SampleRNN trainer over chunks of `batch` x `tbptt` targets.
    pub fn new_srnn(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        layout: &crate::samplernn::SrnnLayout,
        init: &[f32],
        batch: usize,
        tbptt: usize,
        opts: TrainOptions,
    ) -> Result<Self> {
        use crate::samplernn::SrnnWorkspace;
        ensure!(
            init.len() == layout.total,
            "parameter vector has the wrong length"
        );
        let params = gpu.storage_from("params", init);
        let grads = gpu.storage("grads", (layout.total * 4) as u64);
        let ws = SrnnWorkspace::new(gpu, kernels, layout, &params, Some(&grads), batch, tbptt)?;
        Trainer::with_graph(gpu, kernels, params, grads, ws, opts)
    }
}

impl<G: Graph> Trainer<G> {
    /// A trainer of `graph`, whose backward writes into `grads`, updating `params`.
    pub fn with_graph(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        params: wgpu::Buffer,
        grads: wgpu::Buffer,
        ws: G,
        opts: TrainOptions,
    ) -> Result<Self> {
        let total = (params.size() / 4) as usize;
        let optim = Optimizer::new(gpu, kernels, &params, &grads, total, opts)?;
        let stats_log = gpu.storage("step stats", (STATS_RING * 8) as u64);
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("stats readback"),
            size: (STATS_RING * 8) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Trainer {
            gpu: gpu.clone(),
            total,
            params,
            grads,
            ws,
            optim,
            stats_log,
            staging,
            pending: 0,
            unread: Vec::new(),
        })
    }

    /// The live parameter buffer (an evaluator reads the weights from it).
    pub fn params_buffer(&self) -> &wgpu::Buffer {
        &self.params
    }

    /// The window's buffers and programs: hidden state, logits, per-layer outputs.
    pub fn workspace(&self) -> &G {
        &self.ws
    }

    /// Adam's first and second moments, read back.
    pub fn read_moments(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        self.optim.read_moments(&self.gpu)
    }

    /// Sets the learning-rate schedule (constant until set).
    pub fn set_schedule(&mut self, schedule: schedule::LrSchedule) {
        self.optim.schedule = schedule;
    }

    /// Restores Adam's moments and step count (for an exact resume).
    pub fn write_moments(&mut self, m: &[f32], v: &[f32], step: u64) -> Result<()> {
        self.optim.write_moments(&self.gpu, m, v, step)
    }

    pub fn step_count(&self) -> u64 {
        self.optim.step
    }

    /// One optimiser step on a `[B, T+1]` token window: zero the state of the streams in
    /// `reset`, forward, backward, clip, Adam; the hidden state carries over (detached).
    /// Everything goes to the GPU in one submit; the loss and norm are read back at once.
    pub fn step(&mut self, tokens: &[u32], reset: &[bool]) -> Result<StepStats> {
        self.submit_step(tokens, reset)?;
        Ok(self.collect()?.pop().expect("a submitted step has stats"))
    }

    /// As `step`, without waiting: the GPU keeps the stats until `collect`, so the host can
    /// prepare the next window while this one runs (at most `STATS_RING` steps are kept;
    /// beyond that this call reads them back itself).
    pub fn submit_step(&mut self, tokens: &[u32], reset: &[bool]) -> Result<()> {
        ensure!(
            reset.len() == self.ws.batch(),
            "reset mask has the wrong length"
        );
        if self.pending == STATS_RING {
            let early = self.read_pending()?;
            self.unread.extend(early);
        }
        self.ws.upload_tokens(tokens)?;
        self.ws.reset_streams(reset);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.encode_forward_backward(&mut enc, None);
        self.optim.encode_step(&self.gpu, &mut enc);
        let at = (self.pending * 8) as u64;
        enc.copy_buffer_to_buffer(self.ws.loss_buffer(), 0, &self.stats_log, at, 4);
        enc.copy_buffer_to_buffer(&self.optim.stats, 0, &self.stats_log, at + 4, 4);
        self.gpu.queue.submit([enc.finish()]);
        self.pending += 1;
        Ok(())
    }

    /// Steps submitted whose stats `collect` has not returned yet.
    pub fn uncollected(&self) -> usize {
        self.pending + self.unread.len()
    }

    /// The stats of every step submitted since the last call, in order. Fails, naming the
    /// step, if any loss or gradient norm is not finite.
    pub fn collect(&mut self) -> Result<Vec<StepStats>> {
        let mut out = std::mem::take(&mut self.unread);
        out.extend(self.read_pending()?);
        Ok(out)
    }

    fn read_pending(&mut self) -> Result<Vec<StepStats>> {
        if self.pending == 0 {
            return Ok(Vec::new());
        }
        let bytes = (self.pending * 8) as u64;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&self.stats_log, 0, &self.staging, 0, bytes);
        self.gpu.queue.submit([enc.finish()]);
        let s: Vec<f32> = self.gpu.map_read(&self.staging, bytes)?;
        let first = self.optim.step - self.pending as u64 + 1;
        self.pending = 0;
        s.chunks_exact(2)
            .enumerate()
            .map(|(i, c)| {
                let stats = StepStats {
                    loss: c[0],
                    grad_norm: c[1],
                };
                if !stats.loss.is_finite() || !stats.grad_norm.is_finite() {
                    bail!(
                        "training diverged at step {}: loss {} and gradient norm {} are not \
                         finite (try a lower --lr or a smaller --clip)",
                        first + i as u64,
                        stats.loss,
                        stats.grad_norm
                    );
                }
                Ok(stats)
            })
            .collect()
    }

    /// One step as `step`, with a timestamp pair around every dispatch: GPU time per kernel.
    pub fn profile_step(
        &mut self,
        tokens: &[u32],
        reset: &[bool],
        prof: &mut Profiler,
    ) -> Result<BTreeMap<String, KernelTime>> {
        self.ws.upload_tokens(tokens)?;
        self.ws.reset_streams(reset);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.encode_forward_backward(&mut enc, Some(prof));
        self.optim
            .encode_step_profiled(&self.gpu, &mut enc, Some(prof));
        prof.finish(&self.gpu, enc)
    }

    fn encode_forward_backward(
        &self,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
    ) {
        self.ws.forward().encode(enc, prof.as_deref_mut());
        let backward = self
            .ws
            .backward()
            .expect("a training workspace records a backward pass");
        backward.encode(enc, prof);
    }

    /// Forward and backward only (no update): the loss, with gradients left in `grads`.
    pub fn compute_gradients(&mut self, tokens: &[u32]) -> Result<f32> {
        self.ws.upload_tokens(tokens)?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.encode_forward_backward(&mut enc, None);
        self.gpu.queue.submit([enc.finish()]);
        Ok(self.gpu.read::<f32>(self.ws.loss_buffer(), 0, 1)?[0])
    }

    pub fn read_params(&self) -> Result<Vec<f32>> {
        self.gpu.read(&self.params, 0, self.total)
    }

    pub fn read_grads(&self) -> Result<Vec<f32>> {
        self.gpu.read(&self.grads, 0, self.total)
    }

    pub fn write_params(&self, p: &[f32]) -> Result<()> {
        ensure!(
            p.len() == self.total,
            "parameter vector has the wrong length"
        );
        self.gpu
            .queue
            .write_buffer(&self.params, 0, bytemuck::cast_slice(p));
        Ok(())
    }

    /// Dispatches in one optimiser step.
    pub fn dispatches_per_step(&self) -> usize {
        self.ws.forward().dispatches()
            + self.ws.backward().map_or(0, |b| b.dispatches())
            + self.optim.dispatches()
    }
}
