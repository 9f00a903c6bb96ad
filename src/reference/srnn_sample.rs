//! Twins of `samplernn_sample.wgsl` (`srnn_frame_input`, `srnn_mlp_draw`), and
//! `SrnnTwinSampler`: the whole SampleRNN sampler in f64, running the same period op list
//! (`Geometry::period`) as the GPU sampler with the op twins.

use super::{gemm, gru_cell, Epilogue, Mat};
use crate::kernels::ops::srnn_sample::{FrameParams, MlpParams, SrnnControls, NO_TOKEN};
use crate::kernels::ops::us;
use crate::sample::{draw, uniform};
use crate::samplernn::sample_plan::{
    Cursor, GemmArgs, Geometry, Periods, SrnnOp, SrnnTrace, Strided,
};
use crate::samplernn::SrnnLayout;
use anyhow::{ensure, Result};

/// The frame tiers' reading of a token: 2 * (x / (q/2) - 1).
pub fn deq(tok: u32, levels: u32) -> f64 {
    2.0 * (tok as f64 / (levels as f64 / 2.0) - 1.0)
}

/// x[x_off + s*D + d] = Σ_i W_exp[d, i]·deq(hist[(row0 + i)*S + s]) + b_exp[d]
/// (+ up[cond_off + s*cond_rs + d*cond_cs] when `cond`).
pub fn srnn_frame_input(p: &FrameParams, w: &[f64], hist: &[u32], up: &[f64], x: &mut [f64]) {
    let (s_n, d_n, n) = (us(p.streams), us(p.dim), us(p.n));
    for s in 0..s_n {
        for d in 0..d_n {
            let mut acc: f64 = (0..n)
                .map(|i| {
                    let tok = hist[(us(p.row0) + i) * s_n + s];
                    w[us(p.wexp_off) + d * n + i] * deq(tok, p.levels)
                })
                .sum();
            acc += w[us(p.bexp_off) + d];
            if p.cond != 0 {
                acc += up[us(p.cond_off) + s * us(p.cond_rs) + d * us(p.cond_cs)];
            }
            x[us(p.x_off) + s * d_n + d] = acc;
        }
    }
}

/// The buffers of `srnn_mlp_draw`, as `kernels::ops::srnn_sample::MlpBufs`.
pub struct MlpBufs<'a> {
    pub sw: &'a [f64],
    pub hist: &'a mut [u32],
    pub up: &'a [f64],
    pub act: &'a mut [f64],
    pub ctl: &'a SrnnControls,
    pub given: &'a [f32],
    pub trace: &'a mut [f64],
}

/// act[y_off + o] = Σ_d Wᵀ[d, o]·act[x_off + d] + b[o] (relu'd), Wᵀ `[k, n]` in sw.
fn dense(
    sw: &[f64],
    act: &mut [f64],
    (x_off, w_off, b_off): (usize, usize, usize),
    k: usize,
    n: usize,
    y_off: usize,
    relu: bool,
) {
    for o in 0..n {
        let acc: f64 = (0..k).map(|d| sw[w_off + d * n + o] * act[x_off + d]).sum();
        let y = acc + sw[b_off + o];
        act[y_off + o] = if relu { y.max(0.0) } else { y };
    }
}

/// The MLP and draw of sample `j` of the period for every stream (see the shader): the
/// activations `[a, a2, logits]` of stream s at act[s*(2D + q) ..], the token into history
/// row `out_row` unless one is there already; logits and c0 to the trace for traced
/// positions.
pub fn srnn_mlp_draw(p: &MlpParams, b: &mut MlpBufs) {
    let (s_n, d_n, q, fs0) = (us(p.streams), us(p.dim), us(p.levels), us(p.fs0));
    let c = b.ctl;
    for s in 0..s_n {
        let a_off = s * (2 * d_n + q);
        let lg = a_off + 2 * d_n;
        let c0 = |d: usize| b.up[us(p.cond_off) + s * us(p.cond_rs) + d * us(p.cond_cs)];
        for d in 0..d_n {
            let mut a = c0(d);
            for i in 0..fs0 {
                let tok = b.hist[(us(p.tok_row) + i) * s_n + s].min(p.levels - 1) as usize;
                a += b.sw[us(p.table_off) + (i * q + tok) * d_n + d];
            }
            b.act[a_off + d] = a.max(0.0);
        }
        let hid = (a_off, us(p.whid_off), us(p.bhid_off));
        dense(b.sw, b.act, hid, d_n, d_n, a_off + d_n, true);
        let out = (a_off + d_n, us(p.wout_off), us(p.bout_off));
        dense(b.sw, b.act, out, d_n, q, lg, false);
        let pos = c.pos.wrapping_add(p.j);
        if pos < c.trace_len {
            let tr = (us(pos) * s_n + s) * (q + d_n);
            b.trace[tr..tr + q].copy_from_slice(&b.act[lg..lg + q]);
            for d in 0..d_n {
                b.trace[tr + q + d] = c0(d);
            }
        }
        let row = us(p.out_row) * s_n + s;
        if b.hist[row] != NO_TOKEN {
            continue;
        }
        let step = pos.wrapping_sub(c.primed);
        let u = if step < c.given_len {
            b.given[us(step) * s_n + s]
        } else {
            let seed = c.seed_lo as u64 | (c.seed_hi as u64) << 32;
            uniform(seed, s as u32, step)
        };
        b.hist[row] = draw(&b.act[lg..lg + q], c.temperature as f64, 0, u);
    }
}

/// The f64 buffers of the twin sampler (named as the GPU sampler's).
struct TwinBuffers {
    params: Vec<f64>,
    sw: Vec<f64>,
    hist: Vec<u32>,
    state: Vec<f64>,
    work: Vec<f64>,
    up: Vec<f64>,
    act: Vec<f64>,
    ctl: SrnnControls,
    given: Vec<f32>,
    trace: Vec<f64>,
}

struct TwinPeriods {
    geom: Geometry,
    b: TwinBuffers,
}

/// The GPU sampler's f64 twin: the same API, the same ops, the same random numbers.
pub struct SrnnTwinSampler {
    engine: TwinPeriods,
    cursor: Cursor,
}

fn gemm_twin(g: &GemmArgs, a: &[f64], b: &[f64], c: &mut [f64]) {
    let mat = |buf, s: Strided| Mat {
        buf,
        off: s.off,
        rs: s.rs,
        cs: s.cs,
    };
    let epi = g.bias.map_or(Epilogue::None, |off| Epilogue::Bias(b, off));
    gemm(
        g.m,
        g.n,
        g.k,
        mat(a, g.a),
        mat(b, g.b),
        c,
        g.c_off,
        g.n,
        epi,
    );
}

impl TwinPeriods {
    fn op(&mut self, op: &SrnnOp) {
        let (b, l, s) = (&mut self.b, self.geom.lookback, self.geom.streams);
        match op {
            SrnnOp::Frame(p) => srnn_frame_input(p, &b.params, &b.hist, &b.up, &mut b.work),
            SrnnOp::Cell(p) => gru_cell(p, &b.hist, &b.params, &b.state, &mut b.work, &b.sw),
            SrnnOp::Up(g) => gemm_twin(g, &b.work, &b.params, &mut b.up),
            SrnnOp::Save { from, to, len } => {
                b.state[*to..to + len].copy_from_slice(&b.work[*from..from + len])
            }
            SrnnOp::Mlp(p) => {
                let mut bufs = MlpBufs {
                    sw: &b.sw,
                    hist: &mut b.hist,
                    up: &b.up,
                    act: &mut b.act,
                    ctl: &b.ctl,
                    given: &b.given,
                    trace: &mut b.trace,
                };
                srnn_mlp_draw(p, &mut bufs)
            }
            SrnnOp::Carry => b.hist.copy_within(l * s..2 * l * s, 0),
        }
    }
}

impl Periods for TwinPeriods {
    fn geometry(&self) -> &Geometry {
        &self.geom
    }

    fn max_periods(&self) -> usize {
        usize::MAX
    }

    fn reset_state(&mut self) -> Result<()> {
        let g = &self.geom;
        self.b.hist = vec![g.layout.config.zero_level(); g.hist_len];
        self.b.state = g.initial_state(&self.b.params);
        Ok(())
    }

    fn run(&mut self, ctl: &[SrnnControls], prefix: Option<&[u32]>) -> Result<Vec<u32>> {
        let (l, s) = (self.geom.lookback, self.geom.streams);
        let period = self.geom.period();
        let mut rows = Vec::with_capacity(ctl.len() * l * s);
        for (p, c) in ctl.iter().enumerate() {
            self.b.ctl = *c;
            let fill = prefix.map_or(vec![NO_TOKEN; l * s], |x| x[p * l * s..][..l * s].to_vec());
            self.b.hist[l * s..].copy_from_slice(&fill);
            for op in &period {
                self.op(op);
            }
            rows.extend_from_slice(&self.b.hist[l * s..]);
        }
        Ok(rows)
    }
}

impl SrnnTwinSampler {
    /// As `SrnnSampler::new`, on f64 parameters.
    pub fn new(
        layout: &SrnnLayout,
        params: &[f64],
        streams: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<SrnnTwinSampler> {
        ensure!(
            params.len() == layout.total,
            "parameter vector of the wrong length"
        );
        let geom = Geometry::new(layout, streams);
        let mut sw = geom.pack(params);
        for g in geom.table_gemms() {
            gemm_twin(&g, params, params, &mut sw);
        }
        let b = TwinBuffers {
            params: params.to_vec(),
            sw,
            hist: Vec::new(),
            state: Vec::new(),
            work: vec![0.0; geom.work_len],
            up: vec![0.0; geom.up_len],
            act: vec![0.0; geom.act_len],
            ctl: SrnnControls::default(),
            given: Vec::new(),
            trace: Vec::new(),
        };
        let mut t = SrnnTwinSampler {
            engine: TwinPeriods { geom, b },
            cursor: Cursor::new(streams, temperature, seed)?,
        };
        t.prime(&[])?;
        Ok(t)
    }

    /// As `SrnnSampler::with_uniforms`.
    pub fn with_uniforms(mut self, u: &[Vec<f32>]) -> Result<Self> {
        let n = u[0].len();
        self.engine.b.given = (0..n).flat_map(|i| u.iter().map(move |r| r[i])).collect();
        self.cursor.base.given_len = n as u32;
        Ok(self)
    }

    /// As `SrnnSampler::with_trace`.
    pub fn with_trace(mut self, positions: usize) -> Result<Self> {
        let c = &self.engine.geom.layout.config;
        self.engine.b.trace = vec![0.0; positions * self.engine.geom.streams * (c.levels + c.dim)];
        self.cursor.base.trace_len = positions as u32;
        Ok(self)
    }

    pub fn trace(&self) -> SrnnTrace<f64> {
        let c = &self.engine.geom.layout.config;
        SrnnTrace::from_rows(
            &self.engine.b.trace,
            self.engine.geom.streams,
            c.levels,
            c.dim,
        )
    }

    pub fn prime(&mut self, tokens: &[Vec<u32>]) -> Result<()> {
        self.cursor.prime(&mut self.engine, tokens)
    }

    pub fn generate(&mut self, n: usize) -> Result<Vec<Vec<u32>>> {
        self.cursor.generate(&mut self.engine, n, &mut |_| {})
    }
}
