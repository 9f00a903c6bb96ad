//! `gemm.wgsl`: C = A·B (+ bias or + C) on strided operands, 64x64 or 128x128 tiles.

use super::{groups, wgsl_params, word, Buf, Mat, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::{GemmTile, Kernels};

wgsl_params! {
    /// `GemmParams`: element (i, k) of A is at `a_off + i*a_rs + k*a_cs`, B likewise, and C
    /// is row-major with row stride `c_rs`.
    pub struct GemmParams in "gemm.wgsl" {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub a_off: u32,
        pub a_rs: u32,
        pub a_cs: u32,
        pub b_off: u32,
        pub b_rs: u32,
        pub b_cs: u32,
        pub c_off: u32,
        pub c_rs: u32,
        pub bias_off: u32,
        /// Bit 0: add bias[bias_off + j]; bit 1: accumulate into C.
        pub flags: u32,
    }
}

/// What a GEMM adds besides A·B.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue {
    None,
    /// + bias[off + j] from a buffer.
    Bias(Buf, usize),
    /// + the previous contents of C.
    Accumulate,
}

impl Kernels {
    /// C[M, N] = A[M, K]·B[K, N] (+ epilogue); C is row-major with row stride `c_rs`. The
    /// tile is the options' choice for this shape (`Kernels::gemm_tile`).
    pub fn record_gemm(
        &self,
        pb: &mut ProgramBuilder,
        m: usize,
        n: usize,
        k: usize,
        a: Mat,
        b: Mat,
        c: Buf,
        c_off: usize,
        c_rs: usize,
        epi: Epilogue,
    ) {
        let tile = self.gemm_tile(m, n, k, a.cs == 1, b.cs == 1);
        self.record_gemm_tile(pb, tile, m, n, k, a, b, c, c_off, c_rs, epi);
    }

    /// `record_gemm` with a given tile.
    pub fn record_gemm_tile(
        &self,
        pb: &mut ProgramBuilder,
        tile: GemmTile,
        m: usize,
        n: usize,
        k: usize,
        a: Mat,
        b: Mat,
        c: Buf,
        c_off: usize,
        c_rs: usize,
        epi: Epilogue,
    ) {
        a.check("gemm A", m, k);
        b.check("gemm B", k, n);
        Mat {
            buf: c,
            off: c_off,
            rs: c_rs,
            cs: 1,
        }
        .check("gemm C", m, n);
        let (bias, bias_off, flags) = match epi {
            Epilogue::None => (b.buf, 0, 0),
            Epilogue::Bias(buf, off) => {
                buf.check("gemm bias", off, n);
                (buf, off, 1)
            }
            Epilogue::Accumulate => (b.buf, 0, 2),
        };
        let p = GemmParams {
            m: word(m),
            n: word(n),
            k: word(k),
            a_off: word(a.off),
            a_rs: word(a.rs),
            a_cs: word(a.cs),
            b_off: word(b.off),
            b_rs: word(b.rs),
            b_cs: word(b.cs),
            c_off: word(c_off),
            c_rs: word(c_rs),
            bias_off: word(bias_off),
            flags,
        };
        let kernel = match tile {
            GemmTile::T64 => &self.gemm,
            GemmTile::T128 => &self.gemm_128,
        };
        let size = tile.size();
        pb.dispatch(
            kernel,
            &[a.buf.id, b.buf.id, bias.id, c.id],
            p.words(),
            [groups(n, size), groups(m, size), 1],
        );
        pb.flops(2.0 * m as f64 * n as f64 * k as f64);
    }
}
