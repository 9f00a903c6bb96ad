//! The SampleRNN training path on the GPU: each new op of samplernn.wgsl against its f64
//! twin on ragged shapes; the whole chunk (log-probabilities, loss, carried states, every
//! gradient, the clipped Adam step) against the PyTorch fixtures; and against the f64
//! reference on ragged models (odd frame sizes and widths, B = 1 and 3, R = 2, three
//! tiers, per-stream resets).

mod common;

use common::*;
use gruwave::gpu::ProgramBuilder;
use gruwave::kernels::ops::srnn::{
    h0_params, CondParams, EltParams, FramesParams, MlpInputParams, TapParams,
};
use gruwave::kernels::ops::word;
use gruwave::reference::srnn as twin;
use gruwave::samplernn::reference::{forward_backward, Chunk};
use gruwave::samplernn::{SrnnConfig, SrnnLayout, SrnnWorkspace};
use gruwave::{TrainOptions, Trainer};

const TWIN_TOL: f64 = 1e-5;
/// The bound for the GPU path against PyTorch's f64 values.
const FIXTURE_TOL: f64 = 1e-4;

fn random_tokens(rng: &mut TestRng, n: usize, q: u32) -> Toks {
    Toks::new((0..n).map(|_| rng.below(q)).collect())
}

#[test]
fn frames_and_conditioning_match_their_twins() {
    let (_, k) = gpu();
    let mut rng = TestRng(71);
    for (b, s, n, d, fs) in [(1, 2, 3, 5, 2), (3, 4, 4, 7, 4), (2, 3, 1, 33, 3)] {
        let (lookback, t) = (n * fs, s * n);
        let stride = lookback + t;
        let toks = random_tokens(&mut rng, b * stride, 10);
        let fp = FramesParams {
            rows: word(s * b),
            batch: word(b),
            n: word(n),
            tok_stride: word(stride),
            tok_off: word(lookback - n),
            half: 5.0,
        };
        let mut frames = Arr::random(&mut rng, s * b * n + 3, -1.0, 1.0);
        twin::srnn_frames(&fp, &toks.host, &mut frames.host);
        // The lower tier has s*fs rows per stream; Y of the upper tier s rows of D*fs.
        let cp = CondParams {
            rows: word(s * fs * b),
            batch: word(b),
            dim: word(d),
            fs: word(fs),
            x_off: 2,
            y_off: 1,
        };
        let y = Arr::random(&mut rng, 1 + s * b * d * fs, -1.0, 1.0);
        let mut x = Arr::random(&mut rng, 2 + s * fs * b * d + 1, -1.0, 1.0);
        let mut dy = Arr::random(&mut rng, 1 + s * b * d * fs + 2, -1.0, 1.0);
        twin::srnn_cond_add(&cp, &y.host, &mut x.host);
        twin::srnn_cond_grad(&cp, &x.host, &mut dy.host);
        let mut pb = ProgramBuilder::new();
        let (tb, fb, yb, xb, dyb) = (
            buf(&mut pb, &toks.buf),
            frames.bind(&mut pb),
            y.bind(&mut pb),
            x.bind(&mut pb),
            dy.bind(&mut pb),
        );
        k.record_srnn_frames(&mut pb, &fp, tb, fb);
        k.record_srnn_cond_add(&mut pb, &cp, yb, xb);
        k.record_srnn_cond_grad(&mut pb, &cp, xb, dyb);
        run(pb);
        let what = format!("B={b} S={s} n={n} D={d} fs={fs}");
        frames.check(&format!("srnn_frames {what}"), TWIN_TOL);
        x.check(&format!("srnn_cond_add {what}"), TWIN_TOL);
        dy.check(&format!("srnn_cond_grad {what}"), TWIN_TOL);
    }
}

#[test]
fn mlp_input_relu_and_taps_match_their_twins() {
    let (_, k) = gpu();
    let mut rng = TestRng(72);
    for (b, t, d, fs0, q) in [(1, 3, 5, 3, 7), (3, 8, 33, 4, 10), (2, 2, 1, 1, 2)] {
        let lookback = fs0 * 2;
        let stride = lookback + t;
        let rows = b * t;
        let toks = random_tokens(&mut rng, b * stride, q as u32);
        let mp = MlpInputParams {
            rows: word(rows),
            batch: word(b),
            dim: word(d),
            fs0: word(fs0),
            levels: word(q),
            tok_stride: word(stride),
            tok_off: word(lookback - fs0),
        };
        let tables = Arr::random(&mut rng, fs0 * q * d, -1.0, 1.0);
        let y0 = Arr::random(&mut rng, rows * d, -1.0, 1.0);
        let mut a = Arr::random(&mut rng, rows * d, -1.0, 1.0);
        let mut da = Arr::random(&mut rng, rows * d, -1.0, 1.0);
        let mut dy0 = Arr::random(&mut rng, rows * d, -1.0, 1.0);
        twin::srnn_mlp_input(&mp, &toks.host, &tables.host, &y0.host, &mut a.host);
        twin::srnn_mlp_input_backward(&mp, &a.host, &mut da.host, &mut dy0.host);
        let ep = EltParams {
            n: word(rows * d - 1),
            off: 1,
        };
        let mut r = Arr::random(&mut rng, rows * d + 1, -1.0, 1.0);
        let mut dr = Arr::random(&mut rng, rows * d + 1, -1.0, 1.0);
        twin::srnn_relu(&ep, &mut r.host);
        twin::srnn_relu_backward(&ep, &r.host, &mut dr.host);
        let tp = TapParams {
            taps: word(fs0),
            dim: word(d),
            levels: word(q),
            dst_off: 3,
        };
        let taps = Arr::random(&mut rng, fs0 * d * q, -1.0, 1.0);
        let mut w = Arr::random(&mut rng, 3 + fs0 * d * q + 2, -1.0, 1.0);
        twin::srnn_tap_interleave(&tp, &taps.host, &mut w.host);
        let mut pb = ProgramBuilder::new();
        let tb = buf(&mut pb, &toks.buf);
        let [tab, yb, ab, dab, dyb, rb, drb, tapb, wb] =
            [&tables, &y0, &a, &da, &dy0, &r, &dr, &taps, &w].map(|x| x.bind(&mut pb));
        k.record_srnn_mlp_input(&mut pb, &mp, tb, tab, yb, ab);
        k.record_srnn_mlp_input_backward(&mut pb, &mp, ab, dab, dyb);
        k.record_srnn_relu(&mut pb, &ep, rb);
        k.record_srnn_relu_backward(&mut pb, &ep, rb, drb);
        k.record_srnn_tap_interleave(&mut pb, &tp, tapb, wb);
        run(pb);
        let what = format!("B={b} T={t} D={d} FS0={fs0} q={q}");
        for (name, arr) in [
            ("mlp_input", &a),
            ("mlp_input_backward da", &da),
            ("mlp_input_backward dY0", &dy0),
            ("relu", &r),
            ("relu_backward", &dr),
            ("tap_interleave", &w),
        ] {
            arr.check(&format!("srnn_{name} {what}"), TWIN_TOL);
        }
    }
}

#[test]
fn learned_h0_matches_its_twins() {
    let (_, k) = gpu();
    let mut rng = TestRng(73);
    for (b, d, layers) in [(1, 5, 1), (3, 7, 2), (4, 300, 3)] {
        let reset = Toks::new((0..b).map(|i| (i % 2 == 0) as u32).collect());
        let params = Arr::random(&mut rng, 2 + layers * d, -1.0, 1.0);
        let mut state = Arr::random(&mut rng, 1 + layers * b * d, -1.0, 1.0);
        let dh0 = Arr::random(&mut rng, 3 + b * d, -1.0, 1.0);
        let mut grads = Arr::random(&mut rng, 5 + d, -1.0, 1.0);
        let (pr, pg) = (h0_params(b, d, layers, 2, 1), h0_params(b, d, 1, 4, 3));
        twin::srnn_h0_reset(&pr, &reset.host, &params.host, &mut state.host);
        twin::srnn_h0_grad(&pg, &reset.host, &dh0.host, &mut grads.host);
        let mut pb = ProgramBuilder::new();
        let rb = buf(&mut pb, &reset.buf);
        let [pbf, sb, db, gb] = [&params, &state, &dh0, &grads].map(|x| x.bind(&mut pb));
        k.record_srnn_h0_reset(&mut pb, &pr, rb, pbf, sb);
        k.record_srnn_h0_grad(&mut pb, &pg, rb, db, gb);
        run(pb);
        state.check(&format!("srnn_h0_reset B={b} D={d} R={layers}"), TWIN_TOL);
        grads.check(&format!("srnn_h0_grad B={b} D={d}"), TWIN_TOL);
    }
}

/// Log-softmax of `[rows, q]` logits.
fn log_softmax(logits: &[f32], q: usize) -> Vec<f64> {
    logits
        .chunks_exact(q)
        .flat_map(|row| {
            let m = row.iter().fold(f64::MIN, |a, &x| a.max(x as f64));
            let lse = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
            row.iter().map(move |&x| x as f64 - lse)
        })
        .collect()
}

/// Largest |got - want| / max|want| over each tensor of the layout.
fn worst_tensor_err(layout: &SrnnLayout, got: &[f32], want: &[f64]) -> (f64, String) {
    let mut worst = (0.0, String::new());
    for e in &layout.entries {
        let w = &want[e.offset..e.offset + e.len];
        let scale = w.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-30);
        let err = (got[e.offset..e.offset + e.len].iter().zip(w))
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max)
            / scale;
        if err > worst.0 {
            worst = (err, e.name.clone());
        }
    }
    worst
}

fn max_rel(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-30);
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Fixture params (or `prefix` tensors) in the flat layout.
fn fixture_flat(fx: &Fixture, layout: &SrnnLayout, prefix: &str, suffix: &str) -> Vec<f64> {
    let mut flat = vec![0.0; layout.total];
    for e in &layout.entries {
        flat[e.offset..e.offset + e.len]
            .copy_from_slice(&fx.f64(&format!("{prefix}{}{suffix}", e.name)));
    }
    flat
}

fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

#[test]
fn gpu_chunks_match_the_pytorch_fixture() {
    let (gpu, k) = gpu();
    let fx = Fixture::open("samplernn/samplernn_tiny.safetensors");
    let layout = SrnnLayout::new(&SrnnConfig::new(&[4, 2], 32, 1, 16).unwrap());
    let params = f32s(&fixture_flat(&fx, &layout, "", ""));
    let (b, t, l) = (2, 32, 8);
    let tokens = fx.i64("tokens");
    let opts = TrainOptions {
        lr: 1e-3,
        clip: f64::INFINITY,
        clip_value: Some(1.0),
        ..Default::default()
    };
    let mut tr = Trainer::new_srnn(&gpu, &k, &layout, &params, b, t, opts).unwrap();
    let mut worst = Vec::new();
    for c in 1..=2 {
        let window: Vec<u32> = (0..b)
            .flat_map(|s| {
                tokens[s * 72 + (c - 1) * t..][..l + t]
                    .iter()
                    .map(|&x| x as u32)
            })
            .collect();
        tr.workspace().reset_streams(&[c == 1; 2]);
        let loss = tr.compute_gradients(&window).unwrap() as f64;
        let p = format!("chunk{c}.");
        let logp = log_softmax(&tr.workspace().read_logits().unwrap(), 16);
        let errs = [
            ("logp", max_rel(&logp, &fx.f64(&format!("{p}logp.f64")))),
            (
                "loss_nats",
                max_rel(&[loss], &fx.f64(&format!("{p}loss_nats.f64"))),
            ),
            (
                "hn",
                max_rel(
                    &to_f64(&tr.workspace().read_state().unwrap()),
                    &[
                        fx.f64(&format!("{p}tier0.hn.f64")),
                        fx.f64(&format!("{p}tier1.hn.f64")),
                    ]
                    .concat(),
                ),
            ),
        ];
        let (gerr, gname) = worst_tensor_err(
            &layout,
            &tr.read_grads().unwrap(),
            &fixture_flat(&fx, &layout, &format!("{p}grad."), ".f64"),
        );
        for (what, e) in errs.into_iter().chain([("grad", gerr)]) {
            eprintln!(
                "chunk {c} {what}: max rel err {e:.2e}{}",
                if what == "grad" {
                    format!(" ({gname})")
                } else {
                    String::new()
                }
            );
            assert!(e < FIXTURE_TOL, "chunk {c} {what}: {e:.2e}");
            worst.push(e);
        }
    }
    // One clipped Adam step on chunk 1 from the fixture's weights (the README's 2e-6 abs).
    tr.write_params(&params).unwrap();
    let window: Vec<u32> = (0..b)
        .flat_map(|s| tokens[s * 72..][..l + t].iter().map(|&x| x as u32))
        .collect();
    tr.step(&window, &[true; 2]).unwrap();
    let after = tr.read_params().unwrap();
    let want = fixture_flat(&fx, &layout, "adam.param.", ".f64");
    let err = layout
        .entries
        .iter()
        .flat_map(|e| e.offset..e.offset + e.len)
        .map(|i| (after[i] as f64 - want[i]).abs())
        .fold(0.0, f64::max);
    eprintln!("adam step: max abs err {err:.2e}");
    assert!(err < 2e-6, "adam step: {err:.2e}");
}

/// A random model, two chunks (all streams reset, then a mix), GPU against the f64
/// reference: logp, loss, states and every gradient.
fn gpu_matches_reference(
    frame_sizes: &[usize],
    dim: usize,
    layers: usize,
    q: usize,
    b: usize,
    seed: u64,
) {
    let (gpu, k) = gpu();
    let layout = SrnnLayout::new(&SrnnConfig::new(frame_sizes, dim, layers, q).unwrap());
    let mut rng = TestRng(seed);
    let mut p64 = vec![0.0; layout.total];
    for e in &layout.entries {
        for x in &mut p64[e.offset..e.offset + e.len] {
            *x = rng.uniform(-0.5, 0.5) as f32 as f64;
        }
    }
    let (l, t) = (layout.config.lookback(), 2 * layout.config.lookback());
    let mut tr = Trainer::new_srnn(
        &gpu,
        &k,
        &layout,
        &f32s(&p64),
        b,
        t,
        TrainOptions::default(),
    )
    .unwrap();
    let mut state: Vec<Vec<f64>> = Vec::new();
    for (c, reset) in [vec![true; b], (0..b).map(|s| s % 2 == 1).collect()]
        .into_iter()
        .enumerate()
    {
        let window: Vec<u32> = (0..b * (l + t)).map(|_| rng.below(q as u32)).collect();
        let (f, g) = forward_backward(
            &layout,
            &p64,
            Chunk {
                window: &window,
                batch: b,
                tbptt: t,
                reset: &reset,
                state: &state,
            },
        );
        tr.workspace().reset_streams(&reset);
        let loss = tr.compute_gradients(&window).unwrap() as f64;
        let what = format!("{frame_sizes:?} D={dim} R={layers} q={q} B={b} chunk {c}");
        let logp = log_softmax(&tr.workspace().read_logits().unwrap(), q);
        let (gerr, gname) = worst_tensor_err(&layout, &tr.read_grads().unwrap(), &g);
        for (name, e) in [
            ("logp", max_rel(&logp, &f.logp)),
            ("loss", max_rel(&[loss], &[f.loss_nats])),
            (
                "hn",
                max_rel(
                    &to_f64(&tr.workspace().read_state().unwrap()),
                    &f.hn.concat(),
                ),
            ),
            ("grad", gerr),
        ] {
            assert!(
                e < FIXTURE_TOL,
                "{what}: {name} max rel err {e:.2e} {gname}"
            );
        }
        state = f.hn;
    }
}

#[test]
fn gpu_matches_reference_on_ragged_models() {
    gpu_matches_reference(&[3, 2], 5, 2, 7, 1, 81);
    gpu_matches_reference(&[3, 2], 7, 1, 10, 3, 82);
    gpu_matches_reference(&[2, 2, 3], 9, 2, 7, 3, 83);
    gpu_matches_reference(&[5], 33, 1, 11, 2, 84);
}

#[test]
fn windows_must_be_whole_lookbacks() {
    let (gpu, k) = gpu();
    let layout = SrnnLayout::new(&SrnnConfig::new(&[4, 2], 8, 1, 16).unwrap());
    let params = gpu.storage("p", (layout.total * 4) as u64);
    let err = SrnnWorkspace::new(&gpu, &k, &layout, &params, None, 2, 12)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("multiple of the lookback L = 8"),
        "{err}"
    );
}
