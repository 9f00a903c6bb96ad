//! Twins of `reduce.wgsl`: a scaled sum, the gradient norm and clip coefficient, and
//! column sums; and `clip_grad_norm`, built from them.

use crate::kernels::ops::reduce::{COLSUM_PARTS, NORM_PARTS};

/// Threads per workgroup of the grid-stride reductions.
const WG: usize = 256;

/// out[out_off] = scale * Σ x[in_off .. in_off + n].
pub fn sum(x: &[f64], in_off: usize, n: usize, scale: f64, out: &mut [f64], out_off: usize) {
    out[out_off] = x[in_off..in_off + n].iter().sum::<f64>() * scale;
}

/// out[out_off + w] = Σ x[in_off + i]² over the i of workgroup w's grid-stride slice
/// (i = w*256 + lane + r*parts*256), for w < parts.
pub fn sumsq_partial(
    x: &[f64],
    in_off: usize,
    n: usize,
    parts: usize,
    out: &mut [f64],
    out_off: usize,
) {
    let part = &mut out[out_off..out_off + parts];
    part.fill(0.0);
    for (i, v) in x[in_off..in_off + n].iter().enumerate() {
        part[(i / WG) % parts] += v * v;
    }
}

/// From the `parts` partial sums of squares at stats[parts_off ..]: stats[0] = the norm,
/// stats[1] = min(max_norm / (norm + 1e-6), 1). `grads` is bound on the GPU but not read.
pub fn clip_coef(_grads: &[f64], stats: &mut [f64], parts_off: usize, parts: usize, max_norm: f64) {
    let norm = stats[parts_off..parts_off + parts]
        .iter()
        .sum::<f64>()
        .sqrt();
    stats[0] = norm;
    stats[1] = (max_norm / (norm + 1e-6)).min(1.0);
}

/// out[out_off + j] = Σ_i x[in_off + i*cols + j] for i < rows, through `scratch`: row
/// chunks, then their sum in order.
#[allow(clippy::too_many_arguments)]
pub fn colsum(
    x: &[f64],
    in_off: usize,
    rows: usize,
    cols: usize,
    out: &mut [f64],
    out_off: usize,
    scratch: &mut [f64],
) {
    let chunk = rows.div_ceil(COLSUM_PARTS).max(1);
    let parts = rows.div_ceil(chunk);
    colsum_partial(x, in_off, rows, cols, chunk, scratch);
    colsum_finish(scratch, parts, cols, out, out_off);
}

/// partials[y*cols + j] = Σ x[in_off + i*cols + j] over the rows i of chunk y.
pub fn colsum_partial(
    x: &[f64],
    in_off: usize,
    rows: usize,
    cols: usize,
    chunk: usize,
    partials: &mut [f64],
) {
    for y in 0..rows.div_ceil(chunk) {
        for j in 0..cols {
            partials[y * cols + j] = (y * chunk..((y + 1) * chunk).min(rows))
                .map(|i| x[in_off + i * cols + j])
                .sum();
        }
    }
}

/// out[out_off + j] = Σ_y partials[y*cols + j] for y < parts.
pub fn colsum_finish(partials: &[f64], parts: usize, cols: usize, out: &mut [f64], out_off: usize) {
    for j in 0..cols {
        out[out_off + j] = (0..parts).map(|y| partials[y * cols + j]).sum();
    }
}

/// `torch.nn.utils.clip_grad_norm_`: total = L2 norm of all grads;
/// coef = min(max_norm / (total + 1e-6), 1); grads *= coef. Returns total (before clipping).
/// The engine's `sumsq_partial` and `clip_coef` (Adam applies the coefficient).
pub fn clip_grad_norm(grads: &mut [f64], max_norm: f64) -> f64 {
    let mut stats = vec![0.0; 2 + NORM_PARTS];
    sumsq_partial(grads, 0, grads.len(), NORM_PARTS, &mut stats, 2);
    clip_coef(grads, &mut stats, 2, NORM_PARTS, max_norm);
    for g in grads.iter_mut() {
        *g *= stats[1];
    }
    stats[0]
}
