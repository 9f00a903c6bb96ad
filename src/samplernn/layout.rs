//! The flat parameter layout of a SampleRNN: every tensor of the reference's `state_dict`
//! (SAMPLERNN_SPEC "Parameters"), packed into one f32 buffer, each row-major in its
//! PyTorch shape. Gradients and Adam moments share the layout.

use super::SrnnConfig;
use crate::model::ALIGN_FLOATS;

/// What a tensor is: tier k (0 = bottom), GRU layer l.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrnnParam {
    /// [R, D]
    H0(usize),
    /// [D, n_k, 1]
    ExpandWeight(usize),
    /// [D]
    ExpandBias(usize),
    /// [3D, D]
    WeightIh(usize, usize),
    WeightHh(usize, usize),
    /// [3D]
    BiasIh(usize, usize),
    BiasHh(usize, usize),
    /// [D_in, D_out, FS_k]
    UpWeight(usize),
    /// [D, FS_k]
    UpBias(usize),
    /// [q, q]
    Embedding,
    /// [D, q, FS_0]
    InputWeight,
    /// [D, D, 1]
    HiddenWeight,
    /// [D]
    HiddenBias,
    /// [q, D, 1]
    OutputWeight,
    /// [q]
    OutputBias,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrnnEntry {
    pub name: String,
    pub kind: SrnnParam,
    pub shape: Vec<usize>,
    /// Offset in floats into the flat buffer (a multiple of ALIGN_FLOATS).
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrnnLayout {
    pub config: SrnnConfig,
    pub entries: Vec<SrnnEntry>,
    /// Floats in the flat buffer, padding included.
    pub total: usize,
}

impl SrnnLayout {
    /// The layout of a validated config (bounded sizes: no product overflows).
    pub fn new(c: &SrnnConfig) -> Self {
        use SrnnParam::*;
        let (d, r, q, fs0) = (c.dim, c.rnn_layers, c.levels, c.frame_sizes[0]);
        let mut specs: Vec<(String, SrnnParam, Vec<usize>)> = Vec::new();
        for k in 0..c.tiers() {
            let t = format!("frame_level_rnns.{k}");
            let (n, fs) = (c.frame_samples(k), c.frame_sizes[k]);
            specs.push((format!("{t}.h0"), H0(k), vec![r, d]));
            specs.push((
                format!("{t}.input_expand.weight"),
                ExpandWeight(k),
                vec![d, n, 1],
            ));
            specs.push((format!("{t}.input_expand.bias"), ExpandBias(k), vec![d]));
            for l in 0..r {
                specs.push((
                    format!("{t}.rnn.weight_ih_l{l}"),
                    WeightIh(k, l),
                    vec![3 * d, d],
                ));
                specs.push((
                    format!("{t}.rnn.weight_hh_l{l}"),
                    WeightHh(k, l),
                    vec![3 * d, d],
                ));
                specs.push((format!("{t}.rnn.bias_ih_l{l}"), BiasIh(k, l), vec![3 * d]));
                specs.push((format!("{t}.rnn.bias_hh_l{l}"), BiasHh(k, l), vec![3 * d]));
            }
            specs.push((format!("{t}.upsampling.bias"), UpBias(k), vec![d, fs]));
            specs.push((
                format!("{t}.upsampling.conv_t.weight"),
                UpWeight(k),
                vec![d, d, fs],
            ));
        }
        let m = "sample_level_mlp";
        specs.push((format!("{m}.embedding.weight"), Embedding, vec![q, q]));
        specs.push((format!("{m}.input.weight"), InputWeight, vec![d, q, fs0]));
        specs.push((format!("{m}.hidden.weight"), HiddenWeight, vec![d, d, 1]));
        specs.push((format!("{m}.hidden.bias"), HiddenBias, vec![d]));
        specs.push((format!("{m}.output.weight"), OutputWeight, vec![q, d, 1]));
        specs.push((format!("{m}.output.bias"), OutputBias, vec![q]));
        let mut offset = 0;
        let entries = specs
            .into_iter()
            .map(|(name, kind, shape)| {
                let len = shape.iter().product();
                let e = SrnnEntry {
                    name,
                    kind,
                    shape,
                    offset,
                    len,
                };
                offset += len.next_multiple_of(ALIGN_FLOATS);
                e
            })
            .collect();
        SrnnLayout {
            config: c.clone(),
            entries,
            total: offset,
        }
    }

    pub fn get(&self, kind: SrnnParam) -> &SrnnEntry {
        self.entries
            .iter()
            .find(|e| e.kind == kind)
            .expect("every SrnnParam of a valid tier and layer is in the layout")
    }

    /// Offset of `kind` in the flat buffer.
    pub fn offset(&self, kind: SrnnParam) -> usize {
        self.get(kind).offset
    }

    pub fn by_name(&self, name: &str) -> Option<&SrnnEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Trainable scalars, padding excluded.
    pub fn param_count(&self) -> usize {
        self.entries.iter().map(|e| e.len).sum()
    }

    /// The slice of a flat buffer that holds `kind`.
    pub fn view<'a, T>(&self, flat: &'a [T], kind: SrnnParam) -> &'a [T] {
        let e = self.get(kind);
        &flat[e.offset..e.offset + e.len]
    }

    pub fn view_mut<'a, T>(&self, flat: &'a mut [T], kind: SrnnParam) -> &'a mut [T] {
        let e = self.get(kind);
        &mut flat[e.offset..e.offset + e.len]
    }
}
