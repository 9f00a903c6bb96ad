//! A piano roll as a PNG: time (s) across, pitch up, one bar per note shaded by velocity.

use crate::midi::Note;
use crate::plot::font;
use anyhow::{anyhow, Context, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 500;
const NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];
/// Semitones of empty rows kept below the lowest and above the highest note.
const MARGIN: i32 = 2;
/// Ranges up to this many semitones label every row; wider ones label only the Cs.
const LABEL_ALL_ROWS: i32 = 24;

/// Scientific pitch name, MIDI 60 = C4.
pub fn note_name(pitch: i32) -> String {
    format!(
        "{}{}",
        NAMES[pitch.rem_euclid(12) as usize],
        pitch.div_euclid(12) - 1
    )
}

fn is_black_key(pitch: i32) -> bool {
    matches!(pitch.rem_euclid(12), 1 | 3 | 6 | 8 | 10)
}

/// Light blue (quiet) to dark blue (loud), so louder notes stand out.
fn velocity_colour(velocity: u8) -> RGBColor {
    let t = f64::from(velocity.min(127)) / 127.0;
    let lerp = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(lerp(189, 8), lerp(215, 48), lerp(238, 107))
}

/// The pitch rows shown (`lo..hi`, each row `p..p+1`) and the seconds shown.
fn extent(notes: &[Note]) -> (i32, i32, f64) {
    let lo = notes.iter().map(|n| i32::from(n.pitch)).min();
    let hi = notes.iter().map(|n| i32::from(n.pitch)).max();
    let (lo, hi) = match lo.zip(hi) {
        Some((lo, hi)) => (lo - MARGIN, hi + 1 + MARGIN),
        None => (60 - 6, 60 + 6),
    };
    // At least an octave tall so a one-note roll is still readable.
    let pad = (12 - (hi - lo)).max(0);
    let (lo, hi) = (lo - pad / 2, hi + (pad - pad / 2));
    let end = notes.iter().map(|n| n.end.max(n.start)).max().unwrap_or(0);
    (lo, hi, (f64::from(end) * 0.01).max(1.0))
}

/// Draws `notes` as a piano roll PNG of [`WIDTH`] x [`HEIGHT`] at `path`; an empty list gives
/// empty axes marked "(no notes)".
pub fn piano_roll_png(notes: &[Note], title: &str, path: &Path) -> Result<()> {
    let font = font()?;
    let (lo, hi, seconds) = extent(notes);
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let caption = if notes.is_empty() {
        format!("{title} (no notes)")
    } else {
        title.to_string()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (font, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..seconds, f64::from(lo)..f64::from(hi))
        .map_err(|e| anyhow!("{e}"))?;
    // Row tints first so the time gridlines stay visible across them.
    draw_rows(&mut chart, lo, hi, seconds)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("time (s); darker = louder")
        .y_labels(0)
        .label_style((font, 14))
        .axis_desc_style((font, 15))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_max_light_lines(4)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    draw_octave_lines(&mut chart, lo, hi, seconds)?;
    draw_notes(&mut chart, notes)?;
    draw_pitch_labels(&chart, &root, lo, hi, font)?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Note names beside their rows, drawn by hand because plotters places numeric ticks at
/// "nice" values rather than at row centres.
fn draw_pitch_labels(
    chart: &Chart,
    root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    lo: i32,
    hi: i32,
    font: &str,
) -> Result<()> {
    let every = if hi - lo <= LABEL_ALL_ROWS { 1 } else { 12 };
    let style = TextStyle::from((font, 14).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for p in (lo..hi).filter(|p| p.rem_euclid(every) == 0) {
        let (x, y) = chart.backend_coord(&(0.0, f64::from(p) + 0.5));
        root.draw(&Text::new(note_name(p), (x - 6, y), style.clone()))
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// Black-key rows tinted like a keyboard.
fn draw_rows(chart: &mut Chart, lo: i32, hi: i32, seconds: f64) -> Result<()> {
    let tint = RGBColor(244, 244, 244).filled();
    chart
        .draw_series(
            (lo..hi)
                .filter(|&p| is_black_key(p))
                .map(|p| Rectangle::new([(0.0, f64::from(p)), (seconds, f64::from(p + 1))], tint)),
        )
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// A line under every C: the octave boundaries.
fn draw_octave_lines(chart: &mut Chart, lo: i32, hi: i32, seconds: f64) -> Result<()> {
    let octave = RGBColor(190, 190, 190);
    for p in (lo..hi).filter(|p| p.rem_euclid(12) == 0) {
        let y = f64::from(p);
        chart
            .draw_series(LineSeries::new([(0.0, y), (seconds, y)], octave))
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// One filled bar per note with a thin darker outline, so repeated notes stay distinct.
fn draw_notes(chart: &mut Chart, notes: &[Note]) -> Result<()> {
    let bar = |n: &Note| {
        let (x0, x1) = (
            f64::from(n.start) * 0.01,
            f64::from(n.end.max(n.start)) * 0.01,
        );
        let y = f64::from(n.pitch);
        [(x0, y + 0.08), (x1, y + 0.92)]
    };
    chart
        .draw_series(
            notes
                .iter()
                .map(|n| Rectangle::new(bar(n), velocity_colour(n.velocity).filled())),
        )
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(
            notes
                .iter()
                .map(|n| Rectangle::new(bar(n), RGBColor(8, 32, 80).stroke_width(1))),
        )
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
