//! The f64 CPU reference (`gruwave::reference`) against the PyTorch float64 fixtures in
//! tests/fixtures (see tests/fixtures/README.md), plus a finite-difference gradient check.
//!
//! Every comparison is against the `.f64` copy of a fixture output, to relative error
//! `||got - want|| / ||want||` at most `TOL`. Run with `--nocapture` to see the largest
//! relative error of each fixture.

mod common;

use common::{rel_err, Fixture};
use gruwave::model::{ModelConfig, ParamKind, ParamLayout};
use gruwave::reference::{clip_grad_norm, forward, forward_backward, softmax, Adam};

/// Both sides are float64 computations from the same exact inputs; only summation order
/// differs, so they agree to about 1e-15. 1e-9 leaves plenty of margin and still catches
/// any real mistake (a float32 engine is off by about 1e-7).
const TOL: f64 = 1e-9;

/// Records the largest relative error seen and fails on any above `TOL`.
struct Checker {
    what: String,
    max_err: f64,
    worst: String,
}

impl Checker {
    fn new(what: &str) -> Checker {
        Checker {
            what: what.to_string(),
            max_err: 0.0,
            worst: String::new(),
        }
    }

    /// Returns the relative error of `got` against `want` without asserting.
    fn measure(&mut self, name: &str, got: &[f64], want: &[f64]) -> f64 {
        assert_eq!(
            got.len(),
            want.len(),
            "{}: {name}: length mismatch",
            self.what
        );
        let err = rel_err(got, want);
        assert!(!err.is_nan(), "{}: {name}: NaN", self.what);
        if err > self.max_err || self.worst.is_empty() {
            self.max_err = err.max(self.max_err);
            self.worst = name.to_string();
        }
        err
    }

    fn check(&mut self, name: &str, got: &[f64], want: &[f64]) {
        let err = self.measure(name, got, want);
        assert!(
            err <= TOL,
            "{}: {name}: relative error {err:e} > {TOL:e}",
            self.what
        );
    }

    fn check_scalar(&mut self, name: &str, got: f64, want: &[f64]) {
        assert_eq!(want.len(), 1, "{}: {name} is not a scalar", self.what);
        self.check(name, &[got], want);
    }

    fn report(&self) {
        eprintln!(
            "{}: max relative error {:.3e} ({})",
            self.what, self.max_err, self.worst
        );
    }
}

/// The model config from the fixture's V, E, H, L metadata, cross-checked with the shapes.
fn layout_of(fx: &Fixture) -> ParamLayout {
    let c = ModelConfig::new(
        fx.meta_usize("V"),
        fx.meta_usize("E"),
        fx.meta_usize("H"),
        fx.meta_usize("L"),
    )
    .unwrap();
    let layout = ParamLayout::new(&c);
    for e in &layout.entries {
        assert_eq!(
            fx.shape(&e.name),
            e.shape,
            "{}: shape of {}",
            fx.file,
            e.name
        );
    }
    layout
}

/// A flat buffer in the layout whose tensors are `fx[name_of(entry name)]`; padding is
/// filled with `pad`.
fn gather(
    fx: &Fixture,
    layout: &ParamLayout,
    pad: f64,
    name_of: impl Fn(&str) -> String,
) -> Vec<f64> {
    let mut flat = vec![pad; layout.total];
    for e in &layout.entries {
        let t = fx.f64(&name_of(&e.name));
        assert_eq!(t.len(), e.len, "{}: size of {}", fx.file, e.name);
        flat[e.offset..e.offset + e.len].copy_from_slice(&t);
    }
    flat
}

/// The starting parameters. The padding is NaN, so reading it anywhere would show.
fn load_params(fx: &Fixture, layout: &ParamLayout) -> Vec<f64> {
    gather(fx, layout, f64::NAN, |n| n.to_string())
}

fn tokens(fx: &Fixture, name: &str) -> Vec<u32> {
    fx.i64(name)
        .into_iter()
        .map(|t| u32::try_from(t).expect("token id fits u32"))
        .collect()
}

/// Padding entries of a gradient buffer must be exactly 0.
fn assert_padding_zero(layout: &ParamLayout, grads: &[f64]) {
    let mut in_tensor = vec![false; layout.total];
    for e in &layout.entries {
        in_tensor[e.offset..e.offset + e.len].fill(true);
    }
    for (i, (&g, &inside)) in grads.iter().zip(&in_tensor).enumerate() {
        assert!(inside || g == 0.0, "gradient padding at {i} is {g}");
    }
}

/// Compares every parameter gradient with `fx[name_of(param name)]`.
fn check_grads(
    ck: &mut Checker,
    fx: &Fixture,
    layout: &ParamLayout,
    grads: &[f64],
    name_of: impl Fn(&str) -> String,
) {
    assert_eq!(grads.len(), layout.total);
    assert_padding_zero(layout, grads);
    for e in &layout.entries {
        let name = name_of(&e.name);
        ck.check(&name, layout.view(grads, e.kind), &fx.f64(&name));
    }
}

/// One forward/backward fixture (`gru_lm_small`, `gru_lm_audio`), compared in full.
/// `perturb` changes the parameters first; it returns the largest relative error instead of
/// asserting when `strict` is false (used to show the comparison can fail).
fn run_model_fixture(file: &str, perturb: impl Fn(&ParamLayout, &mut [f64]), strict: bool) -> f64 {
    let fx = Fixture::open(file);
    let layout = layout_of(&fx);
    let (b, t) = (fx.meta_usize("B"), fx.meta_usize("T"));
    let mut params = load_params(&fx, &layout);
    perturb(&layout, &mut params);
    let toks = tokens(&fx, "tokens");
    let tgts = tokens(&fx, "targets");
    let h0 = fx.f64("h0");
    assert_eq!(fx.shape("tokens"), vec![b, t]);

    let (fwd, bwd) = forward_backward(&layout, &params, &toks, &tgts, b, t, &h0);

    let mut ck = Checker::new(file);
    let mut results: Vec<(String, Vec<f64>, Vec<f64>)> = vec![
        (
            "logits.f64".into(),
            fwd.logits.clone(),
            fx.f64("logits.f64"),
        ),
        ("loss.f64".into(), vec![fwd.loss], fx.f64("loss.f64")),
        ("hn.f64".into(), fwd.hn.clone(), fx.f64("hn.f64")),
        (
            "grad.h0.f64".into(),
            bwd.grad_h0.clone(),
            fx.f64("grad.h0.f64"),
        ),
    ];
    for (l, out) in fwd.layer_out.iter().enumerate() {
        let name = format!("gru_out.l{l}.f64");
        let want = fx.f64(&name);
        results.push((name, out.clone(), want));
    }
    for e in &layout.entries {
        let name = format!("grad.{}.f64", e.name);
        let want = fx.f64(&name);
        results.push((name, layout.view(&bwd.grads, e.kind).to_vec(), want));
    }
    assert_eq!(fwd.layer_out.len(), layout.config.layers);

    if strict {
        assert_padding_zero(&layout, &bwd.grads);
        for (name, got, want) in &results {
            ck.check(name, got, want);
        }
        // The plain forward pass agrees with the one inside forward_backward.
        let plain = forward(&layout, &params, &toks, &tgts, b, t, &h0);
        assert_eq!(plain.logits, fwd.logits);
        assert_eq!(plain.loss, fwd.loss);
        assert_eq!(plain.hn, fwd.hn);
        assert_eq!(plain.layer_out, fwd.layer_out);
        ck.report();
    } else {
        for (name, got, want) in &results {
            ck.measure(name, got, want);
        }
    }
    ck.max_err
}

#[test]
fn gru_lm_small_matches_pytorch() {
    run_model_fixture("gru_lm_small.safetensors", |_, _| {}, true);
}

#[test]
fn gru_lm_audio_matches_pytorch() {
    run_model_fixture("gru_lm_audio.safetensors", |_, _| {}, true);
}

/// The comparisons above are sharp: a small change of any one parameter tensor breaks them.
#[test]
fn fixture_comparison_detects_perturbations() {
    let fx = Fixture::open("gru_lm_small.safetensors");
    let layout = layout_of(&fx);
    let kinds: Vec<ParamKind> = layout.entries.iter().map(|e| e.kind).collect();
    for kind in kinds {
        // Shift one element by 1e-6 (about 2e-6 relative to the U(-0.5, 0.5) values).
        let err = run_model_fixture(
            "gru_lm_small.safetensors",
            |lay, p| lay.view_mut(p, kind)[1] += 1e-6,
            false,
        );
        assert!(
            err > 10.0 * TOL,
            "perturbing {kind:?} went unnoticed (max err {err:e})"
        );
    }
}

/// Inputs `tokens[:, (c-1)T .. cT]` and targets one further, for chunk c = 1, 2.
fn chunk(all: &[u32], b: usize, t: usize, c: usize) -> (Vec<u32>, Vec<u32>) {
    let width = all.len() / b;
    let mut inputs = Vec::new();
    let mut targets = Vec::new();
    for row in all.chunks_exact(width) {
        let start = (c - 1) * t;
        inputs.extend_from_slice(&row[start..start + t]);
        targets.extend_from_slice(&row[start + 1..start + t + 1]);
    }
    (inputs, targets)
}

#[test]
fn gru_lm_tbptt_matches_pytorch() {
    let file = "gru_lm_tbptt.safetensors";
    let fx = Fixture::open(file);
    let layout = layout_of(&fx);
    let (b, t) = (fx.meta_usize("B"), fx.meta_usize("T"));
    assert_eq!(fx.shape("tokens"), vec![b, 2 * t + 1]);
    let all = tokens(&fx, "tokens");
    let params0 = load_params(&fx, &layout);
    let h0 = fx.f64("h0");
    let mut ck = Checker::new(file);

    // Part 1: fixed parameters, hidden state carried (detached) from chunk 1 into chunk 2.
    let mut h = h0.clone();
    for c in 1..=2 {
        let (toks, tgts) = chunk(&all, b, t, c);
        ck.check(
            &format!("chunk{c}.h0.f64"),
            &h,
            &fx.f64(&format!("chunk{c}.h0.f64")),
        );
        let (fwd, bwd) = forward_backward(&layout, &params0, &toks, &tgts, b, t, &h);
        let p = format!("chunk{c}.");
        ck.check(
            &(p.clone() + "logits.f64"),
            &fwd.logits,
            &fx.f64(&(p.clone() + "logits.f64")),
        );
        ck.check_scalar(
            &(p.clone() + "loss.f64"),
            fwd.loss,
            &fx.f64(&(p.clone() + "loss.f64")),
        );
        ck.check(
            &(p.clone() + "hn.f64"),
            &fwd.hn,
            &fx.f64(&(p.clone() + "hn.f64")),
        );
        check_grads(&mut ck, &fx, &layout, &bwd.grads, |n| {
            format!("{p}grad.{n}.f64")
        });
        h = fwd.hn;
    }

    // Part 2: the same chunks as training steps: forward/backward, clip to 0.5, Adam(1e-2).
    let max_norm: f64 = fx.metadata()["max_norm"].parse().unwrap();
    let lr: f64 = fx.metadata()["train_lr"].parse().unwrap();
    assert_eq!((max_norm, lr), (0.5, 1e-2));
    // Padding holds a sentinel this time, to see that Adam leaves it alone.
    const PAD: f64 = 123.0;
    let mut params = gather(&fx, &layout, PAD, |n| n.to_string());
    let mut adam = Adam::new(layout.total, lr);
    let mut h = h0;
    for k in 1..=2 {
        let (toks, tgts) = chunk(&all, b, t, k);
        let (fwd, mut bwd) = forward_backward(&layout, &params, &toks, &tgts, b, t, &h);
        let p = format!("train.step{k}.");
        ck.check_scalar(
            &(p.clone() + "loss.f64"),
            fwd.loss,
            &fx.f64(&(p.clone() + "loss.f64")),
        );
        ck.check(
            &(p.clone() + "hn.f64"),
            &fwd.hn,
            &fx.f64(&(p.clone() + "hn.f64")),
        );
        let norm = clip_grad_norm(&mut bwd.grads, max_norm);
        ck.check_scalar(
            &(p.clone() + "grad_norm.f64"),
            norm,
            &fx.f64(&(p.clone() + "grad_norm.f64")),
        );
        // Clipping really happens in both steps (norms 0.64 and 0.58).
        assert!(norm > max_norm);
        adam.step(&mut params, &bwd.grads);
        for e in &layout.entries {
            let name = format!("{p}param.{}.f64", e.name);
            ck.check(&name, layout.view(&params, e.kind), &fx.f64(&name));
        }
        h = fwd.hn;
    }
    // Padding has zero gradient, so Adam never moved it.
    assert_eq!(adam.t, 2);
    for (i, (p, p0)) in params.iter().zip(&params0).enumerate() {
        assert!(!p0.is_nan() || *p == PAD, "padding at {i} changed to {p}");
    }
    ck.report();
}

#[test]
fn adam_step_matches_pytorch() {
    let file = "adam_step.safetensors";
    let fx = Fixture::open(file);
    let names = ["a", "b", "c"];
    let max_norm: f64 = fx.metadata()["max_norm"].parse().unwrap();
    let lr: f64 = fx.metadata()["lr"].parse().unwrap();
    assert_eq!((max_norm, lr), (1.0, 1e-3));
    let mut ck = Checker::new(file);

    for s in ["clip", "noclip"] {
        // a, b and c laid end to end as one flat vector.
        let concat = |f: &dyn Fn(&str) -> String| -> Vec<f64> {
            names.iter().flat_map(|n| fx.f64(&f(n))).collect()
        };
        let sizes: Vec<usize> = names
            .iter()
            .map(|n| fx.f64(&format!("{s}.grad.{n}")).len())
            .collect();
        // Splits a flat vector back into (name, slice) per tensor.
        let split = |flat: &[f64]| -> Vec<(String, Vec<f64>)> {
            let mut at = 0;
            names
                .iter()
                .zip(&sizes)
                .map(|(n, &len)| {
                    at += len;
                    (n.to_string(), flat[at - len..at].to_vec())
                })
                .collect()
        };

        let start = concat(&|n| format!("{s}.param.{n}.step0"));
        let raw = concat(&|n| format!("{s}.grad.{n}"));
        let clipped_want = concat(&|n| format!("{s}.grad_clipped.{n}.f64"));
        let mut params = start.clone();
        let mut adam = Adam::new(params.len(), lr);
        for k in 1..=3 {
            let mut g = raw.clone();
            let norm = clip_grad_norm(&mut g, max_norm);
            ck.check_scalar(
                &format!("{s}.grad_norm.f64"),
                norm,
                &fx.f64(&format!("{s}.grad_norm.f64")),
            );
            ck.check(
                &format!("{s}.grad_clipped.f64 (step {k})"),
                &g,
                &clipped_want,
            );
            if s == "noclip" {
                assert_eq!(g, raw, "noclip: gradients must pass through unchanged");
            } else {
                assert!(norm > max_norm);
            }
            adam.step(&mut params, &g);
            for (what, flat) in [
                ("param", &params),
                ("exp_avg", &adam.m),
                ("exp_avg_sq", &adam.v),
            ] {
                for (n, got) in split(flat) {
                    let name = format!("{s}.{what}.{n}.step{k}.f64");
                    ck.check(&name, &got, &fx.f64(&name));
                }
            }
        }
        // Zero gradients (grad.a[0,0], grad.c[1,2,4]) leave their parameters exactly where
        // they started.
        let zeros: Vec<usize> = (0..raw.len()).filter(|&i| raw[i] == 0.0).collect();
        assert_eq!(zeros.len(), 2, "{s}: expected two zero gradients");
        for i in zeros {
            assert_eq!(
                params[i], start[i],
                "{s}: parameter {i} with zero gradient moved"
            );
        }
    }
    ck.report();
}

/// splitmix64: a tiny deterministic PRNG for the finite-difference test.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    fn below(&mut self, n: usize) -> u32 {
        (self.next_u64() % n as u64) as u32
    }
}

/// Central differences (eps = 1e-6) of the loss against the analytic gradient, for every
/// parameter and every h0 entry. Returns the largest error, |fd - g| / max(1, |g|).
fn finite_difference_check(
    v: usize,
    e: usize,
    h: usize,
    l: usize,
    b: usize,
    t: usize,
    seed: u64,
) -> f64 {
    let layout = ParamLayout::new(&ModelConfig::new(v, e, h, l).unwrap());
    let mut rng = SplitMix64(seed);
    // Padding is NaN: the reference must never read it.
    let mut params = vec![f64::NAN; layout.total];
    for entry in &layout.entries {
        for p in &mut params[entry.offset..entry.offset + entry.len] {
            *p = rng.uniform(-0.5, 0.5);
        }
    }
    let mut h0: Vec<f64> = (0..l * b * h).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let toks: Vec<u32> = (0..b * t).map(|_| rng.below(v)).collect();
    let tgts: Vec<u32> = (0..b * t).map(|_| rng.below(v)).collect();

    let (fwd, bwd) = forward_backward(&layout, &params, &toks, &tgts, b, t, &h0);
    assert!(fwd.loss.is_finite());
    assert_padding_zero(&layout, &bwd.grads);

    const EPS: f64 = 1e-6;
    let err = |fd: f64, g: f64| (fd - g).abs() / g.abs().max(1.0);
    let mut max_err: f64 = 0.0;
    let mut nonzero = 0;
    for entry in &layout.entries {
        for i in entry.offset..entry.offset + entry.len {
            let orig = params[i];
            params[i] = orig + EPS;
            let lp = forward(&layout, &params, &toks, &tgts, b, t, &h0).loss;
            params[i] = orig - EPS;
            let lm = forward(&layout, &params, &toks, &tgts, b, t, &h0).loss;
            params[i] = orig;
            let fd = (lp - lm) / (2.0 * EPS);
            let e = err(fd, bwd.grads[i]);
            assert!(
                e < 1e-6,
                "{} [{}]: fd {fd:e} vs analytic {:e}",
                entry.name,
                i - entry.offset,
                bwd.grads[i]
            );
            max_err = max_err.max(e);
            nonzero += usize::from(bwd.grads[i] != 0.0);
        }
    }
    for i in 0..h0.len() {
        let orig = h0[i];
        h0[i] = orig + EPS;
        let lp = forward(&layout, &params, &toks, &tgts, b, t, &h0).loss;
        h0[i] = orig - EPS;
        let lm = forward(&layout, &params, &toks, &tgts, b, t, &h0).loss;
        h0[i] = orig;
        let fd = (lp - lm) / (2.0 * EPS);
        let e = err(fd, bwd.grad_h0[i]);
        assert!(
            e < 1e-6,
            "h0[{i}]: fd {fd:e} vs analytic {:e}",
            bwd.grad_h0[i]
        );
        max_err = max_err.max(e);
    }
    // Embedding rows of tokens that never occur have zero gradient; nearly all others not.
    assert!(
        nonzero > layout.param_count() / 2,
        "suspiciously many zero gradients"
    );
    max_err
}

#[test]
fn gradients_match_finite_differences() {
    let e1 = finite_difference_check(5, 3, 4, 2, 2, 3, 1);
    // A deeper, narrower shape with E > H and a single stream.
    let e2 = finite_difference_check(7, 6, 3, 3, 1, 4, 2);
    eprintln!("finite differences: max error {e1:.3e} (L=2), {e2:.3e} (L=3)");
}

#[test]
fn softmax_is_normalised_and_stable() {
    let p = softmax(&[1.0, 2.0, 3.0]);
    let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).sum();
    let want: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp() / z).collect();
    assert!(rel_err(&p, &want) < 1e-15);
    // Large logits neither overflow nor lose the ordering.
    let p = softmax(&[1000.0, 999.0, -1000.0]);
    assert!(p.iter().all(|x| x.is_finite()));
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    assert!((p[0] / p[1] - 1f64.exp()).abs() < 1e-12);
    assert_eq!(p[2], 0.0);
}
