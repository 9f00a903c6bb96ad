//! Reading and writing WAV files: mono f32 samples in [-1, 1].
//!
//! Every error names the file and says what is wrong with it, because a training run
//! over a folder of music should tell the user which file to fix, not just that
//! "an io error" happened somewhere.

use anyhow::{anyhow, bail, Context, Result};
use rubato::{FftFixedIn, Resampler};
use std::collections::HashSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use symphonia::core::codecs::audio::AudioDecoder;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};

/// The sample rates gruwave reads and writes: below 1 kHz no music survives, and above
/// 768 kHz no recorder goes; outside them a header is corrupt, and trusting it would make
/// a resampler allocate or loop without bound.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Fails with a clear sentence when `rate` is outside [`MIN_SAMPLE_RATE`, `MAX_SAMPLE_RATE`].
pub fn check_sample_rate(rate: u32) -> Result<()> {
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        bail!(
            "the sample rate {rate} Hz is outside what gruwave supports \
             ({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"
        );
    }
    Ok(())
}

/// Mono audio, samples in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// The extensions of the audio files that folders are searched for (any case).
pub const AUDIO_EXTENSIONS: [&str; 9] = [
    "wav", "wave", "flac", "mp3", "ogg", "oga", "aif", "aiff", "aifc",
];

/// More channels than any recording has: a header saying so is corrupt.
const MAX_CHANNELS: u16 = 64;

/// Reads `n` bytes at `pos`, or fewer at the end of the file.
fn read_at(f: &mut fs::File, pos: u64, n: usize) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Walks the RIFF chunks of a WAV file (reading only chunk headers, never the audio) so
/// that the common problems (not a WAV, truncated, 0 channels, a sample rate of 0 or out
/// of range) get a clear message before the decoder sees the file. A data chunk of size
/// 0xFFFFFFFF is a streaming recorder's "unknown": the audio runs to the end of the file,
/// and the returned patches give the RIFF and data sizes the file really has, for the
/// decoder (which checks a chunk against its parent), and any speaker mask fix (see
/// [`check_channel_mask`]).
fn check_wav_header(path: &Path, f: &mut fs::File, len: u64) -> Result<Vec<Patch>> {
    let p = path.display();
    let head = read_at(f, 0, 12).with_context(|| format!("{p}: cannot read file"))?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        let what = if head.starts_with(b"RIFX") {
            "a big-endian RIFX file, which is not supported"
        } else if head.starts_with(b"RF64") {
            "an RF64 file, which is not supported"
        } else {
            "it does not start with a RIFF/WAVE header"
        };
        bail!("{p}: not a WAV file ({what})");
    }
    let mut have_fmt = false;
    let mut patches = Vec::new();
    let mut pos = 12u64;
    while len.saturating_sub(pos) >= 8 {
        let hdr = read_at(f, pos, 8)?;
        let size = u32::from_le_bytes(hdr[4..8].try_into().unwrap()) as u64;
        let body = pos + 8;
        let available = len - body;
        match &hdr[0..4] {
            b"fmt " => {
                patches.extend(check_fmt_chunk(path, f, body, size)?);
                have_fmt = true;
            }
            b"data" => {
                if !have_fmt {
                    bail!("{p}: invalid WAV: data chunk before the fmt chunk");
                }
                if size == u32::MAX as u64 {
                    let riff = (len - 8).min(u32::MAX as u64) as u32;
                    let data = (available & !1).min(u32::MAX as u64 - 1) as u32;
                    patches.extend([(4, riff.to_le_bytes()), (pos + 4, data.to_le_bytes())]);
                    return Ok(patches);
                }
                if size > available {
                    bail!(
                        "{p}: truncated WAV: the header says {size} bytes of audio data \
                         but only {available} are present"
                    );
                }
                return Ok(patches);
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

/// The fmt chunk at `body` (`size` bytes): channels, sample format and rate within what
/// gruwave and the decoder handle; the channel-mask patches the decoder needs.
fn check_fmt_chunk(path: &Path, f: &mut fs::File, body: u64, size: u64) -> Result<Option<Patch>> {
    let p = path.display();
    let fmt = read_at(f, body, 16)?;
    if size < 16 || fmt.len() < 16 {
        bail!("{p}: truncated WAV: the fmt chunk is incomplete");
    }
    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
    let sample_rate = u32::from_le_bytes(fmt[4..8].try_into().unwrap());
    if channels == 0 {
        bail!("{p}: invalid WAV: the header says 0 channels");
    }
    // Bounds the decoder's own arithmetic too (channels x bytes per sample).
    if channels > MAX_CHANNELS {
        bail!(
            "{p}: invalid WAV: the header says {channels} channels (gruwave reads \
             at most {MAX_CHANNELS})"
        );
    }
    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
    let block_align = u16::from_le_bytes([fmt[12], fmt[13]]);
    if bits == 0 || bits > 64 || block_align == 0 {
        bail!(
            "{p}: invalid WAV: the header says {bits} bits per sample and \
             {block_align} bytes per frame"
        );
    }
    if sample_rate == 0 {
        bail!("{p}: invalid WAV: the header says the sample rate is 0 Hz");
    }
    check_sample_rate(sample_rate).with_context(|| format!("{p}: invalid WAV header"))?;
    check_channel_mask(path, f, body, size, channels)
}

/// WAVE_FORMAT_EXTENSIBLE: the fmt chunk carries a speaker mask (one bit per channel).
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xfffe;

/// An extensible fmt chunk (at `body`, `size` bytes) names at most 32 speaker positions: more
/// channels is an error. A mask whose bit count differs from the channel count would make
/// the decoder guess positions with a shift that overflows (symphonia-format-riff 0.6
/// `fix_wave_channel_mask`, found by fuzzing); gruwave averages the channels to mono, so
/// positions do not matter, and the returned patch gives the decoder the mask of the first
/// `channels` positions instead.
fn check_channel_mask(
    path: &Path,
    f: &mut fs::File,
    body: u64,
    size: u64,
    channels: u16,
) -> Result<Option<Patch>> {
    let p = path.display();
    let fmt = read_at(f, body, 24)?;
    if fmt.len() < 24 || size < 24 || u16::from_le_bytes([fmt[0], fmt[1]]) != WAVE_FORMAT_EXTENSIBLE
    {
        // Not extensible, or too short to hold a mask: the decoder reads no mask.
        return Ok(None);
    }
    if channels > 32 {
        bail!(
            "{p}: invalid WAV: an extensible header with {channels} channels (its speaker \
             mask names at most 32)"
        );
    }
    let mask = u32::from_le_bytes(fmt[20..24].try_into().unwrap());
    if mask.count_ones() == channels as u32 {
        return Ok(None);
    }
    let fixed = ((1u64 << channels) - 1) as u32;
    Ok(Some((body + 20, fixed.to_le_bytes())))
}

/// Four bytes at an offset that a [`Patched`] file reads differently.
type Patch = (u64, [u8; 4]);

/// A file read with a few bytes replaced: a streaming WAV's unknown sizes made real, a
/// speaker mask made consistent with the channel count.
struct Patched {
    file: fs::File,
    len: u64,
    pos: u64,
    patches: Vec<Patch>,
}

impl Read for Patched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        for (at, bytes) in &self.patches {
            for (k, &b) in bytes.iter().enumerate() {
                let i = at + k as u64;
                if i >= self.pos && i < self.pos + n as u64 {
                    buf[(i - self.pos) as usize] = b;
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Patched {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

impl MediaSource for Patched {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

fn is_wav_named(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("wave"))
}

/// An audio file opened with symphonia: the format reader and the decoder of its first
/// audio track, with the track's id, sample rate and length in frames (when known).
struct Opened {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track: u32,
    rate: u32,
    frames: Option<u64>,
}

/// Opens `path` with symphonia (see [`Opened`]); the sample rate must be in range.
fn open_decoder(path: &Path, file: Box<dyn MediaSource>) -> Result<Opened> {
    let p = path.display();
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(file, Default::default());
    let format = symphonia::default::get_probe()
        .probe(&hint, mss, Default::default(), Default::default())
        .map_err(|e| {
            anyhow!(
                "{p}: not an audio file gruwave can read ({e}); it reads WAV, FLAC, MP3, Ogg \
                 Vorbis and AIFF"
            )
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| anyhow!("{p}: the file holds no audio track"))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|c| c.audio())
        .ok_or_else(|| anyhow!("{p}: the file holds no audio track"))?;
    let rate = params.sample_rate.unwrap_or(0);
    if rate == 0 {
        bail!("{p}: invalid audio: the sample rate is 0 Hz or missing");
    }
    check_sample_rate(rate).with_context(|| format!("{p}: invalid audio header"))?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &Default::default())
        .map_err(|e| anyhow!("{p}: unsupported audio encoding: {e}"))?;
    let (track, frames) = (track.id, track.num_frames);
    Ok(Opened {
        format,
        decoder,
        track,
        rate,
        frames,
    })
}

/// Loads an audio file (WAV of any sample format, FLAC, MP3, Ogg Vorbis, AIFF) as mono
/// f32 at its own sample rate.
///
/// The file is decoded packet by packet and each packet averaged to mono at once, so
/// memory stays near the decoded mono samples, never a multiple of the file. Integer
/// samples are scaled by 2^(bits-1) so full scale is [-1, 1); float samples are clamped
/// to [-1, 1], and a NaN or infinite one is an error.
pub fn load_wav(path: &Path) -> Result<Audio> {
    let p = path.display();
    let mut file = fs::File::open(path).with_context(|| format!("{p}: cannot read file"))?;
    let len = file
        .metadata()
        .with_context(|| format!("{p}: cannot read file"))?
        .len();
    if len == 0 {
        bail!("{p}: file is empty (0 bytes)");
    }
    let magic = read_at(&mut file, 0, 4).with_context(|| format!("{p}: cannot read file"))?;
    let mut patches = Vec::new();
    if is_wav_named(path) || [b"RIFF", b"RIFX", b"RF64"].iter().any(|m| magic == m[..]) {
        patches = check_wav_header(path, &mut file, len)?;
    }
    file.seek(SeekFrom::Start(0))?;
    let source: Box<dyn MediaSource> = if patches.is_empty() {
        Box::new(file)
    } else {
        Box::new(Patched {
            file,
            len,
            pos: 0,
            patches,
        })
    };
    // The decoders are third-party code fed untrusted bytes: a panic in one of them is
    // this file's error, not the end of a training run over a folder.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(path, source, len)))
        .unwrap_or_else(|_| bail!("{p}: the audio decoder failed on malformed data (corrupt file)"))
}

/// Decodes the whole of an opened audio file to mono (see [`load_wav`]).
fn decode(path: &Path, source: Box<dyn MediaSource>, len: u64) -> Result<Audio> {
    let p = path.display();
    let Opened {
        mut format,
        mut decoder,
        track,
        rate,
        frames,
    } = open_decoder(path, source)?;
    // The container's length is a hint only: a lying header must not size an allocation.
    let mut samples: Vec<f32> = Vec::new();
    if let Some(n) = frames.filter(|&n| n <= len.saturating_mul(8)) {
        samples.reserve_exact(n as usize);
    }
    let mut scratch: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => bail!("{p}: cannot read audio: {e}"),
        };
        if packet.track_id != track {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            // A damaged packet of a compressed stream is skipped, as players do.
            Err(SymphoniaError::DecodeError(e)) => {
                log::warn!("{p}: skipped a damaged packet ({e})");
                continue;
            }
            Err(e) => bail!("{p}: cannot decode audio: {e}"),
        };
        let channels = buf.spec().channels().count().max(1);
        buf.copy_to_vec_interleaved::<f32>(&mut scratch);
        append_mono(path, &scratch, channels, &mut samples)?;
    }
    if samples.is_empty() {
        bail!("{p}: the file holds no audio samples");
    }
    samples.shrink_to_fit();
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
        sample_rate: rate,
    })
}

/// Appends interleaved frames to `out` as their channel mean, clamped to [-1, 1].
fn append_mono(path: &Path, frames: &[f32], channels: usize, out: &mut Vec<f32>) -> Result<()> {
    if let Some(i) = frames.iter().position(|x| !x.is_finite()) {
        bail!(
            "{}: sample {} is {} (NaN or infinite)",
            path.display(),
            out.len() * channels + i,
            frames[i]
        );
    }
    if channels == 1 {
        out.extend(frames.iter().map(|x| x.clamp(-1.0, 1.0)));
    } else {
        out.extend(frames.chunks_exact(channels).map(|frame| {
            let mean = frame.iter().map(|&x| x as f64).sum::<f64>() / channels as f64;
            (mean as f32).clamp(-1.0, 1.0)
        }));
    }
    Ok(())
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
    check_sample_rate(from)?;
    check_sample_rate(to)?;
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

/// Whether `path` is named as an audio file gruwave reads ([`AUDIO_EXTENSIONS`]).
pub fn is_audio(path: &Path) -> bool {
    path.extension().is_some_and(|e| {
        let e = e.to_string_lossy();
        AUDIO_EXTENSIONS.iter().any(|a| e.eq_ignore_ascii_case(a))
    })
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
        &is_audio,
        "no audio files or folders given",
        ".wav files (nor .flac, .mp3, .ogg or .aiff files)",
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
