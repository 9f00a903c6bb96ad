//! SampleRNN generation on the GPU (docs/SAMPLERNN_SPEC.md "Sampling") for 1 to
//! `MAX_STREAMS` streams. One period (L samples) is recorded once as a program
//! (`Geometry::period`): per sample one `srnn_mlp_draw` dispatch (the MLP with folded
//! first-layer tables, softmax with temperature and the inverse-CDF draw, for all streams),
//! and every n_k samples tier k's `srnn_frame_input`, R `gru_cell`s and the upsampling
//! GEMM. It is replayed once per period, several periods per submit; the random numbers
//! are those of the GRU-LM sampler (seed, stream, draw step), so the tokens do not depend on
//! how the work is split into calls.

use super::sample_plan::{Cursor, GemmArgs, Geometry, Periods, SrnnOp, SrnnTrace};
use super::SrnnLayout;
use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::ops::srnn_sample::{MlpBufs, SrnnControls, NO_TOKEN, SRNN_CONTROL_WORDS};
use crate::kernels::{Buf, Epilogue, Kernels, Mat};
use crate::sample::MAX_STREAMS;
use anyhow::{ensure, Result};
use std::sync::Arc;

/// Samples per submit (rounded to whole periods, at least one).
const SUBMIT_SAMPLES: usize = 2048;

/// The buffers of one sampler.
struct Buffers {
    params: wgpu::Buffer,
    sw: wgpu::Buffer,
    hist: wgpu::Buffer,
    carry: wgpu::Buffer,
    state: wgpu::Buffer,
    work: wgpu::Buffer,
    up: wgpu::Buffer,
    act: wgpu::Buffer,
    ctl: wgpu::Buffer,
    given: wgpu::Buffer,
    trace: wgpu::Buffer,
    /// NO_TOKEN rows `[L, S]`.
    none_fill: wgpu::Buffer,
}

/// What one submit needs, sized for `periods` periods.
struct Batch {
    periods: usize,
    ctl_list: wgpu::Buffer,
    prefix: wgpu::Buffer,
    staging: wgpu::Buffer,
}

struct GpuPeriods {
    gpu: Arc<Gpu>,
    kernels: Arc<Kernels>,
    geom: Geometry,
    /// h0 of every tier for every stream, as `state` starts.
    h0: Vec<f32>,
    b: Buffers,
    batch: Batch,
    program: Program,
}

pub struct SrnnSampler {
    engine: GpuPeriods,
    cursor: Cursor,
}

fn buf_mat(buf: Buf, s: super::sample_plan::Strided) -> Mat {
    Mat {
        buf,
        off: s.off,
        rs: s.rs,
        cs: s.cs,
    }
}

fn record_gemm(k: &Kernels, pb: &mut ProgramBuilder, g: &GemmArgs, ab: [Buf; 2], c: Buf) {
    let epi = g
        .bias
        .map_or(Epilogue::None, |off| Epilogue::Bias(ab[1], off));
    let (a, b) = (buf_mat(ab[0], g.a), buf_mat(ab[1], g.b));
    k.record_gemm(pb, g.m, g.n, g.k, a, b, c, g.c_off, g.n, epi);
}

impl Buffers {
    /// Every buffer, sizes checked against the adapter first.
    fn new(gpu: &Gpu, geom: &Geometry, params: &[f32]) -> Result<Buffers> {
        let (l, s) = (geom.lookback, geom.streams);
        for (what, floats) in [
            ("the SampleRNN parameters", params.len()),
            ("the sampler's weights", geom.sw_len),
            ("the frame tiers' states", geom.work_len),
            ("the upsampled conditioning", geom.up_len),
            ("the MLP activations", geom.act_len),
            ("the token history", geom.hist_len),
        ] {
            gpu.check_buffer_size(what, floats as u64 * 4)?;
        }
        let st = |label, floats: usize| gpu.storage(label, floats as u64 * 4);
        Ok(Buffers {
            params: gpu.storage_from("srnn params", params),
            sw: gpu.storage_from("srnn sampler weights", &geom.pack(params)),
            hist: st("srnn history", geom.hist_len),
            carry: st("srnn history carry", l * s),
            state: st("srnn state", geom.state_len),
            work: st("srnn work", geom.work_len),
            up: st("srnn upsampled", geom.up_len),
            act: st("srnn activations", geom.act_len),
            ctl: st("srnn controls", SRNN_CONTROL_WORDS),
            given: st("srnn given uniforms", 1),
            trace: st("srnn trace", 1),
            none_fill: gpu.storage_from("srnn empty rows", &vec![NO_TOKEN; l * s]),
        })
    }
}

impl Batch {
    fn new(gpu: &Gpu, geom: &Geometry, periods: usize) -> Result<Batch> {
        let rows = (periods * geom.lookback * geom.streams) as u64 * 4;
        gpu.check_buffer_size("a submit's samples", rows)?;
        Ok(Batch {
            periods,
            ctl_list: gpu.storage(
                "srnn period controls",
                (periods * SRNN_CONTROL_WORDS * 4) as u64,
            ),
            prefix: gpu.storage("srnn prefix rows", rows),
            staging: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("srnn samples readback"),
                size: rows,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        })
    }
}

impl GpuPeriods {
    /// The program of one period (`Geometry::period`) on this sampler's buffers.
    fn record(&self) -> Program {
        let (k, g) = (&self.kernels, &self.geom);
        let mut pb = ProgramBuilder::new();
        let b = &self.b;
        let mut reg = |x: &wgpu::Buffer| Buf::register(&mut pb, x);
        let [params, sw, hist, carry, state, work, up, act, ctl, given, trace] = [
            &b.params, &b.sw, &b.hist, &b.carry, &b.state, &b.work, &b.up, &b.act, &b.ctl,
            &b.given, &b.trace,
        ]
        .map(&mut reg);
        let mlp = MlpBufs {
            sw,
            hist,
            up,
            act,
            ctl,
            given,
            trace,
        };
        let rows = (g.lookback * g.streams * 4) as u64;
        for op in g.period() {
            match op {
                SrnnOp::Frame(p) => k.record_srnn_frame_input(&mut pb, &p, params, hist, up, work),
                SrnnOp::Cell(p) => k.record_gru_cell(&mut pb, &p, hist, params, state, work, sw),
                SrnnOp::Up(a) => record_gemm(k, &mut pb, &a, [work, params], up),
                SrnnOp::Save { from, to, len } => pb.copy(
                    work.id,
                    from as u64 * 4,
                    state.id,
                    to as u64 * 4,
                    len as u64 * 4,
                ),
                SrnnOp::Mlp(p) => k.record_srnn_mlp_draw(&mut pb, &p, &mlp),
                SrnnOp::Carry => {
                    pb.copy(hist.id, rows, carry.id, 0, rows);
                    pb.copy(carry.id, 0, hist.id, 0, rows);
                }
            }
        }
        pb.build(&self.gpu)
    }

    /// The folded tables, once, into sw.
    fn build_tables(&self) {
        let mut pb = ProgramBuilder::new();
        let params = Buf::register(&mut pb, &self.b.params);
        let sw = Buf::register(&mut pb, &self.b.sw);
        for g in self.geom.table_gemms() {
            record_gemm(&self.kernels, &mut pb, &g, [params, params], sw);
        }
        let prog = pb.build(&self.gpu);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        prog.encode(&mut enc, None);
        self.gpu.queue.submit([enc.finish()]);
    }
}

impl Periods for GpuPeriods {
    fn geometry(&self) -> &Geometry {
        &self.geom
    }

    fn max_periods(&self) -> usize {
        self.batch.periods
    }

    fn reset_state(&mut self) -> Result<()> {
        let g = &self.geom;
        let zero = vec![g.layout.config.zero_level(); g.hist_len];
        let q = &self.gpu.queue;
        q.write_buffer(&self.b.hist, 0, bytemuck::cast_slice(&zero));
        q.write_buffer(&self.b.state, 0, bytemuck::cast_slice(&self.h0));
        Ok(())
    }

    fn run(&mut self, ctl: &[SrnnControls], prefix: Option<&[u32]>) -> Result<Vec<u32>> {
        let (g, b, bt) = (&self.geom, &self.b, &self.batch);
        let c = &g.layout.config;
        assert!(ctl.len() <= bt.periods, "more periods than a submit holds");
        for x in ctl {
            let (given, trace) = ((b.given.size() / 4) as usize, (b.trace.size() / 4) as usize);
            x.check(g.streams, c.levels, c.dim, given, trace);
        }
        let q = &self.gpu.queue;
        q.write_buffer(&bt.ctl_list, 0, bytemuck::cast_slice(ctl));
        if let Some(p) = prefix {
            q.write_buffer(&bt.prefix, 0, bytemuck::cast_slice(p));
        }
        let rows = (g.lookback * g.streams * 4) as u64;
        let cw = (SRNN_CONTROL_WORDS * 4) as u64;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        for p in 0..ctl.len() as u64 {
            enc.copy_buffer_to_buffer(&bt.ctl_list, p * cw, &b.ctl, 0, cw);
            let (src, off) = match prefix {
                Some(_) => (&bt.prefix, p * rows),
                None => (&b.none_fill, 0),
            };
            enc.copy_buffer_to_buffer(src, off, &b.hist, rows, rows);
            self.program.encode(&mut enc, None);
            enc.copy_buffer_to_buffer(&b.hist, rows, &bt.staging, p * rows, rows);
        }
        let idx = q.submit([enc.finish()]);
        self.gpu
            .map_read_after(&bt.staging, ctl.len() as u64 * rows, Some(idx))
    }
}

impl SrnnSampler {
    /// A sampler of `streams` streams for the model `params` (in `layout`), drawing at
    /// `temperature` (0: argmax) with random numbers from `seed`; every stream starts at the
    /// spec's lookback of q/2 and the tiers' h0.
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Arc<Kernels>,
        layout: &SrnnLayout,
        params: &[f32],
        streams: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<SrnnSampler> {
        ensure!(
            (1..=MAX_STREAMS).contains(&streams),
            "streams must be between 1 and {MAX_STREAMS}, got {streams}"
        );
        layout.config.validate()?;
        ensure!(
            params.len() == layout.total,
            "the parameter vector has {} floats, the layout {}",
            params.len(),
            layout.total
        );
        let cursor = Cursor::new(streams, temperature, seed)?;
        let geom = Geometry::new(layout, streams);
        let b = Buffers::new(gpu, &geom, params)?;
        let batch = Batch::new(gpu, &geom, (SUBMIT_SAMPLES / geom.lookback).max(1))?;
        let mut engine = GpuPeriods {
            gpu: gpu.clone(),
            kernels: kernels.clone(),
            h0: geom.initial_state(params),
            geom,
            b,
            batch,
            program: ProgramBuilder::new().build(gpu),
        };
        engine.build_tables();
        engine.program = engine.record();
        let mut s = SrnnSampler { engine, cursor };
        s.prime(&[])?;
        Ok(s)
    }

    /// Draw step i of stream s from `u[s][i]` instead of the random numbers (tests: the
    /// PyTorch fixtures' uniforms), for the first `u[0].len()` draws after each prime.
    pub fn with_uniforms(mut self, u: &[Vec<f32>]) -> Result<Self> {
        let s = self.engine.geom.streams;
        ensure!(u.len() == s, "one row of uniforms per stream");
        let n = u[0].len();
        ensure!(
            u.iter().all(|r| r.len() == n),
            "rows of uniforms of one length"
        );
        let rows: Vec<f32> = (0..n).flat_map(|i| u.iter().map(move |r| r[i])).collect();
        let e = &mut self.engine;
        e.gpu
            .check_buffer_size("the given uniforms", rows.len() as u64 * 4)?;
        e.b.given = e.gpu.storage_from("srnn given uniforms", &rows);
        self.cursor.base.given_len = u32::try_from(n)?;
        e.program = e.record();
        Ok(self)
    }

    /// Keep the logits and c0 of the first `positions` samples after each prime (primed
    /// ones included) for `read_trace`.
    pub fn with_trace(mut self, positions: usize) -> Result<Self> {
        let e = &mut self.engine;
        let c = &e.geom.layout.config;
        let floats = positions * e.geom.streams * (c.levels + c.dim);
        e.gpu.check_buffer_size("the trace", floats as u64 * 4)?;
        e.b.trace = e.gpu.storage("srnn trace", floats as u64 * 4);
        self.cursor.base.trace_len = u32::try_from(positions)?;
        e.program = e.record();
        Ok(self)
    }

    /// The traced logits and c0 (`with_trace`).
    pub fn read_trace(&self) -> Result<SrnnTrace<f32>> {
        let e = &self.engine;
        let c = &e.geom.layout.config;
        let n = self.cursor.base.trace_len as usize * e.geom.streams * (c.levels + c.dim);
        let raw: Vec<f32> = e.gpu.read(&e.b.trace, 0, n)?;
        Ok(SrnnTrace::from_rows(&raw, e.geom.streams, c.levels, c.dim))
    }

    /// Submit at most `periods` periods (L samples each) at a time.
    pub fn with_submit_periods(mut self, periods: usize) -> Result<Self> {
        ensure!(periods >= 1, "a submit runs at least one period");
        self.engine.batch = Batch::new(&self.engine.gpu, &self.engine.geom, periods)?;
        Ok(self)
    }

    /// Restart every stream, then teacher-force `tokens` (one prefix per stream, all of one
    /// length, or a single prefix for all; empty: restart only). Generation continues after
    /// the prefix, its draw steps counted from 0.
    pub fn prime(&mut self, tokens: &[Vec<u32>]) -> Result<()> {
        self.cursor.prime(&mut self.engine, tokens)
    }

    /// `n` more samples per stream; `progress` gets the samples done so far.
    pub fn generate(&mut self, n: usize, progress: &mut dyn FnMut(usize)) -> Result<Vec<Vec<u32>>> {
        self.cursor.generate(&mut self.engine, n, progress)
    }

    /// Dispatches per sample on average (all streams advance together).
    pub fn dispatches_per_sample(&self) -> f64 {
        self.engine.program.dispatches() as f64 / self.engine.geom.lookback as f64
    }

    pub fn streams(&self) -> usize {
        self.engine.geom.streams
    }
}
