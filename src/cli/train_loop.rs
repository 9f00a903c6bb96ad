//! The training loop of `gruwave train` and `gruwave demo`: steps, the progress bar,
//! validation, checkpoints with metrics, plot and generated previews, and Ctrl-C.

use super::preview::{preview_name, write_preview, write_srnn_preview, PreviewSpec};
use super::{human_duration, Dataset, EXIT_INTERRUPTED};
use crate::codec::Codec;
use crate::midi;
use crate::model::ParamLayout;
use crate::plot::{plot_metrics, PLOT_FILE};
use crate::samplernn::SrnnLayout;
use crate::train::metrics::{write_metrics, MetricsRow, METRICS_FILE};
use crate::train::run_config::ModelSpec;
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

/// Set on Ctrl-C or SIGTERM (ctrlc's `termination` feature), so a `kill` or a shutdown
/// saves like Ctrl-C; a second signal exits at once.
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

/// A run in progress: the session, its metrics so far, and what the loop reports.
struct TrainLoop<'a> {
    session: Session,
    rows: Vec<MetricsRow>,
    out: PathBuf,
    data: &'a Dataset,
    gpu: &'a Arc<Gpu>,
    kernels: &'a Arc<Kernels>,
    title: String,
    first_step: u64,
    started: Instant,
    deadline: Option<Instant>,
    progress: Progress,
    recent: Recent,
    saved_at: Option<u64>,
    preview: Option<PathBuf>,
}

/// Trains `session` until its target step, `minutes` of wall time, or Ctrl-C; validates
/// and saves checkpoints on the run's schedule and once more at the end. `rows` are the
/// metrics of the steps before (a resumed run's).
pub(crate) fn run_loop(
    session: Session,
    rows: Vec<MetricsRow>,
    out: PathBuf,
    data: &Dataset,
    minutes: Option<f64>,
    gpu: &Arc<Gpu>,
    kernels: &Arc<Kernels>,
) -> Result<Outcome> {
    let run = session.run.clone();
    let first_step = session.step_count();
    let started = Instant::now();
    let mut lp = TrainLoop {
        title: format!("{} · B={} T={}", run.model.named(), run.batch, run.tbptt),
        progress: Progress::new(first_step, run.steps),
        deadline: minutes.map(|m| started + Duration::from_secs_f64(m * 60.0)),
        recent: Recent {
            window: VecDeque::new(),
        },
        session,
        rows,
        out,
        data,
        gpu,
        kernels,
        first_step,
        started,
        saved_at: None,
        preview: None,
    };
    if run.steps.is_some_and(|t| first_step >= t) && minutes.is_none() {
        eprintln!(
            "the run has already done {first_step} of {} steps; pass --steps N to train longer",
            run.steps.unwrap_or(0)
        );
        lp.progress.bar.finish_and_clear();
        return Ok(lp.outcome(false));
    }
    eprintln!(
        "training {}, B={} T={}, lr {} on {}; validating on {}",
        run.model.named(),
        run.batch,
        run.tbptt,
        run.opts.lr,
        data.describe(&data.train, run.sample_rate),
        if data.valid.is_empty() {
            "nothing (no validation data)".to_string()
        } else {
            data.describe(&data.valid, run.sample_rate)
        }
    );
    let stopped_by_ctrl_c = lp.train()?;
    lp.finish(stopped_by_ctrl_c)
}

impl TrainLoop<'_> {
    fn unit(&self) -> &'static str {
        self.session.run.codec.unit()
    }

    /// Training seconds, counting the runs before a resume.
    fn elapsed(&self) -> f64 {
        self.session.elapsed_before() + self.started.elapsed().as_secs_f64()
    }

    /// Steps are submitted back to back and their losses read in batches, so the GPU never
    /// waits for the host between steps; the bar and metrics still see every step. Returns
    /// whether Ctrl-C stopped the run.
    fn train(&mut self) -> Result<bool> {
        let interrupted = interrupt_flag();
        interrupted.store(false, Ordering::SeqCst);
        let run = self.session.run.clone();
        let mut batch_started = Instant::now();
        loop {
            let step = self.session.step_count();
            let ctrl_c = interrupted.load(Ordering::SeqCst);
            let stop = ctrl_c
                || run.steps.is_some_and(|t| step >= t)
                || self.deadline.is_some_and(|d| Instant::now() >= d);
            let first_step = self.first_step;
            let due = |n: u64| n > 0 && step.is_multiple_of(n) && step > first_step;
            let read_now = stop
                || self.session.uncollected() >= READ_EVERY_STEPS
                || batch_started.elapsed() >= READ_EVERY_TIME
                || due(run.valid_every)
                || due(run.checkpoint_every);
            if read_now && self.session.uncollected() > 0 {
                self.collect(step, batch_started)?;
                batch_started = Instant::now();
                if due(run.valid_every) {
                    self.validate_now(step)?;
                }
                if due(run.checkpoint_every) {
                    self.checkpoint(true)?;
                    self.saved_at = Some(step);
                }
                self.update_bar(step);
            }
            if stop {
                return Ok(ctrl_c);
            }
            self.session.submit()?;
        }
    }

    /// Reads back the stats of the steps submitted up to `step` into the metrics, timed
    /// from `since`.
    fn collect(&mut self, step: u64, since: Instant) -> Result<()> {
        let stats = self.session.collect()?;
        let secs = since.elapsed().as_secs_f64() / stats.len() as f64;
        let first = step + 1 - stats.len() as u64;
        for (i, s) in stats.iter().enumerate() {
            let bits = s.loss as f64 / LN2;
            self.recent.push(bits, secs);
            self.rows.push(MetricsRow {
                step: first + i as u64,
                train_bits: bits,
                valid_bits: None,
                tokens_per_s: self.session.tokens_per_step() as f64 / secs,
                elapsed_s: self.elapsed(),
            });
        }
        Ok(())
    }

    /// Validation bits per token, and a note of how long it took (to help choose
    /// --valid-every); `None` without validation data.
    fn validate(&self) -> Result<Option<(f64, String)>> {
        let passes = self.session.evaluator().map_or(0, |e| e.passes());
        let t0 = Instant::now();
        let bar = &self.progress.bar;
        let nats = self
            .session
            .validate(&mut |done| bar.set_message(format!("validating {done}/{passes}")))?;
        let took = format!(
            "validated in {}",
            human_duration(t0.elapsed().as_secs_f64())
        );
        Ok(nats.map(|n| (n / LN2, took)))
    }

    /// Validates at `step` during training: the value goes into the step's metrics row.
    fn validate_now(&mut self, step: u64) -> Result<()> {
        if let Some((v, took)) = self.validate()? {
            let elapsed = self.elapsed();
            if let Some(row) = self.rows.last_mut() {
                row.valid_bits = Some(v);
                row.elapsed_s = elapsed;
            }
            let unit = self.unit();
            self.progress.line(&format!(
                "step {step}: train {:.3} bits/{unit} (mean of the last {}), valid {v:.3} bits/{unit} ({took})",
                self.recent.mean_bits(),
                self.recent.window.len()
            ));
        }
        Ok(())
    }

    /// The bar: smoothed loss, throughput, and time left.
    fn update_bar(&self, step: u64) {
        let per_step = self.started.elapsed().as_secs_f64() / (step - self.first_step) as f64;
        let target = self.session.run.steps;
        let mut left = target.map(|t| t.saturating_sub(step) as f64 * per_step);
        if let Some(d) = self.deadline {
            let budget = d.saturating_duration_since(Instant::now()).as_secs_f64();
            left = Some(left.map_or(budget, |l| l.min(budget)));
        }
        self.progress.bar.set_position(step);
        self.progress.bar.set_message(format!(
            "ETA {}, train {:.3} bits/{}, {:.0} tokens/s",
            left.map_or("?".to_string(), human_duration),
            self.recent.mean_bits(),
            self.unit(),
            self.session.tokens_per_step() as f64 / self.recent.mean_secs()
        ));
    }

    fn write_curves(&self) -> Result<()> {
        write_metrics(&self.out.join(METRICS_FILE), &self.rows)?;
        if !self.rows.is_empty() {
            let plot = self.out.join(PLOT_FILE);
            if let Err(e) = plot_metrics(&plot, &self.rows, &self.title, self.unit()) {
                log::warn!("{e:#}");
            }
        }
        Ok(())
    }

    /// Saves the model, trainer state, metrics and plot, and (`with_preview`) what the
    /// model makes now.
    fn checkpoint(&mut self, with_preview: bool) -> Result<()> {
        self.progress.bar.set_message("saving a checkpoint");
        let state = self.session.save(&self.out, self.elapsed())?;
        self.write_curves()?;
        let run = &self.session.run;
        if !with_preview || run.sample_seconds <= 0.0 {
            return Ok(());
        }
        let path = self.out.join(preview_name(state.step, run.codec));
        let spec = PreviewSpec {
            codec: run.codec,
            sample_rate: run.sample_rate,
            seconds: run.sample_seconds,
            seed: run.seed.wrapping_add(state.step),
        };
        let (total, unit) = match run.codec {
            Codec::MuLaw256 => (spec.seconds * spec.sample_rate as f64, "samples"),
            Codec::Perf388 => (spec.seconds * 100.0, "10 ms steps of music"),
        };
        let bar = &self.progress.bar;
        let mut progress = |done| bar.set_message(format!("generating {done}/{total:.0} {unit}"));
        let (gpu, k, params) = (self.gpu, self.kernels, &state.params);
        match &run.model {
            ModelSpec::Gru(c) => {
                let layout = ParamLayout::new(c);
                write_preview(gpu, k, (&layout, params), &spec, &path, &mut progress)?
            }
            ModelSpec::Srnn(c) => {
                let layout = SrnnLayout::new(c);
                write_srnn_preview(gpu, k, (&layout, params), &spec, &path, &mut progress)?
            }
        }
        self.preview = Some(path);
        Ok(())
    }

    /// The final validation (unless Ctrl-C stopped the run: it can wait for the resume)
    /// and checkpoint.
    fn finish(mut self, stopped_by_ctrl_c: bool) -> Result<Outcome> {
        let step = self.session.step_count();
        let mut validated_late = false;
        let unvalidated = self
            .rows
            .last()
            .is_some_and(|r| r.step == step && r.valid_bits.is_none());
        if !stopped_by_ctrl_c && unvalidated {
            if let Some((v, took)) = self.validate()? {
                self.rows.last_mut().expect("a last row").valid_bits = Some(v);
                validated_late = true;
                let unit = self.unit();
                self.progress
                    .line(&format!("step {step}: valid {v:.3} bits/{unit} ({took})"));
            }
        }
        if self.saved_at != Some(step) {
            self.checkpoint(!stopped_by_ctrl_c)?;
        } else if validated_late {
            self.write_curves()?;
        }
        self.progress.bar.finish_and_clear();
        Ok(self.outcome(stopped_by_ctrl_c))
    }

    fn outcome(self, interrupted: bool) -> Outcome {
        let step = self.session.step_count();
        Outcome {
            unit: self.unit(),
            events_per_second: valid_events_per_second(self.data),
            steps: step,
            new_steps: step - self.first_step,
            valid_bits: self.rows.iter().rev().find_map(|r| r.valid_bits),
            interrupted,
            seconds: self.started.elapsed().as_secs_f64(),
            skipped_note: self.data.skipped_note(),
            preview: self.preview,
            out: self.out,
        }
    }
}
