// Backward of one GRU time step for one layer, fused into one dispatch.
// With dh_t = dh_out[t] + z_{t+1}·dh_{t+1} + (dgh_{t+1}·W_hh)   (the recurrent carry):
//   dn = dh(1-z), dz = dh(h_prev - n), dn_pre = dn(1-n²), dr = dn_pre·gh_n
//   dgi_t = [dr·r(1-r), dz·z(1-z), dn_pre],  dgh_t = [dr·r(1-r), dz·z(1-z), dn_pre·r]
// The last dispatch of a window (final = 1) only forms the carry into h0: grad of h0.
// dhs keeps dh of every step: slot t+1 holds dh_t, slot 0 the gradient of h0.
// Tile: 8 batch rows x 32 hidden units, the 3H-long product in chunks of 32.

struct Params {
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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> hseq: array<f32>;
@group(0) @binding(4) var<storage, read> dh_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgi: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgh: array<f32>;
@group(0) @binding(7) var<storage, read_write> dhs: array<f32>;

const TB: u32 = 8u;
const TJ: u32 = 32u;
const TK: u32 = 32u;

// Tiles as vec4s along k so one workgroup-memory load feeds four FMAs; rows padded to 9.
var<workgroup> gs: array<vec4<f32>, 64>;   // [TB][TK / 4] of dgh_{t+1}
var<workgroup> ws: array<vec4<f32>, 288>;  // [TJ][TK / 4 + 1] of W_hh (k along the vec4)

fn dgh_at(b: u32, k: u32) -> f32 {
    if (b < p.batch && k < 3u * p.hidden) { return dgh[p.next_gh_off + b * 3u * p.hidden + k]; }
    return 0.0;
}

fn w_at(k: u32, j: u32) -> f32 {
    if (k < 3u * p.hidden && j < p.hidden) { return w[p.whh_off + k * p.hidden + j]; }
    return 0.0;
}

// Chunk k0's tiles into registers: threads 0..63 one vec4 of dgh_{t+1} (4 consecutive k of
// one batch row); every thread one vec4 of W_hh (column j, 4 consecutive rows k).
fn load_tiles(k0: u32, tid: u32, wid: vec3<u32>, gv: ptr<function, vec4<f32>>, wv: ptr<function, vec4<f32>>) {
    if (tid < 64u) {
        let b = wid.y * TB + tid / 8u;
        let k = k0 + 4u * (tid % 8u);
        *gv = vec4<f32>(dgh_at(b, k), dgh_at(b, k + 1u), dgh_at(b, k + 2u), dgh_at(b, k + 3u));
    }
    let j = wid.x * TJ + tid % TJ;
    let k = k0 + 4u * (tid / TJ);
    *wv = vec4<f32>(w_at(k, j), w_at(k + 1u, j), w_at(k + 2u, j), w_at(k + 3u, j));
}

@compute @workgroup_size(256)
fn gru_step_backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let H = p.hidden;
    let H3 = 3u * H;
    let bi = tid / TJ;
    let ji = tid % TJ;
    let b = wid.y * TB + bi;
    let j = wid.x * TJ + ji;
    var acc = 0.0;
    if (p.has_next != 0u) {
        // Next chunk's tiles in registers while the current one is multiplied.
        var gv = vec4<f32>(0.0);
        var wv: vec4<f32>;
        load_tiles(0u, tid, wid, &gv, &wv);
        for (var k0 = 0u; k0 < H3; k0 += TK) {
            if (tid < 64u) { gs[tid] = gv; }
            ws[(tid % TJ) * 9u + tid / TJ] = wv;
            workgroupBarrier();
            if (k0 + TK < H3) { load_tiles(k0 + TK, tid, wid, &gv, &wv); }
            for (var q = 0u; q < 8u; q++) {
                acc += dot(gs[bi * 8u + q], ws[ji * 9u + q]);
            }
            workgroupBarrier();
        }
    }
    if (b >= p.batch || j >= H) { return; }
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
