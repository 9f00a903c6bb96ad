//! The `gruwave` binary end to end: train, resume, evaluate, Ctrl-C, and a clear error
//! (never a panic) for each kind of bad input.

use gruwave::model::{init_params, save_model, ParamLayout, Preset};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gruwave() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gruwave"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn run(args: &[&str]) -> Output {
    gruwave()
        .args(args)
        .output()
        .expect("the gruwave binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "gruwave {args:?} failed:\n{out}\n{err}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A second of "music": two detuned tones and a little noise, 16-bit mono.
fn music_wav(path: &Path, seconds: f64, rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut noise = 12345u32;
    for i in 0..(seconds * rate as f64) as usize {
        let t = i as f64 / rate as f64;
        noise = noise.wrapping_mul(1664525).wrapping_add(1013904223);
        let x = 0.4 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 0.2 * (2.0 * std::f64::consts::PI * 331.0 * t).sin()
            + 0.02 * ((noise >> 8) as f64 / (1u32 << 24) as f64 - 0.5);
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

const TINY: [&str; 8] = [
    "--config",
    "tiny",
    "--batch",
    "4",
    "--tbptt",
    "32",
    "--sample-seconds",
    "0",
];

fn train_args<'a>(data: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    let mut a = vec!["train", data, "--out", out, "--steps", steps];
    a.extend(TINY);
    a
}

#[test]
fn train_then_evaluate_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 1.0, 22050); // resampled to 16 kHz on the way in
    let out = dir.path().join("run");
    let mut args = train_args(s(&wav), s(&out), "6");
    args.truncate(args.len() - 2); // the preview length is set here
    args.extend([
        "--valid-every",
        "3",
        "--checkpoint-every",
        "3",
        "--sample-seconds",
        "0.02",
    ]);
    let stdout = ok(&args);
    assert!(stdout.contains("validation:"), "{stdout}");

    for f in [
        "model.safetensors",
        "trainer_state.safetensors",
        "metrics.csv",
        "training.png",
        "sample_step3.wav",
        "sample_step6.wav",
    ] {
        assert!(out.join(f).is_file(), "{f} is missing");
    }
    let png = std::fs::read(out.join("training.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let preview = hound::WavReader::open(out.join("sample_step6.wav")).unwrap();
    assert_eq!(preview.spec().sample_rate, 16000);
    assert_eq!(preview.len(), 320);

    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "step,train_bits,valid_bits,tokens_per_s,elapsed_s"
    );
    assert_eq!(lines.len(), 7, "{csv}");
    let valid: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(valid.iter().filter(|v| !v.is_empty()).count(), 2, "{csv}");
    assert!(!valid[2].is_empty() && !valid[5].is_empty(), "{csv}");

    let model = out.join("model.safetensors");
    let stdout = ok(&["eval", "--model", s(&model), s(&wav)]);
    let bits: f64 = stdout
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no bits/sample in: {stdout}"));
    assert!(bits > 0.5 && bits < 8.5, "{stdout}");
    assert!(stdout.contains("bits/sample"), "{stdout}");
}

#[test]
fn resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 0.5, 16000);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&train_args(s(&wav), s(&a), "6"));
    ok(&train_args(s(&wav), s(&b), "3"));
    // Nothing but the new target: every setting comes from the saved state.
    ok(&["train", "--resume", s(&b), "--steps", "6"]);
    // The files hold the same tensors bit for bit. (Not byte for byte: safetensors writes
    // the metadata map in hash order, which differs from process to process.)
    for f in ["model.safetensors", "trainer_state.safetensors"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        let (sx, sy) = (
            safetensors::SafeTensors::deserialize(&x).unwrap(),
            safetensors::SafeTensors::deserialize(&y).unwrap(),
        );
        let mut names = sx.names();
        names.sort();
        assert!(names.len() >= 5, "{names:?}");
        for name in names {
            assert_eq!(
                sx.tensor(name).unwrap().data(),
                sy.tensor(name).unwrap().data(),
                "{f}: {name} differs"
            );
        }
        assert_eq!(sx.len(), sy.len());
        let meta = |bytes: &[u8]| {
            let (_, m) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
            let mut m = m.metadata().clone().unwrap();
            // Training time is the one thing that may differ.
            m.remove("elapsed_s");
            m
        };
        assert_eq!(meta(&x), meta(&y), "{f}: metadata differs");
    }
    let rows = |d: &Path| std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    assert_eq!(rows(&b).lines().count(), 7);
    let train_bits = |csv: String| -> Vec<String> {
        csv.lines()
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(train_bits(rows(&a)), train_bits(rows(&b)));

    // A resumed run keeps its settings, and a finished run says so.
    let o = run(&["train", "--resume", s(&b), "--lr", "0.1"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("--lr cannot be changed"),
        "{err}"
    );
    let o = run(&["train", "--resume", s(&b)]);
    assert!(o.status.success());
    assert!(text(&o).1.contains("already done 6 of 6 steps"));
    // A fresh run does not overwrite a run by accident.
    let o = run(&train_args(s(&wav), s(&b), "1"));
    assert!(!o.status.success() && text(&o).1.contains("already holds a training run"));
}

#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes() {
    signal_saves_a_checkpoint_that_resumes_exactly("-INT");
}

#[test]
fn sigterm_saves_a_checkpoint_that_resumes() {
    signal_saves_a_checkpoint_that_resumes_exactly("-TERM");
}

/// `kill SIGNAL` during training saves a checkpoint; the resumed run (after a stale
/// temporary file of a killed write is planted) ends with the very model of a run that
/// was never interrupted.
fn signal_saves_a_checkpoint_that_resumes_exactly(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 0.5, 16000);
    let out = dir.path().join("run");
    let mut child = gruwave()
        .args(train_args(s(&wav), s(&out), "100000"))
        .args(["--valid-every", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the loop runs, then interrupt it as a terminal (or a shutdown) would.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("training ") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no training line");
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(!rest.contains("panicked"), "{rest}");

    // The checkpoint holds the steps done; the run continues from there.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let done = csv.lines().count() as u64 - 1;
    assert!(done > 0, "{csv}");
    let stale = out.join(".model.safetensors.4000000000.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let total = (done + 2).to_string();
    let stdout = ok(&["train", "--resume", s(&out), "--steps", &total]);
    assert!(
        stdout.contains(&format!("trained 2 steps ({} in all)", done + 2)),
        "{stdout}"
    );
    assert!(!stale.exists(), "the stale temporary file is still there");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, done + 3, "{csv}");
    let straight = dir.path().join("straight");
    let mut args = train_args(s(&wav), s(&straight), &total);
    args.extend(["--valid-every", "0"]);
    ok(&args);
    assert!(
        std::fs::read(out.join("model.safetensors")).unwrap()
            == std::fs::read(straight.join("model.safetensors")).unwrap(),
        "the resumed model differs from the uninterrupted one"
    );
}

#[test]
fn one_bad_file_among_good_ones_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for i in 0..3 {
        music_wav(&data.join(format!("good{i}.wav")), 0.3, 16000);
    }
    std::fs::write(data.join("broken.wav"), b"").unwrap();
    let out = dir.path().join("run");
    let o = run(&train_args(s(&data), s(&out), "1"));
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("broken.wav"),
        "{stderr}"
    );
    assert!(
        stdout.contains("skipped 1 file that could not be loaded"),
        "{stdout}"
    );
}

#[test]
fn devices_names_the_adapter_it_would_use() {
    let out = ok(&["devices"]);
    assert!(out.contains("gruwave uses (*):"), "{out}");
    assert!(out.lines().any(|l| l.starts_with('*')), "{out}");
}

// ---- bad input: each fails with exit status 1 and a message naming the file and the
// problem; nothing panics ----

/// `train` and `eval` on `data` both fail with a message that names `data` and says
/// `what` (`eval_what` for eval where its wording differs).
fn assert_refused_by(data: &Path, what: &[&str], eval_what: &[&str]) {
    let dir = data.parent().unwrap();
    let out = dir.join("out");
    let model = dir.join("model.safetensors");
    let layout = ParamLayout::new(&Preset::by_name("tiny").unwrap().model);
    save_model(&model, &layout, &init_params(&layout, 0), 16000).unwrap();
    for (args, what) in [
        (train_args(s(data), s(&out), "1"), what),
        (vec!["eval", "--model", s(&model), s(data)], eval_what),
    ] {
        let o = run(&args);
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}:\n{stdout}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(s(data)),
            "does not name {}: {stderr}",
            s(data)
        );
        for w in what {
            assert!(
                stderr.contains(w),
                "{}: does not say {w:?}: {stderr}",
                args[0]
            );
        }
    }
}

fn assert_refused(data: &Path, what: &[&str]) {
    assert_refused_by(data, what, what)
}

/// A canonical 44-byte PCM header with the given fields, then `data`.
fn raw_wav(channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let block = (channels.max(1) * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * block).to_le_bytes());
    b.extend_from_slice(&(block as u16).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn bad_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn empty_file() {
    let (_d, p) = bad_file("empty.wav", b"");
    assert_refused(&p, &["empty"]);
}

#[test]
fn truncated_wav() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.wav");
    music_wav(&p, 0.1, 16000);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&p, &["truncated"]);
}

#[test]
fn not_a_wav() {
    let (_d, p) = bad_file("song.wav", b"ID3\x04\x00 an mp3 with the wrong name");
    assert_refused(&p, &["not a WAV"]);
}

#[test]
fn zero_channels() {
    let (_d, p) = bad_file("nochan.wav", &raw_wav(0, 16000, &[1, 2, 3, 4]));
    assert_refused(&p, &["0 channels"]);
}

#[test]
fn sample_rate_zero() {
    let (_d, p) = bad_file("norate.wav", &raw_wav(1, 0, &[1, 2, 3, 4]));
    assert_refused(&p, &["sample rate is 0"]);
}

#[test]
fn all_silent() {
    let (_d, p) = bad_file("quiet.wav", &raw_wav(1, 16000, &[0; 2000]));
    assert_refused(&p, &["silent"]);
}

#[test]
fn folder_with_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("stems");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), b"no audio here").unwrap();
    assert_refused(&folder, &["no .wav files"]);
}

#[test]
fn data_shorter_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short.wav");
    // 100 samples; tiny with B = 4, T = 32 needs 4 x 33.
    music_wav(&p, 100.0 / 16000.0, 16000);
    assert_refused_by(
        &p,
        &["shorter than one batch", "132 tokens in all"],
        &["shorter than one window", "129 tokens"],
    );
}

#[test]
fn init_starts_from_given_weights_of_the_right_shape() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 0.5, 16000);
    let model = dir.path().join("start.safetensors");
    let layout = ParamLayout::new(&Preset::by_name("tiny").unwrap().model);
    save_model(&model, &layout, &init_params(&layout, 3), 16000).unwrap();
    let out = dir.path().join("run");
    let mut args = train_args(s(&wav), s(&out), "1");
    args.extend(["--init", s(&model)]);
    ok(&args);
    // The flags may not ask for another shape than the model has.
    let other = dir.path().join("run2");
    args[3] = s(&other);
    args[7] = "small";
    let o = run(&args);
    let (_, err) = text(&o);
    assert!(
        o.status.code() == Some(1) && err.contains("the --init model has shape"),
        "{err}"
    );
}

#[test]
fn minutes_bound_the_run_and_its_resume_asks_how_long() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 0.5, 16000);
    let out = dir.path().join("run");
    let mut args = train_args(s(&wav), s(&out), "1");
    args.drain(4..6); // no --steps
    args.extend(["--minutes", "0.005", "--valid-every", "0"]);
    let t0 = Instant::now();
    let stdout = ok(&args);
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(stdout.starts_with("trained "), "{stdout}");
    let o = run(&["train", "--resume", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("pass --steps N or --minutes M"));
}

/// `--resume` takes flags repeated with their saved values (a preset with the batch and
/// window the run overrode), refuses a changed one, and
/// goes on past a corrupt metrics.csv (the trainer state is what must be right), noting
/// the rows it lacks.
#[test]
fn resume_accepts_saved_values_and_survives_a_corrupt_metrics_file() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tune.wav");
    music_wav(&wav, 0.5, 16000);
    let out = dir.path().join("run");
    ok(&train_args(s(&wav), s(&out), "2"));
    std::fs::write(out.join("metrics.csv"), "not,a,metrics,file\n1,2\n").unwrap();
    let o = run(&[
        "train",
        "--resume",
        s(&out),
        "--steps",
        "3",
        "--config",
        "tiny",
        "--batch",
        "4",
        "--tbptt",
        "32",
        "--lr",
        "0.002",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("starting a fresh metrics.csv"), "{stderr}");
    assert!(stderr.contains("holds 0 of the 2 rows"), "{stderr}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("step,") && csv.lines().nth(1).unwrap().starts_with("3,"),
        "{csv}"
    );
    let o = run(&["train", "--resume", s(&out), "--steps", "4", "--lr", "0.01"]);
    let (_, stderr) = text(&o);
    assert!(
        !o.status.success() && stderr.contains("--lr cannot be changed"),
        "{stderr}"
    );
}
