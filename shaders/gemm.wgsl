// General matrix product C = A·B (+ bias) (+ C), any shape and any strides.
//   A[i, k] = a[a_off + i*a_rs + k*a_cs]    (M x K)
//   B[k, j] = b[b_off + k*b_rs + j*b_cs]    (K x N)
//   C[i, j] = c[c_off + i*c_rs + j]         (M x N)
// Strides let one kernel serve X·Wᵀ, dY·W and dYᵀ·X without transposed copies.
// 64x64 output tile per workgroup, 4x4 per thread, K in chunks of 16 through workgroup
// memory held as vec4s. Every global access is guarded against M, N and K, so ragged shapes stay in
// bounds (the module is compiled without runtime bounds checks).

struct GemmParams {
    m: u32, n: u32, k: u32,
    a_off: u32, a_rs: u32, a_cs: u32,
    b_off: u32, b_rs: u32, b_cs: u32,
    c_off: u32, c_rs: u32,
    bias_off: u32,
    flags: u32, // bit 0: add bias[j]; bit 1: accumulate into C
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const BK: u32 = 16u;

// Tiles in workgroup memory as vec4s so one load feeds four FMAs:
// As[kk][q] = rows 4q..4q+3 of column kk of the A tile; Bs[kk][q] = columns 4q..4q+3.
var<workgroup> As: array<vec4<f32>, 256>; // [BK][TILE / 4], or [BK8][BIG / 4] in gemm_128
var<workgroup> Bs: array<vec4<f32>, 256>; // [BK][TILE / 4], or [BK8][BIG / 4]

fn load_a(i: u32, kk: u32) -> f32 {
    if (i < p.m && kk < p.k) { return a[p.a_off + i * p.a_rs + kk * p.a_cs]; }
    return 0.0;
}

fn load_b(kk: u32, j: u32) -> f32 {
    if (j < p.n && kk < p.k) { return b[p.b_off + kk * p.b_rs + j * p.b_cs]; }
    return 0.0;
}

// Fills one vec4 of each tile for the chunk at k0 (quads x bk = 256 vec4s per tile):
// As[kk][q] = rows 4q..4q+3 of column kk of A's tile, Bs[kk][q] = columns 4q..4q+3 of B's.
// Which element a thread takes follows the operand's contiguous dimension, so neighbouring
// threads read neighbouring addresses.
fn stage_tiles(tid: u32, k0: u32, row0: u32, col0: u32, quads: u32, bk: u32) {
    var q: u32; var kk: u32;
    if (p.a_cs == 1u) { kk = tid % bk; q = tid / bk; } else { q = tid % quads; kk = tid / quads; }
    let i = row0 + 4u * q;
    As[kk * quads + q] = vec4<f32>(load_a(i, k0 + kk), load_a(i + 1u, k0 + kk),
                                   load_a(i + 2u, k0 + kk), load_a(i + 3u, k0 + kk));
    var qb: u32; var kb: u32;
    if (p.b_cs == 1u) { qb = tid % quads; kb = tid / quads; } else { kb = tid % bk; qb = tid / bk; }
    let j = col0 + 4u * qb;
    Bs[kb * quads + qb] = vec4<f32>(load_b(k0 + kb, j), load_b(k0 + kb, j + 1u),
                                    load_b(k0 + kb, j + 2u), load_b(k0 + kb, j + 3u));
}

@compute @workgroup_size(16, 16)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    // Thread (tx, ty) owns rows row0 + 4ty .. +3 and columns col0 + 4tx .. +3.
    var acc: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        stage_tiles(tid, k0, row0, col0, TILE / 4u, BK);
        workgroupBarrier();
        for (var kk2 = 0u; kk2 < BK; kk2++) {
            let av = As[kk2 * 16u + ty];
            let bv = Bs[kk2 * 16u + tx];
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        store_row4(row0 + 4u * ty + r, col0 + 4u * tx, acc[r]);
    }
}

// C[i, j..j+3] = v (+ bias) (+ C), each element guarded against M and N.
fn store_row4(i: u32, j: u32, v: vec4<f32>) {
    if (i >= p.m) { return; }
    for (var c4 = 0u; c4 < 4u; c4++) {
        let jj = j + c4;
        if (jj >= p.n) { return; }
        var x = v[c4];
        if ((p.flags & 1u) != 0u) { x += bias[p.bias_off + jj]; }
        let ci = p.c_off + i * p.c_rs + jj;
        if ((p.flags & 2u) != 0u) { x += c[ci]; }
        c[ci] = x;
    }
}

// ---------------------------------------------------------------------------------------
// The same product with a 128x128 output tile per workgroup and 8x8 per thread (rows
// 4ty..+3 and 64+4ty..+3, columns likewise), K in chunks of 8: twice the arithmetic per
// workgroup-memory load of the 64x64 tile, for large outputs. Kernels::record_gemm picks
// between the two per shape.

const BIG: u32 = 128u;
const BK8: u32 = 8u;

@compute @workgroup_size(16, 16)
fn gemm_128(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let row0 = wid.y * BIG;
    let col0 = wid.x * BIG;
    var acc: array<vec4<f32>, 16>; // [8 rows][2 column quads]
    for (var r = 0u; r < 16u; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK8) {
        stage_tiles(tid, k0, row0, col0, BIG / 4u, BK8);
        workgroupBarrier();
        for (var kk2 = 0u; kk2 < BK8; kk2++) {
            let a0 = As[kk2 * 32u + ty];
            let a1 = As[kk2 * 32u + 16u + ty];
            let b0 = Bs[kk2 * 32u + tx];
            let b1 = Bs[kk2 * 32u + 16u + tx];
            acc[0] += a0.x * b0; acc[1] += a0.x * b1;
            acc[2] += a0.y * b0; acc[3] += a0.y * b1;
            acc[4] += a0.z * b0; acc[5] += a0.z * b1;
            acc[6] += a0.w * b0; acc[7] += a0.w * b1;
            acc[8] += a1.x * b0; acc[9] += a1.x * b1;
            acc[10] += a1.y * b0; acc[11] += a1.y * b1;
            acc[12] += a1.z * b0; acc[13] += a1.z * b1;
            acc[14] += a1.w * b0; acc[15] += a1.w * b1;
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        store_row4(row0 + 4u * ty + r, col0 + 4u * tx, acc[2u * r]);
        store_row4(row0 + 4u * ty + r, col0 + 64u + 4u * tx, acc[2u * r + 1u]);
        store_row4(row0 + 64u + 4u * ty + r, col0 + 4u * tx, acc[8u + 2u * r]);
        store_row4(row0 + 64u + 4u * ty + r, col0 + 64u + 4u * tx, acc[8u + 2u * r + 1u]);
    }
}
