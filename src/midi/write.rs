//! Notes -> a standard MIDI file (W1-W3), written byte by byte.

use super::Note;

/// W1: 500 ticks per quarter at 500 000 us per quarter: 1 tick = 1 ms = step / 10.
const PPQ: u16 = 500;
const TEMPO: u32 = 500_000;
/// Largest delta a variable-length quantity holds (28 bits).
const MAX_DELTA: u64 = 0x0FFF_FFFF;

/// W1-W3: a standard MIDI file (format 0, 500 ppq, tempo 500000, program change `program` on
/// channel 1). Valid whatever the notes: notes with end <= start or pitch > 127 are skipped,
/// velocities clamped to 1..127 (0 would be a note-off), `program` to 0..127, and deltas over
/// 28 bits split with empty text events. `read_notes` refuses files over 24 hours (MAX_STEPS).
pub fn write_midi(notes: &[Note], program: u8) -> Vec<u8> {
    let mut events: Vec<(u64, bool, u8, u8)> = Vec::with_capacity(2 * notes.len());
    for n in cut_overlaps(notes) {
        let (start, end) = (u64::from(n.start) * 10, u64::from(n.end) * 10);
        events.push((start, true, n.pitch, n.velocity.clamp(1, 127)));
        events.push((end, false, n.pitch, 0));
    }
    events.sort_unstable(); // W3: by tick, offs (false) before ons, pitch
    let mut track = Vec::with_capacity(16 + 5 * events.len());
    track.extend_from_slice(&[0x00, 0xFF, 0x51, 0x03]);
    track.extend_from_slice(&TEMPO.to_be_bytes()[1..]);
    track.extend_from_slice(&[0x00, 0xC0, program.min(127)]);
    let mut now = 0;
    for (tick, is_on, pitch, vel) in events {
        write_delta(&mut track, tick - now);
        now = tick;
        // note_on (velocity) / note_off (0x80, velocity 0), channel 1
        track.extend_from_slice(&[if is_on { 0x90 } else { 0x80 }, pitch, vel]);
    }
    track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]); // end_of_track right after the last
    let mut out = Vec::with_capacity(22 + track.len());
    out.extend_from_slice(b"MThd\0\0\0\x06\0\0\0\x01");
    out.extend_from_slice(&PPQ.to_be_bytes());
    out.extend_from_slice(b"MTrk");
    // A track over 4 GiB would need ~800 million notes; saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(track.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&track);
    out
}

/// W2: per pitch, sorted by (start, end, velocity), a note starting before the previous one
/// ended cuts it there (deleted if left empty): one channel cannot hold both (R4).
fn cut_overlaps(notes: &[Note]) -> Vec<Note> {
    let mut sorted: Vec<Note> = notes
        .iter()
        .filter(|n| n.end > n.start && n.pitch < 128)
        .copied()
        .collect();
    sorted.sort_unstable_by_key(|n| (n.pitch, n.start, n.end, n.velocity));
    let mut cut: Vec<Note> = Vec::with_capacity(sorted.len());
    for n in sorted {
        if let Some(prev) = cut.last_mut() {
            if prev.pitch == n.pitch && prev.end > n.start {
                prev.end = n.start;
                if prev.end == prev.start {
                    cut.pop();
                }
            }
        }
        cut.push(n);
    }
    cut
}

/// Variable-length delta; a gap over 28 bits is bridged with empty text meta events.
fn write_delta(track: &mut Vec<u8>, mut delta: u64) {
    while delta > MAX_DELTA {
        write_varlen(track, MAX_DELTA as u32);
        track.extend_from_slice(&[0xFF, 0x01, 0x00]);
        delta -= MAX_DELTA;
    }
    write_varlen(track, delta as u32);
}

fn write_varlen(track: &mut Vec<u8>, value: u32) {
    let mut shift = 21;
    while shift > 0 && value >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        track.push(((value >> shift) & 0x7F) as u8 | 0x80);
        shift -= 7;
    }
    track.push((value & 0x7F) as u8);
}
