//! The GPU buffers and recorded programs for one (B, T) window shape: the forward pass with
//! loss, and (for training) the backward pass into a gradient buffer. `record_forward` and
//! `record_backward` are the model graph: one op per line, in the order they run.
//!
//! Activations are time-major: position row p = t*B + b. Tokens arrive batch-major as
//! `[B, T+1]`, exactly as the data pipeline cuts them.

use super::gru_layer::{GruLayer, GruWeights, LayerBufs};
use crate::gpu::{Gpu, Program, ProgramBuilder};
pub use crate::kernels::ops::embedding::rows_by_token;
use crate::kernels::ops::embedding::EmbedParams;
use crate::kernels::ops::softmax_xent::XentParams;
use crate::kernels::ops::word;
use crate::kernels::{Buf, Epilogue, Kernels, Mat, COLSUM_PARTS};
use crate::model::{ParamKind, ParamLayout};
use anyhow::{ensure, Result};
use std::sync::Arc;

/// Every buffer of the graph, by name, bound to one program.
struct Bound {
    tokens: Buf,
    state: Buf,
    embeddings: Buf,
    logits: Buf,
    dlogits: Buf,
    losses: Buf,
    mean_loss: Buf,
    colsum_scratch: Buf,
    params: Buf,
    grads: Option<Buf>,
    layers: Vec<LayerBufs<Buf>>,
}

pub struct Workspace {
    pub gpu: Arc<Gpu>,
    pub layout: ParamLayout,
    pub batch: usize,
    pub tbptt: usize,
    /// The window `[B, T+1]`, then (training) its rows grouped by input token.
    pub tokens: wgpu::Buffer,
    /// The carried hidden state `[L, B, H]`.
    pub state: wgpu::Buffer,
    /// Time-major `[T*B, V]`.
    pub logits: wgpu::Buffer,
    /// The mean loss of the last forward (one float).
    pub stats: wgpu::Buffer,
    /// The loss of every position of the last forward, time-major `[T, B]`.
    pub losses: wgpu::Buffer,
    /// Layer 0's input `[T*B, E]`; its gradient during the backward.
    embeddings: wgpu::Buffer,
    dlogits: wgpu::Buffer,
    colsum_scratch: wgpu::Buffer,
    params: wgpu::Buffer,
    grads: Option<wgpu::Buffer>,
    layers: Vec<LayerBufs<wgpu::Buffer>>,
    pub forward: Program,
    pub backward: Option<Program>,
}

/// Bytes of `n` floats.
fn f(n: usize) -> u64 {
    (n * 4) as u64
}

impl Workspace {
    /// Buffers and programs for windows of `batch` x `tbptt`, reading weights from `params`
    /// and, when `grads` is given, writing the gradient of the mean loss there.
    pub fn new(
        gpu: &Arc<Gpu>,
        k: &Kernels,
        layout: &ParamLayout,
        params: &wgpu::Buffer,
        grads: Option<&wgpu::Buffer>,
        batch: usize,
        tbptt: usize,
    ) -> Result<Workspace> {
        ensure!(
            batch > 0 && tbptt > 0,
            "batch and TBPTT length must be at least 1"
        );
        let c = layout.config;
        let (v, h, rows) = (c.vocab, c.hidden, batch * tbptt);
        for (what, n) in [
            ("the input projections (B*T*3H)", rows * 3 * h),
            ("the saved gates (B*T*4H)", rows * 4 * h),
            ("the logits (B*T*V)", rows * v),
            ("the parameters", layout.total),
        ] {
            gpu.check_buffer_size(what, f(n))?;
        }
        let mut ws = Workspace::allocate(gpu, layout, params, grads, batch, tbptt);
        let mut pb = ProgramBuilder::new();
        let b = ws.bind(&mut pb);
        ws.record_forward(k, &mut pb, &b);
        ws.forward = pb.build(gpu);
        if grads.is_some() {
            let mut pb = ProgramBuilder::new();
            let b = ws.bind(&mut pb);
            ws.record_backward(k, &mut pb, &b);
            ws.backward = Some(pb.build(gpu));
        }
        Ok(ws)
    }

    /// The buffers, with empty programs.
    fn allocate(
        gpu: &Arc<Gpu>,
        layout: &ParamLayout,
        params: &wgpu::Buffer,
        grads: Option<&wgpu::Buffer>,
        batch: usize,
        tbptt: usize,
    ) -> Workspace {
        let c = layout.config;
        let (v, e, h, rows) = (c.vocab, c.embed, c.hidden, batch * tbptt);
        let train = grads.is_some();
        let index_len = if train { v + 1 + rows } else { 0 };
        let storage = |label, n| gpu.storage(label, f(n));
        let layers = (0..c.layers)
            .map(|_| LayerBufs::allocate(gpu, batch, tbptt, h, train))
            .collect();
        Workspace {
            gpu: gpu.clone(),
            layout: layout.clone(),
            batch,
            tbptt,
            tokens: storage("tokens", batch * (tbptt + 1) + index_len),
            state: storage("hidden state", c.layers * batch * h),
            logits: storage("logits", rows * v),
            stats: storage("mean loss", 1),
            losses: storage("losses", rows),
            embeddings: storage("embeddings", rows * e),
            dlogits: storage("dlogits", rows * v),
            colsum_scratch: storage("colsum partials", COLSUM_PARTS * v.max(3 * h)),
            params: params.clone(),
            grads: grads.cloned(),
            layers,
            forward: ProgramBuilder::new().build(gpu),
            backward: None,
        }
    }

    /// Every buffer registered with `pb`, by name.
    fn bind(&self, pb: &mut ProgramBuilder) -> Bound {
        let layers = self.layers.iter().map(|l| l.bind(pb)).collect();
        let mut reg = |b: &wgpu::Buffer| Buf::register(pb, b);
        Bound {
            tokens: reg(&self.tokens),
            state: reg(&self.state),
            embeddings: reg(&self.embeddings),
            logits: reg(&self.logits),
            dlogits: reg(&self.dlogits),
            losses: reg(&self.losses),
            mean_loss: reg(&self.stats),
            colsum_scratch: reg(&self.colsum_scratch),
            params: reg(&self.params),
            grads: self.grads.as_ref().map(&mut reg),
            layers,
        }
    }

    /// The forward pass and the mean loss, in the order it runs (as llm.c's gpt2_forward).
    #[rustfmt::skip]
    fn record_forward(&self, k: &Kernels, pb: &mut ProgramBuilder, b: &Bound) {
        use ParamKind::*;
        let (v, h, rows, bh, top) = (self.vocab(), self.hidden(), self.rows(), self.bh(), self.top(b));
        k.record_embed_gather(pb, &self.embed_params(), b.tokens, b.params, b.embeddings);
        for (l, lb) in b.layers.iter().enumerate() {
            self.gru_layer(l).record_forward(k, pb, lb, self.layer_input(b, l).0, b.params, b.state, l * bh);
        }
        k.record_gemm(pb, rows, v, h, Mat::rows(top.hseq, bh, h), self.weight_t(b, HeadWeight, h), b.logits, 0, v, self.bias(b, HeadBias));
        k.record_softmax_xent(pb, &self.xent_params(), b.logits, b.tokens, b.dlogits, b.losses);
        k.record_sum(pb, b.losses, 0, rows, 1.0 / rows as f32, b.mean_loss, 0);
    }

    /// Backpropagation through the window into the gradient buffer, in the order it runs
    /// (as llm.c's gpt2_backward): the head, then each layer from the top, then the
    /// embedding. dlogits comes from the forward's softmax_xent.
    #[rustfmt::skip]
    fn record_backward(&self, k: &Kernels, pb: &mut ProgramBuilder, b: &Bound) {
        use Epilogue::None as Set;
        use ParamKind::*;
        let (v, h, rows, bh, top) = (self.vocab(), self.hidden(), self.rows(), self.bh(), self.top(b));
        let (g, off, scratch) = (b.grads.expect("a training workspace"), |kind| self.offset(kind), b.colsum_scratch);
        // Head: dW_o = dlogitsᵀ·H_top, db_o = Σ dlogits, dH_top = dlogits·W_o.
        k.record_gemm(pb, v, h, rows, Mat::transposed(b.dlogits, 0, v), Mat::rows(top.hseq, bh, h), g, off(HeadWeight), h, Set);
        k.record_colsum(pb, b.dlogits, 0, rows, v, g, off(HeadBias), scratch);
        k.record_gemm(pb, rows, h, v, Mat::rows(b.dlogits, 0, v), Mat::rows(b.params, off(HeadWeight), h), top.dh_out, 0, h, Set);
        for (l, lb) in b.layers.iter().enumerate().rev() {
            let dx = self.layer_input_grad(b, l).0;
            self.gru_layer(l).record_backward(k, pb, lb, self.layer_input(b, l).0, b.params, g, scratch, dx);
        }
        k.record_embed_backward(pb, &self.embed_params(), b.tokens, b.embeddings, g);
    }

    /// Layer l over this window's rows, with its weights' offsets.
    fn gru_layer(&self, l: usize) -> GruLayer {
        use ParamKind::*;
        GruLayer {
            batch: self.batch,
            steps: self.tbptt,
            hidden: self.hidden(),
            inp: self.layout.config.layer_input(l),
            w: GruWeights {
                w_ih: self.offset(WeightIh(l)),
                w_hh: self.offset(WeightHh(l)),
                b_ih: self.offset(BiasIh(l)),
                b_hh: self.offset(BiasHh(l)),
            },
        }
    }

    fn vocab(&self) -> usize {
        self.layout.config.vocab
    }

    fn hidden(&self) -> usize {
        self.layout.config.hidden
    }

    /// Positions in a window, B*T.
    fn rows(&self) -> usize {
        self.batch * self.tbptt
    }

    /// Floats of one step's state, B*H.
    fn bh(&self) -> usize {
        self.batch * self.hidden()
    }

    fn top<'a>(&self, b: &'a Bound) -> &'a LayerBufs<Buf> {
        b.layers.last().expect("at least one layer")
    }

    fn offset(&self, kind: ParamKind) -> usize {
        self.layout.get(kind).offset
    }

    /// A `[rows, cols]` weight of the parameters, transposed.
    fn weight_t(&self, b: &Bound, kind: ParamKind, cols: usize) -> Mat {
        Mat::transposed(b.params, self.offset(kind), cols)
    }

    fn bias(&self, b: &Bound, kind: ParamKind) -> Epilogue {
        Epilogue::Bias(b.params, self.offset(kind))
    }

    /// Layer l's input `[T*B, inp]` (the embeddings, or h_1.. of the layer below) and inp.
    fn layer_input(&self, b: &Bound, l: usize) -> (Mat, usize) {
        let inp = self.layout.config.layer_input(l);
        match l {
            0 => (Mat::rows(b.embeddings, 0, inp), inp),
            _ => (Mat::rows(b.layers[l - 1].hseq, self.bh(), inp), inp),
        }
    }

    /// Where the gradient of layer l's input goes: the embeddings' buffer, or the layer
    /// below's dh_out.
    fn layer_input_grad(&self, b: &Bound, l: usize) -> (Buf, usize) {
        let inp = self.layout.config.layer_input(l);
        match l {
            0 => (b.embeddings, inp),
            _ => (b.layers[l - 1].dh_out, inp),
        }
    }

    fn embed_params(&self) -> EmbedParams {
        EmbedParams {
            rows: word(self.rows()),
            dim: word(self.layout.config.embed),
            batch: word(self.batch),
            tok_stride: word(self.tbptt + 1),
            emb_off: word(self.offset(ParamKind::Embedding)),
            vocab: word(self.vocab()),
            // The row index follows the window (see `upload_tokens`).
            index_off: word(self.batch * (self.tbptt + 1)),
        }
    }

    fn xent_params(&self) -> XentParams {
        XentParams {
            rows: word(self.rows()),
            vocab: word(self.vocab()),
            batch: word(self.batch),
            tok_stride: word(self.tbptt + 1),
            scale: 1.0 / self.rows() as f32,
            tok_off: 0,
        }
    }

    /// Upload a `[B, T+1]` token window.
    pub fn upload_tokens(&self, tokens: &[u32]) -> Result<()> {
        ensure!(
            tokens.len() == self.batch * (self.tbptt + 1),
            "expected {} x {} tokens, got {}",
            self.batch,
            self.tbptt + 1,
            tokens.len()
        );
        let v = self.layout.config.vocab as u32;
        if let Some(bad) = tokens.iter().find(|&&t| t >= v) {
            anyhow::bail!("token {bad} is outside the vocabulary of {v}");
        }
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
        if self.backward.is_some() {
            // The row index follows the window (the embed_backward dispatch's index_off).
            let index = rows_by_token(tokens, self.batch, self.tbptt, v as usize);
            let at = std::mem::size_of_val(tokens) as u64;
            queue.write_buffer(&self.tokens, at, bytemuck::cast_slice(&index));
        }
        Ok(())
    }

    /// Zero the hidden state of the streams marked in `reset` (a new file begins there).
    pub fn reset_streams(&self, reset: &[bool]) {
        let h = self.layout.config.hidden;
        let zeros = vec![0u8; h * 4];
        for (b, _) in reset.iter().enumerate().filter(|(_, r)| **r) {
            for l in 0..self.layout.config.layers {
                let at = ((l * self.batch + b) * h * 4) as u64;
                self.gpu.queue.write_buffer(&self.state, at, &zeros);
            }
        }
    }

    /// Set the whole carried hidden state, `[L, B, H]`.
    pub fn set_state(&self, h: &[f32]) -> Result<()> {
        let c = self.layout.config;
        ensure!(
            h.len() == c.layers * self.batch * c.hidden,
            "hidden state has the wrong size"
        );
        self.gpu
            .queue
            .write_buffer(&self.state, 0, bytemuck::cast_slice(h));
        Ok(())
    }

    pub fn read_state(&self) -> Result<Vec<f32>> {
        let c = self.layout.config;
        self.gpu
            .read(&self.state, 0, c.layers * self.batch * c.hidden)
    }

    /// Logits of the last forward, reordered to `[B, T, V]`.
    pub fn read_logits(&self) -> Result<Vec<f32>> {
        let v = self.layout.config.vocab;
        let tm: Vec<f32> = self
            .gpu
            .read(&self.logits, 0, self.batch * self.tbptt * v)?;
        Ok(time_to_batch_major(&tm, self.batch, self.tbptt, v))
    }

    /// Gradient of the loss with respect to the hidden state the last window started from,
    /// `[L, B, H]` (valid after a backward).
    pub fn read_grad_h0(&self) -> Result<Vec<f32>> {
        let bh = self.batch * self.layout.config.hidden;
        let mut out = Vec::new();
        for l in &self.layers {
            out.extend(self.gpu.read::<f32>(&l.dhs, 0, bh)?);
        }
        Ok(out)
    }

    /// Hidden states of layer `l` at every step, `[B, T, H]`.
    pub fn read_layer_out(&self, l: usize) -> Result<Vec<f32>> {
        let h = self.layout.config.hidden;
        let bh = self.batch * h;
        let tm: Vec<f32> = self.gpu.read(&self.layers[l].hseq, bh, self.tbptt * bh)?;
        Ok(time_to_batch_major(&tm, self.batch, self.tbptt, h))
    }
}

/// [T, B, W] → [B, T, W].
pub fn time_to_batch_major<T: Copy + Default>(
    x: &[T],
    batch: usize,
    steps: usize,
    width: usize,
) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    for t in 0..steps {
        for b in 0..batch {
            let src = (t * batch + b) * width;
            let dst = (b * steps + t) * width;
            out[dst..dst + width].copy_from_slice(&x[src..src + width]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rows_by_token;

    #[test]
    fn rows_are_grouped_by_token_in_row_order() {
        // B = 2, T = 3: inputs are the first 3 of each 4-token row; row = t*B + b.
        let tokens = [2, 0, 2, 9, 1, 2, 0, 9];
        let got = rows_by_token(&tokens, 2, 3, 4);
        // Row tokens: t0 (2, 1), t1 (0, 2), t2 (2, 0) -> rows 0..6 = [2, 1, 0, 2, 2, 0].
        assert_eq!(&got[..5], &[0, 2, 3, 6, 6], "starts");
        assert_eq!(&got[5..], &[2, 5, 1, 0, 3, 4], "rows of token 0, 1, 2");
    }
}
