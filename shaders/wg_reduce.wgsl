// Workgroup-wide reductions for 256-invocation kernels. src/kernels/mod.rs prepends this file
// to the families that reduce (WGSL has no includes), after one of the two front ends that
// define `Lane`, wg_sum, wg_max, wg_scan and scan_rank:
//   wg_reduce_subgroup.wgsl  where the adapter has subgroups (registers, two barriers);
//   wg_reduce_plain.wgsl     elsewhere, and in the tests that force it: the trees below.
// Every invocation of the workgroup must call them (they synchronise it, and return only
// once all have read their result, so calls can follow each other directly).

const WG_LANES: u32 = 256u;
var<workgroup> wg_part: array<f32, 256>;

// Sum (or max) of wg_part[0..256], the same in every invocation.
fn tree_reduce(tid: u32, op_max: bool) -> f32 {
    for (var s = WG_LANES / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (tid < s) {
            let a = wg_part[tid];
            let b = wg_part[tid + s];
            wg_part[tid] = select(a + b, max(a, b), op_max);
        }
    }
    let r = workgroupUniformLoad(&wg_part[0]);
    workgroupBarrier(); // everyone has read it before a next call writes wg_part
    return r;
}

// (inclusive prefix sum of v over invocations 0..=tid, total).
fn tree_scan(tid: u32, v: f32) -> vec2<f32> {
    wg_part[tid] = v;
    workgroupBarrier();
    for (var d = 1u; d < WG_LANES; d <<= 1u) {
        var add = 0.0;
        if (tid >= d) { add = wg_part[tid - d]; }
        workgroupBarrier();
        wg_part[tid] += add;
        workgroupBarrier();
    }
    let incl = wg_part[tid];
    let total = workgroupUniformLoad(&wg_part[WG_LANES - 1u]);
    workgroupBarrier();
    return vec2<f32>(incl, total);
}
