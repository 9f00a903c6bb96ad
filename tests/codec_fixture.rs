//! The mu-law codec against torchaudio (tests/fixtures/mulaw.safetensors).

mod common;

use common::Fixture;
use gruwave::codec::{decode_all, encode_all, mulaw_decode, mulaw_encode};

#[test]
fn encode_matches_torchaudio_exactly() {
    let fx = Fixture::open("mulaw.safetensors");
    let samples = fx.f32("samples");
    let codes = fx.i64("codes");
    assert_eq!(samples.len(), 1000);
    let ours = encode_all(&samples);
    let bad: Vec<_> = (0..samples.len())
        .filter(|&i| ours[i] as i64 != codes[i])
        .map(|i| (i, samples[i], ours[i], codes[i]))
        .collect();
    assert!(
        bad.is_empty(),
        "mismatched codes (index, x, ours, torch): {bad:?}"
    );
}

#[test]
fn decode_matches_f64_reference() {
    let fx = Fixture::open("mulaw.safetensors");
    let all = fx.i64("all_codes");
    let want = fx.f64("decoded.f64");
    let want_f32 = fx.f32("decoded");
    let codes: Vec<u32> = all.iter().map(|&c| c as u32).collect();
    assert_eq!(codes, (0..=255u32).collect::<Vec<_>>());
    let ours = decode_all(&codes);
    for (i, &x) in ours.iter().enumerate() {
        let err = (x as f64 - want[i]).abs();
        assert!(err <= 1e-7, "code {i}: ours {x}, reference {}", want[i]);
        // Computed in f64 and rounded once, so it should be the stored F32 rounding.
        assert_eq!(
            x, want_f32[i],
            "code {i}: not the f32 rounding of the f64 value"
        );
    }
    assert_eq!(mulaw_decode(0), -1.0);
    assert_eq!(mulaw_decode(255), 1.0);
}

#[test]
fn edge_values_follow_float32_torchaudio() {
    // Tiny negative values where f32 and f64 disagree: we compute in f32, like
    // torchaudio on float32 audio, so we must give `edge.codes_f32` (128), not 127.
    let fx = Fixture::open("mulaw.safetensors");
    let samples = fx.f32("edge.samples");
    let want = fx.i64("edge.codes_f32");
    let want_f64 = fx.i64("edge.codes_f64");
    for (i, &x) in samples.iter().enumerate() {
        assert_eq!(mulaw_encode(x) as i64, want[i], "edge sample {x}");
        assert_ne!(want[i], want_f64[i]);
    }
}

#[test]
fn encode_clamps_and_handles_specials() {
    assert_eq!(mulaw_encode(2.0), 255);
    assert_eq!(mulaw_encode(f32::INFINITY), 255);
    assert_eq!(mulaw_encode(-7.5), 0);
    assert_eq!(mulaw_encode(f32::NEG_INFINITY), 0);
    assert_eq!(mulaw_encode(f32::NAN), 128);
    assert_eq!(mulaw_encode(0.0), 128);
    assert_eq!(mulaw_encode(-0.0), 128);
    // Round trip: decoding then encoding gives back every code.
    for q in 0..=255u8 {
        assert_eq!(mulaw_encode(mulaw_decode(q)), q, "code {q}");
    }
}
