// One GRU time step for one layer, fused: gh = h_{t-1}·W_hhᵀ + b_hh for the three gates of
// a block of hidden units, the gate nonlinearities and the state update, in one dispatch.
//   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), h = (1-z)·n + z·h_prev
// gi (input projection with b_ih) was computed for all steps by one GEMM beforehand.
// Saves r, z, n and gh_n per position for the backward step.
// Tile: 8 batch rows x 32 hidden units per workgroup, K in chunks of 32; every global
// access is guarded (the module runs without runtime bounds checks).

struct Params {
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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gi: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;

const TB: u32 = 8u;
const TJ: u32 = 32u;
const TK: u32 = 32u;

var<workgroup> hs: array<f32, 256>;       // [TB][TK]
var<workgroup> ws: array<f32, 3168>;      // [3][TJ][TK + 1], padded against bank conflicts

// The h tile (one element per thread, contiguous along k) and W tile (3 gates x 32 rows x
// 32 k, twelve elements per thread, contiguous along k) of chunk k0, zero outside the shape.
fn load_tiles(k0: u32, tid: u32, wid: vec3<u32>, hv: ptr<function, f32>, wv: ptr<function, array<f32, 12>>) {
    let H = p.hidden;
    let hb = wid.y * TB + tid / TK;
    let hk = k0 + tid % TK;
    var x = 0.0;
    if (hb < p.batch && hk < H) { x = hseq[p.hprev_off + hb * H + hk]; }
    *hv = x;
    for (var r = 0u; r < 12u; r++) {
        let e = tid + r * 256u;
        let g = e / 1024u;
        let row = (e / TK) % TJ;
        let kk = e % TK;
        let wj = wid.x * TJ + row;
        var y = 0.0;
        if (wj < H && k0 + kk < H) { y = w[p.whh_off + (g * H + wj) * H + k0 + kk]; }
        (*wv)[r] = y;
    }
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
        hs[tid] = hv;
        for (var r = 0u; r < 12u; r++) {
            let e = tid + r * 256u;
            ws[((e / 1024u) * TJ + (e / TK) % TJ) * (TK + 1u) + e % TK] = wv[r];
        }
        workgroupBarrier();
        if (k0 + TK < H) { load_tiles(k0 + TK, tid, wid, &hv, &wv); }
        for (var kk = 0u; kk < TK; kk++) {
            let h = hs[bi * TK + kk];
            acc += h * vec3<f32>(ws[ji * (TK + 1u) + kk],
                                 ws[(TJ + ji) * (TK + 1u) + kk],
                                 ws[(2u * TJ + ji) * (TK + 1u) + kk]);
        }
        workgroupBarrier();
    }
    if (b >= p.batch || j >= H) { return; }
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
