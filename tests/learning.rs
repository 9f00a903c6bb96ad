//! The engine learns: on a short periodic token sequence the loss falls below 0.05 nats
//! within a fixed number of steps.

mod common;
use common::*;
use gruwave::model::{init_params, ModelConfig, ParamLayout};
use gruwave::{TrainOptions, Trainer};

#[test]
fn periodic_sequence_is_learned() {
    let cfg = ModelConfig::new(16, 8, 32, 1).unwrap();
    let layout = ParamLayout::new(&cfg);
    let (b, t) = (4, 16);
    let (gpu, k) = gpu();
    let opts = TrainOptions {
        lr: 1e-2,
        ..Default::default()
    };
    let mut tr = Trainer::new(&gpu, &k, &layout, &init_params(&layout, 0), b, t, opts).unwrap();
    let period = [3u32, 1, 4, 1, 5, 9, 2, 6, 5];
    let mut pos = vec![0usize, 2, 4, 7];
    let mut last = f32::MAX;
    let mut first = None;
    for step in 0..300 {
        let mut w = Vec::new();
        for p in &mut pos {
            w.extend((0..=t).map(|i| period[(*p + i) % period.len()]));
            *p += t;
        }
        let s = tr.step(&w, &[step == 0; 4]).unwrap();
        first.get_or_insert(s.loss);
        last = s.loss;
        if last < 0.05 {
            eprintln!(
                "loss {last:.4} after {} steps (from {:.3})",
                step + 1,
                first.unwrap()
            );
            return;
        }
    }
    panic!("loss still {last} after 300 steps");
}
