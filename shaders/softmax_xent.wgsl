// Fused softmax + cross-entropy + dlogits, one workgroup per position (wg_max and wg_sum
// come from wg_reduce*.wgsl).
// Positions are time-major (row = t*B + b); the target of (b, t) is tokens[b*(T+1) + t + 1].
//   loss[row] = logsumexp(logits) - logits[target]
//   dlogits   = (softmax(logits) - onehot(target)) * scale      (scale = 1 / (B*T))

struct XentParams {
    rows: u32,
    vocab: u32,
    batch: u32,
    tok_stride: u32, // T + 1
    scale: f32,
    tok_off: u32,    // first input column in the token rows
}

@group(0) @binding(0) var<uniform> p: XentParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn softmax_xent(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lane.tid;
    let row = wid.x + wid.y * 65535u;
    if (row >= p.rows) { return; } // uniform per workgroup: barriers stay uniform
    let V = p.vocab;
    let base = row * V;
    var m = -3.4e38;
    for (var v = tid; v < V; v += WG) { m = max(m, logits[base + v]); }
    m = wg_max(lane, m);
    var s = 0.0;
    for (var v = tid; v < V; v += WG) { s += exp(logits[base + v] - m); }
    s = wg_sum(lane, s);
    let t = row / p.batch;
    let b = row % p.batch;
    let tgt = tokens[b * p.tok_stride + p.tok_off + t + 1u];
    for (var v = tid; v < V; v += WG) {
        let prob = exp(logits[base + v] - m) / s;
        dlogits[base + v] = (prob - select(0.0, 1.0, v == tgt)) * p.scale;
    }
    if (tid == 0u) {
        loss[row] = log(s) + m - logits[base + min(tgt, V - 1u)];
    }
}
