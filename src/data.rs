//! Training data: audio files as mu-law token tracks, a train/valid split by file, and
//! the batch streams for stateful truncated BPTT (MODEL_SPEC.md, "Training objective").

use crate::audio::{collect_audio_files, load_wav_at};
use crate::codec::encode_all;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// One audio file as mu-law tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// The file's path, for messages.
    pub name: String,
    pub tokens: Vec<u8>,
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
        if sample_rate == 0 {
            bail!("sample rate must be positive, got 0 Hz");
        }
        if !(0.0..1.0).contains(&valid_fraction) {
            bail!("validation fraction must be in [0, 1), got {valid_fraction}");
        }
        let files = collect_audio_files(paths)?;
        let mut loaded = Vec::new();
        let mut skipped = Vec::new();
        for path in files {
            match load_track(&path, sample_rate) {
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
                "none of the {} audio files could be loaded:\n  {}",
                skipped.len(),
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
    tokens: Vec<u8>,
    tbptt: usize,
    /// Per stream: the pieces `[start, end)` of files inside its span that hold at
    /// least one window, in order.
    segments: Vec<Vec<(usize, usize)>>,
    /// Per stream: (segment index, start of the next window).
    cursor: Vec<(usize, usize)>,
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
            let segs: Vec<(usize, usize)> = bounds
                .iter()
                .map(|&(s, e)| (s.max(lo), e.min(hi)))
                .filter(|&(s, e)| e >= s + window)
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
            segments,
            cursor,
        })
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
        for (segs, cur) in self.segments.iter().zip(self.cursor.iter_mut()) {
            let (si, pos) = *cur;
            // A window at the start of a piece follows a jump (or is the first one).
            reset.push(pos == segs[si].0);
            tokens.extend(self.tokens[pos..pos + window].iter().map(|&t| t as u32));
            let next = pos + self.tbptt;
            *cur = if next + window <= segs[si].1 {
                (si, next)
            } else {
                let si = (si + 1) % segs.len();
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
                    .position(|&(s, e)| p >= s && p < e && e - p > t && (p - s) % t == 0)
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

    /// Windows per stream for one pass over its span: the longest stream's count (a
    /// stream whose span holds fewer windows, because of file boundaries, wraps earlier).
    pub fn windows_per_epoch(&self) -> usize {
        self.segments
            .iter()
            .map(|segs| {
                segs.iter()
                    .map(|&(s, e)| (e - s - 1) / self.tbptt)
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(name: &str, len: usize, base: usize) -> Track {
        Track {
            name: name.to_string(),
            tokens: (0..len).map(|i| ((base + i) % 256) as u8).collect(),
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
