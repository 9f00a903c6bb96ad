//! Audio input through symphonia: every format gruwave reads, on the tiny fixtures in
//! tests/fixtures/audio (see its README for how they were made) and on WAVs the tests
//! write byte by byte (64-bit float, a streaming header, absurd sample rates).

use gruwave::audio::{collect_audio_files, load_wav};
use gruwave::model::{init_params, save_model, ParamLayout, Preset};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// A WAV with format tag `tag`, `bits` per sample and the given data bytes; `data_size`
/// overrides the data chunk's size field.
fn raw_wav(tag: u16, bits: u16, rate: u32, data: &[u8], data_size: Option<u32>) -> Vec<u8> {
    let block = bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&rate.wrapping_mul(block as u32).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_size.unwrap_or(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn sine(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 * (i as f64 * 0.05).sin()).collect()
}

#[test]
fn flac_and_aiff_decode_to_the_very_samples_of_the_wav() {
    let wav = load_wav(&fixture("tone.wav")).unwrap();
    assert_eq!((wav.sample_rate, wav.samples.len()), (16000, 16000));
    for name in ["tone.flac", "tone.aiff", "tone_stereo.flac"] {
        let a = load_wav(&fixture(name)).unwrap();
        assert_eq!(a.sample_rate, 16000, "{name}");
        assert_eq!(a.samples, wav.samples, "{name} differs from tone.wav");
    }
}

#[test]
fn lossy_mp3_and_ogg_decode_to_the_same_loudness() {
    let wav = load_wav(&fixture("tone.wav")).unwrap();
    for name in ["tone.mp3", "tone.ogg"] {
        let a = load_wav(&fixture(name)).unwrap();
        assert_eq!(a.sample_rate, 16000, "{name}");
        // Encoders pad the start and end by up to a few frames.
        let n = a.samples.len() as f64;
        assert!((15000.0..19000.0).contains(&n), "{name}: {n} samples");
        let ratio = rms(&a.samples) / rms(&wav.samples);
        assert!(
            (0.8..1.2).contains(&ratio),
            "{name}: loudness ratio {ratio}"
        );
    }
}

#[test]
fn float64_wav_loads() {
    let dir = tempfile::tempdir().unwrap();
    let x = sine(1000);
    let data: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = dir.path().join("f64.wav");
    std::fs::write(&path, raw_wav(3, 64, 16000, &data, None)).unwrap();
    let a = load_wav(&path).unwrap();
    assert_eq!(a.samples.len(), 1000);
    for (got, want) in a.samples.iter().zip(&x) {
        assert!((*got as f64 - want).abs() < 1e-6);
    }
}

#[test]
fn streaming_header_with_unknown_data_size_reads_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = sine(800)
        .iter()
        .flat_map(|v| ((v * 32767.0) as i16).to_le_bytes())
        .collect();
    let path = dir.path().join("stream.wav");
    std::fs::write(&path, raw_wav(1, 16, 16000, &data, Some(u32::MAX))).unwrap();
    assert_eq!(load_wav(&path).unwrap().samples.len(), 800);
}

#[test]
fn absurd_sample_rates_are_clear_errors_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0x10u8; 16 * 1024];
    for rate in [8, 999, 768_001, u32::MAX] {
        let path = dir.path().join(format!("r{rate}.wav"));
        std::fs::write(&path, raw_wav(1, 16, rate, &data, None)).unwrap();
        let t0 = Instant::now();
        let err = format!("{:#}", load_wav(&path).unwrap_err());
        assert!(err.contains(&format!("{rate} Hz")), "{err}");
        assert!(err.contains("1000 to 768000 Hz"), "{err}");
        assert!(t0.elapsed().as_secs() < 5);
    }
}

#[test]
fn folders_pick_up_every_supported_extension() {
    let files = collect_audio_files(&[fixture("")]).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "tone.aiff",
            "tone.flac",
            "tone.mp3",
            "tone.ogg",
            "tone.wav",
            "tone_stereo.flac"
        ]
    );
}

fn gruwave(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.success(), text(&o.stdout), text(&o.stderr))
}

fn bits(stdout: &str) -> f64 {
    stdout.split_whitespace().next().unwrap().parse().unwrap()
}

/// FLAC, MP3, Ogg and 64-bit float WAV train, and eval; FLAC scores exactly what the same
/// audio scores as WAV.
#[test]
fn every_format_trains_and_evals_and_flac_scores_as_wav() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for name in ["tone.flac", "tone.mp3", "tone.ogg", "tone.aiff"] {
        std::fs::copy(fixture(name), data.join(name)).unwrap();
    }
    let wav = load_wav(&fixture("tone.wav")).unwrap();
    let f64_data: Vec<u8> = wav
        .samples
        .iter()
        .flat_map(|&v| (v as f64).to_le_bytes())
        .collect();
    std::fs::write(data.join("f64.wav"), raw_wav(3, 64, 16000, &f64_data, None)).unwrap();
    let out = dir.path().join("run");
    let (ok, o, e) = gruwave(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--config",
        "tiny",
        "--steps",
        "3",
        "--sample-seconds",
        "0",
    ]);
    assert!(ok, "{o}\n{e}");
    assert!(
        e.contains("on 4 files") && e.contains("validating on 1 file"),
        "{e}"
    );
    // Eval with a fixed model: FLAC and WAV give the same bits per sample to the digit.
    let model = dir.path().join("m.safetensors");
    let layout = ParamLayout::new(&Preset::by_name("tiny").unwrap().model);
    save_model(&model, &layout, &init_params(&layout, 7), 16000).unwrap();
    let mut scores = Vec::new();
    for f in [
        fixture("tone.wav"),
        fixture("tone.flac"),
        data.join("f64.wav"),
    ] {
        let (ok, o, e) = gruwave(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
        assert!(ok, "{o}\n{e}");
        scores.push(bits(&o));
    }
    assert_eq!(
        scores[0], scores[1],
        "FLAC and WAV score differently: {scores:?}"
    );
    assert!((scores[0] - scores[2]).abs() < 1e-3, "{scores:?}");
    for name in ["tone.mp3", "tone.ogg"] {
        let f = data.join(name);
        let (ok, o, e) = gruwave(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
        assert!(ok && bits(&o) > 0.0, "{o}\n{e}");
    }
}
