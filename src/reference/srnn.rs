//! Twins of `samplernn.wgsl`: the SampleRNN training glue, index for index.

use crate::kernels::ops::srnn::{
    CondParams, EltParams, FramesParams, H0Params, MlpInputParams, TapParams,
};
use crate::kernels::ops::us;

/// out[row*n + i] = 2*(tok/(q/2) - 1) of tokens[b*tok_stride + tok_off + m*n + i].
pub fn srnn_frames(p: &FramesParams, tokens: &[u32], out: &mut [f64]) {
    let (b, n, half) = (us(p.batch), us(p.n), p.half as f64);
    for row in 0..us(p.rows) {
        let (m, bi) = (row / b, row % b);
        for i in 0..n {
            let tok = tokens[bi * us(p.tok_stride) + us(p.tok_off) + m * n + i];
            out[row * n + i] = 2.0 * (tok as f64 / half - 1.0);
        }
    }
}

/// Index of the upper tier's slot for lower row `row`, dimension d.
fn cond_at(p: &CondParams, row: usize, d: usize) -> usize {
    let (b, dim, fs) = (us(p.batch), us(p.dim), us(p.fs));
    let m = row / b;
    us(p.y_off) + ((m / fs) * b + row % b) * dim * fs + d * fs + m % fs
}

/// x[x_off + row*D + d] += y[cond_at(row, d)].
pub fn srnn_cond_add(p: &CondParams, y: &[f64], x: &mut [f64]) {
    let d = us(p.dim);
    for e in 0..us(p.rows) * d {
        x[us(p.x_off) + e] += y[cond_at(p, e / d, e % d)];
    }
}

/// dy[cond_at(row, d)] = dx[x_off + row*D + d].
pub fn srnn_cond_grad(p: &CondParams, dx: &[f64], dy: &mut [f64]) {
    let d = us(p.dim);
    for e in 0..us(p.rows) * d {
        dy[cond_at(p, e / d, e % d)] = dx[us(p.x_off) + e];
    }
}

fn mlp_cond_at(p: &MlpInputParams, row: usize, d: usize) -> usize {
    let (b, dim, fs0) = (us(p.batch), us(p.dim), us(p.fs0));
    let t = row / b;
    ((t / fs0) * b + row % b) * dim * fs0 + d * fs0 + t % fs0
}

/// a[row*D + d] = relu(y0[slot] + Σ_i tables[(i*q + tok_i)*D + d]).
pub fn srnn_mlp_input(
    p: &MlpInputParams,
    tokens: &[u32],
    tables: &[f64],
    y0: &[f64],
    a: &mut [f64],
) {
    let (b, dim, q) = (us(p.batch), us(p.dim), us(p.levels));
    for (e, out) in a.iter_mut().enumerate().take(us(p.rows) * dim) {
        let (row, d) = (e / dim, e % dim);
        let at = (row % b) * us(p.tok_stride) + us(p.tok_off) + row / b;
        let mut s = y0[mlp_cond_at(p, row, d)];
        for i in 0..us(p.fs0) {
            let tok = (tokens[at + i] as usize).min(q - 1);
            s += tables[(i * q + tok) * dim + d];
        }
        *out = s.max(0.0);
    }
}

/// da *= (a > 0); dy0[slot] = da.
pub fn srnn_mlp_input_backward(p: &MlpInputParams, a: &[f64], da: &mut [f64], dy0: &mut [f64]) {
    let dim = us(p.dim);
    for e in 0..us(p.rows) * dim {
        let g = if a[e] > 0.0 { da[e] } else { 0.0 };
        da[e] = g;
        dy0[mlp_cond_at(p, e / dim, e % dim)] = g;
    }
}

/// x = max(x, 0) over n elements from off.
pub fn srnn_relu(p: &EltParams, x: &mut [f64]) {
    for v in &mut x[us(p.off)..][..us(p.n)] {
        *v = v.max(0.0);
    }
}

/// dy = 0 where y <= 0.
pub fn srnn_relu_backward(p: &EltParams, y: &[f64], dy: &mut [f64]) {
    for e in us(p.off)..us(p.off) + us(p.n) {
        if y[e] <= 0.0 {
            dy[e] = 0.0;
        }
    }
}

/// dst[dst_off + (d*q + v)*FS_0 + i] = src[(i*D + d)*q + v].
pub fn srnn_tap_interleave(p: &TapParams, src: &[f64], dst: &mut [f64]) {
    let (taps, dv) = (us(p.taps), us(p.dim) * us(p.levels));
    for e in 0..taps * dv {
        dst[us(p.dst_off) + (e % dv) * taps + e / dv] = src[e];
    }
}

/// state[state_off + (l*B + b)*D + d] = h0[l*D + d] where reset[b] != 0.
pub fn srnn_h0_reset(p: &H0Params, reset: &[u32], params: &[f64], state: &mut [f64]) {
    let (b, d) = (us(p.batch), us(p.dim));
    for e in 0..us(p.layers) * b * d {
        if reset[(e / d) % b] != 0 {
            state[us(p.state_off) + e] = params[us(p.h0_off) + (e / (b * d)) * d + e % d];
        }
    }
}

/// grads[h0_off + d] = Σ over reset streams of dh0[state_off + b*D + d].
pub fn srnn_h0_grad(p: &H0Params, reset: &[u32], dh0: &[f64], grads: &mut [f64]) {
    let (b, d) = (us(p.batch), us(p.dim));
    for k in 0..d {
        grads[us(p.h0_off) + k] = (0..b)
            .filter(|&s| reset[s] != 0)
            .map(|s| dh0[us(p.state_off) + s * d + k])
            .sum();
    }
}
