//! The GPU engine against PyTorch's numbers (tests/fixtures, made by make_fixtures.py).
//! f32 GPU results must match the float64 PyTorch values to 1e-4 relative error.

mod common;
use common::*;
use gruwave::model::ParamLayout;
use gruwave::{TrainOptions, Trainer};

const TOL: f64 = 1e-4;

/// Compare and report; failures are collected so one run shows every mismatch.
struct Checker(Vec<String>);

impl Checker {
    fn check(&mut self, what: &str, got: &[f32], want: &[f64]) {
        let e = rel_err(&to_f64(got), want);
        eprintln!("{what}: rel err {e:.2e}");
        if e.is_nan() || e > TOL {
            self.0
                .push(format!("{what}: relative error {e:.3e} > {TOL}"));
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(self.0.is_empty(), "mismatches:\n{}", self.0.join("\n"));
        }
    }
}

/// `[B, T]` inputs and targets joined into the `[B, T+1]` window the engine reads.
fn window(tokens: &[i64], targets: &[i64], b: usize, t: usize) -> Vec<u32> {
    let mut w = Vec::with_capacity(b * (t + 1));
    for i in 0..b {
        w.extend(tokens[i * t..(i + 1) * t].iter().map(|&x| x as u32));
        w.push(targets[i * t + t - 1] as u32);
    }
    w
}

fn forward_backward_matches(file: &str) {
    let fx = Fixture::open(file);
    let (b, t) = (fx.meta_usize("B"), fx.meta_usize("T"));
    let layout = ParamLayout::new(&fx.config());
    let params: Vec<f32> = fx.params(&layout, "").iter().map(|&x| x as f32).collect();
    let (gpu, k) = gpu();
    let mut ck = Checker(Vec::new());
    let mut tr = Trainer::new(&gpu, &k, &layout, &params, b, t, TrainOptions::default()).unwrap();
    tr.workspace().set_state(&fx.f32("h0")).unwrap();
    let loss = tr
        .compute_gradients(&window(&fx.i64("tokens"), &fx.i64("targets"), b, t))
        .unwrap();
    ck.check("loss", &[loss], &fx.f64("loss.f64"));
    ck.check(
        "logits",
        &tr.workspace().read_logits().unwrap(),
        &fx.f64("logits.f64"),
    );
    ck.check(
        "hn",
        &tr.workspace().read_state().unwrap(),
        &fx.f64("hn.f64"),
    );
    let grads = tr.read_grads().unwrap();
    for e in &layout.entries {
        let g = &grads[e.offset..e.offset + e.len];
        ck.check(
            &format!("grad.{}", e.name),
            g,
            &fx.f64(&format!("grad.{}.f64", e.name)),
        );
    }
    ck.check(
        "grad.h0",
        &tr.workspace().read_grad_h0().unwrap(),
        &fx.f64("grad.h0.f64"),
    );
}

#[test]
fn small_two_layer_model_matches_pytorch() {
    forward_backward_matches("gru_lm_small.safetensors");
}

#[test]
fn audio_vocabulary_model_matches_pytorch() {
    forward_backward_matches("gru_lm_audio.safetensors");
}

/// Two TBPTT chunks with fixed parameters (state carried, detached), then the same two
/// chunks as real training steps with clip_grad_norm_(0.5) and Adam(lr=1e-2).
#[test]
fn tbptt_chunks_and_training_steps_match_pytorch() {
    let fx = Fixture::open("gru_lm_tbptt.safetensors");
    let layout = ParamLayout::new(&fx.config());
    let (b, t) = (2, 5);
    let params: Vec<f32> = fx.params(&layout, "").iter().map(|&x| x as f32).collect();
    let toks: Vec<u32> = fx.i64("tokens").iter().map(|&x| x as u32).collect();
    let chunk = |c: usize| -> Vec<u32> {
        (0..b)
            .flat_map(|i| toks[i * (2 * t + 1) + c * t..i * (2 * t + 1) + c * t + t + 1].to_vec())
            .collect()
    };
    let (gpu, k) = gpu();
    let mut ck = Checker(Vec::new());
    let opts = TrainOptions {
        lr: 1e-2,
        clip: 0.5,
        ..Default::default()
    };
    // Part 1: gradients per chunk, parameters fixed.
    let mut tr = Trainer::new(&gpu, &k, &layout, &params, b, t, opts).unwrap();
    for c in 0..2 {
        let p = format!("chunk{}.", c + 1);
        ck.check(
            &format!("{p}h0"),
            &tr.workspace().read_state().unwrap(),
            &fx.f64(&format!("{p}h0.f64")),
        );
        let loss = tr.compute_gradients(&chunk(c)).unwrap();
        ck.check(
            &format!("{p}loss"),
            &[loss],
            &fx.f64(&format!("{p}loss.f64")),
        );
        ck.check(
            &format!("{p}logits"),
            &tr.workspace().read_logits().unwrap(),
            &fx.f64(&format!("{p}logits.f64")),
        );
        ck.check(
            &format!("{p}hn"),
            &tr.workspace().read_state().unwrap(),
            &fx.f64(&format!("{p}hn.f64")),
        );
        let grads = tr.read_grads().unwrap();
        for e in &layout.entries {
            let name = format!("{p}grad.{}.f64", e.name);
            ck.check(&name, &grads[e.offset..e.offset + e.len], &fx.f64(&name));
        }
    }
    // Part 2: real steps.
    let mut tr = Trainer::new(&gpu, &k, &layout, &params, b, t, opts).unwrap();
    for s in 1..=2 {
        let st = tr.step(&chunk(s - 1), &[false; 2]).unwrap();
        let p = format!("train.step{s}.");
        ck.check(
            &format!("{p}loss"),
            &[st.loss],
            &fx.f64(&format!("{p}loss.f64")),
        );
        ck.check(
            &format!("{p}grad_norm"),
            &[st.grad_norm],
            &fx.f64(&format!("{p}grad_norm.f64")),
        );
        ck.check(
            &format!("{p}hn"),
            &tr.workspace().read_state().unwrap(),
            &fx.f64(&format!("{p}hn.f64")),
        );
        let now = tr.read_params().unwrap();
        for e in &layout.entries {
            let name = format!("{p}param.{}.f64", e.name);
            ck.check(&name, &now[e.offset..e.offset + e.len], &fx.f64(&name));
        }
    }
}
