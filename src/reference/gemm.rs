//! Twin of `gemm.wgsl` (`Kernels::record_gemm`).

/// One strided matrix operand: element (i, k) is at `off + i*rs + k*cs` of `buf`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    pub buf: &'a [f64],
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major [rows, cols] matrix at `off`.
    pub fn rows(buf: &'a [f64], off: usize, cols: usize) -> Mat<'a> {
        Mat {
            buf,
            off,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major [rows, cols] matrix at `off`.
    pub fn transposed(buf: &'a [f64], off: usize, cols: usize) -> Mat<'a> {
        Mat {
            buf,
            off,
            rs: 1,
            cs: cols,
        }
    }
    fn at(&self, i: usize, k: usize) -> f64 {
        self.buf[self.off + i * self.rs + k * self.cs]
    }
}

/// What a GEMM adds besides A·B.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    None,
    /// + bias[off + j].
    Bias(&'a [f64], usize),
    /// + the previous contents of C.
    Accumulate,
}

/// C[M, N] = A[M, K]·B[K, N] (+ epilogue); C is row-major with row stride `c_rs` at `c_off`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: &mut [f64],
    c_off: usize,
    c_rs: usize,
    epi: Epilogue,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s: f64 = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum();
            let at = c_off + i * c_rs + j;
            match epi {
                Epilogue::None => {}
                Epilogue::Bias(bias, off) => s += bias[off + j],
                Epilogue::Accumulate => s += c[at],
            }
            c[at] = s;
        }
    }
}
