//! The CPU twin of the GPU draw: the same counter-based random numbers and the same rule
//! for temperature, top-k and the inverse-CDF pick, in f64. Tests use it to check the GPU.

fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// Uniform in [0, 1) from (seed, stream, step), bit-identical to `uniform01` in sample.wgsl.
pub fn uniform(seed: u64, stream: u32, step: u32) -> f32 {
    let (lo, hi) = (seed as u32, (seed >> 32) as u32);
    let x = pcg(pcg(pcg(lo ^ pcg(hi)).wrapping_add(stream)).wrapping_add(step));
    (x >> 8) as f32 * (1.0 / 16777216.0)
}

/// Which tokens may be drawn and with what weight: exp((l - max) / T), zero outside the
/// top k (ties to the lower index). `None` for argmax (temperature 0).
pub fn weights(logits: &[f64], temperature: f64, top_k: usize) -> Option<Vec<f64>> {
    if temperature <= 0.0 {
        return None;
    }
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let v = logits.len();
    Some(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let keep = top_k == 0
                    || top_k >= v
                    || logits
                        .iter()
                        .enumerate()
                        .filter(|&(q, &o)| o > l || (o == l && q < i))
                        .count()
                        < top_k;
                if keep {
                    ((l - m) / temperature).exp()
                } else {
                    0.0
                }
            })
            .collect(),
    )
}

/// The token the GPU draws from these logits with random number `u`.
pub fn draw(logits: &[f64], temperature: f64, top_k: usize, u: f32) -> u32 {
    let Some(w) = weights(logits, temperature, top_k) else {
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        return logits.iter().position(|&l| l == m).unwrap_or(0) as u32;
    };
    let total: f64 = w.iter().sum();
    let target = u as f64 * total;
    let mut acc = 0.0;
    for (i, &wi) in w.iter().enumerate() {
        acc += wi;
        if wi > 0.0 && target < acc {
            return i as u32;
        }
    }
    w.iter().rposition(|&x| x > 0.0).unwrap_or(0) as u32
}

/// How close `u` lies to a bin edge of the draw, as a fraction of the total weight (tests
/// skip comparisons where f32 rounding on the GPU could move the pick).
pub fn edge_distance(logits: &[f64], temperature: f64, top_k: usize, u: f32) -> f64 {
    let Some(w) = weights(logits, temperature, top_k) else {
        return f64::INFINITY;
    };
    let total: f64 = w.iter().sum();
    let target = u as f64 * total;
    let mut acc = 0.0;
    let mut best = f64::INFINITY;
    for wi in w {
        acc += wi;
        best = best.min((acc - target).abs());
    }
    best / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_varies() {
        let xs: Vec<f32> = (0..1000).map(|i| uniform(42, 0, i)).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05);
        assert_ne!(uniform(1, 0, 0), uniform(2, 0, 0));
        assert_ne!(uniform(1, 0, 0), uniform(1, 1, 0));
    }

    #[test]
    fn top_k_and_argmax() {
        let l = [0.0, 3.0, 3.0, 1.0];
        assert_eq!(draw(&l, 0.0, 0, 0.5), 1);
        let w = weights(&l, 1.0, 2).unwrap();
        assert_eq!(w.iter().filter(|&&x| x > 0.0).count(), 2);
        assert!(w[1] > 0.0 && w[2] > 0.0);
        assert_eq!(draw(&l, 1.0, 1, 0.99), 1);
    }
}
