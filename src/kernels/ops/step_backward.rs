//! `gru_step_backward.wgsl`: one step of backpropagation through time (`gru_step_backward`,
//! or `gru_step_backward_sliced` for small batches).

use super::{groups, us, wgsl_params, word, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::{Kernels, StepKernel};

wgsl_params! {
    /// `StepBackwardParams`: dh_t = dh_out_t + z_{t+1}·dh_{t+1} + dgh_{t+1}·W_hh, then the
    /// gate gradients dgi_t, dgh_t; with `final_`, only the gradient of h0 into dhs.
    pub struct StepBackwardParams in "gru_step_backward.wgsl" {
        pub batch: u32,
        pub hidden: u32,
        pub whh_off: u32,
        /// 1 when step t+1 exists in this window.
        pub has_next: u32,
        /// 1: write only the h0 gradient into dhs at cur_dh_off.
        pub final_: u32,
        /// dgh row of (t+1, b=0), 3H wide.
        pub next_gh_off: u32,
        /// gates row of (t+1, b=0), 4H wide.
        pub next_gate_off: u32,
        /// dhs row of (t+1, b=0).
        pub next_dh_off: u32,
        /// dgi/dgh row of (t, b=0).
        pub cur_gi_off: u32,
        /// gates row of (t, b=0).
        pub cur_gate_off: u32,
        /// dhs row of (t, b=0) (or of h0 when final).
        pub cur_dh_off: u32,
        /// hseq row of h_{t-1}, b=0.
        pub hprev_off: u32,
        /// dh_out row of (t, b=0).
        pub dout_off: u32,
    }
}

/// The buffers of one layer's backward step.
#[derive(Clone, Copy, Debug)]
pub struct StepBackwardBufs {
    /// The parameters (W_hh).
    pub w: Buf,
    pub gates: Buf,
    pub hseq: Buf,
    pub dh_out: Buf,
    pub dgi: Buf,
    pub dgh: Buf,
    pub dhs: Buf,
}

impl StepBackwardParams {
    /// Backward dispatch s of a window of `steps` steps (the layout of
    /// `StepParams::window`; dhs like hseq): step steps-1-s for s < steps, and for
    /// s == steps the gradient of h0 into slot 0 of dhs.
    pub fn window(batch: usize, hidden: usize, whh_off: usize, steps: usize, s: usize) -> Self {
        let (b, h, bh) = (batch, hidden, batch * hidden);
        let last = s == steps;
        let cur = if last { 0 } else { steps - 1 - s };
        let next = if last { 0 } else { cur + 1 };
        StepBackwardParams {
            batch: word(b),
            hidden: word(h),
            whh_off: word(whh_off),
            has_next: (last || cur + 1 < steps) as u32,
            final_: last as u32,
            next_gh_off: word(next * b * 3 * h),
            next_gate_off: word(next * b * 4 * h),
            next_dh_off: word((next + 1) * bh),
            cur_gi_off: word(cur * b * 3 * h),
            cur_gate_off: word(cur * b * 4 * h),
            cur_dh_off: word(if last { 0 } else { (cur + 1) * bh }),
            hprev_off: word(cur * bh),
            dout_off: word(cur * bh),
        }
    }

    fn check(&self, b: &StepBackwardBufs) {
        let (n, h) = (us(self.batch), us(self.hidden));
        let (bh, b3h, b4h) = (n * h, n * 3 * h, n * 4 * h);
        b.dhs
            .check("gru_step_backward dh_t", us(self.cur_dh_off), bh);
        if self.has_next != 0 {
            b.w.check("gru_step_backward W_hh", us(self.whh_off), 3 * h * h);
            b.dgh
                .check("gru_step_backward dgh_{t+1}", us(self.next_gh_off), b3h);
            let z_next = us(self.next_gate_off);
            b.gates.check("gru_step_backward z_{t+1}", z_next, b4h);
            b.dhs
                .check("gru_step_backward dh_{t+1}", us(self.next_dh_off), bh);
        }
        if self.final_ == 0 {
            b.dh_out
                .check("gru_step_backward dh_out", us(self.dout_off), bh);
            b.gates
                .check("gru_step_backward gates", us(self.cur_gate_off), b4h);
            b.hseq
                .check("gru_step_backward h_{t-1}", us(self.hprev_off), bh);
            b.dgi
                .check("gru_step_backward dgi", us(self.cur_gi_off), b3h);
            b.dgh
                .check("gru_step_backward dgh", us(self.cur_gi_off), b3h);
        }
    }
}

impl Kernels {
    /// One backward step (see `StepBackwardParams`). The kernel is the options' choice for
    /// this shape.
    pub fn record_gru_step_backward(
        &self,
        pb: &mut ProgramBuilder,
        p: &StepBackwardParams,
        bufs: &StepBackwardBufs,
    ) {
        let v = self.step_backward_kernel(us(p.batch), us(p.hidden));
        self.record_gru_step_backward_with(pb, v, p, bufs);
    }

    /// `record_gru_step_backward` with a given kernel.
    pub fn record_gru_step_backward_with(
        &self,
        pb: &mut ProgramBuilder,
        v: StepKernel,
        p: &StepBackwardParams,
        b: &StepBackwardBufs,
    ) {
        p.check(b);
        let (n, h) = (us(p.batch), us(p.hidden));
        let (kernel, grid) = match v {
            StepKernel::Tiled => (&self.gru_step_backward, [groups(h, 32), groups(n, 4), 1]),
            StepKernel::Sliced => (
                &self.gru_step_backward_sliced,
                [groups(h, 8), groups(n, 1), 1],
            ),
        };
        let ids = [b.w, b.gates, b.hseq, b.dh_out, b.dgi, b.dgh, b.dhs].map(|x| x.id);
        pb.dispatch(kernel, &ids, p.words(), grid);
        // The recurrent carry dgh_{t+1}·W_hh, when there is a next step.
        pb.flops((us(p.has_next) * 2 * n * 3 * h * h) as f64);
    }
}
