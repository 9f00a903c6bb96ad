//! `embedding.wgsl`: the embedding lookup and its gradient.

use super::{groups, row_grid, us, wgsl_params, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;

wgsl_params! {
    /// `EmbedParams`: row = t*batch + b reads token `tokens[b*tok_stride + t]`.
    pub struct EmbedParams in "embedding.wgsl" {
        /// B*T.
        pub rows: u32,
        /// E.
        pub dim: u32,
        pub batch: u32,
        /// T + 1.
        pub tok_stride: u32,
        /// The embedding `[V, E]` in params / grads.
        pub emb_off: u32,
        pub vocab: u32,
        /// embed_backward: the rows grouped by token (`rows_by_token`) in tokens.
        pub index_off: u32,
    }
}

impl EmbedParams {
    fn check_tokens(&self, tokens: Buf) {
        let (rows, batch) = (us(self.rows), us(self.batch));
        assert!(
            batch > 0 && self.vocab > 0,
            "embedding: empty batch or vocabulary"
        );
        let last = (batch.min(rows) - 1) * us(self.tok_stride) + (rows - 1) / batch;
        tokens.check("embedding tokens", last, 1);
    }
}

impl Kernels {
    /// dst[row*E + e] = src[emb_off + token(row)*E + e] (tokens clamped to the vocabulary).
    pub fn record_embed_gather(
        &self,
        pb: &mut ProgramBuilder,
        p: &EmbedParams,
        tokens: Buf,
        src: Buf,
        dst: Buf,
    ) {
        let (rows, e) = (us(p.rows), us(p.dim));
        if rows == 0 {
            return;
        }
        p.check_tokens(tokens);
        src.check("embed_gather table", us(p.emb_off), us(p.vocab) * e);
        dst.check("embed_gather output", 0, rows * e);
        let grid = row_grid(rows, groups(e, 64));
        pb.dispatch(
            &self.embed_gather,
            &[tokens.id, src.id, dst.id],
            p.words(),
            grid,
        );
    }

    /// dst[emb_off + v*E + e] = Σ src[row*E + e] over the rows whose token is v, in row
    /// order, from the row index at tokens[index_off ..] (`V + 1` starts, then the rows).
    pub fn record_embed_backward(
        &self,
        pb: &mut ProgramBuilder,
        p: &EmbedParams,
        tokens: Buf,
        src: Buf,
        dst: Buf,
    ) {
        let (rows, e, v) = (us(p.rows), us(p.dim), us(p.vocab));
        tokens.check("embed_backward row index", us(p.index_off), v + 1 + rows);
        src.check("embed_backward gradient", 0, rows * e);
        dst.check("embed_backward output", us(p.emb_off), v * e);
        let grid = row_grid(v, groups(e, 64));
        pb.dispatch(
            &self.embed_backward,
            &[tokens.id, src.id, dst.id],
            p.words(),
            grid,
        );
    }
}

/// The rows (time-major, row = t*B + b) of a `[B, T+1]` window grouped by input token, for
/// the embedding gradient: `V + 1` starts, then the rows of token 0, of token 1, ..., each
/// group in ascending row order (the order the gradient sums in). Tokens are `< vocab`.
pub fn rows_by_token(tokens: &[u32], batch: usize, tbptt: usize, vocab: usize) -> Vec<u32> {
    let token = |row: usize| tokens[(row % batch) * (tbptt + 1) + row / batch] as usize;
    rows_grouped(batch * tbptt, vocab, token)
}

/// `rows` rows grouped by `token(row)` (< vocab): `V + 1` starts, then the rows of token
/// 0, of token 1, ..., each group in ascending row order (the embed_backward index).
pub fn rows_grouped(rows: usize, vocab: usize, token: impl Fn(usize) -> usize) -> Vec<u32> {
    let mut starts = vec![0u32; vocab + 1];
    for row in 0..rows {
        starts[token(row) + 1] += 1;
    }
    for i in 0..vocab {
        starts[i + 1] += starts[i];
    }
    let mut next = starts.clone();
    let mut out = starts;
    out.resize(vocab + 1 + rows, 0);
    for row in 0..rows {
        let t = token(row);
        out[vocab + 1 + next[t] as usize] = row as u32;
        next[t] += 1;
    }
    out
}
