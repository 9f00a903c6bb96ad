//! Which output tile a GEMM runs with: 64x64 (4x4 per thread) or 128x128 (8x8 per thread).
//! The faster one depends on the adapter and the shape (a big tile does twice the arithmetic
//! per workgroup-memory load but makes a quarter as many workgroups), so on a GPU each new
//! shape is timed once with both and the faster is kept for every later recording.

use crate::gpu::{Gpu, Kernel, ProgramBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmTile {
    T64,
    T128,
}

impl GemmTile {
    /// Output rows (and columns) per workgroup.
    pub fn size(self) -> usize {
        match self {
            GemmTile::T64 => 64,
            GemmTile::T128 => 128,
        }
    }
}

/// How `Kernels::record_gemm` picks the tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmChoice {
    Fixed(GemmTile),
    /// Time both tiles the first time a shape is recorded and keep the faster.
    Timed,
}

impl GemmChoice {
    /// `GRUWAVE_GEMM_TILE=64` or `128` fixes the tile; otherwise a GPU times them and a
    /// software adapter (where timing costs more than it saves) takes 64.
    pub fn for_gpu(gpu: &Gpu) -> GemmChoice {
        match std::env::var("GRUWAVE_GEMM_TILE").as_deref() {
            Ok("64") => GemmChoice::Fixed(GemmTile::T64),
            Ok("128") => GemmChoice::Fixed(GemmTile::T128),
            _ if gpu.is_software() => GemmChoice::Fixed(GemmTile::T64),
            _ => GemmChoice::Timed,
        }
    }
}

/// What decides a GEMM's speed: its shape and which operand dimensions are contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmKey {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_k_fast: bool,
    pub b_j_fast: bool,
}

/// Timed choices, one per shape.
pub(super) struct GemmTuner {
    gpu: Arc<Gpu>,
    chosen: Mutex<HashMap<GemmKey, GemmTile>>,
}

/// Timing uses operands of at most this many rows or columns per dimension (the choice
/// at that size stands for larger ones, and the scratch buffers stay small).
const TIMING_CAP: usize = 4096;

/// The big tile must win by this much: tiny GEMMs time mostly the submit and wait.
const MARGIN: f64 = 0.95;

impl GemmTuner {
    pub(super) fn new(gpu: &Arc<Gpu>) -> GemmTuner {
        GemmTuner {
            gpu: gpu.clone(),
            chosen: Mutex::new(HashMap::new()),
        }
    }

    /// Every choice made so far.
    pub(super) fn choices(&self) -> Vec<(GemmKey, GemmTile)> {
        let mut v: Vec<_> = self
            .chosen
            .lock()
            .expect("gemm choices")
            .iter()
            .map(|(k, t)| (*k, *t))
            .collect();
        v.sort_by_key(|(k, _)| (k.m, k.n, k.k, k.a_k_fast, k.b_j_fast));
        v
    }

    /// The tile for `key`, timing both the first time. `kernels` are the 64 and 128 GEMMs;
    /// `params` builds their parameter words for a shape and operand strides.
    pub(super) fn pick(
        &self,
        key: GemmKey,
        kernels: [&Arc<Kernel>; 2],
        params: &dyn Fn(GemmKey, [usize; 4]) -> Vec<u32>,
    ) -> GemmTile {
        if let Some(t) = self.chosen.lock().expect("gemm choices").get(&key) {
            return *t;
        }
        let tile = match self.time(key, kernels, params) {
            Some([t64, t128]) if t128 < MARGIN * t64 => GemmTile::T128,
            _ => GemmTile::T64,
        };
        log::info!("gemm {key:?}: {tile:?}");
        self.chosen.lock().expect("gemm choices").insert(key, tile);
        tile
    }

    /// Seconds per dispatch of each tile on scratch operands of the key's layout, or `None`
    /// when the GPU could not be waited for.
    fn time(
        &self,
        key: GemmKey,
        kernels: [&Arc<Kernel>; 2],
        params: &dyn Fn(GemmKey, [usize; 4]) -> Vec<u32>,
    ) -> Option<[f64; 2]> {
        let gpu = &self.gpu;
        let cap = |x: usize| x.clamp(1, TIMING_CAP);
        let key = GemmKey {
            m: cap(key.m),
            n: cap(key.n),
            k: cap(key.k),
            ..key
        };
        let (m, n, k) = (key.m, key.n, key.k);
        // Strides: A row-major [m, k] when k is its fast dimension, else its transpose.
        let (a_rs, a_cs) = if key.a_k_fast { (k, 1) } else { (1, m) };
        let (b_rs, b_cs) = if key.b_j_fast { (n, 1) } else { (1, k) };
        let a = gpu.storage("gemm timing A", (m * k * 4) as u64);
        let b = gpu.storage("gemm timing B", (k * n * 4) as u64);
        let c = gpu.storage("gemm timing C", (m * n * 4) as u64);
        let words = params(key, [a_rs, a_cs, b_rs, b_cs]);
        let mut out = [0.0; 2];
        for (i, kernel) in kernels.iter().enumerate() {
            let size = [64, 128][i];
            let groups = [n.div_ceil(size) as u32, m.div_ceil(size) as u32, 1];
            let mut pb = ProgramBuilder::new();
            let ids = [&a, &b, &b, &c].map(|buf| pb.buffer(buf));
            pb.dispatch(kernel, &ids, &words, groups);
            let once = pb.build(gpu);
            let run = |reps: usize| -> Option<f64> {
                let t0 = Instant::now();
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                for _ in 0..reps {
                    once.encode(&mut enc, None);
                }
                gpu.queue.submit([enc.finish()]);
                gpu.wait().ok()?;
                Some(t0.elapsed().as_secs_f64() / reps as f64)
            };
            run(1)?; // warm-up: first use of the pipeline and buffers
            out[i] = run(5)?;
        }
        Some(out)
    }
}
