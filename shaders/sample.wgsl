// Autoregressive generation. Per token step: one dispatch per layer (sample_cell), one for
// the head's logits (sample_logits) and one for the draw (sample_draw). With one or two
// streams on a GPU the draw instead runs at the start of the next step's layer-0 dispatch,
// redundantly in each of its workgroups (same inputs, same arithmetic, same token), which
// saves a dependent dispatch per token; only the block's last step then draws on its own.
// GRU weights are stored transposed ([in, 3H]) so neighbouring threads read neighbouring
// addresses; layer 0 reads its input projection from a table computed once
// (embedding·W_ihᵀ + b_ih), which is exact. Tokens are drawn with a counter-based hash of
// (seed, stream, step): no host round trip.
//
// Bindings (a kernel binds those it uses; a buffer it only reads is bound read-only, which
// lets the driver use its read-only cache path):
//   1 w: weights               2 hist: token history [block+1, S]
//   3 h_in: state being read   4 h: state being written (read by sample_logits)
//   5 ctl: controls            6 logits [S, V]
//   7 notes: per-stream note state of perf388 models [S, NOTE_WORDS] (draws only)

struct Controls {
    seed_lo: u32,
    seed_hi: u32,
    base_step: u32,    // steps drawn before this block
    top_k: u32,        // 0: off
    temperature: f32,  // 0: argmax
    note_rules: u32,   // 1: perf388 note rules (MIDI_TOKENS.md ids), 0: free sampling
    max_hold: u32,     // steps of 10 ms a note may sound before its NOTE_OFF is forced
}

@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> hist_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
@group(0) @binding(3) var<storage, read> h_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;
@group(0) @binding(4) var<storage, read> h_top: array<f32>;
@group(0) @binding(5) var<storage, read> ctl: Controls;
@group(0) @binding(6) var<storage, read_write> logits_out: array<f32>;
@group(0) @binding(6) var<storage, read> scratch: array<f32>;

@group(0) @binding(7) var<storage, read_write> notes: array<u32>;

var<workgroup> pick: atomic<u32>;
var<workgroup> drawn: array<u32, 4>;
var<workgroup> force: u32;
var<workgroup> shift_cap: u32;

// Note state of a stream: per pitch its start time + 1 (0: silent), then the current time,
// in 10 ms steps. Mirrored by gruwave::sample::NoteState.
const NOTE_WORDS: u32 = 129u;
const NOTE_NOW: u32 = 128u;

// Whether `stream` may draw token v: under the note rules a NOTE_ON needs a silent pitch
// and a NOTE_OFF a sounding one, so decoding never stacks or drops notes, and a TIME_SHIFT
// may not carry the longest-held note past max_hold (shift_cap, set by draw_token).
fn allowed(stream: u32, v: u32) -> bool {
    if (ctl.note_rules == 0u) { return true; }
    let base = stream * NOTE_WORDS;
    if (v < 128u) { return notes[base + v] == 0u; }
    if (v < 256u) { return notes[base + v - 128u] != 0u; }
    if (v < 356u) { return v - 255u <= shift_cap; }
    return true;
}

// The NOTE_OFF forced on `stream`: of the notes held max_hold steps or more, the one that
// started first (the lower pitch on ties); `none` when there is none or rules are off.
// Also sets shift_cap: the longest TIME_SHIFT that keeps every note within max_hold.
fn forced_off(stream: u32, none: u32) -> u32 {
    shift_cap = 100u;
    if (ctl.note_rules == 0u) { return none; }
    let base = stream * NOTE_WORDS;
    let now = notes[base + NOTE_NOW];
    var best = none;
    var first = 0xffffffffu;
    for (var q = 0u; q < 128u; q++) {
        let s = notes[base + q];
        if (s != 0u && s < first) {
            first = s;
            if (now - (s - 1u) >= ctl.max_hold) { best = 128u + q; }
        }
    }
    if (first != 0xffffffffu) {
        let held = now - (first - 1u);
        shift_cap = select(0u, min(100u, ctl.max_hold - held), held < ctl.max_hold);
    }
    return best;
}

// The note state after `stream` drew token t.
fn note_update(stream: u32, t: u32) {
    let base = stream * NOTE_WORDS;
    if (t < 128u) {
        notes[base + t] = notes[base + NOTE_NOW] + 1u;
    } else if (t < 256u) {
        notes[base + t - 128u] = 0u;
    } else if (t < 356u) {
        notes[base + NOTE_NOW] += t - 255u;
    }
}

// Uniform in [0, 1) from (seed, stream, step) (rng.wgsl); mirrored by gruwave::sample::uniform.
fn uniform01(stream: u32, step: u32) -> f32 {
    return counter_uniform(ctl.seed_lo, ctl.seed_hi, stream, step);
}

// Weight of token v: exp((l - m) / T), zero where the note rules forbid it and outside the
// top k of the allowed tokens (ties to the lower index).
fn weight(stream: u32, vocab: u32, v: u32, m: f32) -> f32 {
    let base = stream * vocab;
    if (!allowed(stream, v)) { return 0.0; }
    let l = scratch[base + v];
    let k = ctl.top_k;
    if (k > 0u && k < vocab) {
        var rank = 0u;
        for (var q = 0u; q < vocab; q++) {
            let o = scratch[base + q];
            if ((o > l || (o == l && q < v)) && allowed(stream, q)) { rank++; }
        }
        if (rank >= k) { return 0.0; }
    }
    return exp((l - m) / ctl.temperature);
}

// The token drawn for `stream` at global step `step` from its logits in scratch; the same
// in every workgroup that calls it. Argmax (lowest index on ties) at temperature 0, else
// the first v whose running sum of weights exceeds u·Σ weights. Reads only; all 256
// threads must call it (it synchronises the workgroup).
fn draw_token(lane: Lane, stream: u32, step: u32, vocab: u32) -> u32 {
    let tid = lane.tid;
    let base = stream * vocab;
    if (tid == 0u) { force = forced_off(stream, vocab); }
    let forced = workgroupUniformLoad(&force);
    if (forced < vocab) { return forced; }
    var m = -3.4e38;
    for (var v = tid; v < vocab; v += 256u) {
        if (allowed(stream, v)) { m = max(m, scratch[base + v]); }
    }
    m = wg_max(lane, m);
    if (tid == 0u) { atomicStore(&pick, vocab); }
    workgroupBarrier();
    if (ctl.temperature <= 0.0) {
        for (var v = tid; v < vocab; v += 256u) {
            if (scratch[base + v] == m && allowed(stream, v)) { atomicMin(&pick, v); }
        }
        return min(workgroupUniformLoad(&pick), vocab - 1u);
    }
    var wsum = 0.0;
    for (var v = tid; v < vocab; v += 256u) { wsum += weight(stream, vocab, v, m); }
    let total = wg_sum(lane, wsum);
    let target_ = uniform01(stream, step) * total;
    // Inclusive scan in chunks of 256 tokens; the invocation whose interval holds the
    // target picks. Token c + scan_rank is the one at the scan's rank.
    var offset = 0.0;
    let rank = scan_rank(lane);
    for (var c = 0u; c < vocab; c += 256u) {
        let v = c + rank;
        var wv = 0.0;
        if (v < vocab) { wv = weight(stream, vocab, v, m); }
        let scan = wg_scan(lane, wv);
        let incl = offset + scan.x;
        let excl = incl - wv;
        if (wv > 0.0 && excl <= target_ && target_ < incl) { atomicMin(&pick, v); }
        offset += scan.y;
    }
    var t = workgroupUniformLoad(&pick);
    if (t >= vocab) {
        // Rounding put the target past the last weight: take the last kept token.
        t = 0u;
        for (var v = 0u; v < vocab; v++) { if (weight(stream, vocab, v, m) > 0.0) { t = v; } }
    }
    return t;
}

// ---------------------------------------------------------------------------------------

struct CellParams {
    streams: u32,
    hidden: u32,
    inp: u32,        // input width of this layer (0 for layer 0: the table replaces W_ih·x)
    units: u32,      // hidden units per workgroup (a power of two)
    sb: u32,         // streams per workgroup (<= 4)
    wih_off: u32,    // W_ihᵀ [inp, 3H]
    whh_off: u32,    // W_hhᵀ [H, 3H]
    bih_off: u32,
    bhh_off: u32,
    table_off: u32,  // layer 0: [V, 3H]
    x_off: u32,      // layer input [S, H] in h (layers above 0: the layer below)
    hprev_off: u32,  // [S, H] in h_in
    hout_off: u32,   // [S, H] in h
    tok_off: u32,    // layer 0: input token row in hist
    vocab: u32,
    draw_step: u32,  // sample_cell_draw: the step whose logits give this step's input
    unroll: u32,     // 1: four k per iteration (see mac_part)
}

@group(0) @binding(0) var<uniform> p: CellParams;

var<workgroup> red: array<f32, 6144>; // [slices][units][6 gates][sb streams]

// One layer, one step, for `units` hidden units of `sb` streams: the six 1-by-K products
// (W_ih·x for r, z, n; W_hh·h for r, z, n) split over 256/units slices of K, summed by a
// tree in workgroup memory, then the gates and the state update.
@compute @workgroup_size(256)
fn sample_cell(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    var toks: array<u32, 4>;
    if (p.inp == 0u) {
        let s0 = wid.y * p.sb;
        for (var s = 0u; s < min(p.sb, p.streams - s0); s++) { toks[s] = hist_in[p.tok_off + s0 + s]; }
    }
    cell(tid, wid, toks);
}

// Layer 0 that first draws its input tokens from the previous step's logits (few streams).
// Kept apart from sample_cell so the draw's registers do not weigh on the plain cell.
@compute @workgroup_size(256)
fn sample_cell_draw(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lane.tid;
    let s0 = wid.y * p.sb;
    let ns = min(p.sb, p.streams - s0);
    for (var s = 0u; s < ns; s++) {
        let t = draw_token(lane, s0 + s, ctl.base_step + p.draw_step, p.vocab);
        if (tid == 0u) {
            drawn[s] = t;
            if (wid.x == 0u) { hist[p.tok_off + s0 + s] = t; }
        }
    }
    var toks: array<u32, 4>;
    for (var s = 0u; s < ns; s++) { toks[s] = workgroupUniformLoad(&drawn[s]); }
    cell(tid, wid, toks);
}

// An input element of stream row `i`: from the layer below (this step, in h) or the state
// being read (h_in).
fn x_at(from_below: bool, i: u32) -> f32 {
    if (from_below) { return h[i]; }
    return h_in[i];
}

// acc[(gate0 + g)*4 + s] += Σ_k W[k, g*H + j]·x[s0 + s, k] for the three gates g, over this
// thread's slice of k (k ≡ sl mod slices). With p.unroll, four k per iteration with every
// load issued before the multiply-adds, so the loads' latencies overlap; the sums are the
// same additions in the same order either way.
fn mac_part(K: u32, w_off: u32, x_off: u32, from_below: bool, j: u32, sl: u32, slices: u32,
            s0: u32, ns: u32, gate0: u32, acc: ptr<function, array<f32, 24>>) {
    let H = p.hidden;
    let H3 = 3u * H;
    var k = sl;
    if (p.unroll != 0u) {
        for (; k + 3u * slices < K; k += 4u * slices) {
            var wv: array<vec3<f32>, 4>;
            var xv: array<vec4<f32>, 4>;
            for (var q = 0u; q < 4u; q++) {
                let kq = k + q * slices;
                let row = w_off + kq * H3 + j;
                wv[q] = vec3<f32>(w[row], w[row + H], w[row + 2u * H]);
                for (var s = 0u; s < 4u; s++) {
                    if (s < ns) { xv[q][s] = x_at(from_below, x_off + (s0 + s) * H + kq); }
                }
            }
            for (var q = 0u; q < 4u; q++) {
                for (var s = 0u; s < 4u; s++) {
                    if (s < ns) {
                        (*acc)[gate0 * 4u + s] += wv[q].x * xv[q][s];
                        (*acc)[(gate0 + 1u) * 4u + s] += wv[q].y * xv[q][s];
                        (*acc)[(gate0 + 2u) * 4u + s] += wv[q].z * xv[q][s];
                    }
                }
            }
        }
    }
    for (; k < K; k += slices) {
        let row = w_off + k * H3 + j;
        let wr = w[row];
        let wz = w[row + H];
        let wn = w[row + 2u * H];
        for (var s = 0u; s < 4u; s++) {
            if (s < ns) {
                let x = x_at(from_below, x_off + (s0 + s) * H + k);
                (*acc)[gate0 * 4u + s] += wr * x;
                (*acc)[(gate0 + 1u) * 4u + s] += wz * x;
                (*acc)[(gate0 + 2u) * 4u + s] += wn * x;
            }
        }
    }
}

// `toks`: layer 0's input token of each of the workgroup's streams.
fn cell(tid: u32, wid: vec3<u32>, toks: array<u32, 4>) {
    let H = p.hidden;
    let H3 = 3u * H;
    let slices = 256u / p.units;
    let u = tid % p.units;
    let sl = tid / p.units;
    let j = wid.x * p.units + u;
    let s0 = wid.y * p.sb;
    let ns = min(p.sb, p.streams - s0);
    var acc: array<f32, 24>;
    for (var i = 0u; i < 24u; i++) { acc[i] = 0.0; }
    if (j < H) {
        mac_part(p.inp, p.wih_off, p.x_off, true, j, sl, slices, s0, ns, 0u, &acc);
        mac_part(H, p.whh_off, p.hprev_off, false, j, sl, slices, s0, ns, 3u, &acc);
    }
    // Partial sums of every slice, then a tree over the slices (all threads take part; the
    // order is fixed, so results are deterministic). Layout: red[slice][unit][gate][stream].
    let width = p.units * 6u * p.sb;
    for (var q = 0u; q < 6u; q++) {
        for (var s = 0u; s < 4u; s++) {
            if (s < p.sb) { red[sl * width + (u * 6u + q) * p.sb + s] = acc[q * 4u + s]; }
        }
    }
    for (var stride = slices / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        for (var i = tid; i < stride * width; i += 256u) { red[i] += red[i + stride * width]; }
    }
    workgroupBarrier();
    if (tid >= p.units * ns) { return; }
    let u2 = tid % p.units;
    let s = tid / p.units;
    let j2 = wid.x * p.units + u2;
    if (j2 >= H) { return; }
    var g: array<f32, 6>;
    for (var q = 0u; q < 6u; q++) { g[q] = red[(u2 * 6u + q) * p.sb + s]; }
    let stream = s0 + s;
    var gi_r: f32; var gi_z: f32; var gi_n: f32;
    if (p.inp == 0u) {
        let row = p.table_off + min(toks[s], p.vocab - 1u) * H3;
        gi_r = w[row + j2];
        gi_z = w[row + H + j2];
        gi_n = w[row + 2u * H + j2];
    } else {
        gi_r = g[0] + w[p.bih_off + j2];
        gi_z = g[1] + w[p.bih_off + H + j2];
        gi_n = g[2] + w[p.bih_off + 2u * H + j2];
    }
    let r = sigmoid(gi_r + g[3] + w[p.bhh_off + j2]);
    let z = sigmoid(gi_z + g[4] + w[p.bhh_off + H + j2]);
    let n = tanh_stable(gi_n + r * (g[5] + w[p.bhh_off + 2u * H + j2]));
    let hprev = h_in[p.hprev_off + stream * H + j2];
    h[p.hout_off + stream * H + j2] = (1.0 - z) * n + z * hprev;
}

// ---------------------------------------------------------------------------------------
// logits[s, v] = W_o[v]·h_top[s] + b_o[v]: 256/lanes logits x `lanes` k-lanes per
// workgroup, up to 4 streams each, W_o in its own [V, H] layout (lanes read along k).
// On a GPU few streams want many lanes (short serial loops), many streams fewer (shorter
// trees); a CPU adapter wants one lane (no tree at all).

struct LogitParams {
    streams: u32,
    hidden: u32,
    vocab: u32,
    wo_off: u32,   // W_o [V, H]
    bo_off: u32,
    h_off: u32,    // top layer's new state [S, H] in h
    sb: u32,       // streams per workgroup (<= 4)
    lanes: u32,    // 1, 32 or 64
    unroll: u32,   // 1: four k per iteration, loads first (as mac_part)
}

@group(0) @binding(0) var<uniform> lp: LogitParams;

var<workgroup> lred: array<f32, 1024>; // [256 / lanes logits][4 streams][lanes]

@compute @workgroup_size(256)
fn sample_logits(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = lp.hidden;
    let L = lp.lanes;
    let li = tid / L;
    let lane = tid % L;
    let v = wid.x * (256u / L) + li;
    let s0 = wid.y * lp.sb;
    let ns = min(lp.sb, lp.streams - s0);
    var acc = vec4<f32>(0.0);
    if (v < lp.vocab) {
        var k = lane;
        if (lp.unroll != 0u) {
            for (; k + 3u * L < H; k += 4u * L) {
                var wv: vec4<f32>;
                var xv: array<vec4<f32>, 4>;
                for (var q = 0u; q < 4u; q++) {
                    wv[q] = w[lp.wo_off + v * H + k + q * L];
                    for (var s = 0u; s < 4u; s++) {
                        if (s < ns) { xv[q][s] = h_top[lp.h_off + (s0 + s) * H + k + q * L]; }
                    }
                }
                for (var q = 0u; q < 4u; q++) {
                    for (var s = 0u; s < 4u; s++) {
                        if (s < ns) { acc[s] += wv[q] * xv[q][s]; }
                    }
                }
            }
        }
        for (; k < H; k += L) {
            let wv = w[lp.wo_off + v * H + k];
            for (var s = 0u; s < 4u; s++) {
                if (s < ns) { acc[s] += wv * h_top[lp.h_off + (s0 + s) * H + k]; }
            }
        }
    }
    // Tree over the lanes, in lred as [logits][4 streams][lanes].
    for (var s = 0u; s < 4u; s++) { lred[(li * 4u + s) * L + lane] = acc[s]; }
    for (var stride = L / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (lane < stride) {
            for (var s = 0u; s < 4u; s++) {
                lred[(li * 4u + s) * L + lane] += lred[(li * 4u + s) * L + lane + stride];
            }
        }
    }
    workgroupBarrier();
    if (lane == 0u && v < lp.vocab) {
        for (var s = 0u; s < ns; s++) {
            logits_out[(s0 + s) * lp.vocab + v] = lred[(li * 4u + s) * L] + w[lp.bo_off + v];
        }
    }
}

// ---------------------------------------------------------------------------------------
// A draw in a dispatch of its own, one workgroup per stream: for the block's last step, and
// for every step when there are many streams (each layer-0 workgroup would otherwise draw
// for 4 streams in a row).

struct DrawParams {
    vocab: u32,
    out_off: u32,  // output token row in hist
    step: u32,     // step within the block
}

@group(0) @binding(0) var<uniform> dp: DrawParams;

@compute @workgroup_size(256)
fn sample_draw(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = draw_token(lane, wid.x, ctl.base_step + dp.step, dp.vocab);
    // Every invocation has read the note state; now it may change.
    workgroupBarrier();
    if (lane.tid == 0u) {
        hist[dp.out_off + wid.x] = t;
        if (ctl.note_rules != 0u) { note_update(wid.x, t); }
    }
}
