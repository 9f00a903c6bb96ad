//! Twins of `embedding.wgsl`.

use crate::kernels::ops::embedding::EmbedParams;
use crate::kernels::ops::us;

fn token_at(p: &EmbedParams, tokens: &[u32], row: usize) -> usize {
    let (batch, stride) = (us(p.batch), us(p.tok_stride));
    tokens[(row % batch) * stride + row / batch] as usize
}

/// dst[row*E + e] = src[emb_off + token(row)*E + e], row = t*batch + b reading
/// tokens[b*tok_stride + t] (clamped to the vocabulary).
pub fn embed_gather(p: &EmbedParams, tokens: &[u32], src: &[f64], dst: &mut [f64]) {
    let e = us(p.dim);
    for row in 0..us(p.rows) {
        let tok = token_at(p, tokens, row).min(us(p.vocab) - 1);
        dst[row * e..][..e].copy_from_slice(&src[us(p.emb_off) + tok * e..][..e]);
    }
}

/// dst[emb_off + v*E + e] = Σ src[row*E + e] over the rows listed for token v in the row
/// index at tokens[index_off ..] (`V + 1` starts, then the rows; `rows_by_token`), in
/// their order.
pub fn embed_backward(p: &EmbedParams, tokens: &[u32], src: &[f64], dst: &mut [f64]) {
    let (e, v, at) = (us(p.dim), us(p.vocab), us(p.index_off));
    let list = &tokens[at + v + 1..];
    for tok in 0..v {
        let rows = &list[tokens[at + tok] as usize..tokens[at + tok + 1] as usize];
        for k in 0..e {
            dst[us(p.emb_off) + tok * e + k] = rows.iter().map(|&r| src[r as usize * e + k]).sum();
        }
    }
}
