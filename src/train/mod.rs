//! Training: one stateful truncated-BPTT optimiser step as a single GPU submit.

mod workspace;

pub use workspace::{time_to_batch_major, Workspace, NORM_PARTS, STATS_PARTIALS};

use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::{Buf, Kernels};
use crate::model::ParamLayout;
use anyhow::{bail, ensure, Result};
use std::sync::Arc;

/// Optimiser settings: Adam as torch.optim.Adam after clip_grad_norm_(max_norm = clip).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    pub lr: f64,
    /// Max global gradient norm; `f64::INFINITY` disables clipping.
    pub clip: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lr: 2e-3,
            clip: 1.0,
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

pub struct Trainer {
    pub gpu: Arc<Gpu>,
    pub kernels: Arc<Kernels>,
    pub layout: ParamLayout,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    adam_m: wgpu::Buffer,
    adam_v: wgpu::Buffer,
    pub ws: Workspace,
    opt: Program,
    adam_slot: u32,
    staging: wgpu::Buffer,
    /// Optimiser steps taken so far (Adam's t).
    pub step: u64,
    pub opts: TrainOptions,
}

impl Trainer {
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Arc<Kernels>,
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
        ensure!(
            opts.lr > 0.0 && opts.lr.is_finite(),
            "learning rate must be positive"
        );
        ensure!(
            opts.clip > 0.0,
            "clip must be positive (use infinity for none)"
        );
        let params = gpu.storage_from("params", init);
        let bytes = (layout.total * 4) as u64;
        let grads = gpu.storage("grads", bytes);
        let adam_m = gpu.storage("adam m", bytes);
        let adam_v = gpu.storage("adam v", bytes);
        let ws = Workspace::new(gpu, kernels, layout, &params, Some(&grads), batch, tbptt)?;

        let mut pb = ProgramBuilder::new();
        let reg = |pb: &mut ProgramBuilder, b: &wgpu::Buffer| Buf {
            id: pb.buffer(b),
            len: (b.size() / 4) as usize,
        };
        let g = reg(&mut pb, &grads);
        let st = reg(&mut pb, &ws.stats);
        let pr = reg(&mut pb, &params);
        let m = reg(&mut pb, &adam_m);
        let v = reg(&mut pb, &adam_v);
        let n = layout.total as u32;
        let clip = if opts.clip.is_finite() {
            opts.clip as f32
        } else {
            f32::MAX
        };
        let parts = NORM_PARTS as u32;
        pb.dispatch(
            &kernels.sumsq_partial,
            &[g.id, st.id],
            &[n, 0, 0, STATS_PARTIALS as u32, 0, parts],
            [parts, 1, 1],
        );
        pb.dispatch(
            &kernels.clip_coef,
            &[g.id, st.id],
            &[0, 0, 0, STATS_PARTIALS as u32, clip.to_bits(), parts],
            [1, 1, 1],
        );
        let adam_slot = pb.slot(&[]);
        let groups = (layout.total.div_ceil(256)).min(4096) as u32;
        pb.dispatch_at(
            &kernels.adam,
            &[g.id, st.id, pr.id, m.id, v.id],
            adam_slot,
            [groups, 1, 1],
        );
        let opt = pb.build(gpu);
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("stats readback"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Trainer {
            gpu: gpu.clone(),
            kernels: kernels.clone(),
            layout: layout.clone(),
            params,
            grads,
            adam_m,
            adam_v,
            ws,
            opt,
            adam_slot,
            staging,
            step: 0,
            opts,
        })
    }

    fn adam_params(&self, t: u64) -> [u32; 7] {
        let o = &self.opts;
        // Bias corrections in f64, as torch computes them on the host.
        let bc1 = 1.0 - o.beta1.powf(t as f64);
        let bc2 = 1.0 - o.beta2.powf(t as f64);
        let groups = (self.layout.total.div_ceil(256)).min(4096) as u32;
        [
            self.layout.total as u32,
            ((o.lr / bc1) as f32).to_bits(),
            (bc2.sqrt() as f32).to_bits(),
            (o.beta1 as f32).to_bits(),
            (o.beta2 as f32).to_bits(),
            (o.eps as f32).to_bits(),
            groups,
        ]
    }

    /// One optimiser step on a `[B, T+1]` token window: zero the state of the streams in
    /// `reset`, forward, backward, clip, Adam; the hidden state carries over (detached).
    /// Everything goes to the GPU in one submit; only the loss and norm are read back.
    pub fn step(&mut self, tokens: &[u32], reset: &[bool]) -> Result<StepStats> {
        ensure!(
            reset.len() == self.ws.batch,
            "reset mask has the wrong length"
        );
        self.ws.upload_tokens(tokens)?;
        self.ws.reset_streams(reset);
        self.opt
            .write_slot(&self.gpu, self.adam_slot, &self.adam_params(self.step + 1));
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.ws.forward.encode(&mut enc, None);
        self.ws
            .backward
            .as_ref()
            .expect("training workspace")
            .encode(&mut enc, None);
        self.opt.encode(&mut enc, None);
        enc.copy_buffer_to_buffer(&self.ws.stats, 0, &self.staging, 0, 16);
        self.gpu.queue.submit([enc.finish()]);
        self.step += 1;
        let s: Vec<f32> = self.gpu.map_read(&self.staging, 16)?;
        let stats = StepStats {
            loss: s[0],
            grad_norm: s[1],
        };
        if !stats.loss.is_finite() || !stats.grad_norm.is_finite() {
            bail!(
                "training diverged at step {}: loss {} and gradient norm {} are not finite \
                 (try a lower --lr or a smaller --clip)",
                self.step,
                stats.loss,
                stats.grad_norm
            );
        }
        Ok(stats)
    }

    /// Forward and backward only (no update): the loss, with gradients left in `grads`.
    pub fn compute_gradients(&mut self, tokens: &[u32]) -> Result<f32> {
        self.ws.upload_tokens(tokens)?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.ws.forward.encode(&mut enc, None);
        self.ws
            .backward
            .as_ref()
            .expect("training workspace")
            .encode(&mut enc, None);
        self.gpu.queue.submit([enc.finish()]);
        Ok(self.gpu.read::<f32>(&self.ws.stats, 0, 1)?[0])
    }

    pub fn read_params(&self) -> Result<Vec<f32>> {
        self.gpu.read(&self.params, 0, self.layout.total)
    }

    pub fn read_grads(&self) -> Result<Vec<f32>> {
        self.gpu.read(&self.grads, 0, self.layout.total)
    }

    /// Adam's first and second moments.
    pub fn read_moments(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((
            self.gpu.read(&self.adam_m, 0, self.layout.total)?,
            self.gpu.read(&self.adam_v, 0, self.layout.total)?,
        ))
    }

    /// Restore Adam's moments and step count (resuming a run).
    pub fn write_moments(&mut self, m: &[f32], v: &[f32], step: u64) -> Result<()> {
        ensure!(
            m.len() == self.layout.total && v.len() == self.layout.total,
            "Adam moments have the wrong length"
        );
        self.gpu
            .queue
            .write_buffer(&self.adam_m, 0, bytemuck::cast_slice(m));
        self.gpu
            .queue
            .write_buffer(&self.adam_v, 0, bytemuck::cast_slice(v));
        self.step = step;
        Ok(())
    }

    pub fn write_params(&self, p: &[f32]) -> Result<()> {
        ensure!(
            p.len() == self.layout.total,
            "parameter vector has the wrong length"
        );
        self.gpu
            .queue
            .write_buffer(&self.params, 0, bytemuck::cast_slice(p));
        Ok(())
    }

    /// Dispatches in one optimiser step.
    pub fn dispatches_per_step(&self) -> usize {
        self.ws.forward.dispatches()
            + self.ws.backward.as_ref().map_or(0, |b| b.dispatches())
            + self.opt.dispatches()
    }
}
