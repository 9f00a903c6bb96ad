//! `gruwave train` and `eval` with a SampleRNN: a run on a tiny WAV writes a model that
//! loads, resumes, is evaluated in bits per sample, and bad combinations are refused.

use gruwave::samplernn::load_srnn;
use std::path::Path;
use std::process::{Command, Output};

fn gruwave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("the gruwave binary runs")
}

/// stdout of a run that must succeed, or stderr of one that must fail.
fn expect(args: &[&str], success: bool) -> String {
    let o = gruwave(args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(
        o.status.success(),
        success,
        "gruwave {args:?}:\n{out}\n{err}"
    );
    if success {
        out
    } else {
        err
    }
}

/// Half a second of a 16 kHz sawtooth of period 37 samples.
fn saw_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..8000 {
        w.write_sample((((i % 37) as f64 / 37.0 - 0.5) * 20000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn srnn_tiny_trains_resumes_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("saw.wav");
    saw_wav(&wav);
    let out = dir.path().join("run");
    let (wav, out_s) = (wav.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--config",
        "srnn-tiny",
        "--batch",
        "4",
        "--valid-every",
        "2",
    ];
    let mut args = vec!["train", wav, "--out", out_s, "--steps", "4"];
    args.extend(common);
    let stdout = expect(&args, true);
    assert!(stdout.contains("validation:"), "{stdout}");
    for f in [
        "model.safetensors",
        "trainer_state.safetensors",
        "metrics.csv",
        "training.png",
    ] {
        assert!(out.join(f).is_file(), "{f} is missing");
    }
    let model = out.join("model.safetensors");
    let ckpt = load_srnn(&model).unwrap();
    assert_eq!(ckpt.layout.config.frame_sizes, vec![4, 2]);
    assert_eq!(ckpt.sample_rate, Some(16000));

    // A changed family is refused on resume; the same run continues.
    let err = expect(
        &["train", "--resume", out_s, "--arch", "gru", "--steps", "6"],
        false,
    );
    assert!(err.contains("--arch cannot be changed"), "{err}");
    expect(&["train", "--resume", out_s, "--steps", "6"], true);
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");

    let stdout = expect(&["eval", "--model", model.to_str().unwrap(), wav], true);
    let bits: f64 = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(stdout.contains("bits/sample"), "{stdout}");
    assert!(bits > 0.0 && bits < 8.5, "{stdout}");
}

#[test]
fn srnn_on_midi_and_mixed_families_are_refused() {
    let midi = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/midi/valid/bwv274.mid");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let err = expect(
        &["train", midi, "--out", out, "--config", "srnn-tiny"],
        false,
    );
    assert!(err.contains("a SampleRNN models audio"), "{err}");
    let err = expect(
        &[
            "train",
            midi,
            "--out",
            out,
            "--arch",
            "gru",
            "--config",
            "srnn-tiny",
        ],
        false,
    );
    assert!(err.contains("--arch asks for a gru model"), "{err}");
}
