//! Every compute kernel, built once per device; the typed ops that record them are in
//! `ops`, one per WGSL entry point. Each op checks on the host that the kernel's guarded
//! index ranges lie inside the buffers it is given: the WGSL modules run without runtime
//! bounds checks (10-45x faster on NVIDIA), so in-bounds is proven there and by
//! ragged-shape tests.

mod choice;
pub mod ops;
mod variants;

pub use choice::{Choice, GemmChoice, GemmTile, StepChoice, StepKernel};
pub use ops::gemm::Epilogue;
pub use ops::reduce::COLSUM_PARTS;
pub use ops::{row_grid, Buf, Mat};

use crate::gpu::{Access, Gpu, Kernel};
use choice::Chooser;
use std::sync::Arc;

/// WGSL libraries prepended to the kernel families that use them (WGSL has no includes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lib {
    /// `gates.wgsl`: the gate nonlinearities.
    Gates,
    /// Workgroup sum/max/scan: `wg_reduce_subgroup.wgsl` or `wg_reduce_plain.wgsl`, then
    /// `wg_reduce.wgsl`.
    WgReduce,
    /// `rng.wgsl`: the counter-based random numbers of the samplers.
    Rng,
}

/// The kernel families, one WGSL file each, with the libraries each needs.
pub const FAMILIES: [(&str, &str, &[Lib]); 10] = [
    ("gemm.wgsl", include_str!("../../shaders/gemm.wgsl"), &[]),
    (
        "gru_step.wgsl",
        include_str!("../../shaders/gru_step.wgsl"),
        &[Lib::Gates],
    ),
    (
        "gru_step_backward.wgsl",
        include_str!("../../shaders/gru_step_backward.wgsl"),
        &[],
    ),
    (
        "softmax_xent.wgsl",
        include_str!("../../shaders/softmax_xent.wgsl"),
        &[Lib::WgReduce],
    ),
    (
        "reduce.wgsl",
        include_str!("../../shaders/reduce.wgsl"),
        &[Lib::WgReduce],
    ),
    (
        "embedding.wgsl",
        include_str!("../../shaders/embedding.wgsl"),
        &[],
    ),
    ("adam.wgsl", include_str!("../../shaders/adam.wgsl"), &[]),
    (
        "sample.wgsl",
        include_str!("../../shaders/sample.wgsl"),
        &[Lib::Gates, Lib::WgReduce, Lib::Rng],
    ),
    (
        "samplernn_sample.wgsl",
        include_str!("../../shaders/samplernn_sample.wgsl"),
        &[Lib::WgReduce, Lib::Rng],
    ),
    (
        "samplernn.wgsl",
        include_str!("../../shaders/samplernn.wgsl"),
        &[],
    ),
];

/// The library files, which are not families of their own.
pub const LIBRARY_FILES: [&str; 5] = [
    "gates.wgsl",
    "rng.wgsl",
    "wg_reduce.wgsl",
    "wg_reduce_plain.wgsl",
    "wg_reduce_subgroup.wgsl",
];

/// How the kernels are built for one adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOptions {
    /// Workgroup reductions with subgroup operations (needs `Features::SUBGROUP`).
    pub subgroups: bool,
    /// The GEMM output tile, fixed or timed per shape.
    pub gemm: GemmChoice,
    /// The recurrent step kernels, fixed or timed per batch and hidden size.
    pub step: StepChoice,
}

impl KernelOptions {
    /// What suits `gpu`: subgroups where it has them, unless `GRUWAVE_SUBGROUPS=0`; GEMM
    /// tiles and step kernels timed on a GPU, unless `GRUWAVE_GEMM_TILE=64|128` or
    /// `GRUWAVE_STEP=tiled|sliced` fixes them (a software adapter takes 64 and tiled).
    pub fn for_gpu(gpu: &Gpu) -> KernelOptions {
        let off = std::env::var("GRUWAVE_SUBGROUPS").is_ok_and(|v| v == "0");
        let tile = |v: &str| match v {
            "64" => Some(GemmTile::T64),
            "128" => Some(GemmTile::T128),
            _ => None,
        };
        let step = |v: &str| match v {
            "tiled" => Some(StepKernel::Tiled),
            "sliced" => Some(StepKernel::Sliced),
            _ => None,
        };
        KernelOptions {
            subgroups: gpu.has_subgroups() && !off,
            gemm: Choice::for_gpu(gpu, "GRUWAVE_GEMM_TILE", tile, GemmTile::T64),
            step: Choice::for_gpu(gpu, "GRUWAVE_STEP", step, StepKernel::Tiled),
        }
    }

    /// Everything fixed: tiled steps, 64x64 GEMM tiles, reductions as `subgroups` says.
    pub fn fixed(subgroups: bool) -> KernelOptions {
        KernelOptions {
            subgroups,
            gemm: Choice::Fixed(GemmTile::T64),
            step: Choice::Fixed(StepKernel::Tiled),
        }
    }
}

/// The complete WGSL source of kernel family `file`: its libraries, then the file.
pub fn shader_source(file: &str, opts: KernelOptions) -> String {
    let (_, body, libs) = FAMILIES
        .iter()
        .find(|(name, _, _)| *name == file)
        .expect("known shader file");
    let mut src = String::new();
    if libs.contains(&Lib::WgReduce) {
        src.push_str(if opts.subgroups {
            include_str!("../../shaders/wg_reduce_subgroup.wgsl")
        } else {
            include_str!("../../shaders/wg_reduce_plain.wgsl")
        });
        src.push_str(include_str!("../../shaders/wg_reduce.wgsl"));
    }
    if libs.contains(&Lib::Gates) {
        src.push_str(include_str!("../../shaders/gates.wgsl"));
    }
    if libs.contains(&Lib::Rng) {
        src.push_str(include_str!("../../shaders/rng.wgsl"));
    }
    src.push_str(body);
    src
}

use Access::{Read as R, ReadWrite as W};

/// The sampler's kernels bind the same six buffers (weights, token history, state read,
/// state written, controls, logits), each read-only where the kernel only reads it.
const SAMPLE_CELL: [Access; 4] = [R, R, R, W];
const SAMPLE_CELL_DRAW: [Access; 7] = [R, W, R, W, R, R, W];
const SAMPLE_LOGITS: [Access; 6] = [R, R, R, R, R, W];
const SAMPLE_DRAW: [Access; 7] = [R, W, R, R, R, R, W];
/// SampleRNN: W, history, upsampled, x; and for the MLP also controls, uniforms, trace.
const SRNN_FRAME: [Access; 4] = [R, R, R, W];
const SRNN_MLP: [Access; 7] = [R, W, R, W, R, R, W];
/// W_hh, gates, hseq, dh_out; dgi, dgh, dhs.
const STEP_BACKWARD: [Access; 7] = [R, R, R, R, W, W, W];

pub struct Kernels {
    pub options: KernelOptions,
    pub gemm: Arc<Kernel>,
    pub gemm_128: Arc<Kernel>,
    /// For the choices made by timing: what was chosen for each shape so far.
    chooser: Chooser,
    pub gru_step: Arc<Kernel>,
    pub gru_step_sliced: Arc<Kernel>,
    pub gru_cell: Arc<Kernel>,
    pub gru_step_backward: Arc<Kernel>,
    pub gru_step_backward_sliced: Arc<Kernel>,
    pub softmax_xent: Arc<Kernel>,
    pub sum_scaled: Arc<Kernel>,
    pub sumsq_partial: Arc<Kernel>,
    pub clip_coef: Arc<Kernel>,
    pub colsum_partial: Arc<Kernel>,
    pub colsum_finish: Arc<Kernel>,
    pub embed_gather: Arc<Kernel>,
    pub embed_backward: Arc<Kernel>,
    pub adam: Arc<Kernel>,
    pub sample_cell: Arc<Kernel>,
    pub sample_cell_draw: Arc<Kernel>,
    pub sample_logits: Arc<Kernel>,
    pub sample_draw: Arc<Kernel>,
    pub srnn_frames: Arc<Kernel>,
    pub srnn_cond_add: Arc<Kernel>,
    pub srnn_cond_grad: Arc<Kernel>,
    pub srnn_mlp_input: Arc<Kernel>,
    pub srnn_mlp_input_backward: Arc<Kernel>,
    pub srnn_relu: Arc<Kernel>,
    pub srnn_relu_backward: Arc<Kernel>,
    pub srnn_tap_interleave: Arc<Kernel>,
    pub srnn_h0_reset: Arc<Kernel>,
    pub srnn_h0_grad: Arc<Kernel>,
    pub srnn_frame_input: Arc<Kernel>,
    pub srnn_mlp_draw: Arc<Kernel>,
}

fn module(gpu: &Gpu, file: &str, opts: KernelOptions) -> wgpu::ShaderModule {
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some(file),
        source: wgpu::ShaderSource::Wgsl(shader_source(file, opts).into()),
    };
    // SAFETY: every kernel guards its global indices against the logical shape in its
    // parameters, and the recording helpers below assert that those shapes fit the bound
    // buffers; tests/kernels.rs runs each kernel on ragged shapes against the CPU reference.
    unsafe {
        gpu.device
            .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
    }
}

impl Kernels {
    /// The kernels built as suits `gpu` (`KernelOptions::for_gpu`).
    pub fn new(gpu: &Arc<Gpu>) -> Kernels {
        Kernels::with_options(gpu, KernelOptions::for_gpu(gpu))
    }

    pub fn with_options(gpu: &Arc<Gpu>, opts: KernelOptions) -> Kernels {
        assert!(
            !opts.subgroups || gpu.has_subgroups(),
            "subgroup kernels need an adapter with subgroups"
        );
        let m = |file| module(gpu, file, opts);
        let gemm = m("gemm.wgsl");
        let step = m("gru_step.wgsl");
        let step_bwd = m("gru_step_backward.wgsl");
        let xent = m("softmax_xent.wgsl");
        let reduce = m("reduce.wgsl");
        let emb = m("embedding.wgsl");
        let adam = m("adam.wgsl");
        let sample = m("sample.wgsl");
        let srnn_train = m("samplernn.wgsl");
        let srnn = m("samplernn_sample.wgsl");
        Kernels {
            options: opts,
            gemm: Kernel::new(gpu, &gemm, "gemm", &[R, R, R, W]),
            gemm_128: Kernel::new(gpu, &gemm, "gemm_128", &[R, R, R, W]),
            chooser: Chooser::new(gpu),
            gru_step: Kernel::new(gpu, &step, "gru_step", &[R, R, W, W]),
            gru_step_sliced: Kernel::new(gpu, &step, "gru_step_sliced", &[R, R, W, W]),
            gru_cell: Kernel::new(gpu, &step, "gru_cell", &[R, R, R, W, R]),
            gru_step_backward: Kernel::new(gpu, &step_bwd, "gru_step_backward", &STEP_BACKWARD),
            gru_step_backward_sliced: Kernel::new(
                gpu,
                &step_bwd,
                "gru_step_backward_sliced",
                &STEP_BACKWARD,
            ),
            softmax_xent: Kernel::new(gpu, &xent, "softmax_xent", &[R, R, W, W]),
            sum_scaled: Kernel::new(gpu, &reduce, "sum_scaled", &[R, W]),
            sumsq_partial: Kernel::new(gpu, &reduce, "sumsq_partial", &[R, W]),
            clip_coef: Kernel::new(gpu, &reduce, "clip_coef", &[R, W]),
            colsum_partial: Kernel::new(gpu, &reduce, "colsum_partial", &[R, W]),
            colsum_finish: Kernel::new(gpu, &reduce, "colsum_finish", &[R, W]),
            embed_gather: Kernel::new(gpu, &emb, "embed_gather", &[R, R, W]),
            embed_backward: Kernel::new(gpu, &emb, "embed_backward", &[R, R, W]),
            adam: Kernel::new(gpu, &adam, "adam", &[R, R, W, W, W]),
            sample_cell: Kernel::new(gpu, &sample, "sample_cell", &SAMPLE_CELL),
            sample_cell_draw: Kernel::new(gpu, &sample, "sample_cell_draw", &SAMPLE_CELL_DRAW),
            sample_logits: Kernel::new(gpu, &sample, "sample_logits", &SAMPLE_LOGITS),
            sample_draw: Kernel::new(gpu, &sample, "sample_draw", &SAMPLE_DRAW),
            srnn_frames: Kernel::new(gpu, &srnn_train, "srnn_frames", &[R, W]),
            srnn_cond_add: Kernel::new(gpu, &srnn_train, "srnn_cond_add", &[R, W]),
            srnn_cond_grad: Kernel::new(gpu, &srnn_train, "srnn_cond_grad", &[R, W]),
            srnn_mlp_input: Kernel::new(gpu, &srnn_train, "srnn_mlp_input", &[R, R, R, W]),
            srnn_mlp_input_backward: Kernel::new(
                gpu,
                &srnn_train,
                "srnn_mlp_input_backward",
                &[R, W, W],
            ),
            srnn_relu: Kernel::new(gpu, &srnn_train, "srnn_relu", &[W]),
            srnn_relu_backward: Kernel::new(gpu, &srnn_train, "srnn_relu_backward", &[R, W]),
            srnn_tap_interleave: Kernel::new(gpu, &srnn_train, "srnn_tap_interleave", &[R, W]),
            srnn_h0_reset: Kernel::new(gpu, &srnn_train, "srnn_h0_reset", &[R, R, W]),
            srnn_h0_grad: Kernel::new(gpu, &srnn_train, "srnn_h0_grad", &[R, R, W]),
            srnn_frame_input: Kernel::new(gpu, &srnn, "srnn_frame_input", &SRNN_FRAME),
            srnn_mlp_draw: Kernel::new(gpu, &srnn, "srnn_mlp_draw", &SRNN_MLP),
        }
    }
}
