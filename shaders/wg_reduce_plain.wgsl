// Workgroup reductions without subgroups: trees in workgroup memory (see wg_reduce.wgsl).

struct Lane {
    @builtin(local_invocation_index) tid: u32,
}

fn wg_sum(l: Lane, v: f32) -> f32 {
    wg_part[l.tid] = v;
    return tree_reduce(l.tid, false);
}

fn wg_max(l: Lane, v: f32) -> f32 {
    wg_part[l.tid] = v;
    return tree_reduce(l.tid, true);
}

// This invocation's place in the order wg_scan sums in.
fn scan_rank(l: Lane) -> u32 {
    return l.tid;
}

// (inclusive prefix sum of v over ranks 0..=scan_rank(l), total over all ranks).
fn wg_scan(l: Lane, v: f32) -> vec2<f32> {
    return tree_scan(l.tid, v);
}
