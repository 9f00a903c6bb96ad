//! Autoregressive generation on the GPU for 1 to 1024 independent streams.
//!
//! Per token: one dispatch per layer (`sample_cell`), one for the head's logits spread over
//! many workgroups (`sample_logits`) and one for the draw (`sample_draw`); with one or two
//! streams on a GPU the draw runs inside the next step's layer-0 dispatch instead. Tokens are drawn on the GPU from a counter-based hash of (seed, stream,
//! step) and written to a history buffer; a block of steps is encoded per submit and the
//! host reads back once per block, while the next block already runs.

mod draw;
pub mod events;

pub use draw::{
    draw, draw_with_rules, edge_distance, edge_distance_with_rules, uniform, weights, NoteState,
    NOTE_WORDS,
};

use crate::gpu::{Gpu, KernelTime, Profiler, Program, ProgramBuilder};
use crate::kernels::ops::sample::{CellParams, Controls, DrawParams, LogitParams, SampleBufs};
use crate::kernels::ops::step::GruCellParams;
use crate::kernels::ops::word;
use crate::kernels::{Buf, Epilogue, Kernels, Mat};
use crate::model::{ParamKind, ParamLayout};
use anyhow::{ensure, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const MAX_STREAMS: usize = 1024;
/// The input of the first step when nothing primes the model: V/2, which for 256 mu-law
/// codes is 128, silence.
/// The largest vocabulary the sampler draws from (token ids are u32 throughout; the
/// bound keeps the logits scratch and the draw's scan small).
pub const MAX_VOCAB: usize = 65_536;

pub fn start_token(vocab: usize) -> u32 {
    (vocab / 2) as u32
}

/// Well-formed note sampling for perf388 models (see [`Sampler::set_note_rules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteRules {
    /// Steps of 10 ms a note may sound before its NOTE_OFF is forced.
    pub max_hold: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// Softmax temperature; 0 means argmax.
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: 0,
            seed: 0,
        }
    }
}

/// How the sampler splits its work over workgroups. Every tuning computes the same tokens;
/// the best one depends on the adapter and the number of streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Draw inside the next layer-0 dispatch (one dispatch fewer per token; each layer-0
    /// workgroup repeats the draw, which is free on a GPU but not on a CPU adapter).
    pub fused_draw: bool,
    /// Hidden units per cell workgroup (a power of two up to 64); 256 / units threads split K.
    pub cell_units: usize,
    /// Streams per cell workgroup, 1 to 4.
    pub cell_streams: usize,
    /// Threads splitting each logit's H-long product: 1, 2, 4, ..., 256.
    pub logit_lanes: usize,
    /// Layers run as `gru_cell`, tiled like the training step (8 streams x 32 units per
    /// workgroup, weights staged through workgroup memory and shared by the 8 streams)
    /// instead of `sample_cell` (cell_units/cell_streams then apply only to a fused-draw
    /// layer 0). Meant for many streams.
    pub tiled_cell: bool,
    /// The cell and logit kernels' K loops take four k per iteration, all loads first.
    pub unroll: bool,
}

impl Tuning {
    /// Measured on an H200 and on lavapipe (BENCHMARKS.md): on a GPU few streams want the
    /// work split finely and the draw fused; a CPU adapter runs workgroups one after another
    /// on few cores and wants fewer, longer ones.
    pub fn for_adapter(gpu: &Gpu, streams: usize) -> Tuning {
        if gpu.is_software() {
            Tuning {
                fused_draw: false,
                cell_units: 32,
                cell_streams: 4,
                logit_lanes: 1,
                tiled_cell: false,
                unroll: false,
            }
        } else {
            Tuning::gpu_candidates(streams)[0]
        }
    }

    /// The work splits worth timing on this adapter for `streams` streams (see
    /// `Sampler::autotune`), the default first. A software adapter gets only its default:
    /// there the timing would cost more than it could save.
    pub fn candidates(gpu: &Gpu, streams: usize) -> Vec<Tuning> {
        if gpu.is_software() {
            vec![Tuning::for_adapter(gpu, streams)]
        } else {
            Tuning::gpu_candidates(streams)
        }
    }

    /// A GPU's candidates, its default first: for one or two streams the draw fused into
    /// layer 0 and K split finely; for more, the cell spread over 4 streams per workgroup or
    /// tiled as in training. Each with and without unrolled K loops.
    pub fn gpu_candidates(streams: usize) -> Vec<Tuning> {
        let d = if streams <= 2 {
            Tuning {
                fused_draw: true,
                cell_units: 4,
                cell_streams: 1,
                logit_lanes: 64,
                tiled_cell: false,
                unroll: false,
            }
        } else {
            Tuning {
                fused_draw: false,
                cell_units: 32,
                cell_streams: 4,
                logit_lanes: 32,
                tiled_cell: false,
                unroll: false,
            }
        };
        let mut v = Vec::new();
        for unroll in [false, true] {
            let base = Tuning { unroll, ..d };
            v.push(base);
            if streams <= 2 {
                for cell_units in [1, 2, 8] {
                    v.push(Tuning { cell_units, ..base });
                }
                v.push(Tuning {
                    logit_lanes: 32,
                    ..base
                });
            } else {
                v.push(Tuning {
                    tiled_cell: true,
                    ..base
                });
                v.push(Tuning {
                    cell_units: 16,
                    ..base
                });
            }
        }
        v
    }

    fn validate(&self) -> Result<()> {
        let pow2 = |x: usize| x.is_power_of_two();
        ensure!(
            pow2(self.cell_units) && self.cell_units <= 64,
            "cell_units must be a power of two up to 64"
        );
        ensure!(
            (1..=4).contains(&self.cell_streams),
            "cell_streams must be 1 to 4"
        );
        ensure!(
            pow2(self.logit_lanes) && self.logit_lanes <= 256,
            "logit_lanes must be a power of two up to 256"
        );
        Ok(())
    }
}

impl std::fmt::Display for Tuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tiled_cell {
            write!(f, "tiled cell")?;
        } else {
            write!(f, "cell {}x{}", self.cell_units, self.cell_streams)?;
        }
        write!(f, ", {} logit lanes", self.logit_lanes)?;
        if self.fused_draw {
            write!(f, ", fused draw")?;
        }
        if self.unroll {
            write!(f, ", unrolled")?;
        }
        Ok(())
    }
}

/// Offsets of one layer's tensors in the sampler's weight buffer.
struct LayerOffsets {
    wih_t: usize,
    whh_t: usize,
    bih: usize,
    bhh: usize,
}

/// Where the sampler's weight buffer holds each tensor.
struct Offsets {
    layers: Vec<LayerOffsets>,
    /// W_o `[V, H]` and b_o.
    wo: usize,
    bo: usize,
    /// Layer 0's input projection of every token, `[V, 3H]`.
    table: usize,
}

/// The sampler's buffers registered with one program.
struct Bound {
    w: Buf,
    params: Buf,
    hist: Buf,
    h: [Buf; 2],
    ctl: Buf,
    logits: Buf,
    notes: Buf,
}

impl Bound {
    /// The buffers of step `step`: even steps read h[0] and write h[1], odd steps the reverse.
    fn step(&self, step: usize) -> SampleBufs {
        let (h_in, h) = if step.is_multiple_of(2) {
            (self.h[0], self.h[1])
        } else {
            (self.h[1], self.h[0])
        };
        SampleBufs {
            w: self.w,
            hist: self.hist,
            h_in,
            h,
            ctl: self.ctl,
            logits: self.logits,
            notes: self.notes,
        }
    }
}

pub struct Sampler {
    gpu: Arc<Gpu>,
    kernels: Arc<Kernels>,
    layout: ParamLayout,
    streams: usize,
    block: usize,
    weights: wgpu::Buffer,
    /// The parameters in PyTorch's layout (gru_cell reads the GRU weights from here).
    params: wgpu::Buffer,
    /// Ping-pong hidden states, each [L, S, H].
    h: [wgpu::Buffer; 2],
    /// Token history of a block: row 0 holds the inputs, row c+1 the draw of step c. [block+1, S]
    hist: wgpu::Buffer,
    carry: wgpu::Buffer,
    ctl: wgpu::Buffer,
    /// perf388 note state per stream ([S, NOTE_WORDS]), read and updated by the draw.
    notes: wgpu::Buffer,
    /// The note rules in force, if any.
    rules: Option<NoteRules>,
    gen: Program,
    staging: [wgpu::Buffer; 2],
    /// Tokens drawn so far per stream: the step counter of the random numbers.
    drawn: u64,
    tuning: Tuning,
    offsets: Offsets,
    scratch: wgpu::Buffer,
}

/// The transpose of a row-major [rows, cols] matrix.
pub(crate) fn transpose<T: Copy + Default>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); src.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = src[r * cols + c];
        }
    }
    out
}

/// The weights repacked for the sampler: the GRU weights transposed so the GPU reads
/// them coalesced, the head, and room for layer 0's table; each tensor 64-aligned.
fn pack_weights(layout: &ParamLayout, params: &[f32]) -> (Vec<f32>, Offsets) {
    let c = layout.config;
    let (v, h) = (c.vocab, c.hidden);
    let mut w: Vec<f32> = Vec::new();
    let mut push = |x: &[f32]| {
        let at = w.len();
        w.extend_from_slice(x);
        w.resize(w.len().next_multiple_of(64), 0.0);
        at
    };
    let view = |kind| layout.view(params, kind);
    let layers = (0..c.layers)
        .map(|l| LayerOffsets {
            wih_t: push(&transpose(
                view(ParamKind::WeightIh(l)),
                3 * h,
                c.layer_input(l),
            )),
            whh_t: push(&transpose(view(ParamKind::WeightHh(l)), 3 * h, h)),
            bih: push(view(ParamKind::BiasIh(l))),
            bhh: push(view(ParamKind::BiasHh(l))),
        })
        .collect();
    let wo = push(view(ParamKind::HeadWeight));
    let bo = push(view(ParamKind::HeadBias));
    let table = push(&vec![0.0; v * 3 * h]);
    let offsets = Offsets {
        layers,
        wo,
        bo,
        table,
    };
    (w, offsets)
}

/// Layer 0's input projection for every token, once, into the weights at `table`:
/// embedding·W_ihᵀ + b_ih.
fn record_table(
    gpu: &Arc<Gpu>,
    k: &Kernels,
    layout: &ParamLayout,
    params: &wgpu::Buffer,
    weights: &wgpu::Buffer,
    table: usize,
) {
    let c = layout.config;
    let (v, e, h) = (c.vocab, c.embed, c.hidden);
    let off = |kind| layout.get(kind).offset;
    let mut pb = ProgramBuilder::new();
    let (pr, wb) = (
        Buf::register(&mut pb, params),
        Buf::register(&mut pb, weights),
    );
    let emb = Mat::rows(pr, off(ParamKind::Embedding), e);
    let w_ih = Mat::transposed(pr, off(ParamKind::WeightIh(0)), e);
    let b_ih = Epilogue::Bias(pr, off(ParamKind::BiasIh(0)));
    k.record_gemm(&mut pb, v, 3 * h, e, emb, w_ih, wb, table, 3 * h, b_ih);
    let prog = pb.build(gpu);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    prog.encode(&mut enc, None);
    gpu.queue.submit([enc.finish()]);
}

impl Sampler {
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Arc<Kernels>,
        layout: &ParamLayout,
        params: &[f32],
        streams: usize,
    ) -> Result<Sampler> {
        ensure!(
            (1..=MAX_STREAMS).contains(&streams),
            "streams must be between 1 and {MAX_STREAMS}, got {streams}"
        );
        ensure!(
            params.len() == layout.total,
            "parameter vector has the wrong length"
        );
        let c = layout.config;
        ensure!(
            c.vocab <= MAX_VOCAB,
            "the sampler draws from vocabularies of up to {MAX_VOCAB} tokens, but this model has {}",
            c.vocab
        );
        let (v, h, nl) = (c.vocab, c.hidden, c.layers);
        let (w, offsets) = pack_weights(layout, params);
        gpu.check_buffer_size("the sampler's weights", (w.len() * 4) as u64)?;
        let weights = gpu.storage_from("sampler weights", &w);
        let pbuf = gpu.storage_from("params", params);
        record_table(gpu, kernels, layout, &pbuf, &weights, offsets.table);

        // Blocks of even length keep the ping-pong parity fixed at block starts.
        let block = if streams >= 64 { 32 } else { 64 };
        let state_bytes = (nl * streams * h * 4) as u64;
        let hbufs = [
            gpu.storage("sampler h0", state_bytes),
            gpu.storage("sampler h1", state_bytes),
        ];
        let hist = gpu.storage("token history", ((block + 1) * streams * 4) as u64);
        let carry = gpu.storage("token carry", (streams * 4) as u64);
        let ctl = gpu.storage("sampler controls", std::mem::size_of::<Controls>() as u64);
        let notes = gpu.storage("note state", (streams * NOTE_WORDS * 4) as u64);
        let scratch = gpu.storage("sampler logits", (streams * v * 4) as u64);
        let staging = [0, 1].map(|_| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("token readback"),
                size: (block * streams * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let mut s = Sampler {
            gpu: gpu.clone(),
            kernels: kernels.clone(),
            layout: layout.clone(),
            streams,
            block,
            weights,
            params: pbuf,
            h: hbufs,
            hist,
            carry,
            ctl,
            notes,
            rules: None,
            gen: ProgramBuilder::new().build(gpu),
            staging,
            drawn: 0,
            tuning: Tuning::for_adapter(gpu, streams),
            offsets,
            scratch,
        };
        s.gen = s.record(block, true, streams, s.tuning);
        s.reset(&[])?;
        Ok(s)
    }

    /// Record `steps` steps of the first `active` streams (the state keeps its layout for
    /// all of them); step c reads its input tokens from history row c. With `draw`, the head
    /// writes row c+1; without, the steps only feed given tokens (priming).
    fn record(&self, steps: usize, draw: bool, active: usize, tuning: Tuning) -> Program {
        let (nl, s) = (self.layout.config.layers, active);
        assert!(
            (1..=self.streams).contains(&s) && (!draw || s == self.streams),
            "a drawing program runs every stream; a feeding one 1 to all"
        );
        let k = &self.kernels;
        let mut pb = ProgramBuilder::new();
        let b = self.bind(&mut pb);
        let fuse = draw && tuning.fused_draw;
        for step in 0..steps {
            let sb = b.step(step);
            for l in 0..nl {
                // With a fused draw, layer 0 draws this step's input from the last logits.
                let p = self.cell_params(l, step, s, tuning);
                if fuse && l == 0 && step > 0 {
                    k.record_sample_cell_draw(&mut pb, &p, &sb);
                } else if tuning.tiled_cell {
                    let p = self.gru_cell_params(l, step, s);
                    k.record_gru_cell(&mut pb, &p, sb.hist, b.params, sb.h_in, sb.h, sb.w);
                } else {
                    k.record_sample_cell(&mut pb, &p, &sb);
                }
            }
            if draw {
                k.record_sample_logits(&mut pb, &self.logit_params(s, tuning), &sb);
                if !fuse {
                    k.record_sample_draw(&mut pb, &self.draw_params(s, step + 1, step), s, &sb);
                }
            }
        }
        if fuse {
            // The last step's token, which no later layer-0 dispatch draws.
            let p = self.draw_params(s, steps, steps - 1);
            k.record_sample_draw(&mut pb, &p, s, &b.step(steps));
        }
        if steps % 2 == 1 {
            // Keep the state in h[0] between calls.
            pb.copy(b.h[1].id, 0, b.h[0].id, 0, self.h[0].size());
        }
        // The last row becomes the next block's input row.
        let row = (self.streams * 4) as u64;
        let carry = pb.buffer(&self.carry);
        pb.copy(b.hist.id, steps as u64 * row, carry, 0, row);
        pb.copy(carry, 0, b.hist.id, 0, row);
        pb.build(&self.gpu)
    }

    fn bind(&self, pb: &mut ProgramBuilder) -> Bound {
        let mut reg = |b: &wgpu::Buffer| Buf::register(pb, b);
        Bound {
            w: reg(&self.weights),
            params: reg(&self.params),
            hist: reg(&self.hist),
            h: [reg(&self.h[0]), reg(&self.h[1])],
            ctl: reg(&self.ctl),
            logits: reg(&self.scratch),
            notes: reg(&self.notes),
        }
    }

    /// Layer l of step `step` for the first `s` streams, as `sample_cell` runs it.
    fn cell_params(&self, l: usize, step: usize, s: usize, t: Tuning) -> CellParams {
        let c = self.layout.config;
        let (o, stride, h) = (&self.offsets.layers[l], self.streams, c.hidden);
        CellParams {
            streams: word(s),
            hidden: word(h),
            inp: word(if l == 0 { 0 } else { c.layer_input(l) }),
            units: word(t.cell_units),
            sb: word(t.cell_streams),
            wih_off: word(o.wih_t),
            whh_off: word(o.whh_t),
            bih_off: word(o.bih),
            bhh_off: word(o.bhh),
            table_off: word(self.offsets.table),
            x_off: word((l.max(1) - 1) * stride * h),
            hprev_off: word(l * stride * h),
            hout_off: word(l * stride * h),
            tok_off: word(step * stride),
            vocab: word(c.vocab),
            draw_step: word(step.saturating_sub(1)),
            unroll: t.unroll as u32,
        }
    }

    /// Layer l of step `step` as `gru_cell` runs it, on the parameters in PyTorch's layout.
    fn gru_cell_params(&self, l: usize, step: usize, s: usize) -> GruCellParams {
        let c = self.layout.config;
        let off = |kind| word(self.layout.get(kind).offset);
        let (stride, h) = (self.streams, c.hidden);
        GruCellParams {
            streams: word(s),
            hidden: word(h),
            inp: word(if l == 0 { 0 } else { c.layer_input(l) }),
            x_off: word((l.max(1) - 1) * stride * h),
            hprev_off: word(l * stride * h),
            hout_off: word(l * stride * h),
            wih_off: if l == 0 {
                0
            } else {
                off(ParamKind::WeightIh(l))
            },
            whh_off: off(ParamKind::WeightHh(l)),
            bih_off: off(ParamKind::BiasIh(l)),
            bhh_off: off(ParamKind::BiasHh(l)),
            table_off: word(self.offsets.table),
            tok_off: word(step * stride),
            vocab: word(c.vocab),
        }
    }

    fn logit_params(&self, s: usize, t: Tuning) -> LogitParams {
        let c = self.layout.config;
        LogitParams {
            streams: word(s),
            hidden: word(c.hidden),
            vocab: word(c.vocab),
            wo_off: word(self.offsets.wo),
            bo_off: word(self.offsets.bo),
            h_off: word((c.layers - 1) * s * c.hidden),
            sb: word(s.min(4)),
            lanes: word(t.logit_lanes),
            unroll: t.unroll as u32,
        }
    }

    /// The draw of step `step` into history row `row`.
    fn draw_params(&self, s: usize, row: usize, step: usize) -> DrawParams {
        DrawParams {
            vocab: word(self.layout.config.vocab),
            out_off: word(row * s),
            step: word(step),
        }
    }

    /// Change how the work is split over workgroups (all tunings give the same tokens).
    pub fn set_tuning(&mut self, mut t: Tuning) -> Result<()> {
        t.validate()?;
        // The note state has one owner per stream only in the separate draw.
        t.fused_draw &= self.rules.is_none();
        self.tuning = t;
        self.gen = self.record(self.block, true, self.streams, t);
        Ok(())
    }

    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// Times `candidates` (one warm-up block, then `blocks` timed ones each) and keeps the
    /// fastest: all give the same tokens, so only speed differs. Returns each candidate's
    /// tokens/s. The timing generates tokens, so the state is reset afterwards: prime after.
    /// As [`Sampler::autotune`], but first asks `cache` for this model shape and stream
    /// count, and remembers what timing chose. Returns whether it timed.
    pub fn autotune_cached(
        &mut self,
        candidates: &[Tuning],
        blocks: usize,
        cache: &crate::gpu::tuning_cache::TuningCache,
    ) -> Result<bool> {
        let c = self.layout.config;
        let key = format!("sample S={} {c}", self.streams);
        let cached = cache.get(&key);
        if let Some(t) = candidates.iter().find(|t| Some(format!("{t:?}")) == cached) {
            self.set_tuning(*t)?;
            return Ok(false);
        }
        self.autotune(candidates, blocks)?;
        cache.put(&key, &format!("{:?}", self.tuning));
        Ok(true)
    }

    pub fn autotune(&mut self, candidates: &[Tuning], blocks: usize) -> Result<Vec<(Tuning, f64)>> {
        ensure!(!candidates.is_empty(), "no tunings to choose from");
        let opts = SampleOptions::default();
        let n = blocks.max(1) * self.block;
        let mut timed = Vec::new();
        for &t in candidates {
            self.set_tuning(t)?;
            self.generate(self.block, &opts, &mut |_| {})?;
            let t0 = std::time::Instant::now();
            self.generate(n, &opts, &mut |_| {})?;
            timed.push((t, (n * self.streams) as f64 / t0.elapsed().as_secs_f64()));
        }
        let best = timed
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one candidate")
            .0;
        self.set_tuning(best)?;
        self.reset(&[])?;
        Ok(timed)
    }

    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Dispatches per generated token step (all streams advance together).
    pub fn dispatches_per_token(&self) -> usize {
        self.layout.config.layers + if self.tuning.fused_draw { 1 } else { 2 }
    }

    /// Zero the state, set every stream's next input to `tokens`' last entry (`start_token`
    /// if empty), and restart the random-number step counter.
    pub fn reset(&mut self, tokens: &[u32]) -> Result<()> {
        let zeros = vec![0u8; self.h[0].size() as usize];
        self.gpu.queue.write_buffer(&self.h[0], 0, &zeros);
        self.set_note_state(&NoteState::default());
        let last = tokens
            .last()
            .map_or(start_token(self.layout.config.vocab), |&t| t);
        self.write_row0(&vec![last; self.streams])?;
        self.drawn = 0;
        Ok(())
    }

    fn write_row0(&self, toks: &[u32]) -> Result<()> {
        let v = self.layout.config.vocab as u32;
        if let Some(bad) = toks.iter().find(|&&t| t >= v) {
            anyhow::bail!("token {bad} is outside the model's vocabulary of {v}");
        }
        self.gpu
            .queue
            .write_buffer(&self.hist, 0, bytemuck::cast_slice(toks));
        Ok(())
    }

    /// Run a token prefix through the network from a zero state, as a recording to be
    /// continued: afterwards every stream's state has consumed all but the last prefix
    /// token, which is the input of the first generated step.
    pub fn prime(&mut self, tokens: &[u32]) -> Result<()> {
        self.prime_with_progress(tokens, &mut |_| {})
    }

    /// As `prime`; `progress` gets the prefix tokens fed so far (the GPU keeps one chunk
    /// queued ahead while the host waits for the one before).
    pub fn prime_with_progress(
        &mut self,
        tokens: &[u32],
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        self.reset(&[])?;
        if tokens.is_empty() {
            return Ok(());
        }
        // Every stream gets the same prefix: feed it to stream 0 alone, with the work split
        // that suits one stream, and copy the state to the others at the end.
        let body = &tokens[..tokens.len() - 1];
        let one = Tuning::for_adapter(&self.gpu, 1);
        let mut feed = None;
        let mut previous: Option<wgpu::SubmissionIndex> = None;
        for (i, chunk) in body.chunks(self.block).enumerate() {
            if feed.as_ref().is_none_or(|(n, _)| *n != chunk.len()) {
                feed = Some((chunk.len(), self.record(chunk.len(), false, 1, one)));
            }
            let rows: Vec<u32> = chunk
                .iter()
                .flat_map(|&t| std::iter::repeat_n(t, self.streams))
                .collect();
            self.write_row0(&rows)?;
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            feed.as_ref().unwrap().1.encode(&mut enc, None);
            let this = self.gpu.queue.submit([enc.finish()]);
            if let Some(idx) = previous.replace(this) {
                self.gpu.wait_for(Some(idx))?;
                progress(i * self.block);
            }
        }
        self.write_row0(&vec![*tokens.last().unwrap(); self.streams])?;
        if self.streams > 1 {
            let h = self.layout.config.hidden;
            let state = self.read_state()?;
            let all: Vec<f32> = state
                .chunks_exact(self.streams * h)
                .flat_map(|layer| layer[..h].repeat(self.streams))
                .collect();
            self.gpu
                .queue
                .write_buffer(&self.h[0], 0, bytemuck::cast_slice(&all));
        }
        self.gpu.wait()?;
        progress(body.len());
        Ok(())
    }

    /// Hidden state of every stream, `[L, S, H]`.
    pub fn read_state(&self) -> Result<Vec<f32>> {
        let n = (self.h[0].size() / 4) as usize;
        self.gpu.read(&self.h[0], 0, n)
    }

    /// Time each kernel of one generation block (the state advances by one block).
    pub fn profile_block(
        &mut self,
        opts: &SampleOptions,
        prof: &mut Profiler,
    ) -> Result<BTreeMap<String, KernelTime>> {
        self.write_controls(opts);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.gen.encode(&mut enc, Some(prof));
        self.drawn += self.block as u64;
        prof.finish(&self.gpu, enc)
    }

    /// Tokens per stream generated per submit.
    pub fn block(&self) -> usize {
        self.block
    }

    fn write_controls(&self, opts: &SampleOptions) {
        let ctl = Controls {
            seed_lo: opts.seed as u32,
            seed_hi: (opts.seed >> 32) as u32,
            base_step: self.drawn as u32,
            top_k: opts.top_k as u32,
            temperature: opts.temperature,
            note_rules: u32::from(self.rules.is_some()),
            max_hold: self.rules.map_or(0, |r| r.max_hold),
        };
        self.gpu
            .queue
            .write_buffer(&self.ctl, 0, bytemuck::bytes_of(&ctl));
    }

    /// Turns the perf388 note rules on (or off with `None`): a NOTE_ON of a sounding pitch
    /// and a NOTE_OFF of a silent one are never drawn, and a note held `max_hold` steps
    /// gets its NOTE_OFF forced. The draw then runs in its own dispatch, where one
    /// workgroup per stream owns the note state (the fused draw repeats it in many).
    pub fn set_note_rules(&mut self, rules: Option<NoteRules>) -> Result<()> {
        if let Some(r) = rules {
            ensure!(
                self.layout.config.vocab == crate::midi::VOCAB,
                "note rules need a perf388 model (V = {}), but this one has V = {}",
                crate::midi::VOCAB,
                self.layout.config.vocab
            );
            ensure!(r.max_hold > 0, "the longest note must be at least one step");
        }
        self.rules = rules;
        if rules.is_some() && self.tuning.fused_draw {
            let t = Tuning {
                fused_draw: false,
                ..self.tuning
            };
            self.set_tuning(t)?;
        }
        Ok(())
    }

    /// Sets every stream's note state (after priming with a MIDI prefix).
    pub fn set_note_state(&self, state: &NoteState) {
        let words: Vec<u32> = (0..self.streams).flat_map(|_| state.words()).collect();
        self.gpu
            .queue
            .write_buffer(&self.notes, 0, bytemuck::cast_slice(&words));
    }

    /// Generate `n` tokens per stream. `progress` gets the tokens done per stream so far.
    pub fn generate(
        &mut self,
        n: usize,
        opts: &SampleOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Vec<u32>>> {
        ensure!(
            opts.temperature >= 0.0 && opts.temperature.is_finite(),
            "temperature must be 0 or more"
        );
        let s = self.streams;
        let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(n); s];
        let blocks = n.div_ceil(self.block);
        let bytes = (self.block * s * 4) as u64;
        let mut pending: Option<(usize, wgpu::SubmissionIndex)> = None;
        let mut collect = |sampler: &Self,
                           (slot, idx): (usize, wgpu::SubmissionIndex),
                           out: &mut Vec<Vec<u32>>|
         -> Result<()> {
            let toks: Vec<u32> =
                sampler
                    .gpu
                    .map_read_after(&sampler.staging[slot], bytes, Some(idx))?;
            for row in toks.chunks(s) {
                for (stream, &t) in out.iter_mut().zip(row) {
                    if stream.len() < n {
                        stream.push(t);
                    }
                }
            }
            progress(out[0].len());
            Ok(())
        };
        for b in 0..blocks {
            self.write_controls(opts);
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            self.gen.encode(&mut enc, None);
            enc.copy_buffer_to_buffer(&self.hist, (s * 4) as u64, &self.staging[b % 2], 0, bytes);
            let idx = self.gpu.queue.submit([enc.finish()]);
            self.drawn += self.block as u64;
            // Read the previous block while this one runs.
            if let Some(prev) = pending.take() {
                collect(self, prev, &mut out)?;
            }
            pending = Some((b % 2, idx));
        }
        if let Some(prev) = pending {
            collect(self, prev, &mut out)?;
        }
        Ok(out)
    }
}
