//! Sample-by-sample generation (SAMPLERNN_SPEC "Sampling", samplernn-pytorch's
//! `Generator`), with given uniforms and an optional teacher-forced prime per stream.

use super::dequantize;
use super::forward::{mlp, tempered, tier_step};
use super::Weights;
use crate::samplernn::SrnnLayout;
use crate::samplernn::SrnnParam::H0;

/// What [`generate`] drew, for S streams and N sampled steps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    /// `[S, N]`: the sampled tokens s[L+P], s[L+P+1], ... (P = the stream's prime length).
    pub tokens: Vec<u32>,
    /// `[S, N, q]`: the MLP's log-softmax at each sampled step, before the temperature.
    pub logp: Vec<f64>,
    /// `[S, N, q]`: `softmax(logp / temperature)`, the distribution drawn from.
    pub probs: Vec<f64>,
    /// `[S, N, D]`: the bottom tier's conditioning vector the MLP used at each sampled step.
    pub cond0: Vec<f64>,
}

/// The smallest v with `probs[0] + ... + probs[v] > u`; q-1 if rounding leaves none.
pub fn inverse_cdf(probs: &[f64], u: f64) -> u32 {
    let mut cum = 0.0;
    for (v, p) in probs.iter().enumerate() {
        cum += p;
        if cum > u {
            return v as u32;
        }
    }
    probs.len() as u32 - 1
}

/// Generates N = `uniforms.len() / streams` samples per stream from the lookback q/2 and
/// every tier's h0; `uniforms` is `[S, N]`, one u in [0, 1) per stream and step.
pub fn generate(
    layout: &SrnnLayout,
    params: &[f64],
    uniforms: &[f64],
    streams: usize,
    temperature: f64,
) -> Generated {
    let none = vec![Vec::new(); streams];
    generate_primed(layout, params, uniforms, streams, temperature, &none)
}

/// [`generate`] after a teacher-forced prime: stream s's sequence is q/2 (L times), then
/// `prime[s]` (P_s tokens, fed as if they had been sampled: the tiers and the MLP run at
/// those steps, but nothing is drawn or recorded), then the N sampled tokens. The state
/// after the prime is exactly that of a training forward over `[q/2]*L + prime[s]` from h0.
/// Panics unless `prime.len() == streams`, `uniforms.len()` is a multiple of `streams`,
/// the temperature is positive and every prime token is below q.
pub fn generate_primed(
    layout: &SrnnLayout,
    params: &[f64],
    uniforms: &[f64],
    streams: usize,
    temperature: f64,
    prime: &[Vec<u32>],
) -> Generated {
    let w = Weights::new(layout, params);
    assert!(
        streams > 0 && uniforms.len().is_multiple_of(streams),
        "uniforms is not [S, N]"
    );
    assert_eq!(prime.len(), streams, "one prime per stream");
    assert!(temperature > 0.0, "the temperature must be positive");
    let levels = layout.config.levels;
    assert!(
        prime.iter().flatten().all(|&x| (x as usize) < levels),
        "prime token out of range"
    );
    let n = uniforms.len() / streams;
    let mut out = Generated::default();
    for (s, p) in prime.iter().enumerate() {
        generate_stream(w, p, &uniforms[s * n..][..n], temperature, &mut out);
    }
    out
}

/// One stream: steps t = L, L+1, ..., first the prime's, then one per uniform.
fn generate_stream(w: Weights, prime: &[u32], u: &[f64], temperature: f64, out: &mut Generated) {
    let c = &w.layout.config;
    let (tiers, lookback, d, fs0) = (c.tiers(), c.lookback(), c.dim, c.frame_sizes[0]);
    let mut seq = vec![c.zero_level(); lookback];
    let mut state: Vec<Vec<Vec<f64>>> = (0..tiers)
        .map(|k| w.get(H0(k)).chunks_exact(d).map(<[f64]>::to_vec).collect())
        .collect();
    // up[k]: tier k's latest FS_k output vectors, [FS_k, D].
    let mut up: Vec<Vec<f64>> = vec![Vec::new(); tiers];
    for t in lookback..lookback + prime.len() + u.len() {
        for k in (0..tiers).rev() {
            let n = c.frame_samples(k);
            if !t.is_multiple_of(n) {
                continue;
            }
            let frame: Vec<f64> = seq[t - n..t]
                .iter()
                .map(|&x| dequantize(x, c.levels))
                .collect();
            let slot = (k + 1 < tiers).then(|| (t / n) % c.frame_sizes[k + 1]);
            let cond = slot.map(|j| &up[k + 1][j * d..][..d]);
            up[k] = tier_step(w, k, &frame, cond, &mut state[k]).1;
        }
        let c0 = &up[0][(t % fs0) * d..][..d];
        let m = mlp(w, &seq[t - fs0..t], c0);
        if let Some(&tok) = prime.get(t - lookback) {
            seq.push(tok);
            continue;
        }
        let probs = tempered(&m.logp, temperature);
        let tok = inverse_cdf(&probs, u[t - lookback - prime.len()]);
        seq.push(tok);
        out.tokens.push(tok);
        out.logp.extend_from_slice(&m.logp);
        out.probs.extend_from_slice(&probs);
        out.cond0.extend_from_slice(c0);
    }
}
