//! `gru_step.wgsl`: one GRU time step of the training forward (`gru_step`, or
//! `gru_step_sliced` for small batches), and one sampling step of many streams tiled the
//! same way (`gru_cell`).

use super::{groups, us, wgsl_params, word, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::{Kernels, StepKernel};

wgsl_params! {
    /// `StepParams`: h_t = GRU(gi_t, h_{t-1}) for `batch` rows of `hidden` units, with
    /// W_hh `[3H, H]` and b_hh in `w`.
    pub struct StepParams in "gru_step.wgsl" {
        pub batch: u32,
        pub hidden: u32,
        /// gi row of (t, b=0); rows are 3H wide.
        pub gi_off: u32,
        /// h_{t-1} row of b=0 in hseq; rows are H wide.
        pub hprev_off: u32,
        /// h_t row of b=0 in hseq.
        pub hout_off: u32,
        /// gates row of (t, b=0); rows are 4H wide: r, z, n, gh_n.
        pub gate_off: u32,
        pub whh_off: u32,
        pub bhh_off: u32,
        /// 1: write the gates (training); 0: inference only.
        pub save: u32,
    }
}

wgsl_params! {
    /// `GruCellParams`: one layer, one step of `streams` sampling streams. Layer 0
    /// (`inp` = 0) takes its input projection from a `[V, 3H]` table row per token.
    pub struct GruCellParams in "gru_step.wgsl" {
        pub streams: u32,
        pub hidden: u32,
        /// Input width; 0: layer 0, from the table.
        pub inp: u32,
        /// Input rows `[S, inp]` in h (the layer below, this step).
        pub x_off: u32,
        /// `[S, H]` in h_in.
        pub hprev_off: u32,
        /// `[S, H]` in h.
        pub hout_off: u32,
        /// W_ih `[3H, inp]` in w.
        pub wih_off: u32,
        /// W_hh `[3H, H]` in w.
        pub whh_off: u32,
        pub bih_off: u32,
        pub bhh_off: u32,
        /// Layer 0: `[V, 3H]` in table.
        pub table_off: u32,
        /// Layer 0: this step's token row in hist.
        pub tok_off: u32,
        pub vocab: u32,
    }
}

impl StepParams {
    /// Step t of a window of `batch` rows, saving the gates: gi and gates time-major
    /// (`[T*B, 3H]`, `[T*B, 4H]`), h_t in slot t+1 of hseq (`[(T+1)*B, H]`, h0 in slot 0).
    pub fn window(batch: usize, hidden: usize, t: usize, whh_off: usize, bhh_off: usize) -> Self {
        let (b, h, bh) = (batch, hidden, batch * hidden);
        StepParams {
            batch: word(b),
            hidden: word(h),
            gi_off: word(t * b * 3 * h),
            hprev_off: word(t * bh),
            hout_off: word((t + 1) * bh),
            gate_off: word(t * b * 4 * h),
            whh_off: word(whh_off),
            bhh_off: word(bhh_off),
            save: 1,
        }
    }

    fn check(&self, gi: Buf, w: Buf, hseq: Buf, gates: Buf) {
        let (b, h) = (us(self.batch), us(self.hidden));
        gi.check("gru_step gi", us(self.gi_off), b * 3 * h);
        w.check("gru_step W_hh", us(self.whh_off), 3 * h * h);
        w.check("gru_step b_hh", us(self.bhh_off), 3 * h);
        hseq.check("gru_step h_{t-1}", us(self.hprev_off), b * h);
        hseq.check("gru_step h_t", us(self.hout_off), b * h);
        if self.save != 0 {
            gates.check("gru_step gates", us(self.gate_off), b * 4 * h);
        }
    }
}

impl Kernels {
    /// One forward step: reads gi and `hseq[hprev_off..]`, writes `hseq[hout_off..]` and
    /// (when `save`) the gates. The kernel is the options' choice for this shape.
    pub fn record_gru_step(
        &self,
        pb: &mut ProgramBuilder,
        p: &StepParams,
        gi: Buf,
        w: Buf,
        hseq: Buf,
        gates: Buf,
    ) {
        let v = self.step_forward_kernel(us(p.batch), us(p.hidden));
        self.record_gru_step_with(pb, v, p, gi, w, hseq, gates);
    }

    /// `record_gru_step` with a given kernel.
    pub fn record_gru_step_with(
        &self,
        pb: &mut ProgramBuilder,
        v: StepKernel,
        p: &StepParams,
        gi: Buf,
        w: Buf,
        hseq: Buf,
        gates: Buf,
    ) {
        p.check(gi, w, hseq, gates);
        let (b, h) = (us(p.batch), us(p.hidden));
        let (kernel, grid) = match v {
            StepKernel::Tiled => (&self.gru_step, [groups(h, 32), groups(b, 8), 1]),
            StepKernel::Sliced => (&self.gru_step_sliced, [groups(h, 4), groups(b, 1), 1]),
        };
        pb.dispatch(kernel, &[gi.id, w.id, hseq.id, gates.id], p.words(), grid);
        pb.flops((2 * b * 3 * h * h) as f64);
    }

    /// One sampling step of one layer for every stream, tiled as `gru_step`: reads
    /// `h_in[hprev_off..]` and the input (the layer below in `h`, or the table row of the
    /// token in `hist`), writes `h[hout_off..]`.
    pub fn record_gru_cell(
        &self,
        pb: &mut ProgramBuilder,
        p: &GruCellParams,
        hist: Buf,
        w: Buf,
        h_in: Buf,
        h: Buf,
        table: Buf,
    ) {
        let (s, hd, inp) = (us(p.streams), us(p.hidden), us(p.inp));
        assert!(p.vocab > 0, "gru_cell: empty vocabulary");
        if inp == 0 {
            hist.check("gru_cell tokens", us(p.tok_off), s);
            table.check("gru_cell table", us(p.table_off), us(p.vocab) * 3 * hd);
        } else {
            w.check("gru_cell W_ih", us(p.wih_off), 3 * hd * inp);
            w.check("gru_cell b_ih", us(p.bih_off), 3 * hd);
            h.check("gru_cell input", us(p.x_off), s * inp);
        }
        w.check("gru_cell W_hh", us(p.whh_off), 3 * hd * hd);
        w.check("gru_cell b_hh", us(p.bhh_off), 3 * hd);
        h_in.check("gru_cell h_{t-1}", us(p.hprev_off), s * hd);
        h.check("gru_cell h_t", us(p.hout_off), s * hd);
        pb.dispatch(
            &self.gru_cell,
            &[hist.id, w.id, h_in.id, h.id, table.id],
            p.words(),
            [groups(hd, 32), groups(s, 8), 1],
        );
        pb.flops((2 * s * 3 * hd * (inp + hd)) as f64);
    }
}
