//! The flat parameter layout: every tensor of the PyTorch `state_dict`, in its order,
//! packed into one f32 buffer. Gradients and Adam moments share the layout.

use super::ModelConfig;
use anyhow::{anyhow, Result};

/// Tensors start at multiples of this many floats (256 bytes), so each can be bound as a
/// storage-buffer sub-range on any adapter (`min_storage_buffer_offset_alignment` <= 256).
pub const ALIGN_FLOATS: usize = 64;

/// What a tensor is, so code can find it without parsing names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Embedding,
    WeightIh(usize),
    WeightHh(usize),
    BiasIh(usize),
    BiasHh(usize),
    HeadWeight,
    HeadBias,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamEntry {
    pub name: String,
    pub kind: ParamKind,
    pub shape: Vec<usize>,
    /// Offset in floats into the flat buffer.
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    pub config: ModelConfig,
    pub entries: Vec<ParamEntry>,
    /// Floats in the flat buffer, padding included.
    pub total: usize,
}

impl ParamLayout {
    /// The layout of a validated config ([`ModelConfig::validate`] bounds every size, so
    /// this cannot overflow); use [`ParamLayout::try_new`] for unchecked dimensions.
    pub fn new(c: &ModelConfig) -> Self {
        Self::try_new(c).expect("a validated ModelConfig has a layout that fits in usize")
    }

    /// The layout, or an error when a shape, length or offset overflows `usize`: the
    /// dimensions may come from a file or a flag, so no product is trusted to fit.
    pub fn try_new(c: &ModelConfig) -> Result<Self> {
        let (v, e, h) = (c.vocab, c.embed, c.hidden);
        let too_big = || anyhow!("a model with {c} is too large: its sizes overflow");
        let h3 = h.checked_mul(3).ok_or_else(too_big)?;
        let mut specs = vec![(
            "embedding.weight".to_string(),
            ParamKind::Embedding,
            vec![v, e],
        )];
        for l in 0..c.layers {
            let inp = c.layer_input(l);
            specs.push((
                format!("gru.weight_ih_l{l}"),
                ParamKind::WeightIh(l),
                vec![h3, inp],
            ));
            specs.push((
                format!("gru.weight_hh_l{l}"),
                ParamKind::WeightHh(l),
                vec![h3, h],
            ));
            specs.push((format!("gru.bias_ih_l{l}"), ParamKind::BiasIh(l), vec![h3]));
            specs.push((format!("gru.bias_hh_l{l}"), ParamKind::BiasHh(l), vec![h3]));
        }
        specs.push(("head.weight".to_string(), ParamKind::HeadWeight, vec![v, h]));
        specs.push(("head.bias".to_string(), ParamKind::HeadBias, vec![v]));

        let mut offset: usize = 0;
        let mut entries = Vec::with_capacity(specs.len());
        for (name, kind, shape) in specs {
            let len = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(too_big)?;
            let padded = len
                .checked_next_multiple_of(ALIGN_FLOATS)
                .ok_or_else(too_big)?;
            entries.push(ParamEntry {
                name,
                kind,
                shape,
                offset,
                len,
            });
            offset = offset.checked_add(padded).ok_or_else(too_big)?;
        }
        Ok(ParamLayout {
            config: *c,
            entries,
            total: offset,
        })
    }

    pub fn get(&self, kind: ParamKind) -> &ParamEntry {
        self.entries
            .iter()
            .find(|e| e.kind == kind)
            .expect("every ParamKind of a valid layer index is in the layout")
    }

    pub fn by_name(&self, name: &str) -> Option<&ParamEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Trainable scalars, padding excluded.
    pub fn param_count(&self) -> usize {
        self.entries.iter().map(|e| e.len).sum()
    }

    /// The slice of a flat buffer that holds `kind`.
    pub fn view<'a, T>(&self, flat: &'a [T], kind: ParamKind) -> &'a [T] {
        let e = self.get(kind);
        &flat[e.offset..e.offset + e.len]
    }

    pub fn view_mut<'a, T>(&self, flat: &'a mut [T], kind: ParamKind) -> &'a mut [T] {
        let e = self.get(kind);
        &mut flat[e.offset..e.offset + e.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_state_dict_order_and_offsets_are_aligned() {
        let c = ModelConfig::new(16, 8, 12, 2).unwrap();
        let lay = ParamLayout::new(&c);
        let names: Vec<_> = lay.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[0], "embedding.weight");
        assert_eq!(names[1], "gru.weight_ih_l0");
        assert_eq!(names[5], "gru.weight_ih_l1");
        assert_eq!(names[10], "head.bias");
        assert_eq!(lay.get(ParamKind::WeightIh(1)).shape, vec![36, 12]);
        for e in &lay.entries {
            assert_eq!(e.offset % ALIGN_FLOATS, 0);
        }
        assert_eq!(
            lay.param_count(),
            16 * 8 + 36 * 8 + 36 * 12 * 3 + 36 * 4 + 16 * 12 + 16
        );
    }

    #[test]
    fn sizes_that_overflow_are_errors_not_wraps() {
        let big = |v, e, h, l| ModelConfig {
            vocab: v,
            embed: e,
            hidden: h,
            layers: l,
        };
        assert!(ParamLayout::try_new(&big(256, 32, usize::MAX, 1)).is_err());
        assert!(ParamLayout::try_new(&big(256, 1 << 62, 64, 1)).is_err());
        assert!(ParamLayout::try_new(&big(usize::MAX, 1, 1, 1)).is_err());
        assert!(ModelConfig::new(256, 32, 100_000, 1).is_err());
        assert!(ModelConfig::new(256, 1 << 62, 64, 1).is_err());
        assert!(ModelConfig::new(256, 32, 64, usize::MAX).is_err());
    }
}
