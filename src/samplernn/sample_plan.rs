//! What one period of SampleRNN generation does, op by op, shared by the GPU sampler
//! (`SrnnSampler`) and its f64 CPU twin (`reference::srnn_sample::SrnnTwinSampler`): where
//! every buffer holds what, the op list of one period (L samples), and the driver that
//! turns periods into `prime` and `generate`.

use super::{SrnnLayout, SrnnParam};
use crate::kernels::ops::srnn_sample::{FrameParams, MlpParams, SrnnControls, NO_TOKEN};
use crate::kernels::ops::step::GruCellParams;
use crate::kernels::ops::word;
use anyhow::{ensure, Result};

/// One strided operand of a GEMM: element (i, k) at `off + i*rs + k*cs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

/// C[M, N] = A·B (+ bias[bias_off + j] when `bias` is Some), C row-major at `c_off` with row
/// stride N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmArgs {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Strided,
    pub b: Strided,
    pub c_off: usize,
    pub bias: Option<usize>,
}

/// One op of a period. Buffers: `params` (the flat layout), `sw` (the sampler's weights),
/// `hist` `[2L, S]`, `state` (per tier `[R, S, D]`), `work` (per tier `[1 + R, S, D]`: x,
/// then each layer's new state), `up` (per tier `[S, D*FS_k]`), `act`, controls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SrnnOp {
    /// `srnn_frame_input`: params, hist, up -> work.
    Frame(FrameParams),
    /// `gru_cell` (input from work, state from state, new state into work; W from params).
    Cell(GruCellParams),
    /// The upsampling GEMM: work (A) times params (B) plus params (bias) into up.
    Up(GemmArgs),
    /// Copy `len` floats of work from `from` to state at `to` (a tier's new states).
    Save { from: usize, to: usize, len: usize },
    /// `srnn_mlp_draw`.
    Mlp(MlpParams),
    /// History rows L..2L become rows 0..L (the next period's lookback).
    Carry,
}

/// Where everything lives, for one model and stream count.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub layout: SrnnLayout,
    pub streams: usize,
    /// L: samples per period.
    pub lookback: usize,
    /// Offsets in sw: tables `[FS0, q, D]`, W_hidᵀ, b_hid, W_outᵀ `[D, q]`, b_out.
    pub table: usize,
    pub whid_t: usize,
    pub bhid: usize,
    pub wout_t: usize,
    pub bout: usize,
    pub sw_len: usize,
    /// Per tier: offsets in state, work and up.
    pub state: Vec<usize>,
    pub work: Vec<usize>,
    pub up: Vec<usize>,
    pub state_len: usize,
    pub work_len: usize,
    pub up_len: usize,
    pub act_len: usize,
    pub hist_len: usize,
}

impl Geometry {
    pub fn new(layout: &SrnnLayout, streams: usize) -> Geometry {
        let c = &layout.config;
        let (d, q, r, s) = (c.dim, c.levels, c.rnn_layers, streams);
        let mut sw_len = 0;
        let mut take = |n: usize| {
            let at = sw_len;
            sw_len += n.next_multiple_of(64);
            at
        };
        let (table, whid_t, bhid) = (take(c.frame_sizes[0] * q * d), take(d * d), take(d));
        let (wout_t, bout) = (take(d * q), take(q));
        let k = c.tiers();
        let up_sizes: Vec<usize> = c.frame_sizes.iter().map(|fs| s * d * fs).collect();
        let up = up_sizes
            .iter()
            .scan(0, |acc, n| {
                *acc += n;
                Some(*acc - n)
            })
            .collect();
        Geometry {
            layout: layout.clone(),
            streams,
            lookback: c.lookback(),
            table,
            whid_t,
            bhid,
            wout_t,
            bout,
            sw_len,
            state: (0..k).map(|t| t * r * s * d).collect(),
            work: (0..k).map(|t| t * (r + 1) * s * d).collect(),
            up,
            state_len: k * r * s * d,
            work_len: k * (r + 1) * s * d,
            up_len: up_sizes.iter().sum(),
            act_len: s * (2 * d + q),
            hist_len: 2 * c.lookback() * s,
        }
    }

    fn off(&self, kind: SrnnParam) -> usize {
        self.layout.offset(kind)
    }

    /// The sampler's weights from the flat parameters: the MLP's dense layers transposed
    /// (neighbouring threads read neighbouring addresses), the tables left zero for
    /// `table_gemms` to fill.
    pub fn pack<T: Copy + Default>(&self, params: &[T]) -> Vec<T> {
        let c = &self.layout.config;
        let (d, q) = (c.dim, c.levels);
        let mut sw = vec![T::default(); self.sw_len];
        let view = |kind| self.layout.view(params, kind);
        let whid_t = crate::sample::transpose(view(SrnnParam::HiddenWeight), d, d);
        let wout_t = crate::sample::transpose(view(SrnnParam::OutputWeight), q, d);
        for (at, x) in [
            (self.whid_t, &whid_t[..]),
            (self.bhid, view(SrnnParam::HiddenBias)),
            (self.wout_t, &wout_t[..]),
            (self.bout, view(SrnnParam::OutputBias)),
        ] {
            sw[at..at + x.len()].copy_from_slice(x);
        }
        sw
    }

    /// table_i = E·W_in[:, :, i]ᵀ (`[q, D]`, A and B in params, C in sw), for i < FS0.
    pub fn table_gemms(&self) -> Vec<GemmArgs> {
        let c = &self.layout.config;
        let (d, q, fs0) = (c.dim, c.levels, c.frame_sizes[0]);
        let w_in = self.off(SrnnParam::InputWeight);
        (0..fs0)
            .map(|i| GemmArgs {
                m: q,
                n: d,
                k: q,
                a: Strided {
                    off: self.off(SrnnParam::Embedding),
                    rs: q,
                    cs: 1,
                },
                // W_in element (d, v, i) is at d*q*FS0 + v*FS0 + i: B(v, d).
                b: Strided {
                    off: w_in + i,
                    rs: fs0,
                    cs: q * fs0,
                },
                c_off: self.table + i * q * d,
                bias: None,
            })
            .collect()
    }

    /// The ops of one period: at sample j, every tier k with j ≡ 0 (mod n_k), top first,
    /// then the MLP; at the end the history carry.
    pub fn period(&self) -> Vec<SrnnOp> {
        let c = &self.layout.config;
        let mut ops = Vec::new();
        for j in 0..self.lookback {
            for k in (0..c.tiers()).rev() {
                if j % c.frame_samples(k) == 0 {
                    self.tier_step(k, j, &mut ops);
                }
            }
            ops.push(SrnnOp::Mlp(self.mlp_params(j)));
        }
        ops.push(SrnnOp::Carry);
        ops
    }

    fn tier_step(&self, k: usize, j: usize, ops: &mut Vec<SrnnOp>) {
        let c = &self.layout.config;
        let (d, r, s) = (c.dim, c.rnn_layers, self.streams);
        ops.push(SrnnOp::Frame(self.frame_params(k, j)));
        for l in 0..r {
            ops.push(SrnnOp::Cell(GruCellParams {
                streams: word(s),
                hidden: word(d),
                inp: word(d),
                x_off: word(self.work[k] + l * s * d),
                hprev_off: word(self.state[k] + l * s * d),
                hout_off: word(self.work[k] + (l + 1) * s * d),
                wih_off: word(self.off(SrnnParam::WeightIh(k, l))),
                whh_off: word(self.off(SrnnParam::WeightHh(k, l))),
                bih_off: word(self.off(SrnnParam::BiasIh(k, l))),
                bhh_off: word(self.off(SrnnParam::BiasHh(k, l))),
                table_off: 0,
                tok_off: 0,
                vocab: 1,
            }));
        }
        let fs = c.frame_sizes[k];
        ops.push(SrnnOp::Up(GemmArgs {
            m: s,
            n: d * fs,
            k: d,
            a: Strided {
                off: self.work[k] + r * s * d,
                rs: d,
                cs: 1,
            },
            b: Strided {
                off: self.off(SrnnParam::UpWeight(k)),
                rs: d * fs,
                cs: 1,
            },
            c_off: self.up[k],
            bias: Some(self.off(SrnnParam::UpBias(k))),
        }));
        ops.push(SrnnOp::Save {
            from: self.work[k] + s * d,
            to: self.state[k],
            len: r * s * d,
        });
    }

    /// Tier k at sample j: the frame ends at row L + j; tiers below the top add slot
    /// (j / n_k) mod FS_{k+1} of the tier above (L is a multiple of n_{k+1}).
    fn frame_params(&self, k: usize, j: usize) -> FrameParams {
        let c = &self.layout.config;
        let (d, n) = (c.dim, c.frame_samples(k));
        let (cond, cond_off, cond_rs, cond_cs) = if k + 1 < c.tiers() {
            let fs = c.frame_sizes[k + 1];
            (1, self.up[k + 1] + (j / n) % fs, d * fs, fs)
        } else {
            (0, 0, 0, 0)
        };
        FrameParams {
            streams: word(self.streams),
            dim: word(d),
            n: word(n),
            levels: word(c.levels),
            row0: word(self.lookback + j - n),
            wexp_off: word(self.off(SrnnParam::ExpandWeight(k))),
            bexp_off: word(self.off(SrnnParam::ExpandBias(k))),
            cond,
            cond_off: word(cond_off),
            cond_rs: word(cond_rs),
            cond_cs: word(cond_cs),
            x_off: word(self.work[k]),
        }
    }

    fn mlp_params(&self, j: usize) -> MlpParams {
        let c = &self.layout.config;
        let (d, fs0) = (c.dim, c.frame_sizes[0]);
        MlpParams {
            streams: word(self.streams),
            dim: word(d),
            levels: word(c.levels),
            fs0: word(fs0),
            j: word(j),
            tok_row: word(self.lookback + j - fs0),
            out_row: word(self.lookback + j),
            table_off: word(self.table),
            whid_off: word(self.whid_t),
            bhid_off: word(self.bhid),
            wout_off: word(self.wout_t),
            bout_off: word(self.bout),
            cond_off: word(self.up[0] + j % fs0),
            cond_rs: word(d * fs0),
            cond_cs: word(fs0),
        }
    }

    /// Every tier's state at its h0 (`[R, D]`, the same for each stream).
    pub fn initial_state<T: Copy + Default>(&self, params: &[T]) -> Vec<T> {
        let c = &self.layout.config;
        let (d, r) = (c.dim, c.rnn_layers);
        let mut st = Vec::with_capacity(self.state_len);
        for k in 0..c.tiers() {
            let h0 = self.layout.view(params, SrnnParam::H0(k));
            for l in 0..r {
                for _ in 0..self.streams {
                    st.extend_from_slice(&h0[l * d..(l + 1) * d]);
                }
            }
        }
        st
    }
}

/// Logits and c0 of the traced positions (debugging and tests): `logits` `[positions, S, q]`,
/// `cond0` `[positions, S, D]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SrnnTrace<T> {
    pub positions: usize,
    pub logits: Vec<T>,
    pub cond0: Vec<T>,
}

impl<T: Copy> SrnnTrace<T> {
    /// From the trace buffer `[positions, S, q + D]`.
    pub fn from_rows(raw: &[T], streams: usize, levels: usize, dim: usize) -> SrnnTrace<T> {
        let rows = raw.chunks_exact(levels + dim);
        SrnnTrace {
            positions: raw.len() / (streams * (levels + dim)),
            logits: rows.clone().flat_map(|r| r[..levels].to_vec()).collect(),
            cond0: rows.flat_map(|r| r[levels..].to_vec()).collect(),
        }
    }
}

/// An engine that runs whole periods: the GPU or the CPU twin.
pub trait Periods {
    fn geometry(&self) -> &Geometry;
    /// Periods per call at most.
    fn max_periods(&self) -> usize;
    /// Every tier's state to h0, every history row to q/2.
    fn reset_state(&mut self) -> Result<()>;
    /// One period per entry of `ctl`, each first filling history rows L..2L from `prefix`
    /// (`[periods*L, S]`, NO_TOKEN where the sample is drawn) or with NO_TOKEN. Returns those
    /// rows after each period, `[periods*L, S]`.
    fn run(&mut self, ctl: &[SrnnControls], prefix: Option<&[u32]>) -> Result<Vec<u32>>;
}

/// Where generation stands: samples since reset, the prefix length, samples already
/// drawn but not yet returned (a period is L samples), and the constant controls.
#[derive(Clone, Debug)]
pub struct Cursor {
    pub pos: u64,
    pub pending: Vec<Vec<u32>>,
    pub base: SrnnControls,
}

impl Cursor {
    pub fn new(streams: usize, temperature: f32, seed: u64) -> Result<Cursor> {
        ensure!(
            temperature >= 0.0 && temperature.is_finite(),
            "temperature must be 0 (argmax) or more, got {temperature}"
        );
        Ok(Cursor {
            pos: 0,
            pending: vec![Vec::new(); streams],
            base: SrnnControls {
                seed_lo: seed as u32,
                seed_hi: (seed >> 32) as u32,
                temperature,
                ..Default::default()
            },
        })
    }

    /// Run `periods` periods (in calls of at most `max_periods`); returns their rows.
    fn run(
        &mut self,
        e: &mut dyn Periods,
        prefix: Option<&[u32]>,
        periods: usize,
    ) -> Result<Vec<u32>> {
        let (l, s) = (e.geometry().lookback, e.geometry().streams);
        let mut rows = Vec::with_capacity(periods * l * s);
        let mut done = 0;
        while done < periods {
            let n = (periods - done).min(e.max_periods());
            let ctl: Vec<SrnnControls> = (0..n)
                .map(|p| SrnnControls {
                    pos: (self.pos + (p * l) as u64) as u32,
                    ..self.base
                })
                .collect();
            let fill = prefix.map(|x| &x[done * l * s..(done + n) * l * s]);
            rows.extend(e.run(&ctl, fill)?);
            self.pos += (n * l) as u64;
            done += n;
        }
        Ok(rows)
    }

    /// Reset, then teacher-force `tokens` (one prefix per stream, all the same length, or
    /// one for every stream); the draws continue after it.
    pub fn prime(&mut self, e: &mut dyn Periods, tokens: &[Vec<u32>]) -> Result<()> {
        let (l, s) = (e.geometry().lookback, e.geometry().streams);
        let q = e.geometry().layout.config.levels;
        ensure!(
            tokens.len() <= 1 || tokens.len() == s,
            "prime takes one prefix per stream ({s}) or one for all, got {}",
            tokens.len()
        );
        let n = tokens.first().map_or(0, Vec::len);
        ensure!(
            tokens.iter().all(|t| t.len() == n),
            "every stream's prefix must have the same length"
        );
        ensure!(
            n < u32::MAX as usize / 2,
            "a prefix of {n} samples is too long"
        );
        if let Some(bad) = tokens.iter().flatten().find(|&&t| t as usize >= q) {
            anyhow::bail!("prefix token {bad} is outside the model's {q} levels");
        }
        e.reset_state()?;
        self.pos = 0;
        self.pending.iter_mut().for_each(Vec::clear);
        self.base.primed = n as u32;
        let periods = n.div_ceil(l);
        let mut fill = vec![NO_TOKEN; periods * l * s];
        for (row, chunk) in fill.chunks_mut(s).take(n).enumerate() {
            for (st, x) in chunk.iter_mut().enumerate() {
                *x = tokens[st % tokens.len()][row];
            }
        }
        let rows = self.run(e, Some(&fill), periods)?;
        self.keep(&rows[n * s..], s);
        Ok(())
    }

    fn keep(&mut self, rows: &[u32], s: usize) {
        for row in rows.chunks(s) {
            for (p, &t) in self.pending.iter_mut().zip(row) {
                p.push(t);
            }
        }
    }

    /// `n` more samples per stream.
    pub fn generate(
        &mut self,
        e: &mut dyn Periods,
        n: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Vec<u32>>> {
        let (l, s) = (e.geometry().lookback, e.geometry().streams);
        let take = n.min(self.pending[0].len());
        let mut out: Vec<Vec<u32>> = self
            .pending
            .iter_mut()
            .map(|p| p.drain(..take).collect())
            .collect();
        while out[0].len() < n {
            let periods = (n - out[0].len()).div_ceil(l).min(e.max_periods());
            let rows = self.run(e, None, periods)?;
            let used = (n - out[0].len()).min(periods * l);
            for row in rows[..used * s].chunks(s) {
                out.iter_mut().zip(row).for_each(|(o, &t)| o.push(t));
            }
            self.keep(&rows[used * s..], s);
            progress(out[0].len());
        }
        Ok(out)
    }
}
