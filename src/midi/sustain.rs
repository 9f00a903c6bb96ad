//! R7: the sustain pedal (note-seq `apply_sustain_control_changes`), per instrument.
//!
//! Linear time whatever the file: instead of note-seq's one active list per instrument, a note
//! is `Held` (its key-up event not reached yet) or `Sustained` (key up under the pedal), with
//! per-(instrument, pitch) lists for re-strikes and per-instrument lists for pedal-up, each
//! entry visited at most once. Same results: a held note always has end >= now at pedal up,
//! and a sustained one end < now, since kinds at one time sort up < start < end.

use super::read::RawNote;
use std::collections::HashMap;

/// A CC64 event at exact time N.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pedal {
    pub time: u128,
    pub down: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Held,
    Sustained,
    Gone,
}

// Event kinds in their sort order at one time (R7).
const DOWN: u8 = 0;
const UP: u8 = 1;
const START: u8 = 2;
const END: u8 = 3;

/// Walk state of R7.
struct Walk {
    state: Vec<State>,
    removed: Vec<bool>,
    pedal: Vec<bool>,
    sustained: Vec<Vec<usize>>,
    by_pitch: HashMap<(usize, u8), Vec<usize>>,
}

/// Applies R7 to notes in list order; returns them with new ends, and which were deleted
/// (re-struck at their own start time).
pub(super) fn apply_sustain(
    mut notes: Vec<RawNote>,
    pedals: &[Vec<Pedal>],
) -> (Vec<RawNote>, Vec<bool>) {
    // Starts, ends (list order), then CC64s by instrument; a stable sort by (time, kind).
    let mut events: Vec<(u128, u8, usize)> = Vec::with_capacity(2 * notes.len());
    events.extend(notes.iter().enumerate().map(|(k, n)| (n.start, START, k)));
    events.extend(notes.iter().enumerate().map(|(k, n)| (n.end, END, k)));
    for (inst, list) in pedals.iter().enumerate() {
        events.extend(
            list.iter()
                .map(|p| (p.time, if p.down { DOWN } else { UP }, inst)),
        );
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut w = Walk {
        state: vec![State::Pending; notes.len()],
        removed: vec![false; notes.len()],
        pedal: vec![false; pedals.len()],
        sustained: vec![Vec::new(); pedals.len()],
        by_pitch: HashMap::new(),
    };
    for &(now, kind, x) in &events {
        match kind {
            DOWN => w.pedal[x] = true,
            UP => w.pedal_up(&mut notes, x, now),
            START => w.start(&mut notes, x, now),
            _ => w.end(&notes, x),
        }
    }
    // Pedal still down at the end: the time of the last event of any instrument.
    let last = events.last().map_or(0, |e| e.0);
    for (k, n) in notes.iter_mut().enumerate() {
        if w.state[k] == State::Sustained || w.state[k] == State::Held {
            n.end = last;
        }
    }
    (notes, w.removed)
}

impl Walk {
    /// Pedal up: notes held only by the pedal end now; keys still down stay.
    fn pedal_up(&mut self, notes: &mut [RawNote], inst: usize, now: u128) {
        self.pedal[inst] = false;
        let mut keep = Vec::new();
        for k in std::mem::take(&mut self.sustained[inst]) {
            if self.state[k] != State::Sustained {
                continue;
            }
            if notes[k].end < now {
                notes[k].end = now;
                self.state[k] = State::Gone;
            } else {
                keep.push(k); // never happens (see the module comment); kept for fidelity
            }
        }
        self.sustained[inst] = keep;
    }

    /// Note start: under the pedal, active notes of its pitch end now (deleted if that
    /// makes them empty); then it joins.
    fn start(&mut self, notes: &mut [RawNote], k: usize, now: u128) {
        let (inst, pitch) = (notes[k].inst, notes[k].pitch);
        let list = self.by_pitch.entry((inst, pitch)).or_default();
        if self.pedal[inst] {
            for j in list.drain(..) {
                if matches!(self.state[j], State::Held | State::Sustained) {
                    notes[j].end = now;
                    self.removed[j] = notes[j].start == now;
                    self.state[j] = State::Gone;
                }
            }
        }
        list.push(k);
        self.state[k] = State::Held;
    }

    /// Note end: leaves if the pedal is up, else stays until pedal up.
    fn end(&mut self, notes: &[RawNote], k: usize) {
        if self.state[k] != State::Held {
            return;
        }
        let inst = notes[k].inst;
        if self.pedal[inst] {
            self.state[k] = State::Sustained;
            self.sustained[inst].push(k);
        } else {
            self.state[k] = State::Gone;
        }
    }
}
