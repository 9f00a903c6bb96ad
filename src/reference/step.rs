//! Twins of `gru_step.wgsl`: `gru_step` (and `gru_step_sliced`, the same step) and
//! `gru_cell`.

use super::sigmoid;
use crate::kernels::ops::step::{GruCellParams, StepParams};
use crate::kernels::ops::us;

/// The gates and new state of one unit: (r, z, n, gh_n, h_t) from the input projection
/// (with b_ih), the recurrent products W_hh·h (without b_hh), b_hh and h_{t-1}.
pub(crate) fn gru_unit(gi: [f64; 3], gh: [f64; 3], bhh: [f64; 3], hprev: f64) -> [f64; 5] {
    let r = sigmoid(gi[0] + gh[0] + bhh[0]);
    let z = sigmoid(gi[1] + gh[1] + bhh[1]);
    let ghn = gh[2] + bhh[2];
    let n = (gi[2] + r * ghn).tanh();
    [r, z, n, ghn, (1.0 - z) * n + z * hprev]
}

/// Σ_k W[g*H + j, k]·x[k] for the three gates g, W row-major `[3H, K]` at `w_off`.
fn products(w: &[f64], w_off: usize, h: usize, j: usize, x: &[f64]) -> [f64; 3] {
    let k = x.len();
    [0, 1, 2].map(|g| {
        let row = &w[w_off + (g * h + j) * k..][..k];
        row.iter().zip(x).map(|(a, b)| a * b).sum()
    })
}

/// One forward step (see `StepParams`): hseq[hout_off + b*H + j] from gi and
/// hseq[hprev_off ..]; with `save`, gates r, z, n, gh_n into gates[gate_off + b*4H ..].
pub fn gru_step(p: &StepParams, gi: &[f64], w: &[f64], hseq: &mut [f64], gates: &mut [f64]) {
    let (batch, h) = (us(p.batch), us(p.hidden));
    let bhh = |j: usize| [0, 1, 2].map(|g| w[us(p.bhh_off) + g * h + j]);
    for b in 0..batch {
        let hprev = hseq[us(p.hprev_off) + b * h..][..h].to_vec();
        let gi_row = us(p.gi_off) + b * 3 * h;
        for j in 0..h {
            let gh = products(w, us(p.whh_off), h, j, &hprev);
            let gij = [0, 1, 2].map(|g| gi[gi_row + g * h + j]);
            let [r, z, n, ghn, hnew] = gru_unit(gij, gh, bhh(j), hprev[j]);
            hseq[us(p.hout_off) + b * h + j] = hnew;
            if p.save != 0 {
                let g_row = us(p.gate_off) + b * 4 * h;
                for (q, x) in [r, z, n, ghn].into_iter().enumerate() {
                    gates[g_row + q * h + j] = x;
                }
            }
        }
    }
}

/// One sampling step of one layer (see `GruCellParams`): h[hout_off + s*H + j] from
/// h_in[hprev_off ..] and the input, the layer below's rows h[x_off ..] or (inp = 0) the
/// table row of token hist[tok_off + s] (clamped to the vocabulary).
pub fn gru_cell(
    p: &GruCellParams,
    hist: &[u32],
    w: &[f64],
    h_in: &[f64],
    h: &mut [f64],
    table: &[f64],
) {
    let (streams, hd, inp) = (us(p.streams), us(p.hidden), us(p.inp));
    let mut out = vec![0.0; streams * hd];
    for s in 0..streams {
        let hprev = &h_in[us(p.hprev_off) + s * hd..][..hd];
        let x = &h[us(p.x_off) + s * inp..][..inp];
        for j in 0..hd {
            let gi = if inp == 0 {
                let tok = (hist[us(p.tok_off) + s]).min(p.vocab - 1) as usize;
                let row = us(p.table_off) + tok * 3 * hd;
                [0, 1, 2].map(|g| table[row + g * hd + j])
            } else {
                let px = products(w, us(p.wih_off), hd, j, x);
                [0, 1, 2].map(|g| px[g] + w[us(p.bih_off) + g * hd + j])
            };
            let gh = products(w, us(p.whh_off), hd, j, hprev);
            let bhh = [0, 1, 2].map(|g| w[us(p.bhh_off) + g * hd + j]);
            out[s * hd + j] = gru_unit(gi, gh, bhh, hprev[j])[4];
        }
    }
    h[us(p.hout_off)..][..streams * hd].copy_from_slice(&out);
}
