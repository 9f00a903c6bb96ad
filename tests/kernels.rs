//! Single kernels against plain f64 loops on fresh random inputs, ragged shapes and every
//! stride pattern the engine uses. The kernels run without runtime bounds checks, so these
//! shapes also prove the edge guards.

mod common;
use common::*;
use gruwave::gpu::ProgramBuilder;
use gruwave::kernels::{Buf, Epilogue, GemmChoice, GemmTile, KernelOptions, Mat, COLSUM_PARTS};
use gruwave::Kernels;
use std::sync::Arc;

fn buf(pb: &mut ProgramBuilder, b: &wgpu::Buffer) -> Buf {
    Buf {
        id: pb.buffer(b),
        len: (b.size() / 4) as usize,
    }
}

fn run(pb: ProgramBuilder) {
    let (gpu, _) = gpu();
    let prog = pb.build(&gpu);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    prog.encode(&mut enc, None);
    gpu.queue.submit([enc.finish()]);
}

/// GEMM in all four transpose combinations, with bias, accumulate and offsets, with each
/// tile and with the tile timed per shape.
#[test]
fn gemm_matches_f64_on_ragged_shapes() {
    let (gpu, default) = gpu();
    let with = |gemm| {
        Arc::new(Kernels::with_options(
            &gpu,
            KernelOptions {
                gemm,
                ..default.options
            },
        ))
    };
    let kernels = [
        with(GemmChoice::Fixed(GemmTile::T64)),
        with(GemmChoice::Fixed(GemmTile::T128)),
        with(GemmChoice::Timed),
    ];
    let mut rng = TestRng(42);
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (65, 63, 17),
        (64, 64, 64),
        (100, 33, 130),
        (2, 129, 1),
        (200, 300, 3),
        (129, 257, 20),
    ];
    for (&(m, n, kk), k) in shapes
        .iter()
        .flat_map(|s| kernels.iter().map(move |k| (s, k)))
    {
        for ta in [false, true] {
            for tb in [false, true] {
                for epi in 0..3 {
                    let (a_off, b_off, c_off) = (3, 5, 2);
                    let a: Vec<f32> = (0..a_off + m * kk)
                        .map(|_| rng.uniform(-1.0, 1.0) as f32)
                        .collect();
                    let bm: Vec<f32> = (0..b_off + kk * n)
                        .map(|_| rng.uniform(-1.0, 1.0) as f32)
                        .collect();
                    let bias: Vec<f32> =
                        (0..n + 1).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                    let c0: Vec<f32> = (0..c_off + m * n)
                        .map(|_| rng.uniform(-1.0, 1.0) as f32)
                        .collect();
                    let at = |i: usize, p: usize| if ta { a[a_off + p * m + i] } else { a[a_off + i * kk + p] } as f64;
                    let bt = |p: usize, j: usize| if tb { bm[b_off + j * kk + p] } else { bm[b_off + p * n + j] } as f64;
                    let mut want = vec![0.0f64; m * n];
                    for i in 0..m {
                        for j in 0..n {
                            let mut s: f64 = (0..kk).map(|p| at(i, p) * bt(p, j)).sum();
                            if epi == 1 {
                                s += bias[1 + j] as f64;
                            }
                            if epi == 2 {
                                s += c0[c_off + i * n + j] as f64;
                            }
                            want[i * n + j] = s;
                        }
                    }
                    let (ab, bb, biasb, cb) = (
                        gpu.storage_from("a", &a),
                        gpu.storage_from("b", &bm),
                        gpu.storage_from("bias", &bias),
                        gpu.storage_from("c", &c0),
                    );
                    let mut pb = ProgramBuilder::new();
                    let (ai, bi, biasi, ci) = (
                        buf(&mut pb, &ab),
                        buf(&mut pb, &bb),
                        buf(&mut pb, &biasb),
                        buf(&mut pb, &cb),
                    );
                    let amat = if ta {
                        Mat::transposed(ai, a_off, m)
                    } else {
                        Mat::rows(ai, a_off, kk)
                    };
                    let bmat = if tb {
                        Mat::transposed(bi, b_off, kk)
                    } else {
                        Mat::rows(bi, b_off, n)
                    };
                    let e = [
                        Epilogue::None,
                        Epilogue::Bias(biasi, 1),
                        Epilogue::Accumulate,
                    ][epi];
                    k.record_gemm(&mut pb, m, n, kk, amat, bmat, ci, c_off, n, e);
                    run(pb);
                    let got: Vec<f32> = gpu.read(&cb, 0, c_off + m * n).unwrap();
                    assert_eq!(&got[..c_off], &c0[..c_off], "gemm wrote before its output");
                    let err = rel_err(&to_f64(&got[c_off..]), &want);
                    assert!(
                        err < 1e-5,
                        "gemm {m}x{n}x{kk} ta={ta} tb={tb} epi={epi} {:?}: rel err {err:.2e}",
                        k.options.gemm
                    );
                }
            }
        }
    }
}

#[test]
fn colsum_and_sum_match_f64() {
    let (gpu, _) = gpu();
    let mut rng = TestRng(5);
    let shapes = [(1, 1), (7, 65), (300, 3), (1000, 129), (64 * 64 + 5, 70)];
    for ((rows, cols), (variant, k)) in shapes
        .into_iter()
        .flat_map(|s| kernel_variants().into_iter().map(move |v| (s, v)))
    {
        let x: Vec<f32> = (0..rows * cols + 4)
            .map(|_| rng.uniform(-1.0, 1.0) as f32)
            .collect();
        let xb = gpu.storage_from("x", &x);
        let out = gpu.storage("out", ((cols + 2) * 4) as u64);
        let scratch = gpu.storage("scratch", (COLSUM_PARTS * cols * 4) as u64);
        let mut pb = ProgramBuilder::new();
        let (xi, oi, si) = (
            buf(&mut pb, &xb),
            buf(&mut pb, &out),
            buf(&mut pb, &scratch),
        );
        k.record_colsum(&mut pb, xi, 4, rows, cols, oi, 1, si);
        k.record_sum(&mut pb, xi, 4, rows * cols, 0.5, oi, 0);
        run(pb);
        let got: Vec<f32> = gpu.read(&out, 0, cols + 1).unwrap();
        let want: Vec<f64> = (0..cols)
            .map(|j| (0..rows).map(|i| x[4 + i * cols + j] as f64).sum())
            .collect();
        assert!(
            rel_err(&to_f64(&got[1..]), &want) < 1e-5,
            "colsum {rows}x{cols} {variant}"
        );
        let total: f64 = x[4..].iter().map(|&v| v as f64).sum::<f64>() * 0.5;
        assert!(
            (got[0] as f64 - total).abs() < 1e-4 * (1.0 + total.abs()),
            "sum {rows}x{cols} {variant}: {} vs {total}",
            got[0]
        );
    }
}

/// Timed tiles: each new shape is timed once, the choice is kept, and reported.
#[test]
fn gemm_tiles_are_timed_once_per_shape() {
    let (gpu, default) = gpu();
    let k = Kernels::with_options(
        &gpu,
        KernelOptions {
            gemm: GemmChoice::Timed,
            ..default.options
        },
    );
    let a = gpu.storage("a", 300 * 40 * 4);
    let c = gpu.storage("c", 300 * 300 * 4);
    for _ in 0..2 {
        for m in [100, 300] {
            let mut pb = ProgramBuilder::new();
            let (ai, ci) = (buf(&mut pb, &a), buf(&mut pb, &c));
            let x = Mat::rows(ai, 0, 40);
            let y = Mat::transposed(ai, 0, 40);
            k.record_gemm(&mut pb, m, m, 40, x, y, ci, 0, m, Epilogue::None);
        }
    }
    let choices = k.timed_choices();
    assert_eq!(choices.len(), 2, "{choices:?}");
    assert_eq!(choices[0].0, "gemm 100 x 100 x 40 (A rows, B columns)");
    assert_eq!(choices[1].0, "gemm 300 x 300 x 40 (A rows, B columns)");
    assert!(choices
        .iter()
        .all(|(_, t)| ["64x64", "128x128"].contains(t)));
}
