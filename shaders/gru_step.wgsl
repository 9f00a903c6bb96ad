// One GRU time step for one layer, fused: gh = h_{t-1}·W_hhᵀ + b_hh for the three gates of
// a block of hidden units, the gate nonlinearities and the state update, in one dispatch.
//   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), h = (1-z)·n + z·h_prev
// gi (input projection with b_ih) was computed for all steps by one GEMM beforehand.
// Saves r, z, n and gh_n per position for the backward step.
// Tile: 8 batch rows x 32 hidden units per workgroup, K in chunks of 32; every global
// access is guarded (the module runs without runtime bounds checks).

struct StepParams {
    batch: u32,
    hidden: u32,
    gi_off: u32,     // gi row of (t, b=0); rows are 3H wide
    hprev_off: u32,  // h_{t-1} row of b=0 in hseq; rows are H wide
    hout_off: u32,   // h_t row of b=0 in hseq
    gate_off: u32,   // gates row of (t, b=0); rows are 4H wide: r, z, n, gh_n
    whh_off: u32,    // W_hh [3H, H] in params
    bhh_off: u32,    // b_hh [3H] in params
    save: u32,       // 1: write gates (training); 0: inference only
}

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> gi: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;

const TB: u32 = 8u;
const TJ: u32 = 32u;
const TK: u32 = 32u;

var<workgroup> hs: array<f32, 256>;       // [TB][TK]
var<workgroup> ws: array<f32, 3168>;      // [3][TJ][TK + 1], padded against bank conflicts

// Twelve elements per thread of the W tile of chunk k0 (3 gates x TJ rows x TK columns of a
// [3H, K] row-major matrix at w_off, contiguous along k), zero outside the shape.
// (The helpers take shapes as arguments: gru_step and gru_cell have different uniforms.)
fn load_w_tile(k0: u32, K: u32, H: u32, w_off: u32, tid: u32, wid: vec3<u32>, wv: ptr<function, array<f32, 12>>) {
    for (var r = 0u; r < 12u; r++) {
        let e = tid + r * 256u;
        let g = e / 1024u;
        let row = (e / TK) % TJ;
        let kk = e % TK;
        let wj = wid.x * TJ + row;
        var y = 0.0;
        if (wj < H && k0 + kk < K) { y = w[w_off + (g * H + wj) * K + k0 + kk]; }
        (*wv)[r] = y;
    }
}

// The element of the [TB, TK] input tile this thread loads: (batch row, k).
fn x_tile_at(k0: u32, tid: u32, wid: vec3<u32>) -> vec2<u32> {
    return vec2<u32>(wid.y * TB + tid / TK, k0 + tid % TK);
}

// Puts this thread's share of the next chunk into workgroup memory.
fn stage_tiles(tid: u32, hv: f32, wv: ptr<function, array<f32, 12>>) {
    hs[tid] = hv;
    for (var r = 0u; r < 12u; r++) {
        let e = tid + r * 256u;
        ws[((e / 1024u) * TJ + (e / TK) % TJ) * (TK + 1u) + e % TK] = (*wv)[r];
    }
}

// acc + (r, z, n) products of batch row bi and unit ji over the staged chunk.
fn mac_tile(bi: u32, ji: u32, acc: vec3<f32>) -> vec3<f32> {
    var a = acc;
    for (var kk = 0u; kk < TK; kk++) {
        let h = hs[bi * TK + kk];
        a += h * vec3<f32>(ws[ji * (TK + 1u) + kk],
                           ws[(TJ + ji) * (TK + 1u) + kk],
                           ws[(2u * TJ + ji) * (TK + 1u) + kk]);
    }
    return a;
}

fn load_tiles(k0: u32, tid: u32, wid: vec3<u32>, hv: ptr<function, f32>, wv: ptr<function, array<f32, 12>>) {
    let H = p.hidden;
    let at = x_tile_at(k0, tid, wid);
    var x = 0.0;
    if (at.x < p.batch && at.y < H) { x = hseq[p.hprev_off + at.x * H + at.y]; }
    *hv = x;
    load_w_tile(k0, H, H, p.whh_off, tid, wid, wv);
}

@compute @workgroup_size(256)
fn gru_step(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = p.hidden;
    let bi = tid / TJ;
    let ji = tid % TJ;
    let b = wid.y * TB + bi;
    let j = wid.x * TJ + ji;
    var acc = vec3<f32>(0.0);
    // Registers hold the next chunk's tiles while the current one is multiplied, so the
    // global-memory latency overlaps the arithmetic.
    var hv: f32;
    var wv: array<f32, 12>;
    load_tiles(0u, tid, wid, &hv, &wv);
    for (var k0 = 0u; k0 < H; k0 += TK) {
        stage_tiles(tid, hv, &wv);
        workgroupBarrier();
        if (k0 + TK < H) { load_tiles(k0 + TK, tid, wid, &hv, &wv); }
        acc = mac_tile(bi, ji, acc);
        workgroupBarrier();
    }
    if (b >= p.batch || j >= H) { return; }
    finish_step(b, j, acc);
}

// The gates and the new state of row b, unit j, from gh - b_hh = acc (r, z, n).
fn finish_step(b: u32, j: u32, acc: vec3<f32>) {
    let H = p.hidden;
    let gi_row = p.gi_off + b * 3u * H;
    let r = sigmoid(gi[gi_row + j] + acc.x + w[p.bhh_off + j]);
    let z = sigmoid(gi[gi_row + H + j] + acc.y + w[p.bhh_off + H + j]);
    let ghn = acc.z + w[p.bhh_off + 2u * H + j];
    let n = tanh_stable(gi[gi_row + 2u * H + j] + r * ghn);
    let hprev = hseq[p.hprev_off + b * H + j];
    hseq[p.hout_off + b * H + j] = (1.0 - z) * n + z * hprev;
    if (p.save != 0u) {
        let g_row = p.gate_off + b * 4u * H;
        gates[g_row + j] = r;
        gates[g_row + H + j] = z;
        gates[g_row + 2u * H + j] = n;
        gates[g_row + 3u * H + j] = ghn;
    }
}

// ---------------------------------------------------------------------------------------
// The same step for small batches, where gru_step's 8-row tiles leave a large GPU mostly
// idle (16 workgroups for B <= 8 at H = 512): a workgroup takes SU units of one batch row
// and splits K over SS slices of threads, which read h and W_hh straight from memory
// (neighbouring threads, neighbouring k) four k at a time; a tree adds the slices.
// Grid: (ceil(H / SU), B).

const SU: u32 = 4u;
const SS: u32 = 64u;
var<workgroup> sred: array<f32, 768>; // [3 gates][SU][SS]

@compute @workgroup_size(256)
fn gru_step_sliced(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = p.hidden;
    let s = tid % SS;
    let u = tid / SS;
    let b = wid.y;
    let j = wid.x * SU + u;
    var acc = vec3<f32>(0.0);
    if (j < H && b < p.batch) {
        let hrow = p.hprev_off + b * H;
        let wr = p.whh_off + j * H;
        let wz = wr + H * H;
        let wn = wz + H * H;
        var k = s;
        for (; k + 3u * SS < H; k += 4u * SS) {
            var x: vec4<f32>;
            var a: vec4<f32>;
            var c: vec4<f32>;
            var d: vec4<f32>;
            for (var q = 0u; q < 4u; q++) {
                let kq = k + q * SS;
                x[q] = hseq[hrow + kq];
                a[q] = w[wr + kq];
                c[q] = w[wz + kq];
                d[q] = w[wn + kq];
            }
            acc += vec3<f32>(dot(x, a), dot(x, c), dot(x, d));
        }
        for (; k < H; k += SS) {
            acc += hseq[hrow + k] * vec3<f32>(w[wr + k], w[wz + k], w[wn + k]);
        }
    }
    for (var g = 0u; g < 3u; g++) { sred[(g * SU + u) * SS + s] = acc[g]; }
    for (var stride = SS / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (s < stride) {
            for (var g = 0u; g < 3u; g++) {
                sred[(g * SU + u) * SS + s] += sred[(g * SU + u) * SS + s + stride];
            }
        }
    }
    workgroupBarrier();
    if (s != 0u || j >= H || b >= p.batch) { return; }
    finish_step(b, j, vec3<f32>(sred[u * SS], sred[(SU + u) * SS], sred[(2u * SU + u) * SS]));
}

// ---------------------------------------------------------------------------------------
// One layer, one sampling step of many streams, tiled as gru_step: the input product
// x·W_ihᵀ (x = the layer below's new state) and h·W_hhᵀ through the same staged tiles, then
// the gates. Layer 0 (inp = 0) takes its input projection from the table (embedding·W_ihᵀ
// + b_ih, one row per token) instead. Weights in PyTorch's [3H, K] layout.

struct GruCellParams {
    streams: u32,
    hidden: u32,
    inp: u32,        // input width; 0: layer 0, from the table
    x_off: u32,      // input rows [S, inp] in h (the layer below, this step)
    hprev_off: u32,  // [S, H] in h_in
    hout_off: u32,   // [S, H] in h
    wih_off: u32,    // W_ih [3H, inp] in w
    whh_off: u32,    // W_hh [3H, H] in w
    bih_off: u32,
    bhh_off: u32,
    table_off: u32,  // layer 0: [V, 3H] in table
    tok_off: u32,    // layer 0: this step's token row in hist
    vocab: u32,
}

@group(0) @binding(0) var<uniform> cp: GruCellParams;
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(3) var<storage, read> h_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;
@group(0) @binding(5) var<storage, read> table: array<f32>;

// Σ_k x[b, k]·W[g*H + j, k] for the three gates, x = h (the layer below) or h_in.
fn cell_product(K: u32, x_off: u32, from_below: bool, w_off: u32, tid: u32, wid: vec3<u32>) -> vec3<f32> {
    let H = cp.hidden;
    var acc = vec3<f32>(0.0);
    var hv: f32;
    var wv: array<f32, 12>;
    if (K > 0u) { load_cell_tiles(0u, K, x_off, from_below, w_off, tid, wid, &hv, &wv); }
    for (var k0 = 0u; k0 < K; k0 += TK) {
        stage_tiles(tid, hv, &wv);
        workgroupBarrier();
        if (k0 + TK < K) { load_cell_tiles(k0 + TK, K, x_off, from_below, w_off, tid, wid, &hv, &wv); }
        acc = mac_tile(tid / TJ, tid % TJ, acc);
        workgroupBarrier();
    }
    return acc;
}

fn load_cell_tiles(k0: u32, K: u32, x_off: u32, from_below: bool, w_off: u32, tid: u32, wid: vec3<u32>, hv: ptr<function, f32>, wv: ptr<function, array<f32, 12>>) {
    let at = x_tile_at(k0, tid, wid);
    var x = 0.0;
    if (at.x < cp.streams && at.y < K) {
        let i = x_off + at.x * K + at.y;
        if (from_below) { x = h[i]; } else { x = h_in[i]; }
    }
    *hv = x;
    load_w_tile(k0, K, cp.hidden, w_off, tid, wid, wv);
}

@compute @workgroup_size(256)
fn gru_cell(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = cp.hidden;
    let gi_in = cell_product(cp.inp, cp.x_off, true, cp.wih_off, tid, wid);
    let gh = cell_product(H, cp.hprev_off, false, cp.whh_off, tid, wid);
    let b = wid.y * TB + tid / TJ;
    let j = wid.x * TJ + tid % TJ;
    if (b >= cp.streams || j >= H) { return; }
    var gi: vec3<f32>;
    if (cp.inp == 0u) {
        let row = cp.table_off + min(hist[cp.tok_off + b], cp.vocab - 1u) * 3u * H;
        gi = vec3<f32>(table[row + j], table[row + H + j], table[row + 2u * H + j]);
    } else {
        gi = gi_in + vec3<f32>(w[cp.bih_off + j], w[cp.bih_off + H + j], w[cp.bih_off + 2u * H + j]);
    }
    let r = sigmoid(gi.x + gh.x + w[cp.bhh_off + j]);
    let z = sigmoid(gi.y + gh.y + w[cp.bhh_off + H + j]);
    let n = tanh_stable(gi.z + r * (gh.z + w[cp.bhh_off + 2u * H + j]));
    let hprev = h_in[cp.hprev_off + b * H + j];
    h[cp.hout_off + b * H + j] = (1.0 - z) * n + z * hprev;
}
