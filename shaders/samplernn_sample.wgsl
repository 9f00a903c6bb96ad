// SampleRNN generation (docs/SAMPLERNN_SPEC.md "Sampling"). Per sample, one dispatch
// (srnn_mlp_draw, one workgroup per stream) runs the whole sample-level MLP and the draw:
//   a  = relu(c0 + Σ_i table_i[s[t-FS0+i]])     (tables_i = E·W_in[:, :, i]ᵀ, built once)
//   a2 = relu(W_hid a + b_hid)
//   o  = W_out a2 + b_out, then softmax(o / T) and the inverse-CDF draw into the history.
// A frame tier step is srnn_frame_input (x = W_exp·deq(frame) + b_exp + the upper tier's
// slot), then gru_cell per layer and the upsampling GEMM (other families).
//
// The token history is [2L, S]: rows 0..L hold the previous period, row L + j sample j of
// this one. A row already holding a token (not NONE) is teacher-forced: no draw.

const NONE: u32 = 0xffffffffu;

struct SrnnControls {
    seed_lo: u32,
    seed_hi: u32,
    pos: u32,          // samples since reset before this period
    primed: u32,       // prefix length: the draw step of sample pos is pos - primed
    temperature: f32,  // 0: argmax
    given_len: u32,    // draws whose uniform comes from given [given_len, S]
    trace_len: u32,    // positions whose logits and c0 go to trace [trace_len, S, q + D]
}

struct FrameParams {
    streams: u32,
    dim: u32,
    n: u32,          // samples per frame (n_k)
    levels: u32,
    row0: u32,       // the frame's first history row
    wexp_off: u32,   // W_exp [D, n] in w
    bexp_off: u32,
    cond: u32,       // 1: add the upper tier's slot
    cond_off: u32,   // element d of stream s at cond_off + s*cond_rs + d*cond_cs in up
    cond_rs: u32,
    cond_cs: u32,
    x_off: u32,      // x [S, D] in x_out
}

struct MlpParams {
    streams: u32,
    dim: u32,
    levels: u32,
    fs0: u32,
    j: u32,          // sample within the period
    tok_row: u32,    // the window's first history row
    out_row: u32,    // the row this sample is drawn into
    table_off: u32,  // [FS0, q, D] in sw
    whid_off: u32,   // W_hidᵀ [D, D] in sw
    bhid_off: u32,
    wout_off: u32,   // W_outᵀ [D, q] in sw
    bout_off: u32,
    cond_off: u32,   // c0 element d of stream s at cond_off + s*cond_rs + d*cond_cs in up
    cond_rs: u32,
    cond_cs: u32,
}

@group(0) @binding(0) var<uniform> fp: FrameParams;
@group(0) @binding(0) var<uniform> mp: MlpParams;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> sw: array<f32>;
@group(0) @binding(2) var<storage, read> hist_ro: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<storage, read_write> x_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> act: array<f32>;
@group(0) @binding(5) var<storage, read> ctl: SrnnControls;
@group(0) @binding(6) var<storage, read> given: array<f32>;
@group(0) @binding(7) var<storage, read_write> trace: array<f32>;

var<workgroup> pick: atomic<u32>;
var<workgroup> last: atomic<u32>;
var<workgroup> row_tok: u32;

// The frame tiers' reading of a token: 2 * (x / (q/2) - 1).
fn deq(tok: u32, levels: u32) -> f32 {
    return 2.0 * (f32(tok) / (0.5 * f32(levels)) - 1.0);
}

// x[s, d] = Σ_i W_exp[d, i]·deq(hist[row0 + i, s]) + b_exp[d] (+ up[cond ...]).
@compute @workgroup_size(64)
fn srnn_frame_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d = gid.x;
    let s = gid.y;
    if (d >= fp.dim || s >= fp.streams) { return; }
    var acc = 0.0;
    for (var i = 0u; i < fp.n; i++) {
        let tok = hist_ro[(fp.row0 + i) * fp.streams + s];
        acc += w[fp.wexp_off + d * fp.n + i] * deq(tok, fp.levels);
    }
    var x = acc + w[fp.bexp_off + d];
    if (fp.cond != 0u) { x += up[fp.cond_off + s * fp.cond_rs + d * fp.cond_cs]; }
    x_out[fp.x_off + s * fp.dim + d] = x;
}

// act[y_off + o] = Σ_d Wᵀ[d, o]·act[x_off + d] + b[o] for o < n (relu'd), Wᵀ [k, n] in sw.
fn dense(tid: u32, x_off: u32, w_off: u32, b_off: u32, k: u32, n: u32, y_off: u32, relu: bool) {
    for (var o = tid; o < n; o += 256u) {
        var acc = 0.0;
        for (var d = 0u; d < k; d++) { acc += sw[w_off + d * n + o] * act[x_off + d]; }
        acc += sw[b_off + o];
        act[y_off + o] = select(acc, max(acc, 0.0), relu);
    }
}

// The token drawn from the q logits at act[lg ..] with uniform u: argmax (lowest index) at
// temperature 0, else the first v whose running sum of exp((l - max) / T) exceeds u·Σ (the
// last positive weight if rounding leaves none). All 256 invocations must call it.
fn srnn_draw(lane: Lane, lg: u32, q: u32, u: f32) -> u32 {
    let tid = lane.tid;
    var m = -3.4e38;
    for (var v = tid; v < q; v += 256u) { m = max(m, act[lg + v]); }
    m = wg_max(lane, m);
    if (tid == 0u) {
        atomicStore(&pick, q);
        atomicStore(&last, 0u);
    }
    workgroupBarrier();
    let temp = ctl.temperature;
    if (temp <= 0.0) {
        for (var v = tid; v < q; v += 256u) { if (act[lg + v] == m) { atomicMin(&pick, v); } }
        return min(workgroupUniformLoad(&pick), q - 1u);
    }
    var wsum = 0.0;
    for (var v = tid; v < q; v += 256u) {
        let wv = exp((act[lg + v] - m) / temp);
        wsum += wv;
        if (wv > 0.0) { atomicMax(&last, v); }
    }
    let target_ = u * wg_sum(lane, wsum);
    // Inclusive scan in chunks of 256 levels; the invocation whose interval holds the
    // target picks.
    var offset = 0.0;
    let rank = scan_rank(lane);
    for (var c = 0u; c < q; c += 256u) {
        let v = c + rank;
        var wv = 0.0;
        if (v < q) { wv = exp((act[lg + v] - m) / temp); }
        let scan = wg_scan(lane, wv);
        let incl = offset + scan.x;
        if (wv > 0.0 && incl - wv <= target_ && target_ < incl) { atomicMin(&pick, v); }
        offset += scan.y;
    }
    let t = workgroupUniformLoad(&pick);
    if (t < q) { return t; }
    return atomicLoad(&last);
}

// The MLP and the draw of sample j of the period for stream wid.x. act holds per stream
// [a (D), a2 (D), logits (q)].
@compute @workgroup_size(256)
fn srnn_mlp_draw(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lane.tid;
    let s = wid.x;
    let S = mp.streams;
    let D = mp.dim;
    let q = mp.levels;
    let a_off = s * (2u * D + q);
    let lg = a_off + 2u * D;
    let c_row = mp.cond_off + s * mp.cond_rs;
    for (var d = tid; d < D; d += 256u) {
        var a = up[c_row + d * mp.cond_cs];
        for (var i = 0u; i < mp.fs0; i++) {
            let tok = min(hist[(mp.tok_row + i) * S + s], q - 1u);
            a += sw[mp.table_off + (i * q + tok) * D + d];
        }
        act[a_off + d] = max(a, 0.0);
    }
    storageBarrier();
    dense(tid, a_off, mp.whid_off, mp.bhid_off, D, D, a_off + D, true);
    storageBarrier();
    dense(tid, a_off + D, mp.wout_off, mp.bout_off, D, q, lg, false);
    storageBarrier();
    let pos = ctl.pos + mp.j;
    if (pos < ctl.trace_len) {
        let tr = (pos * S + s) * (q + D);
        for (var v = tid; v < q; v += 256u) { trace[tr + v] = act[lg + v]; }
        for (var d = tid; d < D; d += 256u) { trace[tr + q + d] = up[c_row + d * mp.cond_cs]; }
    }
    if (tid == 0u) { row_tok = hist[mp.out_row * S + s]; }
    if (workgroupUniformLoad(&row_tok) != NONE) { return; }
    let step = pos - ctl.primed;
    var u = 0.0;
    if (step < ctl.given_len) {
        u = given[step * S + s];
    } else {
        u = counter_uniform(ctl.seed_lo, ctl.seed_hi, s, step);
    }
    let t = srnn_draw(lane, lg, q, u);
    if (tid == 0u) { hist[mp.out_row * S + s] = t; }
}
