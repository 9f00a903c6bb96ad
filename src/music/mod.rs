//! Music-specific tools: statistics of note sets, piano-roll plots and General MIDI
//! synthesis.

pub mod pianoroll;
pub mod render;
pub mod spectrogram;
pub mod stats;
