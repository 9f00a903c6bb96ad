//! Hyper-parameters of the SampleRNN family (docs/SAMPLERNN_SPEC.md): frame sizes, width D,
//! GRU layers per tier R and quantisation levels q, and the named configurations.

use anyhow::{bail, Result};

/// Largest D: 4096 already makes one tier's W_hh 200 MB.
pub const MAX_DIM: usize = 1 << 12;
/// Largest number of frame tiers, GRU layers per tier, and lookback L (samples).
pub const MAX_TIERS: usize = 8;
pub const MAX_RNN_LAYERS: usize = 16;
pub const MAX_LOOKBACK: usize = 1 << 14;
/// Largest q (the embedding is [q, q]).
pub const MAX_LEVELS: usize = 1 << 12;

/// Shape of a SampleRNN: frame sizes bottom tier first, width D, GRU layers per tier R,
/// levels q.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrnnConfig {
    pub frame_sizes: Vec<usize>,
    pub dim: usize,
    pub rnn_layers: usize,
    pub levels: usize,
}

/// A named configuration: model plus batch B and window T (targets per chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrnnPreset {
    pub name: &'static str,
    pub frame_sizes: &'static [usize],
    pub dim: usize,
    pub rnn_layers: usize,
    pub levels: usize,
    pub batch: usize,
    pub tbptt: usize,
}

/// The spec's configurations (SAMPLERNN_SPEC "Named configurations").
pub const SRNN_PRESETS: [SrnnPreset; 3] = [
    SrnnPreset::new("srnn-tiny", &[4, 2], 32, 1, 4, 32),
    SrnnPreset::new("srnn-small", &[16, 4], 256, 1, 32, 512),
    SrnnPreset::new("srnn-base", &[16, 4], 1024, 2, 128, 1024),
];

impl SrnnPreset {
    const fn new(
        name: &'static str,
        frame_sizes: &'static [usize],
        dim: usize,
        rnn_layers: usize,
        batch: usize,
        tbptt: usize,
    ) -> Self {
        SrnnPreset {
            name,
            frame_sizes,
            dim,
            rnn_layers,
            levels: 256,
            batch,
            tbptt,
        }
    }

    pub fn by_name(name: &str) -> Option<SrnnPreset> {
        SRNN_PRESETS.iter().find(|p| p.name == name).copied()
    }

    pub fn config(&self) -> SrnnConfig {
        SrnnConfig {
            frame_sizes: self.frame_sizes.to_vec(),
            dim: self.dim,
            rnn_layers: self.rnn_layers,
            levels: self.levels,
        }
    }
}

impl SrnnConfig {
    pub fn new(
        frame_sizes: &[usize],
        dim: usize,
        rnn_layers: usize,
        levels: usize,
    ) -> Result<Self> {
        let c = SrnnConfig {
            frame_sizes: frame_sizes.to_vec(),
            dim,
            rnn_layers,
            levels,
        };
        c.validate()?;
        Ok(c)
    }

    /// Every size bounded before anything is allocated from it (sizes come from flags
    /// and files).
    pub fn validate(&self) -> Result<()> {
        if self.frame_sizes.is_empty() || self.frame_sizes.len() > MAX_TIERS {
            bail!(
                "a SampleRNN needs 1 to {MAX_TIERS} frame tiers, got {}",
                self.frame_sizes.len()
            );
        }
        if self.frame_sizes.contains(&0) {
            bail!("frame sizes must be at least 1, got {:?}", self.frame_sizes);
        }
        let mut n = 1usize;
        for &fs in &self.frame_sizes {
            n = n.saturating_mul(fs);
        }
        if n > MAX_LOOKBACK {
            bail!(
                "frame sizes {:?} give a lookback of {n} samples, more than {MAX_LOOKBACK}",
                self.frame_sizes
            );
        }
        for (what, v, max) in [
            ("width D", self.dim, MAX_DIM),
            ("GRU layers per tier R", self.rnn_layers, MAX_RNN_LAYERS),
            ("levels q", self.levels, MAX_LEVELS),
        ] {
            if v == 0 || v > max {
                bail!("the SampleRNN {what} is {v}: it must be 1 to {max}");
            }
        }
        if self.levels < 2 {
            bail!("a SampleRNN needs at least 2 levels");
        }
        Ok(())
    }

    /// Frame tiers K.
    pub fn tiers(&self) -> usize {
        self.frame_sizes.len()
    }

    /// n_k: samples in one frame of tier k (FS_0 * ... * FS_k).
    pub fn frame_samples(&self, k: usize) -> usize {
        self.frame_sizes[..=k].iter().product()
    }

    /// Lookback L = n_{K-1}.
    pub fn lookback(&self) -> usize {
        self.frame_samples(self.tiers() - 1)
    }

    /// The token that fills the lookback (q/2).
    pub fn zero_level(&self) -> u32 {
        (self.levels / 2) as u32
    }

    /// "srnn-tiny ([4, 2] D=32 R=1 q=256)", or "custom (...)".
    pub fn named(&self) -> String {
        let name = SRNN_PRESETS
            .iter()
            .find(|p| p.config() == *self)
            .map_or("custom", |p| p.name);
        format!("{name} ({self})")
    }

    /// Forward FLOPs per sample (a multiply-add counts 2), the spec's formula; `folded`
    /// replaces the MLP's first layer by FS_0 table lookups.
    pub fn forward_flops_per_sample(&self, folded: bool) -> f64 {
        let (d, q, fs0) = (
            self.dim as f64,
            self.levels as f64,
            self.frame_sizes[0] as f64,
        );
        let first = if folded { fs0 * d } else { 2.0 * fs0 * q * d };
        let mut f = first + 2.0 * d * d + 2.0 * d * q;
        for k in 0..self.tiers() {
            let n = self.frame_samples(k) as f64;
            let fs = self.frame_sizes[k] as f64;
            let r = self.rnn_layers as f64;
            f += (2.0 * n * d + 12.0 * r * d * d + 2.0 * d * d * fs) / n;
        }
        f
    }
}

impl std::fmt::Display for SrnnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} D={} R={} q={}",
            self.frame_sizes, self.dim, self.rnn_layers, self.levels
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplernn::SrnnLayout;

    #[test]
    fn presets_have_the_spec_parameter_counts_and_flops() {
        let count =
            |n: &str| SrnnLayout::new(&SrnnPreset::by_name(n).unwrap().config()).param_count();
        assert_eq!(count("srnn-tiny"), 127_328);
        assert_eq!(count("srnn-small"), 3_372_544);
        assert_eq!(count("srnn-base"), 51_842_304);
        let c = SrnnPreset::by_name("srnn-small").unwrap().config();
        assert!((c.forward_flops_per_sample(false) / 1e6 - 2.56).abs() < 0.01);
        assert!((c.forward_flops_per_sample(true) / 1e6 - 0.47).abs() < 0.01);
        assert_eq!(c.lookback(), 64);
        assert_eq!(c.frame_samples(0), 16);
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(SrnnConfig::new(&[], 32, 1, 256).is_err());
        assert!(SrnnConfig::new(&[4, 0], 32, 1, 256).is_err());
        assert!(SrnnConfig::new(&[1 << 10, 1 << 10], 32, 1, 256).is_err());
        assert!(SrnnConfig::new(&[4, 2], 0, 1, 256).is_err());
        assert!(SrnnConfig::new(&[4, 2], 32, 1, 1).is_err());
        assert!(SrnnConfig::new(&[4, 2], 1 << 20, 1, 256).is_err());
        assert!(SrnnConfig::new(&[usize::MAX, usize::MAX], 32, 1, 256).is_err());
    }
}
