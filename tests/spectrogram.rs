//! Spectrograms: the short-time spectrum finds a tone and follows a chirp, PNGs are written
//! for a tone, silence, one sample and no samples, and `gruwave spectrogram` writes one for
//! a WAV and refuses bad paths with nothing written.
//!
//! SPECTROGRAM_TEST_OUT=DIR copies the tone's and the chirp's pictures there for a look.

use gruwave::audio::write_wav;
use gruwave::music::spectrogram::{
    frame_len, spectrogram_png, spectrogram_png_with, stft_db, FreqScale, FLOOR_DB,
};
use std::f64::consts::TAU;
use std::path::Path;
use std::process::{Command, Output};

const RATE: u32 = 16_000;

/// Test signals in f64, so their own rounding stays below the -90 dB floor.
fn sine(hz: f64, seconds: f64) -> Vec<f32> {
    chirp_at(hz, hz, seconds, RATE)
}

fn chirp(f0: f64, f1: f64, seconds: f64) -> Vec<f32> {
    chirp_at(f0, f1, seconds, RATE)
}

/// A linear sweep from `f0` to `f1` Hz at `rate`.
fn chirp_at(f0: f64, f1: f64, seconds: f64, rate: u32) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    let k = (f1 - f0) / seconds;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (0.5 * (TAU * (f0 * t + 0.5 * k * t * t)).sin()) as f32
        })
        .collect()
}

fn loudest_bin(frame: &[f32]) -> usize {
    (0..frame.len())
        .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
        .unwrap()
}

fn png_size(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    bytes.len() as u64
}

fn keep(path: &Path, name: &str) {
    if let Ok(out) = std::env::var("SPECTROGRAM_TEST_OUT") {
        std::fs::copy(path, Path::new(&out).join(name)).unwrap();
    }
}

#[test]
fn a_tone_peaks_at_its_frequency() {
    let (frames, bin_hz) = stft_db(&sine(1000.0, 1.0), RATE).unwrap();
    assert_eq!(frame_len(RATE), 1024);
    assert!((bin_hz - 15.625).abs() < 1e-9);
    assert_eq!(frames.len(), 16_000usize.div_ceil(256));
    assert_eq!(frames[0].len(), 513);
    // Frames away from the ends, where the zero padding does not cut the tone.
    for f in &frames[4..frames.len() - 4] {
        let hz = loudest_bin(f) as f64 * bin_hz;
        assert!((hz - 1000.0).abs() <= bin_hz, "peak at {hz} Hz");
        // Far from the tone, the Hann window's sidelobes are long gone.
        assert!(f[400] < -60.0, "{} dB at 6.25 kHz", f[400]);
    }
    let top = frames.iter().flatten().copied().fold(f32::MIN, f32::max);
    assert_eq!(top, 0.0, "levels are relative to the peak");
}

#[test]
fn a_chirp_peak_rises_over_time() {
    let (frames, bin_hz) = stft_db(&chirp(200.0, 6000.0, 2.0), RATE).unwrap();
    let inner = &frames[4..frames.len() - 4];
    let peaks: Vec<usize> = inner.iter().map(|f| loudest_bin(f)).collect();
    assert!(peaks.windows(2).all(|w| w[1] >= w[0]), "{peaks:?}");
    let (first, last) = (
        peaks[0] as f64 * bin_hz,
        peaks[peaks.len() - 1] as f64 * bin_hz,
    );
    assert!(first < 500.0 && last > 5500.0, "{first} Hz .. {last} Hz");
}

#[test]
fn silence_and_empty_input_are_floor() {
    let (frames, _) = stft_db(&vec![0.0; 4000], RATE).unwrap();
    assert!(frames.iter().flatten().all(|&v| v == FLOOR_DB));
    assert!(stft_db(&[], RATE).unwrap().0.is_empty());
    assert!(stft_db(&[0.1], 0).is_err());
    // Rates so low that the frame is 2 samples and a quarter of it rounds to 0.
    for rate in [1, 8, 40] {
        assert!(stft_db(&[], rate).unwrap().0.is_empty());
        assert_eq!(stft_db(&[0.5, -0.5, 0.25], rate).unwrap().0[0].len(), 2);
    }
    assert!(stft_db(&[0.1, f32::NAN], RATE).is_err());
}

#[test]
fn pngs_for_a_tone_a_chirp_silence_one_sample_and_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<f32>, u32); 6] = [
        ("tone.png", sine(1000.0, 2.0), RATE),
        ("chirp.png", chirp(100.0, 7900.0, 4.0), RATE),
        ("silence.png", vec![0.0; 16_000], RATE),
        ("one.png", vec![0.25], RATE),
        ("empty.png", vec![], RATE),
        ("cd.png", chirp_at(100.0, 22_000.0, 2.0, 44_100), 44_100),
    ];
    for (name, samples, rate) in &cases {
        let path = dir.path().join(name);
        spectrogram_png(samples, *rate, name, &path).unwrap();
        assert!(png_size(&path) > 1000, "{name}");
        keep(&path, name);
    }
    // Only the PNGs: no temporary file is left beside them.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), cases.len());
}

/// Notes of 110 to 440 Hz with eight decaying harmonics each, a second apart.
fn harmonic_notes() -> Vec<f32> {
    let n = RATE as usize;
    [110.0, 220.0, 330.0, 440.0]
        .iter()
        .flat_map(|&f0: &f64| {
            (0..n).map(move |i| {
                let t = i as f64 / f64::from(RATE);
                let env = (-3.0 * t).exp();
                let x: f64 = (1..=8)
                    .map(|k| (TAU * f0 * f64::from(k) * t).sin() / f64::from(k))
                    .sum();
                (0.3 * env * x) as f32
            })
        })
        .collect()
}

#[test]
fn a_log_axis_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.png");
    spectrogram_png_with(
        &harmonic_notes(),
        RATE,
        "harmonics, log",
        &path,
        FreqScale::Log,
    )
    .unwrap();
    assert!(png_size(&path) > 1000);
    keep(&path, "log.png");
    let path = dir.path().join("linear.png");
    spectrogram_png(&harmonic_notes(), RATE, "harmonics, linear", &path).unwrap();
    keep(&path, "linear.png");
    // A rate so low that two bins reach Nyquist still gets an axis.
    for scale in [FreqScale::Log, FreqScale::Linear] {
        spectrogram_png_with(&[0.5, -0.5, 0.1], 8, "8 Hz", &path, scale).unwrap();
        assert!(png_size(&path) > 1000);
    }
}

#[test]
fn a_long_file_is_drawn_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.png");
    // 20 minutes at 16 kHz: the hop grows so about 9000 frames are analysed.
    let long: Vec<f32> = sine(440.0, 1.0)
        .into_iter()
        .cycle()
        .take(RATE as usize * 1200)
        .collect();
    let t0 = std::time::Instant::now();
    spectrogram_png(&long, RATE, "twenty minutes", &path).unwrap();
    assert!(png_size(&path) > 1000);
    assert!(t0.elapsed().as_secs() < 60, "{:?}", t0.elapsed());
}

fn gruwave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("the gruwave binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_writes_a_png_beside_the_wav_or_where_told() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    write_wav(&wav, &sine(440.0, 1.0), RATE).unwrap();
    let o = gruwave(&["spectrogram", wav.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(png_size(&dir.path().join("tone.png")) > 1000);
    let out = dir.path().join("named.png");
    let o = gruwave(&[
        "spectrogram",
        wav.to_str().unwrap(),
        out.to_str().unwrap(),
        "--title",
        "a title",
        "--log",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(png_size(&out) > 1000);
    assert!(String::from_utf8_lossy(&o.stdout).contains("named.png"));
}

#[test]
fn cli_refuses_bad_paths_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wav = d.join("tone.wav");
    write_wav(&wav, &sine(440.0, 0.5), RATE).unwrap();
    let text = d.join("notes.txt");
    std::fs::write(&text, "not audio").unwrap();
    let folder = d.join("out");
    std::fs::create_dir(&folder).unwrap();
    let missing = d.join("missing.wav");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec![missing.to_str().unwrap()], "missing.wav"),
        (vec![text.to_str().unwrap()], "notes.txt"),
        (
            vec![wav.to_str().unwrap(), folder.to_str().unwrap()],
            "is a folder",
        ),
        (vec![d.to_str().unwrap()], "is a folder"),
    ];
    for (args, expect) in &cases {
        let mut all = vec!["spectrogram"];
        all.extend(args);
        let o = gruwave(&all);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let mut left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "out", "tone.wav"]);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
}
