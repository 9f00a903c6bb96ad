//! The kernel variants a shape runs with: fixed by the options, or timed once per shape
//! on scratch operands (see `choice`). The programs built here exist only to be timed.

use super::{groups, words, Choice, GemmTile, Kernels, StepKernel};
use crate::gpu::{BufId, Kernel, Program, ProgramBuilder};
use std::sync::Arc;

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
        let gpu = self.chooser.gpu();
        let [m, n, k] = [m, n, k].map(|x| x.clamp(1, TIMING_CAP));
        let (a_rs, a_cs) = if a_k_fast { (k, 1) } else { (1, m) };
        let (b_rs, b_cs) = if b_j_fast { (n, 1) } else { (1, k) };
        let a = gpu.storage("timing A", (m * k * 4) as u64);
        let b = gpu.storage("timing B", (k * n * 4) as u64);
        let c = gpu.storage("timing C", (m * n * 4) as u64);
        let params = words(&[m, n, k, 0, a_rs, a_cs, 0, b_rs, b_cs, 0, n, 0, 0]);
        let grid = |size| [groups(n, size), groups(m, size), 1];
        self.timing_programs(
            &[(&self.gemm, grid(64)), (&self.gemm_128, grid(128))],
            &[&a, &b, &b, &c],
            &params,
        )
    }

    /// One program per (kernel, grid): a single dispatch on `bufs` with `params`.
    fn timing_programs(
        &self,
        runs: &[(&Arc<Kernel>, [u32; 3])],
        bufs: &[&wgpu::Buffer],
        params: &[u32],
    ) -> Vec<Program> {
        let gpu = self.chooser.gpu();
        runs.iter()
            .map(|(kernel, grid)| {
                let mut pb = ProgramBuilder::new();
                let ids: Vec<BufId> = bufs.iter().map(|b| pb.buffer(b)).collect();
                pb.dispatch(kernel, &ids, params, *grid);
                pb.build(gpu)
            })
            .collect()
    }

    /// The forward step kernel for `batch` rows of `hidden` units, and its grid. Its
    /// parameters are the same either way.
    pub fn step_forward(&self, batch: usize, hidden: usize) -> (&Arc<Kernel>, [u32; 3]) {
        let variant = self.step_variant("gru_step", batch, hidden, || {
            let gpu = self.chooser.gpu();
            let (b, h) = (batch, hidden);
            let gi = gpu.storage("timing gi", (b * 3 * h * 4) as u64);
            let w = gpu.storage("timing W_hh", ((3 * h * h + 3 * h) * 4) as u64);
            let hseq = gpu.storage("timing h", (2 * b * h * 4) as u64);
            let gates = gpu.storage("timing gates", (b * 4 * h * 4) as u64);
            let params = words(&[b, h, 0, 0, b * h, 0, 0, 3 * h * h, 1]);
            let runs = STEP_KERNELS.map(|v| self.step_forward_of(v, b, h));
            self.timing_programs(&runs, &[&gi, &w, &hseq, &gates], &params)
        });
        self.step_forward_of(variant, batch, hidden)
    }

    fn step_forward_of(&self, v: StepKernel, batch: usize, h: usize) -> (&Arc<Kernel>, [u32; 3]) {
        match v {
            StepKernel::Tiled => (&self.gru_step, [groups(h, 32), groups(batch, 8), 1]),
            StepKernel::Sliced => (&self.gru_step_sliced, [groups(h, 4), groups(batch, 1), 1]),
        }
    }

    /// The backward step kernel for `batch` rows of `hidden` units, and its grid.
    pub fn step_backward(&self, batch: usize, hidden: usize) -> (&Arc<Kernel>, [u32; 3]) {
        let variant = self.step_variant("gru_step_backward", batch, hidden, || {
            let gpu = self.chooser.gpu();
            let (b, h) = (batch, hidden);
            let f = |n: usize| (n * 4) as u64;
            let bufs = [
                gpu.storage("timing W_hh", f(3 * h * h)),
                gpu.storage("timing gates", f(2 * b * 4 * h)),
                gpu.storage("timing h", f(b * h)),
                gpu.storage("timing dh_out", f(b * h)),
                gpu.storage("timing dgi", f(b * 3 * h)),
                gpu.storage("timing dgh", f(2 * b * 3 * h)),
                gpu.storage("timing dhs", f(2 * b * h)),
            ];
            let params = words(&[b, h, 0, 1, 0, b * 3 * h, b * 4 * h, b * h, 0, 0, 0, 0, 0]);
            let runs = STEP_KERNELS.map(|v| self.step_backward_of(v, b, h));
            self.timing_programs(&runs, &bufs.each_ref(), &params)
        });
        self.step_backward_of(variant, batch, hidden)
    }

    fn step_backward_of(&self, v: StepKernel, batch: usize, h: usize) -> (&Arc<Kernel>, [u32; 3]) {
        match v {
            StepKernel::Tiled => (
                &self.gru_step_backward,
                [groups(h, 32), groups(batch, 4), 1],
            ),
            StepKernel::Sliced => (
                &self.gru_step_backward_sliced,
                [groups(h, 8), groups(batch, 1), 1],
            ),
        }
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
