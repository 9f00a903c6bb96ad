//! The GPU buffers and recorded programs for one (B, T) window shape: the forward pass with
//! loss, and (for training) the backward pass into a gradient buffer.
//!
//! Activations are time-major: position row p = t*B + b. Tokens arrive batch-major as
//! `[B, T+1]`, exactly as the data pipeline cuts them.

use crate::gpu::{Gpu, Program, ProgramBuilder};
use crate::kernels::{row_grid, Buf, Epilogue, Kernels, Mat, COLSUM_PARTS};
use crate::model::{ParamKind, ParamLayout};
use anyhow::{ensure, Result};
use std::sync::Arc;

struct LayerBufs {
    /// gi during the forward, reused as dgi during the backward: [T*B, 3H].
    gi: wgpu::Buffer,
    /// h0 in slot 0, h_t in slot t+1: [(T+1)*B, H].
    hseq: wgpu::Buffer,
    /// r, z, n, gh_n per position: [T*B, 4H].
    gates: wgpu::Buffer,
    /// [T*B, 3H].
    dgh: wgpu::Buffer,
    /// dh of every step (slot t+1) and of h0 (slot 0): [(T+1)*B, H].
    dhs: wgpu::Buffer,
    /// Gradient arriving from above (head or next layer's input): [T*B, H].
    dh_out: wgpu::Buffer,
}

pub struct Workspace {
    pub gpu: Arc<Gpu>,
    pub layout: ParamLayout,
    pub batch: usize,
    pub tbptt: usize,
    pub tokens: wgpu::Buffer,
    pub state: wgpu::Buffer,
    pub logits: wgpu::Buffer,
    /// The mean loss of the last forward (one float).
    pub stats: wgpu::Buffer,
    /// The loss of every position of the last forward, time-major `[T, B]`.
    pub losses: wgpu::Buffer,
    layers: Vec<LayerBufs>,
    pub forward: Program,
    pub backward: Option<Program>,
}

impl Workspace {
    /// Buffers and programs for windows of `batch` x `tbptt`, reading weights from `params`
    /// and, when `grads` is given, writing the gradient of the mean loss there.
    pub fn new(
        gpu: &Arc<Gpu>,
        k: &Kernels,
        layout: &ParamLayout,
        params: &wgpu::Buffer,
        grads: Option<&wgpu::Buffer>,
        batch: usize,
        tbptt: usize,
    ) -> Result<Workspace> {
        ensure!(
            batch > 0 && tbptt > 0,
            "batch and TBPTT length must be at least 1"
        );
        let c = layout.config;
        let (v, e, h, nl) = (c.vocab, c.embed, c.hidden, c.layers);
        let rows = batch * tbptt;
        let f = |n: usize| (n * 4) as u64;
        for (what, n) in [
            ("the input projections (B*T*3H)", rows * 3 * h),
            ("the saved gates (B*T*4H)", rows * 4 * h),
            ("the logits (B*T*V)", rows * v),
            ("the parameters", layout.total),
        ] {
            gpu.check_buffer_size(what, f(n))?;
        }
        let mut pb = ProgramBuilder::new();
        let reg = |pb: &mut ProgramBuilder, b: &wgpu::Buffer| Buf {
            id: pb.buffer(b),
            len: (b.size() / 4) as usize,
        };
        // The window, then (training) its rows grouped by input token for embed_backward.
        let index_len = if grads.is_some() { v + 1 + rows } else { 0 };
        let tokens = gpu.storage("tokens", f(batch * (tbptt + 1) + index_len));
        let state = gpu.storage("hidden state", f(nl * batch * h));
        let x0 = gpu.storage("embeddings", f(rows * e));
        let logits = gpu.storage("logits", f(rows * v));
        let dlogits = gpu.storage("dlogits", f(rows * v));
        let losses = gpu.storage("losses", f(rows));
        let stats = gpu.storage("mean loss", f(1));
        let colsum_scratch = gpu.storage("colsum partials", f(COLSUM_PARTS * v.max(3 * h)));
        let layers: Vec<LayerBufs> = (0..nl)
            .map(|_| LayerBufs {
                gi: gpu.storage("gi", f(rows * 3 * h)),
                hseq: gpu.storage("hseq", f((tbptt + 1) * batch * h)),
                gates: gpu.storage("gates", f(rows * 4 * h)),
                dgh: gpu.storage("dgh", f(if grads.is_some() { rows * 3 * h } else { 1 })),
                dhs: gpu.storage(
                    "dhs",
                    f(if grads.is_some() {
                        (tbptt + 1) * batch * h
                    } else {
                        1
                    }),
                ),
                dh_out: gpu.storage("dh_out", f(if grads.is_some() { rows * h } else { 1 })),
            })
            .collect();

        let tok = reg(&mut pb, &tokens);
        let st = reg(&mut pb, &state);
        let x0b = reg(&mut pb, &x0);
        let lg = reg(&mut pb, &logits);
        let dlg = reg(&mut pb, &dlogits);
        let ls = reg(&mut pb, &losses);
        let stb = reg(&mut pb, &stats);
        let pr = reg(&mut pb, params);
        let lb: Vec<[Buf; 6]> = layers
            .iter()
            .map(|l| [&l.gi, &l.hseq, &l.gates, &l.dgh, &l.dhs, &l.dh_out].map(|b| reg(&mut pb, b)))
            .collect();
        let [gi_, hseq_, gates_, dgh_, dhs_, dhout_] = [0, 1, 2, 3, 4, 5];
        let off = |kind| layout.get(kind).offset;
        let bh = batch * h;

        // The step kernels that suit this batch (timed on a GPU: kernels::StepKernel).
        let (step_fwd, fwd_grid) = k.step_forward(batch, h);
        // ---- forward ----
        for (l, bufs) in lb.iter().enumerate() {
            pb.copy(st.id, f(l * bh), bufs[hseq_].id, 0, f(bh));
        }
        let emb_params =
            [rows, e, batch, tbptt + 1, off(ParamKind::Embedding), v].map(|x| x as u32);
        pb.dispatch(
            &k.embed_gather,
            &[tok.id, pr.id, x0b.id],
            &emb_params,
            row_grid(rows, e.div_ceil(64) as u32),
        );
        for l in 0..nl {
            let inp = c.layer_input(l);
            let x = if l == 0 {
                Mat::rows(x0b, 0, e)
            } else {
                Mat::rows(lb[l - 1][hseq_], bh, h)
            };
            k.record_gemm(
                &mut pb,
                rows,
                3 * h,
                inp,
                x,
                Mat::transposed(pr, off(ParamKind::WeightIh(l)), inp),
                lb[l][gi_],
                0,
                3 * h,
                Epilogue::Bias(pr, off(ParamKind::BiasIh(l))),
            );
            for t in 0..tbptt {
                let p = [
                    batch,
                    h,
                    t * batch * 3 * h,
                    t * bh,
                    (t + 1) * bh,
                    t * batch * 4 * h,
                    off(ParamKind::WeightHh(l)),
                    off(ParamKind::BiasHh(l)),
                    1,
                ];
                pb.dispatch(
                    step_fwd,
                    &[lb[l][gi_].id, pr.id, lb[l][hseq_].id, lb[l][gates_].id],
                    &p.map(|x| x as u32),
                    fwd_grid,
                );
                pb.flops((2 * batch * 3 * h * h) as f64);
            }
            pb.copy(lb[l][hseq_].id, f(tbptt * bh), st.id, f(l * bh), f(bh));
        }
        let top = &lb[nl - 1];
        k.record_gemm(
            &mut pb,
            rows,
            v,
            h,
            Mat::rows(top[hseq_], bh, h),
            Mat::transposed(pr, off(ParamKind::HeadWeight), h),
            lg,
            0,
            v,
            Epilogue::Bias(pr, off(ParamKind::HeadBias)),
        );
        let scale = 1.0f32 / rows as f32;
        let xent = [
            rows as u32,
            v as u32,
            batch as u32,
            (tbptt + 1) as u32,
            scale.to_bits(),
            0,
        ];
        let grid = if rows <= 65535 {
            [rows as u32, 1, 1]
        } else {
            [65535, rows.div_ceil(65535) as u32, 1]
        };
        pb.dispatch(
            &k.softmax_xent,
            &[lg.id, tok.id, dlg.id, ls.id],
            &xent,
            grid,
        );
        k.record_sum(&mut pb, ls, 0, rows, scale, stb, 0);
        let forward = std::mem::take(&mut pb).build(gpu);

        // ---- backward ----
        let backward = grads.map(|grads| {
            let (step_bwd, bwd_grid) = k.step_backward(batch, h);
            let gr = reg(&mut pb, grads);
            let tok = reg(&mut pb, &tokens);
            let x0b = reg(&mut pb, &x0);
            let dlg = reg(&mut pb, &dlogits);
            let pr = reg(&mut pb, params);
            let cs = reg(&mut pb, &colsum_scratch);
            let lb: Vec<[Buf; 6]> = layers
                .iter()
                .map(|l| {
                    [&l.gi, &l.hseq, &l.gates, &l.dgh, &l.dhs, &l.dh_out].map(|b| reg(&mut pb, b))
                })
                .collect();
            let top = &lb[nl - 1];
            // Head: dW_o = dlogitsᵀ·H_top, db_o = Σ dlogits, dH_top = dlogits·W_o.
            k.record_gemm(
                &mut pb,
                v,
                h,
                rows,
                Mat::transposed(dlg, 0, v),
                Mat::rows(top[hseq_], bh, h),
                gr,
                off(ParamKind::HeadWeight),
                h,
                Epilogue::None,
            );
            k.record_colsum(&mut pb, dlg, 0, rows, v, gr, off(ParamKind::HeadBias), cs);
            k.record_gemm(
                &mut pb,
                rows,
                h,
                v,
                Mat::rows(dlg, 0, v),
                Mat::rows(pr, off(ParamKind::HeadWeight), h),
                top[dhout_],
                0,
                h,
                Epilogue::None,
            );
            for l in (0..nl).rev() {
                let inp = c.layer_input(l);
                let bufs = [
                    pr.id,
                    lb[l][gates_].id,
                    lb[l][hseq_].id,
                    lb[l][dhout_].id,
                    lb[l][gi_].id,
                    lb[l][dgh_].id,
                    lb[l][dhs_].id,
                ];
                // Steps T-1 down to 0, then one more dispatch (s == T) for the gradient of h0.
                for s in 0..=tbptt {
                    let last = s == tbptt;
                    let cur = if last { 0 } else { tbptt - 1 - s };
                    let has_next = if last { 1 } else { (cur + 1 < tbptt) as usize };
                    let next = if last { 0 } else { cur + 1 };
                    let p = [
                        batch,
                        h,
                        off(ParamKind::WeightHh(l)),
                        has_next,
                        last as usize,
                        next * batch * 3 * h,
                        next * batch * 4 * h,
                        (next + 1) * bh,
                        cur * batch * 3 * h,
                        cur * batch * 4 * h,
                        if last { 0 } else { (cur + 1) * bh },
                        cur * bh,
                        cur * bh,
                    ];
                    pb.dispatch(step_bwd, &bufs, &p.map(|x| x as u32), bwd_grid);
                    // The recurrent carry dgh_{t+1}·W_hh, when there is a next step.
                    pb.flops((has_next * 2 * batch * 3 * h * h) as f64);
                }
                let x = if l == 0 {
                    Mat::rows(x0b, 0, e)
                } else {
                    Mat::rows(lb[l - 1][hseq_], bh, h)
                };
                k.record_gemm(
                    &mut pb,
                    3 * h,
                    h,
                    rows,
                    Mat::transposed(lb[l][dgh_], 0, 3 * h),
                    Mat::rows(lb[l][hseq_], 0, h),
                    gr,
                    off(ParamKind::WeightHh(l)),
                    h,
                    Epilogue::None,
                );
                k.record_gemm(
                    &mut pb,
                    3 * h,
                    inp,
                    rows,
                    Mat::transposed(lb[l][gi_], 0, 3 * h),
                    x,
                    gr,
                    off(ParamKind::WeightIh(l)),
                    inp,
                    Epilogue::None,
                );
                k.record_colsum(
                    &mut pb,
                    lb[l][gi_],
                    0,
                    rows,
                    3 * h,
                    gr,
                    off(ParamKind::BiasIh(l)),
                    cs,
                );
                k.record_colsum(
                    &mut pb,
                    lb[l][dgh_],
                    0,
                    rows,
                    3 * h,
                    gr,
                    off(ParamKind::BiasHh(l)),
                    cs,
                );
                // Gradient into this layer's input: the layer below's dh_out, or the embeddings.
                let (dst, width) = if l == 0 {
                    (x0b, e)
                } else {
                    (lb[l - 1][dhout_], h)
                };
                k.record_gemm(
                    &mut pb,
                    rows,
                    width,
                    3 * h,
                    Mat::rows(lb[l][gi_], 0, 3 * h),
                    Mat::rows(pr, off(ParamKind::WeightIh(l)), inp),
                    dst,
                    0,
                    width,
                    Epilogue::None,
                );
            }
            let index_off = batch * (tbptt + 1);
            assert!(index_off + index_len <= tok.len, "token index out of range");
            let mut back_params = emb_params.to_vec();
            back_params.push(index_off as u32);
            pb.dispatch(
                &k.embed_backward,
                &[tok.id, x0b.id, gr.id],
                &back_params,
                [e.div_ceil(64) as u32, v as u32, 1],
            );
            std::mem::take(&mut pb).build(gpu)
        });

        Ok(Workspace {
            gpu: gpu.clone(),
            layout: layout.clone(),
            batch,
            tbptt,
            tokens,
            state,
            logits,
            stats,
            losses,
            layers,
            forward,
            backward,
        })
    }

    /// Upload a `[B, T+1]` token window.
    pub fn upload_tokens(&self, tokens: &[u32]) -> Result<()> {
        ensure!(
            tokens.len() == self.batch * (self.tbptt + 1),
            "expected {} x {} tokens, got {}",
            self.batch,
            self.tbptt + 1,
            tokens.len()
        );
        let v = self.layout.config.vocab as u32;
        if let Some(bad) = tokens.iter().find(|&&t| t >= v) {
            anyhow::bail!("token {bad} is outside the vocabulary of {v}");
        }
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
        if self.backward.is_some() {
            // The row index follows the window (the embed_backward dispatch's index_off).
            let index = rows_by_token(tokens, self.batch, self.tbptt, v as usize);
            let at = std::mem::size_of_val(tokens) as u64;
            queue.write_buffer(&self.tokens, at, bytemuck::cast_slice(&index));
        }
        Ok(())
    }

    /// Zero the hidden state of the streams marked in `reset` (a new file begins there).
    pub fn reset_streams(&self, reset: &[bool]) {
        let h = self.layout.config.hidden;
        let zeros = vec![0u8; h * 4];
        for (b, _) in reset.iter().enumerate().filter(|(_, r)| **r) {
            for l in 0..self.layout.config.layers {
                let at = ((l * self.batch + b) * h * 4) as u64;
                self.gpu.queue.write_buffer(&self.state, at, &zeros);
            }
        }
    }

    /// Set the whole carried hidden state, `[L, B, H]`.
    pub fn set_state(&self, h: &[f32]) -> Result<()> {
        let c = self.layout.config;
        ensure!(
            h.len() == c.layers * self.batch * c.hidden,
            "hidden state has the wrong size"
        );
        self.gpu
            .queue
            .write_buffer(&self.state, 0, bytemuck::cast_slice(h));
        Ok(())
    }

    pub fn read_state(&self) -> Result<Vec<f32>> {
        let c = self.layout.config;
        self.gpu
            .read(&self.state, 0, c.layers * self.batch * c.hidden)
    }

    /// Logits of the last forward, reordered to `[B, T, V]`.
    pub fn read_logits(&self) -> Result<Vec<f32>> {
        let v = self.layout.config.vocab;
        let tm: Vec<f32> = self
            .gpu
            .read(&self.logits, 0, self.batch * self.tbptt * v)?;
        Ok(time_to_batch_major(&tm, self.batch, self.tbptt, v))
    }

    /// Gradient of the loss with respect to the hidden state the last window started from,
    /// `[L, B, H]` (valid after a backward).
    pub fn read_grad_h0(&self) -> Result<Vec<f32>> {
        let bh = self.batch * self.layout.config.hidden;
        let mut out = Vec::new();
        for l in &self.layers {
            out.extend(self.gpu.read::<f32>(&l.dhs, 0, bh)?);
        }
        Ok(out)
    }

    /// Hidden states of layer `l` at every step, `[B, T, H]`.
    pub fn read_layer_out(&self, l: usize) -> Result<Vec<f32>> {
        let h = self.layout.config.hidden;
        let bh = self.batch * h;
        let tm: Vec<f32> = self.gpu.read(&self.layers[l].hseq, bh, self.tbptt * bh)?;
        Ok(time_to_batch_major(&tm, self.batch, self.tbptt, h))
    }
}

/// [T, B, W] → [B, T, W].
pub fn time_to_batch_major(x: &[f32], batch: usize, steps: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for t in 0..steps {
        for b in 0..batch {
            let src = (t * batch + b) * width;
            let dst = (b * steps + t) * width;
            out[dst..dst + width].copy_from_slice(&x[src..src + width]);
        }
    }
    out
}

/// The rows (time-major, row = t*B + b) of a `[B, T+1]` window grouped by input token, for
/// the embedding gradient: `V + 1` starts, then the rows of token 0, of token 1, ..., each
/// group in ascending row order (the order the gradient sums in). Tokens are `< vocab`.
pub fn rows_by_token(tokens: &[u32], batch: usize, tbptt: usize, vocab: usize) -> Vec<u32> {
    let token = |row: usize| tokens[(row % batch) * (tbptt + 1) + row / batch] as usize;
    let rows = batch * tbptt;
    let mut starts = vec![0u32; vocab + 1];
    for row in 0..rows {
        starts[token(row) + 1] += 1;
    }
    for i in 0..vocab {
        starts[i + 1] += starts[i];
    }
    let mut next = starts.clone();
    let mut out = starts;
    out.resize(vocab + 1 + rows, 0);
    for row in 0..rows {
        let t = token(row);
        out[vocab + 1 + next[t] as usize] = row as u32;
        next[t] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rows_by_token;

    #[test]
    fn rows_are_grouped_by_token_in_row_order() {
        // B = 2, T = 3: inputs are the first 3 of each 4-token row; row = t*B + b.
        let tokens = [2, 0, 2, 9, 1, 2, 0, 9];
        let got = rows_by_token(&tokens, 2, 3, 4);
        // Row tokens: t0 (2, 1), t1 (0, 2), t2 (2, 0) -> rows 0..6 = [2, 1, 0, 2, 2, 0].
        assert_eq!(&got[..5], &[0, 2, 3, 6, 6], "starts");
        assert_eq!(&got[5..], &[2, 5, 1, 0, 3, 4], "rows of token 0, 1, 2");
    }
}
