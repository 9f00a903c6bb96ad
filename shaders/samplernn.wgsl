// SampleRNN training kernels (docs/SAMPLERNN_SPEC.md): the glue between the GEMMs and GRU
// steps the GRU language model already has. Every kernel is elementwise over a flat index
// (workgroups of 256, grid from `flat_grid`), guarded by its count; the host asserts every
// range the indices reach, so the module runs without runtime bounds checks.
//
// Layouts (time-major, as the GRU-LM's): tier k has S = T/n_k steps, row = m*B + b. Its
// upsampled output Y [S*B, D*FS] holds slot j of dimension o at column o*FS + j (one GEMM
// with U viewed as [D, D*FS]); step m' of the tier below reads row (m'/FS)*B + b, slot
// m' mod FS. A chunk window is [B, L+T] tokens (row stride tok_stride).

struct FramesParams {
    rows: u32,       // S*B
    batch: u32,
    n: u32,          // samples per frame, n_k
    tok_stride: u32, // L + T
    tok_off: u32,    // L - n_k: the first sample of frame 0 in a window row
    half: f32,       // q/2
}

struct CondParams {
    rows: u32,  // rows of the lower tier, S'*B (S' = S*fs)
    batch: u32,
    dim: u32,
    fs: u32,    // the upper tier's frame size
    x_off: u32, // the lower tier's [S'*B, D] rows
    y_off: u32, // the upper tier's [S*B, D*fs] output
}

struct MlpInputParams {
    rows: u32,       // T*B
    batch: u32,
    dim: u32,
    fs0: u32,        // taps, FS_0
    levels: u32,     // q
    tok_stride: u32, // L + T
    tok_off: u32,    // L - FS_0: tap 0 of target 0 in a window row
}

struct EltParams {
    n: u32,
    off: u32,
}

struct TapParams {
    taps: u32,    // FS_0
    dim: u32,     // D
    levels: u32,  // q
    dst_off: u32, // input.weight [D, q, FS_0] in dst
}

struct H0Params {
    batch: u32,
    dim: u32,
    layers: u32,   // srnn_h0_reset: layers in the state; srnn_h0_grad: 1
    h0_off: u32,   // h0 [layers, D] in params / grads
    state_off: u32, // state [layers, B, D] (reset) or dh0 [B, D] (grad)
}

@group(0) @binding(0) var<uniform> fp: FramesParams;
@group(0) @binding(0) var<uniform> cp: CondParams;
@group(0) @binding(0) var<uniform> mp: MlpInputParams;
@group(0) @binding(0) var<uniform> ep: EltParams;
@group(0) @binding(0) var<uniform> tp: TapParams;
@group(0) @binding(0) var<uniform> hp: H0Params;

@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> src1: array<f32>;
@group(0) @binding(1) var<storage, read_write> x1: array<f32>;
@group(0) @binding(2) var<storage, read> src2: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> src3: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
@group(0) @binding(4) var<storage, read_write> out4: array<f32>;

fn flat(wid: vec3<u32>, tid: u32) -> u32 {
    return (wid.y * 65535u + wid.x) * 256u + tid;
}

// out2[row*n + i] = deq(tokens[b*tok_stride + tok_off + m*n + i]), deq(x) = 2*(x/(q/2) - 1).
@compute @workgroup_size(256)
fn srnn_frames(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= fp.rows * fp.n) { return; }
    let row = e / fp.n;
    let i = e % fp.n;
    let m = row / fp.batch;
    let b = row % fp.batch;
    let tok = tokens[b * fp.tok_stride + fp.tok_off + m * fp.n + i];
    out2[e] = 2.0 * (f32(tok) / fp.half - 1.0);
}

// The upper tier's slot for lower row (m', b): row (m'/fs)*B + b, column d*fs + m' mod fs.
fn cond_at(row: u32, d: u32) -> u32 {
    let m = row / cp.batch;
    let b = row % cp.batch;
    return cp.y_off + ((m / cp.fs) * cp.batch + b) * cp.dim * cp.fs + d * cp.fs + m % cp.fs;
}

// x[x_off + row*D + d] += Y[cond_at(row, d)]: the upper tier conditions the expanded frames.
@compute @workgroup_size(256)
fn srnn_cond_add(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= cp.rows * cp.dim) { return; }
    out2[cp.x_off + e] += src1[cond_at(e / cp.dim, e % cp.dim)];
}

// dY[cond_at(row, d)] = dx[x_off + row*D + d]: each slot is read by exactly one lower row.
@compute @workgroup_size(256)
fn srnn_cond_grad(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= cp.rows * cp.dim) { return; }
    out2[cond_at(e / cp.dim, e % cp.dim)] = src1[cp.x_off + e];
}

// Tier 0's slot for target row (t, b): row (t/FS_0)*B + b, column d*FS_0 + t mod FS_0.
fn mlp_cond_at(row: u32, d: u32) -> u32 {
    let t = row / mp.batch;
    let b = row % mp.batch;
    return ((t / mp.fs0) * mp.batch + b) * mp.dim * mp.fs0 + d * mp.fs0 + t % mp.fs0;
}

// a[row*D + d] = relu(Y0[mlp_cond_at] + Σ_i tables[i][token of tap i][d]), tap i of target
// t reading tokens[b*tok_stride + tok_off + t + i]; tables [FS_0][q][D] = E·W_in[:, :, i]ᵀ.
// Bindings: 1 tokens, 2 tables, 3 Y0, 4 a.
@compute @workgroup_size(256)
fn srnn_mlp_input(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= mp.rows * mp.dim) { return; }
    let row = e / mp.dim;
    let d = e % mp.dim;
    let t = row / mp.batch;
    let b = row % mp.batch;
    let at = b * mp.tok_stride + mp.tok_off + t;
    var s = src3[mlp_cond_at(row, d)];
    for (var i = 0u; i < mp.fs0; i++) {
        let tok = min(tokens[at + i], mp.levels - 1u);
        s += src2[(i * mp.levels + tok) * mp.dim + d];
    }
    out4[e] = max(s, 0.0);
}

// da *= (a > 0) in place, and dY0[mlp_cond_at(row, d)] = da: the gradient of the first
// layer's sum. Bindings: 1 a, 2 da, 3 dY0.
@compute @workgroup_size(256)
fn srnn_mlp_input_backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= mp.rows * mp.dim) { return; }
    let g = select(0.0, out2[e], src1[e] > 0.0);
    out2[e] = g;
    out3[mlp_cond_at(e / mp.dim, e % mp.dim)] = g;
}

// x[off + e] = max(x[off + e], 0).
@compute @workgroup_size(256)
fn srnn_relu(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= ep.n) { return; }
    x1[ep.off + e] = max(x1[ep.off + e], 0.0);
}

// dy[off + e] = 0 where y[off + e] <= 0 (the gradient through y = relu(x)).
// Bindings: 1 y, 2 dy.
@compute @workgroup_size(256)
fn srnn_relu_backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= ep.n) { return; }
    out2[ep.off + e] = select(0.0, out2[ep.off + e], src1[ep.off + e] > 0.0);
}

// dst[dst_off + (d*q + v)*FS_0 + i] = src[(i*D + d)*q + v]: the per-tap [D, q] gradients
// interleaved into input.weight's [D, q, FS_0] layout.
@compute @workgroup_size(256)
fn srnn_tap_interleave(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= tp.taps * tp.dim * tp.levels) { return; }
    let i = e / (tp.dim * tp.levels);
    let dv = e % (tp.dim * tp.levels);
    out2[tp.dst_off + dv * tp.taps + i] = src1[e];
}

// state[state_off + (l*B + b)*D + d] = h0[l, d] for the streams with reset[b] != 0.
// Bindings: 1 reset, 2 params, 3 state.
@compute @workgroup_size(256)
fn srnn_h0_reset(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = flat(wid, tid);
    if (e >= hp.layers * hp.batch * hp.dim) { return; }
    let l = e / (hp.batch * hp.dim);
    let b = (e / hp.dim) % hp.batch;
    let d = e % hp.dim;
    if (tokens[b] != 0u) {
        out3[hp.state_off + e] = src2[hp.h0_off + l * hp.dim + d];
    }
}

// grads[h0_off + d] = Σ over reset streams b of dh0[state_off + b*D + d], in stream order.
// Bindings: 1 reset, 2 dh0, 3 grads.
@compute @workgroup_size(256)
fn srnn_h0_grad(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let d = flat(wid, tid);
    if (d >= hp.dim) { return; }
    var s = 0.0;
    for (var b = 0u; b < hp.batch; b++) {
        if (tokens[b] != 0u) { s += src2[hp.state_off + b * hp.dim + d]; }
    }
    out3[hp.h0_off + d] = s;
}
