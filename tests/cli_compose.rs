//! MIDI end to end through the binary: train on chorales, resume exactly with
//! transposition, evaluate in bits per event, sample a .mid with its rendering and piano
//! roll, and a clear error (with nothing written) for each mismatch of model and data.

use gruwave::midi;
use gruwave::model::{init_params, save_model, ParamLayout, Preset};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("the gruwave binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "gruwave {args:?} failed:\n{out}\n{err}");
    format!("{out}{err}")
}

fn refused(args: &[&str], words: &[&str]) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "gruwave {args:?} should fail");
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(
            err.contains(w),
            "gruwave {args:?}: '{w}' missing from:\n{err}"
        );
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three chorales (the fixtures) for training and one for validation.
fn chorales(dir: &Path) -> (PathBuf, PathBuf) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/midi");
    let (train, valid) = (dir.join("train"), dir.join("valid"));
    std::fs::create_dir_all(&train).unwrap();
    std::fs::create_dir_all(&valid).unwrap();
    for f in ["bwv324.mid", "bwv66.6.mid", "02_tracks_channels.mid"] {
        std::fs::copy(fx.join(f), train.join(f)).unwrap();
    }
    std::fs::copy(fx.join("bwv79.6.mid"), valid.join("bwv79.6.mid")).unwrap();
    (train, valid)
}

const SMALL: [&str; 12] = [
    "--hidden",
    "12",
    "--embed",
    "6",
    "--batch",
    "3",
    "--tbptt",
    "16",
    "--valid-every",
    "2",
    "--sample-seconds",
    "2",
];

fn train(train: &Path, valid: &Path, out: &Path, steps: &str, extra: &[&str]) -> String {
    let mut a = vec![
        "train",
        s(train),
        "--valid",
        s(valid),
        "--out",
        s(out),
        "--steps",
        steps,
    ];
    a.extend(SMALL);
    a.extend(extra);
    ok(&a)
}

#[test]
fn midi_trains_resumes_exactly_evaluates_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = chorales(dir.path());
    // 3 + 3 steps with a resume equal 6 steps, transposition included.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let log = train(&tr, &va, &a, "6", &["--transpose", "5"]);
    assert!(
        log.contains("midi-small") || log.contains("custom"),
        "{log}"
    );
    assert!(
        log.contains("bits/event") && log.contains("bits per second of music"),
        "{log}"
    );
    train(&tr, &va, &b, "3", &["--transpose", "5"]);
    ok(&["train", "--resume", s(&b), "--steps", "6"]);
    let model = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(model(&a), model(&b), "resume is not exact");
    // A MIDI preview at the checkpoint.
    assert!(a.join("sample_step6.mid").exists());
    // The checkpoint says what it holds.
    let ck = gruwave::model::load_model(&a.join("model.safetensors")).unwrap();
    assert_eq!(ck.codec, gruwave::codec::Codec::Perf388);
    assert_eq!(ck.layout.config.vocab, 388);

    let m = a.join("model.safetensors");
    let out = ok(&["eval", "--model", s(&m), s(&va)]);
    assert!(
        out.contains("bits/event") && out.contains("bits per second of music"),
        "{out}"
    );
    // Every event of the file is scored, none left out at the end.
    let n = midi::encode_file(&std::fs::read(va.join("bwv79.6.mid")).unwrap(), "v").unwrap();
    assert!(
        out.contains(&format!("({} of {} events scored)", n.len(), n.len() + 1)),
        "{out}"
    );

    let mid = dir.path().join("piece.mid");
    let out = ok(&[
        "sample",
        "--model",
        s(&m),
        "--seconds",
        "3",
        "--out",
        s(&mid),
    ]);
    assert!(out.contains("in the best-fitting key"), "{out}");
    for ext in ["mid", "wav", "png"] {
        assert!(mid.with_extension(ext).exists(), "no .{ext}: {out}");
    }
    let notes = midi::read_notes(&std::fs::read(&mid).unwrap(), "piece");
    // An untrained model may draw no note at all; what it wrote must still be a MIDI file.
    if let Ok(notes) = notes {
        assert!(notes
            .iter()
            .all(|n| n.end <= 300 + 1 && n.end - n.start <= 300));
    }
    let wav = hound::WavReader::open(mid.with_extension("wav")).unwrap();
    assert_eq!(wav.spec().sample_rate, 44_100);
    // Priming with a chorale: the file holds the chorale, then 2 s more.
    let cont = dir.path().join("cont.mid");
    let p = va.join("bwv79.6.mid");
    ok(&[
        "sample",
        "--model",
        s(&m),
        "--seconds",
        "2",
        "--prime",
        s(&p),
        "--out",
        s(&cont),
        "--midi-only",
    ]);
    assert!(cont.exists() && !cont.with_extension("wav").exists());
    // Several streams, free sampling.
    let many = dir.path().join("many.mid");
    ok(&[
        "sample",
        "--model",
        s(&m),
        "--seconds",
        "1",
        "--streams",
        "3",
        "--free",
        "--midi-only",
        "--out",
        s(&many),
    ]);
    for i in 0..3 {
        assert!(dir.path().join(format!("many_{i:03}.mid")).exists());
    }
}

/// With no --model, sample composes with the bundled chorale model: a perf388 model whose
/// pieces sound (notes, a rendered WAV).
#[test]
fn sample_without_a_model_uses_the_bundled_chorale_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .current_dir(dir.path())
        .args(["sample", "--seconds", "4"])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    let mid = dir.path().join("sample.mid");
    let notes = midi::read_notes(&std::fs::read(&mid).unwrap(), "sample.mid").unwrap();
    assert!(notes.len() >= 4, "{} notes in 4 s: {log}", notes.len());
    assert!(dir.path().join("sample.wav").exists() && dir.path().join("sample.png").exists());
}

#[test]
fn models_and_data_of_different_kinds_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = chorales(dir.path());
    // A mu-law model.
    let tiny = Preset::by_name("tiny").unwrap().model;
    let layout = ParamLayout::new(&tiny);
    let audio_model = dir.path().join("audio.safetensors");
    save_model(&audio_model, &layout, &init_params(&layout, 0), 16000).unwrap();
    refused(
        &["eval", "--model", s(&audio_model), s(&va)],
        &["audio model", "MIDI"],
    );
    let out = dir.path().join("x.wav");
    refused(
        &[
            "sample",
            "--model",
            s(&audio_model),
            "--prime",
            s(&va.join("bwv79.6.mid")),
            "--out",
            s(&out),
        ],
        &["bwv79.6.mid", "MIDI primer"],
    );
    assert!(!out.exists());
    refused(
        &[
            "train",
            s(&tr),
            "--out",
            s(&dir.path().join("r")),
            "--init",
            s(&audio_model),
        ],
        &["audio model", "MIDI"],
    );
    // Audio and MIDI in one run.
    let wav = dir.path().join("a.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    (0..16000).for_each(|i| w.write_sample(((i % 100) * 300) as i16).unwrap());
    w.finalize().unwrap();
    let mixed_out = dir.path().join("mixed");
    refused(
        &["train", s(&tr), s(&wav), "--out", s(&mixed_out)],
        &["mix audio and MIDI"],
    );
    assert!(!mixed_out.exists());
    refused(
        &["train", s(&tr), "--valid", s(&wav), "--out", s(&mixed_out)],
        &["MIDI", "audio"],
    );
    refused(
        &["train", s(&tr), "--config", "tiny", "--out", s(&mixed_out)],
        &["tiny", "audio"],
    );
    refused(
        &["train", s(&wav), "--transpose", "3", "--out", s(&mixed_out)],
        &["--transpose", "MIDI"],
    );
    // A perf388 model given audio.
    let m = dir.path().join("m");
    train(&tr, &va, &m, "1", &[]);
    let midi_model = m.join("model.safetensors");
    refused(
        &["eval", "--model", s(&midi_model), s(&wav)],
        &["MIDI model", "audio"],
    );
    let mid = dir.path().join("y.mid");
    refused(
        &[
            "sample",
            "--model",
            s(&midi_model),
            "--prime",
            s(&wav),
            "--out",
            s(&mid),
        ],
        &["a.wav", ".mid"],
    );
    refused(
        &[
            "sample",
            "--model",
            s(&midi_model),
            "--program",
            "200",
            "--out",
            s(&mid),
        ],
        &["200"],
    );
    refused(
        &["sample", "--model", s(&midi_model), "--out", s(dir.path())],
        &["folder"],
    );
    assert!(!mid.exists());
    // A bad MIDI file in a training folder is skipped and counted; a corrupt one alone fails.
    std::fs::write(tr.join("broken.mid"), b"MThd\x00\x00\x00\x06\x00\x01").unwrap();
    let log = train(&tr, &va, &dir.path().join("skip"), "1", &[]);
    assert!(log.contains("skipped 1 file"), "{log}");
    refused(
        &["eval", "--model", s(&midi_model), s(&tr.join("broken.mid"))],
        &["broken.mid"],
    );
}
