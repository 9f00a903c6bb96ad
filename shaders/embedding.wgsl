// Embedding lookup and its gradient. Positions are time-major: row = t*B + b reads
// tokens[b*(T+1) + t].

struct EmbedParams {
    rows: u32,       // B*T
    dim: u32,        // E
    batch: u32,
    tok_stride: u32, // T + 1
    emb_off: u32,    // embedding [V, E] in params / grads
    vocab: u32,
    index_off: u32,  // embed_backward: the rows grouped by token (Workspace::rows_by_token)
}

@group(0) @binding(0) var<uniform> p: EmbedParams;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn token_at(row: u32) -> u32 {
    return tokens[(row % p.batch) * p.tok_stride + row / p.batch];
}

// dst[row, e] = src[emb_off + token(row)*E + e]. Grid: (ceil(E/64), rows).
@compute @workgroup_size(64)
fn embed_gather(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = wid.x * 64u + tid;
    let row = wid.y + wid.z * 65535u;
    if (e >= p.dim || row >= p.rows) { return; }
    let tok = min(token_at(row), p.vocab - 1u);
    dst[row * p.dim + e] = src[p.emb_off + tok * p.dim + e];
}

// dst[emb_off + v*E + e] = sum over rows with token v of src[row*E + e], in row order:
// deterministic, no atomics. The host lists each token's rows after the window
// (tokens[index_off + v] .. tokens[index_off + v + 1] index the row list that follows the
// V + 1 starts), so a workgroup visits only its token's rows. Grid: (ceil(E/64), V) as row_grid lays out rows.
@compute @workgroup_size(64)
fn embed_backward(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = wid.x * 64u + tid;
    let v = wid.y + wid.z * 65535u;
    if (e >= p.dim || v >= p.vocab) { return; }
    let list = p.index_off + p.vocab + 1u;
    var s = 0.0;
    for (var i = tokens[p.index_off + v]; i < tokens[p.index_off + v + 1u]; i++) {
        s += src[tokens[list + i] * p.dim + e];
    }
    dst[p.emb_off + v * p.dim + e] = s;
}
