//! Plain-Rust f64 CPU reference of the GRU language model (MODEL_SPEC.md).
//!
//! This module is the ground truth the GPU engine is tested against. It favours clarity
//! over speed: straightforward loops, f64 everywhere, no unsafe code and no dependencies
//! beyond the crate's own parameter layout.
//!
//! Conventions:
//! - Parameters (and gradients) are one flat `&[f64]` in the [`ParamLayout`]; each tensor is
//!   found with `layout.view(params, ParamKind::...)`. The padding between tensors is never
//!   read, and its gradient is always 0 (so Adam leaves it unchanged).
//! - Token windows are `[B, T]` row-major (batch `b`, step `t` at `b * T + t`).
//! - Hidden states are `[L, B, H]`, per-step activations `[B, T, H]`, logits `[B, T, V]`.
//! - GRU weights are `[3H, in]` with row blocks in PyTorch's gate order r, z, n.

use crate::model::{ParamKind, ParamLayout};

/// Output of a forward pass over a [B, T] window.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Logits, `[B, T, V]`.
    pub logits: Vec<f64>,
    /// Mean cross-entropy in nats over all B*T predictions.
    pub loss: f64,
    /// Final hidden state of every layer, `[L, B, H]`.
    pub hn: Vec<f64>,
    /// Hidden state of each layer at every step, one `[B, T, H]` vector per layer.
    pub layer_out: Vec<Vec<f64>>,
}

/// Gradients of the mean loss.
#[derive(Clone, Debug)]
pub struct Backward {
    /// d loss / d params, flat, same layout and length (`layout.total`) as the parameters.
    /// Padding entries are 0.
    pub grads: Vec<f64>,
    /// d loss / d h0, `[L, B, H]`.
    pub grad_h0: Vec<f64>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `y[i] = sum_j w[i, j] * x[j] + bias[i]` for a row-major `w` of shape `[y.len(), x.len()]`.
fn affine(w: &[f64], bias: &[f64], x: &[f64], y: &mut [f64]) {
    let cols = x.len();
    debug_assert_eq!(w.len(), y.len() * cols);
    for (i, yi) in y.iter_mut().enumerate() {
        let row = &w[i * cols..(i + 1) * cols];
        *yi = bias[i] + row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
    }
}

/// Everything one GRU layer's backward pass needs from its forward pass.
/// All vectors are `[B, T, width]`, row-major.
struct LayerCache {
    /// Input width (E for layer 0, H above it).
    inp: usize,
    /// The layer's input at each step.
    x: Vec<f64>,
    /// The hidden state the step started from, h_{t-1}.
    h_prev: Vec<f64>,
    /// Gates r, z and candidate n.
    r: Vec<f64>,
    z: Vec<f64>,
    n: Vec<f64>,
    /// `W_hn h_{t-1} + b_hn`, the recurrent part of n before it is gated by r.
    hn_lin: Vec<f64>,
}

/// Forward pass that keeps the activations for the backward pass.
/// Returns (logits, hn, layer outputs, caches).
fn forward_cached(
    layout: &ParamLayout,
    params: &[f64],
    tokens: &[u32],
    batch: usize,
    steps: usize,
    h0: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>, Vec<LayerCache>) {
    let c = layout.config;
    let (v, e, h, nl) = (c.vocab, c.embed, c.hidden, c.layers);
    let (b_n, t_n) = (batch, steps);
    assert_eq!(params.len(), layout.total, "params length != layout.total");
    assert_eq!(tokens.len(), b_n * t_n, "tokens must be [B, T]");
    assert_eq!(h0.len(), nl * b_n * h, "h0 must be [L, B, H]");

    // Layer 0 input: embedding rows of the tokens, [B, T, E].
    let emb = layout.view(params, ParamKind::Embedding);
    let mut x = Vec::with_capacity(b_n * t_n * e);
    for &tok in tokens {
        let tok = tok as usize;
        assert!(tok < v, "token id {tok} out of range (V = {v})");
        x.extend_from_slice(&emb[tok * e..(tok + 1) * e]);
    }

    let mut hn = vec![0.0; nl * b_n * h];
    let mut layer_out = Vec::with_capacity(nl);
    let mut caches = Vec::with_capacity(nl);
    for l in 0..nl {
        let inp = c.layer_input(l);
        let w_ih = layout.view(params, ParamKind::WeightIh(l));
        let w_hh = layout.view(params, ParamKind::WeightHh(l));
        let b_ih = layout.view(params, ParamKind::BiasIh(l));
        let b_hh = layout.view(params, ParamKind::BiasHh(l));

        let size = b_n * t_n * h;
        let mut out = vec![0.0; size];
        let mut h_prev_all = vec![0.0; size];
        let (mut r_all, mut z_all, mut n_all) = (vec![0.0; size], vec![0.0; size], vec![0.0; size]);
        let mut hn_lin_all = vec![0.0; size];

        // Pre-activations: gi = W_ih x + b_ih, gh = W_hh h + b_hh, each [3H] (r, z, n blocks).
        let mut gi = vec![0.0; 3 * h];
        let mut gh = vec![0.0; 3 * h];
        for b in 0..b_n {
            let mut hcur = h0[(l * b_n + b) * h..(l * b_n + b + 1) * h].to_vec();
            for t in 0..t_n {
                let bt = b * t_n + t;
                let xt = &x[bt * inp..(bt + 1) * inp];
                affine(w_ih, b_ih, xt, &mut gi);
                affine(w_hh, b_hh, &hcur, &mut gh);
                let s = bt * h;
                h_prev_all[s..s + h].copy_from_slice(&hcur);
                for j in 0..h {
                    let r = sigmoid(gi[j] + gh[j]);
                    let z = sigmoid(gi[h + j] + gh[h + j]);
                    let hn_lin = gh[2 * h + j];
                    let n = (gi[2 * h + j] + r * hn_lin).tanh();
                    let hnew = (1.0 - z) * n + z * hcur[j];
                    r_all[s + j] = r;
                    z_all[s + j] = z;
                    n_all[s + j] = n;
                    hn_lin_all[s + j] = hn_lin;
                    out[s + j] = hnew;
                }
                hcur.copy_from_slice(&out[s..s + h]);
            }
            hn[(l * b_n + b) * h..(l * b_n + b + 1) * h].copy_from_slice(&hcur);
        }

        caches.push(LayerCache {
            inp,
            x,
            h_prev: h_prev_all,
            r: r_all,
            z: z_all,
            n: n_all,
            hn_lin: hn_lin_all,
        });
        // The next layer's input is this layer's output.
        x = out.clone();
        layer_out.push(out);
    }

    // Head: logits = W_o h_top + b_o for every (b, t).
    let w_o = layout.view(params, ParamKind::HeadWeight);
    let b_o = layout.view(params, ParamKind::HeadBias);
    let top = &layer_out[nl - 1];
    let mut logits = vec![0.0; b_n * t_n * v];
    for bt in 0..b_n * t_n {
        affine(
            w_o,
            b_o,
            &top[bt * h..(bt + 1) * h],
            &mut logits[bt * v..(bt + 1) * v],
        );
    }
    (logits, hn, layer_out, caches)
}

/// Numerically stable `log(sum(exp(row)))`.
fn logsumexp(row: &[f64]) -> f64 {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + row.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

/// Mean cross-entropy over the rows of `logits` ([N, V]) against `targets` ([N]).
fn mean_cross_entropy(logits: &[f64], targets: &[u32], v: usize) -> f64 {
    assert_eq!(logits.len(), targets.len() * v, "targets must be [B, T]");
    let total: f64 = logits
        .chunks_exact(v)
        .zip(targets)
        .map(|(row, &tgt)| {
            assert!((tgt as usize) < v, "target id {tgt} out of range (V = {v})");
            logsumexp(row) - row[tgt as usize]
        })
        .sum();
    total / targets.len() as f64
}

/// Softmax of one row of logits (stable: the maximum is subtracted first).
/// For sampling at temperature `tau`, pass the logits divided by `tau`.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&x| (x - m).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|x| x / sum).collect()
}

/// Forward pass over a [B, T] window.
/// `tokens`, `targets`: [B, T] row-major token ids (< V). `h0`: [L, B, H].
pub fn forward(
    layout: &ParamLayout,
    params: &[f64],
    tokens: &[u32],
    targets: &[u32],
    batch: usize,
    steps: usize,
    h0: &[f64],
) -> Forward {
    let (logits, hn, layer_out, _) = forward_cached(layout, params, tokens, batch, steps, h0);
    let loss = mean_cross_entropy(&logits, targets, layout.config.vocab);
    Forward {
        logits,
        loss,
        hn,
        layer_out,
    }
}

/// Forward pass and full backpropagation through time over the window: gradients of the
/// mean loss for every parameter and for `h0`. (The loss does not depend on `hn` except
/// through the outputs, so no gradient enters from the end of the window.)
pub fn forward_backward(
    layout: &ParamLayout,
    params: &[f64],
    tokens: &[u32],
    targets: &[u32],
    batch: usize,
    steps: usize,
    h0: &[f64],
) -> (Forward, Backward) {
    let c = layout.config;
    let (v, e, h, nl) = (c.vocab, c.embed, c.hidden, c.layers);
    let (b_n, t_n) = (batch, steps);
    let (logits, hn, layer_out, caches) = forward_cached(layout, params, tokens, batch, steps, h0);
    let loss = mean_cross_entropy(&logits, targets, v);

    // Each tensor's gradient is accumulated in its own vector and copied into the flat
    // buffer at the end, so the padding stays exactly 0.
    let mut grads = vec![0.0; layout.total];
    let mut grad_h0 = vec![0.0; nl * b_n * h];

    // d loss / d logits = (softmax - onehot(target)) / (B*T).
    let scale = 1.0 / (b_n * t_n) as f64;
    let mut dlogits = vec![0.0; logits.len()];
    for (bt, row) in logits.chunks_exact(v).enumerate() {
        let p = softmax(row);
        let d = &mut dlogits[bt * v..(bt + 1) * v];
        for k in 0..v {
            d[k] = p[k] * scale;
        }
        d[targets[bt] as usize] -= scale;
    }

    // Head: logits = W_o h_top + b_o.
    let w_o = layout.view(params, ParamKind::HeadWeight);
    let top = &layer_out[nl - 1];
    let mut dw_o = vec![0.0; v * h];
    let mut db_o = vec![0.0; v];
    // Gradient flowing into the current layer's outputs, [B, T, H].
    let mut dout = vec![0.0; b_n * t_n * h];
    for bt in 0..b_n * t_n {
        let d = &dlogits[bt * v..(bt + 1) * v];
        let ht = &top[bt * h..(bt + 1) * h];
        let dh = &mut dout[bt * h..(bt + 1) * h];
        for k in 0..v {
            db_o[k] += d[k];
            for j in 0..h {
                dw_o[k * h + j] += d[k] * ht[j];
                dh[j] += w_o[k * h + j] * d[k];
            }
        }
    }
    layout
        .view_mut(&mut grads, ParamKind::HeadWeight)
        .copy_from_slice(&dw_o);
    layout
        .view_mut(&mut grads, ParamKind::HeadBias)
        .copy_from_slice(&db_o);

    // GRU layers, top to bottom; within a layer, steps from last to first.
    for l in (0..nl).rev() {
        let cache = &caches[l];
        let inp = cache.inp;
        let w_ih = layout.view(params, ParamKind::WeightIh(l));
        let w_hh = layout.view(params, ParamKind::WeightHh(l));
        let mut dw_ih = vec![0.0; 3 * h * inp];
        let mut dw_hh = vec![0.0; 3 * h * h];
        let mut db_ih = vec![0.0; 3 * h];
        let mut db_hh = vec![0.0; 3 * h];
        // Gradient into this layer's inputs: the layer below's outputs (or the embeddings).
        let mut dx = vec![0.0; b_n * t_n * inp];

        // Gradients of the pre-activations gi = W_ih x + b_ih and gh = W_hh h + b_hh.
        let mut dgi = vec![0.0; 3 * h];
        let mut dgh = vec![0.0; 3 * h];
        for b in 0..b_n {
            // d loss / d h_t coming from step t+1 (zero after the last step).
            let mut dh_next = vec![0.0; h];
            for t in (0..t_n).rev() {
                let bt = b * t_n + t;
                let s = bt * h;
                let hp = &cache.h_prev[s..s + h];
                for j in 0..h {
                    let dh = dout[s + j] + dh_next[j];
                    let (r, z, n) = (cache.r[s + j], cache.z[s + j], cache.n[s + j]);
                    // h' = (1 - z) n + z h
                    let dn = dh * (1.0 - z);
                    let dz = dh * (hp[j] - n);
                    // n = tanh(a_n), a_n = gi_n + r * hn_lin
                    let da_n = dn * (1.0 - n * n);
                    let dr = da_n * cache.hn_lin[s + j];
                    // r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
                    let da_r = dr * r * (1.0 - r);
                    let da_z = dz * z * (1.0 - z);
                    dgi[j] = da_r;
                    dgi[h + j] = da_z;
                    dgi[2 * h + j] = da_n;
                    dgh[j] = da_r;
                    dgh[h + j] = da_z;
                    dgh[2 * h + j] = da_n * r;
                    // Direct path h' <- z * h.
                    dh_next[j] = dh * z;
                }
                // Input-to-hidden: dW_ih += dgi x^T, db_ih += dgi, dx = W_ih^T dgi.
                let xt = &cache.x[bt * inp..(bt + 1) * inp];
                let dxt = &mut dx[bt * inp..(bt + 1) * inp];
                for i in 0..3 * h {
                    let g = dgi[i];
                    db_ih[i] += g;
                    for k in 0..inp {
                        dw_ih[i * inp + k] += g * xt[k];
                        dxt[k] += w_ih[i * inp + k] * g;
                    }
                }
                // Hidden-to-hidden: dW_hh += dgh h^T, db_hh += dgh, dh_prev += W_hh^T dgh.
                for i in 0..3 * h {
                    let g = dgh[i];
                    db_hh[i] += g;
                    for k in 0..h {
                        dw_hh[i * h + k] += g * hp[k];
                        dh_next[k] += w_hh[i * h + k] * g;
                    }
                }
            }
            // What is left after step 0 is the gradient of the initial state.
            grad_h0[(l * b_n + b) * h..(l * b_n + b + 1) * h].copy_from_slice(&dh_next);
        }
        layout
            .view_mut(&mut grads, ParamKind::WeightIh(l))
            .copy_from_slice(&dw_ih);
        layout
            .view_mut(&mut grads, ParamKind::WeightHh(l))
            .copy_from_slice(&dw_hh);
        layout
            .view_mut(&mut grads, ParamKind::BiasIh(l))
            .copy_from_slice(&db_ih);
        layout
            .view_mut(&mut grads, ParamKind::BiasHh(l))
            .copy_from_slice(&db_hh);
        dout = dx;
    }

    // Layer 0's input gradient goes to the embedding rows of the tokens (summed over repeats).
    let demb = layout.view_mut(&mut grads, ParamKind::Embedding);
    for (bt, &tok) in tokens.iter().enumerate() {
        let tok = tok as usize;
        for k in 0..e {
            demb[tok * e + k] += dout[bt * e + k];
        }
    }

    (
        Forward {
            logits,
            loss,
            hn,
            layer_out,
        },
        Backward { grads, grad_h0 },
    )
}

/// `torch.nn.utils.clip_grad_norm_`: total = L2 norm of all grads;
/// coef = min(max_norm / (total + 1e-6), 1); grads *= coef. Returns total (before clipping).
pub fn clip_grad_norm(grads: &mut [f64], max_norm: f64) -> f64 {
    let total = grads.iter().map(|g| g * g).sum::<f64>().sqrt();
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    for g in grads.iter_mut() {
        *g *= coef;
    }
    total
}

/// `torch.optim.Adam` without weight decay: bias-corrected moments, eps added after the
/// square root.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// First moment (`exp_avg`), same layout as the parameters.
    pub m: Vec<f64>,
    /// Second moment (`exp_avg_sq`).
    pub v: Vec<f64>,
    /// Steps taken so far.
    pub t: u64,
}

impl Adam {
    /// Adam for `n` parameters with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn new(n: usize, lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One update, step t = previous t + 1:
    /// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    pub fn step(&mut self, params: &mut [f64], grads: &[f64]) {
        assert_eq!(
            params.len(),
            self.m.len(),
            "params length != Adam state length"
        );
        assert_eq!(
            grads.len(),
            self.m.len(),
            "grads length != Adam state length"
        );
        self.t += 1;
        // beta^t underflows to 0 long before t reaches i32::MAX.
        let t = i32::try_from(self.t).unwrap_or(i32::MAX);
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let step_size = self.lr / bias1;
        for i in 0..params.len() {
            let g = grads[i];
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
            let denom = self.v[i].sqrt() / bias2_sqrt + self.eps;
            params[i] -= step_size * self.m[i] / denom;
        }
    }
}
