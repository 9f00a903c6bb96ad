//! `gruwave sample` and `gruwave bench` on SampleRNN models, end to end.

use gruwave::samplernn::{init_params, save_srnn, SrnnConfig, SrnnLayout};
use std::path::Path;

mod common;
use common::{gruwave, stderr};

/// A small random SampleRNN (srnn-tiny's tiers, narrower) saved at 8 kHz.
fn model(dir: &Path) -> String {
    let config = SrnnConfig::new(&[4, 2], 16, 1, 256).unwrap();
    let layout = SrnnLayout::new(&config);
    let path = dir.join("srnn.safetensors");
    save_srnn(
        &path,
        &layout,
        &init_params(&config, 3),
        Some(8000),
        Some("mulaw256"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn wav_len(path: &Path) -> (u32, u32) {
    let r = hound::WavReader::open(path).unwrap();
    (r.spec().sample_rate, r.duration())
}

#[test]
fn samples_a_samplernn_checkpoint_at_its_rate() {
    let d = tempfile::tempdir().unwrap();
    let m = model(d.path());
    let out = d.path().join("gen.wav");
    let o = gruwave(&[
        "sample",
        "--model",
        &m,
        "--seconds",
        "0.05",
        "--streams",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for i in 0..2 {
        let wav = d.path().join(format!("gen_00{i}.wav"));
        assert_eq!(wav_len(&wav), (8000, 400));
        assert!(wav.with_extension("png").is_file());
    }
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("samples/s") && said.contains("real time"),
        "{said}"
    );

    // Primed with a WAV at another rate: the output holds only the continuation.
    let prime = d.path().join("prime.wav");
    let one = d.path().join("one.wav");
    std::fs::copy(d.path().join("gen_000.wav"), &prime).unwrap();
    let o = gruwave(&[
        "sample",
        "--model",
        &m,
        "--seconds",
        "0.01",
        "--prime",
        prime.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(wav_len(&one), (8000, 80));
    assert!(one.with_extension("png").is_file());

    // A GRU-only flag is refused, naming it, with nothing written.
    let bad = d.path().join("bad.wav");
    let o = gruwave(&[
        "sample",
        "--model",
        &m,
        "--top-k",
        "5",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--top-k"), "{}", stderr(&o));
    assert!(!bad.exists());
}

#[test]
fn benches_srnn_tiny() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("b.json");
    let o = gruwave(&[
        "bench",
        "--arch",
        "samplernn",
        "--config",
        "srnn-tiny",
        "--steps",
        "1",
        "--tokens",
        "64",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("srnn-tiny  train"), "{out}");
    assert_eq!(out.matches("srnn-tiny  sample").count(), 2, "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r["flops_per_sample"].as_f64().unwrap() > 0.0));
}
