//! Kernel variants chosen by timing. Which of two kernels is faster depends on the adapter
//! and the shape (a 128x128 GEMM tile does twice the arithmetic per workgroup-memory load
//! of a 64x64 one but makes a quarter as many workgroups; a K-sliced recurrent step fills
//! a large GPU at small batches where the tiled one cannot), so on a GPU each new shape is
//! timed once with every candidate, on scratch operands, and the fastest is kept.

use crate::gpu::tuning_cache::TuningCache;
use crate::gpu::{Gpu, Program};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A fixed variant, or the fastest by timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice<T> {
    Fixed(T),
    Timed,
}

/// GEMM output tile per workgroup: 64x64 (4x4 per thread) or 128x128 (8x8 per thread).
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

/// The recurrent step kernels (forward and backward): 8 (or 4) batch rows x 32 units per
/// workgroup with tiles staged through workgroup memory, or one row x a few units with K
/// split over the threads (for small batches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKernel {
    Tiled,
    Sliced,
}

pub type GemmChoice = Choice<GemmTile>;
pub type StepChoice = Choice<StepKernel>;

impl<T: Copy> Choice<T> {
    /// What suits `gpu`: `Fixed(parse(value))` when environment variable `var` holds a value
    /// `parse` knows; otherwise timed on a GPU and `fallback` on a software adapter (where
    /// timing costs more than it saves).
    pub fn for_gpu(gpu: &Gpu, var: &str, parse: fn(&str) -> Option<T>, fallback: T) -> Self {
        match std::env::var(var).ok().as_deref().and_then(parse) {
            Some(t) => Choice::Fixed(t),
            None if gpu.is_software() => Choice::Fixed(fallback),
            None => Choice::Timed,
        }
    }
}

/// A later candidate must beat the first by this much: tiny kernels time mostly the
/// submit and the wait.
const MARGIN: f64 = 0.95;

/// Timed choices, one per key.
pub(super) struct Chooser {
    gpu: Arc<Gpu>,
    chosen: Mutex<HashMap<String, (usize, &'static str)>>,
    /// Choices of earlier runs on this adapter and driver.
    cache: TuningCache,
}

impl Chooser {
    pub(super) fn new(gpu: &Arc<Gpu>) -> Chooser {
        Chooser {
            gpu: gpu.clone(),
            chosen: Mutex::new(HashMap::new()),
            cache: TuningCache::for_gpu(gpu),
        }
    }

    pub(super) fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Every choice so far: (key, name of the chosen candidate), sorted by key.
    pub(super) fn choices(&self) -> Vec<(String, &'static str)> {
        let mut v: Vec<_> = self
            .chosen
            .lock()
            .expect("kernel choices")
            .iter()
            .map(|(k, (_, name))| (k.clone(), *name))
            .collect();
        v.sort();
        v
    }

    /// The index of the fastest of the candidates `build` makes (one program each, run on
    /// scratch buffers), timed the first time `key` is asked; the first candidate wins ties
    /// and any failure to time.
    pub(super) fn fastest(
        &self,
        key: &str,
        names: &[&'static str],
        build: impl FnOnce() -> Vec<Program>,
    ) -> usize {
        if let Some((i, _)) = self.chosen.lock().expect("kernel choices").get(key) {
            return *i;
        }
        let cached = self.cache.get(key);
        let best = match cached.and_then(|c| names.iter().position(|n| *n == c)) {
            Some(i) => i,
            None => {
                let programs = build();
                assert_eq!(programs.len(), names.len(), "one name per candidate");
                let times: Option<Vec<f64>> = programs.iter().map(|p| self.time(p)).collect();
                let best = times.map_or(0, |t| {
                    (1..t.len()).fold(0, |best, i| if t[i] < MARGIN * t[best] { i } else { best })
                });
                self.cache.put(key, names[best]);
                best
            }
        };
        log::info!("{key}: {}", names[best]);
        self.chosen
            .lock()
            .expect("kernel choices")
            .insert(key.to_string(), (best, names[best]));
        best
    }

    /// Seconds per run of `program`: one warm-up run, then five in one submit.
    fn time(&self, program: &Program) -> Option<f64> {
        let run = |reps: usize| -> Option<f64> {
            let t0 = Instant::now();
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            for _ in 0..reps {
                program.encode(&mut enc, None);
            }
            self.gpu.queue.submit([enc.finish()]);
            self.gpu.wait().ok()?;
            Some(t0.elapsed().as_secs_f64() / reps as f64)
        };
        run(1)?;
        run(5)
    }
}
