//! The kernel variants a shape runs with: fixed by the options, or timed once per shape
//! on scratch operands (see `choice`). The programs built here exist only to be timed; they
//! record the same ops as the engine, with the variant fixed.

use super::ops::step::StepParams;
use super::ops::step_backward::{StepBackwardBufs, StepBackwardParams};
use super::ops::Buf;
use super::{Choice, Epilogue, GemmTile, Kernels, Mat, StepKernel};
use crate::gpu::{Program, ProgramBuilder};

/// The step kernels in the order they are timed (the first wins ties).
const STEP_KERNELS: [StepKernel; 2] = [StepKernel::Tiled, StepKernel::Sliced];

/// Operands of timing runs are capped at this many rows or columns per dimension: the
/// choice at that size stands for larger ones, and the scratch buffers stay small.
const TIMING_CAP: usize = 4096;

impl Kernels {
    /// The GEMM tile for an M x N x K product whose A is contiguous along k (or not) and B
    /// along j (or not).
    pub(super) fn gemm_tile(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a_k_fast: bool,
        b_j_fast: bool,
    ) -> GemmTile {
        match self.options.gemm {
            Choice::Fixed(t) => t,
            Choice::Timed => {
                let side = |fast| if fast { "rows" } else { "columns" };
                let key = format!(
                    "gemm {m} x {n} x {k} (A {}, B {})",
                    side(a_k_fast),
                    side(b_j_fast)
                );
                let i = self.chooser.fastest(&key, &["64x64", "128x128"], || {
                    self.gemm_timing_programs(m, n, k, a_k_fast, b_j_fast)
                });
                [GemmTile::T64, GemmTile::T128][i]
            }
        }
    }

    /// Every choice made by timing so far: (shape, chosen variant).
    pub fn timed_choices(&self) -> Vec<(String, &'static str)> {
        self.chooser.choices()
    }

    /// One GEMM of each tile on scratch operands with the given contiguous dimensions.
    fn gemm_timing_programs(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a_k_fast: bool,
        b_j_fast: bool,
    ) -> Vec<Program> {
        let [m, n, k] = [m, n, k].map(|x| x.clamp(1, TIMING_CAP));
        let (a_rs, a_cs) = if a_k_fast { (k, 1) } else { (1, m) };
        let (b_rs, b_cs) = if b_j_fast { (n, 1) } else { (1, k) };
        let [a, b, c] = [m * k, k * n, m * n].map(|len| self.scratch("timing GEMM", len));
        self.timing_programs(&[GemmTile::T64, GemmTile::T128], |pb, tile| {
            let [a, b, c] = [&a, &b, &c].map(|x| x.register(pb));
            let a = Mat {
                buf: a,
                off: 0,
                rs: a_rs,
                cs: a_cs,
            };
            let b = Mat {
                buf: b,
                off: 0,
                rs: b_rs,
                cs: b_cs,
            };
            self.record_gemm_tile(pb, tile, m, n, k, a, b, c, 0, n, Epilogue::None);
        })
    }

    fn scratch(&self, label: &str, len: usize) -> Scratch {
        Scratch(self.chooser.gpu().storage(label, (len.max(1) * 4) as u64))
    }

    /// One program per candidate, each recorded by `record` on fresh scratch operands.
    fn timing_programs<T: Copy>(
        &self,
        candidates: &[T],
        record: impl Fn(&mut ProgramBuilder, T),
    ) -> Vec<Program> {
        let gpu = self.chooser.gpu();
        candidates
            .iter()
            .map(|&c| {
                let mut pb = ProgramBuilder::new();
                record(&mut pb, c);
                pb.build(gpu)
            })
            .collect()
    }

    /// The forward step kernel for `batch` rows of `hidden` units.
    pub fn step_forward_kernel(&self, batch: usize, hidden: usize) -> StepKernel {
        self.step_variant("gru_step", batch, hidden, || {
            let (b, h) = (batch, hidden);
            let gi = self.scratch("timing gi", b * 3 * h);
            let w = self.scratch("timing W_hh", 3 * h * h + 3 * h);
            let hseq = self.scratch("timing h", 2 * b * h);
            let gates = self.scratch("timing gates", b * 4 * h);
            let p = StepParams::window(b, h, 0, 0, 3 * h * h);
            self.timing_programs(&STEP_KERNELS, |pb, v| {
                let [gi, w, hseq, gates] = [&gi, &w, &hseq, &gates].map(|x| x.register(pb));
                self.record_gru_step_with(pb, v, &p, gi, w, hseq, gates);
            })
        })
    }

    /// The backward step kernel for `batch` rows of `hidden` units.
    pub fn step_backward_kernel(&self, batch: usize, hidden: usize) -> StepKernel {
        self.step_variant("gru_step_backward", batch, hidden, || {
            let (b, h) = (batch, hidden);
            let bufs = [
                self.scratch("timing W_hh", 3 * h * h),
                self.scratch("timing gates", 2 * b * 4 * h),
                self.scratch("timing h", b * h),
                self.scratch("timing dh_out", b * h),
                self.scratch("timing dgi", b * 3 * h),
                self.scratch("timing dgh", 2 * b * 3 * h),
                self.scratch("timing dhs", 3 * b * h),
            ];
            // Step 0 of two: it has a next step.
            let p = StepBackwardParams::window(b, h, 0, 2, 1);
            self.timing_programs(&STEP_KERNELS, |pb, v| {
                let [w, gates, hseq, dh_out, dgi, dgh, dhs] =
                    bufs.each_ref().map(|x| x.register(pb));
                let bufs = StepBackwardBufs {
                    w,
                    gates,
                    hseq,
                    dh_out,
                    dgi,
                    dgh,
                    dhs,
                };
                self.record_gru_step_backward_with(pb, v, &p, &bufs);
            })
        })
    }

    fn step_variant(
        &self,
        what: &str,
        batch: usize,
        hidden: usize,
        programs: impl FnOnce() -> Vec<Program>,
    ) -> StepKernel {
        match self.options.step {
            Choice::Fixed(v) => v,
            Choice::Timed => {
                let key = format!("{what} B={batch} H={hidden}");
                STEP_KERNELS[self.chooser.fastest(&key, &["tiled", "sliced"], programs)]
            }
        }
    }
}

/// A scratch operand of a timing program.
struct Scratch(wgpu::Buffer);

impl Scratch {
    fn register(&self, pb: &mut ProgramBuilder) -> Buf {
        Buf::register(pb, &self.0)
    }
}
