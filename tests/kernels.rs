//! Single kernels against plain f64 loops on fresh random inputs, ragged shapes and every
//! stride pattern the engine uses. The kernels run without runtime bounds checks, so these
//! shapes also prove the edge guards.

mod common;
use common::*;
use gruwave::gpu::ProgramBuilder;
use gruwave::kernels::{Epilogue, GemmChoice, GemmTile, KernelOptions, Mat, COLSUM_PARTS};
use gruwave::Kernels;
use std::sync::Arc;

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

// ---------------------------------------------------------------------------------------
// Every op alone against its f64 twin in `gruwave::reference`, on fresh random inputs and
// ragged shapes (no dimension a multiple of a tile), in every kernel variant. Outputs are
// compared over their whole buffers, so a write outside the op's range fails too.

use gruwave::kernels::ops::adam::AdamParams;
use gruwave::kernels::ops::embedding::{rows_by_token, EmbedParams};
use gruwave::kernels::ops::sample::{CellParams, Controls, DrawParams, LogitParams, SampleBufs};
use gruwave::kernels::ops::softmax_xent::XentParams;
use gruwave::kernels::ops::step::{GruCellParams, StepParams};
use gruwave::kernels::ops::step_backward::{StepBackwardBufs, StepBackwardParams};
use gruwave::kernels::ops::{word, WgslParams};
use gruwave::kernels::StepKernel;
use gruwave::reference as twin;
use gruwave::sample::{NoteState, NOTE_WORDS};

/// Relative error allowed between an f32 op and its f64 twin on the same f32 inputs.
const TWIN_TOL: f64 = 1e-5;

const STEP_KERNELS: [StepKernel; 2] = [StepKernel::Tiled, StepKernel::Sliced];

#[test]
fn gemm_matches_its_twin() {
    let mut rng = TestRng(11);
    for (variant, k) in kernel_variants() {
        for (m, n, kk) in [(1, 1, 1), (5, 67, 13), (129, 33, 70), (70, 130, 1)] {
            for epi in 0..3 {
                let a = Arr::random(&mut rng, 2 + kk * m, -1.0, 1.0);
                let b = Arr::random(&mut rng, 1 + kk * n, -1.0, 1.0);
                let bias = Arr::random(&mut rng, n + 3, -1.0, 1.0);
                let mut c = Arr::random(&mut rng, 4 + m * (n + 2), -1.0, 1.0);
                let (tw_a, tw_b) = (
                    twin::Mat::transposed(&a.host, 2, m),
                    twin::Mat::rows(&b.host, 1, n),
                );
                let tw_epi = [
                    twin::Epilogue::None,
                    twin::Epilogue::Bias(&bias.host, 3),
                    twin::Epilogue::Accumulate,
                ][epi];
                twin::gemm(m, n, kk, tw_a, tw_b, &mut c.host, 4, n + 2, tw_epi);
                let mut pb = ProgramBuilder::new();
                let (ab, bb, biasb, cb) = (
                    a.bind(&mut pb),
                    b.bind(&mut pb),
                    bias.bind(&mut pb),
                    c.bind(&mut pb),
                );
                let e = [
                    Epilogue::None,
                    Epilogue::Bias(biasb, 3),
                    Epilogue::Accumulate,
                ][epi];
                k.record_gemm(
                    &mut pb,
                    m,
                    n,
                    kk,
                    Mat::transposed(ab, 2, m),
                    Mat::rows(bb, 1, n),
                    cb,
                    4,
                    n + 2,
                    e,
                );
                run(pb);
                c.check(&format!("gemm {m}x{n}x{kk} epi {epi} {variant}"), TWIN_TOL);
            }
        }
    }
}

fn step_params(b: usize, h: usize, t: usize, w_off: usize) -> StepParams {
    StepParams {
        batch: word(b),
        hidden: word(h),
        gi_off: word(t * b * 3 * h + 1),
        hprev_off: word(t * b * h),
        hout_off: word((t + 1) * b * h),
        gate_off: word(t * b * 4 * h + 2),
        whh_off: word(w_off),
        bhh_off: word(w_off + 3 * h * h + 1),
        save: t.is_multiple_of(2) as u32,
    }
}

#[test]
fn gru_step_matches_its_twin() {
    let (_, k) = gpu();
    let mut rng = TestRng(12);
    for (b, h) in [(1, 1), (5, 7), (9, 33), (3, 100)] {
        for v in STEP_KERNELS {
            for t in 0..2 {
                let gi = Arr::random(&mut rng, 1 + 2 * b * 3 * h, -2.0, 2.0);
                let w = Arr::random(&mut rng, 5 + 3 * h * h + 3 * h + 1, -0.5, 0.5);
                let mut hseq = Arr::random(&mut rng, 3 * b * h, -1.0, 1.0);
                let mut gates = Arr::random(&mut rng, 2 + 2 * b * 4 * h, -1.0, 1.0);
                let p = step_params(b, h, t, 5);
                twin::gru_step(&p, &gi.host, &w.host, &mut hseq.host, &mut gates.host);
                let mut pb = ProgramBuilder::new();
                let bufs = [&gi, &w, &hseq, &gates].map(|x| x.bind(&mut pb));
                k.record_gru_step_with(&mut pb, v, &p, bufs[0], bufs[1], bufs[2], bufs[3]);
                run(pb);
                let what = format!("gru_step B={b} H={h} t={t} {v:?}");
                hseq.check(&format!("{what} h"), TWIN_TOL);
                gates.check(&format!("{what} gates"), TWIN_TOL);
            }
        }
    }
}

#[test]
fn gru_step_backward_matches_its_twin() {
    let (_, k) = gpu();
    let mut rng = TestRng(13);
    for (b, h) in [(1, 1), (5, 7), (9, 33), (3, 100)] {
        for v in STEP_KERNELS {
            // A step with a next step, the last step (none), and the gradient of h0.
            for (has_next, final_) in [(1, 0), (0, 0), (1, 1)] {
                let w = Arr::random(&mut rng, 3 + 3 * h * h, -0.5, 0.5);
                let gates = Arr::random(&mut rng, 2 * b * 4 * h, 0.05, 0.95);
                let hseq = Arr::random(&mut rng, 2 * b * h, -1.0, 1.0);
                let dh_out = Arr::random(&mut rng, b * h + 1, -1.0, 1.0);
                let mut dgi = Arr::random(&mut rng, b * 3 * h, -1.0, 1.0);
                let mut dgh = Arr::random(&mut rng, 2 * b * 3 * h, -1.0, 1.0);
                let mut dhs = Arr::random(&mut rng, 2 * b * h, -1.0, 1.0);
                let p = StepBackwardParams {
                    batch: word(b),
                    hidden: word(h),
                    whh_off: 3,
                    has_next,
                    final_,
                    next_gh_off: word(b * 3 * h),
                    next_gate_off: word(b * 4 * h),
                    next_dh_off: word(b * h),
                    cur_gi_off: 0,
                    cur_gate_off: 0,
                    cur_dh_off: 0,
                    hprev_off: word(b * h),
                    dout_off: 1,
                };
                twin::gru_step_backward(
                    &p,
                    &mut twin::StepBackwardBufs {
                        w: &w.host,
                        gates: &gates.host,
                        hseq: &hseq.host,
                        dh_out: &dh_out.host,
                        dgi: &mut dgi.host,
                        dgh: &mut dgh.host,
                        dhs: &mut dhs.host,
                    },
                );
                let mut pb = ProgramBuilder::new();
                let [w, gates, hseq, dh_out, dgi_b, dgh_b, dhs_b] =
                    [&w, &gates, &hseq, &dh_out, &dgi, &dgh, &dhs].map(|x| x.bind(&mut pb));
                let bufs = StepBackwardBufs {
                    w,
                    gates,
                    hseq,
                    dh_out,
                    dgi: dgi_b,
                    dgh: dgh_b,
                    dhs: dhs_b,
                };
                k.record_gru_step_backward_with(&mut pb, v, &p, &bufs);
                run(pb);
                let what =
                    format!("gru_step_backward B={b} H={h} next={has_next} final={final_} {v:?}");
                for (name, x) in [("dgi", &dgi), ("dgh", &dgh), ("dhs", &dhs)] {
                    x.check(&format!("{what} {name}"), TWIN_TOL);
                }
            }
        }
    }
}

#[test]
fn gru_cell_matches_its_twin() {
    let (_, k) = gpu();
    let mut rng = TestRng(14);
    for (s, h, vocab) in [(1, 1, 3), (5, 7, 10), (9, 33, 4), (3, 40, 300)] {
        for inp in [0, h] {
            let hist = Toks::new((0..s + 2).map(|_| rng.below(vocab as u32 + 2)).collect());
            let w = Arr::random(&mut rng, 1 + 3 * h * inp + 3 * h * h + 6 * h, -0.5, 0.5);
            let h_in = Arr::random(&mut rng, 1 + s * h, -1.0, 1.0);
            let mut hb = Arr::random(&mut rng, 2 * s * h + 2, -1.0, 1.0);
            let table = Arr::random(&mut rng, 2 + vocab * 3 * h, -1.0, 1.0);
            let p = GruCellParams {
                streams: word(s),
                hidden: word(h),
                inp: word(inp),
                x_off: 1,
                hprev_off: 1,
                hout_off: word(s * h + 2),
                wih_off: 1,
                whh_off: word(1 + 3 * h * inp),
                bih_off: word(1 + 3 * h * inp + 3 * h * h),
                bhh_off: word(1 + 3 * h * inp + 3 * h * h + 3 * h),
                table_off: 2,
                tok_off: 2,
                vocab: word(vocab),
            };
            twin::gru_cell(
                &p,
                &hist.host,
                &w.host,
                &h_in.host,
                &mut hb.host,
                &table.host,
            );
            let mut pb = ProgramBuilder::new();
            let hist_b = buf(&mut pb, &hist.buf);
            let [w, h_in, hbb, table] = [&w, &h_in, &hb, &table].map(|x| x.bind(&mut pb));
            k.record_gru_cell(&mut pb, &p, hist_b, w, h_in, hbb, table);
            run(pb);
            hb.check(&format!("gru_cell S={s} H={h} inp={inp}"), TWIN_TOL);
        }
    }
}

#[test]
fn softmax_xent_matches_its_twin() {
    let mut rng = TestRng(15);
    for (variant, k) in kernel_variants() {
        for (batch, steps, v) in [(1, 1, 1), (3, 5, 7), (2, 9, 300), (5, 3, 1000)] {
            let rows = batch * steps;
            let logits = Arr::random(&mut rng, rows * v, -4.0, 4.0);
            let tokens = Toks::new(
                (0..batch * (steps + 2))
                    .map(|_| rng.below(v as u32))
                    .collect(),
            );
            let mut dlogits = Arr::random(&mut rng, rows * v, -1.0, 1.0);
            let mut loss = Arr::random(&mut rng, rows + 1, -1.0, 1.0);
            let p = XentParams {
                rows: word(rows),
                vocab: word(v),
                batch: word(batch),
                tok_stride: word(steps + 2),
                scale: 0.25,
                tok_off: 1,
            };
            twin::softmax_xent(
                &p,
                0.25,
                &logits.host,
                &tokens.host,
                &mut dlogits.host,
                &mut loss.host,
            );
            let mut pb = ProgramBuilder::new();
            let (lb, tb, db, sb) = (
                logits.bind(&mut pb),
                buf(&mut pb, &tokens.buf),
                dlogits.bind(&mut pb),
                loss.bind(&mut pb),
            );
            k.record_softmax_xent(&mut pb, &p, lb, tb, db, sb);
            run(pb);
            let what = format!("softmax_xent B={batch} T={steps} V={v} {variant}");
            dlogits.check(&format!("{what} dlogits"), TWIN_TOL);
            loss.check(&format!("{what} loss"), TWIN_TOL);
        }
    }
}

#[test]
fn reductions_match_their_twins() {
    let mut rng = TestRng(16);
    for (variant, k) in kernel_variants() {
        for (rows, cols) in [(1, 1), (7, 65), (300, 3), (1000, 129)] {
            let n = rows * cols;
            let x = Arr::random(&mut rng, n + 3, -1.0, 1.0);
            // sum into out[1]; sumsq_partial (7 parts) into stats[2..]; clip_coef into stats[..2].
            let mut out = Arr::random(&mut rng, 3, -1.0, 1.0);
            let mut stats = Arr::random(&mut rng, 2 + 7, -1.0, 1.0);
            twin::sum(&x.host, 3, n, 0.5, &mut out.host, 1);
            twin::sumsq_partial(&x.host, 3, n, 7, &mut stats.host, 2);
            twin::clip_coef(&x.host, &mut stats.host, 2, 7, 0.75);
            // colsum_partial (chunks of 3 rows), colsum_finish, and colsum through scratch.
            let chunk = 3;
            let parts = rows.div_ceil(chunk);
            let mut partials = Arr::random(&mut rng, parts * cols, -1.0, 1.0);
            let mut sums = Arr::random(&mut rng, 2 * cols + 1, -1.0, 1.0);
            let mut scratch = Arr::random(&mut rng, COLSUM_PARTS * cols, -1.0, 1.0);
            twin::colsum_partial(&x.host, 3, rows, cols, chunk, &mut partials.host);
            twin::colsum_finish(&partials.host, parts, cols, &mut sums.host, 1);
            twin::colsum(
                &x.host,
                3,
                rows,
                cols,
                &mut sums.host,
                cols + 1,
                &mut scratch.host,
            );
            let mut pb = ProgramBuilder::new();
            let [xb, ob, sb, pt, su, sc] =
                [&x, &out, &stats, &partials, &sums, &scratch].map(|a| a.bind(&mut pb));
            k.record_sum(&mut pb, xb, 3, n, 0.5, ob, 1);
            k.record_sumsq_partial(&mut pb, xb, 3, n, 7, sb, 2);
            k.record_clip_coef(&mut pb, xb, sb, 2, 7, 0.75);
            k.record_colsum_partial(&mut pb, xb, 3, rows, cols, chunk, pt);
            k.record_colsum_finish(&mut pb, pt, parts, cols, su, 1);
            k.record_colsum(&mut pb, xb, 3, rows, cols, su, cols + 1, sc);
            run(pb);
            let what = format!("{rows}x{cols} {variant}");
            out.check(&format!("sum {what}"), TWIN_TOL);
            stats.check(&format!("sumsq_partial and clip_coef {what}"), TWIN_TOL);
            partials.check(&format!("colsum_partial {what}"), TWIN_TOL);
            sums.check(&format!("colsum_finish and colsum {what}"), TWIN_TOL);
            // The scratch holds colsum's own partials, as the twin's does.
            scratch.check(&format!("colsum scratch {what}"), TWIN_TOL);
        }
    }
}

#[test]
fn embedding_ops_match_their_twins() {
    let (_, k) = gpu();
    let mut rng = TestRng(17);
    for (batch, steps, e, v) in [(1, 1, 1, 1), (3, 5, 7, 10), (2, 9, 65, 300), (5, 3, 130, 4)] {
        let rows = batch * steps;
        let mut window: Vec<u32> = (0..batch * (steps + 1))
            .map(|_| rng.below(v as u32))
            .collect();
        window.extend(rows_by_token(&window, batch, steps, v));
        let tokens = Toks::new(window);
        let table = Arr::random(&mut rng, 3 + v * e, -1.0, 1.0);
        let mut x = Arr::random(&mut rng, rows * e, -1.0, 1.0);
        let dx = Arr::random(&mut rng, rows * e, -1.0, 1.0);
        let mut grads = Arr::random(&mut rng, 3 + v * e + 2, -1.0, 1.0);
        let p = EmbedParams {
            rows: word(rows),
            dim: word(e),
            batch: word(batch),
            tok_stride: word(steps + 1),
            emb_off: 3,
            vocab: word(v),
            index_off: word(batch * (steps + 1)),
        };
        twin::embed_gather(&p, &tokens.host, &table.host, &mut x.host);
        twin::embed_backward(&p, &tokens.host, &dx.host, &mut grads.host);
        let mut pb = ProgramBuilder::new();
        let tb = buf(&mut pb, &tokens.buf);
        let [table_b, xb, dxb, gb] = [&table, &x, &dx, &grads].map(|a| a.bind(&mut pb));
        k.record_embed_gather(&mut pb, &p, tb, table_b, xb);
        k.record_embed_backward(&mut pb, &p, tb, dxb, gb);
        run(pb);
        let what = format!("B={batch} T={steps} E={e} V={v}");
        x.check(&format!("embed_gather {what}"), TWIN_TOL);
        grads.check(&format!("embed_backward {what}"), TWIN_TOL);
    }
}

#[test]
fn adam_matches_its_twin() {
    let (gpu, k) = gpu();
    let mut rng = TestRng(18);
    // The elementwise clip off, and at 0.3 where it bites (|grad*coef| reaches 0.9).
    for (n, clip_value) in [(1, None), (255, Some(0.3)), (257, None), (5000, Some(0.3))] {
        let grads = Arr::random(&mut rng, n + 1, -1.0, 1.0);
        let stats = Arr::random(&mut rng, 2, 0.2, 0.9);
        let mut params = Arr::random(&mut rng, n + 2, -1.0, 1.0);
        let mut m = Arr::random(&mut rng, n, -0.1, 0.1);
        let mut v = Arr::random(&mut rng, n, 0.0, 0.01);
        let step = twin::AdamStep {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 3,
            clip_value: clip_value.unwrap_or(f64::INFINITY),
        };
        twin::adam(
            n,
            &grads.host,
            &stats.host,
            &mut params.host,
            &mut m.host,
            &mut v.host,
            &step,
        );
        let mut pb = ProgramBuilder::new();
        let [gb, sb, pbf, mb, vb] = [&grads, &stats, &params, &m, &v].map(|a| a.bind(&mut pb));
        let slot = k.record_adam(&mut pb, n, gb, sb, pbf, mb, vb);
        let prog = pb.build(&gpu);
        let p = AdamParams::step(n, step.lr, step.beta1, step.beta2, step.eps, step.t)
            .with_clip_value(clip_value);
        prog.write_slot(&gpu, slot, p.words());
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        prog.encode(&mut enc, None);
        gpu.queue.submit([enc.finish()]);
        for (name, a) in [("params", &params), ("m", &m), ("v", &v)] {
            a.check(&format!("adam n={n} clip {clip_value:?} {name}"), TWIN_TOL);
        }
    }
}

/// Weights laid out as the sampler's: W_ihᵀ [H, 3H] (layer above 0), W_hhᵀ [H, 3H], the
/// biases, W_o [V, H], b_o, the table [V, 3H]; then `CellParams` and `LogitParams` for
/// `s` streams over a state of `stride` streams.
fn sample_case(
    s: usize,
    h: usize,
    v: usize,
    units: usize,
    sb: usize,
    lanes: usize,
    inp: usize,
) -> (CellParams, LogitParams, usize) {
    let (wih, whh) = (1, 1 + inp * 3 * h);
    let (bih, bhh) = (whh + 3 * h * h, whh + 3 * h * h + 3 * h);
    let (wo, bo) = (bhh + 3 * h, bhh + 3 * h + v * h);
    let table = bo + v;
    let cell = CellParams {
        streams: word(s),
        hidden: word(h),
        inp: word(inp),
        units: word(units),
        sb: word(sb),
        wih_off: word(wih),
        whh_off: word(whh),
        bih_off: word(bih),
        bhh_off: word(bhh),
        table_off: word(table),
        x_off: 0,
        hprev_off: word(s * h),
        hout_off: word(s * h),
        tok_off: word(s),
        vocab: word(v),
        draw_step: 1,
        unroll: (units % 2) as u32 ^ 1,
    };
    let logits = LogitParams {
        streams: word(s),
        hidden: word(h),
        vocab: word(v),
        wo_off: word(wo),
        bo_off: word(bo),
        h_off: word(s * h),
        sb: word(sb),
        lanes: word(lanes),
        unroll: 1,
    };
    (cell, logits, table + v * 3 * h)
}

#[test]
fn sample_ops_match_their_twins() {
    let mut rng = TestRng(19);
    for (variant, k) in kernel_variants() {
        for (s, h, v, units, sb, lanes) in [
            (1, 1, 2, 1, 1, 1),
            (5, 7, 10, 4, 4, 32),
            (3, 33, 388, 32, 2, 64),
            (6, 20, 5, 8, 3, 2),
        ] {
            for inp in [0, h] {
                let (cell, lp, wlen) = sample_case(s, h, v, units, sb, lanes, inp);
                let w = Arr::random(&mut rng, wlen, -0.5, 0.5);
                let mut hist = Toks::new((0..3 * s).map(|_| rng.below(v as u32)).collect());
                let h_in = Arr::random(&mut rng, 2 * s * h, -1.0, 1.0);
                let mut hb = Arr::random(&mut rng, 2 * s * h, -1.0, 1.0);
                let mut logits = Arr::random(&mut rng, s * v, -3.0, 3.0);
                let start: Vec<u32> = (0..3 * s).map(|_| rng.below(388)).collect();
                let mut notes = Toks::new(
                    (0..s)
                        .flat_map(|st| NoteState::after(&start[..st + s]).words())
                        .collect(),
                );
                let ctl = Controls {
                    seed_lo: 7,
                    seed_hi: 1,
                    base_step: 5,
                    top_k: (v / 2) as u32,
                    temperature: 0.9,
                    // A perf388 vocabulary draws under the note rules, some notes sounding.
                    note_rules: (v == 388) as u32,
                    max_hold: 40,
                };
                let (gpu, _) = gpu();
                let ctl_buf = gpu.storage_from("controls", std::slice::from_ref(&ctl));
                let draw = DrawParams {
                    vocab: word(v),
                    out_off: word(2 * s),
                    step: 2,
                };
                // Cell (drawing first where layer 0 allows), logits from the new state, draw.
                let fused = inp == 0;
                {
                    let mut tb = twin::SampleBufs {
                        w: &w.host,
                        hist: &mut hist.host,
                        h_in: &h_in.host,
                        h: &mut hb.host,
                        ctl: &ctl,
                        logits: &mut logits.host,
                        notes: &mut notes.host,
                    };
                    if fused {
                        twin::sample_cell_draw(&cell, &mut tb)
                    } else {
                        twin::sample_cell(&cell, &mut tb)
                    }
                }
                let mut pb = ProgramBuilder::new();
                let bufs = SampleBufs {
                    w: w.bind(&mut pb),
                    hist: buf(&mut pb, &hist.buf),
                    h_in: h_in.bind(&mut pb),
                    h: hb.bind(&mut pb),
                    ctl: buf(&mut pb, &ctl_buf),
                    logits: logits.bind(&mut pb),
                    notes: buf(&mut pb, &notes.buf),
                };
                if fused {
                    k.record_sample_cell_draw(&mut pb, &cell, &bufs)
                } else {
                    k.record_sample_cell(&mut pb, &cell, &bufs)
                }
                run(pb);
                let what = format!("S={s} H={h} V={v} inp={inp} {units}x{sb} {variant}");
                hb.check(&format!("sample_cell {what}"), TWIN_TOL);
                assert_eq!(hist.got(), hist.host, "sample_cell_draw tokens {what}");
                // The logits and the draw on the GPU's state, so only these ops differ.
                hb.host = hb.got();
                {
                    let mut tb = twin::SampleBufs {
                        w: &w.host,
                        hist: &mut hist.host,
                        h_in: &h_in.host,
                        h: &mut hb.host,
                        ctl: &ctl,
                        logits: &mut logits.host,
                        notes: &mut notes.host,
                    };
                    twin::sample_logits(&lp, &mut tb);
                }
                let mut pb = ProgramBuilder::new();
                let bufs = SampleBufs {
                    w: w.bind(&mut pb),
                    hist: buf(&mut pb, &hist.buf),
                    h_in: h_in.bind(&mut pb),
                    h: hb.bind(&mut pb),
                    ctl: buf(&mut pb, &ctl_buf),
                    logits: logits.bind(&mut pb),
                    notes: buf(&mut pb, &notes.buf),
                };
                k.record_sample_logits(&mut pb, &lp, &bufs);
                k.record_sample_draw(&mut pb, &draw, s, &bufs);
                run(pb);
                logits.check(&format!("sample_logits {what}"), TWIN_TOL);
                // The draw from the GPU's logits: the same token unless f32 rounding could
                // move the pick across a bin edge.
                logits.host = logits.got();
                let got = hist.got();
                let notes_before = notes.host.clone();
                let mut all_compared = true;
                let mut tb = twin::SampleBufs {
                    w: &w.host,
                    hist: &mut hist.host,
                    h_in: &h_in.host,
                    h: &mut hb.host,
                    ctl: &ctl,
                    logits: &mut logits.host,
                    notes: &mut notes.host,
                };
                twin::sample_draw(&draw, s, &mut tb);
                for st in 0..s {
                    let u = gruwave::sample::uniform(1 << 32 | 7, st as u32, 7);
                    let row = &logits.host[st * v..][..v];
                    let state =
                        NoteState::from_words(&notes_before[st * NOTE_WORDS..][..NOTE_WORDS]);
                    let edge = if ctl.note_rules != 0 {
                        gruwave::sample::edge_distance_with_rules(
                            row,
                            0.9,
                            v / 2,
                            u,
                            (&state, ctl.max_hold),
                        )
                    } else {
                        gruwave::sample::edge_distance(row, 0.9, v / 2, u)
                    };
                    if edge > 1e-4 {
                        assert_eq!(
                            got[2 * s + st],
                            hist.host[2 * s + st],
                            "sample_draw stream {st} {what}"
                        );
                    } else {
                        all_compared = false;
                    }
                }
                if all_compared {
                    assert_eq!(notes.got(), notes.host, "sample_draw note state {what}");
                }
            }
        }
    }
}
