//! Writes the small seeds the loaders' own writers produce into fuzz/corpus/NAME/
//! (checkpoint, samplernn, trainer_state, wav): `cargo run --bin make_seeds -- fuzz/corpus`
//! with the fuzz build's flags, or any build of this crate. Copy the repository's files
//! next to them (see README.md).
use gruwave::model::{init_params, save_model, ModelConfig, ParamLayout};
use gruwave::samplernn::{self, save_srnn, SrnnConfig, SrnnLayout};
use gruwave::train::run_config::{ModelSpec, RunConfig};
use gruwave::train::schedule::{LrSchedule, LrShape};
use gruwave::train::state::TrainerState;
use std::path::{Path, PathBuf};

fn dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wav(path: &Path, channels: u16, bits: u16, float: bool, frames: usize) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: 16000,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames * channels as usize {
        let x = (i as f64 * 0.05).sin() * 0.5;
        if float {
            w.write_sample(x as f32).unwrap();
        } else {
            w.write_sample((x * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or("fuzz/corpus".into()));
    let w = dir(&root, "wav");
    wav(&w.join("seed_1x16.wav"), 1, 16, false, 300);
    wav(&w.join("seed_2x24.wav"), 2, 24, false, 200);
    wav(&w.join("seed_1x8.wav"), 1, 8, false, 300);
    wav(&w.join("seed_2x32f.wav"), 2, 32, true, 200);

    let ck = dir(&root, "checkpoint");
    let layout = ParamLayout::new(&ModelConfig::new(256, 4, 8, 2).unwrap());
    save_model(&ck.join("seed_gru_2x8.safetensors"), &layout, &init_params(&layout, 3), 16000)
        .unwrap();
    let small = ParamLayout::new(&ModelConfig::new(16, 2, 4, 1).unwrap());
    save_model(&ck.join("seed_gru_1x4.safetensors"), &small, &init_params(&small, 1), 22050)
        .unwrap();

    let s = dir(&root, "samplernn");
    for (i, (fs, r, q, codec)) in [
        (&[4usize, 2][..], 1, 256, Some("mulaw256")),
        (&[2, 2, 3][..], 2, 16, None),
    ]
    .into_iter()
    .enumerate()
    {
        let c = SrnnConfig::new(fs, 8, r, q).unwrap();
        let l = SrnnLayout::new(&c);
        let p = samplernn::init_params(&c, 5);
        save_srnn(&s.join(format!("seed_srnn_{i}.safetensors")), &l, &p, Some(22_050), codec)
            .unwrap();
    }

    let run = RunConfig {
        model: ModelSpec::Gru(layout.config),
        batch: 2,
        tbptt: 8,
        opts: gruwave::TrainOptions::default(),
        schedule: LrSchedule {
            shape: LrShape::Cosine,
            warmup: 2,
            horizon: 10,
        },
        seed: 0,
        codec: gruwave::codec::Codec::MuLaw256,
        transpose: 0,
        sample_rate: 16000,
        valid_fraction: 0.0,
        data: vec!["a.wav".into()],
        valid_data: vec![],
        steps: Some(10),
        valid_every: 0,
        checkpoint_every: 0,
        sample_seconds: 0.0,
    };
    let state = TrainerState {
        params: init_params(&layout, 0),
        adam_m: vec![0.0; layout.total],
        adam_v: vec![0.0; layout.total],
        hidden: vec![0.0; 2 * 2 * 8],
        stream_pos: vec![0, 8],
        run,
        step: 3,
        data_fingerprint: 1,
        elapsed_s: 0.5,
    };
    state
        .save(&dir(&root, "trainer_state").join("seed_state.safetensors"))
        .unwrap();
    eprintln!("seeds written under {}", root.display());
}
