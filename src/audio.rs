//! Reading and writing WAV files: mono f32 samples in [-1, 1].
//!
//! Every error names the file and says what is wrong with it, because a training run
//! over a folder of music should tell the user which file to fix, not just that
//! "an io error" happened somewhere.

use anyhow::{anyhow, bail, Context, Result};
use rubato::{FftFixedIn, Resampler};
use std::collections::HashSet;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Mono audio, samples in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// Walks the RIFF chunks of a whole file held in memory before hound sees it, so that
/// the common problems (empty, not a WAV, truncated, 0 channels, rate 0) get a clear
/// message instead of hound's generic one (or none: hound accepts a rate of 0).
fn check_header(path: &Path, bytes: &[u8]) -> Result<()> {
    let p = path.display();
    if bytes.is_empty() {
        bail!("{p}: file is empty (0 bytes)");
    }
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        let what = if bytes.len() >= 4 && &bytes[0..4] == b"RIFX" {
            "a big-endian RIFX file, which is not supported"
        } else if bytes.len() >= 4 && &bytes[0..4] == b"RF64" {
            "an RF64 file, which is not supported"
        } else {
            "it does not start with a RIFF/WAVE header"
        };
        bail!("{p}: not a WAV file ({what})");
    }
    let mut have_fmt = false;
    let mut pos = 12usize;
    while bytes.len().saturating_sub(pos) >= 8 {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        let available = bytes.len() - body;
        match id {
            b"fmt " => {
                if size < 16 || available < 16 {
                    bail!("{p}: truncated WAV: the fmt chunk is incomplete");
                }
                let le16 = |o: usize| u16::from_le_bytes([bytes[body + o], bytes[body + o + 1]]);
                let channels = le16(2);
                let sample_rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().unwrap());
                if channels == 0 {
                    bail!("{p}: invalid WAV: the header says 0 channels");
                }
                if sample_rate == 0 {
                    bail!("{p}: invalid WAV: the header says the sample rate is 0 Hz");
                }
                have_fmt = true;
            }
            b"data" => {
                if !have_fmt {
                    bail!("{p}: invalid WAV: data chunk before the fmt chunk");
                }
                if size > available {
                    bail!(
                        "{p}: truncated WAV: the header says {size} bytes of audio data \
                         but only {available} are present"
                    );
                }
                return Ok(());
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    if have_fmt {
        bail!("{p}: invalid WAV: no data chunk (truncated or corrupt file)");
    }
    bail!("{p}: invalid WAV: no fmt chunk (truncated or corrupt file)")
}

/// Turns a hound error met while reading samples into a clear message.
fn sample_error(path: &Path, e: hound::Error) -> anyhow::Error {
    match e {
        hound::Error::IoError(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow!(
                "{}: truncated WAV: the file ends before the audio data the header announces",
                path.display()
            )
        }
        e => anyhow!("{}: cannot read audio samples: {e}", path.display()),
    }
}

/// Loads a WAV file as mono f32 at its own sample rate.
///
/// Supports 8-, 16-, 24- and 32-bit integer PCM and 32-bit float, with any number of
/// channels (averaged to mono). Integer samples are scaled by 2^(bits-1) so full scale
/// is [-1, 1); float samples are clamped to [-1, 1].
pub fn load_wav(path: &Path) -> Result<Audio> {
    let p = path.display();
    // The whole file is read at once: music files are small next to the decoded f32
    // samples, and having the bytes lets us check the header before decoding.
    let bytes = fs::read(path).with_context(|| format!("{p}: cannot read file"))?;
    check_header(path, &bytes)?;
    let mut reader = hound::WavReader::new(Cursor::new(&bytes[..])).map_err(|e| match e {
        hound::Error::Unsupported => anyhow!(
            "{p}: unsupported WAV encoding (only integer PCM and 32-bit float are supported)"
        ),
        e => anyhow!("{p}: invalid WAV: {e}"),
    })?;
    let spec = reader.spec();

    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| sample_error(path, e))?
        }
        (hound::SampleFormat::Float, 32) => {
            let v: Vec<f32> = reader
                .samples::<f32>()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| sample_error(path, e))?;
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                bail!("{p}: sample {i} is {} (NaN or infinite)", v[i]);
            }
            v.into_iter().map(|x| x.clamp(-1.0, 1.0)).collect()
        }
        (format, bits) => bail!("{p}: unsupported WAV sample format: {bits}-bit {format:?}"),
    };
    if interleaved.is_empty() {
        bail!("{p}: the WAV file holds no audio samples");
    }

    let channels = spec.channels as usize;
    let samples: Vec<f32> = if channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(channels)
            .map(|frame| (frame.iter().map(|&x| x as f64).sum::<f64>() / channels as f64) as f32)
            .collect()
    };
    // A silent file would only teach the model to predict code 128; it is almost
    // certainly a mistake (an export that failed, the wrong track).
    if samples.iter().all(|&x| x == 0.0) {
        bail!(
            "{p}: the audio is silent (all {} samples are exactly 0)",
            samples.len()
        );
    }
    Ok(Audio {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Loads a WAV file as mono f32 resampled to `sample_rate`.
pub fn load_wav_at(path: &Path, sample_rate: u32) -> Result<Audio> {
    let audio = load_wav(path)?;
    let samples = resample(&audio.samples, audio.sample_rate, sample_rate)
        .with_context(|| format!("{}: cannot resample", path.display()))?;
    Ok(Audio {
        samples,
        sample_rate,
    })
}

/// Smallest FFT block (input samples) we accept: the anti-aliasing filter is as long
/// as the block, so this keeps the transition band narrow.
const MIN_FFT_IN: usize = 1024;
/// Largest FFT block; only reached for nearly coprime rates such as 44100 -> 16001.
const MAX_FFT_IN: usize = 1 << 22;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Resamples mono audio from `from` Hz to `to` Hz with rubato's synchronous FFT
/// resampler `FftFixedIn` (exact rational ratio, anti-aliasing low-pass built in).
///
/// The output has `round(len * to / from)` samples and is aligned with the input: the
/// resampler's delay is dropped from the front and the tail is flushed with zeros.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == 0 || to == 0 {
        bail!("sample rate must be positive (from {from} Hz to {to} Hz)");
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let out_len = (samples.len() as f64 * to as f64 / from as f64).round() as usize;
    // rubato works in FFT blocks of k * from/g input and k * to/g output samples. Its
    // filter is centred on sample floor(block_in / 2) while it reports a delay of
    // floor(block_out / 2) output samples; the two agree exactly only when both block
    // sizes are even (otherwise the output is off by a fraction of a sample), so k is
    // chosen even. One block per chunk (sub_chunks = 1) keeps that choice intact.
    let g = gcd(from as usize, to as usize);
    let (min_in, min_out) = (from as usize / g, to as usize / g);
    let k = MIN_FFT_IN.div_ceil(min_in).max(2).next_multiple_of(2);
    let chunk = k * min_in;
    if chunk > MAX_FFT_IN || k * min_out > MAX_FFT_IN {
        bail!(
            "cannot resample from {from} Hz to {to} Hz: the rates have too small a common divisor"
        );
    }
    let mut rs = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 1, 1)
        .map_err(|e| anyhow!("cannot make a {from} Hz -> {to} Hz resampler: {e}"))?;
    debug_assert_eq!(rs.output_delay() * 2, k * min_out);
    let delay = rs.output_delay();
    let want = delay + out_len;
    let mut out: Vec<f32> = Vec::with_capacity(want + rs.output_frames_max());
    let mut chunks = samples.chunks_exact(chunk);
    for chunk in chunks.by_ref() {
        let y = rs.process(&[chunk], None)?;
        out.extend_from_slice(&y[0]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let y = rs.process_partial(Some(&[rest]), None)?;
        out.extend_from_slice(&y[0]);
    }
    // Flush the samples still inside the filter.
    while out.len() < want {
        let y = rs.process_partial::<&[f32]>(None, None)?;
        if y[0].is_empty() {
            bail!("resampler produced no output while flushing");
        }
        out.extend_from_slice(&y[0]);
    }
    Ok(out[delay..want].to_vec())
}

/// Writes mono 16-bit PCM, clamping to [-1, 1] (NaN is written as 0).
///
/// The file is written to a temporary file in the same folder and renamed into place,
/// so a crash or a full disk never leaves a half-written WAV under the final name.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    if sample_rate == 0 {
        bail!("{}: cannot write a WAV with sample rate 0", path.display());
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    crate::fsutil::write_atomic(path, |out| {
        let mut w = hound::WavWriter::new(out, spec)?;
        for &x in samples {
            let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
            w.write_sample((x * 32767.0).round() as i16)?;
        }
        w.finalize()?;
        Ok(())
    })
}

fn is_wav(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("wav"))
}

/// Recursively collects the files under `dir` that `keep` accepts.
pub(crate) fn walk(
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    // Guard against symlink loops.
    let canon =
        fs::canonicalize(dir).with_context(|| format!("{}: cannot open folder", dir.display()))?;
    if !seen.insert(canon) {
        return Ok(());
    }
    let entries =
        fs::read_dir(dir).with_context(|| format!("{}: cannot list folder", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("{}: cannot list folder", dir.display()))?
            .path();
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            // A dangling symlink or an unreadable entry is not audio; skip it.
            Err(e) => {
                log::warn!("{}: skipped ({e})", path.display());
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, keep, seen, out)?;
        } else if meta.is_file() && keep(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Expands the command line's paths into a sorted list of audio files.
///
/// Files are taken as given (whatever their extension: the loader will say if one is
/// not a WAV); folders are searched recursively for `*.wav` (case-insensitive). A
/// missing path, or a folder with no audio, is an error naming it.
pub fn collect_audio_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    collect_files(
        paths,
        &is_wav,
        "no audio files or folders given",
        ".wav files",
    )
}

/// Files given as they are, and the files that `keep` accepts in folders (recursively),
/// sorted; a folder with none is an error saying it holds no `what`.
pub(crate) fn collect_files(
    paths: &[PathBuf],
    keep: &dyn Fn(&Path) -> bool,
    none_given: &str,
    what: &str,
) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        bail!("{none_given}");
    }
    let mut files = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!("{}: no such file or folder", path.display()),
            _ => anyhow!("{}: cannot access: {e}", path.display()),
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, keep, &mut HashSet::new(), &mut found)?;
            if found.is_empty() {
                bail!("{}: folder contains no {what}", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}
