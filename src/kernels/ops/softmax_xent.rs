//! `softmax_xent.wgsl`: softmax, cross-entropy loss and its gradient, one row per workgroup.

use super::{us, wgsl_params, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

wgsl_params! {
    /// `XentParams`: row = t*batch + b of `[rows, vocab]` logits; its target is
    /// `tokens[b*tok_stride + tok_off + t + 1]`.
    pub struct XentParams in "softmax_xent.wgsl" {
        pub rows: u32,
        pub vocab: u32,
        pub batch: u32,
        /// T + 1.
        pub tok_stride: u32,
        /// Multiplies dlogits (1 / rows for a mean loss).
        pub scale: f32,
        /// First input column in the token rows.
        pub tok_off: u32,
    }
}

impl Kernels {
    /// dlogits = (softmax(logits) - onehot(target)) * scale and loss[row] = the row's
    /// cross-entropy, for every row.
    pub fn record_softmax_xent(
        &self,
        pb: &mut ProgramBuilder,
        p: &XentParams,
        logits: Buf,
        tokens: Buf,
        dlogits: Buf,
        loss: Buf,
    ) {
        let (rows, v, batch) = (us(p.rows), us(p.vocab), us(p.batch));
        if rows == 0 {
            return;
        }
        assert!(
            v > 0 && batch > 0,
            "softmax_xent: empty vocabulary or batch"
        );
        logits.check("softmax_xent logits", 0, rows * v);
        dlogits.check("softmax_xent dlogits", 0, rows * v);
        loss.check("softmax_xent loss", 0, rows);
        let last_target =
            (batch.min(rows) - 1) * us(p.tok_stride) + us(p.tok_off) + (rows - 1) / batch + 1;
        tokens.check("softmax_xent targets", last_target, 1);
        let grid = if rows <= 65535 {
            [rows as u32, 1, 1]
        } else {
            [65535, rows.div_ceil(65535) as u32, 1]
        };
        pb.dispatch(
            &self.softmax_xent,
            &[logits.id, tokens.id, dlogits.id, loss.id],
            p.words(),
            grid,
        );
    }
}
