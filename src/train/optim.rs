//! Global-norm gradient clipping and Adam on the GPU, as a recorded program over one flat
//! parameter buffer: `clip_grad_norm_` then `torch.optim.Adam.step()`.

use super::schedule::LrSchedule;
use super::TrainOptions;
use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::ops::adam::AdamParams;
use crate::kernels::ops::reduce::NORM_PARTS;
use crate::kernels::ops::WgslParams;
use crate::kernels::{Buf, Kernels};
use anyhow::{ensure, Result};

pub struct Optimizer {
    n: usize,
    pub m: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// [0] gradient norm before clipping, [1] clip coefficient, then the partial sums.
    pub stats: wgpu::Buffer,
    program: Program,
    adam_slot: u32,
    /// Steps taken (Adam's t).
    pub step: u64,
    pub opts: TrainOptions,
    /// Scales `opts.lr` per step; constant unless set.
    pub schedule: LrSchedule,
}

impl Optimizer {
    /// An optimiser for the first `n` floats of `params`, reading `grads`.
    pub fn new(
        gpu: &Gpu,
        k: &Kernels,
        params: &wgpu::Buffer,
        grads: &wgpu::Buffer,
        n: usize,
        opts: TrainOptions,
    ) -> Result<Optimizer> {
        ensure!(
            opts.lr > 0.0 && opts.lr.is_finite(),
            "learning rate must be positive, got {}",
            opts.lr
        );
        ensure!(
            opts.clip > 0.0,
            "clip must be positive (infinity for none), got {}",
            opts.clip
        );
        ensure!(
            opts.clip_value.is_none_or(|v| v > 0.0),
            "--clip-value must be positive, got {:?}",
            opts.clip_value
        );
        let m = gpu.storage("adam m", (n * 4) as u64);
        let v = gpu.storage("adam v", (n * 4) as u64);
        let stats = gpu.storage("optimizer stats", ((2 + NORM_PARTS) * 4) as u64);
        let mut pb = ProgramBuilder::new();
        let [g, st, pr, mb, vb] =
            [grads, &stats, params, &m, &v].map(|b| Buf::register(&mut pb, b));
        let clip = if opts.clip.is_finite() {
            opts.clip as f32
        } else {
            f32::MAX
        };
        // clip_grad_norm_: the partial sums of squares after the two results, then the
        // norm and the coefficient; Adam scales the gradients by it.
        k.record_sumsq_partial(&mut pb, g, 0, n, NORM_PARTS, st, 2);
        k.record_clip_coef(&mut pb, g, st, 2, NORM_PARTS, clip);
        let adam_slot = k.record_adam(&mut pb, n, g, st, pr, mb, vb);
        Ok(Optimizer {
            n,
            m,
            v,
            stats,
            program: pb.build(gpu),
            adam_slot,
            step: 0,
            opts,
            schedule: LrSchedule::default(),
        })
    }

    /// Record one step into `enc` (clip, then Adam with t = step + 1) and count it.
    pub fn encode_step(&mut self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder) {
        self.encode_step_profiled(gpu, enc, None);
    }

    pub fn encode_step_profiled(
        &mut self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
        prof: Option<&mut crate::gpu::Profiler>,
    ) {
        let o = &self.opts;
        // The step's lr goes to the GPU with the other Adam constants, so a schedule costs
        // nothing and depends only on the step (exact on resume).
        let lr = o.lr * self.schedule.factor(self.step + 1);
        let p = AdamParams::step(self.n, lr, o.beta1, o.beta2, o.eps, self.step + 1)
            .with_clip_value(o.clip_value);
        self.program.write_slot(gpu, self.adam_slot, p.words());
        self.program.encode(enc, prof);
        self.step += 1;
    }

    pub fn dispatches(&self) -> usize {
        self.program.dispatches()
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn read_moments(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((gpu.read(&self.m, 0, self.n)?, gpu.read(&self.v, 0, self.n)?))
    }

    /// Restore the moments and step count (resuming a run).
    pub fn write_moments(&mut self, gpu: &Gpu, m: &[f32], v: &[f32], step: u64) -> Result<()> {
        ensure!(
            m.len() == self.n && v.len() == self.n,
            "Adam moments have the wrong length"
        );
        gpu.queue.write_buffer(&self.m, 0, bytemuck::cast_slice(m));
        gpu.queue.write_buffer(&self.v, 0, bytemuck::cast_slice(v));
        self.step = step;
        Ok(())
    }
}
