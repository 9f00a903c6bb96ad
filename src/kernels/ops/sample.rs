//! `sample.wgsl`: one sampling step of many streams: a layer's cell (`sample_cell`, or
//! `sample_cell_draw`, which first draws layer 0's input), the head's logits
//! (`sample_logits`) and the draw (`sample_draw`).

use super::{groups, us, wgsl_params, word, Buf, WgslParams};
use crate::gpu::ProgramBuilder;
use crate::kernels::Kernels;
use crate::sample::NOTE_WORDS;

wgsl_params! {
    /// `Controls`, in a storage buffer the host writes before each block.
    pub struct Controls in "sample.wgsl" {
        pub seed_lo: u32,
        pub seed_hi: u32,
        /// Steps drawn before this block.
        pub base_step: u32,
        /// 0: off.
        pub top_k: u32,
        /// 0: argmax.
        pub temperature: f32,
        /// 1: perf388 note rules (a NOTE_ON needs a silent pitch, a NOTE_OFF a sounding one),
        /// 0: free sampling.
        pub note_rules: u32,
        /// Steps of 10 ms a note may sound before its NOTE_OFF is forced.
        pub max_hold: u32,
    }
}

wgsl_params! {
    /// `CellParams`: one layer, one step, `units` hidden units of `sb` streams per workgroup.
    pub struct CellParams in "sample.wgsl" {
        pub streams: u32,
        pub hidden: u32,
        /// Input width of this layer (0 for layer 0: the table replaces W_ih·x).
        pub inp: u32,
        /// Hidden units per workgroup (a power of two up to 64).
        pub units: u32,
        /// Streams per workgroup (1 to 4).
        pub sb: u32,
        /// W_ihᵀ `[inp, 3H]`.
        pub wih_off: u32,
        /// W_hhᵀ `[H, 3H]`.
        pub whh_off: u32,
        pub bih_off: u32,
        pub bhh_off: u32,
        /// Layer 0: `[V, 3H]`.
        pub table_off: u32,
        /// Layer input `[S, H]` in h (layers above 0: the layer below).
        pub x_off: u32,
        /// `[S, H]` in h_in.
        pub hprev_off: u32,
        /// `[S, H]` in h.
        pub hout_off: u32,
        /// Layer 0: input token row in hist.
        pub tok_off: u32,
        pub vocab: u32,
        /// sample_cell_draw: the step whose logits give this step's input.
        pub draw_step: u32,
        /// 1: four k per iteration.
        pub unroll: u32,
    }
}

wgsl_params! {
    /// `LogitParams`: logits[s, v] = W_o[v]·h_top[s] + b_o[v].
    pub struct LogitParams in "sample.wgsl" {
        pub streams: u32,
        pub hidden: u32,
        pub vocab: u32,
        /// W_o `[V, H]`.
        pub wo_off: u32,
        pub bo_off: u32,
        /// The top layer's new state `[S, H]` in h.
        pub h_off: u32,
        /// Streams per workgroup (1 to 4).
        pub sb: u32,
        /// Threads per logit: a power of two up to 256.
        pub lanes: u32,
        /// 1: four k per iteration.
        pub unroll: u32,
    }
}

wgsl_params! {
    /// `DrawParams`: hist[out_off + s] = the token drawn from stream s's logits.
    pub struct DrawParams in "sample.wgsl" {
        pub vocab: u32,
        /// Output token row in hist.
        pub out_off: u32,
        /// Step within the block.
        pub step: u32,
    }
}

/// The seven buffers the sampling kernels bind (each binds those it uses, in this order).
#[derive(Clone, Copy, Debug)]
pub struct SampleBufs {
    /// Weights: transposed GRU weights, the head, layer 0's table.
    pub w: Buf,
    /// Token history `[block+1, S]`.
    pub hist: Buf,
    /// The state being read, `[L, S, H]`.
    pub h_in: Buf,
    /// The state being written.
    pub h: Buf,
    /// `Controls`.
    pub ctl: Buf,
    /// Logits `[S, V]`.
    pub logits: Buf,
    /// The note state of every stream, `[S, NOTE_WORDS]` (the draws read and update it).
    pub notes: Buf,
}

impl SampleBufs {
    fn ids(&self) -> [crate::gpu::BufId; 7] {
        let b = [
            self.w,
            self.hist,
            self.h_in,
            self.h,
            self.ctl,
            self.logits,
            self.notes,
        ];
        b.map(|b| b.id)
    }

    fn check_draw(&self, what: &str, streams: usize, vocab: usize) {
        self.logits
            .check(&format!("{what} logits"), 0, streams * vocab);
        self.ctl
            .check(&format!("{what} controls"), 0, CONTROL_WORDS);
        self.notes
            .check(&format!("{what} note state"), 0, streams * NOTE_WORDS);
    }
}

impl CellParams {
    fn check(&self, b: &SampleBufs) -> [u32; 3] {
        let (s, h, inp, v) = (
            us(self.streams),
            us(self.hidden),
            us(self.inp),
            us(self.vocab),
        );
        let (units, sb) = (us(self.units), us(self.sb));
        assert!(
            units.is_power_of_two() && units <= 64 && (1..=4).contains(&sb),
            "sample_cell: {units} units x {sb} streams per workgroup"
        );
        assert!(v > 0, "sample_cell: empty vocabulary");
        if inp == 0 {
            b.hist.check("sample_cell tokens", us(self.tok_off), s);
            b.w.check("sample_cell table", us(self.table_off), v * 3 * h);
        } else {
            assert_eq!(inp, h, "sample_cell: a layer above 0 reads H inputs");
            b.w.check("sample_cell W_ihᵀ", us(self.wih_off), inp * 3 * h);
            b.w.check("sample_cell b_ih", us(self.bih_off), 3 * h);
            b.h.check("sample_cell input", us(self.x_off), s * h);
        }
        b.w.check("sample_cell W_hhᵀ", us(self.whh_off), h * 3 * h);
        b.w.check("sample_cell b_hh", us(self.bhh_off), 3 * h);
        b.h_in
            .check("sample_cell h_{t-1}", us(self.hprev_off), s * h);
        b.h.check("sample_cell h_t", us(self.hout_off), s * h);
        [groups(h, units), groups(s, sb), 1]
    }
}

impl Kernels {
    /// One layer, one step of every stream (layer 0 reads its input token from hist).
    pub fn record_sample_cell(&self, pb: &mut ProgramBuilder, p: &CellParams, b: &SampleBufs) {
        let grid = p.check(b);
        // The plain cell binds only weights, history and the two states.
        pb.dispatch(&self.sample_cell, &b.ids()[..4], p.words(), grid);
        pb.flops(cell_flops(p));
    }

    /// Layer 0 of one step that first draws its input tokens from the previous step's
    /// logits (`draw_step`) and writes them to hist[tok_off ..].
    pub fn record_sample_cell_draw(&self, pb: &mut ProgramBuilder, p: &CellParams, b: &SampleBufs) {
        assert_eq!(p.inp, 0, "sample_cell_draw runs layer 0");
        let grid = p.check(b);
        b.check_draw("sample_cell_draw", us(p.streams), us(p.vocab));
        pb.dispatch(&self.sample_cell_draw, &b.ids(), p.words(), grid);
        pb.flops(cell_flops(p));
    }

    /// The head's logits of every stream from the top layer's new state in `h`.
    pub fn record_sample_logits(&self, pb: &mut ProgramBuilder, p: &LogitParams, b: &SampleBufs) {
        let (s, h, v) = (us(p.streams), us(p.hidden), us(p.vocab));
        let (lanes, sb) = (us(p.lanes), us(p.sb));
        assert!(
            lanes.is_power_of_two() && lanes <= 256 && (1..=4).contains(&sb),
            "sample_logits: {lanes} lanes, {sb} streams per workgroup"
        );
        b.w.check("sample_logits W_o", us(p.wo_off), v * h);
        b.w.check("sample_logits b_o", us(p.bo_off), v);
        b.h.check("sample_logits h_top", us(p.h_off), s * h);
        b.logits.check("sample_logits logits", 0, s * v);
        let grid = [groups(v, 256 / lanes), groups(s, sb), 1];
        pb.dispatch(&self.sample_logits, &b.ids()[..6], p.words(), grid);
        pb.flops((2 * s * v * h) as f64);
    }

    /// One token per stream from its logits into hist[out_off ..].
    pub fn record_sample_draw(
        &self,
        pb: &mut ProgramBuilder,
        p: &DrawParams,
        streams: usize,
        b: &SampleBufs,
    ) {
        assert!(p.vocab > 0, "sample_draw: empty vocabulary");
        b.hist.check("sample_draw tokens", us(p.out_off), streams);
        b.check_draw("sample_draw", streams, us(p.vocab));
        pb.dispatch(
            &self.sample_draw,
            &b.ids(),
            p.words(),
            [word(streams), 1, 1],
        );
    }
}

/// Words of `Controls`.
pub const CONTROL_WORDS: usize = std::mem::size_of::<Controls>() / 4;

fn cell_flops(p: &CellParams) -> f64 {
    let (s, h, inp) = (us(p.streams), us(p.hidden), us(p.inp));
    (2 * s * 3 * h * (inp + h)) as f64
}
