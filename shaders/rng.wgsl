// Counter-based random numbers, prepended to the sampling families by src/kernels/mod.rs
// (WGSL has no includes); mirrored bit for bit by gruwave::sample::uniform.

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in [0, 1) from (seed, stream, step).
fn counter_uniform(seed_lo: u32, seed_hi: u32, stream: u32, step: u32) -> f32 {
    let x = pcg(pcg(pcg(seed_lo ^ pcg(seed_hi)) + stream) + step);
    return f32(x >> 8u) * (1.0 / 16777216.0);
}
