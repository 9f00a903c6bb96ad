//! The training loop of `gruwave train` and `gruwave demo`: steps, the progress bar,
//! validation, checkpoints with metrics, plot and generated previews, and Ctrl-C.

use super::preview::{preview_name, write_preview, PreviewSpec};
use super::train::model_name;
use super::{human_duration, Dataset, EXIT_INTERRUPTED};
use crate::codec::Codec;
use crate::midi;
use crate::plot::{plot_metrics, PLOT_FILE};
use crate::train::metrics::{write_metrics, MetricsRow, METRICS_FILE};
use crate::train::session::{Session, MODEL_FILE, STATE_FILE};
use crate::{Gpu, Kernels};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

const LN2: f64 = std::f64::consts::LN_2;

/// Losses are read back after this many steps or this much time, whichever comes first.
const READ_EVERY_STEPS: usize = 16;
const READ_EVERY_TIME: Duration = Duration::from_millis(250);

/// The result of a training invocation.
pub(crate) struct Outcome {
    pub out: PathBuf,
    pub steps: u64,
    pub new_steps: u64,
    pub valid_bits: Option<f64>,
    /// "sample" or "event".
    pub unit: &'static str,
    /// Validation events per second of music (MIDI), for bits per second.
    pub events_per_second: Option<f64>,
    pub interrupted: bool,
    pub seconds: f64,
    pub skipped_note: Option<String>,
    /// The last generated preview.
    pub preview: Option<PathBuf>,
}

/// Validation events per second of music, for a MIDI run (bits/event x this = bits/s).
fn valid_events_per_second(data: &Dataset) -> Option<f64> {
    let seconds: f64 = data.valid.iter().map(|t| midi::seconds(&t.tokens)).sum();
    let events: usize = data.valid.iter().map(|t| t.tokens.len() - 1).sum();
    (data.codec == Codec::Perf388 && seconds > 0.0).then(|| events as f64 / seconds)
}

/// Prints where everything is, and how to go on.
pub(crate) fn print_outcome(o: &Outcome) {
    let dir = o.out.display();
    if o.new_steps > 0 {
        println!(
            "trained {} step{} ({} in all) in {}",
            o.new_steps,
            if o.new_steps == 1 { "" } else { "s" },
            o.steps,
            human_duration(o.seconds)
        );
    }
    if let Some(v) = o.valid_bits {
        let per_second = o.events_per_second.map_or(String::new(), |s| {
            format!(" ({:.1} bits per second of music)", v * s)
        });
        println!("validation: {v:.4} bits/{}{per_second}", o.unit);
    }
    println!("model:    {}", o.out.join(MODEL_FILE).display());
    println!("state:    {}", o.out.join(STATE_FILE).display());
    println!("metrics:  {}", o.out.join(METRICS_FILE).display());
    if o.out.join(PLOT_FILE).exists() {
        println!("plot:     {}", o.out.join(PLOT_FILE).display());
    }
    if let Some(p) = &o.preview {
        println!("listen:   {}", p.display());
    }
    if o.interrupted {
        println!(
            "interrupted at step {}; continue with: gruwave train --resume {dir}",
            o.steps
        );
    }
    if let Some(note) = &o.skipped_note {
        println!("{note}");
    }
}

/// Set on Ctrl-C; a second Ctrl-C exits at once.
fn interrupt_flag() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if FLAG.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting without saving");
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to quit at once)");
        });
        if let Err(e) = installed {
            log::warn!("cannot catch Ctrl-C ({e}); an interrupted run keeps its last checkpoint");
        }
    });
    &FLAG
}

/// Progress bar, or plain lines when stderr is not a terminal (CI logs, tests).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(start: u64, target: Option<u64>) -> Progress {
        let bar = match target {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let template = if target.is_some() {
            "{spinner:.green} [{elapsed_precise}] {bar:20.cyan/blue} {pos}/{len} {wide_msg}"
        } else {
            "{spinner:.green} [{elapsed_precise}] step {pos} {wide_msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(start);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A line that stays: above the bar, or on stderr when there is no bar.
    fn line(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

/// Recent steps, for the bar's smoothed loss, throughput and ETA.
struct Recent {
    window: VecDeque<(f64, f64)>, // (train bits, seconds)
}

impl Recent {
    const LEN: usize = 50;

    fn push(&mut self, bits: f64, secs: f64) {
        if self.window.len() == Self::LEN {
            self.window.pop_front();
        }
        self.window.push_back((bits, secs));
    }

    fn mean_bits(&self) -> f64 {
        self.window.iter().map(|w| w.0).sum::<f64>() / self.window.len().max(1) as f64
    }

    fn mean_secs(&self) -> f64 {
        self.window.iter().map(|w| w.1).sum::<f64>() / self.window.len().max(1) as f64
    }
}

/// Trains `session` until its target step, `minutes` of wall time, or Ctrl-C; validates
/// and saves checkpoints on the run's schedule and once more at the end. `rows` are the
/// metrics of the steps before (a resumed run's).
pub(crate) fn run_loop(
    mut session: Session,
    mut rows: Vec<MetricsRow>,
    out: PathBuf,
    audio: &Dataset,
    minutes: Option<f64>,
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
) -> Result<Outcome> {
    let run = session.run.clone();
    let unit = run.codec.unit();
    let first_step = session.step_count();
    let target = run.steps;
    if target.is_some_and(|t| first_step >= t) && minutes.is_none() {
        eprintln!(
            "the run has already done {first_step} of {} steps; pass --steps N to train longer",
            target.unwrap_or(0)
        );
        return Ok(Outcome {
            out,
            steps: first_step,
            new_steps: 0,
            valid_bits: rows.iter().rev().find_map(|r| r.valid_bits),
            unit: run.codec.unit(),
            events_per_second: valid_events_per_second(audio),
            interrupted: false,
            seconds: 0.0,
            skipped_note: audio.skipped_note(),
            preview: None,
        });
    }
    eprintln!(
        "training {}, B={} T={}, lr {} on {}; validating on {}",
        model_name(&run.model),
        run.batch,
        run.tbptt,
        run.opts.lr,
        audio.describe(&audio.train, run.sample_rate),
        if audio.valid.is_empty() {
            "nothing (no validation data)".to_string()
        } else {
            audio.describe(&audio.valid, run.sample_rate)
        }
    );
    let title = format!(
        "{} · B={} T={}",
        model_name(&run.model),
        run.batch,
        run.tbptt
    );

    let interrupted = interrupt_flag();
    interrupted.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let deadline = minutes.map(|m| started + Duration::from_secs_f64(m * 60.0));
    let elapsed = |s: &Session| s.elapsed_before() + started.elapsed().as_secs_f64();
    let progress = Progress::new(first_step, target);
    let mut recent = Recent {
        window: VecDeque::new(),
    };
    let every = |n: u64, step: u64| n > 0 && step.is_multiple_of(n);
    let mut saved_at = None;
    let stopped_by_ctrl_c;

    // Validation bits/sample, and a note of how long it took (to help choose --valid-every).
    let validate = |session: &Session, progress: &Progress| -> Result<Option<(f64, String)>> {
        let steps = session.evaluator().map_or(0, |e| e.passes());
        let t0 = Instant::now();
        let nats = session.validate(&mut |done| {
            progress
                .bar
                .set_message(format!("validating {done}/{steps}"));
        })?;
        let took = format!(
            "validated in {}",
            human_duration(t0.elapsed().as_secs_f64())
        );
        Ok(nats.map(|n| (n / LN2, took)))
    };
    let sample_seconds = run.sample_seconds;
    let mut preview = None;
    let write_curves = |rows: &[MetricsRow]| -> Result<()> {
        write_metrics(&out.join(METRICS_FILE), rows)?;
        if !rows.is_empty() {
            if let Err(e) = plot_metrics(&out.join(PLOT_FILE), rows, &title, unit) {
                log::warn!("{e:#}");
            }
        }
        Ok(())
    };
    let mut checkpoint = |session: &Session,
                          rows: &[MetricsRow],
                          progress: &Progress,
                          with_preview: bool|
     -> Result<()> {
        progress.bar.set_message("saving a checkpoint");
        let state = session.save(&out, elapsed(session))?;
        write_curves(rows)?;
        if with_preview && sample_seconds > 0.0 {
            let path = out.join(preview_name(state.step, run.codec));
            let spec = PreviewSpec {
                codec: run.codec,
                sample_rate: run.sample_rate,
                seconds: sample_seconds,
                seed: run.seed.wrapping_add(state.step),
            };
            let (total, unit) = match run.codec {
                Codec::MuLaw256 => (sample_seconds * run.sample_rate as f64, "samples"),
                Codec::Perf388 => (sample_seconds * 100.0, "10 ms steps of music"),
            };
            write_preview(
                gpu,
                kernels,
                (&session.trainer.layout, &state.params),
                &spec,
                &path,
                &mut |done| {
                    progress
                        .bar
                        .set_message(format!("generating {done}/{total:.0} {unit}"))
                },
            )?;
            preview = Some(path);
        }
        Ok(())
    };

    // Steps are submitted back to back and their losses read in batches, so the GPU never
    // waits for the host between steps; the bar and metrics still see every step.
    let mut batch_started = Instant::now();
    loop {
        let step = session.step_count();
        let ctrl_c = interrupted.load(Ordering::SeqCst);
        let stop = ctrl_c
            || target.is_some_and(|t| step >= t)
            || deadline.is_some_and(|d| Instant::now() >= d);
        let due = |n: u64| every(n, step) && step > first_step;
        let read_now = stop
            || session.uncollected() >= READ_EVERY_STEPS
            || batch_started.elapsed() >= READ_EVERY_TIME
            || due(run.valid_every)
            || due(run.checkpoint_every);
        if read_now && session.uncollected() > 0 {
            let stats = session.collect()?;
            let secs = batch_started.elapsed().as_secs_f64() / stats.len() as f64;
            batch_started = Instant::now();
            let first = step + 1 - stats.len() as u64;
            for (i, s) in stats.iter().enumerate() {
                let bits = s.loss as f64 / LN2;
                recent.push(bits, secs);
                rows.push(MetricsRow {
                    step: first + i as u64,
                    train_bits: bits,
                    valid_bits: None,
                    tokens_per_s: session.tokens_per_step() as f64 / secs,
                    elapsed_s: elapsed(&session),
                });
            }
            if due(run.valid_every) {
                if let Some((v, took)) = validate(&session, &progress)? {
                    if let Some(row) = rows.last_mut() {
                        row.valid_bits = Some(v);
                        row.elapsed_s = elapsed(&session);
                    }
                    progress.line(&format!(
                        "step {step}: train {:.3} bits/{unit} (mean of the last {}), valid {v:.3} bits/{unit} ({took})",
                        recent.mean_bits(),
                        recent.window.len()
                    ));
                }
            }
            if due(run.checkpoint_every) {
                checkpoint(&session, &rows, &progress, true)?;
                saved_at = Some(step);
            }
            // The bar: smoothed loss, throughput, and time left.
            let per_step = started.elapsed().as_secs_f64() / (step - first_step) as f64;
            let mut left = target.map(|t| t.saturating_sub(step) as f64 * per_step);
            if let Some(d) = deadline {
                let budget = d.saturating_duration_since(Instant::now()).as_secs_f64();
                left = Some(left.map_or(budget, |l| l.min(budget)));
            }
            progress.bar.set_position(step);
            progress.bar.set_message(format!(
                "ETA {}, train {:.3} bits/{unit}, {:.0} tokens/s",
                left.map_or("?".to_string(), human_duration),
                recent.mean_bits(),
                session.tokens_per_step() as f64 / recent.mean_secs()
            ));
        }
        if stop {
            stopped_by_ctrl_c = ctrl_c;
            break;
        }
        session.submit()?;
    }

    let step = session.step_count();
    // A run stopped by Ctrl-C saves at once; the final validation can wait for the resume.
    let mut validated_late = false;
    if !stopped_by_ctrl_c {
        if let Some(last) = rows
            .last_mut()
            .filter(|r| r.step == step && r.valid_bits.is_none())
        {
            if let Some((v, took)) = validate(&session, &progress)? {
                last.valid_bits = Some(v);
                validated_late = true;
                progress.line(&format!("step {step}: valid {v:.3} bits/{unit} ({took})"));
            }
        }
    }
    if saved_at != Some(step) {
        checkpoint(&session, &rows, &progress, !stopped_by_ctrl_c)?;
    } else if validated_late {
        write_curves(&rows)?;
    }
    progress.bar.finish_and_clear();
    Ok(Outcome {
        unit,
        events_per_second: valid_events_per_second(audio),
        out,
        steps: step,
        new_steps: step - first_step,
        valid_bits: rows.iter().rev().find_map(|r| r.valid_bits),
        interrupted: stopped_by_ctrl_c,
        seconds: started.elapsed().as_secs_f64(),
        skipped_note: audio.skipped_note(),
        preview,
    })
}
