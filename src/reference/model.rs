//! The whole model from the twins, op by op in the order the engine records them
//! (`Workspace::record_forward`, `record_backward`): time-major activations, one flat
//! buffer per tensor family, the same offsets.

use super::{
    colsum, embed_backward, embed_gather, gemm, gru_step, gru_step_backward, softmax_xent, sum,
    Epilogue, Mat, StepBackwardBufs,
};
use crate::kernels::ops::embedding::{rows_by_token, EmbedParams};
use crate::kernels::ops::reduce::COLSUM_PARTS;
use crate::kernels::ops::softmax_xent::XentParams;
use crate::kernels::ops::step::StepParams;
use crate::kernels::ops::step_backward::StepBackwardParams;
use crate::kernels::ops::word;
use crate::model::{ParamKind, ParamLayout};
use crate::train::time_to_batch_major;

/// Output of a forward pass over a [B, T] window.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Logits, `[B, T, V]`.
    pub logits: Vec<f64>,
    /// Mean cross-entropy in nats over all B*T predictions.
    pub loss: f64,
    /// Final hidden state of every layer, `[L, B, H]`.
    pub hn: Vec<f64>,
    /// Hidden state of each layer at every step, one `[B, T, H]` vector per layer.
    pub layer_out: Vec<Vec<f64>>,
}

/// Gradients of the mean loss.
#[derive(Clone, Debug)]
pub struct Backward {
    /// d loss / d params, flat, same layout and length (`layout.total`) as the parameters.
    /// Padding entries are 0.
    pub grads: Vec<f64>,
    /// d loss / d h0, `[L, B, H]`.
    pub grad_h0: Vec<f64>,
}

/// One layer's buffers, as the engine's `LayerBufs`.
struct Layer {
    /// gi, then dgi: [T*B, 3H].
    gi: Vec<f64>,
    /// h0 in slot 0, h_t in slot t+1: [(T+1)*B, H].
    hseq: Vec<f64>,
    /// r, z, n, gh_n: [T*B, 4H].
    gates: Vec<f64>,
    dgh: Vec<f64>,
    dhs: Vec<f64>,
    dh_out: Vec<f64>,
}

/// The buffers of one window, as the engine's `Workspace`.
struct Graph<'a> {
    layout: &'a ParamLayout,
    params: &'a [f64],
    batch: usize,
    steps: usize,
    /// Per batch row: the T inputs, a gap, the T targets (`[B, 2T+1]`), then the inputs'
    /// row index for `embed_backward`.
    tokens: Vec<u32>,
    embeddings: Vec<f64>,
    logits: Vec<f64>,
    dlogits: Vec<f64>,
    losses: Vec<f64>,
    loss: [f64; 1],
    layers: Vec<Layer>,
}

impl<'a> Graph<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        layout: &'a ParamLayout,
        params: &'a [f64],
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        steps: usize,
        h0: &[f64],
    ) -> Graph<'a> {
        let c = layout.config;
        let (v, e, h, nl) = (c.vocab, c.embed, c.hidden, c.layers);
        let (rows, bh) = (batch * steps, batch * h);
        assert_eq!(params.len(), layout.total, "params length != layout.total");
        assert_eq!(tokens.len(), rows, "tokens must be [B, T]");
        assert_eq!(targets.len(), rows, "targets must be [B, T]");
        assert_eq!(h0.len(), nl * bh, "h0 must be [L, B, H]");
        for &tok in tokens {
            assert!((tok as usize) < v, "token id {tok} out of range (V = {v})");
        }
        for &tgt in targets {
            assert!((tgt as usize) < v, "target id {tgt} out of range (V = {v})");
        }
        let mut window = Vec::with_capacity(batch * (2 * steps + 1));
        let mut inputs = Vec::with_capacity(batch * (steps + 1));
        for b in 0..batch {
            let x = &tokens[b * steps..][..steps];
            window.extend_from_slice(x);
            window.push(0);
            window.extend_from_slice(&targets[b * steps..][..steps]);
            inputs.extend_from_slice(x);
            inputs.push(0);
        }
        window.extend(rows_by_token(&inputs, batch, steps, v));
        let layers = (0..nl)
            .map(|l| {
                let mut hseq = vec![0.0; (steps + 1) * bh];
                hseq[..bh].copy_from_slice(&h0[l * bh..][..bh]);
                Layer {
                    gi: vec![0.0; rows * 3 * h],
                    hseq,
                    gates: vec![0.0; rows * 4 * h],
                    dgh: vec![0.0; rows * 3 * h],
                    dhs: vec![0.0; (steps + 1) * bh],
                    dh_out: vec![0.0; rows * h],
                }
            })
            .collect();
        Graph {
            layout,
            params,
            batch,
            steps,
            tokens: window,
            embeddings: vec![0.0; rows * e],
            logits: vec![0.0; rows * v],
            dlogits: vec![0.0; rows * v],
            losses: vec![0.0; rows],
            loss: [0.0],
            layers,
        }
    }

    fn off(&self, kind: ParamKind) -> usize {
        self.layout.get(kind).offset
    }

    fn embed_params(&self) -> EmbedParams {
        let c = self.layout.config;
        EmbedParams {
            rows: word(self.batch * self.steps),
            dim: word(c.embed),
            batch: word(self.batch),
            tok_stride: word(2 * self.steps + 1),
            emb_off: word(self.off(ParamKind::Embedding)),
            vocab: word(c.vocab),
            index_off: word(self.batch * (2 * self.steps + 1)),
        }
    }

    /// As `Workspace::record_forward`.
    fn forward(&mut self) {
        use ParamKind::*;
        let c = self.layout.config;
        let (v, h, p) = (c.vocab, c.hidden, self.params);
        let (rows, bh) = (self.batch * self.steps, self.batch * h);
        embed_gather(&self.embed_params(), &self.tokens, p, &mut self.embeddings);
        for l in 0..c.layers {
            let inp = c.layer_input(l);
            let steps: Vec<_> = (0..self.steps).map(|t| self.step_params(l, t)).collect();
            let (below, this) = self.layers.split_at_mut(l);
            let x = match below.last() {
                None => Mat::rows(&self.embeddings, 0, inp),
                Some(lb) => Mat::rows(&lb.hseq, bh, inp),
            };
            let w_ih = Mat::transposed(p, self.layout.get(WeightIh(l)).offset, inp);
            let bias = Epilogue::Bias(p, self.layout.get(BiasIh(l)).offset);
            let lb = &mut this[0];
            gemm(rows, 3 * h, inp, x, w_ih, &mut lb.gi, 0, 3 * h, bias);
            for sp in &steps {
                gru_step(sp, &lb.gi, p, &mut lb.hseq, &mut lb.gates);
            }
        }
        let top = &self.layers[c.layers - 1].hseq;
        let w_o = Mat::transposed(p, self.off(HeadWeight), h);
        let b_o = Epilogue::Bias(p, self.off(HeadBias));
        gemm(
            rows,
            v,
            h,
            Mat::rows(top, bh, h),
            w_o,
            &mut self.logits,
            0,
            v,
            b_o,
        );
        let xent = XentParams {
            rows: word(rows),
            vocab: word(v),
            batch: word(self.batch),
            tok_stride: word(2 * self.steps + 1),
            scale: 1.0 / rows as f32,
            tok_off: word(self.steps),
        };
        let scale = 1.0 / rows as f64;
        softmax_xent(
            &xent,
            scale,
            &self.logits,
            &self.tokens,
            &mut self.dlogits,
            &mut self.losses,
        );
        sum(&self.losses, 0, rows, scale, &mut self.loss, 0);
    }

    fn step_params(&self, l: usize, t: usize) -> StepParams {
        let (h, whh, bhh) = (
            self.layout.config.hidden,
            self.off(ParamKind::WeightHh(l)),
            self.off(ParamKind::BiasHh(l)),
        );
        StepParams::window(self.batch, h, t, whh, bhh)
    }

    /// As `Workspace::step_backward_params`: step T-1-s for s < T, h0 for s == T.
    fn step_backward_params(&self, l: usize, s: usize) -> StepBackwardParams {
        let (h, whh) = (self.layout.config.hidden, self.off(ParamKind::WeightHh(l)));
        StepBackwardParams::window(self.batch, h, whh, self.steps, s)
    }

    /// As `Workspace::record_backward`: the gradient of the mean loss into `grads`.
    /// The head's gradients and dH of the top layer (as the engine's backward begins).
    fn head_backward(&mut self, grads: &mut [f64], scratch: &mut [f64]) {
        use Epilogue::None as Set;
        use ParamKind::*;
        let c = self.layout.config;
        let (v, h, p, nl) = (c.vocab, c.hidden, self.params, c.layers);
        let (rows, bh) = (self.batch * self.steps, self.batch * h);
        let (dlg, top) = (&self.dlogits, &mut self.layers[nl - 1]);
        let head = self.layout.get(HeadWeight).offset;
        gemm(
            v,
            h,
            rows,
            Mat::transposed(dlg, 0, v),
            Mat::rows(&top.hseq, bh, h),
            grads,
            head,
            h,
            Set,
        );
        colsum(
            dlg,
            0,
            rows,
            v,
            grads,
            self.layout.get(HeadBias).offset,
            scratch,
        );
        gemm(
            rows,
            h,
            v,
            Mat::rows(dlg, 0, v),
            Mat::rows(p, head, h),
            &mut top.dh_out,
            0,
            h,
            Set,
        );
    }

    /// Layer l: BPTT, its weight gradients, and the gradient of its input.
    fn layer_backward(&mut self, l: usize, grads: &mut [f64], scratch: &mut [f64]) {
        use Epilogue::None as Set;
        use ParamKind::*;
        let c = self.layout.config;
        let (h, p) = (c.hidden, self.params);
        let (rows, bh) = (self.batch * self.steps, self.batch * h);
        let inp = c.layer_input(l);
        for s in 0..=self.steps {
            let sp = self.step_backward_params(l, s);
            let lb = &mut self.layers[l];
            let mut bufs = StepBackwardBufs {
                w: p,
                gates: &lb.gates,
                hseq: &lb.hseq,
                dh_out: &lb.dh_out,
                dgi: &mut lb.gi,
                dgh: &mut lb.dgh,
                dhs: &mut lb.dhs,
            };
            gru_step_backward(&sp, &mut bufs);
        }
        let (below, this) = self.layers.split_at_mut(l);
        let lb = &this[0];
        let off = |kind| self.layout.get(kind).offset;
        let (dgh, dgi) = (
            Mat::transposed(&lb.dgh, 0, 3 * h),
            Mat::transposed(&lb.gi, 0, 3 * h),
        );
        gemm(
            3 * h,
            h,
            rows,
            dgh,
            Mat::rows(&lb.hseq, 0, h),
            grads,
            off(WeightHh(l)),
            h,
            Set,
        );
        let x = match below.last() {
            None => Mat::rows(&self.embeddings, 0, inp),
            Some(below) => Mat::rows(&below.hseq, bh, inp),
        };
        gemm(3 * h, inp, rows, dgi, x, grads, off(WeightIh(l)), inp, Set);
        colsum(&lb.gi, 0, rows, 3 * h, grads, off(BiasIh(l)), scratch);
        colsum(&lb.dgh, 0, rows, 3 * h, grads, off(BiasHh(l)), scratch);
        let dx = match below.last_mut() {
            None => &mut self.embeddings,
            Some(below) => &mut below.dh_out,
        };
        let w_ih = Mat::rows(p, off(WeightIh(l)), inp);
        gemm(
            rows,
            inp,
            3 * h,
            Mat::rows(&lb.gi, 0, 3 * h),
            w_ih,
            dx,
            0,
            inp,
            Set,
        );
    }

    fn backward(&mut self, grads: &mut [f64]) {
        let c = self.layout.config;
        let mut scratch = vec![0.0; COLSUM_PARTS * c.vocab.max(3 * c.hidden)];
        self.head_backward(grads, &mut scratch);
        for l in (0..c.layers).rev() {
            self.layer_backward(l, grads, &mut scratch);
        }
        embed_backward(&self.embed_params(), &self.tokens, &self.embeddings, grads);
    }

    fn output(&self) -> Forward {
        let c = self.layout.config;
        let (b, t, h) = (self.batch, self.steps, c.hidden);
        let bh = b * h;
        Forward {
            logits: time_to_batch_major(&self.logits, b, t, c.vocab),
            loss: self.loss[0],
            hn: self
                .layers
                .iter()
                .flat_map(|l| l.hseq[t * bh..].to_vec())
                .collect(),
            layer_out: (self.layers.iter())
                .map(|l| time_to_batch_major(&l.hseq[bh..], b, t, h))
                .collect(),
        }
    }
}

/// Forward pass over a [B, T] window.
/// `tokens`, `targets`: [B, T] row-major token ids (< V). `h0`: [L, B, H].
pub fn forward(
    layout: &ParamLayout,
    params: &[f64],
    tokens: &[u32],
    targets: &[u32],
    batch: usize,
    steps: usize,
    h0: &[f64],
) -> Forward {
    let mut g = Graph::new(layout, params, tokens, targets, batch, steps, h0);
    g.forward();
    g.output()
}

/// Forward pass and full backpropagation through time over the window: gradients of the
/// mean loss for every parameter and for `h0`. (The loss does not depend on `hn` except
/// through the outputs, so no gradient enters from the end of the window.)
pub fn forward_backward(
    layout: &ParamLayout,
    params: &[f64],
    tokens: &[u32],
    targets: &[u32],
    batch: usize,
    steps: usize,
    h0: &[f64],
) -> (Forward, Backward) {
    let mut g = Graph::new(layout, params, tokens, targets, batch, steps, h0);
    g.forward();
    let out = g.output();
    // Each tensor's gradient is written whole by its op, so the padding stays exactly 0.
    let mut grads = vec![0.0; layout.total];
    g.backward(&mut grads);
    let bh = batch * layout.config.hidden;
    let grad_h0 = g.layers.iter().flat_map(|l| l.dhs[..bh].to_vec()).collect();
    (out, Backward { grads, grad_h0 })
}
