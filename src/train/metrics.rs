//! metrics.csv: one row per optimiser step, with the validation result on the steps that
//! were validated.

use crate::fsutil::write_atomic;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

pub const METRICS_FILE: &str = "metrics.csv";
const HEADER: &str = "step,train_bits,valid_bits,tokens_per_s,elapsed_s";

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsRow {
    /// Steps taken after this one (1 for the first).
    pub step: u64,
    /// Training loss of the step's window, bits per sample.
    pub train_bits: f64,
    /// Validation bits per sample after the step, when it was validated.
    pub valid_bits: Option<f64>,
    /// Training throughput of the step (B x T / its time).
    pub tokens_per_s: f64,
    /// Training time since the run began, summed over resumes.
    pub elapsed_s: f64,
}

pub fn write_metrics(path: &Path, rows: &[MetricsRow]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "{HEADER}")?;
        for r in rows {
            let valid = r.valid_bits.map(|v| format!("{v:.6}")).unwrap_or_default();
            writeln!(
                w,
                "{},{:.6},{valid},{:.1},{:.3}",
                r.step, r.train_bits, r.tokens_per_s, r.elapsed_s
            )?;
        }
        Ok(())
    })
}

pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let p = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{p}: cannot read"))?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        bail!("{p}: not a gruwave metrics file (the header should be '{HEADER}')");
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            parse_row(line).with_context(|| format!("{p}: line {}: bad row '{line}'", i + 2))
        })
        .collect()
}

fn parse_row(line: &str) -> Result<MetricsRow> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 5 {
        bail!("expected 5 fields, found {}", f.len());
    }
    Ok(MetricsRow {
        step: f[0].parse()?,
        train_bits: f[1].parse()?,
        valid_bits: if f[2].is_empty() {
            None
        } else {
            Some(f[2].parse()?)
        },
        tokens_per_s: f[3].parse()?,
        elapsed_s: f[4].parse()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let rows = vec![
            MetricsRow {
                step: 1,
                train_bits: 7.5,
                valid_bits: None,
                tokens_per_s: 1234.5,
                elapsed_s: 0.25,
            },
            MetricsRow {
                step: 2,
                train_bits: 6.25,
                valid_bits: Some(6.5),
                tokens_per_s: 1000.0,
                elapsed_s: 0.5,
            },
        ];
        write_metrics(&path, &rows).unwrap();
        assert_eq!(read_metrics(&path).unwrap(), rows);
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(read_metrics(&path).is_err());
    }
}
