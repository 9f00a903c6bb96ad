//! `samplernn.wgsl`: the SampleRNN training glue around the shared GEMM and GRU-step ops:
//! frames, conditioning in and out of the tiers, the MLP's folded first layer, ReLU,
//! the input-weight interleave, and the learned h0.

use super::{flat_grid, us, wgsl_params, word, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

wgsl_params! {
    /// `FramesParams`: frame rows `[S*B, n]` of dequantised samples from a `[B, L+T]`
    /// window (row m*B + b reads `tokens[b*tok_stride + tok_off + m*n ..][..n]`).
    pub struct FramesParams in "samplernn.wgsl" {
        pub rows: u32,
        pub batch: u32,
        pub n: u32,
        pub tok_stride: u32,
        pub tok_off: u32,
        /// q/2.
        pub half: f32,
    }
}

wgsl_params! {
    /// `CondParams`: the upper tier's output `[S*B, D*fs]` against the lower tier's rows
    /// `[S*fs*B, D]`.
    pub struct CondParams in "samplernn.wgsl" {
        /// Rows of the lower tier.
        pub rows: u32,
        pub batch: u32,
        pub dim: u32,
        /// The upper tier's frame size.
        pub fs: u32,
        pub x_off: u32,
        pub y_off: u32,
    }
}

wgsl_params! {
    /// `MlpInputParams`: the MLP's first layer over `rows` = T*B targets from FS_0 tap
    /// tables `[FS_0][q][D]` and tier 0's output `[T/FS_0*B, D*FS_0]`.
    pub struct MlpInputParams in "samplernn.wgsl" {
        pub rows: u32,
        pub batch: u32,
        pub dim: u32,
        pub fs0: u32,
        pub levels: u32,
        pub tok_stride: u32,
        /// L - FS_0: tap 0 of target 0 in a window row.
        pub tok_off: u32,
    }
}

wgsl_params! {
    /// `EltParams`: `n` elements from `off`.
    pub struct EltParams in "samplernn.wgsl" {
        pub n: u32,
        pub off: u32,
    }
}

wgsl_params! {
    /// `TapParams`: per-tap `[FS_0][D][q]` into input.weight's `[D, q, FS_0]` at dst_off.
    pub struct TapParams in "samplernn.wgsl" {
        pub taps: u32,
        pub dim: u32,
        pub levels: u32,
        pub dst_off: u32,
    }
}

wgsl_params! {
    /// `H0Params`: h0 `[layers, D]` at h0_off against a state `[layers, B, D]` (reset) or
    /// one layer's dh0 `[B, D]` (grad, layers = 1) at state_off.
    pub struct H0Params in "samplernn.wgsl" {
        pub batch: u32,
        pub dim: u32,
        pub layers: u32,
        pub h0_off: u32,
        pub state_off: u32,
    }
}

impl CondParams {
    fn check(&self, x: Buf, y: Buf) {
        let (rows, d, fs) = (us(self.rows), us(self.dim), us(self.fs));
        assert!(self.batch > 0 && fs > 0, "cond: empty batch or frame");
        assert_eq!(
            rows % (us(self.batch) * fs),
            0,
            "cond: rows not whole upper steps"
        );
        x.check("cond x", us(self.x_off), rows * d);
        y.check("cond Y", us(self.y_off), rows * d);
    }
}

impl MlpInputParams {
    fn check(&self, tokens: Buf, tables: Buf, y: Buf) {
        let (rows, b, d, fs0) = (us(self.rows), us(self.batch), us(self.dim), us(self.fs0));
        assert!(
            b > 0 && fs0 > 0 && self.levels > 0,
            "mlp_input: empty shape"
        );
        assert_eq!(
            rows % (b * fs0),
            0,
            "mlp_input: rows not whole tier-0 steps"
        );
        let t = rows / b;
        assert!(
            us(self.tok_off) + t - 1 + fs0 <= us(self.tok_stride),
            "mlp_input: taps past the window"
        );
        tokens.check("mlp_input tokens", 0, b * us(self.tok_stride));
        tables.check("mlp_input tables", 0, fs0 * us(self.levels) * d);
        y.check("mlp_input Y0", 0, rows * d);
    }
}

impl Kernels {
    /// Frames of one tier (see `FramesParams`) into `out[..rows*n]`.
    pub fn record_srnn_frames(
        &self,
        pb: &mut ProgramBuilder,
        p: &FramesParams,
        tokens: Buf,
        out: Buf,
    ) {
        let (rows, b, n) = (us(p.rows), us(p.batch), us(p.n));
        assert!(b > 0 && rows % b == 0, "frames: rows not whole steps");
        let steps = rows / b;
        assert!(
            us(p.tok_off) + steps * n <= us(p.tok_stride),
            "frames: past the window"
        );
        tokens.check("frames tokens", 0, b * us(p.tok_stride));
        out.check("frames out", 0, rows * n);
        pb.dispatch(
            &self.srnn_frames,
            &[tokens.id, out.id],
            p.words(),
            flat_grid(rows * n),
        );
    }

    /// x += the upper tier's slot for each lower row.
    pub fn record_srnn_cond_add(&self, pb: &mut ProgramBuilder, p: &CondParams, y: Buf, x: Buf) {
        p.check(x, y);
        let n = us(p.rows) * us(p.dim);
        pb.dispatch(&self.srnn_cond_add, &[y.id, x.id], p.words(), flat_grid(n));
    }

    /// dY (the upper tier's output gradient) = dx rearranged; every element written.
    pub fn record_srnn_cond_grad(&self, pb: &mut ProgramBuilder, p: &CondParams, dx: Buf, dy: Buf) {
        p.check(dx, dy);
        let n = us(p.rows) * us(p.dim);
        pb.dispatch(
            &self.srnn_cond_grad,
            &[dx.id, dy.id],
            p.words(),
            flat_grid(n),
        );
    }

    /// a = relu(tier 0's slot + Σ tap tables), `[T*B, D]`.
    pub fn record_srnn_mlp_input(
        &self,
        pb: &mut ProgramBuilder,
        p: &MlpInputParams,
        tokens: Buf,
        tables: Buf,
        y0: Buf,
        a: Buf,
    ) {
        p.check(tokens, tables, y0);
        let n = us(p.rows) * us(p.dim);
        a.check("mlp_input a", 0, n);
        let ids = [tokens.id, tables.id, y0.id, a.id];
        pb.dispatch(&self.srnn_mlp_input, &ids, p.words(), flat_grid(n));
        pb.flops((n * us(p.fs0)) as f64);
    }

    /// da *= (a > 0) in place, and dY0 = da rearranged (every element written).
    pub fn record_srnn_mlp_input_backward(
        &self,
        pb: &mut ProgramBuilder,
        p: &MlpInputParams,
        a: Buf,
        da: Buf,
        dy0: Buf,
    ) {
        let n = us(p.rows) * us(p.dim);
        a.check("mlp_input_backward a", 0, n);
        da.check("mlp_input_backward da", 0, n);
        dy0.check("mlp_input_backward dY0", 0, n);
        let ids = [a.id, da.id, dy0.id];
        pb.dispatch(&self.srnn_mlp_input_backward, &ids, p.words(), flat_grid(n));
    }

    /// x = max(x, 0) over `n` elements from `off`.
    pub fn record_srnn_relu(&self, pb: &mut ProgramBuilder, p: &EltParams, x: Buf) {
        x.check("relu x", us(p.off), us(p.n));
        pb.dispatch(&self.srnn_relu, &[x.id], p.words(), flat_grid(us(p.n)));
    }

    /// dy = 0 where y <= 0.
    pub fn record_srnn_relu_backward(
        &self,
        pb: &mut ProgramBuilder,
        p: &EltParams,
        y: Buf,
        dy: Buf,
    ) {
        y.check("relu_backward y", us(p.off), us(p.n));
        dy.check("relu_backward dy", us(p.off), us(p.n));
        pb.dispatch(
            &self.srnn_relu_backward,
            &[y.id, dy.id],
            p.words(),
            flat_grid(us(p.n)),
        );
    }

    /// Per-tap `[FS_0][D][q]` gradients into input.weight's layout.
    pub fn record_srnn_tap_interleave(
        &self,
        pb: &mut ProgramBuilder,
        p: &TapParams,
        src: Buf,
        dst: Buf,
    ) {
        let n = us(p.taps) * us(p.dim) * us(p.levels);
        src.check("tap_interleave src", 0, n);
        dst.check("tap_interleave dst", us(p.dst_off), n);
        pb.dispatch(
            &self.srnn_tap_interleave,
            &[src.id, dst.id],
            p.words(),
            flat_grid(n),
        );
    }

    /// The reset streams' state = h0.
    pub fn record_srnn_h0_reset(
        &self,
        pb: &mut ProgramBuilder,
        p: &H0Params,
        reset: Buf,
        params: Buf,
        state: Buf,
    ) {
        let (b, d, l) = (us(p.batch), us(p.dim), us(p.layers));
        reset.check("h0_reset flags", 0, b);
        params.check("h0_reset h0", us(p.h0_off), l * d);
        state.check("h0_reset state", us(p.state_off), l * b * d);
        let ids = [reset.id, params.id, state.id];
        pb.dispatch(&self.srnn_h0_reset, &ids, p.words(), flat_grid(l * b * d));
    }

    /// The gradient of one layer's h0: the sum of the reset streams' dh0.
    pub fn record_srnn_h0_grad(
        &self,
        pb: &mut ProgramBuilder,
        p: &H0Params,
        reset: Buf,
        dh0: Buf,
        grads: Buf,
    ) {
        let (b, d) = (us(p.batch), us(p.dim));
        assert_eq!(p.layers, 1, "h0_grad: one layer per dispatch");
        reset.check("h0_grad flags", 0, b);
        dh0.check("h0_grad dh0", us(p.state_off), b * d);
        grads.check("h0_grad grads", us(p.h0_off), d);
        let ids = [reset.id, dh0.id, grads.id];
        pb.dispatch(&self.srnn_h0_grad, &ids, p.words(), flat_grid(d));
    }
}

/// `H0Params` of layer-count `layers` (helper for the callers).
pub fn h0_params(
    batch: usize,
    dim: usize,
    layers: usize,
    h0_off: usize,
    state_off: usize,
) -> H0Params {
    H0Params {
        batch: word(batch),
        dim: word(dim),
        layers: word(layers),
        h0_off: word(h0_off),
        state_off: word(state_off),
    }
}
