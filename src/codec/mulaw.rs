//! 8-bit mu-law companding (mu = 255, 256 classes), exactly as
//! `torchaudio.functional.mu_law_encoding` / `mu_law_decoding` (docs/MODEL_SPEC.md, "Tokens").

/// mu = 255: 256 classes.
const MU: f32 = 255.0;

/// Encodes one sample in [-1, 1] to a mu-law code in 0..=255.
///
/// Computed in f32 with the same operations as torchaudio on a float32 tensor, so the
/// codes match it bit for bit, including the float32 quirk that tiny negative values
/// (|x| < ~6.5e-10) give 128 rather than 127 because `y + 1` rounds to exactly 1.
/// Out-of-range input is clamped to [-1, 1] (torchaudio does not clamp; the spec's
/// input range is [-1, 1]) and NaN is treated as silence (code 128).
pub fn mulaw_encode(x: f32) -> u8 {
    let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
    // torch.sign: +1, -1, or 0 for +-0.
    let sign = if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    };
    let y = sign * (MU * x.abs()).ln_1p() / MU.ln_1p();
    // torchaudio truncates with `.to(int64)`; the argument is >= 0, so this is floor.
    let q = ((y + 1.0) / 2.0 * MU + 0.5).floor();
    q.clamp(0.0, 255.0) as u8
}

/// Decodes a mu-law code to a sample in [-1, 1].
///
/// Computed in f64 and rounded once to f32, so the result is the correctly rounded
/// value of the spec formula (torchaudio's float32 decode differs by up to 2.5e-7).
pub fn mulaw_decode(q: u8) -> f32 {
    let mu = MU as f64;
    let y = q as f64 / mu * 2.0 - 1.0;
    let x = y.signum() * ((y.abs() * mu.ln_1p()).exp() - 1.0) / mu;
    // y is never -0.0 or NaN here, so signum is the same as torch.sign except at y = 0,
    // where the magnitude factor is 0 anyway.
    x as f32
}

/// Encodes a whole signal as token ids.
pub fn encode_all(samples: &[f32]) -> Vec<u32> {
    samples.iter().map(|&x| mulaw_encode(x) as u32).collect()
}

/// Decodes a whole token stream; ids outside 0..=255 (which no mu-law model draws) are
/// read as silence rather than wrapped.
pub fn decode_all(codes: &[u32]) -> Vec<f32> {
    codes
        .iter()
        .map(|&q| u8::try_from(q).map_or(0.0, mulaw_decode))
        .collect()
}
