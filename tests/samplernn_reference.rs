//! The f64 SampleRNN reference (src/samplernn/reference) against the PyTorch fixtures in
//! tests/fixtures/samplernn (see tests/fixtures/README.md, "SampleRNN fixtures"), against
//! finite differences, and the SampleRNN checkpoint reader and writer. CPU only.

mod common;

use common::{Fixture, TestRng};
use gruwave::reference::Adam;
use gruwave::samplernn::reference::{
    clamp_grads, forward, forward_backward, generate, generate_primed, Chunk,
};
use gruwave::samplernn::{SrnnConfig, SrnnLayout};

const TINY: &str = "samplernn/samplernn_tiny.safetensors";
const SAMPLE: &str = "samplernn/samplernn_sample.safetensors";

/// The fixtures' model: frame sizes [4, 2], D 32, R 1, q 16.
fn fixture_layout() -> SrnnLayout {
    SrnnLayout::new(&SrnnConfig::new(&[4, 2], 32, 1, 16).unwrap())
}

/// The tensors `prefix` + name + `suffix` of every entry of the layout, as a flat vector.
fn flat(fx: &Fixture, layout: &SrnnLayout, prefix: &str, suffix: &str) -> Vec<f64> {
    let mut flat = vec![0.0; layout.total];
    for e in &layout.entries {
        let t = fx.f64(&format!("{prefix}{}{suffix}", e.name));
        assert_eq!(t.len(), e.len, "{}", e.name);
        flat[e.offset..e.offset + e.len].copy_from_slice(&t);
    }
    flat
}

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Tracks the largest error of each quantity and asserts each under its tolerance.
struct Errors(Vec<(String, f64)>);

impl Errors {
    fn check(&mut self, what: &str, got: &[f64], want: &[f64], tol: f64) {
        let e = max_abs(got, want);
        assert!(e <= tol, "{what}: max abs error {e:e} > {tol:e}");
        match self.0.iter_mut().find(|(w, _)| w == what) {
            Some((_, m)) => *m = m.max(e),
            None => self.0.push((what.to_string(), e)),
        }
    }

    fn report(&self, title: &str) {
        for (what, e) in &self.0 {
            eprintln!("{title}: {what}: max abs error {e:.2e}");
        }
    }
}

/// Chunk c (0-based) of the fixture's tokens: `[B, L+T]`.
fn chunk_window(tokens: &[i64], batch: usize, lookback: usize, tbptt: usize, c: usize) -> Vec<u32> {
    let len = tokens.len() / batch;
    (0..batch)
        .flat_map(|b| {
            tokens[b * len + c * tbptt..][..lookback + tbptt]
                .iter()
                .map(|&x| x as u32)
        })
        .collect()
}

#[test]
fn chunks_match_pytorch_forward_and_gradients() {
    let fx = Fixture::open(TINY);
    let layout = fixture_layout();
    let params = flat(&fx, &layout, "", "");
    let (batch, tbptt, lookback) = (2, 32, 8);
    let tokens = fx.i64("tokens");
    let mut errs = Errors(Vec::new());
    let mut state: Vec<Vec<f64>> = Vec::new();
    for c in 1..=2 {
        let window = chunk_window(&tokens, batch, lookback, tbptt, c - 1);
        let reset = [c == 1; 2];
        let (f, g) = forward_backward(
            &layout,
            &params,
            Chunk {
                window: &window,
                batch,
                tbptt,
                reset: &reset,
                state: &state,
            },
        );
        let p = format!("chunk{c}.");
        errs.check("logp", &f.logp, &fx.f64(&format!("{p}logp.f64")), 1e-9);
        errs.check(
            "loss_nats",
            &[f.loss_nats],
            &fx.f64(&format!("{p}loss_nats.f64")),
            1e-9,
        );
        errs.check(
            "loss_bits",
            &[f.loss_bits],
            &fx.f64(&format!("{p}loss_bits.f64")),
            1e-9,
        );
        for k in 0..2 {
            errs.check(
                "h0",
                &f.h_start[k],
                &fx.f64(&format!("{p}tier{k}.h0.f64")),
                1e-9,
            );
            errs.check("hn", &f.hn[k], &fx.f64(&format!("{p}tier{k}.hn.f64")), 1e-9);
            if c == 1 {
                errs.check(
                    "cond",
                    &f.cond[k],
                    &fx.f64(&format!("{p}tier{k}.cond.f64")),
                    1e-9,
                );
            }
        }
        for e in &layout.entries {
            let want = fx.f64(&format!("{p}grad.{}.f64", e.name));
            errs.check("grad", &g[e.offset..e.offset + e.len], &want, 1e-9);
        }
        let mut in_tensor = vec![false; layout.total];
        for e in &layout.entries {
            in_tensor[e.offset..e.offset + e.len].fill(true);
        }
        assert!(
            g.iter().zip(&in_tensor).all(|(x, &t)| t || *x == 0.0),
            "padding has a gradient"
        );
        state = f.hn;
    }
    errs.report("samplernn_tiny chunks");
}

#[test]
fn one_clipped_adam_step_matches_pytorch() {
    let fx = Fixture::open(TINY);
    let layout = fixture_layout();
    let mut params = flat(&fx, &layout, "", "");
    let tokens = fx.i64("tokens");
    let window = chunk_window(&tokens, 2, 8, 32, 0);
    let (_, mut g) = forward_backward(
        &layout,
        &params,
        Chunk {
            window: &window,
            batch: 2,
            tbptt: 32,
            reset: &[true; 2],
            state: &[],
        },
    );
    clamp_grads(&mut g, 1.0);
    let mut adam = Adam::new(layout.total, 1e-3);
    adam.step(&mut params, &g);
    // The f64 values to 1e-9; the F32 ones at the README's atol (near-zero gradients
    // make the first step sensitive to rounding).
    let want = flat(&fx, &layout, "adam.param.", ".f64");
    let want32 = flat(&fx, &layout, "adam.param.", "");
    let mut errs = Errors(Vec::new());
    for e in &layout.entries {
        let r = e.offset..e.offset + e.len;
        errs.check(
            "adam.param (f64)",
            &params[r.clone()],
            &want[r.clone()],
            1e-9,
        );
        errs.check("adam.param (F32)", &params[r.clone()], &want32[r], 2e-6);
    }
    errs.report("samplernn_tiny one training step");
}

#[test]
fn elementwise_clip_and_two_adam_steps_match_pytorch() {
    let fx = Fixture::open(TINY);
    let names = ["a", "h"];
    let get = |what: &str| -> Vec<f64> {
        names
            .iter()
            .flat_map(|n| fx.f64(&what.replace("<t>", n)))
            .collect()
    };
    let mut params = get("clip_adam.param.<t>.step0");
    let mut adam = Adam::new(params.len(), 1e-3);
    let mut errs = Errors(Vec::new());
    for k in 1..=2 {
        let mut g = get(&format!("clip_adam.grad.<t>.step{k}"));
        clamp_grads(&mut g, 1.0);
        errs.check(
            "clipped",
            &g,
            &get(&format!("clip_adam.clipped.<t>.step{k}.f64")),
            1e-12,
        );
        adam.step(&mut params, &g);
        errs.check(
            "param",
            &params,
            &get(&format!("clip_adam.param.<t>.step{k}.f64")),
            1e-12,
        );
        errs.check(
            "exp_avg",
            &adam.m,
            &get(&format!("clip_adam.exp_avg.<t>.step{k}.f64")),
            1e-12,
        );
        errs.check(
            "exp_avg_sq",
            &adam.v,
            &get(&format!("clip_adam.exp_avg_sq.<t>.step{k}.f64")),
            1e-12,
        );
    }
    errs.report("clip_adam");
}

#[test]
fn sampling_matches_pytorch_and_teacher_forcing() {
    let fx = Fixture::open(SAMPLE);
    let layout = fixture_layout();
    let params = flat(&fx, &layout, "", "");
    let meta = fx.metadata();
    let (lookback, q) = (8, 16u32);
    let mut errs = Errors(Vec::new());
    for name in ["temp1_0", "temp0_8"] {
        let u = fx.f64(&format!("{name}.u"));
        let tau: f64 = meta[&format!("{name}.temperature")].parse().unwrap();
        let gen = generate(&layout, &params, &u, 1, tau);
        let want: Vec<u32> = fx
            .i64(&format!("{name}.tokens"))
            .iter()
            .map(|&x| x as u32)
            .collect();
        assert_eq!(gen.tokens, want, "{name}: tokens");
        errs.check(
            "logp",
            &gen.logp,
            &fx.f64(&format!("{name}.logp.f64")),
            1e-9,
        );
        errs.check(
            "probs",
            &gen.probs,
            &fx.f64(&format!("{name}.probs.f64")),
            1e-9,
        );
        errs.check(
            "cond0",
            &gen.cond0,
            &fx.f64(&format!("{name}.cond0.f64")),
            1e-9,
        );

        // One training forward (reset, T = N) over [q/2]*L + tokens gives the same logp.
        let n = want.len();
        let window: Vec<u32> = std::iter::repeat_n(q / 2, lookback)
            .chain(want.iter().copied())
            .collect();
        let f = forward(
            &layout,
            &params,
            Chunk {
                window: &window,
                batch: 1,
                tbptt: n,
                reset: &[true],
                state: &[],
            },
        );
        errs.check("teacher-forced logp", &f.logp, &gen.logp, 1e-12);

        // Priming with the first 10 tokens, then sampling with the remaining uniforms,
        // continues the same trace.
        let p = 10;
        let primed = generate_primed(&layout, &params, &u[p..], 1, tau, &[want[..p].to_vec()]);
        assert_eq!(primed.tokens, want[p..], "{name}: primed tokens");
        errs.check(
            "primed logp",
            &primed.logp,
            &gen.logp[p * q as usize..],
            1e-12,
        );
    }
    errs.report("samplernn_sample");
}

/// Random parameters U(-0.5, 0.5) in the layout, padding 0.
fn random_params(layout: &SrnnLayout, rng: &mut TestRng) -> Vec<f64> {
    let mut p = vec![0.0; layout.total];
    for e in &layout.entries {
        for x in &mut p[e.offset..e.offset + e.len] {
            *x = rng.uniform(-0.5, 0.5);
        }
    }
    p
}

/// Central differences of the bits loss against the analytic gradient, at up to 6
/// elements of every tensor; returns the largest relative error.
fn finite_differences(frame_sizes: &[usize], rnn_layers: usize, seed: u64) -> f64 {
    let (dim, levels, batch) = (5, 7, 3);
    let layout = SrnnLayout::new(&SrnnConfig::new(frame_sizes, dim, rnn_layers, levels).unwrap());
    let c = &layout.config;
    let (tbptt, lookback) = (2 * c.lookback(), c.lookback());
    let mut rng = TestRng(seed);
    let params = random_params(&layout, &mut rng);
    let window: Vec<u32> = (0..batch * (lookback + tbptt))
        .map(|_| rng.below(levels as u32))
        .collect();
    // Streams 0 and 2 start from h0, stream 1 from a carried state.
    let reset = [true, false, true];
    let state: Vec<Vec<f64>> = (0..c.tiers())
        .map(|_| {
            (0..rnn_layers * batch * dim)
                .map(|_| rng.uniform(-0.9, 0.9))
                .collect()
        })
        .collect();
    let chunk = Chunk {
        window: &window,
        batch,
        tbptt,
        reset: &reset,
        state: &state,
    };
    let loss = |p: &[f64]| forward(&layout, p, chunk).loss_bits;
    let (_, g) = forward_backward(&layout, &params, chunk);
    let (eps, mut worst) = (1e-5, 0.0f64);
    for e in &layout.entries {
        let picks = (0..6).map(|i| {
            if i == 0 {
                0
            } else {
                rng.below(e.len as u32) as usize
            }
        });
        for i in picks {
            let at = e.offset + i;
            let (mut plus, mut minus) = (params.clone(), params.clone());
            plus[at] += eps;
            minus[at] -= eps;
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * eps);
            let rel = (fd - g[at]).abs() / fd.abs().max(g[at].abs()).max(1e-3);
            assert!(
                rel < 1e-6,
                "{} [{i}]: analytic {} vs central difference {fd}",
                e.name,
                g[at]
            );
            worst = worst.max(rel);
        }
    }
    worst
}

#[test]
fn gradients_match_finite_differences() {
    for (fs, r, seed) in [
        (&[3usize, 2][..], 2, 1),
        (&[2, 2, 3][..], 1, 2),
        (&[3][..], 2, 3),
    ] {
        let worst = finite_differences(fs, r, seed);
        eprintln!("finite differences {fs:?} R={r}: max relative error {worst:.2e}");
    }
}

// ---------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------

use gruwave::samplernn::{init_params, is_samplernn, load_srnn, parse_srnn, save_srnn};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::HashMap;
use std::path::Path;

/// One tensor to write: name, dtype, shape, little-endian bytes.
type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

fn f32_tensor(name: &str, shape: Vec<usize>, data: &[f32]) -> RawTensor {
    let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    (name.to_string(), Dtype::F32, shape, bytes)
}

fn write_raw(path: &Path, tensors: &[RawTensor], meta: &[(&str, &str)]) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, dt, s, d)| (n.clone(), TensorView::new(*dt, s.clone(), d).unwrap()))
        .collect();
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

/// The fixture model's 24 parameter tensors, each name prefixed with `prefix`.
fn fixture_tensors(prefix: &str) -> Vec<RawTensor> {
    let fx = Fixture::open(TINY);
    let layout = fixture_layout();
    (layout.entries.iter())
        .map(|e| {
            f32_tensor(
                &format!("{prefix}{}", e.name),
                e.shape.clone(),
                &fx.f32(&e.name),
            )
        })
        .collect()
}

#[test]
fn checkpoint_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    for (fs, r, q, codec) in [
        (&[4usize, 2][..], 1, 256, Some("mulaw256")),
        (&[2, 2, 3][..], 2, 16, None),
    ] {
        let c = SrnnConfig::new(fs, 8, r, q).unwrap();
        let layout = SrnnLayout::new(&c);
        let params = init_params(&c, 5);
        let path = dir.path().join("m.safetensors");
        save_srnn(&path, &layout, &params, Some(22_050), codec).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(is_samplernn(&bytes));
        let ck = load_srnn(&path).unwrap();
        assert_eq!(ck.layout, layout);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ck.params), bits(&params));
        assert_eq!((ck.sample_rate, ck.codec.as_deref()), (Some(22_050), codec));
        save_srnn(&path, &layout, &params, Some(22_050), codec).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "saving is deterministic"
        );
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.len(), layout.entries.len());
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["model"], "samplernn");
    }
    let grulm = std::fs::read(common::fixture_path("gru_lm_small.safetensors")).unwrap();
    assert!(!is_samplernn(&grulm));
    assert!(!is_samplernn(b"not safetensors"));
}

#[test]
fn fixture_parameters_load_with_and_without_the_model_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::open(TINY);
    let layout = fixture_layout();
    for prefix in ["", "model."] {
        let path = dir.path().join("fixture.safetensors");
        write_raw(&path, &fixture_tensors(prefix), &[]);
        assert!(is_samplernn(&std::fs::read(&path).unwrap()));
        let ck = load_srnn(&path).unwrap();
        assert_eq!(ck.layout, layout, "prefix {prefix:?}");
        assert_eq!((ck.sample_rate, ck.codec), (None, None));
        for e in &layout.entries {
            assert_eq!(
                &ck.params[e.offset..e.offset + e.len],
                &fx.f32(&e.name)[..],
                "{}",
                e.name
            );
        }
    }
}

/// Parses the fixture tensors after `edit`, expecting an error that mentions every one of
/// `want` (and the file).
fn expect_error(
    what: &str,
    edit: impl FnOnce(&mut Vec<RawTensor>),
    meta: &[(&str, &str)],
    want: &[&str],
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let mut tensors = fixture_tensors("");
    edit(&mut tensors);
    write_raw(&path, &tensors, meta);
    let bytes = std::fs::read(&path).unwrap();
    let err = match parse_srnn(&bytes, &path) {
        Ok(_) => panic!("{what}: loaded"),
        Err(e) => format!("{e:#}"),
    };
    for w in want.iter().chain(&["bad.safetensors"]) {
        assert!(
            err.contains(w),
            "{what}: error {err:?} does not mention {w:?}"
        );
    }
}

fn replace(tensors: &mut [RawTensor], name: &str, new: RawTensor) {
    let t = tensors.iter_mut().find(|t| t.0 == name).unwrap();
    *t = new;
}

const OUT_BIAS: &str = "sample_level_mlp.output.bias";

#[test]
fn bad_checkpoint_shapes_are_clear_errors() {
    let bias_hh = "frame_level_rnns.1.rnn.bias_hh_l0";
    expect_error(
        "missing tensor",
        |t| t.retain(|x| x.0 != bias_hh),
        &[],
        &["no tensor", bias_hh],
    );
    let out_bias = OUT_BIAS;
    expect_error(
        "wrong shape",
        |t| replace(t, out_bias, f32_tensor(out_bias, vec![15], &[0.0; 15])),
        &[],
        &[out_bias, "[15]", "[16]"],
    );
    let expand1 = "frame_level_rnns.1.input_expand.weight";
    expect_error(
        "n_k inconsistent",
        |t| replace(t, expand1, f32_tensor(expand1, vec![32, 6, 1], &[0.0; 192])),
        &[],
        &["n_1 = 6", "frame_level_rnns.1.upsampling.bias", "4 x 2"],
    );
    let hidden = "sample_level_mlp.hidden.weight";
    expect_error(
        "0-row tensor",
        |t| replace(t, hidden, f32_tensor(hidden, vec![0, 32, 1], &[])),
        &[],
        &["width D is 0"],
    );
    expect_error(
        "huge D",
        |t| replace(t, hidden, f32_tensor(hidden, vec![1 << 40, 0, 1], &[])),
        &[],
        &["width D is 1099511627776"],
    );
    let up1 = "frame_level_rnns.1.upsampling.bias";
    expect_error(
        "huge frame size",
        |t| {
            replace(t, expand1, f32_tensor(expand1, vec![0, 4 << 36, 1], &[]));
            replace(t, up1, f32_tensor(up1, vec![0, 1 << 36], &[]));
        },
        &[],
        &["lookback"],
    );
}

#[test]
fn bad_checkpoint_contents_are_clear_errors() {
    let out_bias = OUT_BIAS;
    expect_error(
        "wrong dtype",
        |t| {
            replace(
                t,
                out_bias,
                (out_bias.to_string(), Dtype::I32, vec![16], vec![0; 64]),
            )
        },
        &[],
        &[out_bias, "I32"],
    );
    expect_error(
        "non-finite value",
        |t| replace(t, out_bias, f32_tensor(out_bias, vec![16], &[f32::NAN; 16])),
        &[],
        &[out_bias, "non-finite"],
    );
    expect_error(
        "extra tensor",
        |t| t.push(f32_tensor("sample_level_mlp.extra", vec![1], &[0.0])),
        &[],
        &["unexpected tensor 'sample_level_mlp.extra'"],
    );
    let g = "frame_level_rnns.0.input_expand.weight_g";
    expect_error(
        "weight norm",
        |t| t.push(f32_tensor(g, vec![32, 1, 1], &[1.0; 32])),
        &[],
        &[g, "weight-normalised"],
    );
    let emb = "sample_level_mlp.embedding.weight";
    expect_error(
        "no marker",
        |t| t.retain(|x| x.0 != emb),
        &[],
        &["not a SampleRNN", emb],
    );
    expect_error(
        "bad sample rate",
        |_| {},
        &[("sample_rate", "abc")],
        &["sample_rate"],
    );
    expect_error(
        "codec of another q",
        |_| {},
        &[("codec", "mulaw256")],
        &["mulaw256", "q = 16"],
    );
    let path = Path::new("garbage.safetensors");
    let err = format!("{:#}", parse_srnn(b"\xff\xff", path).unwrap_err());
    assert!(
        err.contains("garbage.safetensors") && err.contains("not a safetensors"),
        "{err}"
    );
}
