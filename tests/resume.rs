//! Checkpoints continue exactly, and are never left half written.
//!
//! 2N steps in one run and N steps, a save to disk, a load and N more steps give
//! bit-identical weights, Adam moments and hidden state.

mod common;
use common::*;
use gruwave::data::Track;
use gruwave::fsutil::write_atomic;
use gruwave::model::ModelConfig;
use gruwave::samplernn::SrnnConfig;
use gruwave::train::schedule::{LrSchedule, LrShape};
use gruwave::train::session::{ModelSpec, RunConfig, Session, STATE_FILE};
use gruwave::train::state::TrainerState;
use gruwave::TrainOptions;
use std::io::Write;

fn tracks(lens: &[usize], seed: u64) -> Vec<Track> {
    let mut rng = TestRng(seed);
    lens.iter()
        .enumerate()
        .map(|(i, &n)| Track {
            name: format!("track{i}.wav"),
            // A random walk: something a model can learn a little of in a few steps.
            tokens: (0..n)
                .scan(128i32, |x, _| {
                    *x = (*x + rng.below(9) as i32 - 4).clamp(0, 255);
                    Some(*x as u32)
                })
                .collect(),
        })
        .collect()
}

fn run_config() -> RunConfig {
    RunConfig {
        model: ModelSpec::Gru(ModelConfig::new(256, 8, 16, 2).unwrap()),
        batch: 3,
        tbptt: 8,
        opts: TrainOptions {
            lr: 1e-2,
            ..Default::default()
        },
        // A warmup and a decay, so resume must also continue the schedule exactly.
        schedule: LrSchedule {
            shape: LrShape::Cosine,
            warmup: 3,
            horizon: 40,
        },
        seed: 7,
        codec: gruwave::codec::Codec::MuLaw256,
        transpose: 0,
        sample_rate: 16000,
        valid_fraction: 0.0,
        data: vec![],
        valid_data: vec![],
        steps: None,
        valid_every: 0,
        checkpoint_every: 0,
        sample_seconds: 0.0,
    }
}

/// A SampleRNN run (L = 4, T = 8) with samplernn-pytorch's optimiser settings.
fn srnn_run_config() -> RunConfig {
    RunConfig {
        model: ModelSpec::Srnn(SrnnConfig::new(&[2, 2], 16, 1, 256).unwrap()),
        opts: TrainOptions {
            lr: 1e-2,
            clip: f64::INFINITY,
            clip_value: Some(1.0),
            ..Default::default()
        },
        ..run_config()
    }
}

#[test]
fn n_steps_plus_resume_for_n_more_equals_2n_steps_bit_for_bit() {
    check_resume(run_config);
}

#[test]
fn samplernn_n_steps_plus_resume_for_n_more_equals_2n_steps_bit_for_bit() {
    check_resume(srnn_run_config);
}

fn check_resume(run_config: fn() -> RunConfig) {
    let (gpu, k) = gpu();
    // Files of uneven length, so stream resets (file starts, wrap-around) fall inside
    // both halves.
    let train = tracks(&[100, 61, 90], 1);
    let valid = tracks(&[70], 2);
    let n = 5;

    // The straight run submits without waiting and reads the losses once (as the train
    // loop does); the split runs wait for every step. Both must give the same bits.
    let mut straight = Session::start(&gpu, &k, run_config(), &train, &valid, None).unwrap();
    for _ in 0..2 * n {
        straight.submit().unwrap();
    }
    assert_eq!(straight.uncollected(), 2 * n);
    assert_eq!(straight.collect().unwrap().len(), 2 * n);
    assert_eq!(straight.uncollected(), 0);
    let want = straight.snapshot(0.0).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut first = Session::start(&gpu, &k, run_config(), &train, &valid, None).unwrap();
    for _ in 0..n {
        first.step().unwrap();
    }
    // Validation reads the same weights but must leave training untouched.
    first.validate(&mut |_| {}).unwrap().unwrap();
    first.save(dir.path(), 1.5).unwrap();
    drop(first);

    let state = TrainerState::load(&dir.path().join(STATE_FILE)).unwrap();
    assert_eq!(state.step, n as u64);
    assert_eq!(state.elapsed_s, 1.5);
    let mut resumed = Session::resume(&gpu, &k, state, &train, &valid).unwrap();
    for _ in 0..n {
        resumed.step().unwrap();
    }
    let got = resumed.snapshot(0.0).unwrap();

    assert_eq!(got.step, 2 * n as u64);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got.params), bits(&want.params), "weights differ");
    assert_eq!(bits(&got.adam_m), bits(&want.adam_m), "Adam m differs");
    assert_eq!(bits(&got.adam_v), bits(&want.adam_v), "Adam v differs");
    assert_eq!(
        bits(&got.hidden),
        bits(&want.hidden),
        "hidden state differs"
    );
    assert_eq!(got.stream_pos, want.stream_pos);
    // And the weights did move.
    let start = Session::start(&gpu, &k, run_config(), &train, &valid, None)
        .unwrap()
        .snapshot(0.0)
        .unwrap();
    assert_ne!(bits(&start.params), bits(&got.params));
}

#[test]
fn resuming_on_other_data_is_refused() {
    let (gpu, k) = gpu();
    let train = tracks(&[100, 61], 1);
    let s = Session::start(&gpu, &k, run_config(), &train, &[], None).unwrap();
    let state = s.snapshot(0.0).unwrap();
    let other = tracks(&[100, 61], 3);
    let msg = format!(
        "{:#}",
        Session::resume(&gpu, &k, state, &other, &[])
            .err()
            .expect("other data must be refused")
    );
    assert!(msg.contains("training data differ"), "{msg}");
}

#[test]
fn a_failed_checkpoint_write_leaves_the_old_file_whole_and_no_temporary() {
    let (gpu, k) = gpu();
    let train = tracks(&[100, 61], 1);
    let mut s = Session::start(&gpu, &k, run_config(), &train, &[], None).unwrap();
    s.step().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    let old = s.save(dir.path(), 0.0).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing();

    // The next checkpoint dies half way through writing (a full disk, a crash).
    s.step().unwrap();
    let new = s.snapshot(0.0).unwrap();
    let scratch = dir.path().join("scratch");
    new.save(&scratch).unwrap();
    let new_bytes = std::fs::read(&scratch).unwrap();
    std::fs::remove_file(&scratch).unwrap();
    let err = write_atomic(&path, |w| {
        w.write_all(&new_bytes[..new_bytes.len() / 2])?;
        anyhow::bail!("no space left on device")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("no space left"), "{err:#}");

    assert_eq!(std::fs::read(&path).unwrap(), old_bytes, "old file changed");
    assert_eq!(listing(), before, "a temporary file was left behind");
    assert_eq!(TrainerState::load(&path).unwrap(), old);

    // A file that was cut short anyway (copied by hand, say) is an error, not a panic.
    std::fs::write(&path, &old_bytes[..old_bytes.len() / 2]).unwrap();
    let msg = format!("{:#}", TrainerState::load(&path).unwrap_err());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}
