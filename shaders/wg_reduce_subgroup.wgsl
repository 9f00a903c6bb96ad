// Workgroup reductions with subgroups (see wg_reduce.wgsl): each subgroup reduces in
// registers, leaves its result in workgroup memory, and every subgroup then reduces those
// results the same way, so all invocations (and workgroups) get the same bits. (naga 30 takes
// subgroup builtins without `enable subgroups;`, and rejects that directive; wgpu checks
// the SUBGROUP feature instead.)

struct Lane {
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) sgs: u32,
}

// Σ (or max) of wg_part[i] for i < below, in every invocation: each subgroup reads the
// subgroups' results a subgroup-width at a time and reduces them in registers again (one
// round on GPUs, where num_subgroups <= subgroup_size).
fn combine(l: Lane, below: u32, op_max: bool) -> f32 {
    let none = select(0.0, -3.4e38, op_max);
    var t = none;
    for (var base = 0u; base < l.sgs; base += l.sg_size) {
        let i = base + l.sg_lane;
        var x = none;
        if (i < below) { x = wg_part[i]; }
        if (op_max) { t = max(t, subgroupMax(x)); } else { t += subgroupAdd(x); }
    }
    return t;
}

// One result per subgroup into wg_part, then combined; the trailing barrier lets calls
// follow each other directly.
fn across_subgroups(l: Lane, v: f32, op_max: bool) -> f32 {
    if (!full_subgroups(l)) {
        wg_part[l.tid] = v;
        return tree_reduce(l.tid, op_max);
    }
    var s: f32;
    if (op_max) { s = subgroupMax(v); } else { s = subgroupAdd(v); }
    if (l.sg_lane == 0u) { wg_part[l.sg] = s; }
    workgroupBarrier();
    let t = combine(l, l.sgs, op_max);
    workgroupBarrier();
    return t;
}

fn wg_sum(l: Lane, v: f32) -> f32 {
    return across_subgroups(l, v, false);
}

fn wg_max(l: Lane, v: f32) -> f32 {
    return across_subgroups(l, v, true);
}

// Full subgroups cover ranks 0..255 exactly. Partial ones are allowed by Vulkan, though no
// driver we know makes them for 256-wide workgroups: then the trees run instead.
fn full_subgroups(l: Lane) -> bool {
    return l.sgs * l.sg_size == WG_LANES;
}

// This invocation's place in the order wg_scan sums in.
fn scan_rank(l: Lane) -> u32 {
    if (full_subgroups(l)) { return l.sg * l.sg_size + l.sg_lane; }
    return l.tid;
}

// (inclusive prefix sum of v over ranks 0..=scan_rank(l), total over all ranks).
fn wg_scan(l: Lane, v: f32) -> vec2<f32> {
    if (!full_subgroups(l)) { return tree_scan(l.tid, v); }
    let incl = subgroupInclusiveAdd(v);
    let part = subgroupShuffle(incl, l.sg_size - 1u); // (all lanes take part in a shuffle)
    if (l.sg_lane == 0u) { wg_part[l.sg] = part; }
    workgroupBarrier();
    let before = combine(l, l.sg, false);
    let total = combine(l, l.sgs, false);
    workgroupBarrier();
    return vec2<f32>(before + incl, total);
}
