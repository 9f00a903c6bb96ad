//! SampleRNN learns: srnn-tiny, trained through the data path of a training run (streams
//! of `[B, T+1]` windows turned into `[B, L+T]` chunks), predicts a mu-law encoded
//! sawtooth of period 13 samples (not a multiple of any frame size) to below 0.05 nats per
//! sample within 400 steps, with samplernn-pytorch's optimiser (lr 1e-3, elementwise clip 1).

mod common;
use common::*;
use gruwave::codec::encode_all;
use gruwave::data::{Lookback, Streams, Track};
use gruwave::samplernn::{init_params, SrnnLayout, SrnnPreset};
use gruwave::{TrainOptions, Trainer};

#[test]
fn srnn_tiny_learns_a_sawtooth() {
    let c = SrnnPreset::by_name("srnn-tiny").unwrap().config();
    let layout = SrnnLayout::new(&c);
    let (b, t) = (4, 32);
    let samples: Vec<f32> = (0..4000)
        .map(|i| ((i % 13) as f32 / 13.0 - 0.5) * 1.6)
        .collect();
    let track = Track {
        name: "saw.wav".into(),
        tokens: encode_all(&samples),
    };
    let mut streams = Streams::new(&[track], b, t).unwrap();
    let mut lookback = Lookback::new(b, c.lookback(), c.zero_level());
    let (gpu, k) = gpu();
    let opts = TrainOptions {
        lr: 1e-3,
        clip: f64::INFINITY,
        clip_value: Some(1.0),
        ..Default::default()
    };
    let init = init_params(&c, 0);
    let mut tr = Trainer::new_srnn(&gpu, &k, &layout, &init, b, t, opts).unwrap();
    let (mut first, mut last) = (None, f32::MAX);
    for step in 0..400 {
        let batch = streams.next_batch();
        let s = tr.step(&lookback.chunks(&batch), &batch.reset).unwrap();
        first.get_or_insert(s.loss);
        last = s.loss;
        if last < 0.05 {
            eprintln!(
                "loss {last:.4} nats after {} steps (from {:.3})",
                step + 1,
                first.unwrap()
            );
            return;
        }
    }
    panic!("loss still {last} nats after 400 steps");
}
