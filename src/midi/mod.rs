//! Codec `perf388`: MIDI <-> Performance RNN tokens (docs/MIDI_TOKENS.md, reference
//! `tests/fixtures/midi_tokens.py`). Rule numbers (R1-R8, T1-T4, D1-D5, W1-W3) are the spec's.
//!
//! - `smf.rs`: byte-level file checks and event parsing (R1, R5 drum filter).
//! - `read.rs`: tempo map, notes, quantization (R2-R4, R6, R8); `sustain.rs`: R7.
//! - `tokens.rs`: vocabulary, T1-T4, D1-D5, transposition; `write.rs`: W1-W3.

mod read;
mod smf;
mod sustain;
mod tokens;
mod write;

pub use read::read_notes;
pub use tokens::{decode_tokens, notes_to_tokens, seconds, token_name, transpose, valid_shifts};
pub use write::write_midi;

/// Vocabulary size: 128 NOTE_ON, 128 NOTE_OFF, 100 TIME_SHIFT, 32 VELOCITY.
pub const VOCAB: usize = 388;
/// TS100, the start marker put before each file in training and as the sampling primer (S1, S3).
pub const START: u32 = 355;
/// Longest music `read_notes` accepts: 24 hours in 10 ms steps. Bounds the token count
/// (TIME_SHIFTs = steps / 100) of any file before anything is allocated for it.
pub const MAX_STEPS: u32 = 24 * 3600 * 100;

/// A note; times in 10 ms steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    pub pitch: u8,
    pub start: u32,
    pub end: u32,
    pub velocity: u8,
}

/// read_notes + T1-T4.
pub fn encode_file(bytes: &[u8], name: &str) -> anyhow::Result<Vec<u32>> {
    Ok(notes_to_tokens(&read_notes(bytes, name)?))
}
