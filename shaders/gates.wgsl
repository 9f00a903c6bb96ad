// GRU gate nonlinearities, shared by gru_step.wgsl and sample.wgsl (prepended to each by
// src/kernels/mod.rs: WGSL has no includes).

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// tanh without overflow for large |x| on any backend.
fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}
