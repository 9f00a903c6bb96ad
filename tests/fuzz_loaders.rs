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

/// A WAVE_FORMAT_EXTENSIBLE file of 16-bit silence with the given speaker mask.
fn ext_wav(channels: u16, mask: u32, frames: usize) -> Vec<u8> {
    let align = channels * 2;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&0xfffeu16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&16000u32.to_le_bytes());
    fmt.extend_from_slice(&(16000 * align as u32).to_le_bytes());
    fmt.extend_from_slice(&align.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    fmt.extend_from_slice(&22u16.to_le_bytes()); // extension size
    fmt.extend_from_slice(&16u16.to_le_bytes()); // valid bits
    fmt.extend_from_slice(&mask.to_le_bytes());
    // KSDATAFORMAT_SUBTYPE_PCM
    fmt.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
    ]);
    // A quiet ramp: all-zero audio is an error of its own.
    let data: Vec<u8> = (0..align as usize / 2 * frames)
        .flat_map(|i| ((i as i16 % 200) * 10 + 1).to_le_bytes())
        .collect();
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    body.extend_from_slice(&fmt);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&data);
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(&body);
    v
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
        + fuzz(
            "wav-ext",
            &[ext_wav(2, 0x8000_0000, 50), ext_wav(3, 7, 50)],
            100,
            9,
            &audio("wav"),
        )
}

/// The cargo-fuzz campaign's findings (fuzz/README.md), minimised, replayed exactly. The
/// decoders run under catch_unwind, so a panic in one would still be an error here; the
/// inputs that are valid must load, and the invalid one must fail on the header check,
/// before the decoder.
#[test]
fn fuzz_findings_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("finding.wav");
    let load = |b: &[u8]| {
        std::fs::write(&path, b).unwrap();
        load_wav(&path)
    };
    // 2026-12-01, wav: an extensible fmt chunk whose speaker mask has fewer bits than the
    // channel count made symphonia-format-riff's mask fix-up shift by 32 or more (a panic
    // with overflow checks, a wrong mask without). Found as a 236-byte input with 35
    // channels and mask 0b11; a mask with bit 31 set, or 32 channels and mask 0, do the same.
    let err = load(&ext_wav(35, 3, 1)).unwrap_err().to_string();
    assert!(err.contains("extensible header with 35 channels"), "{err}");
    for (channels, mask) in [(2, 0x8000_0000), (2, 0), (4, 1)] {
        let a = load(&ext_wav(channels, mask, 5))
            .unwrap_or_else(|e| panic!("{channels} channels, mask {mask:#x}: {e:#}"));
        assert_eq!(a.samples.len(), 5, "{channels} channels, mask {mask:#x}");
    }
    // 32 channels are more positions than the decoder names: its own clear error.
    let err = load(&ext_wav(32, 0, 5)).unwrap_err().to_string();
    assert!(!err.contains("decoder failed"), "{err}");
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
