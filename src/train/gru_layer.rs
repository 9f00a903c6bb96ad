//! One GRU layer over a window, recorded: its buffers, the forward (input projection GEMM
//! then the recurrence step by step) and the backward (BPTT, then the weight gradients and
//! the input's gradient). The GRU language model stacks these over the embeddings; each
//! SampleRNN tier stacks them over its expanded frames.

use crate::gpu::{Gpu, ProgramBuilder};
use crate::kernels::ops::step::StepParams;
use crate::kernels::ops::step_backward::{StepBackwardBufs, StepBackwardParams};
use crate::kernels::{Buf, Epilogue, Kernels, Mat};

/// One GRU layer's buffers: `wgpu::Buffer`s as allocated, `Buf`s once bound to a program.
pub struct LayerBufs<B> {
    /// gi during the forward, reused as dgi during the backward: [T*B, 3H].
    pub gi: B,
    /// h0 in slot 0, h_t in slot t+1: [(T+1)*B, H].
    pub hseq: B,
    /// r, z, n, gh_n per position: [T*B, 4H].
    pub gates: B,
    /// [T*B, 3H].
    pub dgh: B,
    /// dh of every step (slot t+1) and of h0 (slot 0): [(T+1)*B, H].
    pub dhs: B,
    /// Gradient arriving from above (head or next layer's input): [T*B, H].
    pub dh_out: B,
}

impl LayerBufs<wgpu::Buffer> {
    /// Buffers for `steps` x `batch` rows of `hidden` units; those only the backward uses
    /// hold one float unless `train`.
    pub fn allocate(gpu: &Gpu, batch: usize, steps: usize, hidden: usize, train: bool) -> Self {
        let grad = |n: usize| if train { n } else { 1 };
        let (rows, hseq) = (batch * steps, (steps + 1) * batch * hidden);
        let storage = |label, n: usize| gpu.storage(label, (n * 4) as u64);
        LayerBufs {
            gi: storage("gi", rows * 3 * hidden),
            hseq: storage("hseq", hseq),
            gates: storage("gates", rows * 4 * hidden),
            dgh: storage("dgh", grad(rows * 3 * hidden)),
            dhs: storage("dhs", grad(hseq)),
            dh_out: storage("dh_out", grad(rows * hidden)),
        }
    }

    pub fn bind(&self, pb: &mut ProgramBuilder) -> LayerBufs<Buf> {
        let mut reg = |b: &wgpu::Buffer| Buf::register(pb, b);
        LayerBufs {
            gi: reg(&self.gi),
            hseq: reg(&self.hseq),
            gates: reg(&self.gates),
            dgh: reg(&self.dgh),
            dhs: reg(&self.dhs),
            dh_out: reg(&self.dh_out),
        }
    }
}

/// Where one layer's weights are in the parameter (and gradient) buffer.
#[derive(Clone, Copy, Debug)]
pub struct GruWeights {
    pub w_ih: usize,
    pub w_hh: usize,
    pub b_ih: usize,
    pub b_hh: usize,
}

/// One layer of `hidden` units over `steps` x `batch` time-major rows.
#[derive(Clone, Copy, Debug)]
pub struct GruLayer {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
    /// Input width.
    pub inp: usize,
    pub w: GruWeights,
}

impl GruLayer {
    fn bh(&self) -> usize {
        self.batch * self.hidden
    }

    /// The layer's outputs h_1..h_T as a `[T*B, H]` matrix (the next layer's input).
    pub fn output(&self, lb: &LayerBufs<Buf>) -> Mat {
        Mat::rows(lb.hseq, self.bh(), self.hidden)
    }

    /// h0 from `state[state_off..]`, gi = x·W_ihᵀ + b_ih for every row at once, the steps,
    /// then h_T back into the state (carried, detached, to the next window).
    #[rustfmt::skip]
    pub fn record_forward(&self, k: &Kernels, pb: &mut ProgramBuilder, lb: &LayerBufs<Buf>, x: Mat, params: Buf, state: Buf, state_off: usize) {
        let (h, bh, rows, w) = (self.hidden, self.bh(), self.batch * self.steps, self.w);
        let f = |n: usize| (n * 4) as u64;
        pb.copy(state.id, f(state_off), lb.hseq.id, 0, f(bh));
        k.record_gemm(pb, rows, 3 * h, self.inp, x, Mat::transposed(params, w.w_ih, self.inp), lb.gi, 0, 3 * h, Epilogue::Bias(params, w.b_ih));
        for t in 0..self.steps {
            k.record_gru_step(pb, &StepParams::window(self.batch, h, t, w.w_hh, w.b_hh), lb.gi, params, lb.hseq, lb.gates);
        }
        pb.copy(lb.hseq.id, f(self.steps * bh), state.id, f(state_off), f(bh));
    }

    /// BPTT from dh_out (steps T-1 down to 0, then dh0 into slot 0 of dhs), the weight
    /// gradients into `grads`, and dx = dgi·W_ih into `dx` (`[T*B, inp]`).
    #[rustfmt::skip]
    #[allow(clippy::too_many_arguments)]
    pub fn record_backward(&self, k: &Kernels, pb: &mut ProgramBuilder, lb: &LayerBufs<Buf>, x: Mat, params: Buf, grads: Buf, scratch: Buf, dx: Buf) {
        use Epilogue::None as Set;
        let (h, rows, w, inp) = (self.hidden, self.batch * self.steps, self.w, self.inp);
        let bufs = StepBackwardBufs { w: params, gates: lb.gates, hseq: lb.hseq, dh_out: lb.dh_out, dgi: lb.gi, dgh: lb.dgh, dhs: lb.dhs };
        for s in 0..=self.steps {
            k.record_gru_step_backward(pb, &StepBackwardParams::window(self.batch, h, w.w_hh, self.steps, s), &bufs);
        }
        // dW_hh = dghᵀ·H_{t-1}, dW_ih = dgiᵀ·X, db_ih = Σ dgi, db_hh = Σ dgh, dX = dgi·W_ih.
        k.record_gemm(pb, 3 * h, h, rows, Mat::transposed(lb.dgh, 0, 3 * h), Mat::rows(lb.hseq, 0, h), grads, w.w_hh, h, Set);
        k.record_gemm(pb, 3 * h, inp, rows, Mat::transposed(lb.gi, 0, 3 * h), x, grads, w.w_ih, inp, Set);
        k.record_colsum(pb, lb.gi, 0, rows, 3 * h, grads, w.b_ih, scratch);
        k.record_colsum(pb, lb.dgh, 0, rows, 3 * h, grads, w.b_hh, scratch);
        k.record_gemm(pb, rows, inp, 3 * h, Mat::rows(lb.gi, 0, 3 * h), Mat::rows(params, w.w_ih, inp), dx, 0, inp, Set);
    }
}
