//! Training data: music files as token tracks (audio as mu-law samples, MIDI as perf388
//! events), a train/valid split by file, and the batch streams for stateful truncated
//! BPTT (docs/MODEL_SPEC.md, "Training objective"; docs/MIDI_TOKENS.md S1 and "Augmentation").

use crate::audio::{collect_audio_files, collect_files, load_wav_at};
use crate::codec::{encode_all, Codec};
use crate::midi;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One music file as tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// The file's path, for messages.
    pub name: String,
    pub tokens: Vec<u32>,
}

/// MIDI files larger than this are refused before they are read: the chorales are a few
/// KB, and a performance of hours is under a few MB.
const MAX_MIDI_BYTES: u64 = 64 << 20;

/// Expands the command line's paths into sorted music files of one codec: files are
/// taken as given (the extension names the codec; an unknown one is read as audio, so the
/// loader says what is wrong), folders are searched for audio (.wav, .flac, .mp3, .ogg, .aiff) and .mid/.midi files. Audio
/// and MIDI together are refused: one model reads one kind of token.
pub fn collect_music_files(paths: &[PathBuf]) -> Result<(Codec, Vec<PathBuf>)> {
    let known = |p: &Path| Codec::of_file(p).is_some();
    let files = collect_files(
        paths,
        &known,
        "no audio or MIDI files or folders given",
        ".wav files (nor .flac, .mp3, .ogg, .aiff or .mid files)",
    )?;
    let codec_of = |p: &PathBuf| Codec::of_file(p).unwrap_or(Codec::MuLaw256);
    let codec = codec_of(&files[0]);
    if let Some(other) = files.iter().find(|p| codec_of(p) != codec) {
        bail!(
            "the data mix audio and MIDI ({} and {}): a model reads one kind of token, so \
             train on audio or on MIDI files, not both",
            files[0].display(),
            other.display()
        );
    }
    Ok((codec, files))
}

/// A MIDI file as perf388 tokens, preceded by the start marker TS100 (docs/MIDI_TOKENS.md S1).
pub fn load_midi_track(path: &Path) -> Result<Track> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("{name}: cannot read"))?
        .len();
    if size > MAX_MIDI_BYTES {
        bail!("{name}: {size} bytes is too large for a MIDI file (at most {MAX_MIDI_BYTES})");
    }
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let mut tokens = vec![midi::START];
    tokens.extend(midi::encode_file(&bytes, &name)?);
    Ok(Track { name, tokens })
}

/// The loaded corpus, split by file into training and validation tracks.
#[derive(Debug, Default)]
pub struct Corpus {
    pub train: Vec<Track>,
    pub valid: Vec<Track>,
    /// Files that could not be loaded, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Corpus {
    /// Loads every WAV file among `paths` (files, or folders searched recursively),
    /// resampled to `sample_rate` and mu-law encoded, and splits them.
    ///
    /// A file that fails to load is skipped with a warning and listed in `skipped`;
    /// only when no file loads is it an error (listing every reason).
    ///
    /// Split rule (deterministic, by file): the loaded files are sorted by path and
    /// `n_valid = round(n * valid_fraction)`, clamped to 1..=n-1, of them are held
    /// out, spread evenly: file i (0-based) is a validation file when
    /// `floor((i + 1) * n_valid / n) > floor(i * n_valid / n)`, i.e. every k-th file
    /// with k = n / n_valid (the last of each group of k). The same set of files always
    /// gives the same split. With a single file, the last `valid_fraction` of its
    /// tokens is held out instead. `valid_fraction = 0` gives no validation data.
    pub fn load(paths: &[PathBuf], sample_rate: u32, valid_fraction: f64) -> Result<Corpus> {
        Self::load_files(
            Codec::MuLaw256,
            collect_audio_files(paths)?,
            sample_rate,
            valid_fraction,
        )
    }

    /// Like [`Corpus::load`] for audio or MIDI: the codec follows from the files
    /// ([`collect_music_files`]); `sample_rate` matters only for audio.
    pub fn load_music(
        paths: &[PathBuf],
        sample_rate: u32,
        valid_fraction: f64,
    ) -> Result<(Codec, Corpus)> {
        let (codec, files) = collect_music_files(paths)?;
        Ok((
            codec,
            Self::load_files(codec, files, sample_rate, valid_fraction)?,
        ))
    }

    fn load_files(
        codec: Codec,
        files: Vec<PathBuf>,
        sample_rate: u32,
        valid_fraction: f64,
    ) -> Result<Corpus> {
        if sample_rate == 0 {
            bail!("sample rate must be positive, got 0 Hz");
        }
        if !(0.0..1.0).contains(&valid_fraction) {
            bail!("validation fraction must be in [0, 1), got {valid_fraction}");
        }
        let mut loaded = Vec::new();
        let mut skipped = Vec::new();
        for path in files {
            let track = match codec {
                Codec::MuLaw256 => load_track(&path, sample_rate),
                Codec::Perf388 => load_midi_track(&path),
            };
            match track {
                Ok(track) => loaded.push(track),
                Err(e) => {
                    let reason = format!("{e:#}");
                    log::warn!("skipping a file that cannot be used: {reason}");
                    skipped.push((path, reason));
                }
            }
        }
        if loaded.is_empty() {
            let reasons: Vec<&str> = skipped.iter().map(|(_, r)| r.as_str()).collect();
            bail!(
                "none of the {} {} files could be loaded:\n  {}",
                skipped.len(),
                if codec == Codec::Perf388 {
                    "MIDI"
                } else {
                    "audio"
                },
                reasons.join("\n  ")
            );
        }
        let (train, valid) = split(loaded, valid_fraction);
        Ok(Corpus {
            train,
            valid,
            skipped,
        })
    }
}

fn load_track(path: &Path, sample_rate: u32) -> Result<Track> {
    let audio = load_wav_at(path, sample_rate)?;
    Ok(Track {
        name: path.display().to_string(),
        tokens: encode_all(&audio.samples),
    })
}

/// The split rule documented on [`Corpus::load`]; `tracks` are sorted by path.
fn split(tracks: Vec<Track>, valid_fraction: f64) -> (Vec<Track>, Vec<Track>) {
    let n = tracks.len();
    if valid_fraction <= 0.0 {
        return (tracks, Vec::new());
    }
    if n == 1 {
        let mut track = tracks.into_iter().next().unwrap();
        let len = track.tokens.len();
        if len < 2 {
            return (vec![track], Vec::new());
        }
        let tail = ((len as f64 * valid_fraction).round() as usize).clamp(1, len - 1);
        let valid = Track {
            name: track.name.clone(),
            tokens: track.tokens.split_off(len - tail),
        };
        return (vec![track], vec![valid]);
    }
    let n_valid = ((n as f64 * valid_fraction).round() as usize).clamp(1, n - 1);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (i, track) in tracks.into_iter().enumerate() {
        if (i + 1) * n_valid / n > i * n_valid / n {
            valid.push(track);
        } else {
            train.push(track);
        }
    }
    (train, valid)
}

/// One step's input: `B` windows of `T + 1` tokens (inputs are columns 0..T, targets
/// columns 1..=T).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[B, T+1]`, row-major.
    pub tokens: Vec<u32>,
    /// `[B]`: the stream starts a new file or wrapped around, so its hidden state must
    /// be zeroed before this window.
    pub reset: Vec<bool>,
}

/// Batch streams for stateful truncated BPTT.
///
/// The concatenated tracks are cut into `batch` contiguous spans of equal length (the
/// remainder, fewer than `batch` tokens, is dropped). Each stream walks its span in
/// windows of `T + 1` tokens; consecutive windows overlap by one token, so the next
/// window's first input is the previous window's last target and the carried hidden
/// state continues exactly where it left off. A window never crosses a file boundary:
/// when fewer than `T + 1` tokens of the current file remain in the span, the stream
/// jumps to the next file's start in its span, and after the span's end it wraps to
/// the span's start; both set `reset`. Pieces of a file shorter than `T + 1` inside a
/// span are skipped.
#[derive(Clone, Debug)]
pub struct Streams {
    /// All tracks, concatenated.
    tokens: Vec<u32>,
    tbptt: usize,
    /// Per stream: the pieces `[start, end)` of files inside its span that hold at
    /// least one window, in order, with the index of their file.
    segments: Vec<Vec<(usize, usize, usize)>>,
    /// Per stream: (segment index, start of the next window).
    cursor: Vec<(usize, usize)>,
    /// Per stream: completed passes over its span (transposition draws depend on it).
    passes: Vec<u64>,
    /// Transposition augmentation, when on.
    transpose: Option<Transpose>,
}

/// Per-piece pitch shifts of perf388 tracks (docs/MIDI_TOKENS.md, "Augmentation").
#[derive(Clone, Debug)]
struct Transpose {
    seed: u64,
    /// Per file: the shifts in [-N, N] that keep all its pitches in 0..127.
    shifts: Vec<Vec<i32>>,
}

impl Streams {
    /// Cuts `tracks` into `batch` streams walked in windows of `tbptt + 1` tokens.
    pub fn new(tracks: &[Track], batch: usize, tbptt: usize) -> Result<Streams> {
        if batch == 0 || tbptt == 0 {
            bail!("batch size and TBPTT length must be positive (got B = {batch}, T = {tbptt})");
        }
        let total: usize = tracks.iter().map(|t| t.tokens.len()).sum();
        let describe = || {
            let names: Vec<&str> = tracks.iter().take(5).map(|t| t.name.as_str()).collect();
            let more = if tracks.len() > 5 { ", ..." } else { "" };
            format!("{} track(s): {}{more}", tracks.len(), names.join(", "))
        };
        let window = tbptt + 1;
        let span = total / batch;
        if span < window {
            bail!(
                "the data is shorter than one batch: {total} tokens in {} give {batch} streams \
                 of {span} tokens, but each stream needs at least T + 1 = {window} tokens \
                 ({} tokens in all for B = {batch}, T = {tbptt})",
                describe(),
                batch * window
            );
        }
        // File boundaries in the concatenation.
        let mut bounds = Vec::with_capacity(tracks.len());
        let mut start = 0;
        for t in tracks {
            bounds.push((start, start + t.tokens.len()));
            start += t.tokens.len();
        }
        let mut segments = Vec::with_capacity(batch);
        for b in 0..batch {
            let (lo, hi) = (b * span, (b + 1) * span);
            let segs: Vec<(usize, usize, usize)> = bounds
                .iter()
                .enumerate()
                .map(|(f, &(s, e))| (s.max(lo), e.min(hi), f))
                .filter(|&(s, e, _)| e >= s + window)
                .collect();
            if segs.is_empty() {
                bail!(
                    "stream {b} of {batch} has {span} tokens, but no piece of a single file in \
                     it holds T + 1 = {window} tokens (windows may not cross file boundaries; \
                     use a smaller batch or T, or longer files; {})",
                    describe()
                );
            }
            segments.push(segs);
        }
        let tokens = tracks
            .iter()
            .flat_map(|t| t.tokens.iter().copied())
            .collect();
        let cursor = segments.iter().map(|s| (0, s[0].0)).collect();
        Ok(Streams {
            tokens,
            tbptt,
            passes: vec![0; batch],
            segments,
            cursor,
            transpose: None,
        })
    }

    /// Transposes each piece of a perf388 track by a shift drawn per (stream, piece, pass)
    /// from the shifts in [-max, max] that keep every pitch of its file in 0..127, so a
    /// run sees its pieces in up to 2 max + 1 keys. The draws depend only on `seed` and
    /// the position, so a resumed run repeats them.
    pub fn with_transposition(mut self, tracks: &[Track], max: u32, seed: u64) -> Streams {
        if max > 0 {
            let n = max.min(127) as i32;
            let shifts = tracks
                .iter()
                .map(|t| midi::valid_shifts(&t.tokens, n))
                .collect();
            self.transpose = Some(Transpose { seed, shifts });
        }
        self
    }

    /// After a resume at optimiser step `step`: each stream has made `step` windows, so
    /// its pass count follows from the windows in its span.
    pub fn set_step(&mut self, step: u64) {
        for (b, segs) in self.segments.iter().enumerate() {
            let cycle: usize = segs.iter().map(|&(s, e, _)| (e - s - 1) / self.tbptt).sum();
            self.passes[b] = step / cycle.max(1) as u64;
        }
    }

    /// Number of streams B.
    pub fn batch(&self) -> usize {
        self.segments.len()
    }

    /// Window length T (each window holds T + 1 tokens).
    pub fn tbptt(&self) -> usize {
        self.tbptt
    }

    /// The next window of every stream; advances by T tokens.
    pub fn next_batch(&mut self) -> Batch {
        let window = self.tbptt + 1;
        let mut tokens = Vec::with_capacity(self.batch() * window);
        let mut reset = Vec::with_capacity(self.batch());
        for b in 0..self.batch() {
            let segs = &self.segments[b];
            let (si, pos) = self.cursor[b];
            // A window at the start of a piece follows a jump (or is the first one).
            reset.push(pos == segs[si].0);
            let first = tokens.len();
            tokens.extend_from_slice(&self.tokens[pos..pos + window]);
            if let Some(t) = &self.transpose {
                let k = t.draw(b, si, segs[si].2, self.passes[b]);
                midi::transpose(&mut tokens[first..], k);
            }
            let next = pos + self.tbptt;
            self.cursor[b] = if next + window <= segs[si].1 {
                (si, next)
            } else {
                let si = (si + 1) % segs.len();
                if si == 0 {
                    self.passes[b] += 1;
                }
                (si, segs[si].0)
            };
        }
        Batch { tokens, reset }
    }

    /// Where each stream's next window starts (an index into the concatenated tracks).
    /// Save it with a checkpoint and give it to [`Streams::set_position`] to resume.
    pub fn position(&self) -> Vec<u64> {
        self.cursor.iter().map(|&(_, pos)| pos as u64).collect()
    }

    /// Restores a [`Streams::position`] taken from streams built from the same tracks,
    /// batch size and T; checks that every position is a window start of its stream.
    pub fn set_position(&mut self, pos: &[u64]) -> Result<()> {
        if pos.len() != self.batch() {
            bail!(
                "cannot resume the data streams: {} positions given for {} streams",
                pos.len(),
                self.batch()
            );
        }
        let mut cursor = Vec::with_capacity(pos.len());
        for (b, (&p, segs)) in pos.iter().zip(&self.segments).enumerate() {
            let t = self.tbptt;
            let found = usize::try_from(p).ok().and_then(|p| {
                segs.iter()
                    .position(|&(s, e, _)| p >= s && p < e && e - p > t && (p - s) % t == 0)
                    .map(|si| (si, p))
            });
            match found {
                Some(c) => cursor.push(c),
                None => bail!(
                    "cannot resume the data streams: position {p} of stream {b} is not a window \
                     start (were the data, batch size or T changed?)"
                ),
            }
        }
        self.cursor = cursor;
        Ok(())
    }

    /// Per stream, the `n` tokens up to and including the first token of its next
    /// window, or `None` where that window starts a file piece (it resets). Needs
    /// `n <= T + 1`: the tokens then lie in the stream's previous window.
    pub fn history(&self, n: usize) -> Vec<Option<Vec<u32>>> {
        assert!(n <= self.tbptt + 1, "a history longer than a window");
        self.cursor
            .iter()
            .zip(&self.segments)
            .map(|(&(si, pos), segs)| {
                (pos != segs[si].0).then(|| self.tokens[pos + 1 - n..pos + 1].to_vec())
            })
            .collect()
    }

    /// Windows per stream for one pass over its span: the longest stream's count (a
    /// stream whose span holds fewer windows, because of file boundaries, wraps earlier).
    pub fn windows_per_epoch(&self) -> usize {
        self.segments
            .iter()
            .map(|segs| {
                segs.iter()
                    .map(|&(s, e, _)| (e - s - 1) / self.tbptt)
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0)
    }
}

/// SampleRNN chunks (docs/SAMPLERNN_SPEC.md, "Training") from the `[B, T+1]` windows of
/// [`Streams`] or [`crate::train::eval::EvalWindows`]: a chunk is the stream's last L
/// tokens followed by the window's T targets, `[B, L+T]`. A window that starts a file
/// (reset) gets L tokens q/2 instead, so a file's sequence is its samples after the
/// first (whose only role in a window is as the first input), prefixed by L tokens q/2.
#[derive(Clone, Debug)]
pub struct Lookback {
    fill: u32,
    /// Per stream, the last L tokens of its previous chunk.
    last: Vec<Vec<u32>>,
}

impl Lookback {
    /// `batch` streams of lookback `len`, all starting from `fill` (q/2).
    pub fn new(batch: usize, len: usize, fill: u32) -> Lookback {
        Lookback {
            fill,
            last: vec![vec![fill; len]; batch],
        }
    }

    /// After a resume: the history of every stream ([`Streams::history`]).
    pub fn with_history(mut self, history: Vec<Option<Vec<u32>>>) -> Lookback {
        for (last, h) in self.last.iter_mut().zip(history) {
            if let Some(h) = h {
                *last = h;
            }
        }
        self
    }

    /// The `[B, L+T]` chunks of a batch of windows (of any B up to the lookback's).
    pub fn chunks(&mut self, batch: &Batch) -> Vec<u32> {
        let b = batch.reset.len();
        let window = batch.tokens.len() / b;
        let mut out = Vec::with_capacity(b * (self.last[0].len() + window - 1));
        for (row, last) in self.last[..b].iter_mut().enumerate() {
            if batch.reset[row] {
                last.fill(self.fill);
            }
            out.extend_from_slice(last);
            out.extend_from_slice(&batch.tokens[row * window + 1..(row + 1) * window]);
            let (end, l) = (out.len(), last.len());
            last.copy_from_slice(&out[end - l..end]);
        }
        out
    }
}

impl Transpose {
    /// The shift of stream `b`'s piece `si` (of file `file`) on pass `pass`: a
    /// SplitMix64 hash of the seed and the position, mapped onto the file's valid shifts.
    fn draw(&self, b: usize, si: usize, file: usize, pass: u64) -> i32 {
        let shifts = &self.shifts[file];
        if shifts.is_empty() {
            return 0;
        }
        let mut x = self.seed;
        for v in [b as u64, si as u64, pass] {
            x = splitmix64(x ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        shifts[(x % shifts.len() as u64) as usize]
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(name: &str, len: usize, base: usize) -> Track {
        Track {
            name: name.to_string(),
            tokens: (0..len).map(|i| ((base + i) % 256) as u32).collect(),
        }
    }

    /// Tracks whose tokens encode their global position, so windows can be located.
    fn numbered(lens: &[usize]) -> (Vec<Track>, Vec<u32>) {
        let mut tracks = Vec::new();
        let mut base = 0;
        for (i, &len) in lens.iter().enumerate() {
            tracks.push(track(&format!("f{i}.wav"), len, base));
            base += len;
        }
        (tracks, (0..base as u32).collect())
    }

    #[test]
    fn windows_overlap_by_one_and_wrap_with_reset() {
        // One file of 100 tokens, B = 2 spans of 50, T = 7: windows at 0, 7, ..., 42
        // (42 + 8 = 50), i.e. 7 per span, then a wrap.
        let (tracks, _) = numbered(&[100]);
        let mut s = Streams::new(&tracks, 2, 7).unwrap();
        assert_eq!(s.windows_per_epoch(), 7);
        let mut prev: Option<Batch> = None;
        for step in 0..20 {
            let b = s.next_batch();
            assert_eq!(b.tokens.len(), 2 * 8);
            for row in 0..2 {
                let w = &b.tokens[row * 8..row * 8 + 8];
                // Contiguous tokens.
                assert!(w.windows(2).all(|p| p[1] == p[0] + 1), "step {step}: {w:?}");
                let k = step % 7;
                assert_eq!(w[0] as usize, row * 50 + 7 * k);
                assert_eq!(b.reset[row], k == 0, "step {step} row {row}");
                if let (Some(p), false) = (&prev, b.reset[row]) {
                    // First input = the previous window's last target.
                    assert_eq!(w[0], p.tokens[row * 8 + 7]);
                }
            }
            prev = Some(b);
        }
    }

    #[test]
    fn resets_exactly_at_file_starts_and_windows_stay_inside_files() {
        // Files of 30, 5 (too short for a window), 40 and 25 tokens: 100 tokens, B = 1,
        // T = 9 (windows of 10).
        let lens = [30, 5, 40, 25];
        let (tracks, _) = numbered(&lens);
        let starts = [0u32, 30, 35, 75];
        let file_of = |t: u32| starts.iter().rposition(|&s| t >= s).unwrap();
        let mut s = Streams::new(&tracks, 1, 9).unwrap();
        // 30 -> 3 windows (0, 9, 18), 40 -> 4 (35, 44, 53, 62), 25 -> 2 (75, 84).
        assert_eq!(s.windows_per_epoch(), 9);
        let want_starts = [0, 9, 18, 35, 44, 53, 62, 75, 84];
        for step in 0..27 {
            let b = s.next_batch();
            let w = &b.tokens;
            assert_eq!(w[0], want_starts[step % 9], "step {step}");
            assert!(w.windows(2).all(|p| p[1] == p[0] + 1));
            assert_eq!(file_of(w[0]), file_of(w[9]), "window crosses a file: {w:?}");
            assert_eq!(b.reset[0], [0, 35, 75].contains(&w[0]), "step {step}");
        }
    }

    #[test]
    fn span_starting_inside_a_file_resets_at_its_start_and_at_the_next_file() {
        // Two files of 60; B = 3 spans of 40: stream 1 covers 40..80 = f0[40..60] and
        // f1[0..20].
        let (tracks, _) = numbered(&[60, 60]);
        let mut s = Streams::new(&tracks, 3, 9).unwrap();
        let mut seen = Vec::new();
        for _ in 0..6 {
            let b = s.next_batch();
            seen.push((b.tokens[10], b.reset[1]));
        }
        assert_eq!(
            seen,
            vec![
                (40, true),
                (49, false),
                (60, true),
                (69, false),
                (40, true),
                (49, false)
            ]
        );
    }

    #[test]
    fn position_round_trip_reproduces_batches() {
        let (tracks, _) = numbered(&[123, 77, 301, 64]);
        let mut a = Streams::new(&tracks, 4, 16).unwrap();
        for _ in 0..13 {
            a.next_batch();
        }
        let pos = a.position();
        let want: Vec<Batch> = (0..30).map(|_| a.next_batch()).collect();
        let mut b = Streams::new(&tracks, 4, 16).unwrap();
        b.set_position(&pos).unwrap();
        let got: Vec<Batch> = (0..30).map(|_| b.next_batch()).collect();
        assert_eq!(got, want);
        // A fresh stream's position is its first window, with reset.
        let mut c = Streams::new(&tracks, 4, 16).unwrap();
        let first = c.position();
        for _ in 0..5 {
            c.next_batch();
        }
        c.set_position(&first).unwrap();
        assert!(c.next_batch().reset.iter().all(|&r| r));
    }

    #[test]
    fn lookback_chunks_overlap_by_l_and_resume_from_history() {
        // One file of 100 tokens, B = 2, T = 8, L = 4.
        let (tracks, _) = numbered(&[100]);
        let mut s = Streams::new(&tracks, 2, 8).unwrap();
        let mut lb = Lookback::new(2, 4, 128);
        let first = lb.chunks(&s.next_batch());
        assert_eq!(&first[..12], &[128, 128, 128, 128, 1, 2, 3, 4, 5, 6, 7, 8]);
        let second = lb.chunks(&s.next_batch());
        assert_eq!(&second[..12], &[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        let mut resumed = Lookback::new(2, 4, 128).with_history(s.history(4));
        let mut copy = s.clone();
        assert_eq!(
            resumed.chunks(&copy.next_batch()),
            lb.chunks(&s.next_batch())
        );
    }

    #[test]
    fn set_position_rejects_bad_positions() {
        let (tracks, _) = numbered(&[200]);
        let mut s = Streams::new(&tracks, 2, 10).unwrap();
        let err = s.set_position(&[0]).unwrap_err().to_string();
        assert!(err.contains("1 positions given for 2 streams"), "{err}");
        let err = s.set_position(&[0, 103]).unwrap_err().to_string();
        assert!(err.contains("position 103 of stream 1"), "{err}");
        // Stream 0's span is 0..100, so 100 belongs to stream 1.
        assert!(s.set_position(&[100, 100]).is_err());
        assert!(s.set_position(&[u64::MAX, 100]).is_err());
        s.set_position(&[10, 110]).unwrap();
    }

    #[test]
    fn too_short_data_is_an_error() {
        let (tracks, _) = numbered(&[50, 20]);
        // 70 tokens / 8 streams = 8 < T + 1 = 10.
        let err = Streams::new(&tracks, 8, 9).unwrap_err().to_string();
        assert!(err.contains("shorter than one batch"), "{err}");
        assert!(err.contains("70 tokens"), "{err}");
        assert!(err.contains("80 tokens in all"), "{err}");
        assert!(err.contains("f0.wav") && err.contains("f1.wav"), "{err}");
        // Long enough in total, but the span straddles two files that are each too short.
        let (tracks, _) = numbered(&[6, 6]);
        let err = Streams::new(&tracks, 1, 9).unwrap_err().to_string();
        assert!(err.contains("no piece of a single file"), "{err}");
        assert!(Streams::new(&tracks, 0, 9).is_err());
        assert!(Streams::new(&tracks, 1, 0).is_err());
    }

    #[test]
    fn split_is_deterministic_and_spread() {
        let tracks: Vec<Track> = (0..10).map(|i| track(&format!("f{i}"), 10, 0)).collect();
        let names = |v: &[Track]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        let (train, valid) = split(tracks.clone(), 0.2);
        assert_eq!(names(&valid), vec!["f4", "f9"]);
        assert_eq!(train.len(), 8);
        let (train2, valid2) = split(tracks.clone(), 0.2);
        assert_eq!((train2, valid2), (train, valid));
        // At least one file with a small fraction, never all files.
        assert_eq!(split(tracks.clone(), 0.01).1.len(), 1);
        assert_eq!(split(tracks.clone(), 0.99).0.len(), 1);
        assert!(split(tracks.clone(), 0.0).1.is_empty());
        let (train, valid) = split(tracks[..2].to_vec(), 0.1);
        assert_eq!(
            (names(&train), names(&valid)),
            (vec!["f0".into()], vec!["f1".into()])
        );
    }

    #[test]
    fn single_file_holds_out_its_tail() {
        let t = track("only.wav", 1000, 0);
        let (train, valid) = split(vec![t.clone()], 0.1);
        assert_eq!(train[0].tokens, t.tokens[..900]);
        assert_eq!(valid[0].tokens, t.tokens[900..]);
        let (train, valid) = split(vec![t.clone()], 0.0);
        assert_eq!(train[0].tokens, t.tokens);
        assert!(valid.is_empty());
    }
}
