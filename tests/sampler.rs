//! The GPU sampler against the CPU reference and its CPU twin of the draw.

mod common;
use common::*;
use gruwave::model::{ModelConfig, ParamKind, ParamLayout};
use gruwave::reference;
use gruwave::sample::{draw, edge_distance, uniform, SampleOptions, Sampler, Tuning};
use gruwave::train::Workspace;
use gruwave::Kernels;
use std::sync::Arc;

fn random_model(
    rng: &mut TestRng,
    v: usize,
    e: usize,
    h: usize,
    l: usize,
) -> (ParamLayout, Vec<f32>) {
    let layout = ParamLayout::new(&ModelConfig::new(v, e, h, l).unwrap());
    let mut p = vec![0.0f32; layout.total];
    for en in &layout.entries {
        for x in &mut p[en.offset..en.offset + en.len] {
            *x = rng.uniform(-0.8, 0.8) as f32;
        }
    }
    (layout, p)
}

/// One reference step per token: (logits, new state) from `state` after feeding `tok`.
fn ref_step(layout: &ParamLayout, p: &[f64], tok: u32, state: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let f = reference::forward(layout, p, &[tok], &[0], 1, 1, state);
    (f.logits, f.hn)
}

/// Generate on the GPU and replay each stream on the CPU with the same random numbers.
/// Returns how many tokens were compared (a stream stops being compared once its random
/// number lies within `margin` of a bin edge, where f32 rounding may legitimately differ).
fn compare_with_reference(opts: SampleOptions, prime: &[u32], streams: usize, n: usize) -> usize {
    let (_, k) = gpu();
    compare_with_reference_tuned(opts, prime, streams, n, None, &k, (11, 9))
}

/// As `compare_with_reference`, with a given work split, kernel build and (vocabulary,
/// hidden size) of a two-layer model.
fn compare_with_reference_tuned(
    opts: SampleOptions,
    prime: &[u32],
    streams: usize,
    n: usize,
    tuning: Option<Tuning>,
    k: &Arc<Kernels>,
    (vocab, hidden): (usize, usize),
) -> usize {
    let mut rng = TestRng(opts.seed ^ 99);
    let (layout, mut p32) = random_model(&mut rng, vocab, 5, hidden, 2);
    // Weights of ±0.8 make a wide recurrence chaotic, and f32 rounding then grows without
    // bound; shrink them with the width so the dynamics stay tame.
    let shrink = 9.0 / hidden.max(9) as f32;
    p32.iter_mut().for_each(|x| *x *= shrink);
    let p64: Vec<f64> = p32.iter().map(|&x| x as f64).collect();
    let (gpu, _) = gpu();
    let mut s = Sampler::new(&gpu, k, &layout, &p32, streams).unwrap();
    if let Some(t) = tuning {
        s.set_tuning(t).unwrap();
    }
    s.prime(prime).unwrap();
    let got = s.generate(n, &opts, &mut |_| {}).unwrap();
    let c = layout.config;
    let gpu_state = s.read_state().unwrap();
    let mut compared = 0;
    for (stream, toks) in got.iter().enumerate() {
        assert_eq!(toks.len(), n);
        let mut state = vec![0.0; c.layers * c.hidden];
        let mut input = gruwave::sample::start_token(c.vocab);
        if let Some((&last, body)) = prime.split_last() {
            for &t in body {
                state = ref_step(&layout, &p64, t, &state).1;
            }
            input = last;
        }
        for (step, &t) in toks.iter().enumerate() {
            let (logits, hn) = ref_step(&layout, &p64, input, &state);
            let u = uniform(opts.seed, stream as u32, step as u32);
            let near_edge = edge_distance(&logits, opts.temperature as f64, opts.top_k, u) < 1e-5;
            let mut sorted = logits.clone();
            sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
            let tie = opts.temperature == 0.0 && sorted[0] - sorted[1] < 1e-5;
            if near_edge || tie {
                break;
            }
            let want = draw(&logits, opts.temperature as f64, opts.top_k, u);
            assert_eq!(t, want, "stream {stream} step {step} ({opts:?})");
            compared += 1;
            state = hn;
            input = t;
            // (n is a whole number of generation blocks, so the GPU state is that of step n.)
            if step + 1 == toks.len() {
                // The whole stream matched: its final state must match too. (The last token
                // is the next input, not yet consumed.)
                for l in 0..c.layers {
                    let h = c.hidden;
                    let g = &gpu_state[(l * streams + stream) * h..(l * streams + stream + 1) * h];
                    let e = rel_err(&to_f64(g), &state[l * h..(l + 1) * h]);
                    assert!(
                        e < 1e-5,
                        "stream {stream} layer {l} final state: rel err {e:.2e}"
                    );
                }
            }
        }
    }
    compared
}

#[test]
fn sampled_tokens_equal_the_reference_with_the_same_random_numbers() {
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: 5,
    };
    let n = compare_with_reference(opts, &[3, 1, 4, 1, 5], 3, 64);
    assert!(n >= 160, "only {n} of 192 tokens compared");
    let opts = SampleOptions {
        temperature: 0.7,
        top_k: 4,
        seed: 6,
    };
    let n = compare_with_reference(opts, &[2], 5, 64);
    assert!(n >= 250, "only {n} of 320 tokens compared");
}

/// Every way of splitting the work (the GPU's and the CPU adapter's defaults among them),
/// with the draw fused into layer 0 or in its own dispatch, whatever the adapter here; with
/// the reductions built with subgroups and without where the adapter has them.
#[test]
fn every_tuning_equals_the_reference() {
    let t = |fused_draw, cell_units, cell_streams, logit_lanes| Tuning {
        fused_draw,
        cell_units,
        cell_streams,
        logit_lanes,
        tiled_cell: false,
        unroll: false,
    };

    let tiled = |fused_draw| Tuning {
        tiled_cell: true,
        ..t(fused_draw, 4, 1, 32)
    };
    for tuning in [
        t(true, 4, 1, 64),
        t(false, 32, 4, 32),
        t(false, 32, 4, 1),
        t(true, 8, 2, 16),
        t(false, 64, 3, 256),
        tiled(false),
        tiled(true),
    ] {
        for ((streams, vocab), (variant, k)) in [(1, 11), (3, 256)]
            .into_iter()
            .flat_map(|s| kernel_variants().into_iter().map(move |v| (s, v)))
        {
            let sampled = SampleOptions {
                temperature: 0.9,
                top_k: 5,
                seed: 30 + streams as u64,
            };
            let argmax = SampleOptions {
                temperature: 0.0,
                top_k: 0,
                seed: 1,
            };
            for opts in [sampled, argmax] {
                let n = compare_with_reference_tuned(
                    opts,
                    &[4, 2],
                    streams,
                    64,
                    Some(tuning),
                    &k,
                    (vocab, 9),
                );
                assert!(
                    n >= 50 * streams,
                    "{tuning} {variant} streams={streams} V={vocab} {opts:?}: only {n} compared"
                );
            }
        }
    }
}

/// Every work split the autotuner may pick on a GPU, for few and many streams, on the wider
/// model (the default adapter here may never choose them itself).
#[test]
fn every_gpu_autotune_candidate_equals_the_reference() {
    let (_, k) = gpu();
    for streams in [1, 11] {
        for tuning in Tuning::gpu_candidates(streams) {
            let opts = SampleOptions {
                temperature: 0.9,
                top_k: 0,
                seed: 50,
            };
            let n =
                compare_with_reference_tuned(opts, &[7], streams, 64, Some(tuning), &k, (11, 70));
            assert!(
                n >= 45 * streams,
                "{tuning} streams={streams}: only {n} of {} compared",
                64 * streams
            );
        }
    }
}

/// A wider model (H = 70, 11 streams): the tiled cell crosses its tiles (8 streams x 32
/// units, K in chunks of 32) with ragged edges, and the unrolled K loops run whole
/// four-k iterations and a remainder, with and without the fused draw.
#[test]
fn wide_model_tunings_equal_the_reference() {
    let (_, k) = gpu();
    let t = |tiled_cell, unroll, fused_draw, cell_units, cell_streams, logit_lanes| Tuning {
        fused_draw,
        cell_units,
        cell_streams,
        logit_lanes,
        tiled_cell,
        unroll,
    };
    for tuning in [
        t(true, false, false, 4, 1, 32),
        t(true, false, true, 4, 1, 32),
        t(false, true, false, 64, 2, 1),
        t(false, true, true, 16, 1, 16),
        t(true, true, false, 4, 1, 2),
    ] {
        let opts = SampleOptions {
            temperature: 0.8,
            top_k: 0,
            seed: 40,
        };
        let n = compare_with_reference_tuned(opts, &[4, 2, 9], 11, 64, Some(tuning), &k, (11, 70));
        assert!(n >= 500, "{tuning:?}: only {n} of 704 compared");
    }
}

#[test]
fn argmax_decoding_equals_the_reference() {
    let opts = SampleOptions {
        temperature: 0.0,
        top_k: 0,
        seed: 1,
    };
    let n = compare_with_reference(opts, &[7, 7, 2], 2, 64);
    assert!(n >= 100, "only {n} of 128 tokens compared");
}

#[test]
fn many_streams_use_the_wide_kernel_configuration_correctly() {
    // More than 2 streams and a stream count that is not a multiple of 4.
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: 17,
    };
    let n = compare_with_reference(opts, &[1, 2, 3], 7, 64);
    assert!(n >= 350, "only {n} of 448 tokens compared");
}

#[test]
fn temperature_near_zero_behaves_as_argmax() {
    let mut rng = TestRng(4);
    let (layout, p) = random_model(&mut rng, 11, 5, 9, 2);
    let (gpu, k) = gpu();
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 2).unwrap();
    s.prime(&[1, 2]).unwrap();
    let a = s
        .generate(
            60,
            &SampleOptions {
                temperature: 0.0,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
    s.prime(&[1, 2]).unwrap();
    let b = s
        .generate(
            60,
            &SampleOptions {
                temperature: 1e-5,
                seed: 3,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn seeds_give_different_outputs_and_repeat_exactly() {
    let mut rng = TestRng(8);
    let (layout, p) = random_model(&mut rng, 11, 5, 9, 1);
    let (gpu, k) = gpu();
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 2).unwrap();
    let run = |s: &mut Sampler, seed| {
        s.prime(&[]).unwrap();
        s.generate(
            100,
            &SampleOptions {
                seed,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap()
    };
    let a = run(&mut s, 1);
    assert_eq!(a, run(&mut s, 1), "same seed, same output");
    assert_ne!(a, run(&mut s, 2), "different seeds differ");
    assert_ne!(a[0], a[1], "streams differ");
}

/// Priming runs the prefix through the sampler's own step kernels; the resulting state
/// must equal the training forward pass over the same tokens.
#[test]
fn priming_equals_the_training_forward() {
    let mut rng = TestRng(12);
    let (layout, p) = random_model(&mut rng, 11, 5, 9, 2);
    let prime: Vec<u32> = (0..150).map(|_| rng.below(11)).collect();
    let (gpu, k) = gpu();
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 3).unwrap();
    s.prime(&prime).unwrap();
    let got = s.read_state().unwrap();
    // The training forward over all but the last prefix token (the next step's input).
    let t = prime.len() - 1;
    let params = gpu.storage_from("params", &p);
    let ws = Workspace::new(&gpu, &k, &layout, &params, None, 1, t).unwrap();
    let window: Vec<u32> = prime.clone();
    ws.upload_tokens(&window).unwrap();
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    ws.forward.encode(&mut enc, None);
    gpu.queue.submit([enc.finish()]);
    let want = ws.read_state().unwrap();
    let h = layout.config.hidden;
    for l in 0..layout.config.layers {
        for st in 0..3 {
            let g = &got[(l * 3 + st) * h..(l * 3 + st + 1) * h];
            let w = &want[l * h..(l + 1) * h];
            let e = rel_err(&to_f64(g), &to_f64(w));
            assert!(e < 1e-5, "layer {l} stream {st}: rel err {e:.2e}");
        }
    }
}

/// A model whose logits do not depend on the input: many draws follow softmax(b / T).
#[test]
fn draws_follow_the_softmax_by_chi_square() {
    let layout = ParamLayout::new(&ModelConfig::new(8, 2, 3, 1).unwrap());
    let mut p = vec![0.0f32; layout.total];
    let bias = [0.3f32, -1.0, 1.2, 0.0, 0.5, -0.4, 2.0, -2.5];
    layout
        .view_mut(&mut p, ParamKind::HeadBias)
        .copy_from_slice(&bias);
    let (gpu, k) = gpu();
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 64).unwrap();
    for (temperature, top_k) in [(1.0f32, 0usize), (0.8, 5)] {
        s.prime(&[]).unwrap();
        let out = s
            .generate(
                160,
                &SampleOptions {
                    temperature,
                    top_k,
                    seed: 21,
                },
                &mut |_| {},
            )
            .unwrap();
        let mut counts = [0f64; 8];
        for t in out.iter().flatten() {
            counts[*t as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        let logits: Vec<f64> = bias.iter().map(|&b| b as f64).collect();
        let w = gruwave::sample::weights(&logits, temperature as f64, top_k).unwrap();
        let z: f64 = w.iter().sum();
        let mut chi2 = 0.0;
        let mut df = -1.0;
        for (c, wi) in counts.iter().zip(&w) {
            if *wi == 0.0 {
                assert_eq!(*c, 0.0, "a token outside the top k was drawn");
                continue;
            }
            let e = total * wi / z;
            chi2 += (c - e) * (c - e) / e;
            df += 1.0;
        }
        // 99.9th percentile of chi-square with 7 (or 4) degrees of freedom.
        let crit = if df == 7.0 { 24.32 } else { 18.47 };
        assert!(
            chi2 < crit,
            "T={temperature} k={top_k}: chi2 {chi2:.2} over {df} df, counts {counts:?}"
        );
    }
}

#[test]
fn bad_arguments_are_errors() {
    let mut rng = TestRng(1);
    let (layout, p) = random_model(&mut rng, 11, 5, 9, 1);
    let (gpu, k) = gpu();
    assert!(Sampler::new(&gpu, &k, &layout, &p, 0).is_err());
    assert!(Sampler::new(&gpu, &k, &layout, &p, 2000).is_err());
    // Token ids are u32: vocabularies up to 65,536 sample (tested below), larger are refused.
    let (wide, wp) = random_model(&mut rng, 65_537, 5, 9, 1);
    let msg = format!("{:#}", Sampler::new(&gpu, &k, &wide, &wp, 1).err().unwrap());
    assert!(msg.contains("has 65537"), "{msg}");
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 1).unwrap();
    assert!(s.prime(&[200]).is_err(), "token beyond the vocabulary");
    assert!(s
        .generate(
            5,
            &SampleOptions {
                temperature: -1.0,
                ..Default::default()
            },
            &mut |_| {}
        )
        .is_err());
}

/// Autotuning times every candidate, keeps the fastest, and leaves the sampler as new: the
/// tokens after it equal those of a sampler that never tuned.
#[test]
fn autotune_keeps_the_fastest_and_leaves_the_state_as_new() {
    let mut rng = TestRng(8);
    let (layout, p) = random_model(&mut rng, 11, 5, 9, 2);
    let (gpu, k) = gpu();
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: 3,
    };
    let mut fresh = Sampler::new(&gpu, &k, &layout, &p, 2).unwrap();
    fresh.prime(&[1, 2, 3]).unwrap();
    let want = fresh.generate(64, &opts, &mut |_| {}).unwrap();

    let mut tuned = Sampler::new(&gpu, &k, &layout, &p, 2).unwrap();
    let a = tuned.tuning();
    let b = Tuning {
        cell_units: 8,
        unroll: true,
        ..a
    };
    let timed = tuned.autotune(&[a, b], 1).unwrap();
    assert_eq!(timed.len(), 2);
    let best = if timed[0].1 >= timed[1].1 { a } else { b };
    assert_eq!(tuned.tuning(), best);
    assert!(timed.iter().all(|(_, r)| *r > 0.0));
    tuned.prime(&[1, 2, 3]).unwrap();
    assert_eq!(tuned.generate(64, &opts, &mut |_| {}).unwrap(), want);
}

/// Vocabularies beyond 256 (u32 tokens): a V = 1000 model samples the reference's tokens.
/// (Top 50, so that few bin edges lie near the random numbers and most tokens compare.)
#[test]
fn a_vocabulary_of_1000_samples_the_reference_tokens() {
    let (_, k) = gpu();
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 50,
        seed: 17,
    };
    let n = compare_with_reference_tuned(opts, &[7, 999, 512], 3, 64, None, &k, (1000, 9));
    assert!(n >= 150, "only {n} of 192 tokens compared");
}
