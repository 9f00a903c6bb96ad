//! PyTorch's default initialisation, reproducible from a seed.

use super::{ParamKind, ParamLayout};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// GRU weights and biases and the head U(-1/√H, 1/√H); the embedding N(0, 1).
/// Padding between tensors stays 0.
pub fn init_params(layout: &ParamLayout, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bound = 1.0 / (layout.config.hidden as f64).sqrt();
    let mut flat = vec![0.0f32; layout.total];
    for e in &layout.entries {
        let view = &mut flat[e.offset..e.offset + e.len];
        match e.kind {
            ParamKind::Embedding => {
                for x in view {
                    let v: f64 = StandardNormal.sample(&mut rng);
                    *x = v as f32;
                }
            }
            _ => {
                for x in view {
                    *x = rng.random_range(-bound..bound) as f32;
                }
            }
        }
    }
    flat
}
