//! The GPU buffers and recorded programs of one SampleRNN chunk shape (B streams, T
//! targets): the forward with its loss, and (for training) the backward into a gradient
//! buffer. `record_forward` and `record_backward` are the model graph of
//! docs/SAMPLERNN_SPEC.md, one op per line, in the order they run.
//!
//! A chunk window is `[B, L+T]` tokens: inputs window[..L+T-1], targets window[L..].
//! Activations are time-major (row = m*B + b): tier k has S_k = T/n_k rows per stream,
//! the MLP T. Tier k's upsampled output Y_k is `[S_k*B, D*FS_k]` (slot j of dimension o at
//! column o*FS_k + j: one GEMM with U viewed as `[D, D*FS_k]`).

use super::{SrnnConfig, SrnnLayout, SrnnParam};
use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::ops::embedding::{rows_grouped, EmbedParams};
use crate::kernels::ops::softmax_xent::XentParams;
use crate::kernels::ops::srnn::{
    h0_params, CondParams, EltParams, FramesParams, MlpInputParams, TapParams,
};
use crate::kernels::ops::word;
use crate::kernels::{Buf, Epilogue, Kernels, Mat, COLSUM_PARTS};
use crate::train::gru_layer::{GruLayer, GruWeights, LayerBufs};
use crate::train::time_to_batch_major;
use anyhow::{ensure, Result};
use std::sync::Arc;

/// One frame tier's buffers.
struct TierBufs<B> {
    /// Dequantised frames `[S*B, n]`.
    frames: B,
    /// Expanded (and conditioned) frames `[S*B, D]`; their gradient in the backward.
    xe: B,
    layers: Vec<LayerBufs<B>>,
    /// Upsampled output `[S*B, D*FS]`.
    y: B,
    /// Its gradient.
    dy: B,
    /// The carried state `[R, B, D]`.
    state: B,
}

/// The MLP's buffers and the shared ones, `[T*B, ..]` rows.
struct MlpBufs<B> {
    tokens: B,
    reset: B,
    tables: B,
    a1: B,
    a2: B,
    logits: B,
    dlogits: B,
    losses: B,
    mean_loss: B,
    da1: B,
    da2: B,
    dtables: B,
    dwtaps: B,
    scratch: B,
    params: B,
    grads: Option<B>,
}

pub struct SrnnWorkspace {
    pub gpu: Arc<Gpu>,
    pub layout: SrnnLayout,
    pub batch: usize,
    /// Targets per chunk, T.
    pub tbptt: usize,
    tiers: Vec<TierBufs<wgpu::Buffer>>,
    mlp: MlpBufs<wgpu::Buffer>,
    pub forward: Program,
    pub backward: Option<Program>,
}

fn f(n: usize) -> u64 {
    (n * 4) as u64
}

impl SrnnWorkspace {
    /// Buffers and programs for chunks of `batch` x `tbptt` targets, reading weights from
    /// `params` and, when `grads` is given, writing the gradient of the bits loss there.
    pub fn new(
        gpu: &Arc<Gpu>,
        k: &Kernels,
        layout: &SrnnLayout,
        params: &wgpu::Buffer,
        grads: Option<&wgpu::Buffer>,
        batch: usize,
        tbptt: usize,
    ) -> Result<SrnnWorkspace> {
        let c = &layout.config;
        let l = c.lookback();
        ensure!(batch > 0, "the batch must be at least 1");
        ensure!(
            tbptt > 0 && tbptt.is_multiple_of(l),
            "a SampleRNN window T must be a positive multiple of the lookback L = {l} (the \
             product of the frame sizes {:?}), got {tbptt}",
            c.frame_sizes
        );
        let rows = batch
            .checked_mul(tbptt)
            .filter(|r| r.checked_mul(c.dim.max(c.levels) * 3).is_some())
            .ok_or_else(|| anyhow::anyhow!("batch x window {batch} x {tbptt} is too large"))?;
        for (what, n) in [
            ("the MLP activations (B*T*D)", rows * c.dim),
            ("the logits (B*T*q)", rows * c.levels),
            (
                "the tier-0 GRU gates (B*T/FS_0*4D)",
                rows / c.frame_sizes[0] * 4 * c.dim,
            ),
            ("the parameters", layout.total),
        ] {
            gpu.check_buffer_size(what, f(n))?;
        }
        let mut ws = Self::allocate(gpu, layout, params, grads, batch, tbptt);
        let mut pb = ProgramBuilder::new();
        let (tiers, mlp) = ws.bind(&mut pb);
        ws.record_forward(k, &mut pb, &tiers, &mlp);
        ws.forward = pb.build(gpu);
        if grads.is_some() {
            let mut pb = ProgramBuilder::new();
            let (tiers, mlp) = ws.bind(&mut pb);
            ws.record_backward(k, &mut pb, &tiers, &mlp);
            ws.backward = Some(pb.build(gpu));
        }
        Ok(ws)
    }

    fn allocate(
        gpu: &Arc<Gpu>,
        layout: &SrnnLayout,
        params: &wgpu::Buffer,
        grads: Option<&wgpu::Buffer>,
        batch: usize,
        tbptt: usize,
    ) -> SrnnWorkspace {
        let c = &layout.config;
        let (d, q, fs0, rows) = (c.dim, c.levels, c.frame_sizes[0], batch * tbptt);
        let train = grads.is_some();
        let grad = |n: usize| if train { n } else { 1 };
        let storage = |label, n: usize| gpu.storage(label, f(n.max(1)));
        let tiers = (0..c.tiers())
            .map(|k| {
                let (n, fs) = (c.frame_samples(k), c.frame_sizes[k]);
                let srows = rows / n;
                TierBufs {
                    frames: storage("frames", srows * n),
                    xe: storage("expanded frames", srows * d),
                    layers: (0..c.rnn_layers)
                        .map(|_| LayerBufs::allocate(gpu, batch, tbptt / n, d, train))
                        .collect(),
                    y: storage("upsampled", srows * d * fs),
                    dy: storage("upsampled grad", grad(srows * d * fs)),
                    state: storage("tier state", c.rnn_layers * batch * d),
                }
            })
            .collect();
        let index_len = if train { fs0 * (q + 1 + rows) } else { 0 };
        let mlp = MlpBufs {
            tokens: storage("tokens", batch * (c.lookback() + tbptt) + index_len),
            reset: storage("reset flags", batch),
            tables: storage("tap tables", fs0 * q * d),
            a1: storage("mlp a1", rows * d),
            a2: storage("mlp a2", rows * d),
            logits: storage("logits", rows * q),
            dlogits: storage("dlogits", rows * q),
            losses: storage("losses", rows),
            mean_loss: storage("mean loss", 1),
            da1: storage("mlp da1", grad(rows * d)),
            da2: storage("mlp da2", grad(rows * d)),
            dtables: storage("tap tables grad", grad(fs0 * q * d)),
            dwtaps: storage("input weight grad by tap", grad(fs0 * q * d)),
            scratch: storage(
                "colsum partials",
                COLSUM_PARTS * (d * c.frame_sizes.iter().max().unwrap()).max(q).max(3 * d),
            ),
            params: params.clone(),
            grads: grads.cloned(),
        };
        SrnnWorkspace {
            gpu: gpu.clone(),
            layout: layout.clone(),
            batch,
            tbptt,
            tiers,
            mlp,
            forward: ProgramBuilder::new().build(gpu),
            backward: None,
        }
    }

    fn bind(&self, pb: &mut ProgramBuilder) -> (Vec<TierBufs<Buf>>, MlpBufs<Buf>) {
        let tiers = (self.tiers.iter())
            .map(|t| {
                let layers = t.layers.iter().map(|l| l.bind(pb)).collect();
                let mut reg = |b: &wgpu::Buffer| Buf::register(pb, b);
                TierBufs {
                    frames: reg(&t.frames),
                    xe: reg(&t.xe),
                    layers,
                    y: reg(&t.y),
                    dy: reg(&t.dy),
                    state: reg(&t.state),
                }
            })
            .collect();
        let m = &self.mlp;
        let mut reg = |b: &wgpu::Buffer| Buf::register(pb, b);
        let mlp = MlpBufs {
            tokens: reg(&m.tokens),
            reset: reg(&m.reset),
            tables: reg(&m.tables),
            a1: reg(&m.a1),
            a2: reg(&m.a2),
            logits: reg(&m.logits),
            dlogits: reg(&m.dlogits),
            losses: reg(&m.losses),
            mean_loss: reg(&m.mean_loss),
            da1: reg(&m.da1),
            da2: reg(&m.da2),
            dtables: reg(&m.dtables),
            dwtaps: reg(&m.dwtaps),
            scratch: reg(&m.scratch),
            params: reg(&m.params),
            grads: m.grads.as_ref().map(&mut reg),
        };
        (tiers, mlp)
    }

    /// The forward pass and the mean loss in nats: the reset streams' states from h0,
    /// the tiers top-down, the tap tables, the MLP, log-softmax NLL.
    #[rustfmt::skip]
    fn record_forward(&self, k: &Kernels, pb: &mut ProgramBuilder, t: &[TierBufs<Buf>], m: &MlpBufs<Buf>) {
        use SrnnParam::*;
        let (c, d, q, rows) = (self.config(), self.config().dim, self.config().levels, self.rows());
        for (tier, tb) in t.iter().enumerate() {
            let h0 = h0_params(self.batch, d, c.rnn_layers, self.off(H0(tier)), 0);
            k.record_srnn_h0_reset(pb, &h0, m.reset, m.params, tb.state);
        }
        for tier in (0..c.tiers()).rev() {
            self.record_tier_forward(k, pb, tier, t, m);
        }
        for i in 0..c.frame_sizes[0] {
            k.record_gemm(pb, q, d, q, Mat::rows(m.params, self.off(Embedding), q), self.tap_weight(m.params, i, true), m.tables, i * q * d, d, Epilogue::None);
        }
        k.record_srnn_mlp_input(pb, &self.mlp_input_params(), m.tokens, m.tables, t[0].y, m.a1);
        k.record_gemm(pb, rows, d, d, Mat::rows(m.a1, 0, d), Mat::transposed(m.params, self.off(HiddenWeight), d), m.a2, 0, d, Epilogue::Bias(m.params, self.off(HiddenBias)));
        k.record_srnn_relu(pb, &EltParams { n: word(rows * d), off: 0 }, m.a2);
        k.record_gemm(pb, rows, q, d, Mat::rows(m.a2, 0, d), Mat::transposed(m.params, self.off(OutputWeight), d), m.logits, 0, q, Epilogue::Bias(m.params, self.off(OutputBias)));
        k.record_softmax_xent(pb, &self.xent_params(), m.logits, m.tokens, m.dlogits, m.losses);
        k.record_sum(pb, m.losses, 0, rows, 1.0 / rows as f32, m.mean_loss, 0);
    }

    /// Tier k: frames, x = W_exp·f + b_exp (+ the tier above's slot), the GRU layers, and
    /// the upsampling Y = H·U + u.
    #[rustfmt::skip]
    fn record_tier_forward(&self, k: &Kernels, pb: &mut ProgramBuilder, tier: usize, t: &[TierBufs<Buf>], m: &MlpBufs<Buf>) {
        use SrnnParam::*;
        let (c, tb) = (self.config(), &t[tier]);
        let (d, n, fs, srows) = (c.dim, c.frame_samples(tier), c.frame_sizes[tier], self.rows() / c.frame_samples(tier));
        k.record_srnn_frames(pb, &self.frames_params(tier), m.tokens, tb.frames);
        k.record_gemm(pb, srows, d, n, Mat::rows(tb.frames, 0, n), Mat::transposed(m.params, self.off(ExpandWeight(tier)), n), tb.xe, 0, d, Epilogue::Bias(m.params, self.off(ExpandBias(tier))));
        if tier + 1 < c.tiers() {
            k.record_srnn_cond_add(pb, &self.cond_params(tier), t[tier + 1].y, tb.xe);
        }
        for (l, lb) in tb.layers.iter().enumerate() {
            let x = if l == 0 { Mat::rows(tb.xe, 0, d) } else { self.gru(tier, l - 1).output(&tb.layers[l - 1]) };
            self.gru(tier, l).record_forward(k, pb, lb, x, m.params, tb.state, l * self.batch * d);
        }
        let top = self.gru(tier, c.rnn_layers - 1).output(tb.layers.last().expect("R >= 1"));
        k.record_gemm(pb, srows, d * fs, d, top, Mat::rows(m.params, self.off(UpWeight(tier)), d * fs), tb.y, 0, d * fs, Epilogue::Bias(m.params, self.off(UpBias(tier))));
    }

    /// The gradient of the bits loss (dlogits from the forward's softmax_xent): the MLP,
    /// the tap tables into the embedding and input weight, then the tiers bottom-up.
    #[rustfmt::skip]
    fn record_backward(&self, k: &Kernels, pb: &mut ProgramBuilder, t: &[TierBufs<Buf>], m: &MlpBufs<Buf>) {
        use Epilogue::None as Set;
        use SrnnParam::*;
        let (c, d, q, rows) = (self.config(), self.config().dim, self.config().levels, self.rows());
        let g = m.grads.expect("a training workspace");
        k.record_gemm(pb, q, d, rows, Mat::transposed(m.dlogits, 0, q), Mat::rows(m.a2, 0, d), g, self.off(OutputWeight), d, Set);
        k.record_colsum(pb, m.dlogits, 0, rows, q, g, self.off(OutputBias), m.scratch);
        k.record_gemm(pb, rows, d, q, Mat::rows(m.dlogits, 0, q), Mat::rows(m.params, self.off(OutputWeight), d), m.da2, 0, d, Set);
        k.record_srnn_relu_backward(pb, &EltParams { n: word(rows * d), off: 0 }, m.a2, m.da2);
        k.record_gemm(pb, d, d, rows, Mat::transposed(m.da2, 0, d), Mat::rows(m.a1, 0, d), g, self.off(HiddenWeight), d, Set);
        k.record_colsum(pb, m.da2, 0, rows, d, g, self.off(HiddenBias), m.scratch);
        k.record_gemm(pb, rows, d, d, Mat::rows(m.da2, 0, d), Mat::rows(m.params, self.off(HiddenWeight), d), m.da1, 0, d, Set);
        k.record_srnn_mlp_input_backward(pb, &self.mlp_input_params(), m.a1, m.da1, t[0].dy);
        for i in 0..c.frame_sizes[0] {
            // dtable_i = the rows of da1 summed by tap-i token; dE += dtable_i·W_i, dW_i = dtable_iᵀ·E.
            k.record_embed_backward(pb, &self.tap_embed_params(i), m.tokens, m.da1, m.dtables);
            let epi = if i == 0 { Set } else { Epilogue::Accumulate };
            k.record_gemm(pb, q, q, d, Mat::rows(m.dtables, i * q * d, d), self.tap_weight(m.params, i, false), g, self.off(Embedding), q, epi);
            k.record_gemm(pb, d, q, q, Mat::transposed(m.dtables, i * q * d, d), Mat::rows(m.params, self.off(Embedding), q), m.dwtaps, i * d * q, q, Set);
        }
        let tap = TapParams { taps: word(c.frame_sizes[0]), dim: word(d), levels: word(q), dst_off: word(self.off(InputWeight)) };
        k.record_srnn_tap_interleave(pb, &tap, m.dwtaps, g);
        for tier in 0..c.tiers() {
            self.record_tier_backward(k, pb, tier, t, m, g);
        }
    }

    /// Tier k from dY_k: U and u, the GRU layers, W_exp and b_exp, the tier above's dY,
    /// and h0 from the reset streams.
    #[rustfmt::skip]
    fn record_tier_backward(&self, k: &Kernels, pb: &mut ProgramBuilder, tier: usize, t: &[TierBufs<Buf>], m: &MlpBufs<Buf>, g: Buf) {
        use Epilogue::None as Set;
        use SrnnParam::*;
        let (c, tb) = (self.config(), &t[tier]);
        let (d, n, fs, srows, r) = (c.dim, c.frame_samples(tier), c.frame_sizes[tier], self.rows() / c.frame_samples(tier), c.rnn_layers);
        let top = tb.layers.last().expect("R >= 1");
        let h_top = self.gru(tier, r - 1).output(top);
        k.record_gemm(pb, d, d * fs, srows, Mat { buf: h_top.buf, off: h_top.off, rs: 1, cs: d }, Mat::rows(tb.dy, 0, d * fs), g, self.off(UpWeight(tier)), d * fs, Set);
        k.record_colsum(pb, tb.dy, 0, srows, d * fs, g, self.off(UpBias(tier)), m.scratch);
        k.record_gemm(pb, srows, d, d * fs, Mat::rows(tb.dy, 0, d * fs), Mat::transposed(m.params, self.off(UpWeight(tier)), d * fs), top.dh_out, 0, d, Set);
        for (l, lb) in tb.layers.iter().enumerate().rev() {
            let (x, dx) = if l == 0 { (Mat::rows(tb.xe, 0, d), tb.xe) } else { (self.gru(tier, l - 1).output(&tb.layers[l - 1]), tb.layers[l - 1].dh_out) };
            self.gru(tier, l).record_backward(k, pb, lb, x, m.params, g, m.scratch, dx);
            k.record_srnn_h0_grad(pb, &h0_params(self.batch, d, 1, self.off(H0(tier)) + l * d, 0), m.reset, lb.dhs, g);
        }
        k.record_gemm(pb, d, n, srows, Mat::transposed(tb.xe, 0, d), Mat::rows(tb.frames, 0, n), g, self.off(ExpandWeight(tier)), n, Set);
        k.record_colsum(pb, tb.xe, 0, srows, d, g, self.off(ExpandBias(tier)), m.scratch);
        if tier + 1 < c.tiers() {
            k.record_srnn_cond_grad(pb, &self.cond_params(tier), tb.xe, t[tier + 1].dy);
        }
    }

    fn config(&self) -> &SrnnConfig {
        &self.layout.config
    }

    fn off(&self, kind: SrnnParam) -> usize {
        self.layout.offset(kind)
    }

    /// Targets in a chunk, B*T.
    fn rows(&self) -> usize {
        self.batch * self.tbptt
    }

    /// Tokens in a window row, L + T.
    fn window(&self) -> usize {
        self.config().lookback() + self.tbptt
    }

    /// GRU layer l of tier k over its S_k steps.
    fn gru(&self, tier: usize, l: usize) -> GruLayer {
        use SrnnParam::*;
        GruLayer {
            batch: self.batch,
            steps: self.tbptt / self.config().frame_samples(tier),
            hidden: self.config().dim,
            inp: self.config().dim,
            w: GruWeights {
                w_ih: self.off(WeightIh(tier, l)),
                w_hh: self.off(WeightHh(tier, l)),
                b_ih: self.off(BiasIh(tier, l)),
                b_hh: self.off(BiasHh(tier, l)),
            },
        }
    }

    /// W_in[:, :, i] as a GEMM operand: `[q, D]` (element (v, d)) when `by_level`, else
    /// `[D, q]` (element (d, v)); input.weight is `[D, q, FS_0]`.
    fn tap_weight(&self, params: Buf, i: usize, by_level: bool) -> Mat {
        let (q, fs0) = (self.config().levels, self.config().frame_sizes[0]);
        let (along_v, along_d) = (fs0, q * fs0);
        let off = self.off(SrnnParam::InputWeight) + i;
        if by_level {
            Mat {
                buf: params,
                off,
                rs: along_v,
                cs: along_d,
            }
        } else {
            Mat {
                buf: params,
                off,
                rs: along_d,
                cs: along_v,
            }
        }
    }

    fn frames_params(&self, tier: usize) -> FramesParams {
        let (c, n) = (self.config(), self.config().frame_samples(tier));
        FramesParams {
            rows: word(self.rows() / n),
            batch: word(self.batch),
            n: word(n),
            tok_stride: word(self.window()),
            tok_off: word(c.lookback() - n),
            half: c.levels as f32 / 2.0,
        }
    }

    /// Tier `tier` (lower) against the tier above it.
    fn cond_params(&self, tier: usize) -> CondParams {
        let c = self.config();
        CondParams {
            rows: word(self.rows() / c.frame_samples(tier)),
            batch: word(self.batch),
            dim: word(c.dim),
            fs: word(c.frame_sizes[tier + 1]),
            x_off: 0,
            y_off: 0,
        }
    }

    fn mlp_input_params(&self) -> MlpInputParams {
        let c = self.config();
        MlpInputParams {
            rows: word(self.rows()),
            batch: word(self.batch),
            dim: word(c.dim),
            fs0: word(c.frame_sizes[0]),
            levels: word(c.levels),
            tok_stride: word(self.window()),
            tok_off: word(c.lookback() - c.frame_sizes[0]),
        }
    }

    fn xent_params(&self) -> XentParams {
        let c = self.config();
        XentParams {
            rows: word(self.rows()),
            vocab: word(c.levels),
            batch: word(self.batch),
            tok_stride: word(self.window()),
            // The gradient of the bits loss (samplernn's sequence_nll_loss_bits).
            scale: (1.0 / (self.rows() as f64 * std::f64::consts::LN_2)) as f32,
            tok_off: word(c.lookback() - 1),
        }
    }

    /// Tap i's rows grouped by token: the index list after the window (`upload_tokens`).
    fn tap_embed_params(&self, i: usize) -> EmbedParams {
        let (c, rows) = (self.config(), self.rows());
        EmbedParams {
            rows: word(rows),
            dim: word(c.dim),
            batch: word(self.batch),
            tok_stride: word(self.window()),
            emb_off: word(i * c.levels * c.dim),
            vocab: word(c.levels),
            index_off: word(self.batch * self.window() + i * (c.levels + 1 + rows)),
        }
    }
}

impl SrnnWorkspace {
    /// Upload a `[B, L+T]` chunk window (and, for training, each tap's rows grouped by
    /// token, the index the table gradient sums by).
    pub fn upload_tokens(&self, window: &[u32]) -> Result<()> {
        let (c, w, b) = (self.config(), self.window(), self.batch);
        ensure!(
            window.len() == b * w,
            "expected {b} x {w} tokens (L + T), got {}",
            window.len()
        );
        let q = c.levels as u32;
        if let Some(bad) = window.iter().find(|&&t| t >= q) {
            anyhow::bail!("token {bad} is outside the {q} levels");
        }
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.mlp.tokens, 0, bytemuck::cast_slice(window));
        if self.backward.is_some() {
            let tap0 = c.lookback() - c.frame_sizes[0];
            let mut index = Vec::new();
            for i in 0..c.frame_sizes[0] {
                let token = |row: usize| window[(row % b) * w + tap0 + row / b + i] as usize;
                index.extend(rows_grouped(self.rows(), c.levels, token));
            }
            queue.write_buffer(&self.mlp.tokens, f(b * w), bytemuck::cast_slice(&index));
        }
        Ok(())
    }

    /// Mark the streams whose tiers start from h0 in the next forward (their first chunk).
    pub fn reset_streams(&self, reset: &[bool]) {
        assert_eq!(reset.len(), self.batch, "reset mask has the wrong length");
        let flags: Vec<u32> = reset.iter().map(|&r| r as u32).collect();
        self.gpu
            .queue
            .write_buffer(&self.mlp.reset, 0, bytemuck::cast_slice(&flags));
    }

    /// Floats of the carried state: every tier's `[R, B, D]`, bottom tier first.
    pub fn state_len(&self) -> usize {
        self.config().tiers() * self.config().rnn_layers * self.batch * self.config().dim
    }

    pub fn read_state(&self) -> Result<Vec<f32>> {
        let n = self.state_len() / self.tiers.len();
        let mut out = Vec::with_capacity(self.state_len());
        for t in &self.tiers {
            out.extend(self.gpu.read::<f32>(&t.state, 0, n)?);
        }
        Ok(out)
    }

    pub fn set_state(&self, h: &[f32]) -> Result<()> {
        ensure!(h.len() == self.state_len(), "tier state has the wrong size");
        for (t, part) in self
            .tiers
            .iter()
            .zip(h.chunks_exact(h.len() / self.tiers.len()))
        {
            self.gpu
                .queue
                .write_buffer(&t.state, 0, bytemuck::cast_slice(part));
        }
        Ok(())
    }

    /// The mean loss (nats) of the last forward.
    pub fn loss_buffer(&self) -> &wgpu::Buffer {
        &self.mlp.mean_loss
    }

    /// The NLL (nats) of every target of the last forward, time-major `[T, B]`: copy it out
    /// to keep it past the next forward, and reorder it with [`Self::batch_major_losses`].
    pub fn losses_buffer(&self) -> &wgpu::Buffer {
        &self.mlp.losses
    }

    /// One forward's losses, as [`Self::losses_buffer`] holds them, reordered to `[B, T]`.
    pub fn batch_major_losses(&self, time_major: &[f32]) -> Vec<f32> {
        time_to_batch_major(time_major, self.batch, self.tbptt, 1)
    }

    /// The NLL (nats) of every target of the last forward, reordered to `[B, T]`.
    pub fn read_losses(&self) -> Result<Vec<f32>> {
        let tm: Vec<f32> = self.gpu.read(&self.mlp.losses, 0, self.rows())?;
        Ok(self.batch_major_losses(&tm))
    }

    /// Logits of the last forward, reordered to `[B, T, q]`.
    pub fn read_logits(&self) -> Result<Vec<f32>> {
        let q = self.config().levels;
        let tm: Vec<f32> = self.gpu.read(&self.mlp.logits, 0, self.rows() * q)?;
        Ok(time_to_batch_major(&tm, self.batch, self.tbptt, q))
    }
}
