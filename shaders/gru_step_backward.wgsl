// Backward of one GRU time step for one layer, fused into one dispatch.
// With dh_t = dh_out[t] + z_{t+1}·dh_{t+1} + (dgh_{t+1}·W_hh)   (the recurrent carry):
//   dn = dh(1-z), dz = dh(h_prev - n), dn_pre = dn(1-n²), dr = dn_pre·gh_n
//   dgi_t = [dr·r(1-r), dz·z(1-z), dn_pre],  dgh_t = [dr·r(1-r), dz·z(1-z), dn_pre·r]
// The last dispatch of a window (final = 1) only forms the carry into h0: grad of h0.
// dhs keeps dh of every step: slot t+1 holds dh_t, slot 0 the gradient of h0.
// Tile: 4 batch rows x 32 hidden units, the 3H-long product in chunks of 32 split over
// two halves of the workgroup.

struct StepBackwardParams {
    batch: u32,
    hidden: u32,
    whh_off: u32,
    has_next: u32,   // 1 when step t+1 exists in this window
    final_: u32,     // 1: write only the h0 gradient into dhs slot 0
    next_gh_off: u32,   // dgh row of (t+1, b=0), 3H wide
    next_gate_off: u32, // gates row of (t+1, b=0), 4H wide
    next_dh_off: u32,   // dhs row of (t+1, b=0)
    cur_gi_off: u32,    // dgi/dgh row of (t, b=0)
    cur_gate_off: u32,  // gates row of (t, b=0)
    cur_dh_off: u32,    // dhs row of (t, b=0) (or of h0 when final)
    hprev_off: u32,     // hseq row of h_{t-1}, b=0
    dout_off: u32,      // dh_out row of (t, b=0)
}

@group(0) @binding(0) var<uniform> p: StepBackwardParams;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> hseq: array<f32>;
@group(0) @binding(4) var<storage, read> dh_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgi: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgh: array<f32>;
@group(0) @binding(7) var<storage, read_write> dhs: array<f32>;

const TB: u32 = 4u;
const TJ: u32 = 32u;
const TK: u32 = 32u;

// The 3H-long product is split between two halves of the workgroup (alternate chunks of
// 32), which doubles the threads in flight per output; the halves add up at the end.
var<workgroup> gs: array<f32, 256>;   // [2 halves][TB][TK] of dgh_{t+1}
var<workgroup> ws: array<f32, 2048>;  // [2 halves][TK][TJ] of W_hh rows
var<workgroup> part: array<f32, 256>;

// The tiles of chunks k0 (half 0) and k0 + TK (half 1), zero outside the shape: one dgh
// element and eight W_hh elements per thread, contiguous along k and j respectively.
fn load_tiles(k0: u32, tid: u32, wid: vec3<u32>, gv: ptr<function, f32>, wv: ptr<function, array<f32, 8>>) {
    let H = p.hidden;
    let H3 = 3u * H;
    let gb = wid.y * TB + (tid / TK) % TB;
    let gk = k0 + (tid / 128u) * TK + tid % TK;
    var x = 0.0;
    if (gb < p.batch && gk < H3) { x = dgh[p.next_gh_off + gb * H3 + gk]; }
    *gv = x;
    for (var r = 0u; r < 8u; r++) {
        let e = tid + r * 256u;
        let k = k0 + (e / 1024u) * TK + (e / TJ) % TK;
        let wj = wid.x * TJ + e % TJ;
        var y = 0.0;
        if (k < H3 && wj < H) { y = w[p.whh_off + k * H + wj]; }
        (*wv)[r] = y;
    }
}

@compute @workgroup_size(256)
fn gru_step_backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = p.hidden;
    let H3 = 3u * H;
    let half = tid / 128u;
    let bi = (tid / TJ) % TB;
    let ji = tid % TJ;
    let b = wid.y * TB + bi;
    let j = wid.x * TJ + ji;
    var acc = 0.0;
    if (p.has_next != 0u) {
        // The next chunks' tiles in registers while the current ones are multiplied.
        var gv: f32;
        var wv: array<f32, 8>;
        load_tiles(0u, tid, wid, &gv, &wv);
        for (var k0 = 0u; k0 < H3; k0 += 2u * TK) {
            gs[tid] = gv;
            for (var r = 0u; r < 8u; r++) { ws[tid + r * 256u] = wv[r]; }
            workgroupBarrier();
            if (k0 + 2u * TK < H3) { load_tiles(k0 + 2u * TK, tid, wid, &gv, &wv); }
            for (var kk = 0u; kk < TK; kk++) {
                acc += gs[(half * TB + bi) * TK + kk] * ws[(half * TK + kk) * TJ + ji];
            }
            workgroupBarrier();
        }
    }
    part[tid] = acc;
    workgroupBarrier();
    if (half == 1u) { return; }
    acc += part[tid + 128u];
    if (b >= p.batch || j >= H) { return; }
    finish_backward(b, j, acc);
}

// dh of row b, unit j, from the recurrent product acc = (dgh_{t+1}·W_hh)[b, j], then the
// gate gradients.
fn finish_backward(b: u32, j: u32, acc: f32) {
    let H = p.hidden;
    let H3 = 3u * H;
    var dh = 0.0;
    if (p.has_next != 0u) {
        let zn = gates[p.next_gate_off + b * 4u * H + H + j];
        dh = acc + zn * dhs[p.next_dh_off + b * H + j];
    }
    if (p.final_ != 0u) {
        dhs[p.cur_dh_off + b * H + j] = dh;
        return;
    }
    dh += dh_out[p.dout_off + b * H + j];
    dhs[p.cur_dh_off + b * H + j] = dh;
    let g_row = p.cur_gate_off + b * 4u * H;
    let r = gates[g_row + j];
    let z = gates[g_row + H + j];
    let n = gates[g_row + 2u * H + j];
    let ghn = gates[g_row + 3u * H + j];
    let hprev = hseq[p.hprev_off + b * H + j];
    let dn_pre = dh * (1.0 - z) * (1.0 - n * n);
    let dz_pre = dh * (hprev - n) * z * (1.0 - z);
    let dr_pre = dn_pre * ghn * r * (1.0 - r);
    let row = p.cur_gi_off + b * H3;
    dgi[row + j] = dr_pre;
    dgi[row + H + j] = dz_pre;
    dgi[row + 2u * H + j] = dn_pre;
    dgh[row + j] = dr_pre;
    dgh[row + H + j] = dz_pre;
    dgh[row + 2u * H + j] = dn_pre * r;
}

// ---------------------------------------------------------------------------------------
// The same for small batches (see gru_step_sliced): a workgroup takes BU units of one
// batch row and splits the 3H-long product over BS slices of threads, which read W_hh
// straight from memory (neighbouring threads, neighbouring units) four rows at a time; a
// tree adds the slices. Grid: (ceil(H / BU), B).

const BU: u32 = 8u;
const BS: u32 = 32u;

@compute @workgroup_size(256)
fn gru_step_backward_sliced(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = p.hidden;
    let H3 = 3u * H;
    let u = tid % BU;
    let s = tid / BU;
    let b = wid.y;
    let j = wid.x * BU + u;
    var acc = 0.0;
    if (p.has_next != 0u && j < H && b < p.batch) {
        let grow = p.next_gh_off + b * H3;
        var i = s;
        for (; i + 3u * BS < H3; i += 4u * BS) {
            var g: vec4<f32>;
            var x: vec4<f32>;
            for (var q = 0u; q < 4u; q++) {
                let iq = i + q * BS;
                g[q] = dgh[grow + iq];
                x[q] = w[p.whh_off + iq * H + j];
            }
            acc += dot(g, x);
        }
        for (; i < H3; i += BS) { acc += dgh[grow + i] * w[p.whh_off + i * H + j]; }
    }
    part[tid] = acc;
    for (var stride = BS / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (s < stride) { part[s * BU + u] += part[(s + stride) * BU + u]; }
    }
    workgroupBarrier();
    if (s != 0u || j >= H || b >= p.batch) { return; }
    finish_backward(b, j, part[u]);
}
