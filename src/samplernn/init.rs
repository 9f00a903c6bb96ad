//! samplernn-pytorch's initialisation (SAMPLERNN_SPEC "Initialisation"), reproducible from
//! a seed (the same generator as the GRU-LM's `model::init_params`).

use super::{SrnnConfig, SrnnLayout, SrnnParam::*};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The parameters of a fresh model in the flat layout of `SrnnLayout::new(c)` (padding 0):
/// - h0 and every bias 0;
/// - `input_expand.weight` U(±√(6/n_k)); `upsampling.conv_t.weight` and `hidden.weight`
///   U(±√(6/D)); `output.weight` and each gate block of `weight_ih_l*` U(±√(3/D));
///   `input.weight` U(±√(6/(q·FS_0)));
/// - `weight_hh_l*`: the r and z blocks U(±√(3/D)), the candidate block (rows 2D..3D) a
///   random orthogonal matrix (Gram-Schmidt in f64 of a Gaussian matrix);
/// - `embedding.weight` N(0, 1).
pub fn init_params(c: &SrnnConfig, seed: u64) -> Vec<f32> {
    let layout = SrnnLayout::new(c);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (d, q, fs0) = (c.dim as f64, c.levels as f64, c.frame_sizes[0] as f64);
    let mut flat = vec![0.0f32; layout.total];
    for e in &layout.entries {
        let view = &mut flat[e.offset..e.offset + e.len];
        let bound = match e.kind {
            ExpandWeight(k) => (6.0 / c.frame_samples(k) as f64).sqrt(),
            WeightIh(..) | WeightHh(..) | OutputWeight => (3.0 / d).sqrt(),
            UpWeight(_) | HiddenWeight => (6.0 / d).sqrt(),
            InputWeight => (6.0 / (q * fs0)).sqrt(),
            Embedding => {
                for x in view {
                    let v: f64 = StandardNormal.sample(&mut rng);
                    *x = v as f32;
                }
                continue;
            }
            H0(_) | ExpandBias(_) | BiasIh(..) | BiasHh(..) | UpBias(_) | HiddenBias
            | OutputBias => continue,
        };
        let split = match e.kind {
            WeightHh(..) => 2 * c.dim * c.dim,
            _ => e.len,
        };
        let (uniform_part, orthogonal_part) = view.split_at_mut(split);
        for x in uniform_part {
            *x = rng.random_range(-bound..bound) as f32;
        }
        if !orthogonal_part.is_empty() {
            let m = orthogonal(c.dim, &mut rng);
            for (x, v) in orthogonal_part.iter_mut().zip(m) {
                *x = v as f32;
            }
        }
    }
    flat
}

/// A random orthogonal `[n, n]` matrix, row-major: the Q of a Gaussian matrix's QR with
/// R's diagonal positive (`torch.nn.init.orthogonal_`, gain 1), by modified Gram-Schmidt
/// over the columns, run twice for orthogonality to rounding.
fn orthogonal(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let a: Vec<f64> = (0..n * n)
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    // cols[j][i] = a[i][j]
    let mut cols: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..n).map(|i| a[i * n + j]).collect())
        .collect();
    for j in 0..n {
        let (done, rest) = cols.split_at_mut(j);
        let v = &mut rest[0];
        for _pass in 0..2 {
            for qp in done.iter() {
                let proj: f64 = qp.iter().zip(v.iter()).map(|(x, y)| x * y).sum();
                for (vi, qi) in v.iter_mut().zip(qp) {
                    *vi -= proj * qi;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for vi in v.iter_mut() {
            *vi /= norm;
        }
    }
    (0..n * n).map(|k| cols[k % n][k / n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor<'a>(layout: &SrnnLayout, flat: &'a [f32], name: &str) -> &'a [f32] {
        let e = layout.by_name(name).unwrap();
        &flat[e.offset..e.offset + e.len]
    }

    #[test]
    fn follows_the_spec_and_is_reproducible() {
        let c = SrnnConfig::new(&[4, 2], 32, 2, 64).unwrap();
        let layout = SrnnLayout::new(&c);
        let p = init_params(&c, 7);
        assert_eq!(p, init_params(&c, 7));
        assert_ne!(p, init_params(&c, 8));
        let within = |name: &str, bound: f64| {
            let t = tensor(&layout, &p, name);
            let max = t.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
            assert!(
                max <= bound && max > 0.8 * bound,
                "{name}: max {max}, bound {bound}"
            );
        };
        within(
            "frame_level_rnns.1.input_expand.weight",
            (6.0f64 / 8.0).sqrt(),
        );
        within(
            "frame_level_rnns.0.rnn.weight_ih_l1",
            (3.0f64 / 32.0).sqrt(),
        );
        within(
            "frame_level_rnns.0.upsampling.conv_t.weight",
            (6.0f64 / 32.0).sqrt(),
        );
        within("sample_level_mlp.input.weight", (6.0f64 / 256.0).sqrt());
        within("sample_level_mlp.output.weight", (3.0f64 / 32.0).sqrt());
        for e in &layout.entries {
            let zero = e.name.contains("bias") || e.name.ends_with("h0");
            let t = &p[e.offset..e.offset + e.len];
            assert_eq!(t.iter().all(|&x| x == 0.0), zero, "{}", e.name);
        }
        let emb = tensor(&layout, &p, "sample_level_mlp.embedding.weight");
        let var = emb.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / emb.len() as f64;
        assert!((var - 1.0).abs() < 0.1, "embedding variance {var}");
        // The candidate block of W_hh is orthogonal; the r and z blocks are not.
        let hh = tensor(&layout, &p, "frame_level_rnns.1.rnn.weight_hh_l0");
        let d = 32;
        let cand = &hh[2 * d * d..];
        for i in 0..d {
            for j in 0..d {
                let dot: f64 = (0..d)
                    .map(|k| f64::from(cand[i * d + k]) * f64::from(cand[j * d + k]))
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "Q Qᵀ [{i}, {j}] = {dot}");
            }
        }
        let bound = (3.0f64 / 32.0).sqrt() as f32;
        assert!(hh[..2 * d * d].iter().all(|x| x.abs() <= bound));
        assert!(cand.iter().any(|x| x.abs() > bound));
    }
}
