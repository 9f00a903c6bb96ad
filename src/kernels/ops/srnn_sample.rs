//! `samplernn_sample.wgsl`: SampleRNN generation. `srnn_frame_input` expands a frame tier's
//! input; `srnn_mlp_draw` runs the sample-level MLP and the draw of one sample for every
//! stream, one workgroup per stream.

use super::{groups, us, wgsl_params, word, Buf, Mat, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

/// A history row that no token fills yet: the MLP draws into it (any other value is a
/// teacher-forced token).
pub const NO_TOKEN: u32 = u32::MAX;

wgsl_params! {
    /// `SrnnControls`, in a storage buffer written before each period.
    pub struct SrnnControls in "samplernn_sample.wgsl" {
        pub seed_lo: u32,
        pub seed_hi: u32,
        /// Samples since reset before this period.
        pub pos: u32,
        /// Prefix length: the draw step of sample `pos` is `pos - primed`.
        pub primed: u32,
        /// 0: argmax.
        pub temperature: f32,
        /// Draws whose uniform comes from `given` `[given_len, S]`.
        pub given_len: u32,
        /// Positions whose logits and c0 go to `trace` `[trace_len, S, q + D]`.
        pub trace_len: u32,
    }
}

wgsl_params! {
    /// `FrameParams`: x[s, d] = Σ_i W_exp[d, i]·deq(hist[row0 + i, s]) + b_exp[d]
    /// (+ up[cond_off + s*cond_rs + d*cond_cs] when `cond`).
    pub struct FrameParams in "samplernn_sample.wgsl" {
        pub streams: u32,
        pub dim: u32,
        /// Samples per frame n_k.
        pub n: u32,
        pub levels: u32,
        /// The frame's first history row (rows are `streams` wide).
        pub row0: u32,
        /// W_exp `[D, n]` in w.
        pub wexp_off: u32,
        pub bexp_off: u32,
        /// 1: add the upper tier's slot.
        pub cond: u32,
        pub cond_off: u32,
        pub cond_rs: u32,
        pub cond_cs: u32,
        /// x `[S, D]` in x_out.
        pub x_off: u32,
    }
}

wgsl_params! {
    /// `MlpParams`: the MLP and draw of sample `j` of a period (see the shader).
    pub struct MlpParams in "samplernn_sample.wgsl" {
        pub streams: u32,
        pub dim: u32,
        pub levels: u32,
        pub fs0: u32,
        /// Sample within the period.
        pub j: u32,
        /// The window's first history row (rows are `streams` wide).
        pub tok_row: u32,
        /// The row this sample is drawn into.
        pub out_row: u32,
        /// Folded tables `[FS0, q, D]` in sw.
        pub table_off: u32,
        /// W_hidᵀ `[D, D]` in sw.
        pub whid_off: u32,
        pub bhid_off: u32,
        /// W_outᵀ `[D, q]` in sw.
        pub wout_off: u32,
        pub bout_off: u32,
        /// c0 element d of stream s at `cond_off + s*cond_rs + d*cond_cs` in up.
        pub cond_off: u32,
        pub cond_rs: u32,
        pub cond_cs: u32,
    }
}

/// Words of `SrnnControls`.
pub const SRNN_CONTROL_WORDS: usize = std::mem::size_of::<SrnnControls>() / 4;

impl SrnnControls {
    /// The controls' own ranges: `given` and `trace` (in elements) must hold what
    /// `given_len` and `trace_len` promise for `streams` streams of `levels` logits and
    /// `dim` conditioning values. The sampler asserts this before writing them.
    pub fn check(&self, streams: usize, levels: usize, dim: usize, given: usize, trace: usize) {
        let (g, t) = (us(self.given_len), us(self.trace_len));
        assert!(
            g * streams <= given,
            "controls: {g} given uniforms do not fit"
        );
        assert!(
            t * streams * (levels + dim) <= trace,
            "controls: {t} traced positions do not fit"
        );
    }
}

/// The buffers `srnn_mlp_draw` binds, in binding order.
#[derive(Clone, Copy, Debug)]
pub struct MlpBufs {
    /// The sampler's weights: folded tables, W_hidᵀ, b_hid, W_outᵀ, b_out.
    pub sw: Buf,
    /// Token history `[rows, S]`.
    pub hist: Buf,
    /// Tier 0's upsampled output.
    pub up: Buf,
    /// Activations `[S, 2D + q]`.
    pub act: Buf,
    /// `SrnnControls`, whose ranges `SrnnControls::check` covers.
    pub ctl: Buf,
    pub given: Buf,
    pub trace: Buf,
}

impl Kernels {
    /// A frame tier's expanded input for every stream.
    pub fn record_srnn_frame_input(
        &self,
        pb: &mut ProgramBuilder,
        p: &FrameParams,
        w: Buf,
        hist: Buf,
        up: Buf,
        x: Buf,
    ) {
        let (s, d, n) = (us(p.streams), us(p.dim), us(p.n));
        assert!(p.levels >= 2, "srnn_frame_input: fewer than 2 levels");
        w.check("srnn_frame_input W_exp", us(p.wexp_off), d * n);
        w.check("srnn_frame_input b_exp", us(p.bexp_off), d);
        hist.check("srnn_frame_input frame", us(p.row0) * s, n * s);
        if p.cond != 0 {
            let c = Mat {
                buf: up,
                off: us(p.cond_off),
                rs: us(p.cond_rs),
                cs: us(p.cond_cs),
            };
            c.check("srnn_frame_input upper slot", s, d);
        }
        x.check("srnn_frame_input x", us(p.x_off), s * d);
        let grid = [groups(d, 64), word(s), 1];
        pb.dispatch(
            &self.srnn_frame_input,
            &[w.id, hist.id, up.id, x.id],
            p.words(),
            grid,
        );
        pb.flops((2 * s * d * n) as f64);
    }

    /// The MLP and the draw of one sample, one workgroup per stream.
    pub fn record_srnn_mlp_draw(&self, pb: &mut ProgramBuilder, p: &MlpParams, b: &MlpBufs) {
        let (s, d, q, fs0) = (us(p.streams), us(p.dim), us(p.levels), us(p.fs0));
        assert!(q >= 2 && fs0 >= 1, "srnn_mlp_draw: {q} levels, FS0 {fs0}");
        assert!(s <= 65535, "srnn_mlp_draw: one workgroup per stream");
        b.sw.check("srnn_mlp_draw tables", us(p.table_off), fs0 * q * d);
        b.sw.check("srnn_mlp_draw W_hidᵀ", us(p.whid_off), d * d);
        b.sw.check("srnn_mlp_draw b_hid", us(p.bhid_off), d);
        b.sw.check("srnn_mlp_draw W_outᵀ", us(p.wout_off), d * q);
        b.sw.check("srnn_mlp_draw b_out", us(p.bout_off), q);
        b.hist
            .check("srnn_mlp_draw window", us(p.tok_row) * s, fs0 * s);
        b.hist.check("srnn_mlp_draw output", us(p.out_row) * s, s);
        let c = Mat {
            buf: b.up,
            off: us(p.cond_off),
            rs: us(p.cond_rs),
            cs: us(p.cond_cs),
        };
        c.check("srnn_mlp_draw c0", s, d);
        b.act.check("srnn_mlp_draw activations", 0, s * (2 * d + q));
        b.ctl.check("srnn_mlp_draw controls", 0, SRNN_CONTROL_WORDS);
        let ids = [b.sw, b.hist, b.up, b.act, b.ctl, b.given, b.trace].map(|x| x.id);
        pb.dispatch(&self.srnn_mlp_draw, &ids, p.words(), [word(s), 1, 1]);
        pb.flops((2 * s * d * (d + q) + s * fs0 * d) as f64);
    }
}
