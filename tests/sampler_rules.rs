//! Well-formed note sampling for perf388 models: the GPU draw under the note rules equals
//! its CPU twin, and what it draws always decodes to well-formed notes.

mod common;
use common::*;
use gruwave::model::{ModelConfig, ParamLayout};
use gruwave::reference;
use gruwave::sample::{
    draw_with_rules, edge_distance_with_rules, uniform, NoteRules, NoteState, SampleOptions,
    Sampler, Tuning,
};

const V: usize = 388;

/// A small random perf388 model; the head bias favours NOTE_ONs and short TIME_SHIFTs so
/// that notes pile up and the rules have work to do.
fn model(seed: u64) -> (ParamLayout, Vec<f32>) {
    let layout = ParamLayout::new(&ModelConfig::new(V, 6, 10, 2).unwrap());
    let mut rng = TestRng(seed);
    let mut p: Vec<f32> = (0..layout.total)
        .map(|_| rng.uniform(-0.5, 0.5) as f32)
        .collect();
    let bias = layout.get(gruwave::model::ParamKind::HeadBias).offset;
    for v in 0..V {
        p[bias + v] += match v {
            0..128 => 2.0,
            256..262 => 2.5,
            _ => 0.0,
        };
    }
    (layout, p)
}

/// Replays stream `stream` on the CPU; returns the tokens compared exactly. Where the
/// random number lies within f32 rounding of a bin edge the GPU may pick either side: the
/// replay then only checks that the GPU's token was allowed, and follows it.
fn replay(
    layout: &ParamLayout,
    p64: &[f64],
    toks: &[u32],
    stream: usize,
    opts: &SampleOptions,
    max_hold: u32,
    prime: &[u32],
) -> usize {
    let c = layout.config;
    let mut state = vec![0.0; c.layers * c.hidden];
    let (&last, body) = prime.split_last().unwrap();
    for &t in body {
        state = reference::forward(layout, p64, &[t], &[0], 1, 1, &state).hn;
    }
    let mut notes = NoteState::after(prime);
    let mut input = last;
    let mut compared = 0;
    for (step, &t) in toks.iter().enumerate() {
        let f = reference::forward(layout, p64, &[input], &[0], 1, 1, &state);
        let u = uniform(opts.seed, stream as u32, step as u32);
        let temp = opts.temperature as f64;
        let forced = notes.forced_off(max_hold).is_some();
        let edge = edge_distance_with_rules(&f.logits, temp, opts.top_k, u, (&notes, max_hold));
        if !forced && edge < 1e-5 {
            let ok = notes.allowed(t, max_hold);
            assert!(ok, "stream {stream} step {step}: {t} is not allowed");
        } else {
            let want = draw_with_rules(&f.logits, temp, opts.top_k, u, &notes, max_hold);
            assert_eq!(t, want, "stream {stream} step {step} ({opts:?})");
            compared += 1;
        }
        notes.update(t);
        state = f.hn;
        input = t;
    }
    compared
}

/// The tokens break no rule: no NOTE_ON of a sounding pitch, no NOTE_OFF of a silent one,
/// and no note sounds past `max_hold`.
fn assert_well_formed(toks: &[u32], prime: &[u32], max_hold: u32) {
    let mut notes = NoteState::after(prime);
    // Steps each sounding note has been held: the primer's from its note state.
    let w = notes.words();
    let mut held: Vec<Option<u32>> = w[..128]
        .iter()
        .map(|&s| (s != 0).then(|| w[128] - (s - 1)))
        .collect();
    for (i, &t) in toks.iter().enumerate() {
        let forced = notes.forced_off(max_hold);
        assert!(
            forced.is_none_or(|f| f == t),
            "token {i} ({t}), not {forced:?}"
        );
        assert!(
            notes.allowed(t, max_hold),
            "token {i} ({t}) breaks the note rules"
        );
        if (256..356).contains(&t) {
            for h in held.iter_mut().flatten() {
                *h += t - 255;
                assert!(*h <= max_hold, "token {i}: a note sounded {h} steps");
            }
        }
        match t {
            0..128 => held[t as usize] = Some(0),
            128..256 => held[t as usize - 128] = None,
            _ => {}
        }
        notes.update(t);
    }
}

fn run(streams: usize, opts: SampleOptions, max_hold: u32, prime: &[u32], tuning: Option<Tuning>) {
    let (gpu, k) = gpu();
    let (layout, p32) = model(opts.seed);
    let p64: Vec<f64> = p32.iter().map(|&x| x as f64).collect();
    let mut s = Sampler::new(&gpu, &k, &layout, &p32, streams).unwrap();
    if let Some(t) = tuning {
        s.set_tuning(t).unwrap();
    }
    s.set_note_rules(Some(NoteRules { max_hold })).unwrap();
    s.prime(prime).unwrap();
    s.set_note_state(&NoteState::after(prime));
    let got = s.generate(128, &opts, &mut |_| {}).unwrap();
    let mut compared = 0;
    for (stream, toks) in got.iter().enumerate() {
        assert_well_formed(toks, prime, max_hold);
        compared += replay(&layout, &p64, toks, stream, &opts, max_hold, prime);
    }
    let all = streams * 128;
    assert!(
        compared * 10 >= all * 9,
        "only {compared} of {all} tokens compared"
    );
}

#[test]
fn rules_on_the_gpu_equal_the_cpu_twin() {
    let opts = |temperature, top_k, seed| SampleOptions {
        temperature,
        top_k,
        seed,
    };
    // From the start marker, and from a primer that leaves two notes sounding.
    run(3, opts(1.0, 0, 1), 30, &[355], None);
    run(2, opts(0.8, 20, 2), 12, &[356, 60, 64, 260, 355], None);
    run(1, opts(0.0, 0, 3), 25, &[355], None);
}

#[test]
fn rules_hold_for_every_work_split() {
    let opts = SampleOptions {
        temperature: 1.0,
        top_k: 0,
        seed: 9,
    };
    // Asking for the fused draw must fall back to the separate one, which owns the state.
    for t in Tuning::gpu_candidates(2).into_iter().take(3) {
        run(2, opts, 20, &[355], Some(t));
    }
}

#[test]
fn rules_need_a_perf388_model() {
    let (gpu, k) = gpu();
    let layout = ParamLayout::new(&ModelConfig::new(256, 4, 8, 1).unwrap());
    let p = vec![0.0; layout.total];
    let mut s = Sampler::new(&gpu, &k, &layout, &p, 1).unwrap();
    let e = s
        .set_note_rules(Some(NoteRules { max_hold: 10 }))
        .unwrap_err();
    assert!(format!("{e}").contains("perf388"), "{e}");
}
