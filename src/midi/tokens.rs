//! Vocabulary, notes -> tokens (T1-T4), tokens -> notes (D1-D5), transposition.

use super::{Note, VOCAB};
use anyhow::{bail, Result};
use std::collections::{HashMap, VecDeque};

// First id of each event range (vocabulary table).
const NOTE_ON: u32 = 0;
const NOTE_OFF: u32 = 128;
const TIME_SHIFT: u32 = 256;
const VELOCITY: u32 = 356;
const MAX_SHIFT: u32 = 100;
/// ceil(127 / 32): width of a velocity bin.
const BIN_SIZE: u8 = 4;
/// D1: velocity before the first VELOCITY token; D4: 5 s cap.
const DEFAULT_VELOCITY: u8 = 100;
const MAX_NOTE_STEPS: u64 = 500;

/// Velocity 1..127 -> bin 1..32 (out-of-range velocities are clamped to 1..127 first).
fn velocity_to_bin(v: u8) -> u32 {
    u32::from(v.clamp(1, 127) - 1) / u32::from(BIN_SIZE) + 1
}

/// Bin 1..32 -> the lowest velocity of the bin.
fn bin_to_velocity(bin: u32) -> u8 {
    1 + BIN_SIZE * (bin - 1) as u8
}

/// Name of a token for messages and debugging, as in the fixtures' `text` (ON60, OFF60, TS10, V20).
pub fn token_name(id: u32) -> String {
    match id {
        0..=127 => format!("ON{id}"),
        128..=255 => format!("OFF{}", id - NOTE_OFF),
        256..=355 => format!("TS{}", id - TIME_SHIFT + 1),
        356..=387 => format!("V{}", id - VELOCITY + 1),
        _ => format!("INVALID{id}"),
    }
}

/// T1-T4. `notes` must be in T1 order as `read_notes` gives them (exact-time ties resolved):
/// note i gives (start, i, on) and (end, i, off), sorted by (step, i, on before off).
/// Notes should have end > start; the token count grows with the last end step / 100.
pub fn notes_to_tokens(notes: &[Note]) -> Vec<u32> {
    let mut events: Vec<(u32, usize, bool)> = Vec::with_capacity(2 * notes.len());
    for (i, n) in notes.iter().enumerate() {
        events.push((n.start, i, false));
        events.push((n.end, i, true));
    }
    events.sort_unstable();
    let mut tokens = Vec::with_capacity(3 * events.len());
    let (mut step, mut bin) = (0u32, 0u32);
    for (at, i, is_off) in events {
        while at > step {
            // T2: TIME_SHIFT(100)s, then the rest
            let k = (at - step).min(MAX_SHIFT);
            tokens.push(TIME_SHIFT + k - 1);
            step += k;
        }
        let n = &notes[i];
        if is_off {
            tokens.push(NOTE_OFF + u32::from(n.pitch & 0x7F));
            continue;
        }
        if velocity_to_bin(n.velocity) != bin {
            // T3: only when the bin changes; the first NOTE_ON always gets one
            bin = velocity_to_bin(n.velocity);
            tokens.push(VELOCITY + bin - 1);
        }
        tokens.push(NOTE_ON + u32::from(n.pitch & 0x7F));
    }
    tokens
}

/// D1-D5: tokens -> notes sorted by (start, pitch, end, velocity). Ids >= 388 are an error.
pub fn decode_tokens(tokens: &[u32]) -> Result<Vec<Note>> {
    let mut step = 0u64;
    let mut velocity = DEFAULT_VELOCITY;
    let mut queued: HashMap<u32, VecDeque<(u64, u8)>> = HashMap::new();
    let mut raw: Vec<(u32, u64, u64, u8)> = Vec::new();
    for (pos, &t) in tokens.iter().enumerate() {
        match t {
            0..=127 => queued.entry(t).or_default().push_back((step, velocity)),
            128..=255 => {
                // D2: a stray NOTE_OFF is ignored; otherwise first in, first out
                if let Some((start, vel)) =
                    queued.get_mut(&(t - NOTE_OFF)).and_then(|q| q.pop_front())
                {
                    raw.push((t - NOTE_OFF, start, step, vel));
                }
            }
            256..=355 => step += u64::from(t - TIME_SHIFT + 1),
            356..=387 => velocity = bin_to_velocity(t - VELOCITY + 1),
            _ => bail!("token {t} at position {pos} is outside the vocabulary 0..{VOCAB}"),
        }
    }
    if step > u64::from(u32::MAX) {
        bail!("tokens span {step} steps, more than a u32 holds");
    }
    // D3: never ended: end at the final step.
    for (&pitch, q) in &queued {
        raw.extend(q.iter().map(|&(start, vel)| (pitch, start, step, vel)));
    }
    let mut notes: Vec<Note> = raw
        .into_iter()
        .filter(|r| r.2 > r.1) // no note when it ends where it started (D2, D3)
        .map(|(pitch, start, end, velocity)| Note {
            pitch: pitch as u8,
            start: start as u32,
            end: end.min(start + MAX_NOTE_STEPS) as u32, // D4
            velocity,
        })
        .collect();
    notes.sort_unstable_by_key(|n| (n.start, n.pitch, n.end, n.velocity)); // D5
    Ok(notes)
}

/// Seconds of music in tokens (sum of TIME_SHIFT steps / 100).
pub fn seconds(tokens: &[u32]) -> f64 {
    let steps: u64 = tokens
        .iter()
        .filter(|&&t| (TIME_SHIFT..VELOCITY).contains(&t))
        .map(|&t| u64::from(t - TIME_SHIFT + 1))
        .sum();
    steps as f64 / 100.0
}

/// Transposition (spec "Augmentation"): the shifts k in [-n, n] that keep every NOTE_ON/NOTE_OFF
/// pitch of `tokens` inside 0..127 (all of [-n, n] when there is none).
pub fn valid_shifts(tokens: &[u32], n: i32) -> Vec<i32> {
    let pitches = tokens
        .iter()
        .filter(|&&t| t < TIME_SHIFT)
        .map(|&t| (t % 128) as i32);
    let (lo, hi) = pitches.fold((127, 0), |(lo, hi), p| (lo.min(p), hi.max(p)));
    (-n..=n).filter(|k| lo + k >= 0 && hi + k <= 127).collect()
}

/// Adds k to the pitch of every NOTE_ON/NOTE_OFF; other ids unchanged. `k` must come from
/// `valid_shifts`: a token whose pitch would leave 0..127 is left as it is.
pub fn transpose(tokens: &mut [u32], k: i32) {
    for t in tokens.iter_mut().filter(|t| **t < TIME_SHIFT) {
        let pitch = (*t % 128) as i32 + k;
        if (0..128).contains(&pitch) {
            *t = *t - *t % 128 + pitch as u32;
        }
    }
}
