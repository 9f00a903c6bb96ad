//! A spectrogram of any audio as a PNG: time (s) across, frequency up (kHz, linear from 0
//! to Nyquist, or octaves with [`FreqScale::Log`]), and the level in dB relative to the
//! loudest cell in an inferno-like colour map.
//!
//! Analysis: a short-time FFT ([`realfft`]) with a Hann window. The frame is the power of
//! two nearest 64 ms (1024 samples at 16 kHz, 2048 at 44.1 kHz, 4096 at 48 kHz; 45 to 91
//! ms at any rate), hopped by a quarter frame, each frame centred on its time with zeros
//! beyond the ends. Levels are `10 log10` of power relative to the peak, floored at
//! [`FLOOR_DB`].
//!
//! Long files: the image has about 1100 columns, so neighbouring frames are averaged (in
//! power) into at most that many columns, and once a file needs more than
//! [`FRAMES_PER_COLUMN`] frames per column the hop grows instead, so the work is bounded
//! (about 9000 FFTs) however long the audio is; an hour of audio then skips between frames.
//!
//! Silence and empty input are not errors: they draw a blank (floor-coloured) plot whose
//! title says "(silent)" or "(no samples)", so a generated sample that collapsed to silence
//! still gets its picture.

use crate::plot::font;
use anyhow::{anyhow, ensure, Context, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use realfft::RealFftPlanner;
use std::path::Path;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 500;
/// Levels below the peak by more than this are drawn in the floor colour: 90 dB is about
/// the range of 16-bit audio, and quieter detail is noise in an 8-bit mu-law sample anyway.
pub const FLOOR_DB: f32 = -90.0;
/// Most frames averaged into one image column before the hop grows instead.
pub const FRAMES_PER_COLUMN: usize = 8;
/// Width of the colour bar's area at the right of the image.
const BAR_AREA: u32 = 110;

/// Frame length for `sample_rate`: the power of two nearest 64 ms.
pub fn frame_len(sample_rate: u32) -> usize {
    let exact = (f64::from(sample_rate) * 0.064).max(2.0);
    1usize << exact.log2().round() as u32
}

/// Power spectra (frames x bins, `frame_len/2 + 1` bins from 0 Hz to Nyquist) averaged
/// into at most `max_columns` columns.
struct Grid {
    power: Vec<Vec<f32>>,
    bin_hz: f64,
}

/// The short-time power spectra of `samples`, frames with hop `hop` averaged `per_column`
/// at a time (the last column may average fewer).
fn analyse(samples: &[f32], sample_rate: u32, hop: usize, per_column: usize) -> Grid {
    let n = frame_len(sample_rate);
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let window: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos())
        .collect();
    let (mut input, mut spectrum) = (fft.make_input_vec(), fft.make_output_vec());
    let mut scratch = fft.make_scratch_vec();
    let frames = samples.len().div_ceil(hop);
    let mut power = Vec::with_capacity(frames.div_ceil(per_column));
    for first in (0..frames).step_by(per_column) {
        let group = first..(first + per_column).min(frames);
        let mut sum = vec![0f32; n / 2 + 1];
        for f in group.clone() {
            // Frame f is centred on sample f * hop; outside the audio is zero.
            let start = (f * hop) as isize - (n / 2) as isize;
            for (i, x) in input.iter_mut().enumerate() {
                let j = start + i as isize;
                let s = usize::try_from(j).ok().and_then(|j| samples.get(j));
                *x = s.copied().unwrap_or(0.0) * window[i];
            }
            fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers come from the same plan");
            for (acc, c) in sum.iter_mut().zip(&spectrum) {
                *acc += c.norm_sqr();
            }
        }
        let k = group.len() as f32;
        power.push(sum.into_iter().map(|p| p / k).collect());
    }
    Grid {
        power,
        bin_hz: f64::from(sample_rate) / n as f64,
    }
}

/// The analysis behind the picture, at most `max_columns` columns.
fn grid(samples: &[f32], sample_rate: u32, max_columns: usize) -> Result<Grid> {
    ensure!(sample_rate > 0, "the sample rate is 0 Hz");
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        anyhow::bail!("sample {i} is {} (NaN or infinite)", samples[i]);
    }
    let max_columns = max_columns.max(1);
    let len = samples.len();
    // A quarter-frame hop, unless that needs too many frames: then as many frames as
    // the columns can average, spread over the whole file.
    let budget = max_columns.saturating_mul(FRAMES_PER_COLUMN);
    let hop = (frame_len(sample_rate) / 4)
        .max(len.div_ceil(budget))
        .max(1);
    let frames = len.div_ceil(hop);
    Ok(analyse(
        samples,
        sample_rate,
        hop,
        frames.div_ceil(max_columns).max(1),
    ))
}

/// Power to dB relative to `peak`, floored at [`FLOOR_DB`] (all floor when `peak` is 0).
fn to_db(power: Vec<Vec<f32>>, peak: f32) -> Vec<Vec<f32>> {
    let db = |p: f32| match peak > 0.0 {
        true => (10.0 * (p / peak).log10()).max(FLOOR_DB),
        false => FLOOR_DB,
    };
    power
        .into_iter()
        .map(|col| col.into_iter().map(db).collect())
        .collect()
}

fn peak(power: &[Vec<f32>]) -> f32 {
    power.iter().flatten().copied().fold(0.0, f32::max)
}

/// The short-time spectrum of `samples` in dB relative to its loudest cell (floored at
/// [`FLOOR_DB`]), one row per frame (hop = a quarter of [`frame_len`]) and one value per
/// bin from 0 Hz to Nyquist, and the bin width in Hz. Errors on a rate of 0 or a sample
/// that is NaN or infinite; empty input gives no frames.
pub fn stft_db(samples: &[f32], sample_rate: u32) -> Result<(Vec<Vec<f32>>, f64)> {
    let g = grid(samples, sample_rate, usize::MAX / FRAMES_PER_COLUMN)?;
    let p = peak(&g.power);
    Ok((to_db(g.power, p), g.bin_hz))
}

/// An inferno-like colour map, 0 = floor (near black) to 1 = peak (pale yellow): dark to
/// bright through purple, red and orange, so louder always reads brighter, in grey too.
/// Nine stops sampled from matplotlib's inferno, linearly interpolated.
pub fn colour(t: f32) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let lerp = |p: u8, q: u8| (f32::from(p) + (f32::from(q) - f32::from(p)) * f).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// How the frequency axis is spaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FreqScale {
    /// 0 Hz to Nyquist in kHz: noise and high partials get their true share of the picture.
    #[default]
    Linear,
    /// Octaves, from two bins (31 Hz at 16 kHz) to Nyquist: harmonics of low notes and the
    /// pitch of a melody are easier to read.
    Log,
}

/// Draws the spectrogram of `samples` (mono, at `sample_rate`) as a PNG of [`WIDTH`] x
/// [`HEIGHT`] at `path`, with a linear frequency axis; see [`spectrogram_png_with`].
pub fn spectrogram_png(samples: &[f32], sample_rate: u32, title: &str, path: &Path) -> Result<()> {
    spectrogram_png_with(samples, sample_rate, title, path, FreqScale::Linear)
}

/// [`spectrogram_png`] with a choice of frequency axis. The PNG is written under a
/// temporary name and renamed into place, so a failed run leaves nothing behind. Empty or
/// silent input draws a blank plot (see the module doc).
pub fn spectrogram_png_with(
    samples: &[f32],
    sample_rate: u32,
    title: &str,
    path: &Path,
    scale: FreqScale,
) -> Result<()> {
    let p = path.display();
    let g = grid(samples, sample_rate, (WIDTH - BAR_AREA) as usize)
        .with_context(|| format!("{p}: cannot draw the spectrogram"))?;
    let pk = peak(&g.power);
    let note = match (samples.is_empty(), pk > 0.0) {
        (true, _) => " (no samples)",
        (false, false) => " (silent)",
        _ => "",
    };
    let cells = Cells {
        db: to_db(g.power, pk),
        bin_hz: g.bin_hz,
        seconds: samples.len() as f64 / f64::from(sample_rate),
        axis: Axis::new(scale, g.bin_hz, f64::from(sample_rate) / 2.0),
    };
    let tmp = tmp_name(path)?;
    draw(&cells, &format!("{title}{note}"), &tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(Into::into))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("{p}: cannot write the spectrogram"))
}

/// A hidden sibling of `path` ending in .png (plotters picks the encoder by extension).
fn tmp_name(path: &Path) -> Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?
        .to_string_lossy();
    Ok(path.with_file_name(format!(".{name}.{}.tmp.png", std::process::id())))
}

/// What the picture shows: dB columns and the axes' extents.
struct Cells {
    db: Vec<Vec<f32>>,
    bin_hz: f64,
    seconds: f64,
    axis: Axis,
}

/// The frequency axis: plotted values `lo..hi` (kHz, or log2 Hz) and how they map to Hz.
struct Axis {
    scale: FreqScale,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn new(scale: FreqScale, bin_hz: f64, nyquist: f64) -> Axis {
        match scale {
            FreqScale::Linear => Axis {
                scale,
                lo: 0.0,
                hi: nyquist / 1000.0,
            },
            // At least an octave, for rates so low that two bins reach Nyquist.
            FreqScale::Log => Axis {
                scale,
                lo: (2.0 * bin_hz).log2().min(nyquist.log2() - 1.0),
                hi: nyquist.log2(),
            },
        }
    }

    fn hz(&self, v: f64) -> f64 {
        match self.scale {
            FreqScale::Linear => v * 1000.0,
            FreqScale::Log => v.exp2(),
        }
    }

    /// Where the labels go: a round step in kHz, or round frequencies an octave or so apart
    /// (plotters would put log2 ticks at 1024, 2048, ... Hz).
    fn ticks(&self) -> Vec<f64> {
        match self.scale {
            FreqScale::Linear => {
                let step = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
                    .into_iter()
                    .find(|s| self.hi / s <= 10.0)
                    .unwrap_or(100.0);
                (0..)
                    .map(|i| f64::from(i) * step)
                    .take_while(|&v| v <= self.hi)
                    .collect()
            }
            FreqScale::Log => [
                20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4,
            ]
            .into_iter()
            .map(f64::log2)
            .filter(|v| (self.lo..=self.hi).contains(v))
            .collect(),
        }
    }

    fn label(&self, v: f64) -> String {
        match self.scale {
            FreqScale::Linear => tick(v, self.hi - self.lo),
            FreqScale::Log => match v.exp2().round() {
                hz if hz >= 1000.0 => format!("{}k", tick(hz / 1000.0, 1.0)),
                hz => format!("{hz:.0}"),
            },
        }
    }

    fn desc(&self) -> &'static str {
        match self.scale {
            FreqScale::Linear => "frequency (kHz)",
            FreqScale::Log => "frequency (Hz, octaves)",
        }
    }
}

fn draw(cells: &Cells, title: &str, path: &Path) -> Result<()> {
    let font = font()?;
    let err = |e: &dyn std::fmt::Display| anyhow!("{e}");
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, (font, 22)).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(WIDTH - BAR_AREA);
    // A 1-sample file still gets an axis that plotters can divide into ticks.
    let seconds = cells.seconds.max(1e-3);
    let mut chart = ChartBuilder::on(&left)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0.0..seconds,
            FreqRange {
                lo: cells.axis.lo,
                hi: cells.axis.hi,
                ticks: cells.axis.ticks(),
            },
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .y_desc(cells.axis.desc())
        .label_style((font, 14))
        .axis_desc_style((font, 15))
        .x_label_formatter(&|x| tick(*x, seconds))
        .y_label_formatter(&|y| cells.axis.label(*y))
        .draw()
        .map_err(|e| err(&e))?;
    paint(chart.plotting_area(), cells)?;
    colour_bar(&right, font)?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The frequency axis for plotters: linear in its values (kHz or log2 Hz), ticks at
/// [`Axis::ticks`]. plotters' own key-point wrapper loses the f64 label formatter.
struct FreqRange {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for FreqRange {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (f64::from(limit.1 - limit.0) * t + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// A tick label without trailing zeros ("0.5", "1", "0.25"), to the precision an axis
/// spanning `span` needs.
fn tick(v: f64, span: f64) -> String {
    let decimals = (3.0 - span.log10().floor()).clamp(0.0, 6.0) as usize;
    let s = format!("{v:.decimals$}");
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    }
}

type PlotArea<'a> = DrawingArea<BitMapBackend<'a>, Cartesian2d<RangedCoordf64, FreqRange>>;

/// Fills the plot area pixel by pixel: each pixel row shows the loudest bin it covers, so a
/// pure tone stays visible however many bins share a row, and time is interpolated linearly
/// between column centres, so a short file is not drawn as wide blocks.
fn paint(area: &PlotArea, cells: &Cells) -> Result<()> {
    let (xs, ys) = area.get_pixel_range();
    let (w, h) = ((xs.end - xs.start) as usize, (ys.end - ys.start) as usize);
    let levels = row_levels(cells, h);
    let area = area.strip_coord_spec();
    let cols = levels.len();
    for x in 0..w {
        let at = ((x as f64 + 0.5) / w as f64 * cols as f64 - 0.5).clamp(0.0, cols as f64 - 1.0);
        let (c0, f) = (at.floor() as usize, (at - at.floor()) as f32);
        let (a, b) = (&levels[c0], &levels[(c0 + 1).min(cols - 1)]);
        for y in 0..h {
            let db = a[y] * (1.0 - f) + b[y] * f;
            area.draw_pixel((x as i32, y as i32), &colour(1.0 - db / FLOOR_DB))
                .map_err(|e| anyhow!("{e}"))?;
        }
    }
    Ok(())
}

/// Per column, the level of each of `h` pixel rows (top first): the loudest bin between
/// the row's lower and upper edge. No columns (empty input) gives one floor column.
fn row_levels(cells: &Cells, h: usize) -> Vec<Vec<f32>> {
    let bins = cells.db.first().map_or(1, Vec::len);
    let a = &cells.axis;
    let per_row = (a.hi - a.lo) / h as f64;
    let bin = |v: f64| ((a.hz(v) / cells.bin_hz).round().max(0.0) as usize).min(bins - 1);
    let rows: Vec<(usize, usize)> = (0..h)
        .map(|r| {
            let top = a.hi - r as f64 * per_row;
            (bin(top - per_row), bin(top))
        })
        .collect();
    if cells.db.is_empty() {
        return vec![vec![FLOOR_DB; h]];
    }
    cells
        .db
        .iter()
        .map(|col| {
            rows.iter()
                .map(|&(lo, hi)| col[lo..=hi].iter().copied().fold(FLOOR_DB, f32::max))
                .collect()
        })
        .collect()
}

/// The dB scale beside the plot: the colour map from the floor to 0 dB.
fn colour_bar(area: &DrawingArea<BitMapBackend, Shift>, font: &str) -> Result<()> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(12)
        .margin_bottom(52)
        .margin_right(50)
        .y_label_area_size(0)
        .right_y_label_area_size(40)
        .build_cartesian_2d(0.0..1.0, f64::from(FLOOR_DB)..0.0)
        .map_err(|e| anyhow!("{e}"))?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("dB")
        .y_labels(7)
        .label_style((font, 14))
        .axis_desc_style((font, 15))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let steps = 180;
    let step = f64::from(-FLOOR_DB) / f64::from(steps);
    bar.draw_series((0..steps).map(|i| {
        let lo = f64::from(FLOOR_DB) + f64::from(i) * step;
        let c = colour(i as f32 / (steps - 1) as f32);
        Rectangle::new([(0.0, lo), (1.0, lo + step)], c.filled())
    }))
    .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
