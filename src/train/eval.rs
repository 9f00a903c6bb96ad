//! Evaluation: the mean loss over a whole set of tracks, each prediction counted once,
//! with a forward-only workspace that reads a live parameter buffer (the trainer's, for
//! validation during training, or a loaded model's).

use super::Workspace;
use crate::codec::Codec;
use crate::data::{Batch, Lookback, Track};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::model::ParamLayout;
use crate::samplernn::{SrnnLayout, SrnnWorkspace};
use anyhow::{bail, ensure, Result};
use std::sync::Arc;

/// Windows that cover a set of tracks once.
///
/// Every file is cut into windows of `T + 1` tokens that overlap by one, so the hidden
/// state carries from one window to the next exactly as in training; the last `< T`
/// tokens of a file that do not fill a window are left out. The chain of all windows,
/// file after file, is cut into `B` contiguous runs, one per stream: `n` windows each,
/// and one more for the first `r` streams (W = n B + r windows in all). A stream's state
/// is reset at the start of its run and wherever a new file begins.
///
/// This differs from [`crate::data::Streams`] on purpose: training streams wrap around
/// forever, while an evaluation must visit every window exactly once, so that the mean
/// of the per-window means (each over T predictions) is the mean over the whole set.
///
/// perf388 scores every token of every file (docs/MIDI_TOKENS.md S2): a file's last window
/// may be short; it is padded, and only its real predictions are counted.
#[derive(Clone, Debug)]
pub struct EvalWindows {
    tokens: Vec<u32>,
    /// Tokens in the tracks (without padding).
    total: usize,
    /// Start of every window in `tokens`, whether it begins a file, and how many of its
    /// T predictions are scored.
    starts: Vec<(usize, bool, usize)>,
    batch: usize,
    tbptt: usize,
    /// Windows that every stream has.
    steps: usize,
}

impl EvalWindows {
    /// Plans an evaluation of `tracks` with up to `batch` streams of windows of `tbptt`
    /// predictions. Fewer streams are used when there are fewer windows than `batch`.
    pub fn new(tracks: &[Track], batch: usize, tbptt: usize, codec: Codec) -> Result<EvalWindows> {
        Self::plan(tracks, batch, tbptt, codec == Codec::Perf388)
    }

    /// As `new`, scoring every token of every file from a reset (`tails`), whatever the
    /// codec: each stream takes whole files, and a file's short last window is padded.
    pub fn plan(tracks: &[Track], batch: usize, tbptt: usize, tails: bool) -> Result<EvalWindows> {
        if batch == 0 || tbptt == 0 {
            bail!("batch size and TBPTT length must be positive (got B = {batch}, T = {tbptt})");
        }
        // Window arithmetic (n * T + 1) must not wrap; the batch shrinks to the windows.
        let max = super::run_config::MAX_TBPTT;
        if tbptt > max {
            bail!("the TBPTT window T (--tbptt) must be at most {max}, got {tbptt}");
        }
        let mut tokens = Vec::new();
        let mut starts = Vec::new();
        for t in tracks {
            let base = tokens.len();
            let predictions = t.tokens.len().saturating_sub(1);
            let n = if tails {
                predictions.div_ceil(tbptt)
            } else {
                predictions / tbptt
            };
            starts.extend((0..n).map(|i| {
                (
                    base + i * tbptt,
                    i == 0,
                    (predictions - i * tbptt).min(tbptt),
                )
            }));
            tokens.extend_from_slice(&t.tokens);
            // Padding for a short last window; never scored.
            let pad = (n * tbptt + 1).saturating_sub(t.tokens.len());
            tokens.extend(std::iter::repeat_n(
                t.tokens.last().copied().unwrap_or(0),
                pad,
            ));
        }
        if starts.is_empty() {
            let total: usize = tracks.iter().map(|t| t.tokens.len()).sum();
            let names: Vec<&str> = tracks.iter().take(5).map(|t| t.name.as_str()).collect();
            bail!(
                "the data is shorter than one window: {total} tokens in {} track(s) ({}), but \
                 evaluating needs a file of at least T + 1 = {} tokens",
                tracks.len(),
                names.join(", "),
                tbptt + 1
            );
        }
        let (starts, batch) = if tails {
            whole_files(starts, batch)
        } else {
            let b = batch.min(starts.len());
            (starts, b)
        };
        Ok(EvalWindows {
            total: tracks.iter().map(|t| t.tokens.len()).sum(),
            tokens,
            steps: starts.len() / batch,
            starts,
            batch,
            tbptt,
        })
    }

    /// Streams B actually used.
    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn tbptt(&self) -> usize {
        self.tbptt
    }

    /// Windows that every stream has: the forward passes over all B streams.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Streams r with one more window, evaluated in a last pass of r streams.
    pub fn extra(&self) -> usize {
        self.starts.len() % self.batch
    }

    /// Predictions that the evaluation scores.
    pub fn predictions(&self) -> usize {
        self.starts.iter().map(|s| s.2).sum()
    }

    /// Whether some window scores fewer than T predictions.
    pub fn has_short(&self) -> bool {
        self.starts.iter().any(|s| s.2 < self.tbptt)
    }

    /// Predictions scored per stream at `step` (the extra pass at `steps()`).
    fn scored(&self, streams: usize, step: usize) -> Vec<usize> {
        (0..streams)
            .map(|b| self.starts[self.index(b, step)].2)
            .collect()
    }

    /// Tokens in the tracks, for saying how much of them is covered.
    pub fn total_tokens(&self) -> usize {
        self.total
    }

    /// Index in `starts` of stream `b`'s window `step`.
    fn index(&self, b: usize, step: usize) -> usize {
        b * self.steps + b.min(self.extra()) + step
    }

    fn gather(&self, streams: usize, step: usize) -> Batch {
        let window = self.tbptt + 1;
        let mut tokens = Vec::with_capacity(streams * window);
        let mut reset = Vec::with_capacity(streams);
        for b in 0..streams {
            let (start, new_file, _) = self.starts[self.index(b, step)];
            reset.push(new_file || step == 0);
            tokens.extend_from_slice(&self.tokens[start..start + window]);
        }
        Batch { tokens, reset }
    }

    /// The `[B, T+1]` window of every stream at `step` (< [`Self::steps`]).
    pub fn batch_at(&self, step: usize) -> Batch {
        self.gather(self.batch, step)
    }

    /// The `[r, T+1]` last windows of the first r = [`Self::extra`] streams.
    pub fn extra_batch(&self) -> Batch {
        self.gather(self.extra(), self.steps)
    }
}

/// A window: its start, whether it begins a file, and the predictions it scores.
type Window = (usize, bool, usize);

/// perf388 scores every file from a zero state (docs/MIDI_TOKENS.md S2), so a stream takes
/// whole files: each file, longest first, goes to the stream with the fewest windows, and
/// every stream is padded to the longest with unscored windows. Returns the windows in
/// stream order (each stream's `steps` in a row) and the streams used.
fn whole_files(starts: Vec<Window>, batch: usize) -> (Vec<Window>, usize) {
    let mut files: Vec<Vec<Window>> = Vec::new();
    for w in starts {
        if w.1 || files.is_empty() {
            files.push(Vec::new());
        }
        files.last_mut().expect("a file").push(w);
    }
    let b = batch.min(files.len()).max(1);
    files.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut streams: Vec<Vec<Window>> = vec![Vec::new(); b];
    for f in files {
        let s = (0..b).min_by_key(|&s| streams[s].len()).expect("a stream");
        streams[s].extend(f);
    }
    let steps = streams.iter().map(Vec::len).max().unwrap_or(0);
    let dummy = (streams[0][0].0, true, 0);
    let windows = streams
        .into_iter()
        .flat_map(|mut s| {
            s.resize(steps, dummy);
            s
        })
        .collect();
    (windows, b)
}

/// A validation or evaluation pass over a whole held-out set, of either model family.
pub trait Evaluate {
    /// The plan of windows it scores.
    fn windows(&self) -> &EvalWindows;
    /// Passes in all, for progress reports.
    fn passes(&self) -> usize;
    /// Mean NLL in nats over every planned prediction; `progress` gets the passes done.
    fn mean_nats(&self, progress: &mut dyn FnMut(usize)) -> Result<f64>;
}

impl Evaluate for Evaluator {
    fn windows(&self) -> &EvalWindows {
        Evaluator::windows(self)
    }
    fn passes(&self) -> usize {
        Evaluator::passes(self)
    }
    fn mean_nats(&self, progress: &mut dyn FnMut(usize)) -> Result<f64> {
        Evaluator::mean_nats(self, progress)
    }
}

/// A SampleRNN's forward passes over [`EvalWindows::plan`]ned with whole files: every
/// file is scored from a reset (lookback q/2, tiers from h0), chunk by chunk; a file's
/// last chunk is padded and only its real targets are scored (a masked tail).
/// Chunks per readback of a SampleRNN evaluation: few enough that the progress bar stays
/// close to the GPU, and their losses (B·T floats each) small.
const SRNN_EVAL_SLOTS: usize = 16;

pub struct SrnnEvaluator {
    ws: SrnnWorkspace,
    windows: EvalWindows,
}

impl SrnnEvaluator {
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        layout: &SrnnLayout,
        params: &wgpu::Buffer,
        windows: EvalWindows,
    ) -> Result<SrnnEvaluator> {
        ensure!(
            windows.extra() == 0,
            "a SampleRNN evaluation needs a plan of whole files"
        );
        let (b, t) = (windows.batch(), windows.tbptt());
        let ws = SrnnWorkspace::new(gpu, kernels, layout, params, None, b, t)?;
        Ok(SrnnEvaluator { ws, windows })
    }
}

impl Evaluate for SrnnEvaluator {
    fn windows(&self) -> &EvalWindows {
        &self.windows
    }

    fn passes(&self) -> usize {
        self.windows.steps()
    }

    /// Chunks are submitted back to back, each copying its losses into a slot of `store`;
    /// the slots are read back [`SRNN_EVAL_SLOTS`] chunks at a time, not once per chunk.
    fn mean_nats(&self, progress: &mut dyn FnMut(usize)) -> Result<f64> {
        let (w, c, gpu) = (&self.windows, &self.ws.layout.config, &self.ws.gpu);
        let rows = w.batch() * w.tbptt();
        let slot_bytes = (rows * std::mem::size_of::<f32>()) as u64;
        let store = gpu.storage("eval losses", slot_bytes * SRNN_EVAL_SLOTS as u64);
        let mut lookback = Lookback::new(w.batch(), c.lookback(), c.zero_level());
        let mut nats = 0.0;
        for first in (0..w.steps()).step_by(SRNN_EVAL_SLOTS) {
            let steps = first..w.steps().min(first + SRNN_EVAL_SLOTS);
            for (slot, step) in steps.clone().enumerate() {
                let batch = w.batch_at(step);
                self.ws.upload_tokens(&lookback.chunks(&batch))?;
                self.ws.reset_streams(&batch.reset);
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                self.ws.forward.encode(&mut enc, None);
                let (src, at) = (self.ws.losses_buffer(), slot as u64 * slot_bytes);
                enc.copy_buffer_to_buffer(src, 0, &store, at, slot_bytes);
                gpu.queue.submit([enc.finish()]);
            }
            let read: Vec<f32> = gpu.read(&store, 0, steps.len() * rows)?;
            for (tm, step) in read.chunks_exact(rows).zip(steps) {
                nats += self.scored_nats(&self.ws.batch_major_losses(tm), step);
                progress(step + 1);
            }
        }
        let mean = nats / w.predictions() as f64;
        ensure!(
            mean.is_finite(),
            "evaluation gave a non-finite loss ({mean})"
        );
        Ok(mean)
    }
}

impl SrnnEvaluator {
    /// The summed NLL of one chunk's real targets (`losses` `[B, T]`; a padded tail is not
    /// scored).
    fn scored_nats(&self, losses: &[f32], step: usize) -> f64 {
        let (w, t) = (&self.windows, self.windows.tbptt());
        w.scored(w.batch(), step)
            .iter()
            .enumerate()
            .map(|(b, &n)| {
                losses[b * t..b * t + n]
                    .iter()
                    .map(|&x| x as f64)
                    .sum::<f64>()
            })
            .sum()
    }
}

/// Forward passes over [`EvalWindows`], reading the parameters from a GPU buffer.
pub struct Evaluator {
    gpu: Arc<Gpu>,
    ws: Workspace,
    /// For the r streams with one more window; starts from their state in `ws`.
    extra_ws: Option<Workspace>,
    windows: EvalWindows,
    /// One mean loss per step, read back once at the end.
    losses: wgpu::Buffer,
}

/// Steps between waits for the GPU, so queued uploads stay bounded.
const SYNC_EVERY: usize = 64;

impl Evaluator {
    pub fn new(
        gpu: &Arc<Gpu>,
        kernels: &Kernels,
        layout: &ParamLayout,
        params: &wgpu::Buffer,
        windows: EvalWindows,
    ) -> Result<Evaluator> {
        let ws = |batch| Workspace::new(gpu, kernels, layout, params, None, batch, windows.tbptt());
        let main = ws(windows.batch())?;
        let extra_ws = match windows.extra() {
            0 => None,
            r => Some(ws(r)?),
        };
        let losses = gpu.storage("eval losses", (windows.steps() * 4) as u64);
        Ok(Evaluator {
            gpu: gpu.clone(),
            ws: main,
            extra_ws,
            windows,
            losses,
        })
    }

    pub fn windows(&self) -> &EvalWindows {
        &self.windows
    }

    /// Passes in all, for progress reports.
    pub fn passes(&self) -> usize {
        self.windows.steps() + usize::from(self.extra_ws.is_some())
    }

    /// Mean cross-entropy in nats over every planned prediction; `progress` gets the
    /// number of passes done.
    pub fn mean_nats(&self, progress: &mut dyn FnMut(usize)) -> Result<f64> {
        let w = &self.windows;
        let (steps, masked) = (w.steps(), w.has_short());
        // Masked (short windows): nats summed per pass on the host; otherwise the mean of
        // every pass, read back once at the end.
        let mut nats = 0.0;
        for step in 0..steps {
            self.pass(&self.ws, &w.batch_at(step), (!masked).then_some(step))?;
            if masked {
                nats += self.scored_nats(&self.ws, &w.scored(w.batch(), step))?;
            } else if (step + 1) % SYNC_EVERY == 0 {
                self.gpu.wait()?;
            }
            if (step + 1) % SYNC_EVERY == 0 {
                progress(step + 1);
            }
        }
        let mut mean_sum = if masked {
            0.0
        } else {
            let losses: Vec<f32> = self.gpu.read(&self.losses, 0, steps)?;
            losses.iter().map(|&x| x as f64).sum::<f64>() * w.batch() as f64
        };
        if let Some(extra) = &self.extra_ws {
            self.carry_state(extra)?;
            self.pass(extra, &w.extra_batch(), None)?;
            if masked {
                nats += self.scored_nats(extra, &w.scored(w.extra(), steps))?;
            } else {
                mean_sum += self.gpu.read::<f32>(&extra.stats, 0, 1)?[0] as f64 * w.extra() as f64;
            }
        }
        progress(self.passes());
        // Each main pass scores B windows, the extra pass r windows, all of T predictions.
        let mean = if masked {
            nats / w.predictions() as f64
        } else {
            mean_sum / (steps * w.batch() + w.extra()) as f64
        };
        if !mean.is_finite() {
            bail!("evaluation gave a non-finite loss ({mean})");
        }
        Ok(mean)
    }

    /// One forward pass of `ws` over `batch`; its mean loss goes to slot `keep`, if given.
    fn pass(&self, ws: &Workspace, batch: &Batch, keep: Option<usize>) -> Result<()> {
        ws.upload_tokens(&batch.tokens)?;
        ws.reset_streams(&batch.reset);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        ws.forward.encode(&mut enc, None);
        if let Some(step) = keep {
            enc.copy_buffer_to_buffer(&ws.stats, 0, &self.losses, (step * 4) as u64, 4);
        }
        self.gpu.queue.submit([enc.finish()]);
        Ok(())
    }

    /// The extra windows continue streams 0..r: carry their state over, per layer.
    fn carry_state(&self, extra: &Workspace) -> Result<()> {
        let (r, batch) = (self.windows.extra(), self.windows.batch());
        let h = self.ws.layout.config.hidden;
        let state = self.ws.read_state()?;
        let carried: Vec<f32> = state
            .chunks_exact(batch * h)
            .flat_map(|layer| layer[..r * h].iter().copied())
            .collect();
        extra.set_state(&carried)
    }

    /// Nats of the scored predictions of the last pass of `ws`: the first `scored[b]`
    /// positions of stream b (losses are time-major, row t*B + b).
    fn scored_nats(&self, ws: &Workspace, scored: &[usize]) -> Result<f64> {
        let streams = scored.len();
        let losses: Vec<f32> = self
            .gpu
            .read(&ws.losses, 0, streams * self.windows.tbptt())?;
        let mut sum = 0.0;
        for (b, &n) in scored.iter().enumerate() {
            sum += (0..n).map(|t| losses[t * streams + b] as f64).sum::<f64>();
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(len: usize, base: u32) -> Track {
        Track {
            name: format!("f{base}"),
            tokens: (0..len)
                .map(|i| ((base as usize + i) % 256) as u32)
                .collect(),
        }
    }

    #[test]
    fn every_window_is_visited_once_with_resets_at_file_and_run_starts() {
        // Files of 30 and 21 tokens, T = 4: 7 + 5 = 12 windows; B = 5 -> 2 windows per
        // stream, and a third for streams 0 and 1.
        let w = EvalWindows::new(&[track(30, 0), track(21, 100)], 5, 4, Codec::MuLaw256).unwrap();
        assert_eq!((w.batch(), w.steps(), w.extra()), (5, 2, 2));
        assert_eq!(w.predictions(), 48);
        let mut firsts = Vec::new();
        let mut visit = |b: &Batch, streams: usize, step: usize| {
            for s in 0..streams {
                let win = &b.tokens[s * 5..s * 5 + 5];
                assert!(win.windows(2).all(|p| p[1] == p[0] + 1), "{win:?}");
                firsts.push((s, step, win[0], b.reset[s]));
            }
        };
        for step in 0..2 {
            visit(&w.batch_at(step), 5, step);
        }
        visit(&w.extra_batch(), 2, 2);
        firsts.sort();
        let got: Vec<(u32, bool)> = firsts.iter().map(|f| (f.2, f.3)).collect();
        // Runs: [0 4 8] [12 16 20] [24 100] [104 108] [112 116]; file 1 resets at 100.
        assert_eq!(
            got,
            vec![
                (0, true),
                (4, false),
                (8, false),
                (12, true),
                (16, false),
                (20, false),
                (24, true),
                (100, true),
                (104, true),
                (108, false),
                (112, true),
                (116, false),
            ]
        );
    }

    #[test]
    fn events_are_scored_whole_file_by_whole_file_from_a_zero_state() {
        // Files of 30, 9 and 21 tokens, T = 4: 8, 2 and 5 windows (the last ones short).
        let tracks = [track(30, 0), track(9, 100), track(21, 200)];
        let w = EvalWindows::new(&tracks, 2, 4, Codec::Perf388).unwrap();
        assert_eq!((w.batch(), w.steps(), w.extra()), (2, 8, 0));
        assert_eq!(w.predictions(), 29 + 8 + 20);
        for b in 0..2 {
            let mut seen = Vec::new();
            for step in 0..w.steps() {
                let (start, first, scored) = w.starts[w.index(b, step)];
                if scored > 0 {
                    seen.push((w.tokens[start], first));
                }
            }
            // A stream's scored windows start at a file's first token with a reset.
            assert!(seen[0].1 && [0, 100, 200].contains(&seen[0].0), "{seen:?}");
            for (tok, first) in &seen {
                assert_eq!(*first, [0, 100, 200].contains(tok), "{seen:?}");
            }
        }
    }

    #[test]
    fn fewer_windows_than_streams_shrinks_the_batch_and_too_short_is_an_error() {
        let w = EvalWindows::new(&[track(9, 0)], 8, 4, Codec::MuLaw256).unwrap();
        assert_eq!((w.batch(), w.steps(), w.extra()), (2, 1, 0));
        let e = EvalWindows::new(&[track(4, 0)], 8, 4, Codec::MuLaw256).unwrap_err();
        assert!(format!("{e}").contains("shorter than one window"), "{e}");
    }
}
