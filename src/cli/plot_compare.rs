//! `gruwave plot-compare`: several runs' validation bits per sample against training time,
//! as one table and one PNG (benches/quality.sh compares a GRU and a SampleRNN with it).

use super::check_output_file;
use crate::plot::{plot_compare, Curve};
use crate::train::metrics::read_metrics;
use anyhow::{ensure, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    gruwave plot-compare runs/gru/metrics.csv runs/srnn/metrics.csv --label gru-base,srnn-small --out compare.png\n\n\
    Each run's validation points (the valid_bits column of metrics.csv, against elapsed_s) \
    are printed as a table: one row per time on an even grid up to the longest run, each cell \
    the run's last validation at or before that time; then drawn as one line per run.")]
pub struct PlotCompareArgs {
    /// metrics.csv files written by `gruwave train`
    #[arg(value_name = "METRICS.csv", required = true)]
    pub metrics: Vec<PathBuf>,
    /// Names of the runs, comma-separated [default: each file's folder name]
    #[arg(long, value_delimiter = ',')]
    pub label: Vec<String>,
    /// The PNG to write
    #[arg(long, default_value = "compare.png")]
    pub out: PathBuf,
    /// Title above the plot
    #[arg(
        long,
        default_value = "validation bits per sample against training time"
    )]
    pub title: String,
    /// Rows of the table (times on an even grid)
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
}

pub fn run(a: PlotCompareArgs) -> Result<ExitCode> {
    ensure!(
        a.label.is_empty() || a.label.len() == a.metrics.len(),
        "{} labels for {} files: give one per file",
        a.label.len(),
        a.metrics.len()
    );
    ensure!(a.rows >= 1, "--rows must be at least 1");
    check_output_file(&a.out, "--out")?;
    let mut curves = Vec::new();
    for (i, path) in a.metrics.iter().enumerate() {
        let rows = read_metrics(path)?;
        let label = a.label.get(i).cloned().unwrap_or_else(|| {
            path.parent()
                .and_then(|d| d.file_name())
                .map_or(path.display().to_string(), |n| n.to_string_lossy().into())
        });
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| r.valid_bits.map(|v| (r.elapsed_s, v)))
            .collect();
        if points.is_empty() {
            eprintln!("warning: {}: no validation points", path.display());
        }
        curves.push(Curve { label, points });
    }
    print!("{}", table(&curves, a.rows));
    plot_compare(&a.out, &curves, &a.title, "sample")?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The table: a grid of `rows` times up to the last validation of any run, each cell the
/// run's last validation at or before that time ("-" before its first), then each run's
/// final validation and when it came.
pub fn table(curves: &[Curve], rows: usize) -> String {
    let end = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let width = curves
        .iter()
        .map(|c| c.label.len())
        .max()
        .unwrap_or(0)
        .max(12);
    let mut s = format!("{:>9}", "minutes");
    for c in curves {
        s += &format!("  {:>width$}", c.label);
    }
    s += "\n";
    for i in 1..=rows {
        let t = end * i as f64 / rows as f64;
        s += &format!("{:>9.2}", t / 60.0);
        for c in curves {
            let v = c.points.iter().take_while(|p| p.0 <= t + 1e-9).last();
            let cell = v.map_or("-".to_string(), |p| format!("{:.4}", p.1));
            s += &format!("  {cell:>width$}");
        }
        s += "\n";
    }
    s += &format!("{:>9}", "final");
    for c in curves {
        let cell = c.points.last().map_or("-".to_string(), |p| {
            format!("{:.4} @{:.1}m", p.1, p.0 / 60.0)
        });
        s += &format!("  {cell:>width$}");
    }
    s + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_each_runs_last_validation_so_far() {
        let curves = [
            Curve {
                label: "a".into(),
                points: vec![(60.0, 5.0), (120.0, 4.0)],
            },
            Curve {
                label: "b".into(),
                points: vec![(90.0, 6.0)],
            },
        ];
        let t = table(&curves, 2);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[1].contains("5.0000") && lines[1].contains('-'), "{t}");
        assert!(
            lines[2].contains("4.0000") && lines[2].contains("6.0000"),
            "{t}"
        );
        assert!(lines[3].contains("4.0000 @2.0m"), "{t}");
    }
}
