//! The GPU engine against the f64 CPU reference on fresh random inputs and ragged shapes
//! (no dimension a multiple of any tile), plus the optimiser against PyTorch's Adam.

mod common;
use common::*;
use gruwave::kernels::{Choice, KernelOptions};
use gruwave::model::{ModelConfig, ParamLayout};
use gruwave::reference;
use gruwave::train::Optimizer;
use gruwave::{Kernels, TrainOptions, Trainer};
use std::sync::Arc;

/// f32 engine vs f64 reference: relative error per tensor.
const TOL: f64 = 2e-4;

struct Case {
    cfg: ModelConfig,
    b: usize,
    t: usize,
    params: Vec<f64>,
    h0: Vec<f64>,
    window: Vec<u32>,
}

fn random_case(
    rng: &mut TestRng,
    v: usize,
    e: usize,
    h: usize,
    l: usize,
    b: usize,
    t: usize,
) -> Case {
    let cfg = ModelConfig::new(v, e, h, l).unwrap();
    let layout = ParamLayout::new(&cfg);
    let mut params = vec![0.0; layout.total];
    for en in &layout.entries {
        for x in &mut params[en.offset..en.offset + en.len] {
            *x = rng.uniform(-0.5, 0.5) as f32 as f64;
        }
    }
    let h0 = (0..l * b * h)
        .map(|_| rng.uniform(-1.0, 1.0) as f32 as f64)
        .collect();
    let window = (0..b * (t + 1)).map(|_| rng.below(v as u32)).collect();
    Case {
        cfg,
        b,
        t,
        params,
        h0,
        window,
    }
}

fn split(c: &Case) -> (Vec<u32>, Vec<u32>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..c.b {
        let row = &c.window[i * (c.t + 1)..(i + 1) * (c.t + 1)];
        x.extend_from_slice(&row[..c.t]);
        y.extend_from_slice(&row[1..]);
    }
    (x, y)
}

/// Mismatches of every kernel variant (`kernel_variants`) against the reference.
fn compare(c: &Case) -> Vec<String> {
    kernel_variants()
        .iter()
        .flat_map(|(name, k)| {
            compare_with(c, k)
                .into_iter()
                .map(move |m| format!("{name}: {m}"))
        })
        .collect()
}

fn compare_with(c: &Case, k: &Arc<Kernels>) -> Vec<String> {
    let layout = ParamLayout::new(&c.cfg);
    let (x, y) = split(c);
    let (fwd, bwd) = reference::forward_backward(&layout, &c.params, &x, &y, c.b, c.t, &c.h0);
    let (gpu, _) = gpu();
    let p32: Vec<f32> = c.params.iter().map(|&v| v as f32).collect();
    let mut tr = Trainer::new(&gpu, k, &layout, &p32, c.b, c.t, TrainOptions::default()).unwrap();
    tr.workspace()
        .set_state(&c.h0.iter().map(|&v| v as f32).collect::<Vec<_>>())
        .unwrap();
    let loss = tr.compute_gradients(&c.window).unwrap();
    let grads = tr.read_grads().unwrap();
    let mut bad = Vec::new();
    let mut cmp = |what: String, got: &[f32], want: &[f64]| {
        let e = rel_err(&to_f64(got), want);
        if e.is_nan() || e > TOL {
            bad.push(format!(
                "{} B={} T={}: {what} rel err {e:.2e}",
                c.cfg, c.b, c.t
            ));
        }
    };
    cmp("loss".into(), &[loss], &[fwd.loss]);
    cmp(
        "logits".into(),
        &tr.workspace().read_logits().unwrap(),
        &fwd.logits,
    );
    cmp("hn".into(), &tr.workspace().read_state().unwrap(), &fwd.hn);
    for l in 0..c.cfg.layers {
        cmp(
            format!("layer {l} out"),
            &tr.workspace().read_layer_out(l).unwrap(),
            &fwd.layer_out[l],
        );
    }
    for e in &layout.entries {
        cmp(
            format!("grad {}", e.name),
            &grads[e.offset..e.offset + e.len],
            &bwd.grads[e.offset..e.offset + e.len],
        );
    }
    cmp(
        "grad h0".into(),
        &tr.workspace().read_grad_h0().unwrap(),
        &bwd.grad_h0,
    );
    bad
}

#[test]
fn ragged_shapes_match_the_reference() {
    let mut rng = TestRng(7);
    let mut bad = Vec::new();
    let mut n = 0;
    for h in [1, 7, 33, 100] {
        for b in [1, 5] {
            for t in [1, 9] {
                for l in [1, 3] {
                    // E varies too, crossing the 64-wide tiles of the embedding kernels.
                    let e = [3, 65][n % 2];
                    bad.extend(compare(&random_case(&mut rng, 3, e, h, l, b, t)));
                    n += 1;
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn larger_vocabulary_and_batch_match_the_reference() {
    // Crosses the 64-wide GEMM tiles and the 256-wide softmax workgroup in every direction.
    let mut rng = TestRng(11);
    let bad = compare(&random_case(&mut rng, 300, 70, 40, 2, 9, 8));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// u32 tokens: the event vocabulary (V = 388) and one of 1,000 train as the reference does
/// (logits, loss, every gradient, in every kernel variant).
#[test]
fn event_sized_vocabularies_match_the_reference() {
    let mut rng = TestRng(17);
    for v in [388, 1000] {
        let bad = compare(&random_case(&mut rng, v, 9, 12, 1, 3, 5));
        assert!(bad.is_empty(), "V = {v}: {}", bad.join("\n"));
    }
}

#[test]
fn a_wide_layer_matches_the_reference() {
    // H = 260 runs the sliced step kernels' four-k loops (forward K = H, backward K = 3H)
    // past several iterations, with remainders, and crosses the 128x128 GEMM tiles.
    let mut rng = TestRng(13);
    let bad = compare(&random_case(&mut rng, 5, 6, 260, 1, 2, 3));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn reset_streams_start_from_zero_state() {
    let mut rng = TestRng(3);
    let c = random_case(&mut rng, 5, 4, 6, 2, 3, 4);
    let layout = ParamLayout::new(&c.cfg);
    let (gpu, k) = gpu();
    let p32: Vec<f32> = c.params.iter().map(|&v| v as f32).collect();
    let tr = Trainer::new(&gpu, &k, &layout, &p32, c.b, c.t, TrainOptions::default()).unwrap();
    tr.workspace().set_state(&vec![0.7; c.h0.len()]).unwrap();
    tr.workspace().reset_streams(&[false, true, false]);
    let st = tr.workspace().read_state().unwrap();
    let h = c.cfg.hidden;
    for l in 0..2 {
        for b in 0..3 {
            let row = &st[(l * 3 + b) * h..(l * 3 + b + 1) * h];
            let want = if b == 1 { 0.0 } else { 0.7 };
            assert!(
                row.iter().all(|&x| x == want),
                "layer {l} stream {b}: {row:?}"
            );
        }
    }
}

/// clip_grad_norm_(1.0) + Adam(lr=1e-3) for 3 steps on three tensors, against PyTorch.
#[test]
fn clipped_adam_steps_match_pytorch() {
    let fx = Fixture::open("adam_step.safetensors");
    let (gpu, _) = gpu();
    let runs = ["clip", "noclip"]
        .into_iter()
        .flat_map(|s| kernel_variants().into_iter().map(move |v| (s, v)));
    for (s, (variant, k)) in runs {
        let names = ["a", "b", "c"];
        let cat = |f: &dyn Fn(&str) -> String| -> Vec<f64> {
            names.iter().flat_map(|t| fx.f64(&f(t))).collect()
        };
        let p0: Vec<f32> = cat(&|t| format!("{s}.param.{t}.step0"))
            .iter()
            .map(|&x| x as f32)
            .collect();
        let g: Vec<f32> = cat(&|t| format!("{s}.grad.{t}"))
            .iter()
            .map(|&x| x as f32)
            .collect();
        let n = p0.len();
        let params = gpu.storage_from("p", &p0);
        let grads = gpu.storage_from("g", &g);
        let opts = TrainOptions {
            lr: 1e-3,
            clip: 1.0,
            ..Default::default()
        };
        let mut opt = Optimizer::new(&gpu, &k, &params, &grads, n, opts).unwrap();
        for step in 1..=3 {
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            opt.encode_step(&gpu, &mut enc);
            gpu.queue.submit([enc.finish()]);
            let norm: Vec<f32> = gpu.read(&opt.stats, 0, 1).unwrap();
            let want_norm = fx.f64(&format!("{s}.grad_norm.f64"))[0];
            assert!(
                ((norm[0] as f64) - want_norm).abs() / want_norm < 1e-5,
                "{s} {variant} norm {} vs {want_norm}",
                norm[0]
            );
            let got: Vec<f32> = gpu.read(&params, 0, n).unwrap();
            let (m, v) = opt.read_moments(&gpu).unwrap();
            for (what, have) in [("param", &got), ("exp_avg", &m), ("exp_avg_sq", &v)] {
                let want = cat(&|t| format!("{s}.{what}.{t}.step{step}.f64"));
                let e = rel_err(&to_f64(have), &want);
                assert!(e < 1e-5, "{s} {what} step {step}: rel err {e:.2e}");
            }
            // Zero gradients leave their parameters exactly where they were.
            assert_eq!(got[0], p0[0], "{s}: a[0,0] has zero gradient");
        }
    }
}

/// With every variant timed (as on a GPU), building a trainer times the step kernels and
/// GEMM tiles of its shapes once, and whatever wins matches the reference.
#[test]
fn timed_variant_choices_match_the_reference() {
    let (gpu, default) = gpu();
    let k = Arc::new(Kernels::with_options(
        &gpu,
        KernelOptions {
            gemm: Choice::Timed,
            step: Choice::Timed,
            ..default.options
        },
    ));
    let mut rng = TestRng(17);
    let c = random_case(&mut rng, 7, 5, 12, 2, 3, 4);
    let bad = compare_with(&c, &k);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let keys: Vec<String> = k.timed_choices().into_iter().map(|(key, _)| key).collect();
    for want in ["gru_step B=3 H=12", "gru_step_backward B=3 H=12"] {
        assert!(keys.iter().any(|k| k == want), "{want} not timed: {keys:?}");
    }
    assert!(keys.iter().any(|k| k.starts_with("gemm ")), "{keys:?}");
}
