//! Twins of `sample.wgsl`: one sampling step of many streams.

use super::step::gru_unit;
use crate::kernels::ops::sample::{CellParams, Controls, DrawParams, LogitParams};
use crate::kernels::ops::us;
use crate::sample::{draw, draw_with_rules, uniform, NoteState, NOTE_WORDS};

/// The buffers of the sampling ops, as `kernels::ops::sample::SampleBufs`.
pub struct SampleBufs<'a> {
    /// Weights: transposed GRU weights, the head, layer 0's table.
    pub w: &'a [f64],
    /// Token history `[block+1, S]`.
    pub hist: &'a mut [u32],
    /// The state being read.
    pub h_in: &'a [f64],
    /// The state being written.
    pub h: &'a mut [f64],
    pub ctl: &'a Controls,
    /// Logits `[S, V]`.
    pub logits: &'a mut [f64],
    /// The note state of every stream, `[S, NOTE_WORDS]`.
    pub notes: &'a mut [u32],
}

/// Σ_k Wᵀ[k, g*H + j]·x[k] for the three gates, Wᵀ `[K, 3H]` at `off`.
fn products_t(w: &[f64], off: usize, h: usize, j: usize, x: &[f64]) -> [f64; 3] {
    [0, 1, 2].map(|g| {
        (x.iter().enumerate())
            .map(|(k, xk)| w[off + k * 3 * h + g * h + j] * xk)
            .sum()
    })
}

/// One layer, one step of every stream (see `CellParams`): h[hout_off + s*H + j] from
/// h_in[hprev_off ..] and the input, the layer below in h[x_off ..] or (inp = 0) the table
/// row of token hist[tok_off + s].
pub fn sample_cell(p: &CellParams, b: &mut SampleBufs) {
    let (streams, h, inp) = (us(p.streams), us(p.hidden), us(p.inp));
    let mut out = vec![0.0; streams * h];
    for s in 0..streams {
        let hprev = &b.h_in[us(p.hprev_off) + s * h..][..h];
        let x = &b.h[us(p.x_off) + s * h..][..inp];
        for j in 0..h {
            let gi = if inp == 0 {
                let tok = b.hist[us(p.tok_off) + s].min(p.vocab - 1) as usize;
                let row = us(p.table_off) + tok * 3 * h;
                [0, 1, 2].map(|g| b.w[row + g * h + j])
            } else {
                let px = products_t(b.w, us(p.wih_off), h, j, x);
                [0, 1, 2].map(|g| px[g] + b.w[us(p.bih_off) + g * h + j])
            };
            let gh = products_t(b.w, us(p.whh_off), h, j, hprev);
            let bhh = [0, 1, 2].map(|g| b.w[us(p.bhh_off) + g * h + j]);
            out[s * h + j] = gru_unit(gi, gh, bhh, hprev[j])[4];
        }
    }
    b.h[us(p.hout_off)..][..streams * h].copy_from_slice(&out);
}

/// Layer 0 that first draws its input tokens from the logits (step `draw_step` of the
/// block) into hist[tok_off ..], then runs `sample_cell`. It reads the note state but does
/// not advance it (the sampler keeps note rules to the separate draw).
pub fn sample_cell_draw(p: &CellParams, b: &mut SampleBufs) {
    let d = DrawParams {
        vocab: p.vocab,
        out_off: p.tok_off,
        step: p.draw_step,
    };
    let notes = b.notes.to_vec();
    sample_draw(&d, us(p.streams), b);
    b.notes.copy_from_slice(&notes);
    sample_cell(p, b);
}

/// logits[s*V + v] = W_o[v]·h[h_off + s*H ..] + b_o[v] for every stream.
pub fn sample_logits(p: &LogitParams, b: &mut SampleBufs) {
    let (hd, v) = (us(p.hidden), us(p.vocab));
    for s in 0..us(p.streams) {
        let x = &b.h[us(p.h_off) + s * hd..][..hd];
        for k in 0..v {
            let row = &b.w[us(p.wo_off) + k * hd..][..hd];
            let dot: f64 = row.iter().zip(x).map(|(a, b)| a * b).sum();
            b.logits[s * v + k] = dot + b.w[us(p.bo_off) + k];
        }
    }
}

/// hist[out_off + s] = the token drawn from stream s's logits with the controls' seed,
/// temperature and top-k at step base_step + step (`crate::sample::draw`); under the note
/// rules, `draw_with_rules` on the stream's note state, which the token then advances.
pub fn sample_draw(p: &DrawParams, streams: usize, b: &mut SampleBufs) {
    let c = b.ctl;
    let seed = c.seed_lo as u64 | (c.seed_hi as u64) << 32;
    let (v, temperature, top_k) = (us(p.vocab), c.temperature as f64, c.top_k as usize);
    for s in 0..streams {
        let u = uniform(seed, s as u32, c.base_step.wrapping_add(p.step));
        let logits = &b.logits[s * v..][..v];
        let words = &mut b.notes[s * NOTE_WORDS..][..NOTE_WORDS];
        let t = if c.note_rules != 0 {
            let mut notes = NoteState::from_words(words);
            let t = draw_with_rules(logits, temperature, top_k, u, &notes, c.max_hold);
            notes.update(t);
            words.copy_from_slice(&notes.words());
            t
        } else {
            draw(logits, temperature, top_k, u)
        };
        b.hist[us(p.out_off) + s] = t;
    }
}
