//! `gruwave render` and `gruwave stats` end to end, through the built binary: rendered
//! WAVs checked by length and spectrum, the statistics table and JSON, and a clear error
//! (never a panic, nothing written) for each kind of bad input.

use gruwave::midi::{write_midi, Note};
use gruwave::music::render::{parse_midi, TAIL_SECONDS};
#[path = "common/spectrum.rs"]
mod spectrum;
use spectrum::{spectrum, strongest_peaks};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STATISTICS: [&str; 8] = [
    "pitch-class histogram",
    "note-length histogram (s)",
    "inter-onset-interval histogram (s)",
    "pitch range (semitones)",
    "notes per second",
    "mean polyphony",
    "in-scale fraction",
    "long-note fraction (>= 3.2 s)",
];

fn gruwave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("the gruwave binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> (String, String) {
    let o = gruwave(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "gruwave {args:?} failed:\n{out}\n{err}");
    (out, err)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn asset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

const CHORALE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/midi/valid/bwv274.mid");

/// A format-0 file, 480 ticks per quarter, from (delta ticks, event bytes) pairs.
fn smf(division: [u8; 2], events: &[(u8, &[u8])]) -> Vec<u8> {
    let mut track = Vec::new();
    for (delta, bytes) in events {
        track.push(*delta);
        track.extend_from_slice(bytes);
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut out = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
    out.extend(division);
    out.extend(b"MTrk");
    out.extend((track.len() as u32).to_be_bytes());
    out.extend(track);
    out
}

const PPQ_480: [u8; 2] = [0x01, 0xE0];

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f64>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let x = r
        .samples::<i16>()
        .map(|v| f64::from(v.unwrap()) / 32768.0)
        .collect();
    (spec, x)
}

#[test]
fn a_chorale_renders_to_a_wav_of_its_length_with_music_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("bwv274.wav");
    let (stdout, _) = ok(&["render", CHORALE, s(&wav), "--rate", "22050"]);
    assert!(
        stdout.contains("wrote") && stdout.contains("22050 Hz"),
        "{stdout}"
    );
    let (spec, x) = read_wav(&wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 22050, 16)
    );
    let seconds = parse_midi(&std::fs::read(CHORALE).unwrap())
        .unwrap()
        .seconds;
    let frames = ((seconds + TAIL_SECONDS) * 22050.0).ceil() as usize;
    assert_eq!(x.len(), 2 * frames);
    // Mono mix of 8 s of music: loud enough, and its energy where four voices sing.
    let mono: Vec<f64> = x.chunks(2).map(|f| 0.5 * (f[0] + f[1])).collect();
    let part = &mono[22050..9 * 22050];
    let rms = (part.iter().map(|v| v * v).sum::<f64>() / part.len() as f64).sqrt();
    assert!(rms > 0.005, "rms {rms}");
    let power: Vec<f64> = spectrum(part).iter().map(|m| m * m).collect();
    let bin_hz = 22050.0 / part.len() as f64;
    let band: f64 = power[(80.0 / bin_hz) as usize..(2000.0 / bin_hz) as usize]
        .iter()
        .sum();
    let total: f64 = power.iter().sum();
    assert!(
        band > 0.8 * total,
        "{:.2} of the energy in 80-2000 Hz",
        band / total
    );
}

#[test]
fn an_a4_renders_with_its_partials_at_harmonics_of_440_hz() {
    let dir = tempfile::tempdir().unwrap();
    let (mid, wav) = (dir.path().join("a4.mid"), dir.path().join("a4.wav"));
    // 0.5 s to 1.5 s (10 ms steps), piano.
    let note = Note {
        pitch: 69,
        start: 50,
        end: 150,
        velocity: 100,
    };
    std::fs::write(&mid, write_midi(&[note], 0)).unwrap();
    ok(&["render", s(&mid), s(&wav), "--mono"]);
    let (spec, x) = read_wav(&wav);
    assert_eq!((spec.channels, spec.sample_rate), (1, 44100));
    assert_eq!(x.len(), (2.5 * 44100.0) as usize); // to the note's end, + 1 s tail
    let part = &x[(0.6 * 44100.0) as usize..(1.4 * 44100.0) as usize];
    let peaks = strongest_peaks(&spectrum(part), 44100.0 / part.len() as f64, 3);
    for f in peaks {
        let harmonic = (f / 440.0).round().max(1.0);
        let off = (f - harmonic * 440.0).abs();
        // A sampled piano's upper partials run a little sharp; a semitone is 6 %.
        assert!(
            off < 2.0 + 0.005 * f,
            "peak {f:.1} Hz is off harmonic {harmonic}"
        );
    }
}

#[test]
fn stats_compare_the_bundled_chorales_in_a_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("stats.json");
    let (train, valid) = (asset("midi/train"), asset("midi/valid"));
    let args = [
        "stats",
        s(&train),
        "--reference",
        s(&valid),
        "--json",
        s(&json),
    ];
    let (stdout, _) = ok(&args);
    for name in STATISTICS {
        assert!(stdout.contains(name), "no {name} in:\n{stdout}");
    }
    assert!(
        stdout.contains("32 / ") && stdout.contains("6 / "),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["generated"]["pieces"], 32);
    assert_eq!(v["reference"]["pieces"], 6);
    let rows = v["statistics"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, STATISTICS);
    for r in rows {
        let d = r["distance"].as_f64().unwrap();
        assert!((0.0..=0.5).contains(&d), "{r}"); // chorales against chorales
    }

    // --json - gives JSON alone on stdout; the default reference is the bundled valid set.
    let (stdout, stderr) = ok(&["stats", s(&train), "--json", "-"]);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["reference"]["pieces"], 6);
    assert!(stderr.contains("mean polyphony"), "{stderr}");
}

/// A temporary folder holding one file.
fn bad_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `gruwave ARGS` fails in `dir` with an error that names `names` and says each of
/// `what`, writes nothing and does not panic.
fn assert_refused(dir: &Path, args: &[&str], names: &str, what: &str) {
    let before = listing(dir);
    let o = gruwave(args);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(names),
        "{args:?}: the error does not name {names}:\n{err}"
    );
    assert!(
        err.contains(what),
        "{args:?}: the error does not say '{what}':\n{err}"
    );
    assert_eq!(listing(dir), before, "{args:?} wrote something");
}

/// A bad MIDI file is refused by render and stats alike.
fn assert_bad_midi(name: &str, bytes: &[u8], what: &str) {
    let (dir, path) = bad_file(name, bytes);
    let (wav, json) = (dir.path().join("out.wav"), dir.path().join("out.json"));
    assert_refused(dir.path(), &["render", s(&path), s(&wav)], s(&path), what);
    let stats = ["stats", s(&path), "--json", s(&json)];
    assert_refused(dir.path(), &stats, s(&path), what);
}

#[test]
fn corrupt_midi() {
    assert_bad_midi(
        "corrupt.mid",
        b"this is not a MIDI file",
        "not a standard MIDI",
    );
}

#[test]
fn truncated_midi() {
    let bytes = std::fs::read(CHORALE).unwrap();
    assert_bad_midi("truncated.mid", &bytes[..bytes.len() / 2], "truncated");
}

#[test]
fn smpte_timed_midi() {
    let bytes = smf(
        [0xE7, 0x28],
        &[(0, &[0x90, 60, 100]), (100, &[0x80, 60, 0])],
    );
    assert_bad_midi("smpte.mid", &bytes, "SMPTE");
}

#[test]
fn drum_only_midi() {
    let bytes = smf(PPQ_480, &[(0, &[0x99, 36, 100]), (100, &[0x89, 36, 0])]);
    assert_bad_midi("drums.mid", &bytes, "drum-only");
}

#[test]
fn midi_without_notes() {
    let bytes = smf(PPQ_480, &[(0, &[0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20])]);
    assert_bad_midi("empty.mid", &bytes, "no notes");
}

#[test]
fn missing_midi() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mid");
    let wav = dir.path().join("out.wav");
    let args = ["render", s(&missing), s(&wav)];
    assert_refused(dir.path(), &args, s(&missing), "no such file");
    let args = ["stats", s(&missing)];
    assert_refused(dir.path(), &args, s(&missing), "no such file");
    let args = ["stats", CHORALE, "--reference", s(&missing)];
    assert_refused(dir.path(), &args, s(&missing), "no such file");
}

#[test]
fn output_that_is_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let args = ["render", CHORALE, s(&sub)];
    assert_refused(dir.path(), &args, s(&sub), "is a folder");
    let args = ["stats", CHORALE, "--json", s(&sub)];
    assert_refused(dir.path(), &args, s(&sub), "is a folder");
    assert!(listing(&sub).is_empty());
}

#[test]
fn program_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let args = ["render", CHORALE, s(&wav), "--program", "128"];
    assert_refused(dir.path(), &args, "--program", "0..=127");
}

#[test]
fn bad_soundfonts() {
    let (dir, garbage) = bad_file("garbage.sf2", b"RIFF\x04\0\0\0sfbkLIST");
    let font = std::fs::read(asset("soundfonts/sf_GMbank.sf2")).unwrap();
    let truncated = dir.path().join("truncated.sf2");
    std::fs::write(&truncated, &font[..font.len() / 3]).unwrap();
    let wav = dir.path().join("out.wav");
    for sf in [&garbage, &truncated] {
        let args = ["render", CHORALE, s(&wav), "--soundfont", s(sf)];
        assert_refused(dir.path(), &args, s(sf), "invalid SoundFont");
    }
    let missing = dir.path().join("missing.sf2");
    let args = ["render", CHORALE, s(&wav), "--soundfont", s(&missing)];
    assert_refused(dir.path(), &args, s(&missing), "cannot read");
}

#[test]
fn a_folder_with_one_bad_file_renders_the_rest_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("sub")).unwrap();
    std::fs::copy(CHORALE, corpus.join("a.mid")).unwrap();
    std::fs::copy(asset("midi/valid/bwv328.mid"), corpus.join("sub/b.mid")).unwrap();
    std::fs::write(corpus.join("bad.mid"), b"MThd garbage").unwrap();
    let out = dir.path().join("wav");
    let args = [
        "render",
        s(&corpus),
        "--out-dir",
        s(&out),
        "--rate",
        "16000",
        "--mono",
    ];
    let (stdout, stderr) = ok(&args);
    assert!(stdout.contains("rendered 2 of 3 files"), "{stdout}");
    assert!(
        stdout.contains("skipped 1 file that could not be rendered"),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning") && stderr.contains("bad.mid"),
        "{stderr}"
    );
    assert_eq!(listing(&out), [out.join("a.wav"), out.join("sub")]);
    let (spec, _) = read_wav(&out.join("sub/b.wav"));
    assert_eq!((spec.channels, spec.sample_rate), (1, 16000));

    let (stdout, _) = ok(&["stats", s(&corpus)]);
    assert!(
        stdout.contains("generated: 2 files") && stdout.contains("skipped 1"),
        "{stdout}"
    );

    // Nothing renders: an error, and no --out-dir folder left behind.
    std::fs::remove_file(corpus.join("a.mid")).unwrap();
    std::fs::remove_file(corpus.join("sub/b.mid")).unwrap();
    let empty = dir.path().join("empty.mid");
    std::fs::write(&empty, smf(PPQ_480, &[])).unwrap();
    let none = dir.path().join("none");
    let args = ["render", s(&corpus), s(&empty), "--out-dir", s(&none)];
    assert_refused(dir.path(), &args, "bad.mid", "none of the 2 MIDI files");
}

#[test]
fn two_inputs_that_would_write_one_wav_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x")).unwrap();
    let (a, b) = (dir.path().join("a.mid"), dir.path().join("x/a.midi"));
    std::fs::copy(CHORALE, &a).unwrap();
    std::fs::copy(CHORALE, &b).unwrap();
    let out = dir.path().join("wav");
    let args = ["render", s(&a), s(&b), "--out-dir", s(&out)];
    assert_refused(dir.path(), &args, s(&b), "would both be written");
}
