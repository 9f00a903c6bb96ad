//! Twin of `softmax_xent.wgsl`, and the softmax of one row.

use crate::kernels::ops::softmax_xent::XentParams;
use crate::kernels::ops::us;

/// Softmax of one row of logits (stable: the maximum is subtracted first).
/// For sampling at temperature `tau`, pass the logits divided by `tau`.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&x| (x - m).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|x| x / sum).collect()
}

/// For every row = t*batch + b of `[rows, vocab]` logits, with target
/// `tokens[b*tok_stride + tok_off + t + 1]`: dlogits = (softmax - onehot(target)) * scale
/// and loss[row] = logsumexp - logit of the target (clamped to the vocabulary). `scale`
/// stands for `p.scale`, in f64.
pub fn softmax_xent(
    p: &XentParams,
    scale: f64,
    logits: &[f64],
    tokens: &[u32],
    dlogits: &mut [f64],
    loss: &mut [f64],
) {
    let (v, batch) = (us(p.vocab), us(p.batch));
    for row in 0..us(p.rows) {
        let (t, b) = (row / batch, row % batch);
        let tgt = tokens[b * us(p.tok_stride) + us(p.tok_off) + t + 1] as usize;
        let x = &logits[row * v..][..v];
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = x.iter().map(|&l| (l - m).exp()).sum();
        for (k, d) in dlogits[row * v..][..v].iter_mut().enumerate() {
            let prob = (x[k] - m).exp() / s;
            *d = (prob - if k == tgt { 1.0 } else { 0.0 }) * scale;
        }
        loss[row] = s.ln() + m - x[tgt.min(v - 1)];
    }
}
