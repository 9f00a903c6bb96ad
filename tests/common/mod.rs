//! Shared helpers for the integration tests: the PyTorch fixtures in tests/fixtures.
#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::PathBuf;

pub fn fixture_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// One fixture file, with its tensors converted on request.
pub struct Fixture {
    bytes: Vec<u8>,
    pub file: String,
}

impl Fixture {
    pub fn open(file: &str) -> Fixture {
        let bytes = std::fs::read(fixture_path(file))
            .unwrap_or_else(|e| panic!("cannot read fixture {file}: {e}"));
        Fixture {
            bytes,
            file: file.to_string(),
        }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("fixture is valid safetensors")
    }

    pub fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.st()
            .tensor(name)
            .unwrap_or_else(|_| panic!("{}: no tensor {name}", self.file))
            .shape()
            .to_vec()
    }

    /// Any float or integer tensor, as f64.
    pub fn f64(&self, name: &str) -> Vec<f64> {
        let st = self.st();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("{}: no tensor {name}", self.file));
        let d = t.data();
        match t.dtype() {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{}: {name} has unsupported dtype {other:?}", self.file),
        }
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.f64(name).into_iter().map(|x| x as f32).collect()
    }

    pub fn i64(&self, name: &str) -> Vec<i64> {
        self.f64(name).into_iter().map(|x| x as i64).collect()
    }

    pub fn metadata(&self) -> HashMap<String, String> {
        let (_, m) = SafeTensors::read_metadata(&self.bytes).unwrap();
        m.metadata().clone().unwrap_or_default()
    }

    pub fn meta_usize(&self, key: &str) -> usize {
        self.metadata()[key].parse().unwrap()
    }
}

/// Relative error ||a - b|| / ||b||.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

pub fn to_f64(a: &[f32]) -> Vec<f64> {
    a.iter().map(|&x| x as f64).collect()
}

use gruwave::kernels::{Choice, GemmTile, KernelOptions, StepKernel};
use gruwave::model::{ModelConfig, ParamLayout};
use gruwave::{Gpu, Kernels};
use std::sync::{Arc, OnceLock};

/// The kernels built every way the adapter allows: its default first, then the other
/// reduction variant (plain when the default uses subgroups), then the other GEMM tile and
/// step kernels, so software-Vulkan runs test every variant a GPU may choose.
pub fn kernel_variants() -> Vec<(String, Arc<Kernels>)> {
    static CELL: OnceLock<Vec<(String, Arc<Kernels>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        let (gpu, k) = gpu();
        let d = k.options;
        let mut v = vec![(format!("{d:?}"), k.clone())];
        let mut others = Vec::new();
        if !d.subgroups || gpu.has_subgroups() {
            others.push(KernelOptions {
                subgroups: !d.subgroups,
                ..d
            });
        }
        let other_tile = match d.gemm {
            Choice::Fixed(GemmTile::T128) => GemmTile::T64,
            _ => GemmTile::T128,
        };
        let other_step = match d.step {
            Choice::Fixed(StepKernel::Sliced) => StepKernel::Tiled,
            _ => StepKernel::Sliced,
        };
        others.push(KernelOptions {
            gemm: Choice::Fixed(other_tile),
            step: Choice::Fixed(other_step),
            ..d
        });
        for o in others {
            v.push((format!("{o:?}"), Arc::new(Kernels::with_options(&gpu, o))));
        }
        v
    })
    .clone()
}

/// Record-once programs of single ops: build and submit one.
pub fn run(pb: gruwave::gpu::ProgramBuilder) {
    let (gpu, _) = gpu();
    let prog = pb.build(&gpu);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    prog.encode(&mut enc, None);
    gpu.queue.submit([enc.finish()]);
}

/// One device and kernel set per test binary.
pub fn gpu() -> (Arc<Gpu>, Arc<Kernels>) {
    static CELL: OnceLock<(Arc<Gpu>, Arc<Kernels>)> = OnceLock::new();
    CELL.get_or_init(|| {
        let _ = env_logger::builder().is_test(true).try_init();
        let gpu =
            Gpu::new().expect("a GPU adapter (or mesa-vulkan-drivers) is required for the tests");
        eprintln!("testing on {}", gpu.describe());
        let k = Arc::new(Kernels::new(&gpu));
        (gpu, k)
    })
    .clone()
}

impl Fixture {
    /// Model config from the V, E, H, L metadata.
    pub fn config(&self) -> ModelConfig {
        ModelConfig::new(
            self.meta_usize("V"),
            self.meta_usize("E"),
            self.meta_usize("H"),
            self.meta_usize("L"),
        )
        .unwrap()
    }

    /// The parameters named by the layout, `prefix` + name, as a flat vector.
    pub fn params(&self, layout: &ParamLayout, prefix: &str) -> Vec<f64> {
        let mut flat = vec![0.0; layout.total];
        for e in &layout.entries {
            let t = self.f64(&format!("{prefix}{}", e.name));
            assert_eq!(t.len(), e.len, "{}", e.name);
            flat[e.offset..e.offset + e.len].copy_from_slice(&t);
        }
        flat
    }
}

/// Tiny deterministic generator for test data (splitmix64).
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }
}

/// An f32 buffer on the GPU and the same values in f64 on the host.
pub struct Arr {
    pub host: Vec<f64>,
    pub buf: wgpu::Buffer,
}

impl Arr {
    pub fn random(rng: &mut TestRng, n: usize, lo: f64, hi: f64) -> Arr {
        let v: Vec<f32> = (0..n).map(|_| rng.uniform(lo, hi) as f32).collect();
        let (gpu, _) = gpu();
        Arr {
            host: to_f64(&v),
            buf: gpu.storage_from("arr", &v),
        }
    }
    pub fn bind(&self, pb: &mut gruwave::gpu::ProgramBuilder) -> gruwave::kernels::Buf {
        buf(pb, &self.buf)
    }
    pub fn got(&self) -> Vec<f64> {
        let (gpu, _) = gpu();
        to_f64(&gpu.read::<f32>(&self.buf, 0, self.host.len()).unwrap())
    }
    /// The GPU's result against the twin's, over the whole buffer.
    pub fn check(&self, what: &str, tol: f64) {
        let err = rel_err(&self.got(), &self.host);
        assert!(err < tol, "{what}: rel err {err:.2e}");
    }
}

/// Tokens on the GPU and the host.
pub struct Toks {
    pub host: Vec<u32>,
    pub buf: wgpu::Buffer,
}

impl Toks {
    pub fn new(v: Vec<u32>) -> Toks {
        let (gpu, _) = gpu();
        Toks {
            buf: gpu.storage_from("tokens", &v),
            host: v,
        }
    }
    pub fn got(&self) -> Vec<u32> {
        let (gpu, _) = gpu();
        gpu.read::<u32>(&self.buf, 0, self.host.len()).unwrap()
    }
}

/// Register a buffer with a program.
pub fn buf(pb: &mut gruwave::gpu::ProgramBuilder, b: &wgpu::Buffer) -> gruwave::kernels::Buf {
    gruwave::kernels::Buf::register(pb, b)
}

/// Runs the gruwave binary with `args` (XDG_RUNTIME_DIR set for the GPU).
pub fn gruwave(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("the gruwave binary runs")
}

/// A run's standard error, as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
