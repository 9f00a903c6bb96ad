//! MIDI bytes -> quantized notes in T1 order (R2-R4, R6, R8; R7 in `sustain.rs`).

use super::smf::{self, Ev, Kind, Smf};
use super::sustain::{apply_sustain, Pedal};
use super::{Note, MAX_STEPS};
use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;

/// 120 bpm until the first set_tempo (R2).
const DEFAULT_TEMPO: u32 = 500_000;

/// A note at exact times N (R3: seconds = N / (ppq * 10^6)).
#[derive(Clone, Copy, Debug)]
pub(super) struct RawNote {
    pub pitch: u8,
    pub start: u128,
    pub end: u128,
    pub velocity: u8,
    /// Instrument number (R6).
    pub inst: usize,
}

/// R1-R8: the quantized notes of a MIDI file in T1 order. `name` is for error messages.
pub fn read_notes(bytes: &[u8], name: &str) -> Result<Vec<Note>> {
    let notes = read_inner(bytes).map_err(|e| anyhow!("MIDI file {name}: {e:#}"))?;
    if bytes.get(8..10) == Some(&[0, 2]) {
        // R1 reads format 2 like format 1; a user with separate songs in one file should know.
        log::warn!(
            "MIDI file {name}: format 2 (independent songs): all its tracks are read as one \
             piece, as for format 1"
        );
    }
    Ok(notes)
}

fn read_inner(bytes: &[u8]) -> Result<Vec<Note>> {
    let smf = smf::parse(bytes)?;
    let tempo = TempoMap::new(&smf.tracks[0])?;
    let (notes, pedals) = collect_notes(&smf, &tempo);
    if notes.is_empty() {
        if smf.drum_notes > 0 {
            bail!("drum-only file: all its notes are on MIDI channel 10, which is dropped (R5)");
        }
        bail!("no notes (after dropping drums, zero-length and unfinished notes)");
    }
    let (notes, removed) = apply_sustain(notes, &pedals);
    quantize(&notes, &removed, smf.ppq)
}

/// R2, R3: tempo segments of track 0 as (tick, tempo, N at that tick).
struct TempoMap(Vec<(u64, u32, u128)>);

impl TempoMap {
    fn new(track0: &[Ev]) -> Result<TempoMap> {
        let mut segs = vec![(0u64, DEFAULT_TEMPO, 0u128)];
        for ev in track0 {
            let Kind::Tempo(tempo) = ev.kind else {
                continue;
            };
            if tempo == 0 {
                bail!("set_tempo of 0 us per quarter at tick {}", ev.tick);
            }
            let &(t0, tempo0, n0) = segs.last().expect("never empty");
            if t0 == ev.tick {
                segs.last_mut().expect("never empty").1 = tempo; // same tick: the last wins
            } else {
                segs.push((
                    ev.tick,
                    tempo,
                    n0 + u128::from(ev.tick - t0) * u128::from(tempo0),
                ));
            }
        }
        Ok(TempoMap(segs))
    }

    /// Exact time N(t) = sum of delta_ticks * tempo (< 2^64 * 2^24: fits u128).
    fn at(&self, tick: u64) -> u128 {
        let i = self.0.partition_point(|s| s.0 <= tick) - 1;
        let (t0, tempo, n0) = self.0[i];
        n0 + u128::from(tick - t0) * u128::from(tempo)
    }
}

/// R4, R6: notes in list order (instrument number, then completion order) and the CC64s of
/// each instrument in file order, listed by instrument number.
fn collect_notes(smf: &Smf, tempo: &TempoMap) -> (Vec<RawNote>, Vec<Vec<Pedal>>) {
    let mut inst_of: HashMap<(usize, u8), usize> = HashMap::new();
    let mut pedal_of: HashMap<(usize, u8), Vec<Pedal>> = HashMap::new();
    let mut notes = Vec::new();
    for (ti, track) in smf.tracks.iter().enumerate() {
        // (channel, pitch) -> pushed (start tick, velocity)
        let mut pushed: HashMap<(u8, u8), Vec<(u64, u8)>> = HashMap::new();
        for ev in track {
            match ev.kind {
                Kind::On { ch, key, vel } => {
                    pushed.entry((ch, key)).or_default().push((ev.tick, vel))
                }
                Kind::Off { ch, key } => {
                    let Some(list) = pushed.remove(&(ch, key)) else {
                        continue;
                    };
                    let (keep, close): (Vec<_>, Vec<_>) =
                        list.into_iter().partition(|x| x.0 == ev.tick);
                    for (start, velocity) in &close {
                        let next = inst_of.len();
                        let inst = *inst_of.entry((ti, ch)).or_insert(next);
                        let (start, end) = (tempo.at(*start), tempo.at(ev.tick));
                        notes.push(RawNote {
                            pitch: key,
                            start,
                            end,
                            velocity: *velocity,
                            inst,
                        });
                    }
                    // Notes pushed at this very tick survive only if another note ended.
                    if !close.is_empty() && !keep.is_empty() {
                        pushed.insert((ch, key), keep);
                    }
                }
                Kind::Pedal { ch, down } => {
                    pedal_of.entry((ti, ch)).or_default().push(Pedal {
                        time: tempo.at(ev.tick),
                        down,
                    });
                }
                Kind::Tempo(_) => {}
            }
        }
    }
    notes.sort_by_key(|n| n.inst); // stable: completion order within an instrument
    let mut pedals = vec![Vec::new(); inst_of.len()];
    for (key, inst) in inst_of {
        pedals[inst] = pedal_of.remove(&key).unwrap_or_default(); // CC64 without notes: ignored
    }
    (notes, pedals)
}

/// R8 and T1: step = (N + 5000 ppq) div (10000 ppq), end >= start + 1; sorted by (exact start,
/// pitch, list order). Errors beyond MAX_STEPS, which bounds every later allocation.
fn quantize(notes: &[RawNote], removed: &[bool], ppq: u64) -> Result<Vec<Note>> {
    let q = |n: u128| (n + 5000 * u128::from(ppq)) / (10000 * u128::from(ppq));
    let mut out = Vec::with_capacity(notes.len());
    for (k, n) in notes.iter().enumerate().filter(|(k, _)| !removed[*k]) {
        let (start, end) = (q(n.start), q(n.end).max(q(n.start) + 1));
        if end > u128::from(MAX_STEPS) {
            bail!(
                "notes span more than 24 hours ({} s); absurd tempo or delta times",
                end / 100
            );
        }
        out.push((
            n.start,
            n.pitch,
            k,
            Note {
                pitch: n.pitch,
                start: start as u32,
                end: end as u32,
                velocity: n.velocity,
            },
        ));
    }
    if out.is_empty() {
        bail!("no notes (all removed by the sustain pedal)");
    }
    out.sort_unstable_by_key(|x| (x.0, x.1, x.2));
    Ok(out.into_iter().map(|x| x.3).collect())
}
