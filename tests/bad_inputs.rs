//! The bad-input suite: one table, one row per kind of bad input to `gruwave train`,
//! `eval` and `sample`. Each row says what it feeds (the command line and the files the
//! row makes) and what must come back: the exit status, words in stderr, files that must
//! not have been written. Every row runs under a time limit, so a hang is a failure, not
//! a stuck CI; a panic (exit 101) or an abort (a signal) fails the row too.

use gruwave::model::{init_params, serialize_f32, ModelConfig, ParamLayout};
use gruwave::train::run_config::{ModelSpec, RunConfig};
use gruwave::train::schedule::LrSchedule;
use gruwave::train::state::TrainerState;
use gruwave::TrainOptions;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a row expects.
#[derive(Clone, Copy)]
enum Want {
    /// Exit status 1 (an error) or 2 (a usage error from the argument parser), with these
    /// words in stderr.
    Fails(&'static [&'static str]),
    /// Exit status 0, with these words in stderr.
    Works(&'static [&'static str]),
}

/// What a row feeds: the arguments, and paths that must not exist afterwards.
struct Feed {
    args: Vec<String>,
    absent: Vec<PathBuf>,
}

fn feed(args: &[&str]) -> Feed {
    Feed {
        args: args.iter().map(|s| s.to_string()).collect(),
        absent: Vec::new(),
    }
}

impl Feed {
    fn absent(mut self, p: PathBuf) -> Feed {
        self.absent.push(p);
        self
    }
}

type Make = fn(&Path) -> Feed;

/// Kills a row that runs longer than this: a hang.
const LIMIT: Duration = Duration::from_secs(60);

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

// ---- files the rows make ----

fn music(path: &Path, seconds: f64, rate: u32) -> PathBuf {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * rate as f64) as usize {
        let t = i as f64 / rate as f64;
        let x = 0.4 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 0.2 * (2.0 * std::f64::consts::PI * 331.0 * t).sin();
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    path.to_path_buf()
}

/// A WAV written byte by byte: format tag, channels, rate, bits, data.
fn raw_wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels.wrapping_mul(bits / 8);
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&rate.wrapping_mul(block as u32).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn tone_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (((i as f64 * 0.07).sin() * 12000.0) as i16).to_le_bytes())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A train command on `data` into dir/out, with a small model and no previews unless
/// `extra` sets those flags itself.
fn train(dir: &Path, data: &[PathBuf], extra: &[&str]) -> Feed {
    let out = dir.join("out");
    let mut args = vec!["train".to_string()];
    args.extend(data.iter().map(|p| s(p)));
    args.extend(["--out".to_string(), s(&out)]);
    for (flag, value) in [
        ("--config", "tiny"),
        ("--steps", "2"),
        ("--sample-seconds", "0"),
    ] {
        if !extra.iter().any(|x| x.split('=').next() == Some(flag)) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    Feed {
        args,
        absent: Vec::new(),
    }
}

/// A train command on a good WAV, with `extra` flags; the run folder must not appear.
fn train_flags(dir: &Path, extra: &[&str]) -> Feed {
    let wav = music(&dir.join("a.wav"), 1.0, 16000);
    train(dir, &[wav], extra).absent(dir.join("out"))
}

/// A train command on one bad WAV; the run folder must not appear.
fn train_on(dir: &Path, name: &str, bytes: &[u8]) -> Feed {
    let p = write(dir, name, bytes);
    train(dir, &[p], &[]).absent(dir.join("out"))
}

/// The tensors and metadata of a small valid model (V = 256, E = 4, H = 8, L = 1).
fn model_parts() -> (Tensors, HashMap<String, String>) {
    let layout = ParamLayout::new(&ModelConfig::new(256, 4, 8, 1).unwrap());
    let params = init_params(&layout, 1);
    let tensors = layout
        .entries
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.shape.clone(),
                params[e.offset..e.offset + e.len].to_vec(),
            )
        })
        .collect();
    let meta = [
        ("format", "gruwave-grulm-v1"),
        ("sample_rate", "16000"),
        ("codec", "mulaw256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (tensors, meta)
}

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// A checkpoint file: the small model changed by `edit`.
fn ckpt(dir: &Path, edit: impl FnOnce(&mut Tensors, &mut HashMap<String, String>)) -> PathBuf {
    let (mut t, mut meta) = model_parts();
    edit(&mut t, &mut meta);
    let bytes = serialize_f32(
        t.iter().map(|(n, s, d)| (n.clone(), s.clone(), &d[..])),
        meta,
    )
    .unwrap();
    write(dir, "model.safetensors", &bytes)
}

fn set_shape(t: &mut Tensors, name: &str, shape: Vec<usize>) {
    let e = t.iter_mut().find(|e| e.0 == name).unwrap();
    e.2 = vec![0.5; shape.iter().product()];
    e.1 = shape;
}

/// `gruwave eval` of a good WAV with a checkpoint changed by `edit`.
fn eval_ckpt(dir: &Path, edit: impl FnOnce(&mut Tensors, &mut HashMap<String, String>)) -> Feed {
    let m = ckpt(dir, edit);
    let wav = music(&dir.join("a.wav"), 0.5, 16000);
    feed(&["eval", "--model", &s(&m), &s(&wav)])
}

/// `gruwave sample` of the small model with `extra` flags.
fn sample(dir: &Path, extra: &[&str]) -> Feed {
    let m = ckpt(dir, |_, _| {});
    let mut args = vec!["sample", "--model"];
    let m = s(&m);
    args.push(&m);
    args.extend_from_slice(extra);
    feed(&args)
}

/// The run settings of a small audio run on `data`.
fn run_config(data: Vec<PathBuf>) -> RunConfig {
    RunConfig {
        model: ModelSpec::Gru(ModelConfig::new(256, 4, 8, 1).unwrap()),
        batch: 2,
        tbptt: 8,
        opts: TrainOptions::default(),
        schedule: LrSchedule::default(),
        seed: 0,
        codec: gruwave::codec::Codec::MuLaw256,
        transpose: 0,
        sample_rate: 16000,
        valid_fraction: 0.0,
        data,
        valid_data: vec![],
        steps: Some(4),
        valid_every: 0,
        checkpoint_every: 0,
        sample_seconds: 0.0,
    }
}

/// A run folder dir/run with a trainer state whose 'run' metadata `edit` changes.
fn state_dir(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let wav = music(&dir.join("a.wav"), 0.5, 16000);
    let run = run_config(vec![wav]);
    let layout = run.model.gru_layout().unwrap();
    let total = layout.total;
    let state = TrainerState {
        params: init_params(&layout, 0),
        adam_m: vec![0.0; total],
        adam_v: vec![0.0; total],
        hidden: vec![0.0; run.model.state_len(run.batch).unwrap()],
        stream_pos: vec![0; run.batch],
        run,
        step: 1,
        data_fingerprint: 0,
        elapsed_s: 0.0,
    };
    let folder = dir.join("run");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("trainer_state.safetensors");
    state.save(&path).unwrap();
    // Rewrite the run JSON inside the safetensors header (offsets are relative to the
    // data, so only the length prefix changes).
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let meta = &mut header["__metadata__"];
    let mut run: serde_json::Value = serde_json::from_str(meta["run"].as_str().unwrap()).unwrap();
    edit(&mut run);
    meta["run"] = serde_json::Value::String(run.to_string());
    let h = serde_json::to_vec(&header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
    folder
}

/// A MIDI file with one note (format 0, 96 ticks per quarter).
fn midi_bytes() -> Vec<u8> {
    let mut v = b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk\0\0\0\x0c".to_vec();
    v.extend_from_slice(&[
        0x00, 0x90, 0x3c, 0x40, 0x60, 0x80, 0x3c, 0x00, 0x00, 0xff, 0x2f, 0x00,
    ]);
    v
}

/// The table: (kind, what it feeds, what must come back).
const CASES: &[(&str, Make, Want)] = &[
    // ---- train: flags ----
    (
        "train without --out",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            feed(&["train", &s(&w)])
        },
        Want::Fails(&["--out DIR is required"]),
    ),
    (
        "train --steps 0",
        |d| train_flags(d, &["--steps", "0"]),
        Want::Fails(&["--steps must be at least 1"]),
    ),
    (
        "train --steps abc",
        |d| train_flags(d, &["--steps", "abc"]),
        Want::Fails(&["invalid value"]),
    ),
    (
        "train --steps -1",
        |d| train_flags(d, &["--steps=-1"]),
        Want::Fails(&["invalid value"]),
    ),
    (
        "train --minutes 0",
        |d| train_flags(d, &["--minutes", "0"]),
        Want::Fails(&["--minutes must be positive"]),
    ),
    (
        "train --minutes -1",
        |d| train_flags(d, &["--minutes=-1"]),
        Want::Fails(&["--minutes must be positive"]),
    ),
    (
        "train --minutes NaN",
        |d| train_flags(d, &["--minutes", "NaN"]),
        Want::Fails(&["--minutes must be positive"]),
    ),
    (
        "train --minutes inf",
        |d| train_flags(d, &["--minutes", "inf"]),
        Want::Fails(&["--minutes must be positive"]),
    ),
    (
        "train --sample-seconds 1e9",
        |d| train_flags(d, &["--sample-seconds", "1e9"]),
        Want::Fails(&["--sample-seconds must be between 0 and 600"]),
    ),
    (
        "train --sample-seconds -1",
        |d| train_flags(d, &["--sample-seconds=-1"]),
        Want::Fails(&["--sample-seconds must be between"]),
    ),
    (
        "train --sample-seconds NaN",
        |d| train_flags(d, &["--sample-seconds", "NaN"]),
        Want::Fails(&["--sample-seconds must be between"]),
    ),
    (
        "train --hidden 100000",
        |d| train_flags(d, &["--hidden", "100000"]),
        Want::Fails(&["hidden size H", "100000"]),
    ),
    (
        "train --hidden u64::MAX",
        |d| train_flags(d, &["--hidden", "18446744073709551615"]),
        Want::Fails(&["hidden size H"]),
    ),
    (
        "train --hidden 2^64",
        |d| train_flags(d, &["--hidden", "18446744073709551616"]),
        Want::Fails(&["invalid value"]),
    ),
    (
        "train --hidden 0",
        |d| train_flags(d, &["--hidden", "0"]),
        Want::Fails(&["at least 1"]),
    ),
    (
        "train --hidden 16384 (too many parameters)",
        |d| train_flags(d, &["--hidden", "16384"]),
        Want::Fails(&["needs a 3094.4 MiB buffer"]),
    ),
    (
        "train --embed 2^62",
        |d| train_flags(d, &["--embed", "4611686018427387904"]),
        Want::Fails(&["embedding width E"]),
    ),
    (
        "train --embed 0",
        |d| train_flags(d, &["--embed", "0"]),
        Want::Fails(&["at least 1"]),
    ),
    (
        "train --layers 1000",
        |d| train_flags(d, &["--layers", "1000"]),
        Want::Fails(&["layer count L"]),
    ),
    (
        "train --layers u64::MAX",
        |d| train_flags(d, &["--layers", "18446744073709551615"]),
        Want::Fails(&["layer count L"]),
    ),
    (
        "train --layers 0",
        |d| train_flags(d, &["--layers", "0"]),
        Want::Fails(&["at least 1"]),
    ),
    (
        "train --batch 0",
        |d| train_flags(d, &["--batch", "0"]),
        Want::Fails(&["batch size B"]),
    ),
    (
        "train --batch 1000000",
        |d| train_flags(d, &["--batch", "1000000"]),
        Want::Fails(&["batch size B"]),
    ),
    (
        "train --tbptt 0",
        |d| train_flags(d, &["--tbptt", "0"]),
        Want::Fails(&["TBPTT window T"]),
    ),
    (
        "train --tbptt 10^9",
        |d| train_flags(d, &["--tbptt", "1000000000"]),
        Want::Fails(&["TBPTT window T"]),
    ),
    (
        "train --batch 4096 --tbptt 65536 (buffers too large)",
        |d| train_flags(d, &["--batch", "4096", "--tbptt", "65536"]),
        Want::Fails(&["too large"]),
    ),
    (
        "train --lr 0",
        |d| train_flags(d, &["--lr", "0"]),
        Want::Fails(&["learning rate must be positive"]),
    ),
    (
        "train --lr -1",
        |d| train_flags(d, &["--lr=-1"]),
        Want::Fails(&["learning rate must be positive"]),
    ),
    (
        "train --lr NaN",
        |d| train_flags(d, &["--lr", "NaN"]),
        Want::Fails(&["learning rate must be positive"]),
    ),
    (
        "train --lr inf",
        |d| train_flags(d, &["--lr", "inf"]),
        Want::Fails(&["learning rate must be positive"]),
    ),
    (
        "train --clip 0",
        |d| train_flags(d, &["--clip", "0"]),
        Want::Fails(&["clip must be positive"]),
    ),
    (
        "train --valid-fraction 1",
        |d| train_flags(d, &["--valid-fraction", "1"]),
        Want::Fails(&["validation fraction must be in [0, 1)"]),
    ),
    (
        "train --valid-fraction -0.5",
        |d| train_flags(d, &["--valid-fraction=-0.5"]),
        Want::Fails(&["validation fraction must be in [0, 1)"]),
    ),
    (
        "train --sample-rate 0",
        |d| train_flags(d, &["--sample-rate", "0"]),
        Want::Fails(&["0 Hz", "1000 to 768000 Hz"]),
    ),
    (
        "train --sample-rate 8",
        |d| train_flags(d, &["--sample-rate", "8"]),
        Want::Fails(&["8 Hz", "1000 to 768000 Hz"]),
    ),
    (
        "train --sample-rate 4294967295",
        |d| train_flags(d, &["--sample-rate", "4294967295"]),
        Want::Fails(&["4294967295 Hz"]),
    ),
    (
        "train --config nope",
        |d| train_flags(d, &["--config", "nope"]),
        Want::Fails(&["invalid value"]),
    ),
    (
        "train --config midi-small on audio",
        |d| train_flags(d, &["--config", "midi-small"]),
        Want::Fails(&["is a preset for MIDI data"]),
    ),
    (
        "train --transpose on audio",
        |d| train_flags(d, &["--transpose", "3"]),
        Want::Fails(&["--transpose applies to MIDI data only"]),
    ),
    (
        "train --lr-schedule bogus",
        |d| train_flags(d, &["--lr-schedule", "bogus"]),
        Want::Fails(&["invalid value"]),
    ),
    (
        "train --lr-schedule cosine with --minutes only",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            feed(&[
                "train",
                &s(&w),
                "--out",
                &s(&d.join("out")),
                "--minutes",
                "1",
                "--lr-schedule",
                "cosine",
            ])
            .absent(d.join("out"))
        },
        Want::Fails(&["give --steps N"]),
    ),
    (
        "train --warmup beyond --steps",
        |d| train_flags(d, &["--lr-schedule", "linear", "--warmup", "50"]),
        Want::Fails(&["leaves no step"]),
    ),
    (
        "train --unknown-flag",
        |d| train_flags(d, &["--frobnicate"]),
        Want::Fails(&["unexpected argument"]),
    ),
    // ---- train: output folder ----
    (
        "train --out is a file",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            let f = write(d, "out", b"x");
            feed(&["train", &s(&w), "--out", &s(&f)])
        },
        Want::Fails(&["is not a folder"]),
    ),
    (
        "train --out under a file",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            let f = write(d, "file", b"x");
            feed(&["train", &s(&w), "--out", &s(&f.join("sub"))])
        },
        Want::Fails(&["is not a folder"]),
    ),
    (
        "train --out holds a run",
        |d| {
            std::fs::create_dir_all(d.join("out")).unwrap();
            write(&d.join("out"), "trainer_state.safetensors", b"x");
            let w = music(&d.join("a.wav"), 1.0, 16000);
            train(d, &[w], &[])
        },
        Want::Fails(&["already holds a training run", "--force"]),
    ),
    (
        "train data shorter than one batch",
        |d| {
            let w = music(&d.join("a.wav"), 0.01, 16000);
            train(d, &[w], &[]).absent(d.join("out"))
        },
        Want::Fails(&["shorter than one batch"]),
    ),
    // ---- train: data ----
    (
        "train on a missing path",
        |d| train(d, &[d.join("nope.wav")], &[]).absent(d.join("out")),
        Want::Fails(&["no such file or folder"]),
    ),
    (
        "train on an empty folder",
        |d| {
            std::fs::create_dir(d.join("empty")).unwrap();
            train(d, &[d.join("empty")], &[]).absent(d.join("out"))
        },
        Want::Fails(&["no .wav files"]),
    ),
    (
        "train on a folder of text",
        |d| {
            std::fs::create_dir(d.join("docs")).unwrap();
            write(&d.join("docs"), "readme.txt", b"hello");
            train(d, &[d.join("docs")], &[]).absent(d.join("out"))
        },
        Want::Fails(&["no .wav files"]),
    ),
    (
        "train --valid on a missing path",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            train(d, &[w], &["--valid", &s(&d.join("nope"))]).absent(d.join("out"))
        },
        Want::Fails(&["no such file or folder"]),
    ),
    (
        "train on audio and MIDI together",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            let m = write(d, "b.mid", &midi_bytes());
            train(d, &[w, m], &[]).absent(d.join("out"))
        },
        Want::Fails(&["mix audio and MIDI"]),
    ),
    (
        "train on a corrupt MIDI file",
        |d| train_on(d, "x.mid", b"MThd garbage"),
        Want::Fails(&["none of the 1 MIDI files could be loaded"]),
    ),
    (
        "train on an empty MIDI file",
        |d| train_on(d, "x.mid", b""),
        Want::Fails(&["none of the 1 MIDI files could be loaded"]),
    ),
    (
        "WAV: empty file",
        |d| train_on(d, "x.wav", b""),
        Want::Fails(&["empty"]),
    ),
    (
        "WAV: text",
        |d| train_on(d, "x.wav", b"this is not audio at all, just words"),
        Want::Fails(&["not a WAV"]),
    ),
    (
        "WAV: RIFX",
        |d| train_on(d, "x.wav", b"RIFX\0\0\0\0WAVEfmt "),
        Want::Fails(&["RIFX"]),
    ),
    (
        "WAV: RF64",
        |d| train_on(d, "x.wav", b"RF64\0\0\0\0WAVEfmt "),
        Want::Fails(&["RF64"]),
    ),
    (
        "WAV: header only",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 16, &[])[..36]),
        Want::Fails(&["no data chunk"]),
    ),
    (
        "WAV: truncated data",
        |d| {
            let mut v = raw_wav(1, 1, 16000, 16, &tone_bytes(4000));
            v.truncate(1000);
            train_on(d, "x.wav", &v)
        },
        Want::Fails(&["truncated"]),
    ),
    (
        "WAV: truncated fmt chunk",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 16, &[])[..24]),
        Want::Fails(&["fmt chunk is incomplete"]),
    ),
    (
        "WAV: 0 channels",
        |d| train_on(d, "x.wav", &raw_wav(1, 0, 16000, 16, &tone_bytes(4000))),
        Want::Fails(&["0 channels"]),
    ),
    (
        "WAV: 1000 channels",
        |d| train_on(d, "x.wav", &raw_wav(1, 1000, 16000, 16, &tone_bytes(4000))),
        Want::Fails(&["1000 channels"]),
    ),
    (
        "WAV: 65535 channels",
        |d| train_on(d, "x.wav", &raw_wav(1, 65535, 16000, 32, &tone_bytes(4000))),
        Want::Fails(&["65535 channels"]),
    ),
    (
        "WAV: rate 0",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 0, 16, &tone_bytes(4000))),
        Want::Fails(&["sample rate is 0"]),
    ),
    (
        "WAV: rate 8 Hz (16 KB)",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 8, 16, &tone_bytes(8000))),
        Want::Fails(&["8 Hz", "1000 to 768000 Hz"]),
    ),
    (
        "WAV: rate 8 Hz (10 MB)",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 8, 16, &tone_bytes(5_000_000))),
        Want::Fails(&["8 Hz"]),
    ),
    (
        "WAV: rate 4294967295 Hz",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, u32::MAX, 16, &tone_bytes(4000))),
        Want::Fails(&["4294967295 Hz"]),
    ),
    (
        "WAV: rate 800 kHz",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 800_000, 16, &tone_bytes(4000))),
        Want::Fails(&["800000 Hz"]),
    ),
    (
        "WAV: 0 bits per sample",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 0, &tone_bytes(4000))),
        Want::Fails(&["0 bits per sample"]),
    ),
    (
        "WAV: 12 bits per sample",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 12, &tone_bytes(4000))),
        Want::Fails(&["x.wav"]),
    ),
    (
        "WAV: 128 bits per sample",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 128, &tone_bytes(4000))),
        Want::Fails(&["128 bits per sample"]),
    ),
    (
        "WAV: unknown format tag",
        |d| {
            train_on(
                d,
                "x.wav",
                &raw_wav(0x1234, 1, 16000, 16, &tone_bytes(4000)),
            )
        },
        Want::Fails(&["x.wav"]),
    ),
    (
        "WAV: data before fmt",
        |d| {
            let mut v = b"RIFF\0\0\0\0WAVEdata\x04\0\0\0\x01\x02\x03\x04".to_vec();
            v.extend_from_slice(&raw_wav(1, 1, 16000, 16, &[])[12..36]);
            train_on(d, "x.wav", &v)
        },
        Want::Fails(&["data chunk before the fmt chunk"]),
    ),
    (
        "WAV: no data samples",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 16, &[])),
        Want::Fails(&["no audio samples"]),
    ),
    (
        "WAV: silent",
        |d| train_on(d, "x.wav", &raw_wav(1, 1, 16000, 16, &vec![0; 8000])),
        Want::Fails(&["silent"]),
    ),
    (
        "WAV: NaN float samples",
        |d| {
            let data: Vec<u8> = (0..4000)
                .flat_map(|i| if i == 7 { f32::NAN } else { 0.1 }.to_le_bytes())
                .collect();
            train_on(d, "x.wav", &raw_wav(3, 1, 16000, 32, &data))
        },
        Want::Fails(&["NaN or infinite"]),
    ),
    (
        "WAV: infinite float samples",
        |d| {
            let data: Vec<u8> = (0..4000)
                .flat_map(|i| if i == 9 { f32::INFINITY } else { 0.1 }.to_le_bytes())
                .collect();
            train_on(d, "x.wav", &raw_wav(3, 1, 16000, 32, &data))
        },
        Want::Fails(&["NaN or infinite"]),
    ),
    (
        "WAV: a folder named x.wav",
        |d| {
            std::fs::create_dir_all(d.join("data/x.wav")).unwrap();
            train(d, &[d.join("data")], &[]).absent(d.join("out"))
        },
        Want::Fails(&["no .wav files"]),
    ),
    (
        "FLAC: garbage",
        |d| train_on(d, "x.flac", b"fLaC and then nothing useful"),
        Want::Fails(&["x.flac"]),
    ),
    (
        "MP3: garbage",
        |d| train_on(d, "x.mp3", &[0x55; 3000]),
        Want::Fails(&["x.mp3"]),
    ),
    (
        "Ogg: garbage",
        |d| train_on(d, "x.ogg", b"OggS\0\x02garbage garbage garbage"),
        Want::Fails(&["x.ogg"]),
    ),
    (
        "AIFF: garbage",
        |d| train_on(d, "x.aiff", b"FORM\0\0\0\x10AIFFjunkjunk"),
        Want::Fails(&["x.aiff"]),
    ),
    // ---- train --resume ----
    (
        "--resume a missing folder",
        |d| feed(&["train", "--resume", &s(&d.join("nope"))]),
        Want::Fails(&["cannot resume"]),
    ),
    (
        "--resume a folder without a state",
        |d| {
            std::fs::create_dir(d.join("run")).unwrap();
            feed(&["train", "--resume", &s(&d.join("run"))])
        },
        Want::Fails(&["cannot resume"]),
    ),
    (
        "--resume a garbage state",
        |d| {
            std::fs::create_dir(d.join("run")).unwrap();
            write(
                &d.join("run"),
                "trainer_state.safetensors",
                b"\x10\0\0\0\0\0\0\0{not json}",
            );
            feed(&["train", "--resume", &s(&d.join("run"))])
        },
        Want::Fails(&["not a safetensors file"]),
    ),
    (
        "--resume a state of hidden 2^62",
        |d| {
            let r = state_dir(d, |v| v["hidden"] = serde_json::json!(1u64 << 62));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["bad 'run' metadata", "hidden size H"]),
    ),
    (
        "--resume a state of batch 2^40",
        |d| {
            let r = state_dir(d, |v| v["batch"] = serde_json::json!(1u64 << 40));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["batch size B"]),
    ),
    (
        "--resume a state of layers*batch*hidden overflow",
        |d| {
            let r = state_dir(d, |v| {
                v["layers"] = serde_json::json!(64);
                v["hidden"] = serde_json::json!(16384);
                v["batch"] = serde_json::json!(4096);
            });
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["bad 'run' metadata"]),
    ),
    (
        "--resume a state of sample rate 4294967295",
        |d| {
            let r = state_dir(d, |v| v["sample_rate"] = serde_json::json!(u32::MAX));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["4294967295 Hz"]),
    ),
    (
        "--resume a state without a lr",
        |d| {
            let r = state_dir(d, |v| v["lr"] = serde_json::Value::Null);
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["'lr' is missing"]),
    ),
    (
        "--resume a state with an unknown codec",
        |d| {
            let r = state_dir(d, |v| v["codec"] = serde_json::json!("opus"));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["codec 'opus' is not supported"]),
    ),
    (
        "--resume a state whose tensors disagree with its run",
        |d| {
            let r = state_dir(d, |v| v["hidden"] = serde_json::json!(16));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["inconsistent trainer state"]),
    ),
    (
        "--resume a state with an unknown schedule",
        |d| {
            let r = state_dir(d, |v| v["lr_schedule"] = serde_json::json!("step"));
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["unknown learning-rate schedule"]),
    ),
    (
        "--resume with a changed --lr",
        |d| {
            let r = state_dir(d, |_| {});
            feed(&["train", "--resume", &s(&r), "--lr", "0.5"])
        },
        Want::Fails(&["--lr cannot be changed when resuming"]),
    ),
    (
        "--resume with a changed --config",
        |d| {
            let r = state_dir(d, |_| {});
            feed(&["train", "--resume", &s(&r), "--config", "base"])
        },
        Want::Fails(&["--config cannot be changed"]),
    ),
    (
        "--resume with --init",
        |d| {
            let r = state_dir(d, |_| {});
            let m = ckpt(d, |_, _| {});
            feed(&["train", "--resume", &s(&r), "--init", &s(&m)])
        },
        Want::Fails(&["--init cannot be changed"]),
    ),
    (
        "--resume --steps 0",
        |d| {
            let r = state_dir(d, |_| {});
            feed(&["train", "--resume", &s(&r), "--steps", "0"])
        },
        Want::Fails(&["--steps must be at least 1"]),
    ),
    (
        "--resume on other data",
        |d| {
            let r = state_dir(d, |_| {});
            feed(&["train", "--resume", &s(&r)])
        },
        Want::Fails(&["the training data differ"]),
    ),
    // ---- train --init ----
    (
        "--init a missing file",
        |d| {
            let w = music(&d.join("a.wav"), 1.0, 16000);
            train(d, &[w], &["--init", &s(&d.join("nope.safetensors"))]).absent(d.join("out"))
        },
        Want::Fails(&["cannot use the --init model"]),
    ),
    (
        "--init a garbage file",
        |d| {
            let m = write(d, "m.safetensors", b"garbage");
            let w = music(&d.join("a.wav"), 1.0, 16000);
            feed(&[
                "train",
                &s(&w),
                "--out",
                &s(&d.join("out")),
                "--init",
                &s(&m),
            ])
            .absent(d.join("out"))
        },
        Want::Fails(&["not a safetensors file"]),
    ),
    (
        "--init with another --sample-rate",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = music(&d.join("a.wav"), 1.0, 16000);
            feed(&[
                "train",
                &s(&w),
                "--out",
                &s(&d.join("out")),
                "--init",
                &s(&m),
                "--sample-rate",
                "22050",
            ])
            .absent(d.join("out"))
        },
        Want::Fails(&["differs from the --init model's"]),
    ),
    (
        "--init with another --hidden",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = music(&d.join("a.wav"), 1.0, 16000);
            feed(&[
                "train",
                &s(&w),
                "--out",
                &s(&d.join("out")),
                "--init",
                &s(&m),
                "--hidden",
                "32",
                "--sample-seconds",
                "0",
            ])
            .absent(d.join("out"))
        },
        Want::Fails(&["the --init model has shape"]),
    ),
    // ---- eval: checkpoints ----
    (
        "eval without --model",
        |d| {
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&["eval", &s(&w)])
        },
        Want::Fails(&["--model"]),
    ),
    (
        "eval a missing model",
        |d| {
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&["eval", "--model", &s(&d.join("nope")), &s(&w)])
        },
        Want::Fails(&["cannot read checkpoint"]),
    ),
    (
        "eval an empty model file",
        |d| {
            let m = write(d, "m.safetensors", b"");
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&["eval", "--model", &s(&m), &s(&w)])
        },
        Want::Fails(&["not a safetensors file"]),
    ),
    (
        "eval a model with a huge header length",
        |d| {
            let m = write(d, "m.safetensors", &u64::MAX.to_le_bytes());
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&["eval", "--model", &s(&m), &s(&w)])
        },
        Want::Fails(&["not a safetensors file"]),
    ),
    (
        "checkpoint weight_hh [0, 100000]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![0, 100_000])),
        Want::Fails(&["gru.weight_hh_l0", "[3H, H]"]),
    ),
    (
        "checkpoint weight_hh [0, 2^31]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![0, 1 << 31])),
        Want::Fails(&["gru.weight_hh_l0"]),
    ),
    (
        "checkpoint weight_hh [0, 2^32]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![0, 1 << 32])),
        Want::Fails(&["gru.weight_hh_l0"]),
    ),
    (
        "checkpoint weight_hh [0, 2^62]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![0, 1 << 62])),
        Want::Fails(&["gru.weight_hh_l0"]),
    ),
    (
        "checkpoint weight_hh [192, 65]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![192, 65])),
        Want::Fails(&["gru.weight_hh_l0", "[192, 65]"]),
    ),
    (
        "checkpoint weight_hh 1-D",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_hh_l0", vec![24])),
        Want::Fails(&["gru.weight_hh_l0", "2 dimensions"]),
    ),
    (
        "checkpoint weight_ih of another H",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_ih_l0", vec![12, 4])),
        Want::Fails(&["gru.weight_ih_l0"]),
    ),
    (
        "checkpoint weight_ih of another E",
        |d| eval_ckpt(d, |t, _| set_shape(t, "gru.weight_ih_l0", vec![24, 5])),
        Want::Fails(&["gru.weight_ih_l0"]),
    ),
    (
        "checkpoint embedding [0, 2^62]",
        |d| eval_ckpt(d, |t, _| set_shape(t, "embedding.weight", vec![0, 1 << 62])),
        Want::Fails(&["gru.weight_ih_l0"]),
    ),
    (
        "checkpoint embedding 3-D",
        |d| eval_ckpt(d, |t, _| set_shape(t, "embedding.weight", vec![256, 4, 1])),
        Want::Fails(&["embedding.weight", "2 dimensions"]),
    ),
    (
        "checkpoint head of the wrong shape",
        |d| eval_ckpt(d, |t, _| set_shape(t, "head.weight", vec![256, 9])),
        Want::Fails(&["head.weight"]),
    ),
    (
        "checkpoint without head.bias",
        |d| eval_ckpt(d, |t, _| t.retain(|e| e.0 != "head.bias")),
        Want::Fails(&["head.bias"]),
    ),
    (
        "checkpoint without embedding",
        |d| eval_ckpt(d, |t, _| t.retain(|e| e.0 != "embedding.weight")),
        Want::Fails(&["embedding.weight"]),
    ),
    (
        "checkpoint with an extra tensor",
        |d| eval_ckpt(d, |t, _| t.push(("extra".into(), vec![1], vec![0.0]))),
        Want::Fails(&["unexpected tensor 'extra'"]),
    ),
    (
        "checkpoint with a NaN weight",
        |d| eval_ckpt(d, |t, _| t[1].2[3] = f32::NAN),
        Want::Fails(&["non-finite"]),
    ),
    (
        "checkpoint sample_rate 4294967295",
        |d| {
            eval_ckpt(d, |_, m| {
                m.insert("sample_rate".into(), "4294967295".into());
            })
        },
        Want::Fails(&["sample_rate", "4294967295 Hz"]),
    ),
    (
        "checkpoint sample_rate 8",
        |d| {
            eval_ckpt(d, |_, m| {
                m.insert("sample_rate".into(), "8".into());
            })
        },
        Want::Fails(&["sample_rate", "8 Hz"]),
    ),
    (
        "checkpoint sample_rate abc",
        |d| {
            eval_ckpt(d, |_, m| {
                m.insert("sample_rate".into(), "abc".into());
            })
        },
        Want::Fails(&["bad sample_rate metadata"]),
    ),
    (
        "checkpoint unknown codec",
        |d| {
            eval_ckpt(d, |_, m| {
                m.insert("codec".into(), "opus".into());
            })
        },
        Want::Fails(&["unknown codec"]),
    ),
    (
        "checkpoint perf388 of vocabulary 256",
        |d| {
            eval_ckpt(d, |_, m| {
                m.insert("codec".into(), "perf388".into());
            })
        },
        Want::Fails(&["must have a vocabulary of 388"]),
    ),
    // ---- eval: data and flags ----
    (
        "eval a missing data file",
        |d| {
            let m = ckpt(d, |_, _| {});
            feed(&["eval", "--model", &s(&m), &s(&d.join("nope.wav"))])
        },
        Want::Fails(&["no such file or folder"]),
    ),
    (
        "eval MIDI with an audio model",
        |d| {
            let m = ckpt(d, |_, _| {});
            let mid = write(d, "a.mid", &midi_bytes());
            feed(&["eval", "--model", &s(&m), &s(&mid)])
        },
        Want::Fails(&["but the data are MIDI"]),
    ),
    (
        "eval a WAV of 8 Hz",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = write(d, "x.wav", &raw_wav(1, 1, 8, 16, &tone_bytes(8000)));
            feed(&["eval", "--model", &s(&m), &s(&w)])
        },
        Want::Fails(&["8 Hz"]),
    ),
    (
        "eval --batch 0",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&["eval", "--model", &s(&m), &s(&w), "--batch", "0"])
        },
        Want::Fails(&["must be positive"]),
    ),
    (
        "eval --tbptt u64::MAX",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&[
                "eval",
                "--model",
                &s(&m),
                &s(&w),
                "--tbptt",
                "18446744073709551615",
            ])
        },
        Want::Fails(&["TBPTT window T"]),
    ),
    (
        "eval --batch u64::MAX (shrinks to the windows there are)",
        |d| {
            let m = ckpt(d, |_, _| {});
            let w = music(&d.join("a.wav"), 0.5, 16000);
            feed(&[
                "eval",
                "--model",
                &s(&m),
                &s(&w),
                "--batch",
                "18446744073709551615",
            ])
        },
        Want::Works(&[]),
    ),
    // ---- sample ----
    (
        "sample --seconds 0",
        |d| sample(d, &["--seconds", "0"]),
        Want::Fails(&["--seconds must be a positive number"]),
    ),
    (
        "sample --seconds -1",
        |d| sample(d, &["--seconds", "-1"]),
        Want::Fails(&["--seconds must be a positive number"]),
    ),
    (
        "sample --seconds NaN",
        |d| sample(d, &["--seconds", "NaN"]),
        Want::Fails(&["--seconds must be a positive number"]),
    ),
    (
        "sample --seconds 1e-9",
        |d| {
            let f = sample(d, &["--seconds", "1e-9", "--out", &s(&d.join("x.wav"))]);
            f.absent(d.join("x.wav"))
        },
        Want::Fails(&["shorter than one sample"]),
    ),
    (
        "sample --seconds 1e12",
        |d| {
            sample(d, &["--seconds", "1e12", "--out", &s(&d.join("x.wav"))]).absent(d.join("x.wav"))
        },
        Want::Fails(&["memory"]),
    ),
    (
        "sample --seconds 1e300",
        |d| sample(d, &["--seconds", "1e300", "--streams", "1024"]),
        Want::Fails(&["memory"]),
    ),
    (
        "sample --streams 0",
        |d| sample(d, &["--streams", "0"]),
        Want::Fails(&["--streams must be between"]),
    ),
    (
        "sample --streams 100000",
        |d| sample(d, &["--streams", "100000"]),
        Want::Fails(&["--streams must be between"]),
    ),
    (
        "sample --temperature -1",
        |d| sample(d, &["--temperature", "-1"]),
        Want::Fails(&["--temperature must be 0 or more"]),
    ),
    (
        "sample --temperature NaN",
        |d| sample(d, &["--temperature", "NaN"]),
        Want::Fails(&["--temperature must be 0 or more"]),
    ),
    (
        "sample --out an existing folder",
        |d| sample(d, &["--seconds", "0.01", "--out", &s(d)]),
        Want::Fails(&["is a folder"]),
    ),
    (
        "sample --out in a missing folder",
        |d| sample(d, &["--out", &s(&d.join("no/x.wav"))]),
        Want::Fails(&["does not exist"]),
    ),
    (
        "sample --out a device node",
        |d| sample(d, &["--seconds", "0.01", "--out", "/dev/null"]),
        Want::Fails(&["not a regular file"]),
    ),
    (
        "sample --free on an audio model",
        |d| sample(d, &["--free"]),
        Want::Fails(&["applies to MIDI models"]),
    ),
    (
        "sample --prime a missing file",
        |d| {
            sample(
                d,
                &[
                    "--seconds",
                    "0.01",
                    "--prime",
                    &s(&d.join("nope.wav")),
                    "--out",
                    &s(&d.join("x.wav")),
                ],
            )
        },
        Want::Fails(&["nope.wav"]),
    ),
    (
        "sample --prime MIDI on an audio model",
        |d| {
            let mid = write(d, "a.mid", &midi_bytes());
            sample(d, &["--prime", &s(&mid), "--out", &s(&d.join("x.wav"))])
        },
        Want::Fails(&["a MIDI primer"]),
    ),
    (
        "sample --prime a WAV of 4294967295 Hz",
        |d| {
            let w = write(d, "p.wav", &raw_wav(1, 1, u32::MAX, 16, &tone_bytes(100)));
            sample(d, &["--prime", &s(&w), "--out", &s(&d.join("x.wav"))])
        },
        Want::Fails(&["4294967295 Hz"]),
    ),
    (
        "sample a model of sample rate 4294967295",
        |d| {
            let m = ckpt(d, |_, m| {
                m.insert("sample_rate".into(), "4294967295".into());
            });
            feed(&[
                "sample",
                "--model",
                &s(&m),
                "--seconds",
                "0.05",
                "--out",
                &s(&d.join("x.wav")),
            ])
            .absent(d.join("x.wav"))
        },
        Want::Fails(&["4294967295 Hz"]),
    ),
    (
        "sample a garbage model",
        |d| {
            let m = write(d, "m.safetensors", b"\x02\0\0\0\0\0\0\0{}");
            feed(&["sample", "--model", &s(&m), "--out", &s(&d.join("x.wav"))])
        },
        Want::Fails(&["m.safetensors"]),
    ),
];

/// Runs one row; the reason it failed, if it did.
fn run_case(name: &str, make: Make, want: Want) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    run_case_in(dir.path(), name, make, want)
}

fn run_case_in(dir: &Path, name: &str, make: Make, want: Want) -> Option<String> {
    let feed = make(dir);
    let (out_path, err_path) = (dir.join(".stdout"), dir.join(".stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gruwave"))
        .args(&feed.args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Some(format!("{name}: hung (killed after {LIMIT:?})"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::fs::File::open(&err_path)
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = status.code();
    let why = if code.is_none() {
        Some(format!("killed by a signal (an abort?): {status}"))
    } else if stderr.contains("panicked") || code == Some(101) {
        Some("panicked".to_string())
    } else {
        let (ok, words) = match want {
            Want::Fails(w) => (matches!(code, Some(1) | Some(2)), w),
            Want::Works(w) => (code == Some(0), w),
        };
        let missing: Vec<&&str> = words.iter().filter(|w| !stderr.contains(**w)).collect();
        if !ok {
            Some(format!("exit status {code:?}"))
        } else if !missing.is_empty() {
            Some(format!("stderr lacks {missing:?}"))
        } else {
            feed.absent
                .iter()
                .find(|p| p.exists())
                .map(|p| format!("{} was written", p.display()))
        }
    };
    why.map(|w| {
        format!(
            "{name}: {w}\n    gruwave {}\n    stderr: {}",
            feed.args.join(" "),
            stderr.trim()
        )
    })
}

#[test]
fn every_bad_input_gets_a_clear_error_in_time() {
    let cases = CASES;
    assert!(cases.len() >= 95, "only {} kinds", cases.len());
    let t0 = Instant::now();
    // Two workers: most rows fail in milliseconds, a few open the (software) GPU.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(name, make, want)) = cases.get(i) else {
                    break;
                };
                if let Some(f) = run_case(name, make, want) {
                    failures.lock().unwrap().push(f);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} kinds of bad input in {:.1} s, {} failed",
        cases.len(),
        t0.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn sample_out_a_symlink_writes_through_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let failed = run_case_in(
        d,
        "sample --out a symlink",
        |d| {
            let m = ckpt(d, |_, _| {});
            std::os::unix::fs::symlink("real.wav", d.join("link.wav")).unwrap();
            let out = s(&d.join("link.wav"));
            feed(&[
                "sample",
                "--model",
                &s(&m),
                "--seconds",
                "0.01",
                "--out",
                &out,
            ])
        },
        Want::Works(&[]),
    );
    assert!(failed.is_none(), "{failed:?}");
    let link = std::fs::symlink_metadata(d.join("link.wav")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read(d.join("real.wav"))
        .unwrap()
        .starts_with(b"RIFF"));
}
