//! General MIDI synthesis of a standard MIDI file with a SoundFont, via `rustysynth`.
//!
//! The MIDI file is parsed here, not by `rustysynth::MidiFile`: that parser panics on some
//! malformed files (an empty track list, tick overflow), cannot drop the file's own program
//! changes, and hides the length before rendering. The events drive
//! `rustysynth::Synthesizer` directly. The SoundFont's structure is checked before
//! `rustysynth::SoundFont` parses it, because that parser indexes its zone lists with
//! offsets from the file unchecked; a `catch_unwind` stays behind both as a last defence.

use anyhow::{anyhow, bail, ensure, Context, Result};
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Release tail rendered after the last event, so the final notes can decay.
pub const TAIL_SECONDS: f64 = 1.0;
/// Longest MIDI file rendered.
pub const MAX_SECONDS: f64 = 2.0 * 3600.0;
/// Most frames rendered (2 h at 48 kHz, about 2.8 GB of stereo f32), whatever the rate.
pub const MAX_FRAMES: usize = 7200 * 48_000;
/// Output peaks above 1 are scaled down to this.
pub const NORMALISED_PEAK: f32 = 0.9;
const PERCUSSION_CHANNEL: u8 = 9;
const CHUNK_FRAMES: usize = 4096;

/// One channel message of the merged tracks, at its time in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MidiEvent {
    pub seconds: f64,
    pub status: u8,
    pub data1: u8,
    pub data2: u8,
}

/// The channel messages of a standard MIDI file (format 0 or 1, metrical time) in time
/// order, and its length in seconds (the last event of any kind, end-of-track included).
#[derive(Clone, Debug, PartialEq)]
pub struct MidiEvents {
    pub events: Vec<MidiEvent>,
    pub seconds: f64,
}

/// Renders `midi_bytes` with the SoundFont `soundfont` at `sample_rate` Hz (16 kHz to
/// 192 kHz) to interleaved stereo frames, plus a [`TAIL_SECONDS`] release tail.
///
/// `program` (0-127, GM numbering from 0) overrides the instrument of every channel except
/// the GM percussion channel 10 (whose keys are drum sounds, not pitches): it is sent as a
/// program change at the start, and the file's own program changes and bank selects on
/// those channels are dropped. Notes still sounding at the file's end are released there.
///
/// Events take effect at the synthesiser's next 64-frame block (1.5 ms at 44.1 kHz).
///
/// Levels are the synthesiser's own; only if the peak exceeds 1 is the whole render scaled
/// so that the peak is [`NORMALISED_PEAK`], so nothing clips and quiet files stay quiet.
///
/// Errors (never panics) on a malformed SoundFont or MIDI file, a rate out of range, a
/// program above 127, or a file longer than [`MAX_SECONDS`] or [`MAX_FRAMES`].
pub fn render_midi(
    midi_bytes: &[u8],
    soundfont: &[u8],
    sample_rate: u32,
    program: Option<u8>,
) -> Result<Vec<[f32; 2]>> {
    ensure!(
        (16_000..=192_000).contains(&sample_rate),
        "sample rate {sample_rate} Hz is outside 16000..=192000"
    );
    if let Some(p) = program {
        ensure!(p < 128, "program {p} is outside 0..=127");
    }
    let midi = parse_midi(midi_bytes).context("invalid MIDI file")?;
    ensure!(
        midi.seconds <= MAX_SECONDS,
        "the MIDI file lasts {:.0} s, more than the {MAX_SECONDS} s limit",
        midi.seconds
    );
    let frames = ((midi.seconds + TAIL_SECONDS) * f64::from(sample_rate)).ceil() as usize;
    ensure!(
        frames <= MAX_FRAMES,
        "rendering needs {frames} frames, more than the {MAX_FRAMES} limit"
    );
    let font = load_soundfont(soundfont)?;
    let settings = SynthesizerSettings::new(sample_rate as i32);
    let mut synth =
        Synthesizer::new(&font, &settings).map_err(|e| anyhow!("cannot start the synth: {e}"))?;
    let mut out = Vec::new();
    out.try_reserve_exact(frames)
        .with_context(|| format!("cannot allocate {frames} frames"))?;
    catch_unwind(AssertUnwindSafe(|| {
        play(&mut synth, &midi, program, sample_rate, frames, &mut out)
    }))
    .map_err(|_| anyhow!("the synthesiser failed on this SoundFont or MIDI file"))?;
    normalise_peak(&mut out)?;
    Ok(out)
}

/// Where the General MIDI SoundFont bundled with the source tree lies
/// (assets/soundfonts/sf_GMbank.sf2; public domain, see assets/README.md).
pub fn bundled_soundfont_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/soundfonts/sf_GMbank.sf2")
}

/// The bytes of the bundled General MIDI SoundFont ([`bundled_soundfont_path`]).
pub fn bundled_soundfont() -> Result<Vec<u8>> {
    let path = bundled_soundfont_path();
    std::fs::read(&path).with_context(|| {
        format!(
            "cannot read the bundled SoundFont {} (it ships with the source tree); give \
             another with --soundfont FILE",
            path.display()
        )
    })
}

/// Renders `midi_bytes` as [`render_midi`] does and writes the result to `path` as 16-bit
/// PCM WAV, stereo or (`mono`: left and right averaged) mono, atomically: on any error
/// `path` is left as it was. Returns the seconds written, release tail included.
pub fn render_to_wav(
    midi_bytes: &[u8],
    soundfont: &[u8],
    sample_rate: u32,
    program: Option<u8>,
    mono: bool,
    path: &Path,
) -> Result<f64> {
    let frames = render_midi(midi_bytes, soundfont, sample_rate, program)?;
    write_frames(path, &frames, sample_rate, mono)?;
    Ok(frames.len() as f64 / f64::from(sample_rate))
}

/// Writes stereo frames as 16-bit PCM WAV (or their mean as mono), clamped to [-1, 1].
pub fn write_frames(path: &Path, frames: &[[f32; 2]], sample_rate: u32, mono: bool) -> Result<()> {
    ensure!(
        sample_rate > 0,
        "{}: cannot write a WAV with sample rate 0",
        path.display()
    );
    let spec = hound::WavSpec {
        channels: if mono { 1 } else { 2 },
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let pcm = |x: f32| {
        let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
        (x * 32767.0).round() as i16
    };
    crate::fsutil::write_atomic(path, |out| {
        let mut w = hound::WavWriter::new(out, spec)?;
        for &[l, r] in frames {
            if mono {
                w.write_sample(pcm(0.5 * (l + r)))?;
            } else {
                w.write_sample(pcm(l))?;
                w.write_sample(pcm(r))?;
            }
        }
        w.finalize()?;
        Ok(())
    })
}

/// Checks, then parses, a SoundFont 2 file.
pub fn load_soundfont(bytes: &[u8]) -> Result<Arc<SoundFont>> {
    check_soundfont(bytes).context("invalid SoundFont")?;
    let parsed = catch_unwind(AssertUnwindSafe(|| SoundFont::new(&mut &bytes[..])))
        .map_err(|_| anyhow!("invalid SoundFont: the parser failed"))?;
    let font = parsed.map_err(|e| anyhow!("invalid SoundFont: {e}"))?;
    Ok(Arc::new(font))
}

/// Feeds the events to the synthesiser at their frames and renders `frames` frames.
fn play(
    synth: &mut Synthesizer,
    midi: &MidiEvents,
    program: Option<u8>,
    rate: u32,
    frames: usize,
    out: &mut Vec<[f32; 2]>,
) {
    let mut left = vec![0.0f32; CHUNK_FRAMES];
    let mut right = vec![0.0f32; CHUNK_FRAMES];
    let mut render_to = |synth: &mut Synthesizer, out: &mut Vec<[f32; 2]>, end: usize| {
        while out.len() < end {
            let n = (end - out.len()).min(CHUNK_FRAMES);
            synth.render(&mut left[..n], &mut right[..n]);
            out.extend(left[..n].iter().zip(&right[..n]).map(|(&l, &r)| [l, r]));
        }
    };
    if let Some(p) = program {
        for ch in (0..16).filter(|&c| c != PERCUSSION_CHANNEL) {
            synth.process_midi_message(i32::from(ch), 0xC0, i32::from(p), 0);
        }
    }
    let frame_at = |s: f64| ((s * f64::from(rate)).round() as usize).min(frames);
    for ev in &midi.events {
        render_to(synth, out, frame_at(ev.seconds));
        let (channel, command) = (ev.status & 0x0F, ev.status & 0xF0);
        let melodic = channel != PERCUSSION_CHANNEL;
        let is_bank_select = command == 0xB0 && (ev.data1 == 0 || ev.data1 == 32);
        if program.is_some() && melodic && (command == 0xC0 || is_bank_select) {
            continue;
        }
        synth.process_midi_message(
            i32::from(channel),
            i32::from(command),
            i32::from(ev.data1),
            i32::from(ev.data2),
        );
    }
    render_to(synth, out, frame_at(midi.seconds));
    synth.note_off_all(false);
    render_to(synth, out, frames);
}

/// Scales the render so its peak is [`NORMALISED_PEAK`] when it would otherwise clip.
fn normalise_peak(out: &mut [[f32; 2]]) -> Result<()> {
    let peak = out
        .iter()
        .flat_map(|f| f.iter())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    ensure!(
        peak.is_finite(),
        "the synthesiser produced non-finite samples"
    );
    if peak > 1.0 {
        let gain = NORMALISED_PEAK / peak;
        out.iter_mut()
            .flat_map(|f| f.iter_mut())
            .for_each(|x| *x *= gain);
    }
    Ok(())
}

/// A cursor over bytes whose reads fail, rather than panic, past the end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| anyhow!("truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn u16_be(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32_be(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32_le(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A MIDI variable-length quantity (at most 4 bytes, 28 bits).
    fn vlq(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.u8()?;
            v = (v << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!(
            "variable-length quantity longer than 4 bytes at byte {}",
            self.pos
        )
    }
}

/// A track event before tempo mapping.
enum Raw {
    Tempo(u32),
    Channel([u8; 3]),
    End,
}

/// Parses a standard MIDI file (format 0 or 1, ticks per quarter note) into timed events.
pub fn parse_midi(bytes: &[u8]) -> Result<MidiEvents> {
    let mut r = Reader::new(bytes);
    ensure!(r.bytes(4).ok() == Some(&b"MThd"[..]), "no MThd header");
    let header_len = r.u32_be()? as usize;
    ensure!(
        header_len >= 6,
        "MThd header of {header_len} bytes, fewer than 6"
    );
    let mut h = Reader::new(r.bytes(header_len)?);
    let (format, tracks, division) = (h.u16_be()?, h.u16_be()?, h.u16_be()?);
    ensure!(
        format <= 1,
        "format {format} is not supported (only 0 and 1)"
    );
    ensure!(
        division & 0x8000 == 0,
        "SMPTE time division is not supported"
    );
    ensure!(division > 0, "zero ticks per quarter note");
    let mut raw: Vec<(u64, Raw)> = Vec::new();
    let mut found = 0;
    while found < tracks && !r.done() {
        let id = r.bytes(4)?;
        let len = r.u32_be()? as usize;
        let body = r.bytes(len).with_context(|| "chunk longer than the file")?;
        // Unknown chunk types are skipped, as the standard asks.
        if id == b"MTrk" {
            let mut t = read_track(body).with_context(|| format!("track {found}"))?;
            raw.append(&mut t);
            found += 1;
        }
    }
    ensure!(
        found == tracks,
        "the header announces {tracks} tracks, the file has {found}"
    );
    // Stable: simultaneous events keep track order, then file order.
    raw.sort_by_key(|(tick, _)| *tick);
    Ok(tempo_map(&raw, division))
}

/// Converts ticks to seconds through the tempo changes (default 120 bpm).
fn tempo_map(raw: &[(u64, Raw)], division: u16) -> MidiEvents {
    let (mut tempo, mut last_tick, mut seconds) = (500_000.0f64, 0u64, 0.0f64);
    let mut events = Vec::new();
    for (tick, ev) in raw {
        seconds += (tick - last_tick) as f64 * tempo / (f64::from(division) * 1e6);
        last_tick = *tick;
        match ev {
            Raw::Tempo(t) => tempo = f64::from(*t),
            Raw::Channel([status, data1, data2]) => events.push(MidiEvent {
                seconds,
                status: *status,
                data1: *data1,
                data2: *data2,
            }),
            Raw::End => {}
        }
    }
    MidiEvents { events, seconds }
}

/// The events of one MTrk chunk, with absolute ticks; running status is honoured.
fn read_track(body: &[u8]) -> Result<Vec<(u64, Raw)>> {
    let mut r = Reader::new(body);
    let (mut tick, mut running) = (0u64, None::<u8>);
    let mut out = Vec::new();
    while !r.done() {
        tick += u64::from(r.vlq()?);
        let first = r.u8()?;
        match first {
            0xFF => {
                let kind = r.u8()?;
                let len = r.vlq()? as usize;
                let data = r.bytes(len)?;
                match (kind, data) {
                    (0x2F, _) => {
                        out.push((tick, Raw::End));
                        break;
                    }
                    (0x51, &[a, b, c]) => {
                        let t = u32::from_be_bytes([0, a, b, c]);
                        ensure!(t > 0, "tempo of 0 microseconds per quarter note");
                        out.push((tick, Raw::Tempo(t)));
                    }
                    (0x51, _) => bail!("tempo event of {len} bytes, not 3"),
                    _ => {}
                }
            }
            0xF0 | 0xF7 => {
                let len = r.vlq()? as usize;
                r.bytes(len)?;
                running = None;
            }
            0xF1..=0xFE => bail!("system message {first:#04X} in a track"),
            _ => {
                let (status, d1) = if first & 0x80 != 0 {
                    (first, r.u8()?)
                } else {
                    (
                        running.ok_or_else(|| anyhow!("data byte without status"))?,
                        first,
                    )
                };
                running = Some(status);
                let one_byte = matches!(status & 0xF0, 0xC0 | 0xD0);
                let d2 = if one_byte { 0 } else { r.u8()? };
                ensure!(d1 < 0x80 && d2 < 0x80, "data byte above 127 at tick {tick}");
                out.push((tick, Raw::Channel([status, d1, d2])));
            }
        }
    }
    Ok(out)
}

/// The sub-chunks of a RIFF LIST body (after its 4-byte type), read the way `rustysynth`
/// reads them: id, little-endian size, payload, no pad bytes.
fn sub_chunks(body: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while !r.done() {
        let id: [u8; 4] = r.bytes(4)?.try_into()?;
        let len = r.u32_le()? as usize;
        let data = r
            .bytes(len)
            .with_context(|| format!("sub-chunk '{}' overruns its list", fourcc(id)))?;
        out.push((id, data));
    }
    Ok(out)
}

fn fourcc(id: [u8; 4]) -> String {
    id.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// Checks the RIFF structure and the pdta cross-references that `rustysynth` indexes
/// without checking; its own checks cover the rest.
fn check_soundfont(bytes: &[u8]) -> Result<()> {
    let mut r = Reader::new(bytes);
    ensure!(r.bytes(4).ok() == Some(&b"RIFF"[..]), "not a RIFF file");
    r.u32_le()?;
    ensure!(
        r.bytes(4)? == b"sfbk",
        "not a SoundFont 2 (RIFF type is not 'sfbk')"
    );
    let mut pdta = None;
    while !r.done() {
        let id: [u8; 4] = r.bytes(4)?.try_into()?;
        ensure!(
            &id == b"LIST",
            "expected a LIST chunk, found '{}'",
            fourcc(id)
        );
        let len = r.u32_le()? as usize;
        let body = r.bytes(len).context("LIST chunk longer than the file")?;
        ensure!(body.len() >= 4, "LIST chunk without a type");
        let subs = sub_chunks(&body[4..])?;
        if &body[..4] == b"pdta" {
            pdta = Some(subs);
        }
    }
    let pdta = pdta.ok_or_else(|| anyhow!("no pdta list"))?;
    let get = |name: &[u8; 4]| pdta.iter().find(|(id, _)| id == name).map(|(_, d)| *d);
    let count = |d: Option<&[u8]>, rec: usize| d.map_or(0, |d| d.len() / rec);
    // Header -> bag indices (record size, offset of the u16 bag index), bag -> generator.
    check_refs(get(b"phdr"), 38, 24, count(get(b"pbag"), 4), "preset")?;
    check_refs(get(b"pbag"), 4, 0, count(get(b"pgen"), 4), "preset zone")?;
    check_refs(get(b"inst"), 22, 20, count(get(b"ibag"), 4), "instrument")?;
    check_refs(
        get(b"ibag"),
        4,
        0,
        count(get(b"igen"), 4),
        "instrument zone",
    )?;
    Ok(())
}

/// Record `i` of `list` owns targets `idx[i]..idx[i + 1]` (the last record terminates the
/// list; so does the last target). Every non-empty span must lie within the `targets - 1`
/// real targets.
fn check_refs(
    list: Option<&[u8]>,
    rec: usize,
    off: usize,
    targets: usize,
    what: &str,
) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    let idx: Vec<usize> = list
        .chunks_exact(rec)
        .map(|r| usize::from(u16::from_le_bytes([r[off], r[off + 1]])))
        .collect();
    for (i, w) in idx.windows(2).enumerate() {
        ensure!(
            w[1] <= w[0] || w[1] < targets,
            "{what} {i} refers past the end of its list ({} of {})",
            w[1],
            targets.saturating_sub(1)
        );
    }
    Ok(())
}
