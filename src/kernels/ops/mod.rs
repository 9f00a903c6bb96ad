//! The typed ops: one per WGSL entry point. Each family file holds, for its shader:
//!
//! - the `#[repr(C)]` Pod parameter struct of every WGSL parameter struct, with the same
//!   name and the same fields in the same order (`tests/op_layout.rs` checks size, offsets
//!   and names against naga's reflection of the shader);
//! - one `Kernels::record_*` function per entry point, which takes named buffers, computes
//!   the grid and asserts on the host every index range the unchecked kernel relies on.
//!
//! Each op has an f64 CPU twin of the same name and arguments in `crate::reference`.

pub mod adam;
pub mod embedding;
pub mod gemm;
pub mod reduce;
pub mod sample;
pub mod softmax_xent;
pub mod srnn;
pub mod srnn_sample;
pub mod step;
pub mod step_backward;

use crate::gpu::{BufId, ProgramBuilder};

/// A kernel parameter block laid out as the WGSL struct `NAME` in shader file `FILE`.
pub trait WgslParams: bytemuck::Pod {
    /// The WGSL struct's name (and the Rust struct's).
    const NAME: &'static str;
    /// The shader file that declares it.
    const FILE: &'static str;
    /// Every field, in declaration order.
    fn fields() -> Vec<Field>;
    /// The block as the words of a parameter slot.
    fn words(&self) -> &[u32] {
        bytemuck::cast_slice(bytemuck::bytes_of(self))
    }
}

/// Declares a parameter struct mirroring a WGSL struct (all fields 4-byte scalars).
macro_rules! wgsl_params {
    ($(#[$m:meta])* pub struct $name:ident in $file:literal {
        $($(#[$fm:meta])* pub $f:ident : $t:ty,)*
    }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }
        impl $crate::kernels::ops::WgslParams for $name {
            const NAME: &'static str = stringify!($name);
            const FILE: &'static str = $file;
            fn fields() -> Vec<$crate::kernels::ops::Field> {
                vec![$($crate::kernels::ops::Field {
                    name: stringify!($f),
                    offset: core::mem::offset_of!($name, $f),
                    size: core::mem::size_of::<$t>(),
                    ty: stringify!($t),
                }),*]
            }
        }
    };
}
pub(crate) use wgsl_params;

/// One field of a parameter struct, as Rust lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// Byte offset.
    pub offset: usize,
    /// Bytes.
    pub size: usize,
    /// The Rust type as written (`u32` or `f32`), which is also its WGSL name.
    pub ty: &'static str,
}

/// One parameter struct's Rust layout, for the layout test.
#[derive(Clone, Debug)]
pub struct ParamsLayout {
    pub name: &'static str,
    pub file: &'static str,
    pub size: usize,
    pub fields: Vec<Field>,
}

fn layout_of<P: WgslParams>() -> ParamsLayout {
    ParamsLayout {
        name: P::NAME,
        file: P::FILE,
        size: std::mem::size_of::<P>(),
        fields: P::fields(),
    }
}

/// Every op: (WGSL entry point, its parameter struct's layout), and the storage structs
/// bound beside them (entry point "" for those).
pub fn op_params() -> Vec<(&'static str, ParamsLayout)> {
    use self::{
        adam::AdamParams,
        embedding::EmbedParams,
        gemm::GemmParams,
        reduce::ReduceParams,
        sample::{CellParams, Controls, DrawParams, LogitParams},
        softmax_xent::XentParams,
        srnn::{CondParams, EltParams, FramesParams, H0Params, MlpInputParams, TapParams},
        srnn_sample::{FrameParams, MlpParams, SrnnControls},
        step::{GruCellParams, StepParams},
        step_backward::StepBackwardParams,
    };
    vec![
        ("gemm", layout_of::<GemmParams>()),
        ("gemm_128", layout_of::<GemmParams>()),
        ("gru_step", layout_of::<StepParams>()),
        ("gru_step_sliced", layout_of::<StepParams>()),
        ("gru_cell", layout_of::<GruCellParams>()),
        ("gru_step_backward", layout_of::<StepBackwardParams>()),
        (
            "gru_step_backward_sliced",
            layout_of::<StepBackwardParams>(),
        ),
        ("softmax_xent", layout_of::<XentParams>()),
        ("sum_scaled", layout_of::<ReduceParams>()),
        ("sumsq_partial", layout_of::<ReduceParams>()),
        ("clip_coef", layout_of::<ReduceParams>()),
        ("colsum_partial", layout_of::<ReduceParams>()),
        ("colsum_finish", layout_of::<ReduceParams>()),
        ("embed_gather", layout_of::<EmbedParams>()),
        ("embed_backward", layout_of::<EmbedParams>()),
        ("adam", layout_of::<AdamParams>()),
        ("sample_cell", layout_of::<CellParams>()),
        ("sample_cell_draw", layout_of::<CellParams>()),
        ("sample_logits", layout_of::<LogitParams>()),
        ("sample_draw", layout_of::<DrawParams>()),
        ("", layout_of::<Controls>()),
        ("srnn_frames", layout_of::<FramesParams>()),
        ("srnn_cond_add", layout_of::<CondParams>()),
        ("srnn_cond_grad", layout_of::<CondParams>()),
        ("srnn_mlp_input", layout_of::<MlpInputParams>()),
        ("srnn_mlp_input_backward", layout_of::<MlpInputParams>()),
        ("srnn_relu", layout_of::<EltParams>()),
        ("srnn_relu_backward", layout_of::<EltParams>()),
        ("srnn_tap_interleave", layout_of::<TapParams>()),
        ("srnn_h0_reset", layout_of::<H0Params>()),
        ("srnn_h0_grad", layout_of::<H0Params>()),
        ("srnn_frame_input", layout_of::<FrameParams>()),
        ("srnn_mlp_draw", layout_of::<MlpParams>()),
        ("", layout_of::<SrnnControls>()),
    ]
}

/// A buffer as seen by a recording helper: its id and its length in 4-byte elements.
#[derive(Clone, Copy, Debug)]
pub struct Buf {
    pub id: BufId,
    pub len: usize,
}

impl Buf {
    /// Register `b` with `pb`; its length is its size in 4-byte elements.
    pub fn register(pb: &mut ProgramBuilder, b: &wgpu::Buffer) -> Buf {
        Buf {
            id: pb.buffer(b),
            len: (b.size() / 4) as usize,
        }
    }

    /// Assert that `n` elements from `off` lie inside the buffer.
    pub fn check(&self, what: &str, off: usize, n: usize) {
        assert!(
            off + n <= self.len,
            "{what}: elements {off}..{} are outside its buffer of {}",
            off + n,
            self.len
        );
    }
}

/// One strided matrix operand: element (i, k) is at `off + i*rs + k*cs`.
#[derive(Clone, Copy, Debug)]
pub struct Mat {
    pub buf: Buf,
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Mat {
    /// Row-major [rows, cols] matrix at `off`.
    pub fn rows(buf: Buf, off: usize, cols: usize) -> Mat {
        Mat {
            buf,
            off,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major [rows, cols] matrix at `off`.
    pub fn transposed(buf: Buf, off: usize, cols: usize) -> Mat {
        Mat {
            buf,
            off,
            rs: 1,
            cs: cols,
        }
    }
    pub(crate) fn check(&self, what: &str, rows: usize, cols: usize) {
        if rows == 0 || cols == 0 {
            return;
        }
        let last = self.off + (rows - 1) * self.rs + (cols - 1) * self.cs;
        assert!(
            last < self.buf.len,
            "{what}: element {last} is outside its buffer of {}",
            self.buf.len
        );
    }
}

/// A shape or offset as a parameter word.
pub fn word(x: usize) -> u32 {
    u32::try_from(x).expect("shape or offset exceeds u32")
}

/// A parameter word as an index (for the host checks and the CPU twins).
pub fn us(x: u32) -> usize {
    x as usize
}

pub(crate) fn groups(n: usize, per: usize) -> u32 {
    u32::try_from(n.div_ceil(per)).expect("grid too large")
}

/// 2-D grid for one workgroup per row when rows may exceed 65535.
pub fn row_grid(rows: usize, x: u32) -> [u32; 3] {
    let rows = u32::try_from(rows).expect("too many rows");
    if rows <= 65535 {
        [x, rows, 1]
    } else {
        [x, 65535, rows.div_ceil(65535)]
    }
}

/// Grid of an elementwise kernel over `n` elements in workgroups of 256 (`flat` in the
/// shaders): up to 65535 workgroups along x, the rest along y.
pub fn flat_grid(n: usize) -> [u32; 3] {
    let g = u32::try_from(n.div_ceil(256)).expect("grid too large");
    if g <= 65535 {
        [g, 1, 1]
    } else {
        [65535, g.div_ceil(65535), 1]
    }
}
