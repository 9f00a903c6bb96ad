//! Codecs turn music into token ids (`u32`) and back. A checkpoint names its codec, so the
//! engine never assumes one: `mulaw256` (audio samples, docs/MODEL_SPEC.md) and `perf388`
//! (MIDI note events, docs/MIDI_TOKENS.md).

mod mulaw;

pub use mulaw::{decode_all, encode_all, mulaw_decode, mulaw_encode};

use anyhow::{bail, Result};
use std::path::Path;

/// What a model's tokens mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// 8-bit mu-law audio, one token per sample.
    MuLaw256,
    /// Performance events from MIDI: note on/off, 10 ms time shifts, velocity bins.
    Perf388,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::MuLaw256, Codec::Perf388];

    /// The name stored in checkpoints and trainer states.
    pub fn name(self) -> &'static str {
        match self {
            Codec::MuLaw256 => "mulaw256",
            Codec::Perf388 => "perf388",
        }
    }

    pub fn by_name(name: &str) -> Result<Codec> {
        match Codec::ALL.into_iter().find(|c| c.name() == name) {
            Some(c) => Ok(c),
            None => bail!("codec '{name}' is not supported (gruwave reads mulaw256 and perf388)"),
        }
    }

    /// The vocabulary a model of this codec must have.
    pub fn vocab(self) -> usize {
        match self {
            Codec::MuLaw256 => 256,
            Codec::Perf388 => crate::midi::VOCAB,
        }
    }

    /// The first input when nothing primes a model: mid-scale silence for audio (V/2),
    /// TS100 for events (docs/MIDI_TOKENS.md S3).
    pub fn start_token(self) -> u32 {
        match self {
            Codec::MuLaw256 => 128,
            Codec::Perf388 => crate::midi::START,
        }
    }

    /// The codec of a data file, from its extension.
    pub fn of_file(path: &Path) -> Option<Codec> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" | "wave" => Some(Codec::MuLaw256),
            "mid" | "midi" => Some(Codec::Perf388),
            _ => None,
        }
    }

    /// "sample" or "event": what one token is, for reports.
    pub fn unit(self) -> &'static str {
        match self {
            Codec::MuLaw256 => "sample",
            Codec::Perf388 => "event",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
