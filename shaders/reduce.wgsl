// Deterministic reductions (fixed summation order, no float atomics); wg_sum comes from
// wg_reduce*.wgsl.

struct ReduceParams {
    n: u32,        // elements (sum_scaled, sumsq_partial) or rows (colsum)
    cols: u32,     // colsum: columns
    in_off: u32,
    out_off: u32,
    scale: f32,    // sum_scaled: multiplier; clip_coef: max_norm
    parts: u32,    // sumsq_partial / clip_coef: number of partial sums
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// out[out_off] = scale * sum(x[in_off .. in_off + n]); one workgroup.
@compute @workgroup_size(256)
fn sum_scaled(lane: Lane) {
    let tid = lane.tid;
    var s = 0.0;
    for (var i = tid; i < p.n; i += WG) { s += x[p.in_off + i]; }
    s = wg_sum(lane, s);
    if (tid == 0u) { out[p.out_off] = s * p.scale; }
}

// out[out_off + w] = sum of squares of x[in_off + i] for i ≡ w-th slice, over `parts` workgroups.
@compute @workgroup_size(256)
fn sumsq_partial(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lane.tid;
    var s = 0.0;
    for (var i = wid.x * WG + tid; i < p.n; i += p.parts * WG) {
        let v = x[p.in_off + i];
        s += v * v;
    }
    s = wg_sum(lane, s);
    if (tid == 0u) { out[p.out_off + wid.x] = s; }
}

// From the partial sums at out[out_off ..]: out[0] = total norm,
// out[1] = clip coefficient min(max_norm / (norm + 1e-6), 1) as clip_grad_norm_.
@compute @workgroup_size(256)
fn clip_coef(lane: Lane) {
    let tid = lane.tid;
    var s = 0.0;
    for (var i = tid; i < p.parts; i += WG) { s += out[p.out_off + i]; }
    s = wg_sum(lane, s);
    if (tid == 0u) {
        let norm = sqrt(s);
        out[0] = norm;
        out[1] = min(p.scale / (norm + 1e-6), 1.0);
    }
}

// Column sums (bias gradients) in two deterministic passes. colsum_partial: workgroup
// (x, y) sums rows y*chunk .. (y+1)*chunk of 64 columns into out[y*cols + j]
// (64 columns x 4 row lanes per workgroup). colsum_finish: out2[out_off + j] = Σ_y out[y*cols + j].
@compute @workgroup_size(64, 4)
fn colsum_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    let chunk = p.parts; // rows per workgroup row-chunk
    let r0 = wid.y * chunk;
    let r1 = min(r0 + chunk, p.n);
    var s = 0.0;
    if (j < p.cols) {
        for (var i = r0 + lid.y; i < r1; i += 4u) { s += x[p.in_off + i * p.cols + j]; }
    }
    let tid = lid.y * 64u + lid.x;
    wg_part[tid] = s;
    workgroupBarrier();
    if (lid.y == 0u && j < p.cols) {
        out[wid.y * p.cols + j] = wg_part[lid.x] + wg_part[64u + lid.x] + wg_part[128u + lid.x]
            + wg_part[192u + lid.x];
    }
}

@compute @workgroup_size(64)
fn colsum_finish(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    // Here x holds the partials ([n][cols], n = number of row chunks).
    let j = wid.x * 64u + tid;
    if (j >= p.cols) { return; }
    var s = 0.0;
    for (var y = 0u; y < p.n; y++) { s += x[y * p.cols + j]; }
    out[p.out_off + j] = s;
}
