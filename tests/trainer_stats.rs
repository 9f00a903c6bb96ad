//! Deferred stats: steps submitted without waiting give the same losses as synchronous
//! steps, across a full ring of pending stats, and a diverged step is named.

mod common;
use common::*;
use gruwave::model::{init_params, ModelConfig, ParamKind, ParamLayout};
use gruwave::train::STATS_RING;
use gruwave::{TrainOptions, Trainer};

fn windows(n: usize, b: usize, t: usize) -> Vec<Vec<u32>> {
    let mut rng = TestRng(5);
    (0..n)
        .map(|_| (0..b * (t + 1)).map(|_| rng.below(7)).collect())
        .collect()
}

#[test]
fn deferred_stats_equal_synchronous_steps() {
    let layout = ParamLayout::new(&ModelConfig::new(7, 3, 5, 1).unwrap());
    let init = init_params(&layout, 1);
    let (gpu, k) = gpu();
    let (b, t) = (2, 3);
    let ws = windows(STATS_RING + 5, b, t);
    let mut sync = Trainer::new(&gpu, &k, &layout, &init, b, t, TrainOptions::default()).unwrap();
    let want: Vec<_> = ws
        .iter()
        .map(|w| sync.step(w, &[false; 2]).unwrap())
        .collect();
    let mut deferred =
        Trainer::new(&gpu, &k, &layout, &init, b, t, TrainOptions::default()).unwrap();
    for w in &ws {
        deferred.submit_step(w, &[false; 2]).unwrap();
    }
    assert_eq!(deferred.collect().unwrap(), want, "ring overflow included");
    assert!(deferred.collect().unwrap().is_empty());
    assert_eq!(deferred.read_params().unwrap(), sync.read_params().unwrap());
}

#[test]
fn a_diverged_step_is_named() {
    let layout = ParamLayout::new(&ModelConfig::new(7, 3, 5, 1).unwrap());
    let mut init = init_params(&layout, 1);
    let (gpu, k) = gpu();
    let mut tr = Trainer::new(&gpu, &k, &layout, &init, 2, 3, TrainOptions::default()).unwrap();
    let ws = windows(3, 2, 3);
    tr.submit_step(&ws[0], &[false; 2]).unwrap();
    layout.view_mut(&mut init, ParamKind::HeadBias)[0] = f32::NAN;
    tr.write_params(&init).unwrap();
    tr.submit_step(&ws[1], &[false; 2]).unwrap();
    let e = tr.collect().unwrap_err().to_string();
    assert!(e.contains("diverged at step 2"), "{e}");
}
