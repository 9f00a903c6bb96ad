//! `gruwave stats`: how generated MIDI compares with reference MIDI, statistic by
//! statistic (Yang & Lerch 2020; see `music::stats`).

use super::{check_output_file, is_midi, read_midi_file};
use crate::audio::collect_files;
use crate::midi::{self, Note};
use crate::music::stats::compare;
use anyhow::{bail, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    gruwave stats generated/\n  \
    gruwave stats generated/ --reference assets/midi/train --json stats.json\n  \
    gruwave stats a.mid b.mid --reference corpus/valid --json - | jq '.statistics[0]'\n\n\
    Each side is a set of pieces: the notes of every file, read as training reads MIDI \
    (drums dropped, times in 10 ms steps); a file that cannot be read is skipped with a \
    warning and counted. The table gives each statistic over the generated and the reference \
    set, and how far apart they are (0: alike; 1: nothing in common): total variation between \
    the histograms, and 1 - the overlap of the distributions of per-piece values for the \
    others. A few pieces give rough distances; compare sets of tens of pieces. Without \
    --reference, the 6 bundled validation chorales (assets/midi/valid) are the reference. \
    With --json -, the JSON goes to standard output and the table to standard error.")]
pub struct StatsArgs {
    /// Generated MIDI files or folders (searched recursively for .mid and .midi)
    #[arg(required = true, value_name = "GENERATED")]
    pub generated: Vec<PathBuf>,
    /// Reference MIDI files or folders [default: the bundled chorales in assets/midi/valid]
    #[arg(long, value_name = "REF", num_args = 1..)]
    pub reference: Vec<PathBuf>,
    /// Also write the comparison as JSON to FILE ('-': to standard output)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The bundled validation chorales, the default reference.
pub(crate) fn bundled_chorales() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/midi/valid");
    if !dir.is_dir() {
        bail!(
            "the bundled chorales are not at {} (they ship with the source tree); give \
             --reference FILES or FOLDERS",
            dir.display()
        );
    }
    Ok(dir)
}

pub fn run(a: StatsArgs) -> Result<ExitCode> {
    let to_stdout = a.json.as_deref() == Some(Path::new("-"));
    if let Some(path) = a.json.as_deref().filter(|_| !to_stdout) {
        check_output_file(path, "--json")?;
    }
    let reference = if a.reference.is_empty() {
        vec![bundled_chorales()?]
    } else {
        a.reference.clone()
    };
    let generated = Pieces::load(&a.generated, "generated")?;
    let reference = Pieces::load(&reference, "reference")?;
    let comparison = compare(&generated.notes, &reference.notes);
    let report = format!(
        "{}\n{}\n\n{}",
        generated.describe(),
        reference.describe(),
        comparison.table()
    );
    let json = serde_json::to_string_pretty(&comparison.to_json())? + "\n";
    match a.json.as_deref() {
        _ if to_stdout => {
            eprintln!("{report}");
            std::io::stdout().write_all(json.as_bytes())?;
        }
        Some(path) => {
            crate::fsutil::write_bytes_atomic(path, json.as_bytes())?;
            println!("{report}\nwrote {}", path.display());
        }
        None => println!("{report}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// One side of the comparison.
struct Pieces {
    what: &'static str,
    paths: Vec<PathBuf>,
    notes: Vec<Vec<Note>>,
    skipped: usize,
}

impl Pieces {
    /// Reads the MIDI files among `paths`; bad files are skipped with a warning, and it is
    /// an error only when none can be read.
    fn load(paths: &[PathBuf], what: &'static str) -> Result<Pieces> {
        let files = collect_files(
            paths,
            &is_midi,
            "no MIDI files or folders given",
            ".mid files",
        )?;
        let (mut notes, mut reasons) = (Vec::new(), Vec::new());
        for file in &files {
            let read = read_midi_file(file)
                .and_then(|bytes| midi::read_notes(&bytes, &file.display().to_string()));
            match read {
                Ok(n) => notes.push(n),
                Err(e) => {
                    let reason = format!("{e:#}");
                    log::warn!("skipping a {what} file that cannot be read: {reason}");
                    reasons.push(reason);
                }
            }
        }
        match (notes.is_empty(), reasons.as_slice()) {
            (true, [reason]) => bail!("{reason}"),
            (true, _) => bail!(
                "none of the {} {what} MIDI files could be read:\n  {}",
                files.len(),
                reasons.join("\n  ")
            ),
            _ => {}
        }
        Ok(Pieces {
            what,
            paths: paths.to_vec(),
            notes,
            skipped: reasons.len(),
        })
    }

    /// "reference: 6 files from assets/midi/valid (1 skipped: see the warnings above)".
    fn describe(&self) -> String {
        let n = self.notes.len();
        let mut names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        if names.len() > 3 {
            let more = names.len() - 2;
            names.truncate(2);
            names.push(format!("{more} more"));
        }
        let skipped = match self.skipped {
            0 => String::new(),
            k => format!(" (skipped {k} that could not be read: see the warnings above)"),
        };
        format!(
            "{}: {n} file{} from {}{skipped}",
            self.what,
            if n == 1 { "" } else { "s" },
            names.join(", ")
        )
    }
}
