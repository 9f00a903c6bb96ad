//! SampleRNN generation: the GPU sampler against the PyTorch fixture trace and against its
//! f64 CPU twin, and each of its ops against its twin on ragged shapes.

mod common;
use common::*;
use gruwave::gpu::ProgramBuilder;
use gruwave::kernels::ops::srnn_sample::{
    FrameParams, MlpBufs, MlpParams, SrnnControls, NO_TOKEN, SRNN_CONTROL_WORDS,
};
use gruwave::kernels::ops::word;
use gruwave::kernels::Buf;
use gruwave::reference::{self as twin, SrnnTwinSampler};
use gruwave::samplernn::{SrnnConfig, SrnnLayout, SrnnSampler};

/// Relative error allowed between an f32 op and its f64 twin on the same f32 inputs.
const TWIN_TOL: f64 = 1e-5;
/// Absolute error allowed between the GPU's f32 trace and the fixture's f64 values.
const FIXTURE_TOL: f64 = 1e-4;

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn upload<T: bytemuck::Pod>(pb: &mut ProgramBuilder, v: &[T]) -> (Buf, wgpu::Buffer) {
    let (gpu, _) = gpu();
    let b = gpu.storage_from("test", v);
    (Buf::register(pb, &b), b)
}

fn read_f64(b: &wgpu::Buffer, n: usize) -> Vec<f64> {
    let (gpu, _) = gpu();
    to_f64(&gpu.read::<f32>(b, 0, n).unwrap())
}

fn random(rng: &mut TestRng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi) as f32).collect()
}

/// (logp, probs at `temperature`) of logits `[N, q]`, in f64.
fn logp_probs(logits: &[f64], q: usize, temperature: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut logp, mut probs) = (Vec::new(), Vec::new());
    for row in logits.chunks(q) {
        let m = row.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        logp.extend(row.iter().map(|x| x - lse));
        let w: Vec<f64> = row.iter().map(|x| ((x - m) / temperature).exp()).collect();
        let z: f64 = w.iter().sum();
        probs.extend(w.iter().map(|x| x / z));
    }
    (logp, probs)
}

/// The fixture model (q 16, D 32, R 1, [4, 2]) by state_dict name into the layout.
fn fixture_model(f: &Fixture) -> (SrnnLayout, Vec<f64>) {
    let layout = SrnnLayout::new(&SrnnConfig::new(&[4, 2], 32, 1, 16).unwrap());
    let mut p = vec![0.0; layout.total];
    for e in &layout.entries {
        let t = f.f64(&e.name);
        assert_eq!(t.len(), e.len, "{}", e.name);
        p[e.offset..e.offset + e.len].copy_from_slice(&t);
    }
    (layout, p)
}

/// The fixture's generation at both temperatures from its uniforms: the GPU sampler and
/// the twin give its tokens, and its logp, probs and c0 within FIXTURE_TOL (GPU, f32) and
/// 1e-9 (twin, f64).
#[test]
fn gpu_sampler_reproduces_the_pytorch_trace() {
    let f = Fixture::open("samplernn/samplernn_sample.safetensors");
    let (layout, p64) = fixture_model(&f);
    let p32: Vec<f32> = p64.iter().map(|&x| x as f32).collect();
    let (gpu, k) = gpu();
    for (pre, tau, tau64) in [("temp1_0", 1.0f32, 1.0), ("temp0_8", 0.8, 0.8)] {
        let u = vec![f.f32(&format!("{pre}.u"))];
        let want_tok: Vec<u32> = f
            .i64(&format!("{pre}.tokens"))
            .iter()
            .map(|&t| t as u32)
            .collect();
        let n = want_tok.len();
        let mut s = SrnnSampler::new(&gpu, &k, &layout, &p32, 1, tau, 7).unwrap();
        s = s.with_uniforms(&u).unwrap().with_trace(n).unwrap();
        let got = s.generate(n, &mut |_| {}).unwrap();
        assert_eq!(got[0], want_tok, "{pre}: GPU tokens");
        let mut t = SrnnTwinSampler::new(&layout, &p64, 1, tau, 7).unwrap();
        t = t.with_uniforms(&u).unwrap().with_trace(n).unwrap();
        assert_eq!(t.generate(n).unwrap()[0], want_tok, "{pre}: twin tokens");
        let want = |x: &str| f.f64(&format!("{pre}.{x}.f64"));
        let gt = s.read_trace().unwrap();
        let tt = t.trace();
        for (who, logits, cond0, tol) in [
            ("GPU", to_f64(&gt.logits), to_f64(&gt.cond0), FIXTURE_TOL),
            ("twin", tt.logits, tt.cond0, 1e-9),
        ] {
            let (logp, probs) = logp_probs(&logits, 16, tau64);
            let errs = [
                max_abs(&logp, &want("logp")),
                max_abs(&probs, &want("probs")),
                max_abs(&cond0, &want("cond0")),
            ];
            eprintln!(
                "{pre} {who}: max abs err logp {:.1e} probs {:.1e} cond0 {:.1e}",
                errs[0], errs[1], errs[2]
            );
            assert!(errs.iter().all(|&e| e < tol), "{pre} {who}: {errs:?}");
        }
    }
}

#[test]
fn srnn_frame_input_matches_its_twin() {
    let (_, k) = gpu();
    let mut rng = TestRng(31);
    for (s, d, n, q, fs_up) in [(1, 7, 3, 10, 2), (3, 33, 6, 15, 3), (3, 1, 1, 2, 1)] {
        for cond in [0, 1] {
            let rows = n + 4;
            let hist: Vec<u32> = (0..rows * s).map(|_| rng.below(q as u32)).collect();
            let w = random(&mut rng, 3 + d * n + d, -1.0, 1.0);
            let up = random(&mut rng, 2 + s * d * fs_up, -1.0, 1.0);
            let x0 = random(&mut rng, 5 + s * d, -1.0, 1.0);
            let p = FrameParams {
                streams: word(s),
                dim: word(d),
                n: word(n),
                levels: word(q),
                row0: 3,
                wexp_off: 3,
                bexp_off: word(3 + d * n),
                cond,
                cond_off: 1 + cond * (fs_up as u32 - 1),
                cond_rs: word(d * fs_up),
                cond_cs: word(fs_up),
                x_off: 4,
            };
            let mut want = to_f64(&x0);
            twin::srnn_frame_input(&p, &to_f64(&w), &hist, &to_f64(&up), &mut want);
            let mut pb = ProgramBuilder::new();
            let (wb, _w) = upload(&mut pb, &w);
            let (hb, _h) = upload(&mut pb, &hist);
            let (ub, _u) = upload(&mut pb, &up);
            let (xb, xbuf) = upload(&mut pb, &x0);
            k.record_srnn_frame_input(&mut pb, &p, wb, hb, ub, xb);
            run(pb);
            let err = rel_err(&read_f64(&xbuf, x0.len()), &want);
            eprintln!("srnn_frame_input S={s} D={d} n={n} q={q} cond={cond}: rel err {err:.1e}");
            assert!(
                err < TWIN_TOL,
                "srnn_frame_input S={s} D={d} n={n}: {err:.2e}"
            );
        }
    }
}

/// The MLP of sample 1 drawn into history row `out_row`, its weights packed from sw[2],
/// c0 as slot 0 of two.
fn mlp_params((s, d, q, fs0): (usize, usize, usize, usize), out_row: usize) -> MlpParams {
    MlpParams {
        streams: word(s),
        dim: word(d),
        levels: word(q),
        fs0: word(fs0),
        j: 1,
        tok_row: word(out_row - fs0),
        out_row: word(out_row),
        table_off: 2,
        whid_off: word(2 + fs0 * q * d),
        bhid_off: word(2 + fs0 * q * d + d * d),
        wout_off: word(2 + fs0 * q * d + d * d + d),
        bout_off: word(2 + fs0 * q * d + d * d + d + d * q),
        cond_off: 2,
        cond_rs: word(2 * d),
        cond_cs: 2,
    }
}

/// Controls of a period at sample 3 after a prefix of 2, `given_len` draws given.
fn controls(temperature: f32, given_len: u32) -> SrnnControls {
    SrnnControls {
        seed_lo: 9,
        seed_hi: 1,
        pos: 3,
        primed: 2,
        temperature,
        given_len,
        trace_len: 5,
    }
}

/// One MLP case: shapes, temperature, and whether the first stream's row is forced.
fn mlp_case(
    rng: &mut TestRng,
    (s, d, q, fs0): (usize, usize, usize, usize),
    temperature: f32,
    force: bool,
) {
    let (_, k) = gpu();
    let rows = fs0 + 3;
    let out_row = rows - 1;
    let mut hist: Vec<u32> = (0..rows * s).map(|_| rng.below(q as u32)).collect();
    hist[out_row * s..].fill(NO_TOKEN);
    if force {
        hist[out_row * s] = 1;
    }
    let sw_len = 2 + fs0 * q * d + d * d + d + d * q + q;
    let sw = random(rng, sw_len, -0.8, 0.8);
    let up = random(rng, 1 + s * d * 2, -1.0, 1.0);
    let act0 = random(rng, s * (2 * d + q), -1.0, 1.0);
    let given = random(rng, 3 * s, 0.0, 1.0);
    let ctl = controls(temperature, 2 + rng.below(2));
    let trace0 = vec![0.0f32; 5 * s * (q + d)];
    let p = mlp_params((s, d, q, fs0), out_row);
    let (mut want_hist, mut want_act, mut want_trace) =
        (hist.clone(), to_f64(&act0), to_f64(&trace0));
    twin::srnn_mlp_draw(
        &p,
        &mut twin::srnn_sample::MlpBufs {
            sw: &to_f64(&sw),
            hist: &mut want_hist,
            up: &to_f64(&up),
            act: &mut want_act,
            ctl: &ctl,
            given: &given,
            trace: &mut want_trace,
        },
    );
    let mut pb = ProgramBuilder::new();
    let ctl_words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&ctl));
    assert_eq!(ctl_words.len(), SRNN_CONTROL_WORDS);
    let bufs = [
        upload(&mut pb, &sw),
        upload(&mut pb, &hist),
        upload(&mut pb, &up),
        upload(&mut pb, &act0),
        upload(&mut pb, ctl_words),
        upload(&mut pb, &given),
        upload(&mut pb, &trace0),
    ];
    ctl.check(s, q, d, given.len(), trace0.len());
    let [sw_b, hist_b, up_b, act_b, ctl_b, given_b, trace_b] = bufs.each_ref().map(|b| b.0);
    let mb = MlpBufs {
        sw: sw_b,
        hist: hist_b,
        up: up_b,
        act: act_b,
        ctl: ctl_b,
        given: given_b,
        trace: trace_b,
    };
    k.record_srnn_mlp_draw(&mut pb, &p, &mb);
    run(pb);
    let what = format!("srnn_mlp_draw S={s} D={d} q={q} FS0={fs0} T={temperature} forced={force}");
    let (gpu, _) = gpu();
    assert_eq!(
        gpu.read::<u32>(&bufs[1].1, 0, hist.len()).unwrap(),
        want_hist,
        "{what}: tokens"
    );
    let err_act = rel_err(&read_f64(&bufs[3].1, act0.len()), &want_act);
    let err_trace = rel_err(&read_f64(&bufs[6].1, trace0.len()), &want_trace);
    eprintln!("{what}: rel err activations {err_act:.1e}, trace {err_trace:.1e}");
    assert!(
        err_act < TWIN_TOL && err_trace < TWIN_TOL,
        "{what}: {err_act:.2e} {err_trace:.2e}"
    );
}

#[test]
fn srnn_mlp_draw_matches_its_twin() {
    let mut rng = TestRng(32);
    for shape in [(1, 7, 10, 3), (3, 33, 300, 2), (3, 1, 2, 1), (2, 260, 7, 4)] {
        for (t, force) in [(1.0, false), (0.7, true), (0.0, false)] {
            mlp_case(&mut rng, shape, t, force);
        }
    }
}

/// A random model with ragged sizes: [3, 2] (L 6), D 7, R 2, q 10.
fn random_model(seed: u64) -> (SrnnLayout, Vec<f32>, Vec<f64>) {
    let layout = SrnnLayout::new(&SrnnConfig::new(&[3, 2], 7, 2, 10).unwrap());
    let mut rng = TestRng(seed);
    let p32 = random(&mut rng, layout.total, -0.5, 0.5);
    let p64 = to_f64(&p32);
    (layout, p32, p64)
}

/// The GPU sampler gives the twin's tokens for 1 and 3 streams, however the samples are
/// split into calls and submits.
#[test]
fn gpu_sampler_matches_its_twin_for_any_split() {
    let (gpu, k) = gpu();
    let (layout, p32, p64) = random_model(41);
    for (streams, tau) in [(1, 1.0f32), (3, 0.9)] {
        let mut t = SrnnTwinSampler::new(&layout, &p64, streams, tau, 5).unwrap();
        let want = t.generate(24).unwrap();
        for (splits, submit) in [
            (vec![24], 100),
            (vec![5, 19], 100),
            (vec![1, 6, 17], 1),
            (vec![13, 11], 2),
        ] {
            let mut s = SrnnSampler::new(&gpu, &k, &layout, &p32, streams, tau, 5).unwrap();
            s = s.with_submit_periods(submit).unwrap();
            let mut got = vec![Vec::new(); streams];
            for n in &splits {
                let part = s.generate(*n, &mut |_| {}).unwrap();
                got.iter_mut().zip(part).for_each(|(g, p)| g.extend(p));
            }
            assert_eq!(got, want, "S={streams} splits {splits:?} submit {submit}");
        }
        let s = SrnnSampler::new(&gpu, &k, &layout, &p32, streams, tau, 5).unwrap();
        eprintln!(
            "S={streams}: {:.3} dispatches per sample",
            s.dispatches_per_sample()
        );
    }
}

/// Priming (a prefix of 10 samples per stream, not a whole period) then generating gives
/// the twin's tokens, and the same as priming again.
#[test]
fn primed_gpu_sampler_matches_primed_twin() {
    let (gpu, k) = gpu();
    let (layout, p32, p64) = random_model(43);
    let mut rng = TestRng(44);
    let streams = 3;
    let prefix: Vec<Vec<u32>> = (0..streams)
        .map(|_| (0..10).map(|_| rng.below(10)).collect())
        .collect();
    let mut t = SrnnTwinSampler::new(&layout, &p64, streams, 1.0, 3)
        .unwrap()
        .with_trace(16)
        .unwrap();
    t.prime(&prefix).unwrap();
    let want = t.generate(13).unwrap();
    let mut s = SrnnSampler::new(&gpu, &k, &layout, &p32, streams, 1.0, 3)
        .unwrap()
        .with_trace(16)
        .unwrap();
    s.generate(4, &mut |_| {}).unwrap();
    s.prime(&prefix).unwrap();
    assert_eq!(s.generate(13, &mut |_| {}).unwrap(), want, "primed tokens");
    let (gt, tt) = (s.read_trace().unwrap(), t.trace());
    let err = rel_err(&to_f64(&gt.logits), &tt.logits);
    eprintln!("primed logits: rel err {err:.1e}");
    assert!(err < TWIN_TOL, "primed logits {err:.2e}");
    // The prefix differs from what an unprimed stream draws.
    let mut fresh = SrnnTwinSampler::new(&layout, &p64, streams, 1.0, 3).unwrap();
    assert_ne!(fresh.generate(13).unwrap(), want);
    assert!(s.prime(&[vec![10]]).is_err(), "a token outside the levels");
    assert!(
        s.prime(&[vec![1], vec![1, 2], vec![3]]).is_err(),
        "ragged prefixes"
    );
}

#[test]
fn bad_sizes_are_errors() {
    let (gpu, k) = gpu();
    let (layout, p32, _) = random_model(45);
    assert!(SrnnSampler::new(&gpu, &k, &layout, &p32, 0, 1.0, 0).is_err());
    assert!(SrnnSampler::new(&gpu, &k, &layout, &p32, 5000, 1.0, 0).is_err());
    assert!(SrnnSampler::new(&gpu, &k, &layout, &p32[1..], 1, 1.0, 0).is_err());
    assert!(SrnnSampler::new(&gpu, &k, &layout, &p32, 1, f32::NAN, 0).is_err());
    assert!(SrnnSampler::new(&gpu, &k, &layout, &p32, 1, -1.0, 0).is_err());
}

/// The GPU sampler against the independent whole-model reference
/// (`samplernn::reference::generate`), given the same uniforms: identical tokens for 1 and
/// 3 streams, three tiers, however the samples are split into calls and submits.
#[test]
fn gpu_sampler_matches_the_model_reference() {
    let (gpu, k) = gpu();
    let layout = SrnnLayout::new(&SrnnConfig::new(&[2, 2, 3], 9, 2, 11).unwrap());
    let mut rng = TestRng(97);
    let p32 = random(&mut rng, layout.total, -0.5, 0.5);
    let n = 3 * layout.config.lookback();
    for (streams, tau) in [(1, 1.0f32), (3, 0.8)] {
        let u: Vec<Vec<f32>> = (0..streams)
            .map(|_| random(&mut rng, n, 0.0, 1.0))
            .collect();
        let flat: Vec<f64> = u.iter().flat_map(|r| r.iter().map(|&x| x as f64)).collect();
        let want = gruwave::samplernn::reference::generate(
            &layout,
            &to_f64(&p32),
            &flat,
            streams,
            tau as f64,
        );
        for (splits, submit) in [(vec![n], 100), (vec![7, n - 7], 1)] {
            let mut s = SrnnSampler::new(&gpu, &k, &layout, &p32, streams, tau, 3).unwrap();
            s = s
                .with_uniforms(&u)
                .unwrap()
                .with_submit_periods(submit)
                .unwrap();
            let mut got = vec![Vec::new(); streams];
            for part in &splits {
                let out = s.generate(*part, &mut |_| {}).unwrap();
                got.iter_mut().zip(out).for_each(|(g, p)| g.extend(p));
            }
            let got: Vec<u32> = got.concat();
            assert_eq!(got, want.tokens, "S={streams} splits {splits:?}");
        }
    }
}
