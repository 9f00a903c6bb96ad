//! Audio input: every supported WAV format, resampling, the corpus split, and a clear
//! error (naming the file and the problem) for every kind of bad input.

use gruwave::audio::{collect_audio_files, load_wav, load_wav_at, resample, write_wav};
use gruwave::codec::encode_all;
use gruwave::data::{Corpus, Streams};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

/// A test signal in [-0.9, 0.9] with both signs and many distinct values.
fn signal(n: usize, rate: u32, freq: f64, amp: f64) -> Vec<f64> {
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f64 / rate as f64).sin())
        .collect()
}

fn write_int(path: &Path, bits: u16, channels: u16, rate: u32, frames: &[Vec<f64>]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = (1i64 << (bits - 1)) as f64;
    for frame in frames {
        for &x in frame {
            let v = (x * full).round().clamp(-full, full - 1.0) as i32;
            match bits {
                8 => w.write_sample(v as i8).unwrap(),
                16 => w.write_sample(v as i16).unwrap(),
                _ => w.write_sample(v).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

fn write_float(path: &Path, channels: u16, rate: u32, frames: &[Vec<f64>]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for frame in frames {
        for &x in frame {
            w.write_sample(x as f32).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn mono(x: &[f64]) -> Vec<Vec<f64>> {
    x.iter().map(|&v| vec![v]).collect()
}

/// Writes a sine WAV (16-bit mono) of `n` samples.
fn sine_wav(path: &Path, n: usize, rate: u32) {
    write_int(path, 16, 1, rate, &mono(&signal(n, rate, 440.0, 0.5)));
}

/// A canonical 44-byte PCM header followed by `data`; every field given by hand.
fn raw_wav(channels: u16, rate: u32, byte_rate: u32, block_align: u16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&byte_rate.to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes()); // bits
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}

/// Asserts `err` names `path` and contains every one of `what`.
fn assert_names(err: &anyhow::Error, path: &Path, what: &[&str]) {
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name {}: {msg}",
        path.display()
    );
    for w in what {
        assert!(msg.contains(w), "error does not say {w:?}: {msg}");
    }
}

#[test]
fn every_integer_width_loads_to_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let x = signal(1000, 16000, 440.0, 0.9);
    for bits in [8u16, 16, 24, 32] {
        let path = dir.path().join(format!("int{bits}.wav"));
        write_int(&path, bits, 1, 16000, &mono(&x));
        let a = load_wav(&path).unwrap();
        assert_eq!(a.sample_rate, 16000);
        assert_eq!(a.samples.len(), 1000);
        // Quantisation step of the format (plus f32 rounding).
        let tol = 1.0 / (1u64 << (bits - 1)) as f64 + 1e-7;
        for (i, (&got, &want)) in a.samples.iter().zip(&x).enumerate() {
            assert!(
                (got as f64 - want).abs() <= tol,
                "{bits}-bit sample {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn float32_loads_exactly_and_is_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f32.wav");
    let mut x = signal(500, 22050, 300.0, 0.7);
    x[10] = 1.5;
    x[11] = -3.0;
    write_float(&path, 1, 22050, &mono(&x));
    let a = load_wav(&path).unwrap();
    assert_eq!(a.sample_rate, 22050);
    assert_eq!(a.samples[10], 1.0);
    assert_eq!(a.samples[11], -1.0);
    for i in (0..500).filter(|&i| i != 10 && i != 11) {
        assert_eq!(a.samples[i], x[i] as f32);
    }
}

#[test]
fn multichannel_is_averaged_to_mono() {
    let dir = tempfile::tempdir().unwrap();
    let l = signal(800, 16000, 440.0, 0.6);
    let r = signal(800, 16000, 1000.0, 0.2);
    let stereo: Vec<Vec<f64>> = l.iter().zip(&r).map(|(&a, &b)| vec![a, b]).collect();
    let path = dir.path().join("stereo.wav");
    write_int(&path, 16, 2, 16000, &stereo);
    let a = load_wav(&path).unwrap();
    assert_eq!(a.samples.len(), 800);
    for i in 0..800 {
        assert!(
            (a.samples[i] as f64 - (l[i] + r[i]) / 2.0).abs() < 1e-4,
            "frame {i}"
        );
    }
    // Five channels, float.
    let five: Vec<Vec<f64>> = l.iter().map(|&v| vec![v, -v, v, 0.5, 0.0]).collect();
    let path = dir.path().join("five.wav");
    write_float(&path, 5, 16000, &five);
    let a = load_wav(&path).unwrap();
    for (i, (&got, &v)) in a.samples.iter().zip(&l).enumerate() {
        assert!((got as f64 - (v + 0.5) / 5.0).abs() < 1e-6, "frame {i}");
    }
}

/// Frequency from the positive-going zero crossings, amplitude from the peak.
fn freq_and_amp(x: &[f32], rate: u32) -> (f64, f64) {
    let ups: Vec<f64> = (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .map(|i| i as f64 - x[i] as f64 / (x[i] - x[i - 1]) as f64)
        .collect();
    let period = (ups[ups.len() - 1] - ups[0]) / (ups.len() - 1) as f64;
    let amp = x.iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    (rate as f64 / period, amp)
}

#[test]
fn resampling_44k1_to_16k_keeps_length_pitch_amplitude_and_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.wav");
    let n = 44100 + 777; // not a multiple of the resampler's chunk
    write_float(&path, 2, 44100, &{
        let x = signal(n, 44100, 440.0, 0.5);
        x.iter().map(|&v| vec![v, v]).collect::<Vec<_>>()
    });
    let a = load_wav_at(&path, 16000).unwrap();
    assert_eq!(a.sample_rate, 16000);
    let want_len = (n as f64 * 16000.0 / 44100.0).round() as usize;
    assert_eq!(a.samples.len(), want_len);
    // Away from the edges (where the filter sees the zero padding), the output is the
    // same sine sampled at 16 kHz: same frequency, amplitude and phase.
    let mid = &a.samples[500..want_len - 500];
    let (f, amp) = freq_and_amp(mid, 16000);
    assert!((f - 440.0).abs() < 0.5, "frequency {f}");
    assert!((amp - 0.5).abs() < 0.01, "amplitude {amp}");
    let ideal = signal(want_len, 16000, 440.0, 0.5);
    let err = (500..want_len - 500)
        .map(|i| (a.samples[i] as f64 - ideal[i]).abs())
        .fold(0.0, f64::max);
    assert!(err < 0.005, "not aligned with the input: max error {err}");

    // The anti-aliasing filter removes content above the new Nyquist frequency (8 kHz)
    // instead of folding it down.
    let hf: Vec<f32> = signal(n, 44100, 10000.0, 0.5)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let y = resample(&hf, 44100, 16000).unwrap();
    let peak = y[500..want_len - 500]
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        peak < 0.005,
        "10 kHz leaks through as aliasing: peak {peak}"
    );

    // Upsampling works too, and the same rate is a no-op.
    let up = resample(&a.samples, 16000, 48000).unwrap();
    assert_eq!(up.len(), want_len * 3);
    let (f, _) = freq_and_amp(&up[3000..up.len() - 3000], 48000);
    assert!((f - 440.0).abs() < 0.5, "frequency {f}");
    assert_eq!(resample(&a.samples, 16000, 16000).unwrap(), a.samples);
    // Very short input still gives the expected length.
    assert_eq!(resample(&[0.5; 10], 44100, 16000).unwrap().len(), 4);
}

#[test]
fn write_wav_round_trips_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.wav");
    let x: Vec<f32> = vec![0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, f32::NAN, 0.25];
    write_wav(&path, &x, 16000).unwrap();
    let spec = hound::WavReader::open(&path).unwrap().spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16));
    let a = load_wav(&path).unwrap();
    let want = [0.0, 0.5, -0.5, 1.0, -1.0, 1.0, -1.0, 0.0, 0.25];
    for (got, want) in a.samples.iter().zip(want) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    // Overwrite; no temporary file is left behind.
    write_wav(&path, &[0.1; 100], 8000).unwrap();
    assert_eq!(load_wav(&path).unwrap().samples.len(), 100);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    assert!(write_wav(&path, &x, 0).is_err());
}

#[test]
fn collect_finds_wavs_recursively_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/deep")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    for f in ["b/deep/z.WAV", "b/y.wav", "a/x.Wav", "a/notes.txt", "c.wav"] {
        std::fs::write(root.join(f), b"x").unwrap();
    }
    let extra = root.join("a/notes.txt");
    let got = collect_audio_files(&[root.to_path_buf(), extra.clone()]).unwrap();
    let want: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = ["a/x.Wav", "b/deep/z.WAV", "b/y.wav", "c.wav"]
            .iter()
            .map(|f| root.join(f))
            .collect();
        v.push(extra); // a file given by name is taken whatever its extension
        v.sort();
        v
    };
    assert_eq!(got, want);
}

// ---- bad input: one test each, the message names the file and the problem ----

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    assert_names(&load_wav(&path).unwrap_err(), &path, &["empty"]);
}

#[test]
fn truncated_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    sine_wav(&path, 1000, 16000);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 501]).unwrap();
    assert_names(
        &load_wav(&path).unwrap_err(),
        &path,
        &["truncated", "2000 bytes"],
    );
    // Cut inside the header.
    std::fs::write(&path, &bytes[..30]).unwrap();
    assert_names(&load_wav(&path).unwrap_err(), &path, &["truncated"]);
}

#[test]
fn not_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("song.wav");
    std::fs::write(&path, b"ID3\x04\x00 this is an mp3, honest").unwrap();
    assert_names(&load_wav(&path).unwrap_err(), &path, &["not a WAV"]);
}

#[test]
fn zero_channels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nochan.wav");
    std::fs::write(&path, raw_wav(0, 16000, 0, 0, &[1, 2, 3, 4])).unwrap();
    assert_names(&load_wav(&path).unwrap_err(), &path, &["0 channels"]);
}

#[test]
fn sample_rate_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("norate.wav");
    std::fs::write(&path, raw_wav(1, 0, 0, 2, &[1, 2, 3, 4])).unwrap();
    assert_names(&load_wav(&path).unwrap_err(), &path, &["sample rate is 0"]);
}

#[test]
fn all_silent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quiet.wav");
    write_int(&path, 16, 2, 16000, &vec![vec![0.0, 0.0]; 300]);
    assert_names(
        &load_wav(&path).unwrap_err(),
        &path,
        &["silent", "300 samples"],
    );
}

#[test]
fn corrupt_headers_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.wav");
    sine_wav(&path, 64, 16000);
    let good = std::fs::read(&path).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut bytes = good.clone();
        // Corrupt one to three header bytes, sometimes cutting the file too.
        for _ in 0..1 + seed % 3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes[(seed % 44) as usize] = (seed >> 32) as u8;
        }
        if seed.is_multiple_of(5) {
            bytes.truncate((seed >> 40) as usize % bytes.len());
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = load_wav(&path) {
            assert!(
                format!("{e:#}").contains(&path.display().to_string()),
                "{e:#}"
            );
        }
    }
}

#[test]
fn folder_with_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("stems");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("sub/readme.txt"), b"nothing here").unwrap();
    let err = collect_audio_files(std::slice::from_ref(&folder)).unwrap_err();
    assert_names(&err, &folder, &["no .wav files"]);
    let err = Corpus::load(std::slice::from_ref(&folder), 16000, 0.1).unwrap_err();
    assert_names(&err, &folder, &["no .wav files"]);
    let missing = dir.path().join("nope");
    let err = collect_audio_files(std::slice::from_ref(&missing)).unwrap_err();
    assert_names(&err, &missing, &["no such file or folder"]);
}

#[test]
fn data_shorter_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.wav");
    sine_wav(&path, 500, 16000);
    let corpus = Corpus::load(std::slice::from_ref(&path), 16000, 0.0).unwrap();
    let err = Streams::new(&corpus.train, 8, 64).unwrap_err();
    assert_names(
        &err,
        &path,
        &["shorter than one batch", "500 tokens", "520 tokens in all"],
    );
}

#[test]
fn bad_files_among_good_ones_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..4 {
        sine_wav(&root.join(format!("good{i}.wav")), 2000 + i * 100, 16000);
    }
    std::fs::write(root.join("bad_empty.wav"), b"").unwrap();
    write_int(
        &root.join("bad_silent.wav"),
        16,
        1,
        16000,
        &vec![vec![0.0]; 50],
    );
    let corpus = Corpus::load(&[root.to_path_buf()], 16000, 0.25).unwrap();
    assert_eq!(corpus.train.len() + corpus.valid.len(), 4);
    assert_eq!(corpus.valid.len(), 1);
    assert_eq!(corpus.skipped.len(), 2);
    let (p, why) = &corpus.skipped[0];
    assert_eq!(p, &root.join("bad_empty.wav"));
    assert!(
        why.contains("empty") && why.contains("bad_empty.wav"),
        "{why}"
    );
    assert!(corpus.skipped[1].1.contains("silent"));

    // Nothing loads: the error lists every reason.
    let bad = [root.join("bad_empty.wav"), root.join("bad_silent.wav")];
    let msg = format!("{:#}", Corpus::load(&bad, 16000, 0.1).unwrap_err());
    assert!(msg.contains("none of the 2 audio files"), "{msg}");
    assert!(
        msg.contains("bad_empty.wav") && msg.contains("empty"),
        "{msg}"
    );
    assert!(
        msg.contains("bad_silent.wav") && msg.contains("silent"),
        "{msg}"
    );
}

#[test]
fn corpus_split_is_by_file_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Written out of order; the split works on the sorted paths.
    for i in [7, 2, 9, 0, 5, 1, 8, 3, 6, 4] {
        sine_wav(&root.join(format!("t{i}.wav")), 1000 + 10 * i, 16000);
    }
    let a = Corpus::load(&[root.to_path_buf()], 16000, 0.2).unwrap();
    let b = Corpus::load(&[root.to_path_buf()], 16000, 0.2).unwrap();
    let names = |c: &Corpus| {
        let f = |v: &[gruwave::data::Track]| {
            v.iter()
                .map(|t| {
                    Path::new(&t.name)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect::<Vec<_>>()
        };
        (f(&c.train), f(&c.valid))
    };
    assert_eq!(names(&a), names(&b));
    assert_eq!(names(&a).1, vec!["t4.wav", "t9.wav"]);
    assert_eq!(a.train.len(), 8);
    assert!(a.skipped.is_empty());
    // Tokens are the mu-law codes of the file.
    let t0 = load_wav(&root.join("t0.wav")).unwrap();
    assert_eq!(a.train[0].tokens, encode_all(&t0.samples));
    // No validation data when asked for none.
    let c = Corpus::load(&[root.to_path_buf()], 16000, 0.0).unwrap();
    assert!(c.valid.is_empty());
    assert_eq!(c.train.len(), 10);
    assert!(Corpus::load(&[root.to_path_buf()], 16000, 1.0).is_err());
}

#[test]
fn single_file_holds_out_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.wav");
    sine_wav(&path, 44100, 44100);
    let c = Corpus::load(std::slice::from_ref(&path), 16000, 0.1).unwrap();
    let all = encode_all(&load_wav_at(&path, 16000).unwrap().samples);
    assert_eq!(all.len(), 16000);
    assert_eq!(c.train.len(), 1);
    assert_eq!(c.valid.len(), 1);
    assert_eq!(c.train[0].tokens, all[..14400]);
    assert_eq!(c.valid[0].tokens, all[14400..]);
}
