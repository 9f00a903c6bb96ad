//! `reduce.wgsl`: a scaled sum, the gradient norm and clip coefficient, and column sums.

use super::{groups, wgsl_params, word, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

wgsl_params! {
    /// `ReduceParams`, shared by the reductions (each reads the fields it names).
    pub struct ReduceParams in "reduce.wgsl" {
        /// Elements (sum_scaled, sumsq_partial) or rows (colsum).
        pub n: u32,
        /// colsum: columns.
        pub cols: u32,
        pub in_off: u32,
        pub out_off: u32,
        /// sum_scaled: multiplier; clip_coef: max_norm.
        pub scale: f32,
        /// sumsq_partial / clip_coef: number of partial sums; colsum_partial: rows per chunk.
        pub parts: u32,
    }
}

/// Row chunks summed in parallel by `record_colsum`.
pub const COLSUM_PARTS: usize = 64;

/// Partial sums (one workgroup each) in the gradient-norm reduction of the optimiser.
pub const NORM_PARTS: usize = 256;

impl Kernels {
    /// out[out_off] = scale * Σ x[in_off .. in_off + n].
    pub fn record_sum(
        &self,
        pb: &mut ProgramBuilder,
        x: Buf,
        in_off: usize,
        n: usize,
        scale: f32,
        out: Buf,
        out_off: usize,
    ) {
        x.check("sum input", in_off, n);
        out.check("sum output", out_off, 1);
        let p = ReduceParams {
            n: word(n),
            in_off: word(in_off),
            out_off: word(out_off),
            scale,
            ..Default::default()
        };
        pb.dispatch(&self.sum_scaled, &[x.id, out.id], p.words(), [1, 1, 1]);
    }

    /// out[out_off + w] = Σ x[in_off + i]² over the i of workgroup w's grid-stride slice,
    /// for w < parts.
    pub fn record_sumsq_partial(
        &self,
        pb: &mut ProgramBuilder,
        x: Buf,
        in_off: usize,
        n: usize,
        parts: usize,
        out: Buf,
        out_off: usize,
    ) {
        x.check("sumsq_partial input", in_off, n);
        out.check("sumsq_partial output", out_off, parts);
        let p = ReduceParams {
            n: word(n),
            in_off: word(in_off),
            out_off: word(out_off),
            parts: word(parts),
            ..Default::default()
        };
        pb.dispatch(
            &self.sumsq_partial,
            &[x.id, out.id],
            p.words(),
            [word(parts), 1, 1],
        );
    }

    /// From the `parts` partial sums of squares at stats[parts_off ..]: stats[0] = the norm,
    /// stats[1] = min(max_norm / (norm + 1e-6), 1). `grads` is bound but not read.
    pub fn record_clip_coef(
        &self,
        pb: &mut ProgramBuilder,
        grads: Buf,
        stats: Buf,
        parts_off: usize,
        parts: usize,
        max_norm: f32,
    ) {
        stats.check("clip_coef partials", parts_off, parts);
        stats.check("clip_coef results", 0, 2);
        assert!(parts_off >= 2, "clip_coef: partials overlap the results");
        let p = ReduceParams {
            out_off: word(parts_off),
            scale: max_norm,
            parts: word(parts),
            ..Default::default()
        };
        pb.dispatch(&self.clip_coef, &[grads.id, stats.id], p.words(), [1, 1, 1]);
    }

    /// out[out_off + j] = Σ_i x[in_off + i*cols + j] for i < rows, through `scratch`
    /// (at least `COLSUM_PARTS * cols` floats): row chunks in parallel, then a fixed-order sum.
    pub fn record_colsum(
        &self,
        pb: &mut ProgramBuilder,
        x: Buf,
        in_off: usize,
        rows: usize,
        cols: usize,
        out: Buf,
        out_off: usize,
        scratch: Buf,
    ) {
        let chunk = rows.div_ceil(COLSUM_PARTS).max(1);
        let parts = rows.div_ceil(chunk);
        self.record_colsum_partial(pb, x, in_off, rows, cols, chunk, scratch);
        self.record_colsum_finish(pb, scratch, parts, cols, out, out_off);
    }

    /// partials[y*cols + j] = Σ x[in_off + i*cols + j] over rows i of chunk y (`chunk` rows
    /// each), for every chunk of the `rows`.
    pub fn record_colsum_partial(
        &self,
        pb: &mut ProgramBuilder,
        x: Buf,
        in_off: usize,
        rows: usize,
        cols: usize,
        chunk: usize,
        partials: Buf,
    ) {
        assert!(chunk > 0, "colsum_partial: empty chunks");
        let parts = rows.div_ceil(chunk);
        x.check("colsum_partial input", in_off, rows * cols);
        partials.check("colsum_partial partials", 0, parts * cols);
        let p = ReduceParams {
            n: word(rows),
            cols: word(cols),
            in_off: word(in_off),
            parts: word(chunk),
            ..Default::default()
        };
        let grid = [groups(cols, 64), word(parts), 1];
        pb.dispatch(&self.colsum_partial, &[x.id, partials.id], p.words(), grid);
    }

    /// out[out_off + j] = Σ_y partials[y*cols + j] for y < parts, in order.
    pub fn record_colsum_finish(
        &self,
        pb: &mut ProgramBuilder,
        partials: Buf,
        parts: usize,
        cols: usize,
        out: Buf,
        out_off: usize,
    ) {
        partials.check("colsum_finish partials", 0, parts * cols);
        out.check("colsum_finish output", out_off, cols);
        let p = ReduceParams {
            n: word(parts),
            cols: word(cols),
            out_off: word(out_off),
            ..Default::default()
        };
        let grid = [groups(cols, 64), 1, 1];
        pb.dispatch(&self.colsum_finish, &[partials.id, out.id], p.words(), grid);
    }
}
