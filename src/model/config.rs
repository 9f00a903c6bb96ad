//! Hyper-parameters of the GRU language model (docs/MODEL_SPEC.md).

use anyhow::{bail, Result};

/// Largest vocabulary: the codecs use 256 and 388; wider ones reach the sampler's own
/// check (65,536) with a clear message rather than this one.
pub const MAX_VOCAB: usize = 1 << 20;
/// Largest E or H: 16384 already makes one weight_hh of 3 GiB.
pub const MAX_WIDTH: usize = 1 << 14;
pub const MAX_LAYERS: usize = 64;
/// Largest padded parameter count: offsets stay far below u32::MAX in the shaders, and a
/// model plus its gradient and Adam moments stays under 16 GiB.
pub const MAX_PARAMS: usize = 1 << 30;

/// Shape of a GRU-LM: vocabulary V, embedding E, hidden H, layers L.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
}

/// A named benchmark configuration from docs/MODEL_SPEC.md: model plus batch B and TBPTT length T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub model: ModelConfig,
    pub batch: usize,
    pub tbptt: usize,
}

/// Audio presets (docs/MODEL_SPEC.md), then MIDI event presets (V = 388, perf388): events
/// carry far more information than samples, so a chorale model fits in H = 256.
pub const PRESETS: [Preset; 6] = [
    Preset::new("tiny", 256, 32, 64, 1, 8, 64),
    Preset::new("small", 256, 64, 256, 1, 32, 128),
    Preset::new("base", 256, 256, 512, 2, 64, 128),
    Preset::new("large", 256, 256, 1024, 3, 128, 256),
    Preset::new("midi-small", 388, 64, 256, 1, 32, 128),
    Preset::new("midi-base", 388, 128, 512, 2, 32, 128),
];

impl Preset {
    const fn new(
        name: &'static str,
        vocab: usize,
        embed: usize,
        hidden: usize,
        layers: usize,
        batch: usize,
        tbptt: usize,
    ) -> Self {
        Preset {
            name,
            model: ModelConfig {
                vocab,
                embed,
                hidden,
                layers,
            },
            batch,
            tbptt,
        }
    }

    pub fn by_name(name: &str) -> Result<Preset> {
        match PRESETS.iter().find(|p| p.name == name) {
            Some(p) => Ok(*p),
            None => bail!(
                "unknown config '{name}': expected one of {}",
                PRESETS.map(|p| p.name).join(", ")
            ),
        }
    }
}

impl ModelConfig {
    pub fn new(vocab: usize, embed: usize, hidden: usize, layers: usize) -> Result<Self> {
        let c = ModelConfig {
            vocab,
            embed,
            hidden,
            layers,
        };
        c.validate()?;
        Ok(c)
    }

    /// Every dimension at least 1 and at most its bound, and the parameters few enough to
    /// be indexed by the shaders' u32 offsets: a size from a file or a flag is checked here,
    /// before anything is allocated from it.
    pub fn validate(&self) -> Result<()> {
        if self.vocab == 0 || self.embed == 0 || self.hidden == 0 || self.layers == 0 {
            bail!("model dimensions must all be at least 1, got {self:?}");
        }
        for (what, n, max) in [
            ("vocabulary V", self.vocab, MAX_VOCAB),
            ("embedding width E (--embed)", self.embed, MAX_WIDTH),
            ("hidden size H (--hidden)", self.hidden, MAX_WIDTH),
            ("layer count L (--layers)", self.layers, MAX_LAYERS),
        ] {
            if n > max {
                bail!("the {what} is {n}, more than gruwave supports ({max})");
            }
        }
        let total = crate::model::ParamLayout::try_new(self)?.total;
        if total > MAX_PARAMS {
            bail!(
                "a model with {self} has {total} parameters (padded), more than gruwave supports \
                 ({MAX_PARAMS}): use a smaller --hidden, --embed or --layers"
            );
        }
        Ok(())
    }

    /// Input width of layer `l`: E for the first layer, H above it.
    pub fn layer_input(&self, l: usize) -> usize {
        if l == 0 {
            self.embed
        } else {
            self.hidden
        }
    }

    /// "tiny (V=256 E=32 H=64 L=1)", or "custom (...)" for a shape no preset has.
    pub fn named(&self) -> String {
        let name = PRESETS
            .iter()
            .find(|p| p.model == *self)
            .map_or("custom", |p| p.name);
        format!("{name} ({self})")
    }

    pub fn param_count(&self) -> usize {
        crate::model::ParamLayout::new(self).param_count()
    }
}

impl std::fmt::Display for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "V={} E={} H={} L={}",
            self.vocab, self.embed, self.hidden, self.layers
        )
    }
}
