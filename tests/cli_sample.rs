//! `gruwave sample` end to end: files written as promised, and for each bad input a clear
//! error with nothing written.

use gruwave::model::{init_params, save_model, ModelConfig, ParamLayout};
use std::path::Path;
use std::process::Output;

mod common;
use common::{gruwave, stderr};

fn sample(args: &[&str]) -> Output {
    gruwave(&[&["sample"], args].concat())
}

/// A small random model saved like a trained one.
fn model(dir: &Path) -> String {
    let layout = ParamLayout::new(&ModelConfig::new(256, 8, 16, 1).unwrap());
    let path = dir.join("m.safetensors");
    save_model(&path, &layout, &init_params(&layout, 3), 8000).unwrap();
    path.to_str().unwrap().to_string()
}

fn wav_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wav"))
        .collect();
    v.sort();
    v
}

#[test]
fn writes_one_file_per_stream_at_the_model_rate() {
    let d = tempfile::tempdir().unwrap();
    let m = model(d.path());
    let out = d.path().join("gen.wav");
    let o = sample(&[
        "--model",
        &m,
        "--seconds",
        "0.05",
        "--streams",
        "3",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        wav_files(d.path()),
        ["gen_000.wav", "gen_001.wav", "gen_002.wav"]
    );
    let r = hound::WavReader::open(d.path().join("gen_001.wav")).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    assert_eq!(r.len(), 400, "0.05 s at 8 kHz");
    // Priming from a recording works too, and one stream writes exactly --out.
    let prime = d.path().join("gen_000.wav");
    let one = d.path().join("one.wav");
    let o = sample(&[
        "--model",
        &m,
        "--seconds",
        "0.02",
        "--prime",
        prime.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(one.exists());
}

#[test]
fn bad_inputs_are_named_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let m = model(d.path());
    let out = d.path().join("x.wav");
    let o_str = out.to_str().unwrap();
    let not_model = d.path().join("audio.safetensors");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mulaw.safetensors"),
        &not_model,
    )
    .unwrap();
    let text_file = d.path().join("notes.wav");
    std::fs::write(&text_file, "these are words, not audio").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--model", not_model.to_str().unwrap(), "--out", o_str],
            "not a GRU-LM checkpoint",
        ),
        (
            vec!["--model", &m, "--seconds", "0", "--out", o_str],
            "--seconds must be a positive number",
        ),
        (
            vec!["--model", &m, "--seconds", "-2", "--out", o_str],
            "--seconds must be a positive number",
        ),
        (
            vec!["--model", &m, "--seconds", "1e12", "--out", o_str],
            "memory",
        ),
        (
            vec!["--model", &m, "--out", "/nonexistent-gruwave-dir/x.wav"],
            "does not exist",
        ),
        (
            vec![
                "--model",
                &m,
                "--prime",
                text_file.to_str().unwrap(),
                "--out",
                o_str,
            ],
            "notes.wav",
        ),
        (
            vec!["--model", &m, "--streams", "0", "--out", o_str],
            "--streams",
        ),
    ];
    for (args, want) in cases {
        let o = sample(&args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            e.contains(want),
            "{args:?}: error does not say {want:?}:\n{e}"
        );
        assert!(!e.contains("panicked"), "{args:?} panicked:\n{e}");
        assert_eq!(wav_files(d.path()), ["notes.wav"], "{args:?} wrote a file");
    }
}
