// General matrix product C = A·B (+ bias) (+ C), any shape and any strides.
//   A[i, k] = a[a_off + i*a_rs + k*a_cs]    (M x K)
//   B[k, j] = b[b_off + k*b_rs + j*b_cs]    (K x N)
//   C[i, j] = c[c_off + i*c_rs + j]         (M x N)
// Strides let one kernel serve X·Wᵀ, dY·W and dYᵀ·X without transposed copies.
// 64x64 output tile per workgroup, 4x4 per thread, K in chunks of 16 through workgroup
// memory. Every global access is guarded against M, N and K, so ragged shapes stay in
// bounds (the module is compiled without runtime bounds checks).

struct Params {
    m: u32, n: u32, k: u32,
    a_off: u32, a_rs: u32, a_cs: u32,
    b_off: u32, b_rs: u32, b_cs: u32,
    c_off: u32, c_rs: u32,
    bias_off: u32,
    flags: u32, // bit 0: add bias[j]; bit 1: accumulate into C
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> As: array<f32, 1024>; // [BK][TILE]
var<workgroup> Bs: array<f32, 1024>; // [BK][TILE]

@compute @workgroup_size(16, 16)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    let a_k_fast = p.a_cs == 1u;
    let b_j_fast = p.b_cs == 1u;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var r = 0u; r < 4u; r++) {
            let e = tid + r * 256u;
            // Map consecutive threads along whichever dimension is contiguous in memory.
            var i: u32; var kk: u32;
            if (a_k_fast) { kk = e % BK; i = e / BK; } else { i = e % TILE; kk = e / TILE; }
            var va = 0.0;
            if (row0 + i < p.m && k0 + kk < p.k) {
                va = a[p.a_off + (row0 + i) * p.a_rs + (k0 + kk) * p.a_cs];
            }
            As[kk * TILE + i] = va;
            var j: u32; var kb: u32;
            if (b_j_fast) { j = e % TILE; kb = e / TILE; } else { kb = e % BK; j = e / BK; }
            var vb = 0.0;
            if (col0 + j < p.n && k0 + kb < p.k) {
                vb = b[p.b_off + (k0 + kb) * p.b_rs + (col0 + j) * p.b_cs];
            }
            Bs[kb * TILE + j] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let bv = vec4<f32>(Bs[kk * TILE + tx], Bs[kk * TILE + tx + 16u],
                               Bs[kk * TILE + tx + 32u], Bs[kk * TILE + tx + 48u]);
            for (var r = 0u; r < 4u; r++) {
                acc[r] += As[kk * TILE + ty + 16u * r] * bv;
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        let i = row0 + ty + 16u * r;
        if (i >= p.m) { continue; }
        for (var q = 0u; q < 4u; q++) {
            let j = col0 + tx + 16u * q;
            if (j >= p.n) { continue; }
            var v = acc[r][q];
            if ((p.flags & 1u) != 0u) { v += bias[p.bias_off + j]; }
            let ci = p.c_off + i * p.c_rs + j;
            if ((p.flags & 2u) != 0u) { v += c[ci]; }
            c[ci] = v;
        }
    }
}

