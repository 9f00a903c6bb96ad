//! Music statistics after Yang & Lerch 2018, "On the evaluation of generative models in
//! music": features of a set of generated pieces set against those of a reference set.
//!
//! Definitions (a piece is a `Vec<Note>`, times in 10 ms steps; notes with `end <= start`
//! count for pitch statistics but add no sounding time):
//! - **pitch-class histogram**: 12 bins (C..B), one count per note, pooled over the set.
//! - **note-length histogram**: `end - start` in seconds, in octave-wide bins
//!   ([`TIME_BIN_LABELS`]: `<0.05`, `0.05-0.1`, ..., `1.6-3.2`, `3.2+`; lower edge inclusive),
//!   pooled over the set.
//! - **inter-onset-interval histogram**: the gaps between successive *distinct* onset times
//!   of a piece (a chord is one onset), in the same bins, pooled over the set. The `<0.05`
//!   bin collects the small spreads of performed chords.
//! - **pitch range**: max - min pitch of a piece, in semitones; set value: mean over pieces.
//! - **notes per second**: notes / (last note end - first onset); set value: mean over pieces.
//! - **mean polyphony**: the time-average number of sounding notes, averaged only over the
//!   time at which at least one note sounds (rests do not pull it towards zero); a 3-note
//!   chord held alone gives 3. Set value: mean over pieces.
//! - **in-scale fraction**: per piece, the largest fraction of notes whose pitch class lies in
//!   one of 24 scales (12 tonics x major / natural minor); set value: note-weighted mean,
//!   i.e. in-scale notes over all notes of the set.
//! - **long-note fraction**: per piece, the fraction of notes lasting 3.2 s or longer; set
//!   value: note-weighted, as above.
//!
//! Distances, all `1 - overlap`, so 0 means identical and 1 disjoint:
//! - histograms: total variation distance `1/2 sum |p - q|` (equal to `1 - sum min(p, q)`) of
//!   the two pooled, normalised histograms.
//! - per-piece scalars: `1 - OVL`, where OVL is the overlapping coefficient (area under the
//!   pointwise minimum) of the two sets' Gaussian kernel density estimates of the per-piece
//!   values. Yang & Lerch estimate densities of intra/inter-set *distances*; the direct
//!   density of the feature is simpler and answers the same question: does the generated
//!   set's spread of this feature look like the reference's? Bandwidth: Silverman's rule per
//!   set; see [`kde_overlap`] for the degenerate cases.
//!
//! Anything undefined (no notes, no pieces, a one-onset piece's IOIs) is `None`, shown as
//! "n/a" and written as JSON `null`, never NaN.

use crate::midi::Note;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Seconds per time step of [`Note`].
const STEP_SECONDS: f64 = 0.01;
/// Lower edges (s) of the duration bins; the last bin is open above.
const TIME_BIN_EDGES: [f64; 8] = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];
pub const TIME_BINS: usize = TIME_BIN_EDGES.len();
pub const TIME_BIN_LABELS: [&str; TIME_BINS] = [
    "<0.05", "0.05-0.1", "0.1-0.2", "0.2-0.4", "0.4-0.8", "0.8-1.6", "1.6-3.2", "3.2+",
];
pub const PITCH_CLASS_LABELS: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];
/// Notes this long or longer (s) count as long notes.
pub const LONG_NOTE_SECONDS: f64 = 3.2;
const MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
const NATURAL_MINOR: [u8; 7] = [0, 2, 3, 5, 7, 8, 10];

/// The features of one piece.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PieceStats {
    pub notes: usize,
    pub pitch_class_counts: [u64; 12],
    pub length_counts: [u64; TIME_BINS],
    pub ioi_counts: [u64; TIME_BINS],
    /// Semitones; `None` without notes.
    pub pitch_range: Option<f64>,
    /// `None` without notes or when all notes start and end at one instant.
    pub notes_per_second: Option<f64>,
    /// `None` when no note has positive length.
    pub polyphony: Option<f64>,
    /// Notes in the piece's best-fitting key.
    pub in_scale_notes: usize,
    pub long_notes: usize,
}

/// The features of a set of pieces: pooled counts and per-piece values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub pieces: usize,
    pub notes: usize,
    pub pitch_class_counts: [u64; 12],
    pub length_counts: [u64; TIME_BINS],
    pub ioi_counts: [u64; TIME_BINS],
    pub in_scale_notes: usize,
    pub long_notes: usize,
    /// Per-piece values, only of pieces where the value is defined.
    pub pitch_range: Vec<f64>,
    pub notes_per_second: Vec<f64>,
    pub polyphony: Vec<f64>,
    pub in_scale_fraction: Vec<f64>,
    pub long_note_fraction: Vec<f64>,
}

fn seconds(steps: u32) -> f64 {
    steps as f64 * STEP_SECONDS
}

fn time_bin(seconds: f64) -> usize {
    TIME_BIN_EDGES
        .iter()
        .rposition(|&e| seconds >= e)
        .unwrap_or(0)
}

fn duration(n: &Note) -> u32 {
    n.end.saturating_sub(n.start)
}

/// The features of one piece; see the module docs for the definitions.
pub fn piece_stats(notes: &[Note]) -> PieceStats {
    let mut s = PieceStats {
        notes: notes.len(),
        ..PieceStats::default()
    };
    for n in notes {
        s.pitch_class_counts[usize::from(n.pitch % 12)] += 1;
        s.length_counts[time_bin(seconds(duration(n)))] += 1;
    }
    let mut onsets: Vec<u32> = notes.iter().map(|n| n.start).collect();
    onsets.sort_unstable();
    onsets.dedup();
    for w in onsets.windows(2) {
        s.ioi_counts[time_bin(seconds(w[1] - w[0]))] += 1;
    }
    let lo = notes.iter().map(|n| n.pitch).min();
    let hi = notes.iter().map(|n| n.pitch).max();
    s.pitch_range = lo.zip(hi).map(|(lo, hi)| f64::from(hi - lo));
    let first = notes.iter().map(|n| n.start).min();
    let last = notes.iter().map(|n| n.end.max(n.start)).max();
    s.notes_per_second = first
        .zip(last)
        .filter(|(a, b)| b > a)
        .map(|(a, b)| notes.len() as f64 / seconds(b - a));
    s.polyphony = polyphony(notes);
    s.in_scale_notes = best_key_notes(&s.pitch_class_counts) as usize;
    s.long_notes = notes
        .iter()
        .filter(|n| seconds(duration(n)) >= LONG_NOTE_SECONDS - 1e-9)
        .count();
    s
}

/// Time-average number of sounding notes over the time at least one sounds.
fn polyphony(notes: &[Note]) -> Option<f64> {
    // +1 at each onset, -1 at each end; ends sort before onsets at the same instant so that
    // back-to-back notes do not count as overlapping.
    let mut events: Vec<(u32, i32)> = notes
        .iter()
        .filter(|n| n.end > n.start)
        .flat_map(|n| [(n.start, 1), (n.end, -1)])
        .collect();
    events.sort_unstable();
    let (mut sounding, mut busy, mut area) = (0i64, 0u64, 0u64);
    let mut prev = events.first()?.0;
    for (t, d) in events {
        let dt = u64::from(t - prev);
        if sounding > 0 {
            busy += dt;
            area += dt * sounding as u64;
        }
        sounding += i64::from(d);
        prev = t;
    }
    (busy > 0).then(|| area as f64 / busy as f64)
}

/// The number of notes in the best of the 24 major / natural-minor keys.
fn best_key_notes(pc: &[u64; 12]) -> u64 {
    (0..12)
        .flat_map(|tonic| {
            [MAJOR, NATURAL_MINOR]
                .map(|scale| scale.iter().map(|&d| pc[(tonic + d as usize) % 12]).sum())
        })
        .max()
        .unwrap_or(0)
}

/// A quick look at one sampled piece: (in-scale fraction, notes per second); both 0 for a
/// piece without notes (or without duration, for the rate), so the result is never NaN.
pub fn summary(notes: &[Note]) -> (f64, f64) {
    let s = piece_stats(notes);
    let in_scale = if s.notes == 0 {
        0.0
    } else {
        s.in_scale_notes as f64 / s.notes as f64
    };
    (in_scale, s.notes_per_second.unwrap_or(0.0))
}

fn add<const N: usize>(acc: &mut [u64; N], x: &[u64; N]) {
    acc.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

impl Stats {
    /// Pools the features of every piece of a set.
    pub fn new(pieces: &[Vec<Note>]) -> Stats {
        let mut s = Stats {
            pieces: pieces.len(),
            ..Stats::default()
        };
        for piece in pieces {
            let p = piece_stats(piece);
            s.notes += p.notes;
            add(&mut s.pitch_class_counts, &p.pitch_class_counts);
            add(&mut s.length_counts, &p.length_counts);
            add(&mut s.ioi_counts, &p.ioi_counts);
            s.in_scale_notes += p.in_scale_notes;
            s.long_notes += p.long_notes;
            s.pitch_range.extend(p.pitch_range);
            s.notes_per_second.extend(p.notes_per_second);
            s.polyphony.extend(p.polyphony);
            if p.notes > 0 {
                let n = p.notes as f64;
                s.in_scale_fraction.push(p.in_scale_notes as f64 / n);
                s.long_note_fraction.push(p.long_notes as f64 / n);
            }
        }
        s
    }

    /// In-scale notes over all notes of the set.
    pub fn in_scale(&self) -> Option<f64> {
        (self.notes > 0).then(|| self.in_scale_notes as f64 / self.notes as f64)
    }

    /// Long notes over all notes of the set.
    pub fn long_notes_fraction(&self) -> Option<f64> {
        (self.notes > 0).then(|| self.long_notes as f64 / self.notes as f64)
    }
}

/// Counts scaled to sum to 1; `None` when empty.
pub fn normalise(counts: &[u64]) -> Option<Vec<f64>> {
    let total: u64 = counts.iter().sum();
    (total > 0).then(|| counts.iter().map(|&c| c as f64 / total as f64).collect())
}

/// Total variation distance `1/2 sum |p - q|` of two distributions over the same bins.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Silverman's rule of thumb, `0.9 min(sd, IQR / 1.34) n^(-1/5)`; 0 when the values have no
/// spread (then the robust term falls back to the standard deviation).
fn silverman(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return 0.0;
    }
    let m = xs.iter().sum::<f64>() / n as f64;
    let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = p * (n - 1) as f64;
        let (lo, hi) = (i.floor() as usize, i.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo as f64)
    };
    let iqr = (q(0.75) - q(0.25)) / 1.34;
    let spread = if iqr > 0.0 { sd.min(iqr) } else { sd };
    0.9 * spread * (n as f64).powf(-0.2)
}

/// Overlapping coefficient (area under the pointwise minimum, in `[0, 1]`) of the Gaussian
/// KDEs of two samples; `None` if either is empty.
///
/// Each set gets its own Silverman bandwidth. A set without spread (one piece, or all values
/// equal) borrows the other set's (not the pooled one, which the gap between the sets
/// would inflate); if neither has spread, a floor of 1e-3 of the values' scale applies, so
/// equal values overlap fully and different ones hardly at all: one value per set carries
/// no information about its spread. The densities are evaluated on a grid spanning every
/// value +-5 bandwidths, each normalised to sum 1 there, so identical samples give exactly 1.
pub fn kde_overlap(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let all: Vec<f64> = a.iter().chain(b).copied().collect();
    let scale = all.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    let floor = 1e-3 * scale;
    let (sa, sb) = (silverman(a), silverman(b));
    let pick = |own: f64, other: f64| [own, other, floor].into_iter().find(|&h| h > 0.0);
    let (ha, hb) = (pick(sa, sb)?, pick(sb, sa)?);
    let (lo, hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    let h_max = ha.max(hb);
    let (lo, hi) = (lo - 5.0 * h_max, hi + 5.0 * h_max);
    // At least 8 grid points per smaller bandwidth resolve the narrowest kernel.
    let points = (((hi - lo) / ha.min(hb) * 8.0).ceil() as usize).clamp(512, 200_000);
    let dx = (hi - lo) / (points - 1) as f64;
    let grid: Vec<f64> = (0..points).map(|i| lo + i as f64 * dx).collect();
    let fa = kde(a, ha, &grid);
    let fb = kde(b, hb, &grid);
    let overlap: f64 = fa.iter().zip(&fb).map(|(x, y)| x.min(*y)).sum();
    Some(overlap.clamp(0.0, 1.0))
}

/// A Gaussian KDE on `grid`, normalised to sum 1 (the constant factors cancel).
fn kde(xs: &[f64], h: f64, grid: &[f64]) -> Vec<f64> {
    let mut f: Vec<f64> = grid
        .iter()
        .map(|&g| {
            xs.iter()
                .map(|&x| (-0.5 * ((g - x) / h).powi(2)).exp())
                .sum()
        })
        .collect();
    let total: f64 = f.iter().sum();
    if total > 0.0 {
        f.iter_mut().for_each(|v| *v /= total);
    }
    f
}

/// One statistic's values for both sets.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Normalised histograms over the labelled bins.
    Histogram {
        bins: Vec<String>,
        generated: Option<Vec<f64>>,
        reference: Option<Vec<f64>>,
    },
    Scalar {
        generated: Option<f64>,
        reference: Option<f64>,
    },
}

/// One row of a [`Comparison`].
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: &'static str,
    pub values: Values,
    /// `1 - overlap` in `[0, 1]`: total variation for histograms, `1 - OVL` of the KDEs for
    /// scalars; `None` when either side is undefined.
    pub distance: Option<f64>,
}

/// Generated set against reference set, statistic by statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub generated: Stats,
    pub reference: Stats,
    pub rows: Vec<Row>,
}

fn histogram_row(name: &'static str, labels: &[&str], g: &[u64], r: &[u64]) -> Row {
    let (generated, reference) = (normalise(g), normalise(r));
    let distance = generated
        .as_ref()
        .zip(reference.as_ref())
        .map(|(p, q)| total_variation(p, q));
    Row {
        name,
        values: Values::Histogram {
            bins: labels.iter().map(|s| s.to_string()).collect(),
            generated,
            reference,
        },
        distance,
    }
}

/// A scalar row: set values `g`, `r`, distance from the per-piece samples.
fn scalar_row(name: &'static str, g: Option<f64>, r: Option<f64>, pg: &[f64], pr: &[f64]) -> Row {
    Row {
        name,
        values: Values::Scalar {
            generated: g,
            reference: r,
        },
        distance: kde_overlap(pg, pr).map(|o| 1.0 - o),
    }
}

/// Compares a generated set of pieces with a reference set; see the module docs.
pub fn compare(generated: &[Vec<Note>], reference: &[Vec<Note>]) -> Comparison {
    let (g, r) = (Stats::new(generated), Stats::new(reference));
    let rows = vec![
        histogram_row(
            "pitch-class histogram",
            &PITCH_CLASS_LABELS,
            &g.pitch_class_counts,
            &r.pitch_class_counts,
        ),
        histogram_row(
            "note-length histogram (s)",
            &TIME_BIN_LABELS,
            &g.length_counts,
            &r.length_counts,
        ),
        histogram_row(
            "inter-onset-interval histogram (s)",
            &TIME_BIN_LABELS,
            &g.ioi_counts,
            &r.ioi_counts,
        ),
        scalar_row(
            "pitch range (semitones)",
            mean(&g.pitch_range),
            mean(&r.pitch_range),
            &g.pitch_range,
            &r.pitch_range,
        ),
        scalar_row(
            "notes per second",
            mean(&g.notes_per_second),
            mean(&r.notes_per_second),
            &g.notes_per_second,
            &r.notes_per_second,
        ),
        scalar_row(
            "mean polyphony",
            mean(&g.polyphony),
            mean(&r.polyphony),
            &g.polyphony,
            &r.polyphony,
        ),
        scalar_row(
            "in-scale fraction",
            g.in_scale(),
            r.in_scale(),
            &g.in_scale_fraction,
            &r.in_scale_fraction,
        ),
        scalar_row(
            "long-note fraction (>= 3.2 s)",
            g.long_notes_fraction(),
            r.long_notes_fraction(),
            &g.long_note_fraction,
            &r.long_note_fraction,
        ),
    ];
    Comparison {
        generated: g,
        reference: r,
        rows,
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

fn json_opt(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite()).map_or(Value::Null, Value::from)
}

impl Comparison {
    /// An aligned text table: statistic | generated | reference | distance. Histograms get
    /// one indented line per bin under a header line that carries the distance.
    pub fn table(&self) -> String {
        let mut lines: Vec<[String; 4]> = vec![[
            "statistic".into(),
            "generated".into(),
            "reference".into(),
            "distance".into(),
        ]];
        lines.push([
            "pieces / notes".into(),
            format!("{} / {}", self.generated.pieces, self.generated.notes),
            format!("{} / {}", self.reference.pieces, self.reference.notes),
            String::new(),
        ]);
        for row in &self.rows {
            let dist = fmt_opt(row.distance);
            match &row.values {
                Values::Scalar {
                    generated,
                    reference,
                } => lines.push([
                    row.name.into(),
                    fmt_opt(*generated),
                    fmt_opt(*reference),
                    dist,
                ]),
                Values::Histogram {
                    bins,
                    generated,
                    reference,
                } => {
                    lines.push([row.name.into(), String::new(), String::new(), dist]);
                    let bin = |h: &Option<Vec<f64>>, i: usize| fmt_opt(h.as_ref().map(|h| h[i]));
                    for (i, label) in bins.iter().enumerate() {
                        lines.push([
                            format!("  {label}"),
                            bin(generated, i),
                            bin(reference, i),
                            String::new(),
                        ]);
                    }
                }
            }
        }
        render_table(&lines)
    }

    /// The comparison as JSON: set sizes and one object per statistic; `null` for n/a.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut v = match &row.values {
                    Values::Scalar {
                        generated,
                        reference,
                    } => json!({
                        "kind": "scalar",
                        "generated": json_opt(*generated),
                        "reference": json_opt(*reference),
                        "distance_kind": "1 - overlap of Gaussian KDEs of per-piece values",
                    }),
                    Values::Histogram {
                        bins,
                        generated,
                        reference,
                    } => json!({
                        "kind": "histogram",
                        "bins": bins,
                        "generated": generated,
                        "reference": reference,
                        "distance_kind": "total variation",
                    }),
                };
                v["name"] = json!(row.name);
                v["distance"] = json_opt(row.distance);
                v
            })
            .collect();
        let set = |s: &Stats| json!({ "pieces": s.pieces, "notes": s.notes });
        json!({
            "generated": set(&self.generated),
            "reference": set(&self.reference),
            "statistics": rows,
        })
    }
}

/// Left-aligns the first column, right-aligns the numbers, rules off the header.
fn render_table(lines: &[[String; 4]]) -> String {
    let mut width = [0usize; 4];
    for line in lines {
        for (w, cell) in width.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let row = format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$}",
            l[0],
            l[1],
            l[2],
            l[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3]
        );
        let _ = writeln!(out, "{}", row.trim_end());
        if i == 0 {
            let _ = writeln!(out, "{}", "-".repeat(width.iter().sum::<usize>() + 9));
        }
    }
    out
}
