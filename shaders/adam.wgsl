// Adam as torch.optim.Adam (no weight decay), after clipping by the coefficient that
// clip_coef left in stats[1], then clamped elementwise to ±clip_value (samplernn's rule;
// f32::MAX when off):
//   g = clamp(grad*coef, -clip_value, clip_value); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - b1^t)

struct AdamParams {
    n: u32,
    step_size: f32,
    bc2_sqrt: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    groups: u32, // workgroups in the grid-stride loop
    // 1 - beta computed in f64 on the host, as torch does: 1 - f32(0.999) is off by 1e-5.
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    clip_value: f32,
}

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn adam(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let coef = stats[1];
    for (var i = wid.x * 256u + tid; i < p.n; i += p.groups * 256u) {
        let g = clamp(grads[i] * coef, -p.clip_value, p.clip_value);
        let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
        let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
    }
}
