//! Fuzz replay: deterministic, seeded mutations of small valid inputs fed to every loader
//! of untrusted bytes (WAV and other audio, MIDI, model checkpoints, trainer states). Each
//! must return Ok or an error, never panic, hang or allocate without bound. Runs on every
//! `cargo test`; the mutation count and the seed are fixed so a failure replays.

use gruwave::audio::load_wav;
use gruwave::model::{init_params, parse_model, save_model, ModelConfig, ParamLayout};
use gruwave::train::run_config::RunConfig;
use gruwave::train::schedule::{LrSchedule, LrShape};
use gruwave::train::state::TrainerState;
use gruwave::TrainOptions;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

/// SplitMix64: a tiny, seedable generator, so the corpus is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that break size arithmetic.
const INTERESTING: [u32; 10] = [
    0,
    1,
    7,
    8,
    255,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    u32::MAX,
];

/// One to four mutations: flip a bit, set a byte, write an interesting u32 (sizes and
/// rates), truncate, duplicate a slice, or insert random bytes. Mutations favour the
/// first 64 bytes, where headers are.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len().max(1);
        let pos = if rng.below(2) == 0 {
            rng.below(len.min(64))
        } else {
            rng.below(len)
        };
        let at = pos.min(v.len().saturating_sub(1));
        match rng.below(6) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = rng.next() as u8,
            2 if v.len() >= 4 => {
                let p = pos.min(v.len() - 4);
                let x = INTERESTING[rng.below(INTERESTING.len())];
                v[p..p + 4].copy_from_slice(&x.to_le_bytes());
            }
            3 => v.truncate(rng.below(len)),
            4 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let piece = v[a..b].to_vec();
                let at = rng.below(v.len());
                v.splice(at..at, piece);
            }
            _ => {
                let at = rng.below(v.len() + 1);
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, extra);
            }
        }
    }
    v
}

/// Runs `load` on `n` mutants of each seed; returns the count, fails on a panic.
fn fuzz(what: &str, seeds: &[Vec<u8>], n: usize, rng_seed: u64, load: &dyn Fn(&[u8])) -> usize {
    let mut rng = Rng(rng_seed);
    let mut count = 0;
    for seed in seeds {
        for i in 0..n {
            let input = mutate(seed, &mut rng);
            let t0 = Instant::now();
            if catch_unwind(AssertUnwindSafe(|| load(&input))).is_err() {
                let dump = std::env::temp_dir().join(format!("gruwave-fuzz-{what}-{i}.bin"));
                std::fs::write(&dump, &input).unwrap();
                panic!(
                    "{what}: mutant {i} panicked (input saved to {})",
                    dump.display()
                );
            }
            assert!(
                t0.elapsed().as_secs() < 5,
                "{what}: mutant {i} took {:?}",
                t0.elapsed()
            );
            count += 1;
        }
    }
    count
}

fn wav_seed(channels: u16, bits: u16, float: bool, frames: usize) -> Vec<u8> {
    let mut c = std::io::Cursor::new(Vec::new());
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
    let mut w = hound::WavWriter::new(&mut c, spec).unwrap();
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
    c.into_inner()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/audio")
            .join(name),
    )
    .unwrap()
}

/// WAV, FLAC, MP3, Ogg and AIFF mutants, through a file as the CLI reads them (the
/// loader streams from disk).
fn fuzz_audio(dir: &Path) -> usize {
    let wavs = vec![
        wav_seed(1, 16, false, 300),
        wav_seed(2, 24, false, 200),
        wav_seed(1, 8, false, 300),
        wav_seed(2, 32, true, 200),
    ];
    let audio = |ext: &'static str| {
        let path = dir.join(format!("m.{ext}"));
        move |b: &[u8]| {
            std::fs::write(&path, b).unwrap();
            let _ = load_wav(&path);
        }
    };
    fuzz("wav", &wavs, 250, 1, &audio("wav"))
        + fuzz("flac", &[fixture("tone.flac")], 120, 2, &audio("flac"))
        + fuzz("mp3", &[fixture("tone.mp3")], 60, 3, &audio("mp3"))
        + fuzz("ogg", &[fixture("tone.ogg")], 60, 4, &audio("ogg"))
        + fuzz("aiff", &[fixture("tone.aiff")], 60, 5, &audio("aiff"))
}

/// MIDI mutants of a format 0 and a format 1 file.
fn fuzz_midi() -> usize {
    let mut f0 = b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk\0\0\0\x14".to_vec();
    f0.extend_from_slice(&[
        0, 0x90, 60, 64, 0x30, 0x90, 64, 80, 0x30, 0x80, 60, 0, 0, 0x80, 64, 0, 0, 0xff, 0x2f, 0,
    ]);
    let mut f1 = b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0".to_vec();
    f1.extend_from_slice(b"MTrk\0\0\0\x0b\0\xff\x51\x03\x07\xa1\x20\0\xff\x2f\0");
    f1.extend_from_slice(b"MTrk\0\0\0\x0d\0\xc0\x05\0\x91\x40\x50\x83\x60\x81\x40\0\0");
    fuzz("midi", &[f0, f1], 400, 6, &|b| {
        let _ = gruwave::midi::read_notes(b, "fuzz.mid");
    })
}

/// Checkpoint and trainer-state mutants of a small two-layer model.
fn fuzz_model_files(dir: &Path) -> usize {
    let layout = ParamLayout::new(&ModelConfig::new(256, 4, 8, 2).unwrap());
    let model = dir.join("model.safetensors");
    save_model(&model, &layout, &init_params(&layout, 3), 16000).unwrap();
    let ck = std::fs::read(&model).unwrap();
    let mut total = fuzz("checkpoint", &[ck], 500, 7, &|b| {
        let _ = parse_model(b, Path::new("fuzz.safetensors"));
    });
    let run = RunConfig {
        model: gruwave::train::run_config::ModelSpec::Gru(layout.config),
        batch: 2,
        tbptt: 8,
        opts: TrainOptions::default(),
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
    let sp = dir.join("trainer_state.safetensors");
    state.save(&sp).unwrap();
    let seed = std::fs::read(&sp).unwrap();
    let fuzzed = dir.join("fuzzed_state.safetensors");
    total += fuzz("trainer state", &[seed], 400, 8, &|b| {
        std::fs::write(&fuzzed, b).unwrap();
        let _ = TrainerState::load(&fuzzed);
    });
    total
}

#[test]
fn mutated_inputs_never_panic_any_loader() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let total = fuzz_audio(dir.path()) + fuzz_midi() + fuzz_model_files(dir.path());
    eprintln!(
        "{total} mutated inputs in {:.1} s, no panic",
        t0.elapsed().as_secs_f64()
    );
    assert!(total >= 2000);
}
