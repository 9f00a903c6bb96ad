//! The backward of one chunk: the gradient of the bits loss, MLP first, then the tiers
//! bottom-up (the reverse of the forward's order), each back through its steps.

use super::forward::{forward, frame, Cell, Forward, Mlp};
use super::{add_outer, add_to, matvec_t, Chunk, Weights};
use crate::samplernn::SrnnLayout;
use crate::samplernn::SrnnParam::*;

/// The MLP's backward at one target with weight `scale` on its NLL: accumulates the MLP's
/// gradients into `g` and returns d loss / d c0 (the first layer's pre-activation).
fn mlp_backward(
    w: Weights,
    g: &mut [f64],
    toks: &[u32],
    m: &Mlp,
    target: u32,
    scale: f64,
) -> Vec<f64> {
    let lay = w.layout;
    let (q, fs0) = (lay.config.levels, toks.len());
    let dlogits: Vec<f64> = (m.logp.iter().enumerate())
        .map(|(v, lp)| (lp.exp() - f64::from(v == target as usize)) * scale)
        .collect();
    add_outer(lay.view_mut(g, OutputWeight), &dlogits, &m.a2);
    add_to(lay.view_mut(g, OutputBias), &dlogits);
    let mut da2 = matvec_t(w.get(OutputWeight), &dlogits, m.a2.len());
    relu_backward(&mut da2, &m.a2);
    add_outer(lay.view_mut(g, HiddenWeight), &da2, &m.a1);
    add_to(lay.view_mut(g, HiddenBias), &da2);
    let mut da1 = matvec_t(w.get(HiddenWeight), &da2, m.a1.len());
    relu_backward(&mut da1, &m.a1);
    let (emb, w_in) = (w.get(Embedding), w.get(InputWeight));
    for (i, &tok) in toks.iter().enumerate() {
        let e = &emb[tok as usize * q..][..q];
        let dw_in = lay.view_mut(g, InputWeight);
        for (d, &da) in da1.iter().enumerate() {
            for v in 0..q {
                dw_in[(d * q + v) * fs0 + i] += da * e[v];
            }
        }
        let de = &mut lay.view_mut(g, Embedding)[tok as usize * q..][..q];
        for (v, dev) in de.iter_mut().enumerate() {
            *dev += (da1.iter().enumerate())
                .map(|(d, da)| w_in[(d * q + v) * fs0 + i] * da)
                .sum::<f64>();
        }
    }
    da1
}

/// Zeroes the gradient where the ReLU's output is 0 (PyTorch's derivative at 0 is 0).
fn relu_backward(grad: &mut [f64], out: &[f64]) {
    for (gx, &y) in grad.iter_mut().zip(out) {
        if y <= 0.0 {
            *gx = 0.0;
        }
    }
}

/// One GRU layer's backward for dh = d loss / d h': accumulates the layer's weight and bias
/// gradients and returns (d loss / d x, d loss / d hprev).
fn cell_backward(
    w: Weights,
    g: &mut [f64],
    k: usize,
    l: usize,
    c: &Cell,
    dh: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (lay, d) = (w.layout, dh.len());
    let (mut dgi, mut dgh) = (vec![0.0; 3 * d], vec![0.0; 3 * d]);
    let mut dhprev = vec![0.0; d];
    for j in 0..d {
        let (r, z, n) = (c.r[j], c.z[j], c.n[j]);
        let dn = dh[j] * (1.0 - z) * (1.0 - n * n);
        let dz = dh[j] * (c.hprev[j] - n) * z * (1.0 - z);
        let dr = dn * c.ghn[j] * r * (1.0 - r);
        dhprev[j] = dh[j] * z;
        (dgi[j], dgi[d + j], dgi[2 * d + j]) = (dr, dz, dn);
        (dgh[j], dgh[d + j], dgh[2 * d + j]) = (dr, dz, dn * r);
    }
    add_outer(lay.view_mut(g, WeightIh(k, l)), &dgi, &c.x);
    add_to(lay.view_mut(g, BiasIh(k, l)), &dgi);
    add_outer(lay.view_mut(g, WeightHh(k, l)), &dgh, &c.hprev);
    add_to(lay.view_mut(g, BiasHh(k, l)), &dgh);
    add_to(&mut dhprev, &matvec_t(w.get(WeightHh(k, l)), &dgh, d));
    (matvec_t(w.get(WeightIh(k, l)), &dgi, d), dhprev)
}

/// The upsampling's backward for dc (`[FS_k, D]`, slot-major) of output h: accumulates U and
/// u's gradients and returns d loss / d h.
fn upsample_backward(w: Weights, g: &mut [f64], k: usize, h: &[f64], dc: &[f64]) -> Vec<f64> {
    let (lay, d, fs) = (w.layout, h.len(), w.layout.config.frame_sizes[k]);
    let u = w.get(UpWeight(k));
    let du = lay.view_mut(g, UpWeight(k));
    let mut dh = vec![0.0; d];
    for i in 0..d {
        for o in 0..d {
            for j in 0..fs {
                du[(i * d + o) * fs + j] += h[i] * dc[j * d + o];
                dh[i] += u[(i * d + o) * fs + j] * dc[j * d + o];
            }
        }
    }
    let dbias = lay.view_mut(g, UpBias(k));
    for o in 0..d {
        for j in 0..fs {
            dbias[o * fs + j] += dc[j * d + o];
        }
    }
    dh
}

/// Tier k's backward through all its steps, given d loss / d its conditioning `dcond`
/// (`[B, T/n_{k-1}, D]`). Returns d loss / d the tier above's conditioning (`[B, T/n_k, D]`;
/// empty for the top tier). h0 gets the gradient of the initial state of reset streams.
fn tier_backward(
    w: Weights,
    g: &mut [f64],
    k: usize,
    window: &[u32],
    f: &Forward,
    reset: &[bool],
    dcond: &[f64],
) -> Vec<f64> {
    let c = &w.layout.config;
    let (d, r, fs, top) = (c.dim, c.rnn_layers, c.frame_sizes[k], k + 1 == c.tiers());
    let (batch, steps) = (reset.len(), f.cells[k][0].len());
    let span = window.len() / batch;
    let mut dabove = vec![0.0; if top { 0 } else { batch * steps * d }];
    for (b, &fresh) in reset.iter().enumerate() {
        let row = &window[b * span..][..span];
        let mut carry = vec![vec![0.0; d]; r];
        for m in (0..steps).rev() {
            let cells = &f.cells[k][b][m];
            let dc = &dcond[(b * steps + m) * fs * d..][..fs * d];
            let mut dh = upsample_backward(w, g, k, &cells[r - 1].h, dc);
            for l in (0..r).rev() {
                add_to(&mut dh, &carry[l]);
                (dh, carry[l]) = cell_backward(w, g, k, l, &cells[l], &dh);
            }
            add_outer(
                w.layout.view_mut(g, ExpandWeight(k)),
                &dh,
                &frame(w, row, k, m),
            );
            add_to(w.layout.view_mut(g, ExpandBias(k)), &dh);
            if !top {
                dabove[(b * steps + m) * d..][..d].copy_from_slice(&dh);
            }
        }
        if fresh {
            for (dh0, dl) in w.layout.view_mut(g, H0(k)).chunks_exact_mut(d).zip(&carry) {
                add_to(dh0, dl);
            }
        }
    }
    dabove
}

/// [`forward`] and the gradient of its bits loss (nats / ln 2) in the flat layout (padding
/// 0). h0 gets gradient only from the reset streams (their sum).
pub fn forward_backward(layout: &SrnnLayout, params: &[f64], chunk: Chunk) -> (Forward, Vec<f64>) {
    let f = forward(layout, params, chunk);
    let Chunk {
        window,
        batch,
        tbptt,
        reset,
        ..
    } = chunk;
    let w = Weights::new(layout, params);
    let c = &layout.config;
    let (lookback, fs0, d) = (c.lookback(), c.frame_sizes[0], c.dim);
    let span = lookback + tbptt;
    let scale = 1.0 / ((batch * tbptt) as f64 * std::f64::consts::LN_2);
    let mut g = vec![0.0; layout.total];
    let mut dcond = vec![0.0; batch * tbptt * d];
    for b in 0..batch {
        let row = &window[b * span..][..span];
        for j in 0..tbptt {
            let toks = &row[lookback - fs0 + j..lookback + j];
            let m = &f.mlp[b * tbptt + j];
            let dc0 = mlp_backward(w, &mut g, toks, m, row[lookback + j], scale);
            dcond[(b * tbptt + j) * d..][..d].copy_from_slice(&dc0);
        }
    }
    for k in 0..c.tiers() {
        dcond = tier_backward(w, &mut g, k, window, &f, reset, &dcond);
    }
    (f, g)
}
