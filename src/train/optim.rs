//! Global-norm gradient clipping and Adam on the GPU, as a recorded program over one flat
//! parameter buffer: `clip_grad_norm_` then `torch.optim.Adam.step()`.

use super::schedule::LrSchedule;
use super::TrainOptions;
use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::{Buf, Kernels};
use anyhow::{ensure, Result};

/// Partial sums in the norm reduction (one workgroup each).
const NORM_PARTS: usize = 256;

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
        let m = gpu.storage("adam m", (n * 4) as u64);
        let v = gpu.storage("adam v", (n * 4) as u64);
        let stats = gpu.storage("optimizer stats", ((2 + NORM_PARTS) * 4) as u64);
        let mut pb = ProgramBuilder::new();
        let reg = |pb: &mut ProgramBuilder, b: &wgpu::Buffer| Buf {
            id: pb.buffer(b),
            len: (b.size() / 4) as usize,
        };
        let [g, st, pr, mb, vb] = [grads, &stats, params, &m, &v].map(|b| reg(&mut pb, b));
        assert!(
            n <= g.len && n <= pr.len,
            "optimizer range exceeds its buffers"
        );
        let clip = if opts.clip.is_finite() {
            opts.clip as f32
        } else {
            f32::MAX
        };
        let parts = NORM_PARTS as u32;
        pb.dispatch(
            &k.sumsq_partial,
            &[g.id, st.id],
            &[n as u32, 0, 0, 2, 0, parts],
            [parts, 1, 1],
        );
        pb.dispatch(
            &k.clip_coef,
            &[g.id, st.id],
            &[0, 0, 0, 2, clip.to_bits(), parts],
            [1, 1, 1],
        );
        let adam_slot = pb.slot(&[]);
        pb.dispatch_at(
            &k.adam,
            &[g.id, st.id, pr.id, mb.id, vb.id],
            adam_slot,
            [adam_groups(n), 1, 1],
        );
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
        let t = (self.step + 1) as f64;
        // Bias corrections in f64, as torch computes them on the host.
        let bc1 = 1.0 - o.beta1.powf(t);
        let bc2 = 1.0 - o.beta2.powf(t);
        // The step's lr goes to the GPU with the other Adam constants, so a schedule costs
        // nothing and depends only on the step (exact on resume).
        let lr = o.lr * self.schedule.factor(self.step + 1);
        let params = [
            self.n as u32,
            ((lr / bc1) as f32).to_bits(),
            (bc2.sqrt() as f32).to_bits(),
            (o.beta1 as f32).to_bits(),
            (o.beta2 as f32).to_bits(),
            (o.eps as f32).to_bits(),
            adam_groups(self.n),
            ((1.0 - o.beta1) as f32).to_bits(),
            ((1.0 - o.beta2) as f32).to_bits(),
        ];
        self.program.write_slot(gpu, self.adam_slot, &params);
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

fn adam_groups(n: usize) -> u32 {
    n.div_ceil(256).clamp(1, 4096) as u32
}
