//! The flat parameter layout: every tensor of the PyTorch `state_dict`, in its order,
//! packed into one f32 buffer. Gradients and Adam moments share the layout.

use super::ModelConfig;

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
    pub fn new(c: &ModelConfig) -> Self {
        let (v, e, h) = (c.vocab, c.embed, c.hidden);
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
                vec![3 * h, inp],
            ));
            specs.push((
                format!("gru.weight_hh_l{l}"),
                ParamKind::WeightHh(l),
                vec![3 * h, h],
            ));
            specs.push((
                format!("gru.bias_ih_l{l}"),
                ParamKind::BiasIh(l),
                vec![3 * h],
            ));
            specs.push((
                format!("gru.bias_hh_l{l}"),
                ParamKind::BiasHh(l),
                vec![3 * h],
            ));
        }
        specs.push(("head.weight".to_string(), ParamKind::HeadWeight, vec![v, h]));
        specs.push(("head.bias".to_string(), ParamKind::HeadBias, vec![v]));

        let mut offset = 0;
        let entries = specs
            .into_iter()
            .map(|(name, kind, shape)| {
                let len = shape.iter().product();
                let entry = ParamEntry {
                    name,
                    kind,
                    shape,
                    offset,
                    len,
                };
                offset += len.div_ceil(ALIGN_FLOATS) * ALIGN_FLOATS;
                entry
            })
            .collect();
        ParamLayout {
            config: *c,
            entries,
            total: offset,
        }
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
}
