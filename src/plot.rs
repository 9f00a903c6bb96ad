//! The training curve as a PNG: train and validation bits per sample against step.

use crate::train::metrics::MetricsRow;
use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

pub const PLOT_FILE: &str = "training.png";

/// plotters' ab_glyph backend has no system fonts; it needs one registered from bytes.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FONT_NAME: &str = "gruwave-sans";

/// Registers the bundled font once; its name for plotters' text styles.
pub(crate) fn font() -> Result<&'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT_NAME, FontStyle::Normal, FONT).is_ok());
    if !ok {
        bail!("the bundled font cannot be loaded");
    }
    Ok(FONT_NAME)
}

/// Trailing mean over `window` values: a readable trend through noisy per-step losses.
fn moving_average(ys: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(ys.len());
    let mut sum = 0.0;
    for (i, &y) in ys.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= ys[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

/// The pieces of a polyline inside the band `y0..=y1`, cut where it crosses an edge, so
/// a curve that starts above the band enters it at the edge (instead of running flat
/// along it, as clamping would draw).
fn clip(points: &[(f64, f64)], y0: f64, y1: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (y0..=y1).contains(&y);
    let mut pieces = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        if let Some(&q) = i.checked_sub(1).map(|j| &points[j]) {
            let mut cuts: Vec<(f64, (f64, f64))> = [y0, y1]
                .into_iter()
                .filter(|&b| (q.1 - b) * (p.1 - b) < 0.0)
                .map(|b| {
                    let t = (b - q.1) / (p.1 - q.1);
                    (t, (q.0 + t * (p.0 - q.0), b))
                })
                .collect();
            cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, c) in cuts {
                // Entering the band starts a piece; leaving it ends one.
                cur.push(c);
                if cur.len() > 1 {
                    pieces.push(std::mem::take(&mut cur));
                }
            }
        }
        if inside(p.1) {
            cur.push(p);
        } else if !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// Draws `rows` to `path` (written under a temporary name, then renamed into place).
pub fn plot_metrics(path: &Path, rows: &[MetricsRow], title: &str, unit: &str) -> Result<()> {
    if rows.is_empty() {
        bail!("{}: nothing to plot yet", path.display());
    }
    save_png(path, |tmp| draw(tmp, rows, title, unit))
}

/// Runs `draw` on a temporary name beside `path`, then renames it into place.
fn save_png(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("tmp.png");
    draw(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(Into::into))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("{}: cannot write the plot", path.display()))
}

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The axes of a plot on `root`: `x` across (labels with `x_decimals`), `y` up.
fn axes<'a>(
    root: &DrawingArea<BitMapBackend<'a>, Shift>,
    title: &str,
    (x, x_desc, x_decimals): (std::ops::Range<f64>, &str, usize),
    (y, y_desc): (std::ops::Range<f64>, &str),
) -> Result<Chart<'a>> {
    let font = font()?;
    let err = |e: &dyn std::fmt::Display| anyhow!("{e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (font, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((font, 16))
        .axis_desc_style((font, 18))
        .max_light_lines(2)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_label_formatter(&|x| format!("{x:.x_decimals$}"))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(chart)
}

/// The legend, top right, and the finished picture.
fn finish(chart: &mut Chart, root: &DrawingArea<BitMapBackend, Shift>) -> Result<()> {
    let font = font()?;
    let err = |e: &dyn std::fmt::Display| anyhow!("{e}");
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((font, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn draw(path: &Path, rows: &[MetricsRow], title: &str, unit: &str) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("{e}");
    let steps: Vec<f64> = rows.iter().map(|r| r.step as f64).collect();
    let train: Vec<f64> = rows.iter().map(|r| r.train_bits).collect();
    let smooth = moving_average(&train, (rows.len() / 25).max(1));
    let valid: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.valid_bits.map(|v| (r.step as f64, v)))
        .collect();

    // The y range follows the trend and validation, so the first few steps (near
    // 8 bits, an untrained model) do not squash the part of the curve that matters.
    let shown = || smooth.iter().copied().chain(valid.iter().map(|v| v.1));
    let lo = shown().fold(f64::INFINITY, f64::min);
    let hi = shown()
        .skip(smooth.len().min(rows.len() / 20))
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo + 0.1);
    // Headroom above the curves for the legend, which must not hide the last points.
    let span = hi - lo;
    let (y0, y1) = ((lo - 0.08 * span).max(0.0), hi + 0.35 * span);
    // A little room on the right, so the last validation point is drawn whole.
    let x1 = steps.last().copied().unwrap_or(1.0).max(1.0) * 1.02;

    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    let y_desc = format!("bits per {unit}");
    let mut chart = axes(
        &root,
        title,
        (0.0..x1, "optimiser step", 0),
        (y0..y1, &y_desc),
    )?;

    let raw_color = RGBColor(170, 200, 235);
    let train_color = RGBColor(31, 100, 180);
    let valid_color = RGBColor(214, 60, 40);
    let curve = |ys: &[f64], style: ShapeStyle| {
        let points: Vec<(f64, f64)> = steps.iter().copied().zip(ys.iter().copied()).collect();
        clip(&points, y0, y1)
            .into_iter()
            .map(move |piece| PathElement::new(piece, style))
    };
    chart
        .draw_series(curve(&train, raw_color.stroke_width(1)))
        .map_err(|e| err(&e))?
        .label("train, per step")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], raw_color.stroke_width(2)));
    chart
        .draw_series(curve(&smooth, train_color.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("train, moving average")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], train_color.stroke_width(2)));
    if !valid.is_empty() {
        chart
            .draw_series(LineSeries::new(
                valid.iter().copied(),
                valid_color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label("validation")
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 24, y)], valid_color.stroke_width(2))
            });
        chart
            .draw_series(
                valid
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, valid_color.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root)
}

/// One run's validation curve: its label and (training seconds, bits per sample) points.
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Validation bits per `unit` of several runs against training time (minutes) in one PNG,
/// written atomically as `plot_metrics` writes.
pub fn plot_compare(path: &Path, curves: &[Curve], title: &str, unit: &str) -> Result<()> {
    if curves.iter().all(|c| c.points.is_empty()) {
        bail!("{}: no validation points to plot", path.display());
    }
    save_png(path, |tmp| draw_compare(tmp, curves, title, unit))
}

/// Line colours of the compared runs, in turn.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 100, 180),
    RGBColor(214, 60, 40),
    RGBColor(40, 150, 70),
    RGBColor(150, 80, 170),
    RGBColor(230, 140, 20),
    RGBColor(90, 90, 90),
];

fn draw_compare(path: &Path, curves: &[Curve], title: &str, unit: &str) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("{e}");
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let x1 = all().map(|p| p.0 / 60.0).fold(0.0, f64::max).max(1e-3) * 1.03;
    let lo = all().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = all()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo + 0.1);
    let span = hi - lo;
    let (y0, y1) = ((lo - 0.08 * span).max(0.0), hi + 0.3 * span);
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    let y_desc = format!("validation bits per {unit}");
    let mut chart = axes(
        &root,
        title,
        (0.0..x1, "training time (minutes)", 1),
        (y0..y1, &y_desc),
    )?;
    for (c, color) in curves.iter().zip(PALETTE.iter().cycle()) {
        let color = *color;
        let pts: Vec<(f64, f64)> = c.points.iter().map(|&(t, b)| (t / 60.0, b)).collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(c.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_cuts_lines_at_the_band_edges() {
        // Starts above the band, dips through it, leaves below, comes back.
        let pts = [(0.0, 4.0), (1.0, 2.0), (2.0, -2.0), (3.0, 0.0), (4.0, 1.0)];
        assert_eq!(
            clip(&pts, -1.0, 3.0),
            vec![
                vec![(0.5, 3.0), (1.0, 2.0), (1.75, -1.0)],
                vec![(2.5, -1.0), (3.0, 0.0), (4.0, 1.0)],
            ]
        );
        // A point on the edge belongs to the band; one jump across it gives two cuts.
        assert_eq!(
            clip(&[(0.0, 3.0), (1.0, 5.0)], 0.0, 3.0),
            vec![vec![(0.0, 3.0)]]
        );
        assert_eq!(
            clip(&[(0.0, 5.0), (4.0, -3.0)], 0.0, 4.0),
            vec![vec![(0.5, 4.0), (2.5, 0.0)]]
        );
    }

    #[test]
    fn moving_average_is_trailing() {
        assert_eq!(
            moving_average(&[1.0, 3.0, 5.0, 7.0], 2),
            vec![1.0, 2.0, 4.0, 6.0]
        );
    }
}
