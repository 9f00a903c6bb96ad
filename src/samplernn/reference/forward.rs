//! The training forward of one TBPTT chunk, and the tier and MLP steps that generation
//! shares with it.

use super::{add_to, dequantize, matvec, Chunk, Weights};
use crate::reference::softmax;
use crate::reference::step::gru_unit;
use crate::samplernn::SrnnLayout;
use crate::samplernn::SrnnParam::*;

/// One GRU layer's step, as the backward needs it: its input, previous state, gates
/// (r, z, n and gh_n = W_hn h + b_hn) and new state.
#[derive(Clone, Debug)]
pub(super) struct Cell {
    pub x: Vec<f64>,
    pub hprev: Vec<f64>,
    pub r: Vec<f64>,
    pub z: Vec<f64>,
    pub n: Vec<f64>,
    pub ghn: Vec<f64>,
    pub h: Vec<f64>,
}

/// One MLP evaluation: both hidden layers (after their ReLU) and the log-probabilities.
#[derive(Clone, Debug)]
pub(super) struct Mlp {
    pub a1: Vec<f64>,
    pub a2: Vec<f64>,
    pub logp: Vec<f64>,
}

/// The training forward of one chunk (see [`forward`]).
#[derive(Clone, Debug)]
pub struct Forward {
    /// Log-probabilities `[B, T, q]`: row (b, j) predicts target `window[b*(L+T) + L + j]`.
    pub logp: Vec<f64>,
    /// Mean NLL over the B*T targets, in nats.
    pub loss_nats: f64,
    /// The same in bits (nats / ln 2): the training loss.
    pub loss_bits: f64,
    /// Per tier, the state `[R, B, D]` it started from (h0 for reset streams).
    pub h_start: Vec<Vec<f64>>,
    /// Per tier, the final state `[R, B, D]`, carried into the next chunk.
    pub hn: Vec<Vec<f64>>,
    /// Per tier k, its upsampled output `[B, T / n_{k-1}, D]` (n_{-1} = 1): vector m is
    /// added to step m of tier k-1, or to MLP output m for k = 0.
    pub cond: Vec<Vec<f64>>,
    /// Per tier, stream, step and layer, the GRU cells.
    pub(super) cells: Vec<Vec<Vec<Vec<Cell>>>>,
    /// Per (b, j) at b*T + j, the MLP evaluation.
    pub(super) mlp: Vec<Mlp>,
}

/// One GRU layer: h' = GRU(x, hprev) with the gates of MODEL_SPEC (r, z, n).
fn gru_cell(w: Weights, k: usize, l: usize, x: Vec<f64>, hprev: &[f64]) -> Cell {
    let d = hprev.len();
    let mut gi = matvec(w.get(WeightIh(k, l)), &x);
    add_to(&mut gi, w.get(BiasIh(k, l)));
    let gh = matvec(w.get(WeightHh(k, l)), hprev);
    let bhh = w.get(BiasHh(k, l));
    let mut cell = Cell {
        x,
        hprev: hprev.to_vec(),
        r: vec![0.0; d],
        z: vec![0.0; d],
        n: vec![0.0; d],
        ghn: vec![0.0; d],
        h: vec![0.0; d],
    };
    for j in 0..d {
        let gates = |v: &[f64]| [v[j], v[d + j], v[2 * d + j]];
        let [r, z, n, ghn, h] = gru_unit(gates(&gi), gates(&gh), gates(bhh), hprev[j]);
        (cell.r[j], cell.z[j], cell.n[j], cell.ghn[j], cell.h[j]) = (r, z, n, ghn, h);
    }
    cell
}

/// Tier k's upsampling of its top layer's output h: FS_k vectors, slot-major `[FS_k, D]`,
/// `out[j] = U[:, :, j]ᵀ h + u[:, j]`.
fn upsample(w: Weights, k: usize, h: &[f64]) -> Vec<f64> {
    let (d, fs) = (h.len(), w.layout.config.frame_sizes[k]);
    let (u, bias) = (w.get(UpWeight(k)), w.get(UpBias(k)));
    let mut out = vec![0.0; fs * d];
    for j in 0..fs {
        for o in 0..d {
            let dot: f64 = (0..d).map(|i| u[(i * d + o) * fs + j] * h[i]).sum();
            out[j * d + o] = bias[o * fs + j] + dot;
        }
    }
    out
}

/// One step of tier k on a dequantised frame (n_k floats, oldest first), plus the
/// conditioning from the tier above (None for the top tier). Advances every layer's state
/// and returns the cells and the FS_k upsampled vectors (`[FS_k, D]`).
pub(super) fn tier_step(
    w: Weights,
    k: usize,
    frame: &[f64],
    cond: Option<&[f64]>,
    state: &mut [Vec<f64>],
) -> (Vec<Cell>, Vec<f64>) {
    let mut x = matvec(w.get(ExpandWeight(k)), frame);
    add_to(&mut x, w.get(ExpandBias(k)));
    if let Some(c) = cond {
        add_to(&mut x, c);
    }
    let mut cells = Vec::with_capacity(state.len());
    for (l, h) in state.iter_mut().enumerate() {
        let cell = gru_cell(w, k, l, x, h);
        h.clone_from(&cell.h);
        x = cell.h.clone();
        cells.push(cell);
    }
    (cells, upsample(w, k, &x))
}

/// The sample-level MLP on the FS_0 previous tokens (oldest first) and the conditioning
/// vector c0.
pub(super) fn mlp(w: Weights, toks: &[u32], c0: &[f64]) -> Mlp {
    let (q, fs0) = (w.layout.config.levels, toks.len());
    let (emb, w_in) = (w.get(Embedding), w.get(InputWeight));
    let mut a1 = c0.to_vec();
    for (d, a) in a1.iter_mut().enumerate() {
        for (i, &tok) in toks.iter().enumerate() {
            let e = &emb[tok as usize * q..][..q];
            *a += (0..q)
                .map(|v| w_in[(d * q + v) * fs0 + i] * e[v])
                .sum::<f64>();
        }
    }
    relu(&mut a1);
    let mut a2 = matvec(w.get(HiddenWeight), &a1);
    add_to(&mut a2, w.get(HiddenBias));
    relu(&mut a2);
    let mut o = matvec(w.get(OutputWeight), &a2);
    add_to(&mut o, w.get(OutputBias));
    let m = o.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + o.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    Mlp {
        a1,
        a2,
        logp: o.iter().map(|x| x - lse).collect(),
    }
}

fn relu(v: &mut [f64]) {
    for x in v {
        *x = x.max(0.0);
    }
}

/// softmax(logp / tau), the distribution generation draws from.
pub(super) fn tempered(logp: &[f64], temperature: f64) -> Vec<f64> {
    softmax(&logp.iter().map(|x| x / temperature).collect::<Vec<_>>())
}

/// Frame m of tier k in one stream's chunk row (L+T tokens), dequantised:
/// `row[L - n_k + m*n_k .. L + m*n_k]`.
pub(super) fn frame(w: Weights, row: &[u32], k: usize, m: usize) -> Vec<f64> {
    let c = &w.layout.config;
    let (n, lookback) = (c.frame_samples(k), c.lookback());
    let start = lookback - n + m * n;
    row[start..start + n]
        .iter()
        .map(|&x| dequantize(x, c.levels))
        .collect()
}

/// The state each tier starts from, `[R, B, D]`: h0 for reset streams, else `state`.
fn start_states(w: Weights, batch: usize, reset: &[bool], state: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let c = &w.layout.config;
    let (d, r) = (c.dim, c.rnn_layers);
    (0..c.tiers())
        .map(|k| {
            let h0 = w.get(H0(k));
            let mut s = vec![0.0; r * batch * d];
            for l in 0..r {
                for (b, &fresh) in reset.iter().enumerate() {
                    let at = (l * batch + b) * d;
                    let src = if fresh { &h0[l * d..] } else { &state[k][at..] };
                    s[at..at + d].copy_from_slice(&src[..d]);
                }
            }
            s
        })
        .collect()
}

/// Runs tier k over the chunk: T/n_k steps per stream, from `state` (`[R, B, D]`, updated
/// to the final state). `above` is the tier above's conditioning. Returns this tier's
/// conditioning `[B, T/n_k * FS_k, D]` and its cells `[b][m][l]`.
fn run_tier(
    w: Weights,
    k: usize,
    window: &[u32],
    (batch, tbptt): (usize, usize),
    above: Option<&[f64]>,
    state: &mut [f64],
) -> (Vec<f64>, Vec<Vec<Vec<Cell>>>) {
    let c = &w.layout.config;
    let (d, r, steps) = (c.dim, c.rnn_layers, tbptt / c.frame_samples(k));
    let span = c.lookback() + tbptt;
    let mut cond = Vec::with_capacity(batch * steps * c.frame_sizes[k] * d);
    let mut cells = Vec::with_capacity(batch);
    for b in 0..batch {
        let row = &window[b * span..][..span];
        let mut h: Vec<Vec<f64>> = (0..r)
            .map(|l| state[(l * batch + b) * d..][..d].to_vec())
            .collect();
        let mut stream = Vec::with_capacity(steps);
        for m in 0..steps {
            let cond_in = above.map(|a| &a[(b * steps + m) * d..][..d]);
            let (cs, up) = tier_step(w, k, &frame(w, row, k, m), cond_in, &mut h);
            cond.extend_from_slice(&up);
            stream.push(cs);
        }
        for (l, hl) in h.iter().enumerate() {
            state[(l * batch + b) * d..][..d].copy_from_slice(hl);
        }
        cells.push(stream);
    }
    (cond, cells)
}

/// Panics unless the chunk's sizes agree with the model and each other.
fn check_chunk(w: Weights, chunk: Chunk) {
    let (window, batch, tbptt) = (chunk.window, chunk.batch, chunk.tbptt);
    let (reset, state) = (chunk.reset, chunk.state);
    let c = &w.layout.config;
    let lookback = c.lookback();
    assert!(
        tbptt > 0 && tbptt.is_multiple_of(lookback),
        "T must be a positive multiple of L"
    );
    assert_eq!(
        window.len(),
        batch * (lookback + tbptt),
        "window is not [B, L+T]"
    );
    assert_eq!(reset.len(), batch, "reset is not [B]");
    assert!(
        window.iter().all(|&x| (x as usize) < c.levels),
        "token out of range"
    );
    if state.is_empty() {
        assert!(
            reset.iter().all(|&x| x),
            "no state given, but a stream is not reset"
        );
    } else {
        assert_eq!(state.len(), c.tiers(), "state is not one per tier");
        let size = c.rnn_layers * batch * c.dim;
        assert!(
            state.iter().all(|s| s.len() == size),
            "a state is not [R, B, D]"
        );
    }
}

/// The training forward of one [`Chunk`]. Tiers run top-down, then the MLP at every target.
/// Panics when the sizes disagree or a token is not below q.
pub fn forward(layout: &SrnnLayout, params: &[f64], chunk: Chunk) -> Forward {
    let w = Weights::new(layout, params);
    check_chunk(w, chunk);
    let Chunk {
        window,
        batch,
        tbptt,
        reset,
        state,
    } = chunk;
    let c = &layout.config;
    let (tiers, lookback, fs0, d, q) = (c.tiers(), c.lookback(), c.frame_sizes[0], c.dim, c.levels);
    let h_start = start_states(w, batch, reset, state);
    let mut hn = h_start.clone();
    let mut cond = vec![Vec::new(); tiers];
    let mut cells = vec![Vec::new(); tiers];
    for k in (0..tiers).rev() {
        let above = cond.get(k + 1).map(Vec::as_slice);
        let (ck, cells_k) = run_tier(w, k, window, (batch, tbptt), above, &mut hn[k]);
        (cond[k], cells[k]) = (ck, cells_k);
    }
    let span = lookback + tbptt;
    let (mut mlps, mut logp, mut nll) = (Vec::new(), Vec::new(), 0.0);
    for b in 0..batch {
        let row = &window[b * span..][..span];
        for j in 0..tbptt {
            let m = mlp(
                w,
                &row[lookback - fs0 + j..lookback + j],
                &cond[0][(b * tbptt + j) * d..][..d],
            );
            nll -= m.logp[row[lookback + j] as usize];
            logp.extend_from_slice(&m.logp);
            mlps.push(m);
        }
    }
    debug_assert_eq!(logp.len(), batch * tbptt * q);
    let loss_nats = nll / (batch * tbptt) as f64;
    Forward {
        logp,
        loss_nats,
        loss_bits: loss_nats / std::f64::consts::LN_2,
        h_start,
        hn,
        cond,
        cells,
        mlp: mlps,
    }
}
