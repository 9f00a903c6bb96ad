//! One op alone at a preset's shapes (in the spirit of llm.c's dev/cuda): the op's program
//! replayed back to back in one submit, timed on the wall clock, with its arithmetic
//! (GFLOP/s) and its minimal memory traffic (GB/s: every input read once, every output
//! written once).

use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::ops::adam::AdamParams;
use crate::kernels::ops::embedding::{rows_by_token, EmbedParams};
use crate::kernels::ops::reduce::NORM_PARTS;
use crate::kernels::ops::sample::{CellParams, DrawParams, LogitParams, SampleBufs, CONTROL_WORDS};
use crate::kernels::ops::softmax_xent::XentParams;
use crate::kernels::ops::step::{GruCellParams, StepParams};
use crate::kernels::ops::step_backward::{StepBackwardBufs, StepBackwardParams};
use crate::kernels::ops::{word, WgslParams};
use crate::kernels::{Buf, Epilogue, Kernels, Mat, COLSUM_PARTS};
use crate::model::{ParamLayout, Preset};
use crate::sample::NOTE_WORDS;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// The ops `gruwave bench --op` knows, one per WGSL entry point (`gemm` and the step
/// kernels run the variant the options choose for the shape; `colsum` is colsum_partial
/// then colsum_finish).
pub const OPS: [&str; 16] = [
    "gemm",
    "gru_step",
    "gru_step_backward",
    "gru_cell",
    "softmax_xent",
    "sum",
    "sumsq_partial",
    "clip_coef",
    "colsum",
    "embed_gather",
    "embed_backward",
    "adam",
    "sample_cell",
    "sample_cell_draw",
    "sample_logits",
    "sample_draw",
];

#[derive(Clone, Debug)]
pub struct OpResult {
    pub op: String,
    pub config: &'static str,
    /// The shape timed, in words.
    pub shape: String,
    pub calls: usize,
    pub us_per_call: f64,
    /// Floating-point operations per call (0 for ops that only move data).
    pub flops: f64,
    /// Minimal bytes moved per call.
    pub bytes: f64,
}

impl OpResult {
    pub fn gflops(&self) -> Option<f64> {
        (self.flops > 0.0).then(|| self.flops / self.us_per_call / 1e3)
    }
    pub fn gbps(&self) -> f64 {
        self.bytes / self.us_per_call / 1e3
    }
    pub fn to_json(&self) -> Value {
        json!({
            "bench": "op", "op": self.op, "config": self.config, "shape": self.shape,
            "calls": self.calls, "us_per_call": self.us_per_call,
            "gflops": self.gflops(), "gbps": self.gbps(),
        })
    }
}

/// Scratch buffers of one op's program, registered as they are made.
struct Rig {
    gpu: Arc<Gpu>,
    pb: ProgramBuilder,
    keep: Vec<wgpu::Buffer>,
    /// A parameter slot to write once the program is built (Adam's).
    slot: Option<(u32, Vec<u32>)>,
}

impl Rig {
    fn buf(&mut self, floats: usize) -> Buf {
        let b = self
            .gpu
            .storage("bench operand", (floats.max(1) * 4) as u64);
        let id = Buf::register(&mut self.pb, &b);
        self.keep.push(b);
        id
    }

    fn buf_from(&mut self, data: &[u32]) -> Buf {
        let b = self.gpu.storage_from("bench operand", data);
        let id = Buf::register(&mut self.pb, &b);
        self.keep.push(b);
        id
    }
}

/// An op recorded on scratch operands: its program, flops and bytes per call, and shape.
struct Recorded {
    program: Program,
    flops: f64,
    bytes: f64,
    shape: String,
}

/// Times op `name` alone at preset `p`'s shapes: one warm-up call, then as many calls in
/// one submit as fit about half a second (at least one).
pub fn op(gpu: &Arc<Gpu>, k: &Kernels, p: &Preset, name: &str) -> Result<OpResult> {
    let r = record(gpu, k, p, name)?;
    let time = |calls: usize| -> Result<f64> {
        let t0 = Instant::now();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        for _ in 0..calls {
            r.program.encode(&mut enc, None);
        }
        gpu.queue.submit([enc.finish()]);
        gpu.wait()?;
        Ok(t0.elapsed().as_secs_f64() / calls as f64)
    };
    let once = time(1)?;
    let calls = ((0.5 / once) as usize).clamp(1, 1000);
    let dt = time(calls)?;
    Ok(OpResult {
        op: name.to_string(),
        config: p.name,
        shape: r.shape,
        calls,
        us_per_call: dt * 1e6,
        flops: r.flops,
        bytes: r.bytes,
    })
}

fn record(gpu: &Arc<Gpu>, k: &Kernels, p: &Preset, name: &str) -> Result<Recorded> {
    let mut rig = Rig {
        gpu: gpu.clone(),
        pb: ProgramBuilder::new(),
        keep: Vec::new(),
        slot: None,
    };
    let op: fn(&mut Rig, &Kernels, &Preset, &str) -> Measure = match name {
        "gemm" => gemm_op,
        "gru_step" => step_op,
        "gru_step_backward" => step_backward_op,
        "gru_cell" => cell_op,
        "softmax_xent" => xent_op,
        "sum" => sum_op,
        "sumsq_partial" | "clip_coef" | "adam" => optimizer_op,
        "colsum" => colsum_op,
        "embed_gather" | "embed_backward" => embedding_op,
        "sample_cell" | "sample_cell_draw" | "sample_logits" | "sample_draw" => sample_op,
        _ => bail!("unknown op '{name}'; the ops are: {}", OPS.join(", ")),
    };
    let (flops, bytes, shape) = op(&mut rig, k, p, name);
    let program = rig.pb.build(gpu);
    if let Some((slot, words)) = rig.slot {
        program.write_slot(gpu, slot, &words);
    }
    Ok(Recorded {
        program,
        flops,
        bytes,
        shape,
    })
}

/// Flops and bytes per call, and the shape in words.
type Measure = (f64, f64, String);

fn bytes(floats: usize) -> f64 {
    (floats * 4) as f64
}

/// A preset's shapes.
struct Dims {
    v: usize,
    e: usize,
    h: usize,
    b: usize,
    t: usize,
    /// B*T.
    rows: usize,
}

fn dims(p: &Preset) -> Dims {
    let c = p.model;
    let (b, t) = (p.batch, p.tbptt);
    Dims {
        v: c.vocab,
        e: c.embed,
        h: c.hidden,
        b,
        t,
        rows: b * t,
    }
}

fn gemm_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { h, rows, .. } = dims(p);
    let f = bytes;
    // A layer's input projection: gi = X·W_ihᵀ + b_ih, as the forward runs it.
    let (m, n, kk) = (rows, 3 * h, h);
    let (x, w, bias, out) = (rig.buf(m * kk), rig.buf(n * kk), rig.buf(n), rig.buf(m * n));
    let epi = Epilogue::Bias(bias, 0);
    k.record_gemm(
        &mut rig.pb,
        m,
        n,
        kk,
        Mat::rows(x, 0, kk),
        Mat::transposed(w, 0, kk),
        out,
        0,
        n,
        epi,
    );
    let shape = format!("M={m} (B*T) N={n} (3H) K={kk} (H), W_ih transposed, + bias");
    (
        2.0 * (m * n * kk) as f64,
        f(m * kk + n * kk + n + m * n),
        shape,
    )
}

fn step_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { h, b, .. } = dims(p);
    let f = bytes;
    let (gi, w, hseq, gates) = (
        rig.buf(b * 3 * h),
        rig.buf(3 * h * h + 3 * h),
        rig.buf(2 * b * h),
        rig.buf(b * 4 * h),
    );
    let sp = StepParams::window(b, h, 0, 0, 3 * h * h);
    k.record_gru_step(&mut rig.pb, &sp, gi, w, hseq, gates);
    let bytes = f(3 * h * h + 3 * h + b * (3 * h + h + h + 4 * h));
    (
        (2 * b * 3 * h * h) as f64,
        bytes,
        format!("B={b} H={h}, one step"),
    )
}

fn step_backward_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { h, b, .. } = dims(p);
    let f = bytes;
    let bufs = StepBackwardBufs {
        w: rig.buf(3 * h * h),
        gates: rig.buf(2 * b * 4 * h),
        hseq: rig.buf(b * h),
        dh_out: rig.buf(b * h),
        dgi: rig.buf(b * 3 * h),
        dgh: rig.buf(2 * b * 3 * h),
        dhs: rig.buf(3 * b * h),
    };
    let sp = StepBackwardParams::window(b, h, 0, 2, 1);
    k.record_gru_step_backward(&mut rig.pb, &sp, &bufs);
    let bytes = f(3 * h * h + b * (3 * h + h + 4 * h + h + h + h + 3 * h + 3 * h + h));
    (
        (2 * b * 3 * h * h) as f64,
        bytes,
        format!("B={b} H={h}, one step with a next one"),
    )
}

fn cell_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { v, h, b, .. } = dims(p);
    let f = bytes;
    let (hist, w, h_in, hb) = (
        rig.buf(b),
        rig.buf(6 * h * h + 6 * h),
        rig.buf(b * h),
        rig.buf(2 * b * h),
    );
    let cp = GruCellParams {
        streams: word(b),
        hidden: word(h),
        inp: word(h),
        hout_off: word(b * h),
        whh_off: word(3 * h * h),
        bih_off: word(6 * h * h),
        bhh_off: word(6 * h * h + 3 * h),
        vocab: word(v),
        ..Default::default()
    };
    k.record_gru_cell(&mut rig.pb, &cp, hist, w, h_in, hb, w);
    let bytes = f(6 * h * h + 6 * h + 3 * b * h);
    (
        (2 * b * 3 * h * 2 * h) as f64,
        bytes,
        format!("S={b} streams H={h}, a layer above 0"),
    )
}

fn xent_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { v, b, t, rows, .. } = dims(p);
    let f = bytes;
    let (logits, tokens, dlogits, loss) = (
        rig.buf(rows * v),
        rig.buf(b * (t + 1)),
        rig.buf(rows * v),
        rig.buf(rows),
    );
    let xp = XentParams {
        rows: word(rows),
        vocab: word(v),
        batch: word(b),
        tok_stride: word(t + 1),
        scale: 1.0 / rows as f32,
        tok_off: 0,
    };
    k.record_softmax_xent(&mut rig.pb, &xp, logits, tokens, dlogits, loss);
    (
        0.0,
        f(2 * rows * v + rows * 2),
        format!("rows={rows} (B*T) V={v}"),
    )
}

fn sum_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { rows, .. } = dims(p);
    let f = bytes;
    let (x, out) = (rig.buf(rows), rig.buf(1));
    k.record_sum(&mut rig.pb, x, 0, rows, 1.0, out, 0);
    (rows as f64, f(rows + 1), format!("n={rows} (B*T losses)"))
}

fn colsum_op(rig: &mut Rig, k: &Kernels, p: &Preset, _name: &str) -> Measure {
    let Dims { h, rows, .. } = dims(p);
    let f = bytes;
    let cols = 3 * h;
    let (x, out, scratch) = (
        rig.buf(rows * cols),
        rig.buf(cols),
        rig.buf(COLSUM_PARTS * cols),
    );
    k.record_colsum(&mut rig.pb, x, 0, rows, cols, out, 0, scratch);
    (
        (rows * cols) as f64,
        f(rows * cols + cols),
        format!("rows={rows} (B*T) cols={cols} (3H)"),
    )
}

fn embedding_op(rig: &mut Rig, k: &Kernels, p: &Preset, name: &str) -> Measure {
    let Dims {
        v, e, b, t, rows, ..
    } = dims(p);
    let f = bytes;
    // Every token 0, so embed_backward's one busy column sums every row (its worst case).
    let window = vec![0; b * (t + 1)];
    let mut index = window.clone();
    index.extend(rows_by_token(&window, b, t, v));
    let tokens = rig.buf_from(&index);
    let (table, x) = (rig.buf(v * e), rig.buf(rows * e));
    let ep = EmbedParams {
        rows: word(rows),
        dim: word(e),
        batch: word(b),
        tok_stride: word(t + 1),
        vocab: word(v),
        index_off: word(b * (t + 1)),
        ..Default::default()
    };
    let shape = format!("rows={rows} (B*T) E={e} V={v}");
    if name == "embed_gather" {
        k.record_embed_gather(&mut rig.pb, &ep, tokens, table, x);
        (0.0, f(2 * rows * e + rows), shape)
    } else {
        k.record_embed_backward(&mut rig.pb, &ep, tokens, x, table);
        (0.0, f(rows * e + v * e + v + 1 + rows), shape)
    }
}

fn optimizer_op(rig: &mut Rig, k: &Kernels, p: &Preset, name: &str) -> Measure {
    let n = ParamLayout::new(&p.model).total;
    let (g, stats) = (rig.buf(n), rig.buf(2 + NORM_PARTS));
    let shape = format!("n={n} (the parameters)");
    match name {
        "sumsq_partial" => {
            k.record_sumsq_partial(&mut rig.pb, g, 0, n, NORM_PARTS, stats, 2);
            ((2 * n) as f64, bytes(n + NORM_PARTS), shape)
        }
        "clip_coef" => {
            k.record_clip_coef(&mut rig.pb, g, stats, 2, NORM_PARTS, 1.0);
            let shape = format!("{NORM_PARTS} partial sums");
            (NORM_PARTS as f64, bytes(NORM_PARTS + 2), shape)
        }
        _ => {
            let (params, m, v) = (rig.buf(n), rig.buf(n), rig.buf(n));
            let slot = k.record_adam(&mut rig.pb, n, g, stats, params, m, v);
            let step = AdamParams::step(n, 1e-3, 0.9, 0.999, 1e-8, 1);
            rig.slot = Some((slot, step.words().to_vec()));
            ((12 * n) as f64, bytes(7 * n), shape)
        }
    }
}

/// The sampler's ops for 64 streams (the bench's many-stream case), with the software
/// adapter's work split (32 units x 4 streams per cell workgroup, one lane per logit).
fn sample_op(rig: &mut Rig, k: &Kernels, p: &Preset, name: &str) -> Measure {
    let (v, h, s) = (p.model.vocab, p.model.hidden, 64);
    let (wih, whh, bih, bhh) = (0, 3 * h * h, 6 * h * h, 6 * h * h + 3 * h);
    let (wo, bo, table) = (bhh + 3 * h, bhh + 3 * h + v * h, bhh + 3 * h + v * h + v);
    let bufs = SampleBufs {
        w: rig.buf(table + v * 3 * h),
        hist: rig.buf(2 * s),
        h_in: rig.buf(s * h),
        h: rig.buf(2 * s * h),
        ctl: rig.buf(CONTROL_WORDS),
        logits: rig.buf(s * v),
        notes: rig.buf(s * NOTE_WORDS),
    };
    let f = |n: usize| (n * 4) as f64;
    let draw = name == "sample_cell_draw";
    let cell = CellParams {
        streams: word(s),
        hidden: word(h),
        inp: if draw { 0 } else { word(h) },
        units: 32,
        sb: 4,
        wih_off: word(wih),
        whh_off: word(whh),
        bih_off: word(bih),
        bhh_off: word(bhh),
        table_off: word(table),
        hout_off: word(s * h),
        vocab: word(v),
        ..Default::default()
    };
    match name {
        "sample_cell" => {
            k.record_sample_cell(&mut rig.pb, &cell, &bufs);
            (
                (2 * s * 3 * h * 2 * h) as f64,
                f(6 * h * h + 6 * h + 3 * s * h),
                format!("S={s} H={h}, a layer above 0"),
            )
        }
        "sample_cell_draw" => {
            k.record_sample_cell_draw(&mut rig.pb, &cell, &bufs);
            (
                (2 * s * 3 * h * h) as f64,
                f(3 * h * h + 3 * h + s * v + s * 3 * h + 2 * s * h),
                format!("S={s} H={h} V={v}, layer 0 after the draw"),
            )
        }
        "sample_logits" => {
            let lp = LogitParams {
                streams: word(s),
                hidden: word(h),
                vocab: word(v),
                wo_off: word(wo),
                bo_off: word(bo),
                h_off: word(s * h),
                sb: 4,
                lanes: 1,
                unroll: 0,
            };
            k.record_sample_logits(&mut rig.pb, &lp, &bufs);
            (
                (2 * s * v * h) as f64,
                f(v * h + v + s * h + s * v),
                format!("S={s} H={h} V={v}"),
            )
        }
        _ => {
            let dp = DrawParams {
                vocab: word(v),
                out_off: word(s),
                step: 0,
            };
            k.record_sample_draw(&mut rig.pb, &dp, s, &bufs);
            (0.0, f(s * v + s), format!("S={s} V={v}"))
        }
    }
}
